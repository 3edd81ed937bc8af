"""VGG-16 (Simonyan & Zisserman, "Very Deep Convolutional Networks", ICLR 2015).

The layout is torchvision's ``torchvision.models.vgg16`` (configuration D), so that a
torchvision ``state_dict`` converts by the generic rule of ``tsn_jax.convert_torch``: the
layers keep their index in torchvision's ``nn.Sequential`` containers,

* ``features_N``: 3x3 convolutions (padding 1, with bias) in five stages of
  ``(2, 2, 3, 3, 3)`` convolutions of width 64, 128, 256, 512, 512, each followed by a
  ReLU (and, in ``vgg16_bn``, a BatchNorm before it, which takes an index of its own), a
  2x2/2 max pool after each stage (the last convolution is ``features_28`` and pool5 is
  index 30 in ``vgg16``; ``features_40`` and 43 in ``vgg16_bn``);
* an adaptive average pool to 7x7 (``layers.adaptive_avg_pool``, PyTorch's bins: at
  224x224 input the map is already 7x7, below it cells are averaged over overlapping
  windows or replicated), flattened channel-major like ``torch.flatten`` of an NCHW map;
* ``classifier_0`` (25088 -> 4096), ReLU, dropout 0.5, ``classifier_3`` (4096 -> 4096),
  ReLU, dropout 0.5, ``classifier_6`` (4096 -> classes).

With ``num_classes=None`` the model returns the 4096-d output of ``classifier_3`` after its
ReLU (fc7, the feature TSN and STAN build on) and leaves the last dropout to the wrapper.
``return_feature_map=True`` returns the output of the last max pool (pool5, ``[N, H/32,
W/32, 512]``), the K x K grid of local descriptors of STAN's spatial attention.
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
    adaptive_avg_pool,
    fc_head,
    flatten_channels_first,
    kaiming_normal_fan_out,
    max_pool,
    scaled_width,
)

__all__ = ["VGG", "vgg16", "vgg16_bn"]

Dtype = Any

STAGE_WIDTHS = (64, 128, 256, 512, 512)


class VGG(nn.Module):
    """A torchvision-layout VGG (see the module docstring).

    Attributes:
      stage_sizes: 3x3 convolutions in each of the five stages ((2, 2, 3, 3, 3): VGG-16).
      num_classes: size of ``classifier_6``; ``None`` drops it and returns the fc7
        features ``[N, num_features]`` (after ReLU, before the last dropout).
      base_width: 64 gives the published widths; every layer's width (the 4096-wide
        fully connected layers included) is scaled by ``base_width / 64``.
      use_batch_norm: BatchNorm after every convolution (torchvision's ``vgg16_bn``).
      dropout_rate: dropout after ``classifier_0`` and ``classifier_3`` (0.5); only in
        training, with a ``'dropout'`` rng.
      dtype: computation dtype; parameters and batch statistics are always float32.

    Shapes: ``[N, H, W, C_in]`` (H, W >= 32) -> ``[N, num_classes]`` or
    ``[N, num_features]``; with ``return_feature_map`` ``[N, H // 32, W // 32, 512]``.
    """

    is_3d: ClassVar[bool] = False

    stage_sizes: Sequence[int]
    num_classes: int | None = 1000
    base_width: int = 64
    use_batch_norm: bool = False
    dropout_rate: float = 0.5
    dtype: Dtype = jnp.float32

    def _width(self, features: int) -> int:
        return scaled_width(features, self.base_width)

    @property
    def num_features(self) -> int:
        """Width F of the fc7 features (4096 published)."""
        return self._width(4096)

    @nn.compact
    def __call__(self, x: jax.Array, train: bool, return_feature_map: bool = False) -> jax.Array:
        """Runs the network.

        Args:
          x: ``[N, H, W, C_in]`` images.
          train: batch statistics (``vgg16_bn``) and dropout; ``False`` is deterministic.
          return_feature_map: return the pool5 map instead (the classifier is not run).
        """
        x = jnp.asarray(x, self.dtype)
        index = 0  # Position in torchvision's ``features`` nn.Sequential.
        for num_convs, width in zip(self.stage_sizes, STAGE_WIDTHS, strict=True):
            for _ in range(num_convs):
                x = Conv(
                    self._width(width),
                    3,
                    padding=1,
                    use_bias=True,
                    kernel_init=kaiming_normal_fan_out,
                    dtype=self.dtype,
                    name=f"features_{index}",
                )(x)
                index += 1
                if self.use_batch_norm:
                    x = batch_norm(train, self.dtype, f"features_{index}")(x)
                    index += 1
                x = nn.relu(x)
                index += 1
            x = max_pool(x, 2, 2)
            index += 1
        if return_feature_map:
            return x

        return fc_head(
            flatten_channels_first(adaptive_avg_pool(x, (7, 7))),
            names=("classifier_0", "classifier_3", "classifier_6"),
            hidden=self.num_features,
            num_classes=self.num_classes,
            stddev=0.01,  # torchvision's classifier init, with zero biases
            dropout_rate=self.dropout_rate,
            train=train,
            dtype=self.dtype,
        )


def vgg16(**kwargs: Any) -> VGG:
    """VGG-16 (configuration D), torchvision's ``vgg16``; 4096 features."""
    return VGG(stage_sizes=(2, 2, 3, 3, 3), **kwargs)


def vgg16_bn(**kwargs: Any) -> VGG:
    """VGG-16 with BatchNorm after every convolution, torchvision's ``vgg16_bn``."""
    return VGG(stage_sizes=(2, 2, 3, 3, 3), use_batch_norm=True, **kwargs)
