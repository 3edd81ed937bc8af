"""3D ResNets for video clips: torchvision's R3D / MC3 / R(2+1)D and Hara et al.'s 3D ResNets.

Two published families share one residual block and one stage builder here; they differ
in the stem, the spatio-temporal convolution inside a block and the parameter names.

**torchvision** ``torchvision.models.video.resnet`` (Tran et al., "A Closer Look at
Spatiotemporal Convolutions for Action Recognition", CVPR 2018): ``r3d_18``, ``mc3_18``,
``r2plus1d_18``. A block's convolution is one of torchvision's three builders:

* ``'3d'`` (``Conv3DSimple``): 3x3x3, stride s in time and space;
* ``'2d'`` (``Conv3DNoTemporal``): 1x3x3, stride (1, s, s); the MC3 stages 2-4;
* ``'2plus1d'`` (``Conv2Plus1D``): 1x3x3 spatial conv (stride (1, s, s)) to ``midplanes``
  channels, BN, ReLU, then 3x1x1 temporal conv (stride (s, 1, 1)).

The (2+1)D width ``midplanes`` is torchvision's
``(in * out * 3 * 3 * 3) // (in * 3 * 3 + 3 * out)`` with ``in`` the *block's* input
width, for both convolutions of a block ("torchvision", the default, what the published
weights need). The paper states the rule per convolution (N_{i-1} is that
convolution's input width), which differs in the second convolution of the first block of
stages 2-4 (e.g. 288 instead of 230 channels in layer2.0.conv2); it is not offered. The
S3D-style factorization of Xie et al. / Chen et al. ("Deep Analysis of CNN-based
Spatio-temporal Representations") keeps the width (``midplanes='equal'``: ``midplanes =
out``, and 64 instead of 45 in the stem).

**Chen et al.'s S3D-ResNet** (``s3d_resnet18``; the "Conv." aggregation of their CVPR
2021 Table 5, Sec. 6.3: a 1D temporal convolution after every spatial one), laid out as
their public code's ``s3d_resnet.py`` (IBM/action-recognition-pytorch): torchvision's
``BasicStem`` (3x7x7, stride (1, 2, 2)), then a 1x3x3 max pool of stride (1, 2, 2)
(``stem_pool``), and (2+1)D blocks of equal width whose temporal strides are set apart
from the spatial ones (``temporal_strides``; (1, 1, 1, 1) is their ``without_t_stride``,
Chen et al.'s models without temporal pooling). Their ``conv1`` / ``bn1`` / ``conv1_t``
/ ``bn1_t`` of a block are ``conv1_0_0`` / ``conv1_0_1`` / ``conv1_0_3`` / ``conv1_1``
here (torchvision's names); their classifier is N(0, 0.001^2) where torchvision's is
N(0, 0.01^2), and they apply dropout and ``fc`` per frame before averaging, which is
the same in evaluation.

Names (a numeric torch path component is a ``_N`` suffix, repeated for nested
``nn.Sequential``s): ``stem.0.weight`` -> ``stem_0/kernel``;
``layer1.0.conv1.0.weight`` (the 3D conv of ``conv1 = Sequential(conv, BN, ReLU)``) ->
``layer1_0/conv1_0/kernel``; ``layer1.0.conv1.1`` (its BN) -> ``layer1_0/conv1_1``; for
(2+1)D ``layer1.0.conv1.0.{0,1,3}`` (spatial conv, BN, temporal conv) ->
``layer1_0/conv1_0_{0,1,3}``; shortcut ``layer2.0.downsample.{0,1}`` ->
``layer2_0/downsample_{0,1}``; classifier ``fc``.

**Hara et al.** ("Learning Spatio-Temporal Features with 3D Residual Networks for Action
Recognition", ICCVW 2017; "Can Spatiotemporal 3D CNNs Retrace the History of 2D CNNs and
ImageNet?", CVPR 2018), layout of kenshohara/3D-ResNets-PyTorch ``models/resnet.py``:
``resnet3d_10/18/34/50``. ``conv1`` 7x7x7 stride (1, 2, 2) padding (3, 3, 3), ``bn1``,
ReLU, max pool 3x3x3 stride 2 padding 1, ``layer1``..``layer4`` of 3x3x3 blocks with
stride 2 in time and space (the torchvision ``'3d'`` block, named ``conv1``/``bn1``/
``conv2``/``bn2`` like the 2D ResNet), global average pool, ``fc``; input 16x112x112.
Shortcuts: type A (their published ResNet-18/34, the default for -10/18/34 here) is
parameter-free: ``F.avg_pool3d(x, kernel_size=1, stride)`` (a strided subsampling) and
zero channels appended; type B (ResNet-50, and the newer code's default for every depth,
e.g. its ``r3d18_K_200ep.pth``) is a 1x1x1 conv + BN ``downsample.{0,1}``.

Inputs are ``[N, T, H, W, C]``; features are global averages over time and space.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import flax.linen as nn
import jax
import jax.numpy as jnp

from tsn_jax.models.batch_norm import batch_norm
from tsn_jax.models.layers import (
    Conv,
    dense,
    dense_normal,
    kaiming_normal_fan_out,
    max_pool,
    residual_block_class,
    scaled_width,
)

__all__ = [
    "BasicBlock",
    "Bottleneck",
    "ResNet3D",
    "VideoResNet",
    "mc3_18",
    "r2plus1d_18",
    "r3d_18",
    "resnet3d_10",
    "resnet3d_18",
    "resnet3d_34",
    "resnet3d_50",
    "s3d_resnet18",
    "shortcut_a",
]

Dtype = Any
CONV_TYPES = ("3d", "2d", "2plus1d")
MIDPLANES = ("torchvision", "equal")
LAYOUTS = ("torchvision", "hara")
SHORTCUTS = ("A", "B")


def _check(value: str, choices: Sequence[str], what: str) -> None:
    if value not in choices:
        raise ValueError(f"unknown {what} {value!r}; known: {list(choices)}")


def _conv(features: int, kernel: Any, stride: Any, padding: Any, dtype: Dtype, name: str) -> Conv:
    """A bias-free 3D convolution with torchvision's init (kaiming normal, fan out)."""
    return Conv(
        features,
        kernel,
        strides=stride,
        padding=padding,
        kernel_init=kaiming_normal_fan_out,
        dtype=dtype,
        name=name,
    )


