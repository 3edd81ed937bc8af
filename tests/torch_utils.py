"""Helpers for tests that compare with PyTorch models (only imported where torch is)."""

import numpy as np
import torch


def import_torchvision():
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
        import_torchvision.library = library
        import torchvision
    return torchvision


def randomize_batch_norm(model: torch.nn.Module) -> None:
    """Non-trivial BatchNorm scale, bias and statistics, so that their conversion matters."""
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
                module.weight.uniform_(0.5, 1.5)
                module.bias.normal_(0, 0.1)
                module.running_mean.normal_(0, 0.1)
                module.running_var.uniform_(0.5, 1.5)


def assert_logits_close(
    ours: np.ndarray, expected: np.ndarray, atol: float = 1e-4, scale: float | None = None
) -> None:
    """Equal within `atol` relative to the logit scale.

    Deep networks with random weights reach logits of 1e2..1e6, where float32 rounding
    alone exceeds 1e-4 absolute; dividing by the largest |logit| (by default at least 1)
    keeps the check strict for well-scaled logits and meaningful for large ones. Tests
    whose logits are far below 1 pass `scale=max|expected|` to keep the check relative.
    """
    ours = np.asarray(ours)
    largest = float(np.abs(expected).max())
    scale = max(1.0, largest) if scale is None else scale
    assert scale > 0
    # Shown with `pytest -s`: the figures of the README's parity table.
    print(f"\nmax |diff| {float(np.abs(ours - expected).max()):.1e}, max |logit| {largest:.3g}")
    np.testing.assert_allclose(ours / scale, expected / scale, atol=atol)
