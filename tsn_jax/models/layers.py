"""Layers shared by every backbone, with PyTorch's conventions.

`Conv` is a 1D/2D/3D convolution with PyTorch-style explicit padding (never
XLA's 'SAME', which pads strided convolutions asymmetrically and silently
shifts every feature map of a converted model) and a choice of lowering
(`lowerings`).
`dense` and `max_pool` give PyTorch's nn.Linear
initialization and ceil-mode max pooling (`batch_norm.batch_norm` its BatchNorm), so
that converted weights give the reference logits.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from tsn_jax.models import lowerings
from tsn_jax.models.batch_norm import batch_norm

Dtype = Any
IntOrSeq = int | Sequence[int]

# torchvision's conv init: nn.init.kaiming_normal_(w, mode="fan_out", nonlinearity="relu"),
# an untruncated normal with std sqrt(2 / (out_channels * prod(kernel))). JAX's fan_out of a
# channels-last kernel is the same quantity.
kaiming_normal_fan_out = nn.initializers.variance_scaling(2.0, "fan_out", "normal")


class Conv(nn.Module):
    """Convolution over the axes between batch and channels, with explicit padding.

    The number of spatial axes is the input's rank minus 2: [N, W, C] is 1D, [N, H, W, C]
    2D, [N, T, H, W, C] 3D. Integer `kernel_size`, `strides` and `padding` apply to every
    spatial axis; sequences give one value per axis (e.g. (3, 1, 1) for a temporal
    convolution).

    Attributes:
      features: output channels.
      kernel_size: kernel extent per spatial axis.
      strides: stride per spatial axis.
      padding: zeros on both sides of each spatial axis, as PyTorch's `padding`.
      use_bias: add a bias (zeros-initialized unless `bias_init` says otherwise).
      feature_group_count: groups (input channels for a depthwise convolution);
        grouped convolutions always use XLA's lowering.
      implementation: 'xla', 'im2col', 'polyphase' (XLA's convolution with the gradient
        of `conv_phases` where a stride exceeds 1), or 'auto' (`lowerings.convolve`).
      kernel_init: initializer of the channels-last kernel [*kernel_size, C / groups, O].
      bias_init: initializer of the bias.
      dtype: computation dtype; parameters stay float32.

    Shapes: [N, *spatial, C] -> [N, *spatial', features].
    """

    features: int
    kernel_size: IntOrSeq
    strides: IntOrSeq = 1
    padding: IntOrSeq = 0
    use_bias: bool = False
    feature_group_count: int = 1
    implementation: str = "auto"
    kernel_init: nn.initializers.Initializer = nn.initializers.lecun_normal()
    bias_init: nn.initializers.Initializer = nn.initializers.zeros
    dtype: Dtype = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        lowerings.check_implementation(self.implementation)
        ndim = x.ndim - 2
        window = lowerings.as_tuple(self.kernel_size, ndim)
        strides = lowerings.as_tuple(self.strides, ndim)
        padding = lowerings.as_tuple(self.padding, ndim)
        groups = self.feature_group_count
        if x.shape[-1] % groups or self.features % groups:
            raise ValueError(
                f"channels {x.shape[-1]} -> {self.features} not divisible into {groups} groups"
            )
        shape = (*window, x.shape[-1] // groups, self.features)
        kernel = self.param("kernel", self.kernel_init, shape, jnp.float32)
        x, kernel = jnp.asarray(x, self.dtype), jnp.asarray(kernel, self.dtype)
        y = lowerings.convolve(x, kernel, strides, padding, groups, self.implementation)
        if self.use_bias:
            bias = self.param("bias", self.bias_init, (self.features,), jnp.float32)
            y = y + jnp.asarray(bias, self.dtype)
        return y


class ConvModule(nn.Module):
    """mmcv's ``ConvModule``: a convolution ``conv``, then optionally BatchNorm ``bn`` and ReLU.

    As in mmcv, the convolution has a bias only without the norm and starts from
    ``kaiming_normal_fan_out`` (mmcv's ``kaiming_init``), and the submodule names give
    mmaction2's ``state_dict`` keys (``conv.weight``, ``bn.running_mean``). Used by C3D
    (conv + ReLU), the I3D-ResNet blocks (conv + BN (+ ReLU)) and the non-local block
    (1x1 projections without norm, an output conv + BN starting at zero), and as
    ``googlenet.basic_conv`` the Inception networks.

    Attributes:
      features: output channels.
      kernel_size, strides, padding: as ``Conv`` (per spatial axis or one for all;
        padding as PyTorch's).
      norm: follow with BatchNorm (and drop the convolution's bias).
      relu: end with a ReLU.
      zero_scale: start the BN scale at zero (zero-init residual; the non-local W_z).
      epsilon: BatchNorm epsilon (1e-3 in torchvision's Inception ``BasicConv2d``).
      kernel_init: initializer of the kernel.
      dtype: computation dtype.

    Shapes: ``[N, *spatial, C] -> [N, *spatial', features]``.
    """

    features: int
    kernel_size: IntOrSeq = 1
    strides: IntOrSeq = 1
    padding: IntOrSeq = 0
    norm: bool = True
    relu: bool = True
    zero_scale: bool = False
    epsilon: float = 1e-5
    kernel_init: nn.initializers.Initializer = kaiming_normal_fan_out
    dtype: Dtype = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        x = Conv(
            self.features,
            self.kernel_size,
            strides=self.strides,
            padding=self.padding,
            use_bias=not self.norm,
            kernel_init=self.kernel_init,
            dtype=self.dtype,
            name="conv",
        )(x)
        if self.norm:
            x = batch_norm(train, self.dtype, "bn", self.zero_scale, self.epsilon)(x)
        return nn.relu(x) if self.relu else x


# PyTorch's default init of nn.Linear and nn.ConvNd weights, kaiming_uniform_(a=sqrt(5)):
# U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in = in_channels * prod(kernel) (JAX's fan_in of a
# channels-last kernel).
torch_default_kernel_init = nn.initializers.variance_scaling(1.0 / 3.0, "fan_in", "uniform")


def torch_default_bias_init(fan_in: int) -> nn.initializers.Initializer:
    """PyTorch's default nn.Linear / nn.ConvNd bias init: U(-1/sqrt(fan_in), 1/sqrt(fan_in))."""

    def init(key: jax.Array, shape: Sequence[int], dtype: Dtype = jnp.float32) -> jax.Array:
        bound = 1.0 / math.sqrt(fan_in)
        return jax.random.uniform(key, shape, dtype, -bound, bound)

    return init


def dense(features: int, fan_in: int, dtype: Dtype, name: str) -> nn.Dense:
    """A linear layer with PyTorch's default ``nn.Linear`` initialization.

    kaiming_uniform(a=sqrt(5)) on the weight is U(-1/sqrt(fan_in), 1/sqrt(fan_in)), the
    same bound as the bias. The kernel is [in, out] (PyTorch's weight transposed).
    """
    return nn.Dense(
        features,
        kernel_init=torch_default_kernel_init,
        bias_init=torch_default_bias_init(fan_in),
        dtype=dtype,
        param_dtype=jnp.float32,
        name=name,
    )


def max_pool(
    x: jax.Array,
    window: IntOrSeq,
    strides: IntOrSeq,
    padding: IntOrSeq = 0,
    ceil_mode: bool = False,
) -> jax.Array:
    """PyTorch's ``MaxPool{1,2,3}d`` on channels-last input [N, *spatial, C].

    Padding is -inf (it never wins the max). With ``ceil_mode`` the output size per axis
    is ``ceil((n + 2p - k) / s) + 1``, less one if the last window would start in the
    right padding (PyTorch's rule), obtained by padding more on the right.
    """
    ndim = x.ndim - 2
    window, strides, padding = (lowerings.as_tuple(v, ndim) for v in (window, strides, padding))
    pads = []
    for n, k, s, p in zip(x.shape[1:-1], window, strides, padding, strict=True):
        extra = 0
        if ceil_mode:
            out = -(-(n + 2 * p - k) // s) + 1
            if (out - 1) * s >= n + p:
                out -= 1
            extra = max(0, (out - 1) * s + k - (n + 2 * p))
        pads.append((p, p + extra))
    return padded_pool(x, "max", window, strides, pads)


def avg_pool(x: jax.Array, window: IntOrSeq, strides: IntOrSeq, padding: IntOrSeq = 0) -> jax.Array:
    """PyTorch's ``AvgPool{1,2,3}d`` (``count_include_pad=True``, its default) on
    channels-last input [N, *spatial, C]: the zero padding counts in every mean."""
    ndim = x.ndim - 2
    window, strides, padding = (lowerings.as_tuple(v, ndim) for v in (window, strides, padding))
    return padded_pool(x, "avg", window, strides, [(p, p) for p in padding])


def padded_pool(
    x: jax.Array,
    kind: str,
    window: Sequence[int],
    strides: Sequence[int],
    pads: Sequence[tuple[int, int]],
) -> jax.Array:
    """Max ('max', -inf padding) or mean ('avg', zero padding counted) pooling of
    [N, *spatial, C] with explicit (before, after) pads per spatial axis.

    The pads are applied with `jnp.pad` and the window slides over the padded map, which
    is the same arithmetic as Flax's pooling with padding, written so that converters
    of exported models (jax2onnx drops a pooling's own padding) see it.
    """
    fill = -jnp.inf if kind == "max" else 0.0
    x = jnp.pad(x, ((0, 0), *pads, (0, 0)), constant_values=fill)
    pool = nn.max_pool if kind == "max" else nn.avg_pool
    return pool(x, window_shape=tuple(window), strides=tuple(strides))


def residual_block_class(block_cls: type[nn.Module], remat: bool) -> type[nn.Module]:
    """`block_cls`, or with `remat` the same block rematerialized (``nn.remat``).

    A rematerialized block keeps only its input for the backward pass and recomputes
    its activations there: activation memory falls to about one tensor per block, for
    roughly one more forward pass of compute (long 3D clips, large batches). The
    parameters and their names are unchanged, so checkpoints load either way. The block
    is called as ``block(x, train)``; ``train`` (argument 2 counting ``self``) is static.
    """
    return nn.remat(block_cls, static_argnums=(2,)) if remat else block_cls


def scaled_width(features: int, base_width: int) -> int:
    """A published layer width scaled by ``base_width / 64``, rounded, at least 1.

    ``base_width=64`` gives the published widths; tests build tiny models with e.g. 8.
    """
    return max(1, round(features * base_width / 64))


def dense_normal(features: int, stddev: float, dtype: Dtype, name: str) -> nn.Dense:
    """A linear layer initialized N(0, stddev^2) with a zero bias.

    The classifier init of torchvision's VGG (0.01) and mmaction2's C3D (0.005), where
    ``dense`` is PyTorch's default ``nn.Linear`` init. The kernel is [in, out].
    """
    return nn.Dense(
        features,
        kernel_init=nn.initializers.normal(stddev),
        bias_init=nn.initializers.zeros,
        dtype=dtype,
        param_dtype=jnp.float32,
        name=name,
    )


def fc_head(
    x: jax.Array,
    *,
    names: tuple[str, str, str],
    hidden: int,
    num_classes: int | None,
    stddev: float,
    dropout_rate: float,
    train: bool,
    dtype: Dtype,
) -> jax.Array:
    """The fully connected head of VGG and C3D: fc6, ReLU, dropout, fc7, ReLU (, dropout, fc8).

    Called inside a compact ``__call__``: the layers belong to the caller, under
    ``names`` (e.g. torchvision's ``classifier_0/3/6``, C3D's ``fc6/7/8``), initialized
    N(0, stddev^2) with zero biases (``dense_normal``).

    Args:
      x: [N, D] flattened features.
      names: module names of the three linear layers.
      hidden: width of fc6 and fc7.
      num_classes: width of fc8; ``None`` returns the fc7 features.
      stddev, dropout_rate, train, dtype: init, dropout (active when training), dtype.

    Returns:
      [N, num_classes] logits, or [N, hidden] fc7 features.
    """
    dropout = nn.Dropout(dropout_rate, deterministic=not train)
    x = nn.relu(dense_normal(hidden, stddev, dtype, names[0])(x))
    x = nn.relu(dense_normal(hidden, stddev, dtype, names[1])(dropout(x)))
    if num_classes is None:
        return x
    return dense_normal(num_classes, stddev, dtype, names[2])(dropout(x))


def adaptive_avg_pool(x: jax.Array, output_size: IntOrSeq) -> jax.Array:
    """PyTorch's ``AdaptiveAvgPool{1,2,3}d`` on channels-last input [N, *spatial, C].

    Output cell i of an axis of length n averages the input cells
    ``floor(i * n / o) .. ceil((i + 1) * n / o) - 1`` (neighbouring windows may overlap when
    o does not divide n, and repeat cells when o > n). A box average is separable, so the
    axes are pooled one after another. Returns [N, *output_size, C].
    """
    ndim = x.ndim - 2
    for axis, o in enumerate(lowerings.as_tuple(output_size, ndim), start=1):
        n = x.shape[axis]
        cells = [
            jnp.mean(
                jax.lax.slice_in_dim(x, i * n // o, -(-(i + 1) * n // o), axis=axis),
                axis=axis,
                keepdims=True,
            )
            for i in range(o)
        ]
        x = jnp.concatenate(cells, axis=axis)
    return x


def flatten_channels_first(x: jax.Array) -> jax.Array:
    """``[N, *spatial, C] -> [N, C * prod(spatial)]`` in the order of ``torch.flatten`` of
    the channels-first map, so that a converted fully connected layer (VGG's fc6, C3D's
    fc6) sees its inputs in the order it was trained on."""
    return jnp.reshape(jnp.moveaxis(x, -1, 1), (x.shape[0], -1))