def _midplanes(kind: str, in_features: int, out_features: int) -> int:
    """Width between the spatial and the temporal convolution of a (2+1)D convolution."""
    _check(kind, MIDPLANES, "midplanes")
    if kind == "equal":
        return out_features
    # Keeps the parameter count of a 3x3x3 convolution in -> out (Tran et al.).
    return (in_features * out_features * 27) // (in_features * 9 + 3 * out_features)


def spatiotemporal_conv(
    x: jax.Array,
    conv_type: str,
    features: int,
    midplanes: int,
    stride: int,
    train: bool,
    dtype: Dtype,
    name: str,
    temporal_stride: int | None = None,
) -> jax.Array:
    """One of torchvision's conv builders, named like its torch module.

    Called inside a compact ``__call__``: its layers belong to the caller.

    Args:
      x: ``[N, T, H, W, C]``.
      conv_type: '3d' (3x3x3, stride s), '2d' (1x3x3, stride (1, s, s)) or '2plus1d'
        (1x3x3 to ``midplanes``, BN, ReLU, 3x1x1: layers ``{name}_0``, ``{name}_1``,
        ``{name}_3`` as the children of torchvision's ``nn.Sequential``).
      features: output channels.
      midplanes: (2+1)D only, channels between the two convolutions.
      stride: s.
      train: BN mode of the (2+1)D middle BN.
      dtype: computation dtype.
      name: the layer name (the '3d' and '2d' convolution) or prefix ('2plus1d').
      temporal_stride: the stride in time where it is not torchvision's
        (``_temporal_stride``).

    Returns:
      ``[N, T', H', W', features]``.
    """
    t = _temporal_stride(conv_type, stride, temporal_stride)
    if conv_type == "3d":
        return _conv(features, 3, (t, stride, stride), 1, dtype, name)(x)
    spatial = (1, 3, 3), (1, stride, stride), (0, 1, 1)
    if conv_type == "2d":
        return _conv(features, *spatial, dtype, name)(x)
    y = _conv(midplanes, *spatial, dtype, f"{name}_0")(x)
    y = nn.relu(batch_norm(train, dtype, f"{name}_1")(y))
    return _conv(features, (3, 1, 1), (t, 1, 1), (1, 0, 0), dtype, f"{name}_3")(y)


