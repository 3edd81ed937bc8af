"""tsn_jax.load_run: a run (a workdir, a step directory, a copy of one) loaded in one call."""

import collections
import glob
import json
import os
import shutil
import subprocess
import sys

import jax
import numpy as np
import pytest

import tsn_jax
from tests.helpers import demo_videos, save_run, tiny_config
from tsn_jax import checkpoints, runner, runs
from tsn_jax.errors import CheckpointError
from tsn_jax.models import create_model

CLASSES = ("a", "b", "c")


@pytest.fixture
def saved_run(tmp_path):
    """A workdir as training leaves it: config.json, class_names.json, step 5 with both
    items (random weights, a 3-class tiny TSN)."""
    return _save_run(tmp_path / "run", tmp_path, step=5)


def _save_run(workdir, tmp_path, step):
    return save_run(workdir, str(tmp_path / "tfds"), step, CLASSES)


def _same_variables(a, b):
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


@pytest.mark.slow
def test_a_workdir_loads_in_one_call(saved_run, tmp_path, monkeypatch):
    workdir, config, variables = saved_run
    monkeypatch.chdir(tmp_path)
    for path in ("run", "run/checkpoints/5", "run/checkpoints/5/default", str(workdir)):
        model, loaded, loaded_config, class_names = tsn_jax.load_run(path)
        assert class_names == CLASSES
        assert loaded_config.to_dict() == config.to_dict()
        _same_variables(
            loaded, {"params": variables["params"], "batch_stats": variables["batch_stats"]}
        )
        logits = model.apply(loaded, np.ones((2, 3, 1, 32, 32, 3), np.float32), train=False)
        assert logits.shape == (2, 3)


@pytest.mark.slow
def test_the_documented_loading_snippets_run(tmp_path, monkeypatch):
    """docs/evaluation.md's two snippets (tsn_jax.load_run, and plain Orbax from another
    project), run as written from a directory holding runs/default at step 750."""
    import re

    _, _, variables = _save_run(tmp_path / "runs" / "default", tmp_path, step=750)
    monkeypatch.chdir(tmp_path)
    page = open(os.path.join(os.path.dirname(__file__), "..", "docs", "evaluation.md")).read()
    section = page[page.index("## Checkpoints") :]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    assert len(blocks) == 2
    namespace = {"clips": np.ones((1, 3, 1, 32, 32, 3), np.float32)}
    exec(blocks[0], namespace)
    assert namespace["logits"].shape == (1, 3)
    exec(blocks[1], namespace)
    _same_variables(namespace["variables"], {k: variables[k] for k in ("params", "batch_stats")})


def test_a_copied_step_directory_is_enough(saved_run, tmp_path):
    workdir, config, _ = saved_run
    copy = tmp_path / "elsewhere" / "step5"
    shutil.copytree(workdir / "checkpoints" / "5", copy)
    shutil.rmtree(workdir)  # neither config.json nor class_names.json is left
    _, _, loaded_config, class_names = runs.load_run(str(copy))
    assert class_names == CLASSES and loaded_config.model.to_dict() == config.model.to_dict()


def test_an_export_is_slimmer_and_loads_to_the_same_variables(
    saved_run, tmp_path, capsys, tiny_data_dir, monkeypatch
):
    from tsn_jax.cli import export, predict

    workdir, config, variables = saved_run
    # An optimizer state of the size of the parameters, as SGD with momentum keeps (random:
    # the stored arrays are compressed).
    rng = np.random.default_rng(0)
    momentum = jax.tree.map(
        lambda p: rng.normal(size=p.shape).astype(np.float32), variables["params"]
    )
    manager = checkpoints.create_manager(str(workdir / "checkpoints"), save_every_steps=1, keep=2)
    state = {"step": 6, **variables, "opt_state": momentum}
    manager.save(6, args=checkpoints.save_args(state, runs.run_info(config, CLASSES)))
    manager.wait_until_finished()
    manager.close()
    output = export.main([str(workdir), str(tmp_path / "exported")])
    printed = capsys.readouterr().out
    assert printed.startswith(f"wrote {output}: ") and "with its optimizer state" in printed
    exported, source = export._size(output), export._size(str(workdir / "checkpoints" / "6"))
    assert exported < 0.75 * source, (exported, source)
    _, loaded, loaded_config, class_names = runs.load_run(output)
    assert class_names == CLASSES and loaded_config.to_dict() == config.to_dict()
    _same_variables(loaded, {k: variables[k] for k in ("params", "batch_stats")})
    with pytest.raises(FileExistsError, match="exists and is not empty"):
        runs.export_run(str(workdir), output)
    # tsn-jax-predict takes the export alone: its config and class names come with it.
    video = os.path.join(demo_videos(tiny_data_dir), "Grow", "v_Grow_test_000.mp4")
    monkeypatch.chdir(tmp_path)  # a relative --checkpoint, as users type it
    [result] = predict.predict_files([video], workdir=None, checkpoint="exported", top=2)
    assert len(result["top"]) == 2 and {name for name, _ in result["top"]} <= set(CLASSES)


def test_a_path_without_a_checkpoint_is_one_error_naming_it(tmp_path):
    with pytest.raises(CheckpointError, match="the run: no checkpoint at nowhere"):
        runs.load_run("nowhere")
    (tmp_path / "empty" / "checkpoints").mkdir(parents=True)
    with pytest.raises(CheckpointError, match="is a run without a checkpoint"):
        runs.load_run(str(tmp_path / "empty"))


