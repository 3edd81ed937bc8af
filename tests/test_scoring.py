"""Test protocols: view rows, fusion, M-TWI, exact coverage, and the files of an evaluation."""

import math

import jax
import numpy as np
import pytest

from tests.helpers import tiny_config
from tsn_jax import scoring, untrimmed
from tsn_jax.models import create_model


def test_fuse_views_averages_logits_or_probabilities():
    views = np.array([[2.0, 0.0], [0.0, 0.0]])
    np.testing.assert_allclose(scoring.fuse_views(views, "score"), [1.0, 0.0])
    # softmax([2, 0]) = [e^2, 1] / (e^2 + 1) = [0.8808, 0.1192]; softmax([0, 0]) = [.5, .5].
    p = np.exp(2.0) / (np.exp(2.0) + 1.0)
    expected = np.log([(p + 0.5) / 2, (1 - p + 0.5) / 2])
    np.testing.assert_allclose(scoring.fuse_views(views, "prob"), expected, rtol=1e-6)
    # Both fusions can disagree on the winner: a confident view against two mild ones.
    # Mean logits [6.67, 1.33] -> class 0; softmax [1, 0], [.119, .881] twice: mean
    # probabilities [.413, .587] -> class 1.
    split = np.array([[20.0, 0.0], [0.0, 2.0], [0.0, 2.0]])
    assert np.argmax(scoring.fuse_views(split, "score")) == 0
    assert np.argmax(scoring.fuse_views(split, "prob")) == 1
    with pytest.raises(ValueError, match="fusion"):
        scoring.fuse_views(views, "max")


def _rows(view_logits, labels, batch_size):
    """Batches of view rows as create_view_dataset yields them, the logits as 'inputs'."""
    rows = [
        (video, view, logits)
        for video, views in enumerate(view_logits)
        for view, logits in enumerate(views)
    ]
    for start in range(0, len(rows), batch_size):
        chunk = rows[start : start + batch_size]
        pad = batch_size - len(chunk)
        n = view_logits[0].shape[-1]
        yield {
            "inputs": np.stack([r[2] for r in chunk] + [np.zeros(n)] * pad),
            "label": np.array([labels[r[0]] for r in chunk] + [0] * pad, np.int32),
            "video_index": np.array([r[0] for r in chunk] + [-1] * pad, np.int32),
            "video_id": np.array([f"v{r[0]}".encode() for r in chunk] + [b""] * pad),
        }


def _config(**eval_options):
    config = tiny_config("")
    for key, value in eval_options.items():
        config.eval[key] = value
    return config


def test_every_video_is_scored_once_with_a_batch_that_does_not_divide_the_views():
    rng = np.random.default_rng(0)
    views = [rng.normal(size=(3, 4)) for _ in range(5)]  # 15 rows in batches of 4
    labels = [0, 1, 2, 3, 0]
    scores = scoring.score_videos(lambda b: b["inputs"], _rows(views, labels, 4), _config(), 5)
    assert scores.video_ids == ("v0", "v1", "v2", "v3", "v4")
    np.testing.assert_array_equal(scores.labels, labels)
    np.testing.assert_allclose(scores.logits, [v.mean(axis=0) for v in views], rtol=1e-6)
    np.testing.assert_allclose(scores.view_logits, np.stack(views), rtol=1e-6)
    hits = sum(int(np.sum(np.argmax(v, -1) == y)) for v, y in zip(views, labels, strict=True))
    assert (scores.clip_hits, scores.clip_count) == (hits, 15)
    np.testing.assert_array_equal(scores.num_views, [3] * 5)


def test_a_video_left_out_is_an_error():
    views = [np.eye(2)] * 3
    with pytest.raises(ValueError, match="scored 3 of 4 videos.*missing positions \\[3\\]"):
        scoring.score_videos(lambda b: b["inputs"], _rows(views, [0, 1, 0], 4), _config(), 4)


def test_variable_view_counts_and_mtwi_over_the_per_second_scores():
    config = _config(aggregate="mtwi", mtwi_window_lengths=(1, 2), mtwi_top_k=0)
    config.eval.sampling = "per_second"
    config.eval.crops = "three"
    rng = np.random.default_rng(1)
    # Video 0: 3 crops x 4 seconds; video 1: 3 crops x 2 seconds (crop-major rows).
    views = [rng.normal(size=(12, 3)), rng.normal(size=(6, 3))]
    scores = scoring.score_videos(lambda b: b["inputs"], _rows(views, [2, 0], 8), config, 2)
    assert scores.view_logits is None  # the views differ in number
    np.testing.assert_array_equal(scores.num_views, [12, 6])
    for got, video in zip(scores.logits, views, strict=True):
        per_second = video.reshape(3, -1, 3).mean(axis=0)  # the crops of each second
        np.testing.assert_allclose(
            got, untrimmed.mtwi(per_second, window_lengths=(1, 2)), rtol=1e-5
        )