def _temporal_stride(conv_type: str, stride: int, temporal_stride: int | None) -> int:
    """A block's stride in time: torchvision's (``stride``; 1 for '2d', which has no
    temporal kernel) when ``temporal_stride`` is None, else ``temporal_stride``."""
    _check(conv_type, CONV_TYPES, "conv type")
    if temporal_stride is None:
        return 1 if conv_type == "2d" else stride
    if conv_type == "2d" and temporal_stride != 1:
        raise ValueError(f"a '2d' block has no temporal kernel to stride by {temporal_stride}")
    return temporal_stride


def shortcut_a(
    x: jax.Array, features: int, strides: Sequence[int], stop_gradient: bool = False
) -> jax.Array:
    """He et al.'s parameter-free type-A shortcut, as in Hara et al.'s code.

    ``F.avg_pool3d(x, kernel_size=1, stride=strides)`` keeps every stride-th position from
    the first (a 1-wide average is the value itself), then zero channels are appended.

    Args:
      x: ``[N, *spatial, C]``.
      features: output channels, at least C.
      strides: one per spatial axis.
      stop_gradient: no gradient through the shortcut. Hara et al.'s code concatenates
        ``out.data`` (detached); the paper's (He et al.'s) shortcut passes gradients, the
        default.

    Returns:
      ``[N, *ceil(spatial / strides), features]``.
    """
    y = x[(slice(None), *(slice(None, None, s) for s in strides))]
    if stop_gradient:
        y = jax.lax.stop_gradient(y)
    return jnp.pad(y, ((0, 0),) * (y.ndim - 1) + ((0, features - x.shape[-1]),))


class _Block(nn.Module):
    """Fields shared by the residual blocks.

    Attributes:
      planes: width of the block's convolutions; the output has
        ``planes * expansion`` channels.
      stride: stride of the block (on its spatio-temporal convolution).
      conv_type: the spatio-temporal convolution ('3d', '2d', '2plus1d'; see
        ``spatiotemporal_conv``).
      midplanes: (2+1)D width rule, 'torchvision' or 'equal' (module docstring).
      layout: parameter names, 'torchvision' (``conv1_0`` conv, ``conv1_1`` BN) or 'hara'
        (``conv1``, ``bn1``).
      shortcut: 'B' (1x1x1 conv + BN ``downsample_{0,1}`` where the shape changes) or 'A'
        (``shortcut_a``, no parameters).
      stop_gradient_shortcut: type A only, Hara et al.'s detached shortcut.
      temporal_stride: stride in time; None: torchvision's (``_temporal_stride``).
      dtype: computation dtype.
    """

    expansion: ClassVar[int] = 1

    planes: int
    stride: int = 1
    temporal_stride: int | None = None
    conv_type: str = "3d"
    midplanes: str = "torchvision"
    layout: str = "torchvision"
    shortcut: str = "B"
    stop_gradient_shortcut: bool = False
    dtype: Dtype = jnp.float32

    def _names(self, i: int) -> tuple[str, str]:
        """Names of the i-th convolution and its BN."""
        _check(self.layout, LAYOUTS, "layout")
        if self.layout == "torchvision":
            return f"conv{i}_0", f"conv{i}_1"
        return f"conv{i}", f"bn{i}"

    def _conv_bn(
        self,
        x: jax.Array,
        i: int,
        features: int,
        midplanes: int,
        stride: int,
        train: bool,
        temporal_stride: int | None = None,
    ) -> jax.Array:
        conv, bn = self._names(i)
        y = spatiotemporal_conv(
            x, self.conv_type, features, midplanes, stride, train, self.dtype, conv, temporal_stride
        )
        return batch_norm(train, self.dtype, bn)(y)

    def _pointwise_bn(self, x: jax.Array, i: int, features: int, train: bool) -> jax.Array:
        conv, bn = self._names(i)
        return batch_norm(train, self.dtype, bn)(_conv(features, 1, 1, 0, self.dtype, conv)(x))

    def _shortcut(self, x: jax.Array, train: bool) -> jax.Array:
        """Identity, or a type A/B shortcut when the shape changes."""
        _check(self.shortcut, SHORTCUTS, "shortcut type")
        features = self.planes * self.expansion
        s = self.stride
        strides = (_temporal_stride(self.conv_type, s, self.temporal_stride), s, s)
        if strides == (1, 1, 1) and x.shape[-1] == features:
            return x
        if self.shortcut == "A":
            return shortcut_a(x, features, strides, self.stop_gradient_shortcut)
        y = _conv(features, 1, strides, 0, self.dtype, "downsample_0")(x)
        return batch_norm(train, self.dtype, "downsample_1")(y)


