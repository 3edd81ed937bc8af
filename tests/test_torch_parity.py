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


def _import_torchvision():
    """torchvision's model definitions with a CPU torch build.

    The torchvision wheels on the index are CUDA builds whose import fails on
    `torchvision::nms` with CPU torch; declaring the two op schemas first lets
    the models import (the detection ops stay unusable).
    """
    try:
        import torchvision
    except (ImportError, RuntimeError):
        library = torch.library.Library("torchvision", "DEF")  # noqa: F841 (kept alive)
        library.define("nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
        library.define(
            "qnms(Tensor qdets, Tensor qscores, Tensor qscale, Tensor qzero_point, "
            "float iou_threshold) -> Tensor"
        )
        _import_torchvision.library = library
        import torchvision
    return torchvision


@pytest.mark.parametrize("arch", ["resnet18", "resnet50"])
def test_torchvision_resnet_logits_match(arch):
    torchvision = _import_torchvision()
    torch.manual_seed(0)
    model = getattr(torchvision.models, arch)(num_classes=10).eval()
    with torch.no_grad():  # Non-trivial BatchNorm so that its conversion matters.
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.weight.uniform_(0.5, 1.5)
                module.bias.normal_(0, 0.1)
                module.running_mean.normal_(0, 0.1)
                module.running_var.uniform_(0.5, 1.5)
    x = np.random.default_rng(0).normal(size=(2, 3, 67, 67)).astype(np.float32)
    with torch.no_grad():
        expected = model(torch.from_numpy(x)).numpy()

    state_dict = {k: v.numpy() for k, v in model.state_dict().items()}
    variables = convert_torch.convert_torchvision(arch, state_dict)
    ours = getattr(resnet, arch)(num_classes=10)
    logits = ours.apply(variables, x.transpose(0, 2, 3, 1), train=False)
    scale = max(1.0, float(np.abs(expected).max()))
    np.testing.assert_allclose(np.asarray(logits) / scale, expected / scale, atol=1e-4)


def test_convert_tool_writes_a_loadable_orbax_checkpoint(tmp_path):
    torchvision = _import_torchvision()
    model = torchvision.models.resnet18(num_classes=7)
    torch.save({"state_dict": model.state_dict()}, tmp_path / "r18.pth")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    result = subprocess.run(
        [
            sys.executable,
            "tools/convert_torch_checkpoint.py",
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
