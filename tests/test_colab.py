"""colabs/quickstart.ipynb runs top to bottom (4 steps on the tiny demo dataset)."""

import json
import os

import nbformat
import pytest
from nbconvert.preprocessors import ExecutePreprocessor

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