class BasicBlock(_Block):
    """Two spatio-temporal convolutions with a shortcut; the -10/18/34 networks.

    Shapes: ``[N, T, H, W, C_in] -> [N, T', H', W', planes]`` (T' = ceil(T / t) with t the
    ``_temporal_stride``, H' = ceil(H / stride), W' likewise).
    """

    expansion: ClassVar[int] = 1

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        mid = _midplanes(self.midplanes, x.shape[-1], self.planes)
        y = nn.relu(self._conv_bn(x, 1, self.planes, mid, self.stride, train, self.temporal_stride))
        # torchvision gives the second (2+1)D convolution the first one's midplanes.
        y = self._conv_bn(y, 2, self.planes, mid, 1, train)
        return nn.relu(y + self._shortcut(x, train))


class Bottleneck(_Block):
    """1x1x1 reduce, strided spatio-temporal conv, 1x1x1 expand (x4), shortcut; -50.

    Shapes: ``[N, T, H, W, C_in] -> [N, T', H', W', 4 * planes]`` (as ``BasicBlock``).
    """

    expansion: ClassVar[int] = 4

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        # torchvision's midplanes use the block's input width, also here.
        mid = _midplanes(self.midplanes, x.shape[-1], self.planes)
        y = nn.relu(self._pointwise_bn(x, 1, self.planes, train))
        y = nn.relu(self._conv_bn(y, 2, self.planes, mid, self.stride, train, self.temporal_stride))
        y = self._pointwise_bn(y, 3, self.planes * self.expansion, train)
        return nn.relu(y + self._shortcut(x, train))


def _stages(
    x: jax.Array,
    train: bool,
    stage_sizes: Sequence[int],
    base_width: int,
    make_block: Callable[[int, int, int, int, str], nn.Module],
) -> jax.Array:
    """``layer1``..``layer4``: ``64 * 2**i`` planes (scaled), stride 2 from stage 2 on.

    ``make_block(stage, block, planes, stride, name)`` builds block ``block`` of stage
    ``stage``; it is called inside the model's compact ``__call__``.
    """
    for i, num_blocks in enumerate(stage_sizes):
        planes = scaled_width(64 * 2**i, base_width)
        for j in range(num_blocks):
            stride = 2 if i > 0 and j == 0 else 1
            x = make_block(i, j, planes, stride, f"layer{i + 1}_{j}")(x, train)
    return x


