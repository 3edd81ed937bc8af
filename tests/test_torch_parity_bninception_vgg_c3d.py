"""Converted PyTorch weights give the reference logits: BN-Inception, VGG-16, C3D.

BN-Inception has no torchvision model; its reference is a compact PyTorch re-statement
of pretrainedmodels' ``BNInception`` (``tools/torch_models.py``, shared with the
benchmark) with the same module names (written from that source, independent of
tsn_jax's code; checked once against pretrainedmodels' own module: same state_dict keys
and shapes, same logits at 224x224). C3D's reference is mmaction2 1.2's own ``C3D``
recognizer (skipped without mmaction2).
"""

import functools

import jax
import numpy as np
import pytest

from tsn_jax import convert_torch
from tsn_jax.models import bninception, c3d, layers, lowerings, vgg

torch = pytest.importorskip("torch")

from tests.torch_utils import (  # noqa: E402
    assert_logits_close,
    import_mmaction,
    import_torchvision,
    randomize_batch_norm,
)
from tools.torch_models import TorchBNInception  # noqa: E402

nn = torch.nn


def state_dict_numpy(model):
    return {k: v.numpy() for k, v in model.state_dict().items()}


def jax_logits(model, variables, x):
    """Eval-mode logits, jitted once with XLA's convolutions: the im2col lowering that
    'auto' picks on CPU computes the same but compiles 3-4x slower (see layers.py)."""
    with lowerings.conv_implementation("xla"):
        return jax.jit(functools.partial(model.apply, train=False))(variables, x)


def torch_logits(model, x):
    with torch.no_grad():
        return model(torch.from_numpy(x)).numpy()


def check_logits(ours, expected):
    """Equal within 1e-4 of the largest |logit|.

    Random-weight models give logits far below 1 here, where `assert_logits_close`'s
    default scale (at least 1) would allow a large relative error.
    """
    assert_logits_close(ours, expected, scale=float(np.abs(expected).max()))


def test_bninception_logits_match_pretrainedmodels_layout():
    torch.manual_seed(0)
    reference = TorchBNInception(num_classes=10).eval()
    randomize_batch_norm(reference)
    # 96 = 48 -> 24 -> 12 at inception_3c: every ceil-mode pool (pool1, pool2, 3c, 4e)
    # sees an odd (size - 3) and keeps a clipped last window.
    x = np.random.default_rng(0).normal(size=(2, 3, 96, 96)).astype(np.float32)
    expected = torch_logits(reference, x)

    variables = convert_torch.convert_torchvision("bninception", state_dict_numpy(reference))
    model = bninception.bninception(num_classes=10)
    logits = jax_logits(model, variables, x.transpose(0, 2, 3, 1))
    check_logits(logits, expected)


def test_vgg16_logits_match_torchvision():
    torchvision = import_torchvision()
    torch.manual_seed(0)
    reference = torchvision.models.vgg16(num_classes=10).eval()
    # 32x32 -> a 1x1 pool5 map, replicated to 7x7 by the adaptive average pool.
    x = np.random.default_rng(0).normal(size=(1, 3, 32, 32)).astype(np.float32)
    expected = torch_logits(reference, x)

    variables = convert_torch.convert_torchvision("vgg16", state_dict_numpy(reference))
    del reference
    model = vgg.vgg16(num_classes=10)
    logits = jax_logits(model, variables, x.transpose(0, 2, 3, 1))
    check_logits(logits, expected)


def test_vgg16_bn_keys_match_torchvision():
    # vgg16_bn is vgg16 plus a BatchNorm per convolution; check that its real keys convert.
    torchvision = import_torchvision()
    with torch.device("meta"):
        reference = torchvision.models.vgg16_bn(num_classes=10)
    abstract = convert_torch.abstract_variables(vgg.vgg16_bn(num_classes=10), (1, 32, 32, 3))
    state_dict = {k: np.zeros(v.shape, np.float32) for k, v in reference.state_dict().items()}
    convert_torch.convert_torchvision("vgg16_bn", state_dict)  # raises on any mismatch
    assert "features_40" in abstract["params"] and "features_41" in abstract["batch_stats"]


@pytest.mark.slow
def test_c3d_logits_match_mmaction2_recognizer():
    # mmaction2's own Recognizer3D around its C3D (biased ConvModules without BatchNorm,
    # pool5 padded (0, 1, 1), fc6, fc7) and an I3DHead without pooling, as its c3d config.
    import_mmaction()
    from mmaction.registry import MODELS

    torch.manual_seed(0)
    # 16x32x32: pool4 leaves 2x2, which pool5's (0, 1, 1) padding turns into 2x2 windows
    # each holding one real row and column; fc6 sees 512 * 1 * 2 * 2 inputs.
    reference = MODELS.build(
        {
            "type": "Recognizer3D",
            "backbone": {"type": "C3D", "out_dim": 512 * 4},
            "cls_head": {
                "type": "I3DHead",
                "num_classes": 10,
                "in_channels": 4096,
                "spatial_type": None,
            },
        }
    ).eval()
    x = np.random.default_rng(0).normal(size=(1, 3, 16, 32, 32)).astype(np.float32)
    with torch.no_grad():
        features, _ = reference.extract_feat(torch.from_numpy(x)[:, None], test_mode=True)
        expected = reference.cls_head(features).numpy()

    # The naming of convert_torch's 'mmaction2_c3d' entry, which is tied to 16x112x112.
    model = c3d.c3d(num_classes=10)
    state_dict = convert_torch.rename_keys(
        state_dict_numpy(reference), convert_torch.MMACTION2_RECOGNIZER
    )
    abstract = convert_torch.abstract_variables(model, (1, 16, 32, 32, 3))
    variables = convert_torch.convert_state_dict(state_dict, abstract, renames={"fc8": "fc"})
    logits = jax_logits(model, variables, x.transpose(0, 2, 3, 4, 1))
    check_logits(logits, expected)


@pytest.mark.parametrize("size", [(1, 1), (5, 3), (10, 13), (14, 7)])
def test_vgg_adaptive_avg_pool_matches_torch(size):
    # Replicated (1 -> 7), spread (5, 3 -> 7), overlapping (10, 13 -> 7) and plain bins.
    x = np.random.default_rng(0).normal(size=(2, 3, *size)).astype(np.float32)
    expected = nn.functional.adaptive_avg_pool2d(torch.from_numpy(x), (7, 7)).numpy()
    ours = layers.adaptive_avg_pool(x.transpose(0, 2, 3, 1), (7, 7))
    np.testing.assert_allclose(np.asarray(ours).transpose(0, 3, 1, 2), expected, atol=1e-6)
