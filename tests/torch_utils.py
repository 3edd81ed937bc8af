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


def import_mmaction():
    """mmaction2 1.2's own package (with mmengine and mmcv-lite), or a pytest skip.

    The 1.2.0 wheel lacks `mmaction/models/localizers/drn`, which `mmaction.models`
    imports; an empty module stands in for it (no test uses DRN). Returns the `mmaction`
    package with its models and transforms registered.
    """
    import sys
    import types

    import pytest

    if "mmaction.models.localizers.drn" not in sys.modules:
        for name in ("mmaction.models.localizers.drn", "mmaction.models.localizers.drn.drn"):
            stub = types.ModuleType(name)
            stub.DRN = None
            sys.modules[name] = stub
    try:
        import_torchvision()
        import mmaction
        import mmaction.datasets.transforms  # noqa: F401  (registers SampleFrames, crops)
        import mmaction.models  # noqa: F401  (registers recognizers, backbones, heads)
        from mmaction.utils import register_all_modules
    except ImportError as error:  # pragma: no cover - depends on the environment
        pytest.skip(f"mmaction2 is not installed ({error}); see the README's torch line")
    # Builds by registry name (`MODELS.build(dict(type='Recognizer2D', ...))`) resolve in
    # mmaction's scope, as its own tools set it.
    register_all_modules(init_default_scope=True)
    return mmaction