class VideoResNet(nn.Module):
    """torchvision's ``VideoResNet``: stem, four residual stages, global average pool, fc.

    Stems: 'basic' (``BasicStem``: 3x7x7 conv stride (1, 2, 2) padding (1, 3, 3) to 64,
    BN, ReLU; ``stem_0``, ``stem_1``) or 'r2plus1d' (``R2Plus1dStem``: 1x7x7 stride
    (1, 2, 2) to 45, BN, ReLU, 3x1x1 to 64, BN, ReLU; ``stem_0``, ``stem_1``, ``stem_3``,
    ``stem_4``). No max pooling (unless ``stem_pool``): the clip is downsampled by 2 in
    space by the stem and by 8 in time and space by stages 2-4 ('2d' stages keep time;
    ``temporal_strides`` sets the strides in time apart).

    Attributes:
      block_cls: ``BasicBlock`` or ``Bottleneck``.
      stage_sizes: blocks per stage.
      conv_types: one conv builder per stage ('3d', '2d', '2plus1d').
      stem: 'basic' or 'r2plus1d'.
      num_classes: size of ``fc`` (400, Kinetics); None returns pooled features.
      base_width: 64 for the published widths; every width scales by base_width / 64.
      midplanes: (2+1)D width, 'torchvision' (default; the weights) or 'equal'.
      stem_pool: a 1x3x3 max pool of stride (1, 2, 2) after the stem (Chen et al.'s
        S3D-ResNet; torchvision has none).
      temporal_strides: the stride in time of the first block of each stage; None gives
        torchvision's (that of the block, 2 from stage 2 on, 1 in '2d' stages).
      remat: recompute each residual block in the backward pass
        (``layers.residual_block_class``).
      dtype: computation dtype; parameters and batch statistics are float32.

    Shapes: ``[N, T, H, W, C]`` -> ``[N, num_classes]`` or ``[N, num_features]``.
    """

    is_3d: ClassVar[bool] = True

    block_cls: type[_Block]
    stage_sizes: Sequence[int]
    conv_types: Sequence[str]
    stem: str = "basic"
    num_classes: int | None = 400
    base_width: int = 64
    midplanes: str = "torchvision"
    stem_pool: bool = False
    temporal_strides: Sequence[int] | None = None
    remat: bool = False
    dtype: Dtype = jnp.float32

    @property
    def num_features(self) -> int:
        """Width F of the pooled features (512 for the -18 networks)."""
        return scaled_width(512, self.base_width) * self.block_cls.expansion

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        """Runs the network; ``train=False`` normalizes with the BN running averages."""
        x = jnp.asarray(x, self.dtype)
        width = scaled_width(64, self.base_width)
        if self.stem == "basic":
            x = _conv(width, (3, 7, 7), (1, 2, 2), (1, 3, 3), self.dtype, "stem_0")(x)
            x = nn.relu(batch_norm(train, self.dtype, "stem_1")(x))
        elif self.stem == "r2plus1d":
            _check(self.midplanes, MIDPLANES, "midplanes")
            mid = width if self.midplanes == "equal" else scaled_width(45, self.base_width)
            x = _conv(mid, (1, 7, 7), (1, 2, 2), (0, 3, 3), self.dtype, "stem_0")(x)
            x = nn.relu(batch_norm(train, self.dtype, "stem_1")(x))
            x = _conv(width, (3, 1, 1), 1, (1, 0, 0), self.dtype, "stem_3")(x)
            x = nn.relu(batch_norm(train, self.dtype, "stem_4")(x))
        else:
            raise ValueError(f"unknown stem {self.stem!r}; known: ['basic', 'r2plus1d']")
        if self.stem_pool:
            x = max_pool(x, (1, 3, 3), (1, 2, 2), (0, 1, 1))
        if self.temporal_strides is not None and len(self.temporal_strides) != len(
            self.stage_sizes
        ):
            raise ValueError(f"temporal_strides needs one stride per stage of {self.stage_sizes}")

        def make_block(stage: int, block: int, planes: int, stride: int, name: str) -> nn.Module:
            temporal_stride = None
            if self.temporal_strides is not None:
                temporal_stride = self.temporal_strides[stage] if block == 0 else 1
            return residual_block_class(self.block_cls, self.remat)(
                planes=planes,
                stride=stride,
                temporal_stride=temporal_stride,
                conv_type=self.conv_types[stage],
                midplanes=self.midplanes,
                dtype=self.dtype,
                name=name,
            )

        x = _stages(x, train, self.stage_sizes, self.base_width, make_block)
        # nn.AdaptiveAvgPool3d((1, 1, 1)) followed by flatten.
        x = jnp.mean(x, axis=(1, 2, 3))
        if self.num_classes is None:
            return x
        # torchvision initializes the video fc N(0, 0.01^2) with a zero bias.
        return dense_normal(self.num_classes, 0.01, self.dtype, "fc")(x)