@pytest.mark.parametrize("rule", ["paper", "tsn_code"])
def test_mtwi_takes_the_rule_and_the_snippet_rate_from_the_config(rule):
    config = _config(aggregate="mtwi", mtwi_window_lengths=(1, 2), mtwi_top_k=0, mtwi_rule=rule)
    config.eval.sampling = "per_second"
    config.eval.snippets_per_second = 2.0
    views = np.random.default_rng(4).normal(size=(20, 3))  # 1 crop x 20 snippets (10 s)
    expected = untrimmed.mtwi(views, window_lengths=(1, 2), rule=rule, snippets_per_second=2)
    np.testing.assert_allclose(scoring.aggregate_views(views, config), expected, rtol=1e-6)
    # Windows of 1 and 2 s at 2 snippets a second span 2 and 4 snippets, not 1 and 2.
    one_a_second = untrimmed.mtwi(views, window_lengths=(1, 2), rule=rule)
    assert not np.allclose(expected, one_a_second)


def test_compiled_views_are_sharded_over_the_devices_and_match_the_model():
    assert jax.local_device_count() == 8
    config = tiny_config("")
    model = create_model(config.model, num_classes=5, num_segments=3)
    x = np.random.default_rng(2).normal(size=(8, 3, 1, 32, 32, 3)).astype(np.float32)
    variables = jax.jit(lambda: model.init(jax.random.key(0), x[:1], train=False))()
    apply = scoring.compile_apply(model, variables)
    np.testing.assert_allclose(
        apply({"inputs": x, "label": np.zeros(8)}),
        jax.jit(lambda v: model.apply(v, x, train=False))(variables),
        rtol=1e-5,
        atol=1e-5,
    )


def _videos(builder):
    """(num_frames, fps) of every test video, in split order."""
    import tensorflow_datasets as tfds

    ds = builder.as_dataset(split="test", decoders={"video": tfds.decode.SkipDecoding()})
    return [(int(e["num_frames"]), float(e["fps"])) for e in tfds.as_numpy(ds)]


@pytest.mark.parametrize("sampling", ["segments", "windows", "per_second"])
def test_view_rows_of_each_sampling(tiny_data_dir, sampling):
    from input_pipeline import datasets, pipeline

    config = tiny_config(tiny_data_dir)
    config.eval.sampling = sampling
    config.eval.crops = "three" if sampling == "per_second" else "ten"
    config.eval.num_segments = 2
    config.data.frames_per_snippet = 4 if sampling == "windows" else 1
    builder = datasets.get_builder(config.dataset)
    videos = _videos(builder)
    crops = 3 if sampling == "per_second" else 10
    if sampling == "segments":
        expected = [10] * len(videos)
    elif sampling == "windows":  # every 4-frame window, ten crops each
        expected = [crops * math.ceil(n / 4) for n, _ in videos]
    else:  # a snippet a second, three crops each
        expected = [crops * math.ceil(n / fps) for n, fps in videos]
    batches = list(pipeline.create_view_dataset(builder, config, batch_size=16))
    assert all(len(b["video_index"]) == 16 for b in batches)
    index = np.concatenate([b["video_index"] for b in batches])
    assert len(batches) == math.ceil(sum(expected) / 16)
    real = index[index >= 0]
    np.testing.assert_array_equal(np.bincount(real), expected)
    assert np.all(np.diff(real) >= 0)  # a video's views are consecutive rows
    segments = 1 if sampling != "segments" else 2
    frames = config.data.frames_per_snippet
    assert batches[0]["inputs"].shape == (16, segments, frames, 32, 32, 3)


@pytest.mark.parametrize(
    "key, value, message",
    [
        ("eval.mtwi_rule", "tsn", "config.eval.mtwi_rule must be one of"),
        ("eval.snippets_per_second", 0.5, "eval.snippets_per_second=0.5"),
    ],
)
def test_a_bad_mtwi_setting_names_its_key(key, value, message):
    from tsn_jax.config_checks import validate_config

    config = _config(aggregate="mtwi")
    config.eval.sampling = "per_second"
    validate_config(config)
    section, name = key.split(".")
    config[section][name] = value
    with pytest.raises(ValueError, match=message):
        validate_config(config)
