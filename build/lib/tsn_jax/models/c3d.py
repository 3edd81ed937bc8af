"""C3D (Tran et al., "Learning Spatiotemporal Features with 3D Convolutional Networks",
ICCV 2015), the clip stream of STAN.

The layout is mmaction2's ``C3D`` backbone, whose convolutions are ``ConvModule``s
(``conv1a.conv.weight``), so that its ``state_dict`` converts by the generic rule of
``tsn_jax.convert_torch``:

* eight 3x3x3 convolutions (padding 1, with bias, each followed by a ReLU) ``conv1a``
  (64), ``conv2a`` (128), ``conv3a``/``conv3b`` (256), ``conv4a``/``conv4b`` (512),
  ``conv5a``/``conv5b`` (512), their parameters under ``<name>/conv``;
* max pools ``pool1`` 1x2x2/1x2x2 (no temporal pooling at first), ``pool2`` .. ``pool5``
  2x2x2/2x2x2;
* the pool5 map flattened channel-major (as ``torch.flatten`` of NCTHW), ``fc6``
  (8192 -> 4096 at 16x112x112), ReLU, dropout 0.5, ``fc7`` (4096), ReLU, and here a
  classifier ``fc8`` after dropout 0.5 (C3D's name; mmaction2 puts it in its
  ``I3DHead`` as ``cls_head.fc_cls``). ``convert_torch``'s ``mmaction2_c3d`` entry reads
  an mmaction2 recognizer checkpoint (``backbone.`` prefix, ``cls_head.fc_cls``).

pool5: the paper's Caffe model pools with Caffe's ceil-mode rule (windows start at 0,
the last one clipped), turning the 7x7 map of a 112x112 input into 4x4, hence fc6's
512 * 1 * 4 * 4 = 8192 inputs. mmaction2 (and the common c3d-pytorch port) get the same
4x4 by padding pool5 by (0, 1, 1) instead, which shifts its windows by one pixel. The
default follows mmaction2 (its checkpoints are the ones available in PyTorch);
``caffe_pooling=True`` gives the original Caffe pooling (ceil mode on every pool, pool5
unpadded). Both agree on every pool but pool5 at 16x112x112.

STAN (Li et al., TMM 2019, Sec. IV) feeds C3D 16x224x224 clips and states that pool5 is
7x7x512 for its clip stream, like VGG-16's at 224; the paper's models are Caffe models
(Sec. IV, "based on ... Caffe"). At 224 pool4 leaves 14x14: Caffe's rule pools it to 7x7
(T' = 1), mmaction2's padding to 8x8. STAN's clip stream therefore uses
``caffe_pooling=True`` by default (``tsn_jax.models.stan``); pooling has no parameters,
so the same converted mmaction2 Sports-1M weights serve both.

With ``num_classes=None`` the model returns the fc7 features (4096, after ReLU);
``return_feature_map=True`` returns the pool5 map ``[N, T', H', W', 512]`` (1x4x4 at
16x112x112; 1x7x7 at 16x224x224 with ``caffe_pooling``), STAN's grid of local clip
descriptors.

Inputs are ``[N, T, H, W, C]`` clips, 16x112x112 in the paper; fc6's input size depends
on the clip size, so a model is tied to the size it was initialized with. T must be at
least 16 (four temporal halvings), H and W at least 16.
"""

from __future__ import annotations

from typing import Any, ClassVar

import flax.linen as nn
import jax
import jax.numpy as jnp

from tsn_jax.models.layers import (
    ConvModule,
    fc_head,
    flatten_channels_first,
    max_pool,
    scaled_width,
)

__all__ = ["C3D", "c3d"]

Dtype = Any

# (convolutions, width, pooling window = stride) of each stage; conv names '<stage><a|b>'.
STAGES = (
    (1, 64, (1, 2, 2)),
    (1, 128, (2, 2, 2)),
    (2, 256, (2, 2, 2)),
    (2, 512, (2, 2, 2)),
    (2, 512, (2, 2, 2)),
)
# mmaction2's C3D initializes fc6, fc7 and the head N(0, 0.005^2).
FC_INIT_STD = 0.005


class C3D(nn.Module):
    """C3D in mmaction2's layout (see the module docstring).

    Attributes:
      num_classes: size of ``fc8``; ``None`` drops it and returns the fc7 features
        ``[N, num_features]``.
      base_width: 64 gives the published widths; every layer's width (fc6 and fc7
        included) is scaled by ``base_width / 64`` (rounded, at least 1).
      dropout_rate: dropout after fc6 and before fc8 (0.5); only in training, with a
        ``'dropout'`` rng.
      caffe_pooling: the original Caffe model's ceil-mode pooling instead of mmaction2's
        padded pool5.
      dtype: computation dtype; parameters are always float32.

    Shapes: ``[N, T, H, W, C_in] -> [N, num_classes]`` or ``[N, num_features]``.
    """

    is_3d: ClassVar[bool] = True

    num_classes: int | None = 487
    base_width: int = 64
    dropout_rate: float = 0.5
    caffe_pooling: bool = False
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
          x: ``[N, T, H, W, C_in]`` clips.
          train: apply dropout; ``False`` is deterministic.
          return_feature_map: return the pool5 map instead (fc6 .. fc8 are not run).
        """
        x = jnp.asarray(x, self.dtype)
        last = len(STAGES) - 1
        for i, (num_convs, width, window) in enumerate(STAGES):
            for j in range(num_convs):
                conv = ConvModule(
                    self._width(width),
                    3,
                    padding=1,
                    norm=False,
                    dtype=self.dtype,
                    name=f"conv{i + 1}{'ab'[j]}",
                )
                x = conv(x, train)
            if self.caffe_pooling:
                x = max_pool(x, window, window, ceil_mode=True)
            else:
                x = max_pool(x, window, window, padding=(0, 1, 1) if i == last else 0)
        if return_feature_map:
            return x

        return fc_head(
            flatten_channels_first(x),
            names=("fc6", "fc7", "fc8"),
            hidden=self.num_features,
            num_classes=self.num_classes,
            stddev=FC_INIT_STD,
            dropout_rate=self.dropout_rate,
            train=train,
            dtype=self.dtype,
        )


def c3d(**kwargs: Any) -> C3D:
    """C3D for 16x112x112 clips (mmaction2 layout); 4096 fc7 features."""
    return C3D(**kwargs)
