"""Converted I3D and mmaction2 I3D-ResNet weights give the PyTorch logits.

I3D's reference is a compact re-statement, with the same module names, of
piergiaj/pytorch-i3d's ``InceptionI3d`` (TF 'SAME' padding recomputed from each input's
size, as he does; the package does not install), at width 16/64 for the logits and full
width for the conversion (names and shapes, nothing run). The I3D-ResNet-50 references
are mmaction2 1.2's own ``Recognizer3D`` (``ResNet3d`` + ``I3DHead``) at full width
(skipped without mmaction2), which also checks ``tools/torch_models.MMResNet``, the
benchmark's plain-torch twin.
"""

import numpy as np
import pytest

from tests.helpers import PIERGIAJ_MIXED, piergiaj_i3d_keys, run_once
from tsn_jax import convert_torch
from tsn_jax.models import i3d, i3d_resnet

torch = pytest.importorskip("torch")

from tests.torch_utils import (  # noqa: E402
    assert_logits_close,
    import_mmaction,
    randomize_batch_norm,
)
from tools.torch_models import MMResNet  # noqa: E402

nn = torch.nn
F = torch.nn.functional


def _clip(shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype(np.float32)


def _torch_logits(model, x, classifier):
    """Logits of an eval-mode torch model on a channels-first copy of channels-last x.

    The classifier's weights are scaled up: PyTorch's default init gives logits of ~0.2,
    where ``assert_logits_close``'s tolerance is absolute; O(1) logits make it relative.
    """
    model.eval()
    randomize_batch_norm(model)
    with torch.no_grad():
        classifier.weight.mul_(20.0)
    order = (0, x.ndim - 1, *range(1, x.ndim - 1))
    with torch.no_grad():
        return model(torch.from_numpy(x.transpose(order).copy())).numpy()


def _converted_logits(model, torch_model, rules, x):
    """Our logits with the torch model's weights (renamed by ``rules``), one jitted call."""
    state_dict = {k: v.numpy() for k, v in torch_model.state_dict().items()}
    variables = convert_torch.convert_state_dict(
        convert_torch.rename_keys(state_dict, rules),
        convert_torch.abstract_variables(model, x.shape),
    )
    return run_once(lambda v, x: model.apply(v, x, train=False), variables, x)


def _width(channels, base_width):
    return max(1, round(channels * base_width / 64))


# --------------------------------------------------------------------------- I3D


def _same_pad(sizes, kernel, stride):
    """piergiaj's ``compute_pad`` per axis, as F.pad's (last axis first) list."""
    pads = []
    for n, k, s in zip(sizes, kernel, stride, strict=True):
        total = max(k - s, 0) if n % s == 0 else max(k - n % s, 0)
        pads.append((total // 2, total - total // 2))
    return [p for pair in reversed(pads) for p in pair]


class Unit3D(nn.Module):
    def __init__(self, cin, cout, kernel=1, stride=1, bn=True, relu=True, bias=False):
        super().__init__()
        self.kernel, self.stride, self.relu = (kernel,) * 3, (stride,) * 3, relu
        self.conv3d = nn.Conv3d(cin, cout, kernel, stride, bias=bias)
        self.bn = nn.BatchNorm3d(cout, eps=1e-3, momentum=0.01) if bn else None

    def forward(self, x):
        x = self.conv3d(F.pad(x, _same_pad(x.shape[2:], self.kernel, self.stride)))
        if self.bn is not None:
            x = self.bn(x)
        return F.relu(x) if self.relu else x


class MaxPool3dSamePadding(nn.Module):
    """piergiaj pads max pooling with zeros (every pool follows a ReLU)."""

    def __init__(self, kernel, stride):
        super().__init__()
        self.kernel, self.stride = kernel, stride

    def forward(self, x):
        x = F.pad(x, _same_pad(x.shape[2:], self.kernel, self.stride))
        return F.max_pool3d(x, self.kernel, self.stride)


class InceptionModule(nn.Module):
    def __init__(self, cin, w):
        super().__init__()
        self.b0 = Unit3D(cin, w[0])
        self.b1a = Unit3D(cin, w[1])
        self.b1b = Unit3D(w[1], w[2], 3)
        self.b2a = Unit3D(cin, w[3])
        self.b2b = Unit3D(w[3], w[4], 3)
        self.b3a = MaxPool3dSamePadding((3, 3, 3), (1, 1, 1))
        self.b3b = Unit3D(cin, w[5])

    def forward(self, x):
        branches = [self.b0(x), self.b1b(self.b1a(x)), self.b2b(self.b2a(x)), self.b3b(self.b3a(x))]
        return torch.cat(branches, dim=1)


class InceptionI3d(nn.Module):
    """piergiaj's layout; the head averages over time (and space) as DeepMind's Logits.

    His AvgPool3d((2, 7, 7)) is clipped to the final map for small clips, as ours is.
    """

    def __init__(self, num_classes, base_width=64):
        super().__init__()

        def w(c):
            return _width(c, base_width)

        mixed = [(name, [w(c) for c in widths]) for name, _, widths in PIERGIAJ_MIXED]
        out = [sum(widths[i] for i in (0, 2, 4, 5)) for _, widths in mixed]
        self.logits = Unit3D(out[-1], num_classes, bn=False, relu=False, bias=True)
        self.layers = [
            ("Conv3d_1a_7x7", Unit3D(3, w(64), 7, 2)),
            ("MaxPool3d_2a_3x3", MaxPool3dSamePadding((1, 3, 3), (1, 2, 2))),
            ("Conv3d_2b_1x1", Unit3D(w(64), w(64))),
            ("Conv3d_2c_3x3", Unit3D(w(64), w(192), 3)),
            ("MaxPool3d_3a_3x3", MaxPool3dSamePadding((1, 3, 3), (1, 2, 2))),
        ]
        cin = w(192)
        for (name, widths), cout in zip(mixed, out, strict=True):
            if name == "Mixed_4b":
                self.layers.append(("MaxPool3d_4a_3x3", MaxPool3dSamePadding((3, 3, 3), (2, 2, 2))))
            if name == "Mixed_5b":
                self.layers.append(("MaxPool3d_5a_2x2", MaxPool3dSamePadding((2, 2, 2), (2, 2, 2))))
            self.layers.append((name, InceptionModule(cin, widths)))
            cin = cout
        for name, module in self.layers:
            self.add_module(name, module)

    def forward(self, x):
        for _, module in self.layers:
            x = module(x)
        window = [min(k, n) for k, n in zip((2, 7, 7), x.shape[2:], strict=True)]
        x = self.logits(F.avg_pool3d(x, window, stride=1))
        return x.mean(dim=(2, 3, 4))


@pytest.mark.slow
def test_i3d_logits_match_piergiaj_layout():
    # Odd and even sizes at every stride: 'SAME' pads asymmetrically at some layers
    # (7x7x7/2 on 70 pads (2, 3); 1x3x3/2 on 35 pads (1, 1), on 18 (0, 1); 2x2x2/2 on 3
    # frames (0, 1)); 20 frames leave 3 time steps, so the head averages 2 windows.
    torch.manual_seed(0)
    reference = InceptionI3d(7, base_width=16)
    x = _clip((2, 20, 70, 70, 3))
    expected = _torch_logits(reference, x, reference.logits.conv3d)
    ours = _converted_logits(
        i3d.i3d(num_classes=7, base_width=16), reference, convert_torch.PIERGIAJ_I3D_TO_DEEPMIND, x
    )
    assert_logits_close(ours, expected)


def test_convert_piergiaj_checkpoint_at_full_width():
    reference = InceptionI3d(400)
    state_dict = {k: v.numpy() for k, v in reference.state_dict().items()}
    assert [(k, v.shape) for k, v in state_dict.items()] == piergiaj_i3d_keys()
    variables = convert_torch.convert_torchvision("i3d", state_dict)
    np.testing.assert_array_equal(
        variables["params"]["Mixed_5b"]["Branch_2"]["Conv3d_0a_3x3"]["conv_3d"]["kernel"],
        state_dict["Mixed_5b.b2b.conv3d.weight"].transpose(2, 3, 4, 1, 0),
    )
    np.testing.assert_array_equal(
        variables["params"]["Logits"]["Conv3d_0c_1x1"]["conv_3d"]["bias"],
        state_dict["logits.conv3d.bias"],
    )


# --------------------------------------------------------------------------- mmaction2

MMACTION2_I3D = {
    "conv1_kernel": (5, 7, 7),
    "conv1_stride_t": 2,
    "pool1_stride_t": 2,
    "inflate": i3d_resnet.i3d_resnet50().inflate,
}
CHEN = {
    "conv1_kernel": (3, 7, 7),
    "conv1_stride_t": 1,
    "pool1_stride_t": 1,
    "with_pool2": False,
    "inflate": ((1,) * 3, (1,) * 4, (1,) * 6, (1,) * 3),
    "inflate_style": "3x3x3",
    "temporal_strides": (1, 2, 2, 2),
}


def _mmaction2_i3d(num_classes, base_channels=64, depth=50, **options):
    """mmaction2's own Recognizer3D: ResNet3d(depth, **options) + I3DHead, eval mode.

    ``options`` are named as in our ``i3d_resnet50`` (mmaction2 uses the same names).
    """
    import_mmaction()
    from mmaction.registry import MODELS

    torch.manual_seed(0)
    backbone = {"type": "ResNet3d", "depth": depth, "pretrained2d": False, **options}
    return MODELS.build(
        {
            "type": "Recognizer3D",
            "backbone": backbone | {"base_channels": base_channels, "zero_init_residual": False},
            "cls_head": {
                "type": "I3DHead",
                "num_classes": num_classes,
                "in_channels": (32 if depth >= 50 else 8) * base_channels,
            },
        }
    ).eval()


@pytest.mark.parametrize(
    "options,frames", [(MMACTION2_I3D, 8), (CHEN, 4)], ids=["mmaction2_i3d_r50", "chen_3x3x3"]
)
def test_i3d_resnet50_logits_match_mmaction2(options, frames):
    # Full width and depth; mmaction2's I3D-R50 halves time three times (8 frames -> 1).
    reference = _mmaction2_i3d(6, **options)
    randomize_batch_norm(reference)
    x = _clip((2, frames, 32, 32, 3))
    with torch.no_grad():
        inputs = torch.from_numpy(x.transpose(0, 4, 1, 2, 3).copy())[:, None]
        features, _ = reference.extract_feat(inputs, test_mode=True)
        expected = reference.cls_head(features).numpy()
    state_dict = {k: v.numpy() for k, v in reference.state_dict().items()}
    variables = convert_torch.convert_torchvision("mmaction2_i3d_resnet50", state_dict, **options)
    ours = i3d_resnet.i3d_resnet50(num_classes=6, **options)
    assert_logits_close(
        run_once(lambda v, x: ours.apply(v, x, train=False), variables, x), expected
    )


@pytest.mark.parametrize("temporal_strides", [(1, 2, 2, 2), (1, 1, 1, 1)], ids=["tp", "no_tp"])
def test_i3d_resnet18_is_chen_et_al_layout_and_matches_mmaction2(temporal_strides):
    # Chen et al.'s I3D-ResNet18 (their code's i3d_resnet.py): mmaction2's ResNet3d with
    # BasicBlock3d (both convolutions 3x3x3, the strides on the first) built with the
    # options that layout needs; our i3d_resnet18 has them as defaults.
    chen = {**CHEN, "inflate": ((1, 1),) * 4, "temporal_strides": temporal_strides}
    reference = _mmaction2_i3d(6, base_channels=16, depth=18, **chen)
    randomize_batch_norm(reference)
    x = _clip((2, 8, 32, 32, 3))
    with torch.no_grad():
        inputs = torch.from_numpy(x.transpose(0, 4, 1, 2, 3).copy())[:, None]
        features, _ = reference.extract_feat(inputs, test_mode=True)
        expected = reference.cls_head(features).numpy()
    assert features.shape[2] == (1 if temporal_strides[1] == 2 else 8)
    state_dict = {k: v.numpy() for k, v in reference.state_dict().items()}
    ours = i3d_resnet.i3d_resnet18(num_classes=6, base_width=16, temporal_strides=temporal_strides)
    variables = convert_torch.convert_torchvision(
        "mmaction2_i3d_resnet18", state_dict, base_width=16, temporal_strides=temporal_strides
    )
    assert_logits_close(
        run_once(lambda v, x: ours.apply(v, x, train=False), variables, x), expected
    )


@pytest.mark.parametrize("options", [MMACTION2_I3D, CHEN], ids=["mmaction2_i3d_r50", "chen_3x3x3"])
def test_benchmark_i3d_twin_is_mmaction2s_resnet3d(options):
    # tools/benchmark.py's plain-torch I3D-R50 holds mmaction2's ResNet3d weights under the
    # same keys and computes the same pooled features.
    reference = _mmaction2_i3d(6, base_channels=8, **options).backbone
    randomize_batch_norm(reference)
    twin = MMResNet(
        8,
        inflate=options["inflate"],
        style=options.get("inflate_style", "3x1x1"),
        **{k: v for k, v in options.items() if k not in ("inflate", "inflate_style")},
    ).eval()
    twin.load_state_dict(reference.state_dict())
    x = torch.from_numpy(_clip((2, 3, 8, 32, 32)))
    with torch.no_grad():
        expected = reference(x).mean(dim=(2, 3, 4)).numpy()
        got = twin(x).numpy()
    assert_logits_close(got, expected, scale=float(np.abs(expected).max()))