class ResNet3D(nn.Module):
    """Hara et al.'s 3D ResNet (kenshohara/3D-ResNets-PyTorch ``models/resnet.py``).

    ``conv1`` (conv1_t_size x 7 x 7, stride (conv1_t_stride, 2, 2), padding
    (conv1_t_size // 2, 3, 3)), ``bn1``, ReLU, max pool 3x3x3 stride 2 padding 1 (unless
    ``no_max_pool``), ``layer1``..``layer4`` of 3x3x3 blocks, global average pool, ``fc``.
    The papers' clip is 16x112x112 (features 1x4x4 before pooling); the oldest code pooled
    with a fixed window of that size, the newer code adaptively, which is the same there.

    Attributes:
      block_cls: ``BasicBlock`` (-10/18/34) or ``Bottleneck`` (-50).
      stage_sizes: blocks per stage.
      num_classes: size of ``fc`` (400 in their code); None returns pooled features.
      base_width: 64 for the published widths (their ``widen_factor`` is base_width / 64).
      conv1_t_size: temporal kernel of ``conv1``, 7 as in the papers.
      conv1_t_stride: temporal stride of ``conv1``, 1 as in the papers.
      no_max_pool: drop the max pooling after ``conv1`` (their option).
      shortcut_type: 'A' (zero-padded identity, papers' ResNet-18/34) or 'B' (projection).
      stop_gradient_shortcut: detach the type-A shortcut as their code does (``out.data``);
        off by default, as in He et al.'s shortcut.
      remat: recompute each residual block in the backward pass
        (``layers.residual_block_class``).
      dtype: computation dtype; parameters and batch statistics are float32.

    Shapes: ``[N, T, H, W, C]`` -> ``[N, num_classes]`` or ``[N, num_features]``.
    """

    is_3d: ClassVar[bool] = True

    block_cls: type[_Block]
    stage_sizes: Sequence[int]
    num_classes: int | None = 400
    base_width: int = 64
    conv1_t_size: int = 7
    conv1_t_stride: int = 1
    no_max_pool: bool = False
    shortcut_type: str = "A"
    stop_gradient_shortcut: bool = False
    remat: bool = False
    dtype: Dtype = jnp.float32

    @property
    def num_features(self) -> int:
        """Width F of the pooled features (512 for -10/18/34, 2048 for -50)."""
        return scaled_width(512, self.base_width) * self.block_cls.expansion

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        """Runs the network; ``train=False`` normalizes with the BN running averages."""
        x = jnp.asarray(x, self.dtype)
        t = self.conv1_t_size
        x = _conv(
            scaled_width(64, self.base_width),
            (t, 7, 7),
            (self.conv1_t_stride, 2, 2),
            (t // 2, 3, 3),
            self.dtype,
            "conv1",
        )(x)
        x = nn.relu(batch_norm(train, self.dtype, "bn1")(x))
        if not self.no_max_pool:
            x = max_pool(x, 3, 2, 1)

        def make_block(stage: int, block: int, planes: int, stride: int, name: str) -> nn.Module:
            return residual_block_class(self.block_cls, self.remat)(
                planes=planes,
                stride=stride,
                layout="hara",
                shortcut=self.shortcut_type,
                stop_gradient_shortcut=self.stop_gradient_shortcut,
                dtype=self.dtype,
                name=name,
            )

        x = _stages(x, train, self.stage_sizes, self.base_width, make_block)
        x = jnp.mean(x, axis=(1, 2, 3))
        if self.num_classes is None:
            return x
        # Their fc keeps PyTorch's default nn.Linear init.
        return dense(self.num_classes, x.shape[-1], self.dtype, "fc")(x)


def r3d_18(**kwargs: Any) -> VideoResNet:
    """R3D-18 (torchvision ``r3d_18``): 3x3x3 blocks [2, 2, 2, 2], ``BasicStem``."""
    return VideoResNet(
        block_cls=BasicBlock, stage_sizes=(2, 2, 2, 2), conv_types=("3d",) * 4, **kwargs
    )


def mc3_18(**kwargs: Any) -> VideoResNet:
    """MC3-18 (torchvision ``mc3_18``): 3x3x3 blocks in layer1, 1x3x3 in layers 2-4."""
    return VideoResNet(
        block_cls=BasicBlock,
        stage_sizes=(2, 2, 2, 2),
        conv_types=("3d", "2d", "2d", "2d"),
        **kwargs,
    )


def r2plus1d_18(**kwargs: Any) -> VideoResNet:
    """R(2+1)D-18 (torchvision ``r2plus1d_18``): (2+1)D blocks, ``R2Plus1dStem``.

    ``midplanes='equal'`` gives the S3D-style factorization without width expansion.
    """
    return VideoResNet(
        block_cls=BasicBlock,
        stage_sizes=(2, 2, 2, 2),
        conv_types=("2plus1d",) * 4,
        stem="r2plus1d",
        **kwargs,
    )


def s3d_resnet18(**kwargs: Any) -> VideoResNet:
    """Chen et al.'s S3D-ResNet-18 (their code's ``s3d_resnet.py``; "Conv." in CVPR 2021
    Table 5): ``BasicStem``, a 1x3x3 max pool, (2+1)D blocks of equal width with temporal
    stride 2 in the first block of layers 2-4 (their default); ``temporal_strides=(1, 1,
    1, 1)`` keeps every frame (their ``without_t_stride``, the model of Table 5)."""
    kwargs.setdefault("midplanes", "equal")
    kwargs.setdefault("stem_pool", True)
    kwargs.setdefault("temporal_strides", (1, 2, 2, 2))
    return VideoResNet(
        block_cls=BasicBlock,
        stage_sizes=(2, 2, 2, 2),
        conv_types=("2plus1d",) * 4,
        stem="basic",
        **kwargs,
    )


def resnet3d_10(**kwargs: Any) -> ResNet3D:
    """Hara et al.'s 3D ResNet-10: ``BasicBlock`` x [1, 1, 1, 1], shortcut A."""
    return ResNet3D(block_cls=BasicBlock, stage_sizes=(1, 1, 1, 1), **kwargs)


def resnet3d_18(**kwargs: Any) -> ResNet3D:
    """Hara et al.'s 3D ResNet-18: ``BasicBlock`` x [2, 2, 2, 2], shortcut A."""
    return ResNet3D(block_cls=BasicBlock, stage_sizes=(2, 2, 2, 2), **kwargs)


def resnet3d_34(**kwargs: Any) -> ResNet3D:
    """Hara et al.'s 3D ResNet-34: ``BasicBlock`` x [3, 4, 6, 3], shortcut A."""
    return ResNet3D(block_cls=BasicBlock, stage_sizes=(3, 4, 6, 3), **kwargs)


def resnet3d_50(**kwargs: Any) -> ResNet3D:
    """Hara et al.'s 3D ResNet-50: ``Bottleneck`` x [3, 4, 6, 3], shortcut B (theirs)."""
    kwargs.setdefault("shortcut_type", "B")
    return ResNet3D(block_cls=Bottleneck, stage_sizes=(3, 4, 6, 3), **kwargs)
