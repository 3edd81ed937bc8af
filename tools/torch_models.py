"""PyTorch reference networks for the parity tests and `tools/benchmark.py` (plain torch).

Each class here is the PyTorch counterpart of a tsn-jax network, with the module names of
the public layout that tsn-jax converts from (`tsn_jax.convert_torch`), so that a
`state_dict` of one of these converts into our variables and gives the same logits:

* `resnet50`: torchvision's ResNet-50 (its own constructor at the published width), built
  from torchvision's own blocks at other widths, and with TSM (Lin et al.) in every
  bottleneck when given `num_segments` (`tsm_bottleneck_class()`; checked against
  mmaction2's `ResNetTSM` in tests/test_mmaction_parity_models.py);
* `r2plus1d_18`: torchvision's R(2+1)D-18 (likewise at any width);
* `TorchBNInception`: pretrainedmodels' `BNInception` (the PyTorch port of TSN's Caffe
  model), with a width;
* `MMResNet` (`ConvModule`, `Bottleneck`): mmaction2's `ResNet3d` (I3D-R50), checked
  against mmaction2's own module where mmaction2 installs;
* `TSN`: the segmental wrapper, the backbone on the K snippets of each video folded into
  the batch, dropout, a new `fc`, and the average of the K snippet logits.

Widths scale as tsn-jax's `base_width` does (`scaled_width`: round(c * base_width / 64), at
least 1), so tests can compare tiny networks. Written from the public sources of those
layouts (torchvision, pretrainedmodels, mmaction2, TSM's `temporal_shift`), not copied.

Imported by tests/test_torch_parity*.py and tests/test_benchmark.py (`from tools import
torch_models`, the repository root being on `sys.path`) and by tools/benchmark.py.
"""

from __future__ import annotations

import functools
import types

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

__all__ = [
    "BNINCEPTION_BLOCKS",
    "MMResNet",
    "TSN",
    "TorchBNInception",
    "import_torchvision",
    "r2plus1d_18",
    "randomize_batch_norm",
    "resnet50",
    "scaled_width",
    "state_dict_numpy",
    "temporal_shift",
    "tsm_bottleneck_class",
    "tsn_inputs",
]


# --------------------------------------------------------------------------- helpers


