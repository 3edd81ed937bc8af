"""Converted PyTorch weights give the reference logits: BN-Inception, VGG-16, C3D.

BN-Inception and C3D have no torchvision model; their references are compact PyTorch
re-statements of pretrainedmodels' ``BNInception`` (``tools/torch_models.py``, shared with
the benchmark) and mmaction2's ``C3D`` recognizer (below) with the same module names
(written from those sources, independent of tsn_jax's code; the BN-Inception one was
checked once against pretrainedmodels' own module: same state_dict keys and shapes, same
logits at 224x224).
"""

import functools

import jax
import numpy as np
import pytest

from tsn_jax import convert_torch
from tsn_jax.models import bninception, c3d, layers, vgg

torch = pytest.importorskip("torch")

from tests.torch_utils import (  # noqa: E402
    assert_logits_close,
    import_torchvision,
    randomize_batch_norm,
)
from tools.torch_models import TorchBNInception  # noqa: E402

nn = torch.nn


class TorchC3D(nn.Module):
    """mmaction2's C3D backbone: ConvModules (conv + ReLU, key ``conv1a.conv.weight``),
    pools with pool5 padded (0, 1, 1), fc6, fc7."""

    CONVS = [("1a", 64), ("2a", 128), ("3a", 256), ("3b", 256)]
    CONVS += [("4a", 512), ("4b", 512), ("5a", 512), ("5b", 512)]

    def __init__(self, fc6_in):
        super().__init__()
        cin = 3
        for name, cout in self.CONVS:
            module = nn.Module()
            module.conv = nn.Conv3d(cin, cout, 3, 1, 1)
            setattr(self, f"conv{name}", module)
            cin = cout
        self.fc6, self.fc7 = nn.Linear(fc6_in, 4096), nn.Linear(4096, 4096)

    def forward(self, x):
        for name, _ in self.CONVS:
            x = torch.relu(getattr(self, f"conv{name}").conv(x))
            if name == "1a":
                x = nn.functional.max_pool3d(x, (1, 2, 2), (1, 2, 2))
            elif name in ("2a", "3b", "4b"):
                x = nn.functional.max_pool3d(x, 2, 2)
            elif name == "5b":
                x = nn.functional.max_pool3d(x, 2, 2, padding=(0, 1, 1))
        return torch.relu(self.fc7(torch.relu(self.fc6(torch.flatten(x, 1)))))


class TorchC3DRecognizer(nn.Module):
    """mmaction2's Recognizer3D around C3D: ``backbone``, ``cls_head.fc_cls`` (eval mode:
    the head's dropout is the identity)."""

    def __init__(self, fc6_in, num_classes):
        super().__init__()
        self.backbone = TorchC3D(fc6_in)
        self.cls_head = nn.Module()
        self.cls_head.fc_cls = nn.Linear(4096, num_classes)

    def forward(self, x):
        return self.cls_head.fc_cls(self.backbone(x))


def state_dict_numpy(model):
    return {k: v.numpy() for k, v in model.state_dict().items()}


def jax_logits(model, variables, x):
    """Eval-mode logits, jitted once with XLA's convolutions: the im2col lowering that
    'auto' picks on CPU computes the same but compiles 3-4x slower (see layers.py)."""
    with layers.conv_implementation("xla"):
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


def test_c3d_logits_match_mmaction2_recognizer():
    torch.manual_seed(0)
    # 16x32x32: pool4 leaves 2x2, which pool5's (0, 1, 1) padding turns into 2x2 windows
    # each holding one real row and column; fc6 sees 512 * 1 * 2 * 2 inputs.
    reference = TorchC3DRecognizer(fc6_in=512 * 4, num_classes=10).eval()
    x = np.random.default_rng(0).normal(size=(1, 3, 16, 32, 32)).astype(np.float32)
    expected = torch_logits(reference, x)

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
