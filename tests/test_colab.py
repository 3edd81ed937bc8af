"""The notebooks in colabs/ run top to bottom: the quickstart (4 steps on the tiny demo
dataset) and the users' notebooks (on a saved tiny run)."""

import json
import os
import re

import nbformat
import pytest
from nbconvert.preprocessors import ExecutePreprocessor

from tests.helpers import save_run

pytestmark = pytest.mark.slow  # end-to-end runs: `pytest -m 'not slow'` skips them

COLABS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "colabs")
NOTEBOOK = os.path.join(COLABS, "quickstart.ipynb")


def test_quickstart_notebook_runs_and_writes_metrics(tiny_data_dir, tmp_path, monkeypatch):
    workdir = tmp_path / "quickstart"
    # The kernel inherits this environment. One CPU device: conftest's 8 would only slow it.
    monkeypatch.setenv("XLA_FLAGS", "--xla_force_host_platform_device_count=1")
    monkeypatch.setenv("QUICKSTART_STEPS", "4")
    monkeypatch.setenv("QUICKSTART_TINY", "1")
    monkeypatch.setenv("QUICKSTART_DATA_DIR", tiny_data_dir)
    monkeypatch.setenv("QUICKSTART_WORKDIR", str(workdir))

    nb = nbformat.read(NOTEBOOK, as_version=4)
    assert nb.metadata.kernelspec.name == "python3"
    assert not any(cell.get("outputs") for cell in nb.cells), "commit the notebook cleared"
    ExecutePreprocessor(timeout=600, kernel_name="python3").preprocess(
        nb, {"metadata": {"path": COLABS}}
    )

    metrics = json.loads((workdir / "metrics.json").read_text())
    assert metrics["step"] == 4 and metrics["num_eval_videos"] == 10
    assert os.listdir(workdir / "checkpoints") == ["4"]
    outputs = [out for cell in nb.cells for out in cell.get("outputs", [])]
    text = "".join(out.get("text", "") for out in outputs)
    assert "top-1" in text and "appearance classes" in text
    # Training samples, training curve, predictions.
    assert sum("image/png" in out.get("data", {}) for out in outputs) == 3


@pytest.fixture
def saved_run(tiny_data_dir, tmp_path):
    """A run of the tiny demo config (random weights): what the user notebooks load."""
    names = tuple(f"class_{i}" for i in range(10))
    workdir, _, _ = save_run(tmp_path / "run", tiny_data_dir, 2, names)
    return str(workdir)


def _execute(name, monkeypatch, **env):
    monkeypatch.setenv("XLA_FLAGS", "--xla_force_host_platform_device_count=1")
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    nb = nbformat.read(os.path.join(COLABS, f"{name}.ipynb"), as_version=4)
    assert nb.metadata.kernelspec.name == "python3"
    assert not any(cell.get("outputs") for cell in nb.cells), "commit the notebook cleared"
    ExecutePreprocessor(timeout=600, kernel_name="python3").preprocess(
        nb, {"metadata": {"path": COLABS}}
    )
    outputs = [out for cell in nb.cells for out in cell.get("outputs", [])]
    text = "".join(out.get("text", "") for out in outputs)
    return outputs, text


def test_the_prediction_notebook_runs_top_to_bottom(saved_run, monkeypatch):
    outputs, text = _execute("predict_your_video", monkeypatch, NOTEBOOK_RUN=saved_run)
    assert "3 view(s)" not in text and "1 view(s)" in text  # the tiny config: centre crop
    assert "v_Grow_test_000.mp4" in text and "in memory" in text
    images = [kind for out in outputs for kind in out.get("data", {}) if kind.startswith("image/")]
    assert images == ["image/png", "image/gif"]  # the timeline, the annotated video


def test_the_load_and_export_notebook_runs_top_to_bottom(saved_run, monkeypatch):
    pytest.importorskip("jax2onnx")
    _, text = _execute("load_and_export", monkeypatch, NOTEBOOK_RUN=saved_run)
    assert "the same parameters as load_run's: True" in text
    differences = re.findall(r"(\w+) +largest difference from JAX: ([0-9.e+-]+)", text)
    assert [fmt for fmt, _ in differences] == ["stablehlo", "saved_model", "onnx"]
    assert all(float(value) < 1e-4 for _, value in differences), differences


def test_the_look_inside_notebook_runs_top_to_bottom(
    saved_run, tiny_data_dir, tmp_path, monkeypatch
):
    """Grad-CAM of the saved run; a frame + flow STAN trained 2 steps on the tiny render
    (its flow computed here), and its attention maps."""
    stan_run = tmp_path / "stan"
    outputs, text = _execute(
        "look_inside",
        monkeypatch,
        NOTEBOOK_RUN=saved_run,
        NOTEBOOK_STAN_RUN=str(stan_run),
        NOTEBOOK_STAN_STEPS="2",
        NOTEBOOK_TINY="1",
        NOTEBOOK_DATA_DIR=tiny_data_dir,
    )
    assert "v_MoveLeft_test_000.mp4 views" in text
    assert os.listdir(stan_run / "checkpoints") == ["2"]
    weights = re.search(r"temporal attention: \[([^\]]*)\]", text).group(1).split()
    assert len(weights) == 4 and abs(sum(map(float, weights)) - 1) < 0.01
    # Grad-CAM's maps, STAN's maps.
    assert sum("image/png" in out.get("data", {}) for out in outputs) == 2


def test_the_finetuning_notebook_runs_top_to_bottom(tiny_data_dir, tmp_path, monkeypatch):
    """A torchvision-layout ResNet-18 state_dict (random weights: the test has no network)
    converted and fine-tuned for 2 steps on the tiny demo data."""
    torch = pytest.importorskip("torch")
    from tools.torch_models import import_torchvision

    torchvision = import_torchvision()
    checkpoint = tmp_path / "resnet18.pth"
    torch.manual_seed(0)
    torch.save(torchvision.models.resnet18().state_dict(), checkpoint)
    workdir = tmp_path / "work"
    workdir.mkdir()
    _, text = _execute(
        "finetune_from_pytorch",
        monkeypatch,
        TORCH_CHECKPOINT=str(checkpoint),
        NOTEBOOK_WORKDIR=str(workdir),
        NOTEBOOK_STEPS="2",
        NOTEBOOK_TINY="1",
        NOTEBOOK_DATA_DIR=tiny_data_dir,
    )
    assert "step 2: top-1" in text
    [moved] = re.findall(r"conv1 moved by ([0-9.]+)% of its norm", text)
    assert 0.0 < float(moved) < 50.0  # it started from the converted weights
