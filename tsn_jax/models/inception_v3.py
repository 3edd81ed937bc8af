"""Inception-v3 (Szegedy et al., "Rethinking the Inception Architecture for Computer
Vision", CVPR 2016), in the layout of torchvision's ``torchvision.models.inception_v3``.

torchvision's model is the network of Google's released TF-slim checkpoint, which its
weights are ported from; we follow it (the weights exist for it). Every convolution is a
``basic_conv`` (bias-free convolution, BatchNorm eps 1e-3, ReLU).

Names follow torchvision so that a ``state_dict`` converts mechanically
(``Mixed_6b.branch7x7_2.conv.weight`` is ``params/Mixed_6b/branch7x7_2/conv/kernel``):
``Conv2d_1a_3x3`` .. ``Conv2d_4a_3x3``, ``Mixed_5b`` .. ``Mixed_7c`` (blocks A x 3, B,
C x 4, D, E x 2), ``AuxLogits`` (``conv0``, ``conv1``, ``fc``; only with
``aux_logits=True``) and ``fc``.

The standard input is 299x299; any size from 75x75 works (the auxiliary classifier needs
299x299 or more, as in torchvision).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp

from tsn_jax.models.googlenet import basic_conv, transform_input
from tsn_jax.models.layers import (
    ConvModule,
    IntOrSeq,
    avg_pool,
    dense_normal,
    max_pool,
    scaled_width,
)

__all__ = [
    "Inception3",
    "InceptionA",
    "InceptionAux",
    "InceptionB",
    "InceptionC",
    "InceptionD",
    "InceptionE",
    "InceptionOutputs",
    "inception_v3",
]

Dtype = Any

# torchvision initializes conv and linear weights with trunc_normal(0, 0.1) truncated at
# +-2 (absolute, i.e. +-20 std: effectively a normal), the aux head's conv1 with 0.01 and
# its fc with 0.001; Linear biases start at zero here (PyTorch's default uniform there).
INIT_STD = 0.1


def _conv_factory(
    base_width: int, dtype: Dtype, stddev: float = INIT_STD
) -> Callable[..., ConvModule]:
    """Makes ``basic_conv``s whose full-width channel count is scaled by base_width / 64.

    The returned ``conv(features, kernel_size, name, strides=1, padding=0)`` must be called
    inside the compact ``__call__`` of the block that owns the layer.
    """

    def conv(
        features: int,
        kernel_size: IntOrSeq,
        name: str,
        strides: IntOrSeq = 1,
        padding: IntOrSeq = 0,
    ) -> ConvModule:
        return basic_conv(
            scaled_width(features, base_width),
            kernel_size,
            strides=strides,
            padding=padding,
            kernel_init=nn.initializers.normal(stddev),
            dtype=dtype,
            name=name,
        )

    return conv


def _avg_pool_3x3(x: jax.Array) -> jax.Array:
    """``F.avg_pool2d(x, 3, stride=1, padding=1)``: zero padding counted (PyTorch default)."""
    return avg_pool(x, 3, 1, padding=1)


class _Block(nn.Module):
    """Fields shared by the Inception-v3 blocks.

    Attributes:
      base_width: 64 for the published widths (the block's constants are full width).
      dtype: computation dtype.
    """

    base_width: int = 64
    dtype: Dtype = jnp.float32


class InceptionA(_Block):
    """35x35 block: 1x1 | 1x1-5x5 | 1x1-3x3-3x3 | avg pool-1x1 (``pool_features``).

    Shapes: ``[N, H, W, C] -> [N, H, W, 64 + 64 + 96 + pool_features]`` (full width).
    """

    pool_features: int = 32

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        conv = _conv_factory(self.base_width, self.dtype)
        branch1x1 = conv(64, 1, "branch1x1")(x, train)
        branch5x5 = conv(48, 1, "branch5x5_1")(x, train)
        branch5x5 = conv(64, 5, "branch5x5_2", padding=2)(branch5x5, train)
        branch3x3dbl = conv(64, 1, "branch3x3dbl_1")(x, train)
        branch3x3dbl = conv(96, 3, "branch3x3dbl_2", padding=1)(branch3x3dbl, train)
        branch3x3dbl = conv(96, 3, "branch3x3dbl_3", padding=1)(branch3x3dbl, train)
        branch_pool = conv(self.pool_features, 1, "branch_pool")(_avg_pool_3x3(x), train)
        return jnp.concatenate([branch1x1, branch5x5, branch3x3dbl, branch_pool], axis=-1)


class InceptionB(_Block):
    """Grid reduction 35 -> 17: 3x3/2 | 1x1-3x3-3x3/2 | max pool 3/2 (passes C through).

    Shapes: ``[N, H, W, C] -> [N, (H - 3) // 2 + 1, (W - 3) // 2 + 1, 384 + 96 + C]``.
    """

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        conv = _conv_factory(self.base_width, self.dtype)
        branch3x3 = conv(384, 3, "branch3x3", strides=2)(x, train)
        branch3x3dbl = conv(64, 1, "branch3x3dbl_1")(x, train)
        branch3x3dbl = conv(96, 3, "branch3x3dbl_2", padding=1)(branch3x3dbl, train)
        branch3x3dbl = conv(96, 3, "branch3x3dbl_3", strides=2)(branch3x3dbl, train)
        branch_pool = max_pool(x, 3, 2)
        return jnp.concatenate([branch3x3, branch3x3dbl, branch_pool], axis=-1)


class InceptionC(_Block):
    """17x17 block with factorized 7x7 convolutions (1x7 and 7x1) of ``channels_7x7``.

    1x1 | 1x1-1x7-7x1 | 1x1-7x1-1x7-7x1-1x7 | avg pool-1x1.

    Shapes: ``[N, H, W, C] -> [N, H, W, 4 * 192]`` (full width).
    """

    channels_7x7: int = 128

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        conv = _conv_factory(self.base_width, self.dtype)
        c7 = self.channels_7x7
        branch1x1 = conv(192, 1, "branch1x1")(x, train)
        branch7x7 = conv(c7, 1, "branch7x7_1")(x, train)
        branch7x7 = conv(c7, (1, 7), "branch7x7_2", padding=(0, 3))(branch7x7, train)
        branch7x7 = conv(192, (7, 1), "branch7x7_3", padding=(3, 0))(branch7x7, train)
        dbl = conv(c7, 1, "branch7x7dbl_1")(x, train)
        dbl = conv(c7, (7, 1), "branch7x7dbl_2", padding=(3, 0))(dbl, train)
        dbl = conv(c7, (1, 7), "branch7x7dbl_3", padding=(0, 3))(dbl, train)
        dbl = conv(c7, (7, 1), "branch7x7dbl_4", padding=(3, 0))(dbl, train)
        dbl = conv(192, (1, 7), "branch7x7dbl_5", padding=(0, 3))(dbl, train)
        branch_pool = conv(192, 1, "branch_pool")(_avg_pool_3x3(x), train)
        return jnp.concatenate([branch1x1, branch7x7, dbl, branch_pool], axis=-1)


class InceptionD(_Block):
    """Grid reduction 17 -> 8: 1x1-3x3/2 | 1x1-1x7-7x1-3x3/2 | max pool 3/2 (passes C).

    Shapes: ``[N, H, W, C] -> [N, (H - 3) // 2 + 1, (W - 3) // 2 + 1, 320 + 192 + C]``.
    """

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        conv = _conv_factory(self.base_width, self.dtype)
        branch3x3 = conv(192, 1, "branch3x3_1")(x, train)
        branch3x3 = conv(320, 3, "branch3x3_2", strides=2)(branch3x3, train)
        branch7x7x3 = conv(192, 1, "branch7x7x3_1")(x, train)
        branch7x7x3 = conv(192, (1, 7), "branch7x7x3_2", padding=(0, 3))(branch7x7x3, train)
        branch7x7x3 = conv(192, (7, 1), "branch7x7x3_3", padding=(3, 0))(branch7x7x3, train)
        branch7x7x3 = conv(192, 3, "branch7x7x3_4", strides=2)(branch7x7x3, train)
        branch_pool = max_pool(x, 3, 2)
        return jnp.concatenate([branch3x3, branch7x7x3, branch_pool], axis=-1)


class InceptionE(_Block):
    """8x8 block with expanded filter banks (1x3 and 3x1 side by side).

    1x1 | 1x1-(1x3, 3x1) | 1x1-3x3-(1x3, 3x1) | avg pool-1x1.

    Shapes: ``[N, H, W, C] -> [N, H, W, 320 + 768 + 768 + 192]`` (full width).
    """

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        conv = _conv_factory(self.base_width, self.dtype)
        branch1x1 = conv(320, 1, "branch1x1")(x, train)
        branch3x3 = conv(384, 1, "branch3x3_1")(x, train)
        branch3x3 = jnp.concatenate(
            [
                conv(384, (1, 3), "branch3x3_2a", padding=(0, 1))(branch3x3, train),
                conv(384, (3, 1), "branch3x3_2b", padding=(1, 0))(branch3x3, train),
            ],
            axis=-1,
        )
        dbl = conv(448, 1, "branch3x3dbl_1")(x, train)
        dbl = conv(384, 3, "branch3x3dbl_2", padding=1)(dbl, train)
        dbl = jnp.concatenate(
            [
                conv(384, (1, 3), "branch3x3dbl_3a", padding=(0, 1))(dbl, train),
                conv(384, (3, 1), "branch3x3dbl_3b", padding=(1, 0))(dbl, train),
            ],
            axis=-1,
        )
        branch_pool = conv(192, 1, "branch_pool")(_avg_pool_3x3(x), train)
        return jnp.concatenate([branch1x1, branch3x3, dbl, branch_pool], axis=-1)


class InceptionAux(_Block):
    """The auxiliary classifier on Mixed_6e (torchvision's ``InceptionAux``).

    Average pool 5/3, ``conv0`` (1x1, 128), ``conv1`` (5x5, 768), global average pool,
    ``fc``. Needs a 17x17 input (the 299x299 image size).

    Shapes: ``[N, 17, 17, C] -> [N, num_classes]``.
    """

    num_classes: int = 1000

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        x = nn.avg_pool(x, window_shape=(5, 5), strides=(3, 3))
        x = _conv_factory(self.base_width, self.dtype)(128, 1, "conv0")(x, train)
        x = _conv_factory(self.base_width, self.dtype, 0.01)(768, 5, "conv1")(x, train)
        x = jnp.mean(x, axis=(1, 2))
        return dense_normal(self.num_classes, 0.001, self.dtype, "fc")(x)


class InceptionOutputs(NamedTuple):
    """Train-time outputs with ``aux_logits=True`` (torchvision's order)."""

    logits: jax.Array
    aux_logits: jax.Array


# The Mixed blocks in order: name, class, keyword arguments (torchvision's).
_MIXED_BLOCKS: tuple[tuple[str, type[_Block], dict[str, int]], ...] = (
    ("Mixed_5b", InceptionA, {"pool_features": 32}),
    ("Mixed_5c", InceptionA, {"pool_features": 64}),
    ("Mixed_5d", InceptionA, {"pool_features": 64}),
    ("Mixed_6a", InceptionB, {}),
    ("Mixed_6b", InceptionC, {"channels_7x7": 128}),
    ("Mixed_6c", InceptionC, {"channels_7x7": 160}),
    ("Mixed_6d", InceptionC, {"channels_7x7": 160}),
    ("Mixed_6e", InceptionC, {"channels_7x7": 192}),
    ("Mixed_7a", InceptionD, {}),
    ("Mixed_7b", InceptionE, {}),
    ("Mixed_7c", InceptionE, {}),
)


class Inception3(nn.Module):
    """Inception-v3, torchvision's layout.

    Stem ``Conv2d_1a_3x3`` (3x3/2), ``Conv2d_2a_3x3`` (3x3), ``Conv2d_2b_3x3`` (3x3 pad 1),
    max pool 3/2, ``Conv2d_3b_1x1``, ``Conv2d_4a_3x3`` (3x3), max pool 3/2; then
    ``Mixed_5b`` .. ``Mixed_7c``, global average pool, dropout, ``fc``.

    Attributes:
      num_classes: size of ``fc``; ``None`` drops ``fc`` (and the dropout before it) and
        returns the pooled features ``[N, num_features]``.
      base_width: 64 gives the published widths; every width scales by base_width / 64.
      aux_logits: build ``AuxLogits`` on Mixed_6e. It runs in train mode only, where the
        call returns ``InceptionOutputs``; eval returns the main logits. Needs
        ``num_classes`` and 299x299 inputs. Default off (``convert_torchvision`` then drops
        the aux keys of a torchvision ``state_dict``).
      transform_input: re-normalize ImageNet-normalized RGB to the [-1, 1] inputs of
        Google's weights first; torchvision turns this on when it loads its pretrained
        Inception-v3, so set it with converted ImageNet weights.
      dropout_rate: dropout before ``fc`` in train mode (torchvision's 0.5; TF-slim's
        reference keeps 80%, a rate of 0.2).
      dtype: computation dtype; parameters and statistics stay float32.

    Shapes: ``[N, H, W, C]`` (H, W >= 75; C = 3 with ``transform_input``) ->
    ``[N, num_classes]`` or ``[N, num_features]``.
    """

    is_3d: ClassVar[bool] = False

    num_classes: int | None = 1000
    base_width: int = 64
    aux_logits: bool = False
    transform_input: bool = False
    dropout_rate: float = 0.5
    dtype: Dtype = jnp.float32

    @property
    def num_features(self) -> int:
        """Channels of Mixed_7c's output (2048 at full width)."""
        return sum(scaled_width(c, self.base_width) for c in (320, 384, 384, 384, 384, 192))

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array | InceptionOutputs:
        """Runs the network; ``train=False`` normalizes with the BN running averages.

        In train mode with ``num_classes`` set, a 'dropout' rng is needed.
        """
        if self.aux_logits and self.num_classes is None:
            raise ValueError("aux_logits needs num_classes (the aux head is a classifier)")
        if self.transform_input:
            x = transform_input(x)
        x = jnp.asarray(x, self.dtype)
        conv = _conv_factory(self.base_width, self.dtype)
        x = conv(32, 3, "Conv2d_1a_3x3", strides=2)(x, train)
        x = conv(32, 3, "Conv2d_2a_3x3")(x, train)
        x = conv(64, 3, "Conv2d_2b_3x3", padding=1)(x, train)
        x = max_pool(x, 3, 2)
        x = conv(80, 1, "Conv2d_3b_1x1")(x, train)
        x = conv(192, 3, "Conv2d_4a_3x3")(x, train)
        x = max_pool(x, 3, 2)

        aux = None
        for name, block_cls, options in _MIXED_BLOCKS:
            if name == "Mixed_7a" and self.aux_logits and (train or self.is_initializing()):
                # Also at init, so that its parameters exist for an eval-mode init.
                aux = InceptionAux(
                    base_width=self.base_width,
                    num_classes=self.num_classes,
                    dtype=self.dtype,
                    name="AuxLogits",
                )(x, train)
            x = block_cls(base_width=self.base_width, dtype=self.dtype, name=name, **options)(
                x, train
            )

        x = jnp.mean(x, axis=(1, 2))  # nn.AdaptiveAvgPool2d((1, 1)) and flatten.
        if self.num_classes is None:
            return x
        x = nn.Dropout(self.dropout_rate, deterministic=not train)(x)
        logits = dense_normal(self.num_classes, INIT_STD, self.dtype, "fc")(x)
        if self.aux_logits and train:
            return InceptionOutputs(logits, aux)
        return logits


def inception_v3(**kwargs: Any) -> Inception3:
    """Inception-v3, torchvision's layout; 2048 features, 299x299 inputs."""
    return Inception3(**kwargs)
