"""Converted torchvision weights give torchvision's logits (skipped without torch)."""

import os
import subprocess
import sys

import numpy as np
import orbax.checkpoint as ocp
import pytest

from tsn_jax import convert_torch
from tsn_jax.models import resnet

torch = pytest.importorskip("torch")

from tests.torch_utils import (  # noqa: E402
    assert_logits_close,
    import_torchvision,
    randomize_batch_norm,
)


@pytest.mark.parametrize("arch", ["resnet18", "resnet50"])
@pytest.mark.slow
def test_torchvision_resnet_logits_match(arch):
    torchvision = import_torchvision()
    torch.manual_seed(0)
    model = getattr(torchvision.models, arch)(num_classes=10).eval()
    randomize_batch_norm(model)
    x = np.random.default_rng(0).normal(size=(2, 3, 67, 67)).astype(np.float32)
    with torch.no_grad():
        expected = model(torch.from_numpy(x)).numpy()

    state_dict = {k: v.numpy() for k, v in model.state_dict().items()}
    variables = convert_torch.convert_torchvision(arch, state_dict)
    ours = getattr(resnet, arch)(num_classes=10)
    logits = ours.apply(variables, x.transpose(0, 2, 3, 1), train=False)
    assert_logits_close(logits, expected)


@pytest.mark.slow
def test_convert_tool_writes_a_loadable_orbax_checkpoint(tmp_path):
    torchvision = import_torchvision()
    model = torchvision.models.resnet18(num_classes=7)
    torch.save({"state_dict": model.state_dict()}, tmp_path / "r18.pth")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "tsn_jax.cli.convert",
            "--arch=resnet18",
            f"--checkpoint={tmp_path / 'r18.pth'}",
            f"--output={tmp_path / 'out'}",
        ],
        cwd=root,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    restored = ocp.StandardCheckpointer().restore(tmp_path / "out")
    np.testing.assert_array_equal(
        restored["params"]["fc"]["kernel"], model.fc.weight.detach().numpy().T
    )
    np.testing.assert_array_equal(
        restored["batch_stats"]["layer4_1"]["bn2"]["var"],
        model.layer4[1].bn2.running_var.numpy(),
    )
