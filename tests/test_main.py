"""`main.py` end to end on a tiny dataset, and config errors at load time."""

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import tiny_config

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


def _main(workdir, *flags):
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=2")
    cmd = [sys.executable, "main.py", "--config=configs/default.py", f"--workdir={workdir}"]
    return subprocess.run(cmd + list(flags), cwd=ROOT, env=env, capture_output=True, text=True)


def test_main_trains_evaluates_and_writes_metrics(tiny_data_dir, tmp_path):
    workdir = tmp_path / "run"
    config = tiny_config(tiny_data_dir)
    config.eval_every_steps = 2
    result = _main(workdir, *_overrides(config))
    assert result.returncode == 0, result.stderr[-3000:]
    # The periodic evaluation at step 2, besides the final one at step 4.
    assert "[2] eval_" in result.stderr and "[4] eval_" in result.stderr
    metrics = json.loads((workdir / "metrics.json").read_text())
    assert metrics["step"] == 4 and metrics["num_eval_videos"] == 10
    for key in ("top1", "top5", "mean_class_accuracy"):
        assert 0.0 <= metrics[key] <= 1.0
    assert "Final evaluation: step=4" in result.stdout
    assert sorted(os.listdir(workdir / "checkpoints")) == ["2", "4"]


def test_mistyped_config_key_names_the_key(tmp_path):
    result = _main(tmp_path, "--config.data.num_segmnts=3")
    assert result.returncode != 0
    assert "num_segmnts" in result.stderr


@pytest.mark.parametrize("value", ["-2", "0", "2.5"])
def test_bad_num_segments_fails_at_config_load(tmp_path, value):
    result = _main(tmp_path, f"--config.data.num_segments={value}")
    assert result.returncode != 0
    assert "num_segments" in result.stderr
    assert not (tmp_path / "checkpoints").exists()
