"""2D ResNet family (He et al., "Deep Residual Learning for Image Recognition", CVPR 2016).

The layout follows torchvision's ``torchvision.models.resnet`` ("ResNet v1.5": the stride
of a bottleneck sits on its 3x3 convolution, not on the first 1x1), so that converting a
torchvision ``state_dict`` is a mechanical renaming plus a transpose:

* a numeric path component joins its parent with ``'_'``: ``layer1.0.conv1.weight`` is
  ``params/layer1_0/conv1/kernel`` and ``layer2.0.downsample.1.running_mean`` is
  ``batch_stats/layer2_0/downsample_1/mean``;
* convolution weights are transposed OIHW -> HWIO, the ``fc`` weight [out, in] -> [in, out];
* BatchNorm ``weight``/``bias`` are ``scale``/``bias`` in ``params`` and
  ``running_mean``/``running_var`` are ``mean``/``var`` in ``batch_stats``
  (``num_batches_tracked`` has no counterpart).

Every convolution and pooling uses explicit padding identical to PyTorch's, never
``'SAME'``: XLA's ``'SAME'`` pads asymmetrically for strided convolutions on even inputs
(more on the bottom/right), which silently shifts every feature map of a converted model.

Inputs are NHWC ``[N, H, W, C_in]`` with any ``C_in``: a TSN 2D backbone folds the T frames
of a snippet into channels (``C_in = T * C``, e.g. 10 for 5 stacked flow x/y pairs).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import flax.linen as nn
import jax
import jax.numpy as jnp

from tsn_jax.models.batch_norm import batch_norm
from tsn_jax.models.layers import (
    Conv,
    dense,
    kaiming_normal_fan_out,
    max_pool,
    residual_block_class,
)
from tsn_jax.models.temporal import (
    NonLocal,
    TemporalMixing,
    blocks_with_module,
    temporal_max_pool,
)

__all__ = [
    "BasicBlock",
    "Bottleneck",
    "ResNet",
    "resnet18",
    "resnet34",
    "resnet50",
    "resnet101",
    "resnet152",
]

Dtype = Any


def _conv(features: int, kernel: int, stride: int, dtype: Dtype, name: str) -> Conv:
    """A bias-free square convolution padded like PyTorch's ``padding=kernel // 2``."""
    return Conv(
        features,
        kernel,
        strides=stride,
        padding=kernel // 2,
        kernel_init=kaiming_normal_fan_out,
        dtype=dtype,
        name=name,
    )


def _shortcut(x: jax.Array, out_features: int, stride: int, train: bool, dtype: Dtype) -> jax.Array:
    """Identity, or torchvision's ``downsample`` (1x1 conv + BN) when the shape changes.

    Called inside a block's compact ``__call__``, so its layers belong to the block.
    """
    if stride == 1 and x.shape[-1] == out_features:
        return x
    y = _conv(out_features, 1, stride, dtype, "downsample_0")(x)
    return batch_norm(train, dtype, "downsample_1")(y)


class _Block(nn.Module):
    """Fields shared by the residual blocks.

    Attributes:
      planes: width of the block's convolutions; the output has
        ``planes * expansion`` channels.
      stride: spatial stride of the block (on its 3x3 convolution).
      zero_init_residual: start the last BatchNorm scale at zero, so the block
        begins as the identity (Goyal et al. 2017).
      temporal: a temporal module (TSM or TAM) on the residual branch's input, or None.
      dtype: computation dtype.
    """

    expansion: ClassVar[int] = 1

    planes: int
    stride: int = 1
    zero_init_residual: bool = False
    temporal: TemporalMixing | None = None
    dtype: Dtype = jnp.float32

    def _inputs(self, x: jax.Array) -> tuple[jax.Array, jax.Array]:
        """(identity, residual-branch) inputs, after the temporal module if any."""
        return (x, x) if self.temporal is None else self.temporal.inputs(x, self.dtype)


class BasicBlock(_Block):
    """Two 3x3 convolutions with an identity (or 1x1 projection) shortcut; ResNet-18/34.

    Shapes: ``[N, H, W, C_in] -> [N, ceil(H / stride), ceil(W / stride), planes]``.
    """

    expansion: ClassVar[int] = 1

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        out_features = self.planes * self.expansion
        x, y = self._inputs(x)

        y = _conv(self.planes, 3, self.stride, self.dtype, "conv1")(y)
        y = batch_norm(train, self.dtype, "bn1")(y)
        y = nn.relu(y)
        y = _conv(self.planes, 3, 1, self.dtype, "conv2")(y)
        # zero_init_residual makes every block start as the identity (Goyal et al. 2017).
        y = batch_norm(train, self.dtype, "bn2", zero_scale=self.zero_init_residual)(y)

        return nn.relu(y + _shortcut(x, out_features, self.stride, train, self.dtype))


