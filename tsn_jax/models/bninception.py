"""BN-Inception (Ioffe & Szegedy, "Batch Normalization", ICML 2015), the backbone of TSN.

The layout is the Caffe model that TSN trained and released, as ported to PyTorch by the
``pretrainedmodels`` package (``BNInception``) and mmaction2 (``BNInception``): every layer
is a module directly under the model, named after its Caffe layer, so that a PyTorch
``state_dict`` converts by the generic rule of ``tsn_jax.convert_torch``:

* ``conv1_7x7_s2`` (7x7/2), ``conv1_7x7_s2_bn``, ReLU, ``pool1_3x3_s2`` (3x3/2 max,
  ceil mode), ``conv2_3x3_reduce`` (1x1), ``conv2_3x3`` (3x3), each with its ``_bn``, ReLU,
  ``pool2_3x3_s2``;
* ten inception blocks ``inception_3a`` .. ``inception_5b`` (``INCEPTION_BLOCKS``) with
  the branches ``_1x1``; ``_3x3_reduce`` -> ``_3x3``; ``_double_3x3_reduce`` ->
  ``_double_3x3_1`` -> ``_double_3x3_2``; a 3x3 pool -> ``_pool_proj``; every convolution
  followed by its ``<name>_bn`` and a ReLU, the branches concatenated in that order;
* the stride-2 blocks ``3c`` and ``4e`` have no 1x1 branch; their 3x3 convolutions have
  stride 2 and their pool branch is a 3x3/2 ceil-mode max pool of the block input passed
  through without projection;
* the pool branch is a 3x3/1 average pool (padding counted) except in ``5b``, where it is
  a max pool (paper, Fig. 5, and the Caffe model agree);
* global average pool, ``fc``.

As in the Caffe model every convolution has a bias (redundant before BatchNorm, but part
of the released weights) and BatchNorm uses eps 1e-5. The PyTorch ports keep Caffe's
``momentum=0.9``, which in PyTorch's convention would weight each new batch by 0.9; this
module uses PyTorch's default 0.1 (flax 0.9), which only affects training.

Differences from the PyTorch ports, neither of which changes the forward pass on their
inputs: the global pool is a mean over the whole map (theirs is a 7x7 average pool, the
same at the 224x224 input it was built for, but an error below it), and the classifier
is ``fc`` (TSN's and tsn-pytorch's name) where ``pretrainedmodels`` calls it
``last_linear``: ``convert_torch``'s ``bninception`` entry renames it.

Input sizes: the stride-2 blocks concatenate a ceil-mode pool with a stride-2
convolution, whose sizes agree only on even maps, so the map entering ``3c``,
``floor(floor(ceil(H / 2) / 2) / 2)``, must be a multiple of 4 (in each of H and W): 224,
128, 96, 64 and 32 work, 31 is the smallest, 112 does not (a ``ValueError`` says so).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp

from tsn_jax.models.batch_norm import batch_norm
from tsn_jax.models.layers import (
    Conv,
    avg_pool,
    dense,
    kaiming_normal_fan_out,
    max_pool,
    scaled_width,
)

__all__ = ["INCEPTION_BLOCKS", "BNInception", "InceptionBlock", "bninception"]

Dtype = Any


class InceptionBlock(NamedTuple):
    """Published widths of one BN-Inception block (Ioffe & Szegedy 2015, Fig. 5).

    ``stride == 2`` marks a pass-through block: no 1x1 branch (``conv_1x1 == 0``), stride-2
    3x3 convolutions and a max-pool branch without projection (``pool_proj == 0``).
    """

    name: str
    conv_1x1: int
    reduce_3x3: int
    conv_3x3: int
    reduce_double_3x3: int
    double_3x3: int
    pool: str  # 'avg' or 'max'
    pool_proj: int
    stride: int = 1


INCEPTION_BLOCKS = (
    InceptionBlock("3a", 64, 64, 64, 64, 96, "avg", 32),
    InceptionBlock("3b", 64, 64, 96, 64, 96, "avg", 64),
    InceptionBlock("3c", 0, 128, 160, 64, 96, "max", 0, stride=2),
    InceptionBlock("4a", 224, 64, 96, 96, 128, "avg", 128),
    InceptionBlock("4b", 192, 96, 128, 96, 128, "avg", 128),
    InceptionBlock("4c", 160, 128, 160, 128, 160, "avg", 128),
    InceptionBlock("4d", 96, 128, 192, 160, 192, "avg", 128),
    InceptionBlock("4e", 0, 128, 192, 192, 256, "max", 0, stride=2),
    InceptionBlock("5a", 352, 192, 320, 160, 224, "avg", 128),
    InceptionBlock("5b", 352, 192, 320, 192, 224, "max", 128),
)


def _conv_bn_relu(
    x: jax.Array, features: int, kernel: int, stride: int, name: str, train: bool, dtype: Dtype
) -> jax.Array:
    """``<name>`` (square conv with bias, padding kernel // 2), ``<name>_bn``, ReLU.

    Called inside the model's compact ``__call__``, so both layers sit directly under it.
    """
    x = Conv(
        features,
        kernel,
        strides=stride,
        padding=kernel // 2,
        use_bias=True,
        kernel_init=kaiming_normal_fan_out,
        dtype=dtype,
        name=name,
    )(x)
    x = batch_norm(train, dtype, f"{name}_bn")(x)
    return nn.relu(x)


def _inception(
    x: jax.Array,
    block: InceptionBlock,
    width: Callable[[int], int],
    train: bool,
    dtype: Dtype,
) -> jax.Array:
    """One inception block: ``[N, H, W, C] -> [N, H / stride, W / stride, C']``."""
    prefix = f"inception_{block.name}"

    def unit(y: jax.Array, features: int, kernel: int, suffix: str, stride: int = 1):
        return _conv_bn_relu(y, width(features), kernel, stride, f"{prefix}_{suffix}", train, dtype)

    branches = []
    if block.conv_1x1:
        branches.append(unit(x, block.conv_1x1, 1, "1x1"))
    y = unit(x, block.reduce_3x3, 1, "3x3_reduce")
    branches.append(unit(y, block.conv_3x3, 3, "3x3", block.stride))
    y = unit(x, block.reduce_double_3x3, 1, "double_3x3_reduce")
    y = unit(y, block.double_3x3, 3, "double_3x3_1")
    branches.append(unit(y, block.double_3x3, 3, "double_3x3_2", block.stride))
    if block.stride == 2:
        pooled = max_pool(x, 3, 2, ceil_mode=True)
        if pooled.shape[1:3] != branches[0].shape[1:3]:
            raise ValueError(
                f"{prefix} needs an even input map, got {x.shape[1:3]}: the input size must "
                "give a multiple of 4 at inception_3c (e.g. 224, 96, 64, 32)"
            )
        branches.append(pooled)
    else:
        if block.pool == "avg":
            pooled = avg_pool(x, 3, 1, padding=1)
        else:
            pooled = max_pool(x, 3, 1, padding=1)
        branches.append(unit(pooled, block.pool_proj, 1, "pool_proj"))
    return jnp.concatenate(branches, axis=-1)


class BNInception(nn.Module):
    """BN-Inception in the layer naming of TSN's Caffe model (see the module docstring).

    Attributes:
      num_classes: size of ``fc``; ``None`` drops it and returns the pooled features
        ``[N, num_features]`` (the form a TSN wrapper uses).
      base_width: 64 gives the published widths; every layer's width is scaled by
        ``base_width / 64`` (rounded, at least 1), for tiny test models.
      dtype: computation dtype; parameters and batch statistics are always float32.

    Shapes: ``[N, H, W, C_in]`` (any ``C_in``: TSN folds the frames of a snippet into
    channels) -> ``[N, num_classes]`` or ``[N, num_features]``.
    """

    is_3d: ClassVar[bool] = False

    num_classes: int | None = 1000
    base_width: int = 64
    dtype: Dtype = jnp.float32

    def _width(self, features: int) -> int:
        return scaled_width(features, self.base_width)

    @property
    def num_features(self) -> int:
        """Width F of the pooled features: the four branches of ``5b`` (1024 published)."""
        last = INCEPTION_BLOCKS[-1]
        return sum(
            map(self._width, (last.conv_1x1, last.conv_3x3, last.double_3x3, last.pool_proj))
        )

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        """Runs the network; ``train=False`` normalizes with the BN running averages."""
        x = jnp.asarray(x, self.dtype)
        x = _conv_bn_relu(x, self._width(64), 7, 2, "conv1_7x7_s2", train, self.dtype)
        x = max_pool(x, 3, 2, ceil_mode=True)  # pool1_3x3_s2
        x = _conv_bn_relu(x, self._width(64), 1, 1, "conv2_3x3_reduce", train, self.dtype)
        x = _conv_bn_relu(x, self._width(192), 3, 1, "conv2_3x3", train, self.dtype)
        x = max_pool(x, 3, 2, ceil_mode=True)  # pool2_3x3_s2
        for block in INCEPTION_BLOCKS:
            x = _inception(x, block, self._width, train, self.dtype)

        x = jnp.mean(x, axis=(1, 2))  # global_pool
        if self.num_classes is None:
            return x
        return dense(self.num_classes, x.shape[-1], self.dtype, "fc")(x)


def bninception(**kwargs: Any) -> BNInception:
    """BN-Inception with TSN's Caffe layer names; 1024 features."""
    return BNInception(**kwargs)