@pytest.mark.slow
def test_training_writes_a_run_that_loads_and_records_its_data_dir(
    tiny_data_dir, tmp_path, one_device
):
    config = tiny_config(tiny_data_dir)
    config.num_train_steps = 2
    config.log_every_steps = 1
    config.eval_every_steps = 1
    config.optimizer.lr_multipliers = ("^fc/kernel=5",)
    workdir = str(tmp_path / "run")
    runner.train_and_evaluate(config, workdir)
    # TensorBoard: an evaluation curve (steps 1 and 2) with the confusion matrix as an
    # image, the hyperparameters, the rate of each parameter group.
    import tensorflow as tf

    tags = collections.defaultdict(list)
    for path in glob.glob(os.path.join(workdir, "events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                tags[value.tag].append((event.step, value))
    assert [step for step, _ in tags["eval_top1"]] == [1, 2]
    [(_, image)] = tags["eval_confusion"][-1:]
    height, width, channels = tf.io.decode_png(tf.make_ndarray(image.tensor)[-1]).shape
    assert channels == 3 and height > 100 and width > 100
    assert "_hparams_/session_start_info" in tags
    rates = {
        tag: [tf.make_ndarray(v.tensor).item() for _, v in tags[tag]]
        for tag in ("train_learning_rate", "learning_rate/^fc/kernel", "learning_rate/other")
    }
    np.testing.assert_allclose(
        rates["learning_rate/^fc/kernel"], 5 * np.array(rates["train_learning_rate"])
    )
    assert rates["learning_rate/other"] == rates["train_learning_rate"]
    recorded = json.load(open(os.path.join(workdir, runs.CONFIG_FILE)))
    assert recorded["dataset"]["data_dir"] == tiny_data_dir
    step = os.path.join(workdir, "checkpoints", "2")
    info = checkpoints.read_run_info(step)
    assert info["config"] == recorded and len(info["class_names"]) == 10
    _, variables, loaded_config, class_names = runs.load_run(step)
    assert loaded_config.model.to_dict() == config.model.to_dict()
    assert list(class_names) == info["class_names"]
    assert variables["params"]["fc"]["kernel"].shape == (64, 10)  # ResNet-18 at width 8


def test_importing_the_package_loads_no_jax_until_load_run_is_asked_for():
    import subprocess
    import sys

    code = (
        "import sys, tsn_jax\n"
        "assert 'jax' not in sys.modules\n"
        "tsn_jax.load_run\n"
        "assert 'jax' in sys.modules\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=runs.__file__.rsplit("/tsn_jax", 1)[0],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr[-2000:]


@pytest.mark.slow
def test_a_clip_array_is_predicted_without_tensorflow_as_the_pipeline_sees_it(saved_run, tmp_path):
    """`load_predictor(workdir).predict(frames)` in a fresh process never imports
    TensorFlow, and its scores are the model's on the tf.data pipeline's test views of
    the same frames (averaged over the views, the config's fusion)."""
    import tensorflow as tf

    from input_pipeline import pipeline

    workdir, config, variables = saved_run
    rgb = np.random.default_rng(0).integers(0, 256, (17, 40, 52, 3)).astype(np.uint8)
    jpegs = [tf.io.encode_jpeg(frame).numpy() for frame in rgb]
    frames = np.stack([tf.io.decode_jpeg(jpeg).numpy() for jpeg in jpegs])
    np.save(tmp_path / "clip.npy", frames)
    example = {"video": tf.constant(jpegs), "label": tf.constant(0, tf.int64)}
    views = pipeline.preprocess_example(
        example, data_config=config.data, training=False, eval_config=config.eval
    )["inputs"].numpy()
    views = views if views.ndim == 6 else views[None]
    model = create_model(config.model, len(CLASSES), config.data.num_segments)
    expected = np.asarray(model.apply(variables, views, train=False)).mean(0)

    code = f"""
import json, sys
import numpy as np
from tsn_jax import inference
predictor = inference.load_predictor({str(workdir)!r})
result = predictor.predict(np.load({str(tmp_path / "clip.npy")!r}), top=2)
print(json.dumps({{"scores": result["scores"].tolist(), "top": result["top"],
                  "tensorflow": "tensorflow" in sys.modules}}))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["tensorflow"] is False
    np.testing.assert_allclose(result["scores"], expected, rtol=1e-5, atol=1e-6)
    probs = np.exp(expected) / np.exp(expected).sum()
    assert [name for name, _ in result["top"]] == [CLASSES[i] for i in np.argsort(-probs)[:2]]


def test_a_clip_must_be_rgb_uint8_frames(saved_run):
    from tsn_jax import inference

    predictor = inference.load_predictor(str(saved_run[0]))
    with pytest.raises(ValueError, match=r"RGB frames \[F, H, W, 3\] uint8, got float64"):
        predictor.predict(np.zeros((4, 32, 32, 3)))


def test_the_documented_prediction_snippet_runs(tmp_path, monkeypatch, capsys):
    """docs/evaluation.md's Predictor snippet, run as written next to runs/default."""
    import re

    _save_run(tmp_path / "runs" / "default", tmp_path, step=750)
    monkeypatch.chdir(tmp_path)
    page = open(os.path.join(os.path.dirname(__file__), "..", "docs", "evaluation.md")).read()
    section = page[page.index("## Predicting any video file") : page.index("## Checkpoints")]
    [block] = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    exec(block, {})
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len(CLASSES) and {line.split()[-1] for line in lines} == set(CLASSES)
