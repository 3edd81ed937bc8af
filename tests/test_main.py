"""`main.py` end to end on a tiny dataset, and config errors at load time."""

import csv
import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest

from tests.helpers import demo_videos, documented_commands, tiny_config
from tsn_jax import runner, score_files
from tsn_jax.metrics import classification_metrics

pytestmark = pytest.mark.slow  # end-to-end runs: `pytest -m 'not slow'` skips them

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _overrides(config, prefix="config"):
    """--config.a.b=value flags reproducing every leaf of a config."""
    flags = []
    for key, value in config.items():
        if hasattr(value, "items"):
            flags += _overrides(value, f"{prefix}.{key}")
        elif isinstance(value, tuple):
            items = "".join(f"{item!r}," for item in value)
            flags.append(f"--{prefix}.{key}=({items})")
        else:
            flags.append(f"--{prefix}.{key}={value}")
    return flags


def _readme_command() -> list[str]:
    """The README's quick-start command: `python main.py --config=... --workdir=...`."""
    [argv] = [
        argv
        for page, argv in documented_commands()
        if page == "README.md" and argv[:2] == ["python", "main.py"]
    ]
    return argv


def _main(workdir, *flags):
    """The README's command, in `workdir`, with `flags` after it."""
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=2")
    readme = [arg for arg in _readme_command()[1:] if not arg.startswith("--workdir=")]
    cmd = [sys.executable, *readme, f"--workdir={workdir}"]
    return subprocess.run(cmd + list(flags), cwd=ROOT, env=env, capture_output=True, text=True)


def test_main_trains_evaluates_and_writes_metrics(tiny_data_dir, tmp_path):
    """The README's quick-start command, with the demo config scaled down by overrides."""
    assert _readme_command() == [
        "python",
        "main.py",
        "--config=configs/default.py",
        "--workdir=runs/default",
    ]
    workdir = tmp_path / "run"
    config = tiny_config(tiny_data_dir)
    config.eval_every_steps = 2
    result = _main(workdir, *_overrides(config))
    assert result.returncode == 0, result.stderr[-3000:]
    # The periodic evaluation at step 2, besides the final one at step 4.
    assert "[2] eval_" in result.stderr and "[4] eval_" in result.stderr
    # Quiet by default: TensorFlow's start-up lines, JAX's TPU probe and TFDS's notices
    # are gone; the progress lines leave compilation out of the rate, ETA as h:mm:ss.
    for noise in ("oneDNN", "cpu_feature_guard", "Unable to initialize backend", "TensorInfo"):
        assert noise not in result.stderr, noise
    assert "first 2 steps in 0:0" in result.stderr and "(with compilation)" in result.stderr
    assert re.search(r"step 4/4 \(100\.0%\), [0-9.]+ steps/s, ETA 0:00:00", result.stderr)
    metrics = json.loads((workdir / "metrics.json").read_text())
    assert metrics["step"] == 4 and metrics["num_eval_videos"] == 10
    for key in ("top1", "top5", "mean_class_accuracy"):
        assert 0.0 <= metrics[key] <= 1.0
    assert "Final evaluation: step=4" in result.stdout
    assert sorted(os.listdir(workdir / "checkpoints")) == ["2", "4"]

    # --mode=eval on the finished run: the same protocol on the same checkpoint gives
    # the final evaluation's scores; a 10-crop protocol writes its own files.
    config.eval.output_dir = str(workdir / "e")
    runner.evaluate(config, str(workdir))  # in-process: what --mode=eval runs
    trained = score_files.load_scores(str(workdir / "scores.npz"))
    again = score_files.load_scores(str(workdir / "e" / "scores.npz"))
    assert list(again.video_ids) == list(trained.video_ids)
    assert len(set(again.video_ids)) == 10
    np.testing.assert_allclose(again.logits, trained.logits, rtol=1e-5, atol=1e-5)
    ten = str(workdir / "ten")
    flags = ["--mode=eval", "--config.eval.crops=ten", f"--config.eval.output_dir={ten}"]
    result = _main(workdir, *_overrides(config), *flags, "--verbose")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "oneDNN" in result.stderr  # --verbose brings the libraries' lines back
    assert f"Evaluation of {workdir}/checkpoints/4/default: top1=" in result.stdout
    report = json.loads(open(os.path.join(ten, "eval_metrics.json")).read())
    assert report["num_videos"] == 10 and report["views_per_video"]["min"] == 10
    assert report["protocol"]["crops"] == "ten" and report["protocol"]["segments"] == 3
    scores = score_files.load_scores(os.path.join(ten, "scores.npz"))
    assert scores.view_logits.shape == (10, 10, 10)
    np.testing.assert_allclose(scores.logits, scores.view_logits.mean(axis=1), rtol=1e-5)
    assert report["top1"] == classification_metrics(scores.logits, scores.labels)["top1"]
    with open(os.path.join(ten, "confusion.csv")) as f:
        rows = list(csv.reader(f))
    assert rows[0][1:] == list(scores.class_names)
    assert sum(int(v) for row in rows[1:] for v in row[1:]) == 10
    assert os.path.getsize(os.path.join(ten, "confusion.png")) > 1000

    # tsn-jax-predict on a test video file gives the scores its evaluation gave it.
    from tsn_jax.cli import predict

    video = os.path.join(demo_videos(tiny_data_dir), trained.video_ids[4])
    [result] = predict.predict_files([video], workdir=str(workdir), top=3)
    np.testing.assert_allclose(result["scores"], trained.logits[4], rtol=1e-4, atol=1e-5)
    best = trained.class_names[int(np.argmax(trained.logits[4]))]
    assert result["top"][0][0] == best and len(result["top"]) == 3
    # TSM mixes its 3 segments: each second is scored with the window of 3 seconds around it.
    timeline = str(tmp_path / "t.png")
    [result] = predict.predict_files([video], workdir=str(workdir), timeline=timeline)
    seconds = result["per_second"]
    assert seconds.shape[1] == 10 and len(seconds) >= 1  # the demo videos are short
    np.testing.assert_allclose(seconds.sum(-1), 1.0, rtol=1e-5)
    assert os.path.getsize(timeline) > 1000


def test_eval_without_a_checkpoint_says_how_to_get_one(tmp_path):
    result = _main(tmp_path, "--mode=eval")
    assert result.returncode != 0
    assert "no checkpoint in" in result.stderr and "train first" in result.stderr


def test_mistyped_config_key_is_one_line_with_the_suggestion(tmp_path):
    # A valid override before it whose name is a word of the message ("mean") is not named.
    result = _main(tmp_path, "--config.data.mean=(1.0, 2.0, 3.0)", "--config.data.num_segmnts=3")
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "error: --config.data.num_segmnts: no such config key 'num_segmnts'; "
        'did you mean "num_segments" instead of "num_segmnts"?'
    )
    assert not os.listdir(tmp_path)  # nothing written


def test_a_missing_config_file_is_one_line(tmp_path):
    cmd = [sys.executable, "main.py", "--config=configs/nope.py", f"--workdir={tmp_path}"]
    result = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        "error: cannot load --config: [Errno 2] No such file or directory: 'configs/nope.py'"
    )
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("value", ["-2", "0", "2.5"])
def test_bad_num_segments_fails_at_config_load(tmp_path, value):
    result = _main(tmp_path, f"--config.data.num_segments={value}")
    assert result.returncode != 0
    assert "num_segments" in result.stderr
    assert not (tmp_path / "checkpoints").exists()
