"""S3D (Xie et al., "Rethinking Spatiotemporal Feature Learning: Speed-Accuracy Trade-offs
in Video Classification", ECCV 2018), layout of torchvision's ``torchvision.models.video.s3d``.

An Inception-v1 whose 3x3 (and 7x7 stem) convolutions are separable: a 1xkxk spatial
convolution, BN, ReLU, then a kx1x1 temporal one, BN, ReLU (``TemporalSeparableConv``).
Every convolution is bias-free and followed by BN (eps 1e-3, PyTorch momentum 1e-3) and
ReLU (torchvision's ``Conv3dNormActivation``, children ``0`` conv and ``1`` BN).

Names follow torchvision's ``features`` ``nn.Sequential`` (a numeric torch path component
is a ``_N`` suffix, repeated for nested containers):

* ``features.0.0.0.weight`` (stem spatial conv) -> ``features_0_0_0/kernel``,
  ``features.0.1.1`` (stem temporal BN) -> ``features_0_1_1``;
* ``features.2.0`` / ``features.2.1`` (1x1x1 conv / BN) -> ``features_2_0`` / ``features_2_1``;
* ``features.5.branch1.1.0.0`` (inception block 5, branch 1, separable conv, spatial conv)
  -> ``features_5/branch1_1_0_0``; ``features.5.branch3.1.0`` (the 1x1x1 conv after the
  branch's max pool) -> ``features_5/branch3_1_0``;
* ``classifier.1`` (a 1x1x1 Conv3d with bias after ``classifier.0``, dropout) ->
  ``classifier_1`` (a 1x1x1 ``Conv`` here too, so converting is a transpose).

Head, as torchvision: ``nn.AvgPool3d((2, 7, 7), stride=1)`` over the final ``[T/8, H/32,
W/32]`` map, dropout, the 1x1x1 classifier at every remaining position, mean over the
positions. torchvision needs the final map to be at least 2x7x7, i.e. clips of at least
13x209x209 (its weights were trained on 64x224x224: 8x7x7 -> 7 positions); smaller clips
raise there. Here each window extent is clipped to the map's extent, so the result is
identical wherever torchvision accepts the clip, and smaller clips (down to 1x1x1) average
over the whole of an axis shorter than the window, e.g. 8x64x64 -> a 1x2x2 map averaged
entirely. ``num_classes=None`` returns the mean of the pooled map, ``[N, 1024]``, which the
classifier would turn into the logits (a 1x1x1 convolution commutes with the mean).
"""

from __future__ import annotations

from typing import Any, ClassVar

import flax.linen as nn
import jax
import jax.numpy as jnp

from tsn_jax.models.batch_norm import batch_norm
from tsn_jax.models.layers import (
    Conv,
    IntOrSeq,
    max_pool,
    scaled_width,
    torch_default_bias_init,
    torch_default_kernel_init,
)

__all__ = ["S3D", "SepInceptionBlock3D", "s3d"]

Dtype = Any

# (features index, (b0_out, b1_mid, b1_out, b2_mid, b2_out, b3_out)) per stage of
# inception blocks, and the max pooling (window, stride, padding) before each stage.
_STAGES = (
    (
        ((1, 3, 3), (1, 2, 2), (0, 1, 1)),  # features.4
        ((5, (64, 96, 128, 16, 32, 32)), (6, (128, 128, 192, 32, 96, 64))),
    ),
    (
        ((3, 3, 3), (2, 2, 2), (1, 1, 1)),  # features.7
        (
            (8, (192, 96, 208, 16, 48, 64)),
            (9, (160, 112, 224, 24, 64, 64)),
            (10, (128, 128, 256, 24, 64, 64)),
            (11, (112, 144, 288, 32, 64, 64)),
            (12, (256, 160, 320, 32, 128, 128)),
        ),
    ),
    (
        ((2, 2, 2), (2, 2, 2), (0, 0, 0)),  # features.13
        ((14, (256, 160, 320, 32, 128, 128)), (15, (384, 192, 384, 48, 128, 128))),
    ),
)
_POOL_WINDOW = (2, 7, 7)


def _conv_bn_relu(
    x: jax.Array,
    features: int,
    kernel: IntOrSeq,
    stride: IntOrSeq,
    padding: IntOrSeq,
    train: bool,
    dtype: Dtype,
    name: str,
) -> jax.Array:
    """torchvision's ``Conv3dNormActivation``: ``{name}_0`` conv, ``{name}_1`` BN, ReLU.

    Called inside a compact ``__call__``: the layers belong to the caller.
    """
    x = Conv(
        features,
        kernel,
        strides=stride,
        padding=padding,
        kernel_init=torch_default_kernel_init,
        dtype=dtype,
        name=f"{name}_0",
    )(x)
    x = batch_norm(train, dtype, f"{name}_1", epsilon=1e-3, momentum=1e-3)(x)
    return nn.relu(x)