class Bottleneck(_Block):
    """1x1 reduce, 3x3 (strided), 1x1 expand (x4) with a shortcut; ResNet-50/101/152.

    The stride is on the 3x3 convolution (torchvision's "ResNet v1.5"), not on the first
    1x1 as in the original paper and the Caffe models.

    Shapes: ``[N, H, W, C_in] -> [N, ceil(H / stride), ceil(W / stride), 4 * planes]``.
    """

    expansion: ClassVar[int] = 4

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        out_features = self.planes * self.expansion
        x, y = self._inputs(x)

        y = _conv(self.planes, 1, 1, self.dtype, "conv1")(y)
        y = batch_norm(train, self.dtype, "bn1")(y)
        y = nn.relu(y)
        y = _conv(self.planes, 3, self.stride, self.dtype, "conv2")(y)
        y = batch_norm(train, self.dtype, "bn2")(y)
        y = nn.relu(y)
        y = _conv(out_features, 1, 1, self.dtype, "conv3")(y)
        y = batch_norm(train, self.dtype, "bn3", zero_scale=self.zero_init_residual)(y)

        return nn.relu(y + _shortcut(x, out_features, self.stride, train, self.dtype))


class ResNet(nn.Module):
    """A ResNet: stem, four stages of residual blocks, global average pool, optional fc.

    Layout (torchvision): ``conv1`` 7x7/2 pad 3 (no bias), ``bn1``, ReLU, max pool 3x3/2
    pad 1, ``layer1`` .. ``layer4`` with ``base_width * (1, 2, 4, 8)`` planes and stride
    (1, 2, 2, 2), average pool over space, ``fc``.

    Attributes:
      block_cls: ``BasicBlock`` or ``Bottleneck``.
      stage_sizes: number of blocks in each of the four stages.
      num_classes: size of ``fc``; ``None`` drops ``fc`` and returns the pooled features
        ``[N, num_features]`` (the form a TSN wrapper uses).
      base_width: channels of ``conv1`` and planes of ``layer1`` (64 in the paper; tests use
        a tiny 8).
      zero_init_residual: initialize the last BN scale of every block to zero.
      num_segments: K, segments per video, for the modules below that mix them; the
        input is then ``[N * K, H, W, C_in]`` with the K snippets of a video consecutive
        (as ``TSN`` folds them) and the output ``[N * K', ...]``, K' after temporal pooling.
      temporal_module: None (plain TSN), 'tsm' (Lin et al.) or 'tam' (Fan et al. / Chen
        et al.), on the residual branch of the blocks chosen by ``temporal_placement``.
      temporal_placement: 'all', 'bottom_half', 'top_half' or 'every_other' block (Chen
        et al.'s study), or 'tsm_authors' (every other block of each stage for
        ResNet-101/152, as the TSM code and mmaction2's ``ResNetTSM``; all otherwise);
        ``temporal.blocks_with_module``.
      shift_fraction: TSM, share of channels shifted each way (1/8 in the paper).
      shift_inplace: TSM, shift the whole block input instead of the residual branch.
      non_local: per stage, one 0/1 flag per block: a non-local block after each flagged
        residual block (module ``layer{i}_{j}_non_local``); e.g. Wang et al.'s 5 blocks
        ``((0, 0, 0), (0, 1, 0, 1), (0, 1, 0, 1, 0, 1), (0, 0, 0))``. Empty: none. As
        mmaction2's ``ResNetTSM(non_local=...)`` (``NL3DWrapper``), except after temporal
        pooling: ours attends over the K' pooled segments of each video, mmaction2's
        wrapper keeps K and so groups the rows of two videos (or fails on one).
      non_local_subsample: max-pool the phi and g projections of the non-local blocks
        2x2 in space (mmcv's ``sub_sample=True``).
      non_local_use_scale: divide the non-local affinities by sqrt(inner width) (mmcv's
        ``use_scale``; False in mmaction2's non-local TSM configs).
      temporal_pool: stages (1..4) after which segments are max-pooled by 2 in time
        (kernel 3, stride 2): ``(1,)`` as in TSM (mmaction2's ``temporal_pool=True``),
        ``(1, 2, 3)`` as in Chen et al.
      remat: recompute each residual block in the backward pass
        (``layers.residual_block_class``).
      dtype: computation dtype; parameters and batch statistics are always float32.

    Shapes: ``[N, H, W, C_in]`` -> ``[N, num_classes]`` (or ``[N, num_features]``).
    """

    is_3d: ClassVar[bool] = False

    block_cls: type[nn.Module]
    stage_sizes: Sequence[int]
    num_classes: int | None = 1000
    base_width: int = 64
    zero_init_residual: bool = False
    num_segments: int = 1
    temporal_module: str | None = None
    temporal_placement: str = "all"
    shift_fraction: float = 0.125
    shift_inplace: bool = False
    non_local: Sequence[Sequence[int]] = ()
    non_local_subsample: bool = False
    non_local_use_scale: bool = False
    temporal_pool: Sequence[int] = ()
    remat: bool = False
    dtype: Dtype = jnp.float32

    @property
    def mixes_segments(self) -> bool:
        """Whether the K snippets of a video interact (then K must be ``num_segments``)."""
        return bool(self.temporal_module or any(map(any, self.non_local)) or self.temporal_pool)

    @property
    def num_features(self) -> int:
        """Width F of the pooled features: ``8 * base_width * expansion`` (512 / 2048)."""
        return 8 * self.base_width * self.block_cls.expansion

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        """Runs the network; ``train=False`` normalizes with the BN running averages."""
        x = jnp.asarray(x, self.dtype)
        x = _conv(self.base_width, 7, 2, self.dtype, "conv1")(x)
        x = batch_norm(train, self.dtype, "bn1")(x)
        x = nn.relu(x)
        x = max_pool(x, 3, 2, padding=1)

        with_module = blocks_with_module(self.stage_sizes, self.temporal_placement)
        non_local = self.non_local or [[0] * n for n in self.stage_sizes]
        if [len(flags) for flags in non_local] != list(self.stage_sizes):
            raise ValueError(f"non_local needs one flag per block of {self.stage_sizes}")
        segments = self.num_segments
        block_cls = residual_block_class(self.block_cls, self.remat)
        for i, num_blocks in enumerate(self.stage_sizes):
            planes = self.base_width * 2**i
            for j in range(num_blocks):
                temporal = None
                if self.temporal_module and with_module[i][j]:
                    temporal = TemporalMixing(
                        self.temporal_module, segments, self.shift_fraction, self.shift_inplace
                    )
                x = block_cls(
                    planes=planes,
                    stride=2 if i > 0 and j == 0 else 1,
                    zero_init_residual=self.zero_init_residual,
                    temporal=temporal,
                    dtype=self.dtype,
                    # torchvision's "layer1.0" becomes "layer1_0".
                    name=f"layer{i + 1}_{j}",
                )(x, train)
                if non_local[i][j]:
                    x = NonLocal(
                        segments,
                        subsample=self.non_local_subsample,
                        use_scale=self.non_local_use_scale,
                        dtype=self.dtype,
                        name=f"layer{i + 1}_{j}_non_local",
                    )(x, train)
            if i + 1 in self.temporal_pool:
                x = temporal_max_pool(x, segments)
                segments = (segments - 1) // 2 + 1

        # nn.AdaptiveAvgPool2d((1, 1)) followed by flatten.
        x = jnp.mean(x, axis=(1, 2))
        if self.num_classes is None:
            return x
        return dense(self.num_classes, x.shape[-1], self.dtype, "fc")(x)


