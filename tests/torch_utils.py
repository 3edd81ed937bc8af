"""Helpers for tests that compare with PyTorch models (only imported where torch is)."""

import numpy as np

# One copy of the reference-model helpers, shared with tools/benchmark.py.
from tools.torch_models import import_torchvision, randomize_batch_norm  # noqa: F401


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
