"""I3D-ResNet: a ResNet inflated to 3D, as mmaction2's ``ResNet3d`` I3D-R50.

The I3D-R50 of mmaction2's ``i3d_r50`` recipe (``ResNet3d`` with ``I3DHead``, ported from
mmaction's ``resnet_i3d``), built by inflating an ImageNet ResNet (Carreira & Zisserman
2017):

* ``conv1``: 5x7x7 convolution, stride (2, 2, 2), padding (2, 3, 3); BN; ReLU;
* max pool 1x3x3, stride (2, 2, 2), padding (0, 1, 1);
* ``layer1`` .. ``layer4``: bottlenecks as torchvision's ResNet ("pytorch" style, the
  spatial stride on the 3x3 convolution), where a block flagged in ``inflate`` turns its
  first 1x1 into 3x1x1 (padding (1, 0, 0)) and keeps a 1x3x3 second convolution (the
  '3x1x1' style), or keeps a 1x1x1 first and turns the second into 3x3x3 (the '3x3x3'
  style); unflagged blocks are 1x1x1 / 1x3x3 (2D in effect). mmaction2's I3D-R50 inflates
  ``((1, 1, 1), (1, 0, 1, 0), (1, 0, 1, 0, 1, 0), (0, 1, 0))``;
* ``pool2``: a temporal max pool 2x1x1 (stride 2) after ``layer1`` ("temporal pooling";
  ``with_pool2=False`` turns it off);
* global average pool, then (with ``num_classes``) dropout 0.5 and ``fc`` (mmaction2's
  ``I3DHead``).

A 32-frame clip thus leaves ``pool2`` with 4 frames. Chen et al. ("Deep Analysis of
CNN-based Spatio-temporal Representations for Action Recognition", CVPR 2021) use instead a
3x7x7 ``conv1`` of temporal stride 1, no temporal stride in the stem, every block inflated
3x3x3 and a temporal stride of 2 in the first block of layers 2-4 when "temporal pooling"
is on: ``conv1_kernel=(3, 7, 7), conv1_stride_t=1, pool1_stride_t=1, with_pool2=False,
inflate=all ones, inflate_style='3x3x3', temporal_strides=(1, 2, 2, 2)`` (their checkpoints
name layers as torchvision, not as here). ``i3d_resnet18`` is that layout on ResNet-18's
basic blocks (``BasicBlock3d``: two 3x3x3 convolutions, as the ``i3d_resnet.py`` of Chen et
al.'s public code, IBM/action-recognition-pytorch); ``temporal_strides=(1, 1, 1, 1)`` is
their I3D-ResNet18 without temporal pooling (``without_t_stride``).

Parameter names are mmaction2's (``ConvModule`` = conv + BN (+ ReLU) under ``conv`` /
``bn``): ``conv1/conv/kernel``, ``conv1/bn/scale``, ``layer1_0/conv2/conv/kernel``,
``layer1_0/downsample/conv/kernel``, ``layer1_0/downsample/bn/mean`` ..., i.e. torch keys
``conv1.conv.weight``, ``layer1.0.downsample.bn.running_mean``; ``fc`` is mmaction2's
``cls_head.fc_cls`` (see ``convert_torch``). ``pretrained.init_backbone`` fills these from a
torchvision-named 2D ResNet.

Inputs are ``[N, T, H, W, C]``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import flax.linen as nn
import jax
import jax.numpy as jnp

from tsn_jax.models.layers import ConvModule, dense_normal, max_pool, residual_block_class

__all__ = [
    "INFLATE_STYLES",
    "BasicBlock3d",
    "Bottleneck3d",
    "I3DResNet",
    "i3d_resnet18",
    "i3d_resnet50",
    "i3d_resnet101",
]

Dtype = Any
Triple = tuple[int, int, int]
INFLATE_STYLES = ("3x1x1", "3x3x3")


def _block_kernels(inflate: bool, style: str) -> tuple[Triple, Triple, Triple, Triple]:
    """(conv1 kernel, conv1 padding, conv2 kernel, conv2 padding) of a bottleneck."""
    if style not in INFLATE_STYLES:
        raise ValueError(f"unknown inflate_style {style!r}; known: {INFLATE_STYLES}")
    if inflate and style == "3x1x1":
        return (3, 1, 1), (1, 0, 0), (1, 3, 3), (0, 1, 1)
    if inflate:
        return (1, 1, 1), (0, 0, 0), (3, 3, 3), (1, 1, 1)
    return (1, 1, 1), (0, 0, 0), (1, 3, 3), (0, 1, 1)


class _Block3d(nn.Module):
    """The attributes both inflated residual blocks take, and the shortcut they end with."""

    planes: int
    spatial_stride: int = 1
    temporal_stride: int = 1
    inflate: bool = True
    inflate_style: str = "3x1x1"
    zero_init_residual: bool = False
    dtype: Dtype = jnp.float32

    def _add_shortcut(self, x: jax.Array, y: jax.Array, train: bool) -> jax.Array:
        """``relu(y + x)``, ``x`` through ``downsample`` (a strided 1x1x1 ConvModule
        without ReLU) where the block changes its shape."""
        strides = (self.temporal_stride, self.spatial_stride, self.spatial_stride)
        if strides != (1, 1, 1) or x.shape[-1] != y.shape[-1]:
            x = ConvModule(
                y.shape[-1], strides=strides, relu=False, dtype=self.dtype, name="downsample"
            )(x, train)
        return nn.relu(y + x)


class Bottleneck3d(_Block3d):
    """mmaction2's ``Bottleneck3d`` ("pytorch" style: the strides on ``conv2``).

    Attributes:
      planes: width of ``conv1`` / ``conv2``; the output has ``4 * planes`` channels.
      spatial_stride: stride of ``conv2`` (and the downsample) in H and W.
      temporal_stride: stride of ``conv2`` (and the downsample) in T.
      inflate: use a temporal kernel of 3 (where depends on ``inflate_style``).
      inflate_style: '3x1x1' (3x1x1 ``conv1``, 1x3x3 ``conv2``) or '3x3x3' (1x1x1
        ``conv1``, 3x3x3 ``conv2``).
      zero_init_residual: start ``conv3``'s BN scale at zero.
      dtype: computation dtype.

    Shapes: ``[N, T, H, W, C] -> [N, ceil(T / ts), ceil(H / ss), ceil(W / ss), 4 * planes]``.
    """

    expansion: ClassVar[int] = 4

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        k1, p1, k2, p2 = _block_kernels(self.inflate, self.inflate_style)
        strides = (self.temporal_stride, self.spatial_stride, self.spatial_stride)
        out_features = self.planes * self.expansion

        y = ConvModule(self.planes, k1, padding=p1, dtype=self.dtype, name="conv1")(x, train)
        y = ConvModule(self.planes, k2, strides, p2, dtype=self.dtype, name="conv2")(y, train)
        y = ConvModule(
            out_features,
            relu=False,
            zero_scale=self.zero_init_residual,
            dtype=self.dtype,
            name="conv3",
        )(y, train)
        return self._add_shortcut(x, y, train)


class BasicBlock3d(_Block3d):
    """ResNet-18's basic block inflated as in Chen et al.'s I3D-ResNet (their public
    ``i3d_resnet.py``): ``conv1`` and ``conv2`` 3x3x3 (1x3x3 when not inflated), the
    strides on ``conv1``.

    Attributes:
      planes: width of both convolutions and of the output.
      spatial_stride, temporal_stride: strides of ``conv1`` (and the downsample).
      inflate: temporal kernels of 3 (else 1x3x3: a 2D block in effect).
      inflate_style: only '3x3x3' (both convolutions inflated); '3x1x1' is a bottleneck
        layout and an error here.
      zero_init_residual: start ``conv2``'s BN scale at zero.
      dtype: computation dtype.

    Shapes: ``[N, T, H, W, C] -> [N, ceil(T / ts), ceil(H / ss), ceil(W / ss), planes]``.
    """

    expansion: ClassVar[int] = 1

    inflate_style: str = "3x3x3"

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        if self.inflate_style != "3x3x3":
            raise ValueError(
                f"a basic block inflates its two convolutions 3x3x3; inflate_style "
                f"{self.inflate_style!r} is for bottlenecks"
            )
        kernel, padding = ((3, 3, 3), (1, 1, 1)) if self.inflate else ((1, 3, 3), (0, 1, 1))
        strides = (self.temporal_stride, self.spatial_stride, self.spatial_stride)
        y = ConvModule(self.planes, kernel, strides, padding, dtype=self.dtype, name="conv1")(
            x, train
        )
        y = ConvModule(
            self.planes,
            kernel,
            padding=padding,
            relu=False,
            zero_scale=self.zero_init_residual,
            dtype=self.dtype,
            name="conv2",
        )(y, train)
        return self._add_shortcut(x, y, train)


class I3DResNet(nn.Module):
    """An inflated ResNet (mmaction2's ``ResNet3d`` with a ``I3DHead``).

    Attributes:
      stage_sizes: blocks per stage, e.g. (3, 4, 6, 3) for ResNet-50.
      block_cls: ``Bottleneck3d`` (ResNet-50 and deeper) or ``BasicBlock3d``.
      inflate: per stage, one 0/1 flag per block: inflate that block.
      num_classes: size of ``fc``; ``None`` drops dropout and ``fc`` and returns the
        pooled features ``[N, num_features]``.
      base_width: channels of ``conv1`` and planes of ``layer1`` (64 published; layer i
        has ``base_width * 2**i`` planes).
      conv1_kernel: (t, h, w) kernel of ``conv1``, padded by ``(k - 1) // 2``.
      conv1_stride_t: temporal stride of ``conv1`` (spatial stride 2).
      pool1_stride_t: temporal stride of the 1x3x3 max pool (spatial stride 2).
      with_pool2: the 2x1x1 temporal max pool after ``layer1``.
      inflate_style: '3x1x1' (mmaction2's default and its I3D-R50) or '3x3x3'.
      temporal_strides: temporal stride of the first block of each stage.
      zero_init_residual: start the last BN scale of every block at zero (mmaction2's
        I3D-R50 recipe: off).
      dropout_rate: dropout before ``fc`` in training (``I3DHead``'s 0.5).
      remat: recompute each residual block in the backward pass
        (``layers.residual_block_class``).
      dtype: computation dtype; parameters and batch statistics stay float32.

    Shapes: ``[N, T, H, W, C] -> [N, num_classes]`` (or ``[N, num_features]``).
    """

    is_3d: ClassVar[bool] = True

    stage_sizes: Sequence[int]
    inflate: Sequence[Sequence[int]]
    block_cls: type[nn.Module] = Bottleneck3d
    num_classes: int | None = 400
    base_width: int = 64
    conv1_kernel: Triple = (5, 7, 7)
    conv1_stride_t: int = 2
    pool1_stride_t: int = 2
    with_pool2: bool = True
    inflate_style: str = "3x1x1"
    temporal_strides: Sequence[int] = (1, 1, 1, 1)
    zero_init_residual: bool = False
    dropout_rate: float = 0.5
    remat: bool = False
    dtype: Dtype = jnp.float32

    @property
    def num_features(self) -> int:
        """Width F of the pooled features: ``8 * base_width * expansion`` (2048 / 512)."""
        return 8 * self.base_width * self.block_cls.expansion

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        """Runs the network; ``train`` uses batch statistics and dropout ('dropout' rng)."""
        if [len(flags) for flags in self.inflate] != list(self.stage_sizes):
            raise ValueError(
                f"inflate {self.inflate} needs one flag per block of {self.stage_sizes}"
            )
        if len(self.temporal_strides) != len(self.stage_sizes):
            raise ValueError(f"temporal_strides needs one stride per stage of {self.stage_sizes}")
        x = jnp.asarray(x, self.dtype)
        x = ConvModule(
            self.base_width,
            self.conv1_kernel,
            (self.conv1_stride_t, 2, 2),
            tuple((k - 1) // 2 for k in self.conv1_kernel),
            dtype=self.dtype,
            name="conv1",
        )(x, train)
        x = max_pool(x, (1, 3, 3), (self.pool1_stride_t, 2, 2), (0, 1, 1))

        block_cls = residual_block_class(self.block_cls, self.remat)
        for i, num_blocks in enumerate(self.stage_sizes):
            for j in range(num_blocks):
                x = block_cls(
                    planes=self.base_width * 2**i,
                    spatial_stride=2 if i > 0 and j == 0 else 1,
                    temporal_stride=self.temporal_strides[i] if j == 0 else 1,
                    inflate=bool(self.inflate[i][j]),
                    inflate_style=self.inflate_style,
                    zero_init_residual=self.zero_init_residual,
                    dtype=self.dtype,
                    name=f"layer{i + 1}_{j}",
                )(x, train)
            if i == 0 and self.with_pool2:
                x = max_pool(x, (2, 1, 1), (2, 1, 1))

        x = jnp.mean(x, axis=(1, 2, 3))
        if self.num_classes is None:
            return x
        x = nn.Dropout(rate=self.dropout_rate, deterministic=not train)(x)
        # I3DHead's fc_cls: N(0, 0.01^2), zero bias.
        return dense_normal(self.num_classes, 0.01, self.dtype, "fc")(x)


def _alternating(stage_sizes: Sequence[int]) -> tuple[tuple[int, ...], ...]:
    """mmaction2's I3D-R50 inflation pattern, extended to any depth.

    Every block of the first stage, every other block of the next two starting with the
    first, every other block of the last starting with the second:
    ``((1, 1, 1), (1, 0, 1, 0), (1, 0, 1, 0, 1, 0), (0, 1, 0))`` for ResNet-50.
    """
    first, second, third, last = stage_sizes
    return (
        (1,) * first,
        tuple(1 - j % 2 for j in range(second)),
        tuple(1 - j % 2 for j in range(third)),
        tuple(j % 2 for j in range(last)),
    )


def i3d_resnet18(**kwargs: Any) -> I3DResNet:
    """I3D-ResNet-18 as Chen et al.'s public code builds it, 512 features.

    3x7x7 ``conv1`` and a 1x3x3 max pool without temporal stride, every basic block
    inflated 3x3x3, no ``pool2``, and temporal stride 2 in the first block of layers
    2-4 (their default, "-tp"); ``temporal_strides=(1, 1, 1, 1)`` keeps every frame
    (their ``without_t_stride``, the I3D-ResNet18 of Chen et al., CVPR 2021, Sec. 6).
    """
    stage_sizes = (2, 2, 2, 2)
    kwargs.setdefault("inflate", tuple((1,) * n for n in stage_sizes))
    kwargs.setdefault("conv1_kernel", (3, 7, 7))
    kwargs.setdefault("conv1_stride_t", 1)
    kwargs.setdefault("pool1_stride_t", 1)
    kwargs.setdefault("with_pool2", False)
    kwargs.setdefault("inflate_style", "3x3x3")
    kwargs.setdefault("temporal_strides", (1, 2, 2, 2))
    return I3DResNet(stage_sizes=stage_sizes, block_cls=BasicBlock3d, **kwargs)


def i3d_resnet50(**kwargs: Any) -> I3DResNet:
    """I3D-ResNet-50 (mmaction2's ``i3d_r50``), 2048 features."""
    stage_sizes = (3, 4, 6, 3)
    kwargs.setdefault("inflate", _alternating(stage_sizes))
    return I3DResNet(stage_sizes=stage_sizes, **kwargs)


def i3d_resnet101(**kwargs: Any) -> I3DResNet:
    """I3D-ResNet-101, 2048 features; the ResNet-50 inflation pattern on [3, 4, 23, 3]."""
    stage_sizes = (3, 4, 23, 3)
    kwargs.setdefault("inflate", _alternating(stage_sizes))
    return I3DResNet(stage_sizes=stage_sizes, **kwargs)