def resnet18(**kwargs: Any) -> ResNet:
    """ResNet-18: ``BasicBlock`` x [2, 2, 2, 2], 512 features."""
    return ResNet(block_cls=BasicBlock, stage_sizes=(2, 2, 2, 2), **kwargs)


def resnet34(**kwargs: Any) -> ResNet:
    """ResNet-34: ``BasicBlock`` x [3, 4, 6, 3], 512 features."""
    return ResNet(block_cls=BasicBlock, stage_sizes=(3, 4, 6, 3), **kwargs)


def resnet50(**kwargs: Any) -> ResNet:
    """ResNet-50: ``Bottleneck`` x [3, 4, 6, 3], 2048 features."""
    return ResNet(block_cls=Bottleneck, stage_sizes=(3, 4, 6, 3), **kwargs)


def resnet101(**kwargs: Any) -> ResNet:
    """ResNet-101: ``Bottleneck`` x [3, 4, 23, 3], 2048 features."""
    return ResNet(block_cls=Bottleneck, stage_sizes=(3, 4, 23, 3), **kwargs)


def resnet152(**kwargs: Any) -> ResNet:
    """ResNet-152: ``Bottleneck`` x [3, 8, 36, 3], 2048 features."""
    return ResNet(block_cls=Bottleneck, stage_sizes=(3, 8, 36, 3), **kwargs)