def import_torchvision() -> types.ModuleType:
    """torchvision's model definitions with a CPU torch build.

    The torchvision wheels on the index are CUDA builds whose import fails on
    `torchvision::nms` with CPU torch; declaring the two op schemas first lets the models
    import (the detection ops stay unusable).
    """
    try:
        import torchvision
    except (ImportError, RuntimeError):
        library = torch.library.Library("torchvision", "DEF")
        library.define("nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
        library.define(
            "qnms(Tensor qdets, Tensor qscores, Tensor qscale, Tensor qzero_point, "
            "float iou_threshold) -> Tensor"
        )
        import_torchvision.library = library  # kept alive: the schemas live with it
        import torchvision
    return torchvision


def scaled_width(channels: int, base_width: int) -> int:
    """A published width scaled by ``base_width / 64`` (tsn-jax's `layers.scaled_width`)."""
    return max(1, round(channels * base_width / 64))


def randomize_batch_norm(model: nn.Module) -> None:
    """Non-trivial BatchNorm scale, bias and statistics, so that their conversion matters."""
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.weight.uniform_(0.5, 1.5)
                module.bias.normal_(0, 0.1)
                module.running_mean.normal_(0, 0.1)
                module.running_var.uniform_(0.5, 1.5)


def state_dict_numpy(model: nn.Module) -> dict[str, np.ndarray]:
    """The model's `state_dict` as numpy arrays (what `tsn_jax.convert_torch` takes)."""
    return {k: v.detach().cpu().float().numpy() for k, v in model.state_dict().items()}


# --------------------------------------------------------------------------- TSN


class TSN(nn.Module):
    """Temporal Segment Network around a backbone that returns pooled features.

    Inputs are ``[B, K, C', H, W]`` for a 2D backbone (the T frames of a snippet stacked
    frame-major into C' = T * C channels, as tsn-jax's `fold_snippets`) or
    ``[B, K, C, T, H, W]`` for a 3D one; the K snippets are folded into the batch, so
    BatchNorm sees all B * K of them. `fc` follows dropout on the features, and the
    consensus is the average of the K snippet logits (before the softmax). Module names
    (`backbone.*`, `fc`) are those of tsn-jax's `TSN` variables.
    """

    def __init__(self, backbone: nn.Module, num_features: int, num_classes: int, dropout: float):
        super().__init__()
        self.backbone = backbone
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(num_features, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, k = x.shape[:2]
        features = self.backbone(x.flatten(0, 1))
        logits = self.fc(self.dropout(features))
        return logits.view(b, k, -1).mean(dim=1)


def tsn_inputs(inputs: np.ndarray, is_3d: bool) -> torch.Tensor:
    """A tsn-jax batch ``[B, K, T, H, W, C]`` in `TSN`'s layout (a contiguous copy)."""
    b, k, t, h, w, c = inputs.shape
    if is_3d:
        x = inputs.transpose(0, 1, 5, 2, 3, 4)  # [B, K, C, T, H, W]
    else:
        x = inputs.transpose(0, 1, 2, 5, 3, 4).reshape(b, k, t * c, h, w)  # frame-major
    return torch.from_numpy(np.ascontiguousarray(x))


# --------------------------------------------------------------------------- ResNet-50, TSM


def temporal_shift(x: torch.Tensor, num_segments: int, fraction: float = 0.125) -> torch.Tensor:
    """TSM's shift on ``[N * K, C, H, W]`` (the K segments of a video consecutive).

    The first ``int(C * fraction)`` channels of segment k take segment k + 1's values
    (zeros at the last segment), the next as many take segment k - 1's (zeros at the
    first), the rest stay: the shift of Lin et al.'s public code (`fold_div=8`).
    """
    nk, c, h, w = x.shape
    fold = int(c * fraction)
    x = x.view(nk // num_segments, num_segments, c, h, w)
    out = torch.zeros_like(x)
    out[:, :-1, :fold] = x[:, 1:, :fold]
    out[:, 1:, fold : 2 * fold] = x[:, :-1, fold : 2 * fold]
    out[:, :, 2 * fold :] = x[:, :, 2 * fold :]
    return out.view(nk, c, h, w)


@functools.cache
def tsm_bottleneck_class() -> type:
    """`TSMBottleneck`, a subclass of torchvision's `Bottleneck` (imported on first use)."""
    torchvision = import_torchvision()

    class TSMBottleneck(torchvision.models.resnet.Bottleneck):
        """torchvision's Bottleneck whose residual branch starts with TSM's shift.

        The identity (and `downsample`) path reads the unshifted input: TSM's "residual
        shift" (`shift_inplace=False` in tsn-jax). `num_segments` is set after construction.
        """

        num_segments: int = 1
        shift_fraction: float = 0.125

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            identity = x if self.downsample is None else self.downsample(x)
            out = temporal_shift(x, self.num_segments, self.shift_fraction)
            out = self.relu(self.bn1(self.conv1(out)))
            out = self.relu(self.bn2(self.conv2(out)))
            out = self.bn3(self.conv3(out))
            return self.relu(out + identity)

    return TSMBottleneck


def resnet50(
    num_classes: int | None = 1000,
    base_width: int = 64,
    num_segments: int | None = None,
    shift_fraction: float = 0.125,
) -> nn.Module:
    """torchvision's ResNet-50 (v1.5), optionally narrower or with TSM.

    At the published width without TSM this is `torchvision.models.resnet50`. Otherwise
    the same `ResNet` class is filled by its own `_make_layer` with widths scaled by
    ``base_width / 64`` and, when `num_segments` is given, `TSMBottleneck` blocks shifting
    `shift_fraction` of the channels each way across the `num_segments` segments of each
    video. `num_classes=None` replaces `fc` by the identity (pooled features out).
    """
    torchvision = import_torchvision()
    resnet = torchvision.models.resnet
    if base_width == 64 and num_segments is None:
        model = resnet.resnet50()
    else:
        block = resnet.Bottleneck if num_segments is None else tsm_bottleneck_class()
        model = resnet.ResNet.__new__(resnet.ResNet)
        nn.Module.__init__(model)
        width = scaled_width(64, base_width)
        # The attributes ResNet.__init__ sets and _make_layer reads (torchvision's
        # `base_width` is its width per group, 64 for ResNet-50).
        model._norm_layer, model.inplanes, model.dilation = nn.BatchNorm2d, width, 1
        model.groups, model.base_width = 1, 64
        model.conv1 = nn.Conv2d(3, width, 7, 2, 3, bias=False)
        model.bn1, model.relu = nn.BatchNorm2d(width), nn.ReLU(inplace=True)
        model.maxpool = nn.MaxPool2d(3, 2, 1)
        for i, blocks in enumerate((3, 4, 6, 3)):
            planes = scaled_width(64 * 2**i, base_width)
            layer = model._make_layer(block, planes, blocks, stride=1 if i == 0 else 2)
            setattr(model, f"layer{i + 1}", layer)
        model.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        model.fc = nn.Linear(model.inplanes, 1000)
        for module in model.modules():
            if isinstance(module, block) and num_segments is not None:
                module.num_segments, module.shift_fraction = num_segments, shift_fraction
    features = model.fc.in_features
    model.fc = nn.Identity() if num_classes is None else nn.Linear(features, num_classes)
    model.num_features = features
    return model


# --------------------------------------------------------------------------- R(2+1)D-18


def r2plus1d_18(num_classes: int | None = 400, base_width: int = 64) -> nn.Module:
    """torchvision's R(2+1)D-18, at the published width or scaled by ``base_width / 64``.

    The scaled network is torchvision's `VideoResNet` with its `R2Plus1dStem` widths (45,
    64) scaled and the four stages built by its own `_make_layer` from its `BasicBlock`
    and `Conv2Plus1D` (whose middle width follows from the scaled widths by torchvision's
    rule). `num_classes=None` replaces `fc` by the identity.
    """
    video = import_torchvision().models.video.resnet
    if base_width == 64:
        model = video.r2plus1d_18()
    else:
        model = video.VideoResNet.__new__(video.VideoResNet)
        nn.Module.__init__(model)
        mid, width = scaled_width(45, base_width), scaled_width(64, base_width)
        model.stem = nn.Sequential(
            nn.Conv3d(3, mid, (1, 7, 7), (1, 2, 2), (0, 3, 3), bias=False),
            nn.BatchNorm3d(mid),
            nn.ReLU(inplace=True),
            nn.Conv3d(mid, width, (3, 1, 1), 1, (1, 0, 0), bias=False),
            nn.BatchNorm3d(width),
            nn.ReLU(inplace=True),
        )
        model.inplanes = width
        for i in range(4):
            planes = scaled_width(64 * 2**i, base_width)
            layer = model._make_layer(
                video.BasicBlock, video.Conv2Plus1D, planes, 2, stride=1 if i == 0 else 2
            )
            setattr(model, f"layer{i + 1}", layer)
        model.avgpool = nn.AdaptiveAvgPool3d((1, 1, 1))
        model.fc = nn.Linear(model.inplanes, 400)
    features = model.fc.in_features
    model.fc = nn.Identity() if num_classes is None else nn.Linear(features, num_classes)
    model.num_features = features
    return model


# --------------------------------------------------------------------------- BN-Inception

# pretrainedmodels' BNInception, block by block: name, 1x1, 3x3 reduce, 3x3, double 3x3
# reduce, double 3x3, pool ('avg' / 'max' 3x3/1, or 'pass': 3x3/2 max without projection,
# the 3x3 convolutions then stride 2), pool projection.
BNINCEPTION_BLOCKS = [
    ("3a", 64, 64, 64, 64, 96, "avg", 32),
    ("3b", 64, 64, 96, 64, 96, "avg", 64),
    ("3c", None, 128, 160, 64, 96, "pass", None),
    ("4a", 224, 64, 96, 96, 128, "avg", 128),
    ("4b", 192, 96, 128, 96, 128, "avg", 128),
    ("4c", 160, 128, 160, 128, 160, "avg", 128),
    ("4d", 96, 128, 192, 160, 192, "avg", 128),
    ("4e", None, 128, 192, 192, 256, "pass", None),
    ("5a", 352, 192, 320, 160, 224, "avg", 128),
    ("5b", 352, 192, 320, 192, 224, "max", 128),
]


class TorchBNInception(nn.Module):
    """pretrainedmodels' BNInception (Caffe port): flat layer names, biased convs, eps 1e-5.

    Its in-place ReLUs make every BN output rectified; its 7x7 global average pool is an
    adaptive one here so that inputs below 224 work. `base_width` scales every width by
    ``base_width / 64``; `num_classes=None` drops `last_linear` (pooled features out,
    `num_features` wide). `in_channels` is 10 for TSN's 5 stacked flow fields.
    """

    def __init__(self, num_classes: int | None = 1000, in_channels: int = 3, base_width: int = 64):
        super().__init__()

        def w(channels):
            return scaled_width(channels, base_width)

        self._unit("conv1_7x7_s2", in_channels, w(64), 7, 2)
        self._unit("conv2_3x3_reduce", w(64), w(64), 1)
        self._unit("conv2_3x3", w(64), w(192), 3)
        channels = w(192)
        for name, c1, r3, c3, rd, d3, pool, proj in BNINCEPTION_BLOCKS:
            p, stride = f"inception_{name}", 2 if pool == "pass" else 1
            if c1:
                self._unit(f"{p}_1x1", channels, w(c1), 1)
            self._unit(f"{p}_3x3_reduce", channels, w(r3), 1)
            self._unit(f"{p}_3x3", w(r3), w(c3), 3, stride)
            self._unit(f"{p}_double_3x3_reduce", channels, w(rd), 1)
            self._unit(f"{p}_double_3x3_1", w(rd), w(d3), 3)
            self._unit(f"{p}_double_3x3_2", w(d3), w(d3), 3, stride)
            if proj:
                self._unit(f"{p}_pool_proj", channels, w(proj), 1)
            channels = (w(c1) if c1 else 0) + w(c3) + w(d3) + (w(proj) if proj else channels)
        self.num_features = channels
        self.last_linear = None if num_classes is None else nn.Linear(channels, num_classes)

    def _unit(self, name, cin, cout, k, stride=1):
        setattr(self, name, nn.Conv2d(cin, cout, k, stride, k // 2))
        setattr(self, f"{name}_bn", nn.BatchNorm2d(cout, eps=1e-5, momentum=0.9))

    def _run(self, name, x):
        return torch.relu(getattr(self, f"{name}_bn")(getattr(self, name)(x)))

    def forward(self, x):
        x = self._run("conv1_7x7_s2", x)
        x = F.max_pool2d(x, 3, 2, ceil_mode=True)
        x = self._run("conv2_3x3", self._run("conv2_3x3_reduce", x))
        x = F.max_pool2d(x, 3, 2, ceil_mode=True)
        for name, c1, _, _, _, _, pool, _ in BNINCEPTION_BLOCKS:
            p = f"inception_{name}"
            outs = [self._run(f"{p}_1x1", x)] if c1 else []
            outs.append(self._run(f"{p}_3x3", self._run(f"{p}_3x3_reduce", x)))
            y = self._run(f"{p}_double_3x3_1", self._run(f"{p}_double_3x3_reduce", x))
            outs.append(self._run(f"{p}_double_3x3_2", y))
            if pool == "pass":
                outs.append(F.max_pool2d(x, 3, 2, ceil_mode=True))
            else:
                if pool == "avg":
                    y = F.avg_pool2d(x, 3, 1, 1, ceil_mode=True)
                else:
                    y = F.max_pool2d(x, 3, 1, 1, ceil_mode=True)
                outs.append(self._run(f"{p}_pool_proj", y))
            x = torch.cat(outs, 1)
        x = torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)
        return x if self.last_linear is None else self.last_linear(x)


# --------------------------------------------------------------------------- mmaction2


class ConvModule(nn.Module):
    """mmcv's ConvModule as mmaction2's ResNet3d builds it: `conv` (no bias), `bn` (, ReLU)."""

    def __init__(self, cin, cout, kernel, stride=1, padding=0, relu=True):
        super().__init__()
        self.conv = nn.Conv3d(cin, cout, kernel, stride, padding, bias=False)
        self.bn = nn.BatchNorm3d(cout)
        self.relu = relu

    def forward(self, x):
        x = self.bn(self.conv(x))
        return F.relu(x) if self.relu else x


class Bottleneck(nn.Module):
    """mmaction2's Bottleneck3d, 'pytorch' style (the stride on the middle convolution)."""

    def __init__(self, cin, planes, stride, inflate, style):
        super().__init__()
        if inflate and style == "3x1x1":
            k1, p1, k2, p2 = (3, 1, 1), (1, 0, 0), (1, 3, 3), (0, 1, 1)
        elif inflate:
            k1, p1, k2, p2 = 1, 0, 3, 1
        else:
            k1, p1, k2, p2 = 1, 0, (1, 3, 3), (0, 1, 1)
        self.conv1 = ConvModule(cin, planes, k1, 1, p1)
        self.conv2 = ConvModule(planes, planes, k2, stride, p2)
        self.conv3 = ConvModule(planes, 4 * planes, 1, relu=False)
        needs_downsample = stride != (1, 1, 1) or cin != 4 * planes
        self.downsample = (
            ConvModule(cin, 4 * planes, 1, stride, relu=False) if needs_downsample else None
        )

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        return F.relu(self.conv3(self.conv2(self.conv1(x))) + identity)


class MMResNet(nn.Module):
    """mmaction2's ResNet3d (I3D-R50 and its variants) with ResNet-50 stages, plain torch.

    The benchmark's twin of tsn-jax's `i3d_resnet.I3DResNet`, usable without mmaction2;
    tests/test_torch_parity_i3d.py loads mmaction2's own `ResNet3d` weights into it
    (same keys) and checks that it computes the same features. Returns the globally
    average-pooled features (``32 * base`` wide, `num_features`). The options are
    `I3DResNet`'s: `inflate` (per stage, one 0/1 flag per block), `style` ('3x1x1' or
    '3x3x3'), `conv1_kernel`, `conv1_stride_t`, `pool1_stride_t`, `with_pool2`,
    `temporal_strides` (the 2D ResNet is compared with mmaction2's real one,
    tests/test_mmaction_parity_models.py).
    """

    def __init__(
        self,
        base,
        inflate=None,
        style="3x1x1",
        conv1_kernel=(5, 7, 7),
        conv1_stride_t=2,
        pool1_stride_t=2,
        with_pool2=True,
        temporal_strides=(1, 1, 1, 1),
    ):
        super().__init__()
        padding = tuple((k - 1) // 2 for k in conv1_kernel)
        self.conv1 = ConvModule(3, base, conv1_kernel, (conv1_stride_t, 2, 2), padding)
        self.maxpool = nn.MaxPool3d((1, 3, 3), (pool1_stride_t, 2, 2), (0, 1, 1))
        self.pool2 = nn.MaxPool3d((2, 1, 1), (2, 1, 1)) if with_pool2 else nn.Identity()
        cin = base
        for i, blocks in enumerate((3, 4, 6, 3)):
            layer = []
            for j in range(blocks):
                spatial = 2 if i > 0 and j == 0 else 1
                stride = (temporal_strides[i] if j == 0 else 1, spatial, spatial)
                layer.append(Bottleneck(cin, base * 2**i, stride, inflate[i][j], style))
                cin = 4 * base * 2**i
            self.add_module(f"layer{i + 1}", nn.Sequential(*layer))
        self.num_features = cin

    def forward(self, x):
        x = self.layer1(self.maxpool(self.conv1(x)))
        x = self.layer4(self.layer3(self.layer2(self.pool2(x))))
        return x.mean(dim=(2, 3, 4))  # the head's global average pool