def _separable_conv(
    x: jax.Array,
    features: int,
    kernel: int,
    stride: int,
    padding: int,
    train: bool,
    dtype: Dtype,
    name: str,
) -> jax.Array:
    """``TemporalSeparableConv``: 1xkxk (``{name}_0_*``) then kx1x1 (``{name}_1_*``)."""
    x = _conv_bn_relu(
        x,
        features,
        (1, kernel, kernel),
        (1, stride, stride),
        (0, padding, padding),
        train,
        dtype,
        f"{name}_0",
    )
    return _conv_bn_relu(
        x,
        features,
        (kernel, 1, 1),
        (stride, 1, 1),
        (padding, 0, 0),
        train,
        dtype,
        f"{name}_1",
    )


class SepInceptionBlock3D(nn.Module):
    """Inception block with separable 3x3x3 convolutions (torchvision's SepInceptionBlock3D).

    Branches, concatenated along channels: ``branch0`` 1x1x1; ``branch1`` and ``branch2``
    1x1x1 to ``b*_mid`` then separable 3x3x3 to ``b*_out``; ``branch3`` 3x3x3 max pool
    (stride 1, padding 1) then 1x1x1.

    Attributes:
      widths: (b0_out, b1_mid, b1_out, b2_mid, b2_out, b3_out), already scaled.
      dtype: computation dtype.

    Shapes: ``[N, T, H, W, C] -> [N, T, H, W, b0_out + b1_out + b2_out + b3_out]``.
    """

    widths: tuple[int, int, int, int, int, int]
    dtype: Dtype = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        b0_out, b1_mid, b1_out, b2_mid, b2_out, b3_out = self.widths
        dtype = self.dtype
        x0 = _conv_bn_relu(x, b0_out, 1, 1, 0, train, dtype, "branch0")
        x1 = _conv_bn_relu(x, b1_mid, 1, 1, 0, train, dtype, "branch1_0")
        x1 = _separable_conv(x1, b1_out, 3, 1, 1, train, dtype, "branch1_1")
        x2 = _conv_bn_relu(x, b2_mid, 1, 1, 0, train, dtype, "branch2_0")
        x2 = _separable_conv(x2, b2_out, 3, 1, 1, train, dtype, "branch2_1")
        x3 = max_pool(x, 3, 1, 1)
        x3 = _conv_bn_relu(x3, b3_out, 1, 1, 0, train, dtype, "branch3_1")
        return jnp.concatenate([x0, x1, x2, x3], axis=-1)


class S3D(nn.Module):
    """S3D: separable stem, Inception stages, (2, 7, 7) average pool, 1x1x1 classifier.

    Strides: time /8 (stem, ``features.7``, ``features.13``), space /32.

    Attributes:
      num_classes: classifier outputs (400, Kinetics); None returns pooled features.
      base_width: 64 for the published widths; every width scales by base_width / 64.
      dropout_rate: dropout before the classifier (``classifier.0``, 0.2 in torchvision),
        in training only, with a 'dropout' rng.
      dtype: computation dtype; parameters and batch statistics are float32.

    Shapes: ``[N, T, H, W, C]`` -> ``[N, num_classes]`` or ``[N, num_features]``.
    """

    is_3d: ClassVar[bool] = True

    num_classes: int | None = 400
    base_width: int = 64
    dropout_rate: float = 0.2
    dtype: Dtype = jnp.float32

    def _width(self, features: int) -> int:
        return scaled_width(features, self.base_width)

    @property
    def num_features(self) -> int:
        """Width F of the pooled features: channels of the last block (1024)."""
        b0_out, _, b1_out, _, b2_out, b3_out = _STAGES[-1][1][-1][1]
        return sum(self._width(c) for c in (b0_out, b1_out, b2_out, b3_out))

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        """Runs the network; ``train=False`` normalizes with the BN running averages."""
        dtype = self.dtype
        x = jnp.asarray(x, dtype)
        x = _separable_conv(x, self._width(64), 7, 2, 3, train, dtype, "features_0")
        x = max_pool(x, (1, 3, 3), (1, 2, 2), (0, 1, 1))  # features.1
        x = _conv_bn_relu(x, self._width(64), 1, 1, 0, train, dtype, "features_2")
        x = _separable_conv(x, self._width(192), 3, 1, 1, train, dtype, "features_3")
        for pool, blocks in _STAGES:
            x = max_pool(x, *pool)
            for index, widths in blocks:
                scaled = tuple(self._width(c) for c in widths)
                x = SepInceptionBlock3D(scaled, dtype, name=f"features_{index}")(x, train)

        # nn.AvgPool3d((2, 7, 7), stride=1), each window clipped to the map (docstring).
        window = tuple(min(k, n) for k, n in zip(_POOL_WINDOW, x.shape[1:4], strict=True))
        x = nn.avg_pool(x, window_shape=window, strides=(1, 1, 1), padding="VALID")
        if self.num_classes is None:
            return jnp.mean(x, axis=(1, 2, 3))
        x = nn.Dropout(self.dropout_rate, deterministic=not train, name="classifier_0")(x)
        x = Conv(
            self.num_classes,
            1,
            use_bias=True,
            kernel_init=torch_default_kernel_init,
            bias_init=torch_default_bias_init(x.shape[-1]),
            dtype=dtype,
            name="classifier_1",
        )(x)
        return jnp.mean(x, axis=(1, 2, 3))


def s3d(**kwargs: Any) -> S3D:
    """S3D (torchvision ``s3d``), 1024 features, Kinetics-400 classifier by default."""
    return S3D(**kwargs)
