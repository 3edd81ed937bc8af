"""Training and evaluation streams over a prepared dataset."""

import numpy as np
import pytest

from input_pipeline import datasets, pipeline
from tests.helpers import tiny_config
from tsn_jax import spec


def _builder(data_dir):
    return datasets.get_builder(tiny_config(data_dir).dataset)


def test_train_batches_follow_the_batch_contract(tiny_data_dir):
    config = tiny_config(tiny_data_dir)
    ds = pipeline.create_train_dataset(_builder(tiny_data_dir), config, local_batch_size=4)
    batch = next(ds.as_numpy_iterator())
    assert set(batch) == {"inputs", "label", "video_id"}
    assert batch["inputs"].shape == (4, 3, 1, 32, 32, 3) and batch["inputs"].dtype == np.float32
    assert batch["label"].shape == (4,) and batch["label"].dtype == np.int32
    # The ids name the sampled videos (for the divergence message): each is a train video.
    train = {
        ex["video_id"] for ex in _builder(tiny_data_dir).as_dataset("train").as_numpy_iterator()
    }
    assert batch["video_id"].shape == (4,) and set(batch["video_id"]) <= train


def test_train_stream_resumes_at_the_same_sample(tiny_data_dir):
    config = tiny_config(tiny_data_dir)
    builder = _builder(tiny_data_dir)
    full = list(
        pipeline.create_train_dataset(builder, config, local_batch_size=4)
        .take(7)
        .as_numpy_iterator()
    )
    resumed = next(
        pipeline.create_train_dataset(
            builder, config, local_batch_size=4, start_step=6
        ).as_numpy_iterator()
    )
    np.testing.assert_array_equal(resumed["label"], full[6]["label"])
    np.testing.assert_array_equal(resumed["inputs"], full[6]["inputs"])
    # Successive epochs are reshuffled and re-augmented, not repeated.
    assert not np.array_equal(full[0]["inputs"], full[5]["inputs"])


def test_eval_sees_every_video_exactly_once_per_process_split(tiny_data_dir):
    config = tiny_config(tiny_data_dir)
    builder = _builder(tiny_data_dir)
    num_test = builder.info.splits["test"].num_examples
    assert num_test == 10
    seen, labels, batch_counts = [], {}, []
    for process_index in range(3):
        batches = list(
            pipeline.create_view_dataset(
                builder, config, batch_size=3, process_index=process_index, process_count=3
            )
        )
        batch_counts.append(len(batches))
        for b in batches:
            assert b["inputs"].shape == (3, 3, 1, 32, 32, 3)
            valid = b["video_index"] >= 0
            seen.extend(b["video_index"][valid].tolist())
            labels.update(
                zip(b["video_index"][valid].tolist(), b["label"][valid].tolist(), strict=True)
            )
    # Parts of 4, 3, 3 videos (one view each): 2, 1 and 1 batches of 3 rows.
    assert batch_counts == [2, 1, 1]
    assert sorted(seen) == list(range(num_test))
    assert sorted(labels.values()) == list(range(10))


def test_dataset_info_of_the_demo(tiny_data_dir):
    config = tiny_config(tiny_data_dir)
    info = pipeline.get_dataset_info(_builder(tiny_data_dir), config)
    assert info.num_classes == 10
    assert info.num_train_examples == 20 and info.num_eval_examples == 10
    grouped = set(info.class_groups["appearance"]) | set(info.class_groups["order"])
    assert grouped == set(info.class_names)


def test_the_dataset_names_of_spec_are_the_builders():
    assert set(spec.DATASETS) == {*spec.DEMO_DATASETS, *datasets.FOLDER_FORMATS}


def test_the_demo_needs_its_own_dataset_keys(tmp_path):
    from configs import base

    config = base.get_config()
    config.dataset.name = "synthetic_actions"
    config.dataset.data_dir = str(tmp_path)
    with pytest.raises(ValueError, match="dataset.num_train_per_class.*configs/default.py"):
        datasets.get_builder(config.dataset)
    assert not list(tmp_path.iterdir())  # nothing rendered or written
