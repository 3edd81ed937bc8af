"""Layers shared by every backbone, with PyTorch's conventions.

`Conv` is a 1D/2D/3D convolution with PyTorch-style explicit padding (never
XLA's 'SAME', which pads strided convolutions asymmetrically and silently
shifts every feature map of a converted model) and a choice of lowering.
XLA's CPU convolutions are pathologically slow for some shapes that small-frame
training hits (a 3x3 convolution on a 2x2 map of 512 channels: 2.4 s
forward+backward for 96 images, against 37 ms as a matmul; a 7x7/2 first
convolution on 3 channels: 3x slower), so on CPU an ungrouped 1D/2D convolution
is computed as shifted slices concatenated along channels (im2col) times the
kernel reshaped to a matrix. GPU/TPU use XLA's own convolution (cuDNN on GPU). 3D
kernels on CPU use XLA's convolution too, but the gradient of a strided one is taken
through its polyphase decomposition (`conv_phases`), because XLA's CPU input gradient
of a strided convolution is 10-20x slower than a plain one. `conv_implementation`
overrides the choice while tracing.
Both give the same result up to float rounding, and the parameter is the same
channels-last kernel ('HWIO', or 'DHWIO' in 3D) either way.

`batch_norm`, `dense` and `max_pool` give PyTorch's BatchNorm, nn.Linear
initialization and ceil-mode max pooling, so that converted weights give the
reference logits.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import itertools
import math
from collections.abc import Iterator, Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

Dtype = Any
IntOrSeq = int | Sequence[int]
CONV_IMPLEMENTATIONS = ("auto", "xla", "im2col", "polyphase")

# torchvision's conv init: nn.init.kaiming_normal_(w, mode="fan_out", nonlinearity="relu"),
# an untruncated normal with std sqrt(2 / (out_channels * prod(kernel))). JAX's fan_out of a
# channels-last kernel is the same quantity.
kaiming_normal_fan_out = nn.initializers.variance_scaling(2.0, "fan_out", "normal")


def _tuple(value: IntOrSeq, ndim: int) -> tuple[int, ...]:
    if isinstance(value, int):
        return (value,) * ndim
    value = tuple(value)
    if len(value) != ndim:
        raise ValueError(f"expected {ndim} values, got {value}")
    return value


def _pad_input(
    x: jax.Array, window: Sequence[int], strides: Sequence[int], padding: Sequence[int]
) -> tuple[jax.Array, list[int]]:
    """[N, *spatial, C] zero-padded on both sides of each spatial axis, and the output
    size per axis of a `window` kernel at `strides` over it."""
    x = jnp.pad(x, ((0, 0), *((p, p) for p in padding), (0, 0)))
    sizes = x.shape[1:-1]
    return x, [(n - k) // s + 1 for n, k, s in zip(sizes, window, strides, strict=True)]


def conv_im2col(
    x: jax.Array, kernel: jax.Array, strides: Sequence[int], padding: Sequence[int]
) -> jax.Array:
    """N-d convolution as one matmul over shifted slices.

    Args:
      x: [N, *spatial, C] input.
      kernel: [*kernel_size, C, O] weights (channels last, e.g. HWIO).
      strides: one per spatial axis.
      padding: zeros added on both sides of each spatial axis (PyTorch's `padding`).

    Returns:
      [N, *out_spatial, O] with out = (size + 2p - k) // s + 1 per axis.
    """
    *window, c, o = kernel.shape
    x, out = _pad_input(x, window, strides, padding)
    columns = []
    # Offsets in the kernel's memory order (last axis fastest), matching its reshape.
    for offset in itertools.product(*(range(k) for k in window)):
        index = tuple(
            slice(i, i + s * (m - 1) + 1, s) for i, s, m in zip(offset, strides, out, strict=True)
        )
        columns.append(x[(slice(None), *index)])
    patches = columns[0] if len(columns) == 1 else jnp.concatenate(columns, axis=-1)
    taps = math.prod(window) * c
    y = jnp.dot(patches.reshape(-1, taps), kernel.reshape(taps, o))
    return y.reshape(x.shape[0], *out, o)


def conv_xla(
    x: jax.Array,
    kernel: jax.Array,
    strides: Sequence[int],
    padding: Sequence[int],
    feature_group_count: int = 1,
) -> jax.Array:
    """The same convolution through `lax.conv_general_dilated` (grouped if asked)."""
    spatial = "DHW"[-len(strides) :] if len(strides) <= 3 else None
    if spatial is None:
        raise ValueError(f"convolutions of up to 3 spatial axes, got {len(strides)}")
    return jax.lax.conv_general_dilated(
        x,
        kernel,
        tuple(strides),
        tuple((p, p) for p in padding),
        dimension_numbers=(f"N{spatial}C", f"{spatial}IO", f"N{spatial}C"),
        feature_group_count=feature_group_count,
    )


def conv_phases(
    x: jax.Array, kernel: jax.Array, strides: Sequence[int], padding: Sequence[int]
) -> jax.Array:
    """A strided convolution as the sum of stride-1 convolutions of its input phases.

    With stride s on an axis, output o reads padded input s*o + t through tap t; grouping
    the taps by phase r = t mod s gives the taps r, r+s, ... over the input samples r,
    r+s, ..., i.e. a stride-1 convolution of x[r::s] with kernel[r::s]. Summed over the
    prod(s) phases this is the same convolution with the same FLOPs (the polyphase
    decomposition of a decimating filter). Its gradients are stride-1 convolutions plus
    the transposes of strided slices, so XLA never sees the input-dilated convolution
    that the gradient of a strided convolution otherwise becomes.

    Args/Returns: as `conv_im2col`.
    """
    ndim = len(strides)
    window = kernel.shape[:ndim]
    x, out = _pad_input(x, window, strides, padding)
    y = None
    phases = (range(min(s, k)) for s, k in zip(strides, window, strict=True))
    for phase in itertools.product(*phases):
        sub_kernel = kernel[tuple(slice(r, None, s) for r, s in zip(phase, strides, strict=True))]
        taps = sub_kernel.shape[:ndim]
        # Phase r of the input, long enough for `out` outputs of a `taps`-tap kernel.
        index = tuple(
            slice(r, r + s * (m + j - 2) + 1, s)
            for r, s, m, j in zip(phase, strides, out, taps, strict=True)
        )
        part = conv_xla(x[(slice(None), *index)], sub_kernel, (1,) * ndim, (0,) * ndim)
        y = part if y is None else y + part
    return y


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3))
def conv_polyphase(
    x: jax.Array, kernel: jax.Array, strides: tuple[int, ...], padding: tuple[int, ...]
) -> jax.Array:
    """XLA's convolution forward, the gradients of `conv_phases` backward.

    XLA's CPU backend runs the input gradient of a strided convolution (a convolution
    with a dilated input) at 3-7 GFLOP/s against ~60 for the others on the 2-core
    development machine; through the polyphase decomposition every gradient is a
    stride-1 convolution. The forward keeps XLA's own strided convolution, which is
    fast. Same arguments and result as `conv_xla` without groups; `strides` and
    `padding` must be tuples.
    """
    return conv_xla(x, kernel, strides, padding)


def _conv_polyphase_forward(x, kernel, strides, padding):
    return conv_xla(x, kernel, strides, padding), (x, kernel)


def _conv_polyphase_backward(strides, padding, residuals, g):
    x, kernel = residuals
    _, vjp = jax.vjp(lambda a, b: conv_phases(a, b, strides, padding), x, kernel)
    return vjp(g)


conv_polyphase.defvjp(_conv_polyphase_forward, _conv_polyphase_backward)


_AUTO_IMPLEMENTATION = contextvars.ContextVar("conv_implementation", default="auto")


@contextlib.contextmanager
def conv_implementation(implementation: str) -> Iterator[None]:
    """Lowers every ``Conv(implementation='auto')`` traced inside the block as asked.

    A trace-time setting: functions must be traced (or jitted for the first time) inside
    the block. On CPU the im2col lowering runs fast but compiles slowly (hundreds of
    slices in a 3D network: 42 s against 7 s with 'xla' for a full-width R3D-18 on a
    loaded 2-core machine), so one-shot evaluations such as parity tests use 'xla'.

    Args:
      implementation: one of ``CONV_IMPLEMENTATIONS``.
    """
    if implementation not in CONV_IMPLEMENTATIONS:
        raise ValueError(
            f"unknown conv implementation {implementation!r}; known: {CONV_IMPLEMENTATIONS}"
        )
    token = _AUTO_IMPLEMENTATION.set(implementation)
    try:
        yield
    finally:
        _AUTO_IMPLEMENTATION.reset(token)


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
        of `conv_phases` where a stride exceeds 1), or 'auto': on CPU im2col for 1D/2D
        kernels and polyphase for 3D ones, xla on GPU/TPU, unless
        ``conv_implementation`` says otherwise.
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
        if self.implementation not in CONV_IMPLEMENTATIONS:
            raise ValueError(
                f"unknown conv implementation {self.implementation!r}; "
                f"known: {CONV_IMPLEMENTATIONS}"
            )
        ndim = x.ndim - 2
        window = _tuple(self.kernel_size, ndim)
        strides = _tuple(self.strides, ndim)
        padding = _tuple(self.padding, ndim)
        groups = self.feature_group_count
        if x.shape[-1] % groups or self.features % groups:
            raise ValueError(
                f"channels {x.shape[-1]} -> {self.features} not divisible into {groups} groups"
            )
        shape = (*window, x.shape[-1] // groups, self.features)
        kernel = self.param("kernel", self.kernel_init, shape, jnp.float32)
        x, kernel = jnp.asarray(x, self.dtype), jnp.asarray(kernel, self.dtype)
        implementation = self.implementation
        if implementation == "auto":
            implementation = _AUTO_IMPLEMENTATION.get()
        if implementation == "auto":
            # im2col pays off for 1D/2D kernels on CPU; for 3D kernels its hundreds of
            # slices compile ~40x slower than XLA's convolution (2.3 s vs 0.05 s for a
            # 3x3x3 layer), which dominates any run short of a long training, so they
            # take XLA's convolution with the polyphase gradient.
            if jax.default_backend() != "cpu":
                implementation = "xla"
            else:
                implementation = "im2col" if ndim <= 2 else "polyphase"
        if implementation == "im2col" and groups == 1:
            y = conv_im2col(x, kernel, strides, padding)
        elif implementation == "polyphase" and groups == 1 and max(strides) > 1:
            y = conv_polyphase(x, kernel, strides, padding)
        else:
            y = conv_xla(x, kernel, strides, padding, groups)
        if self.use_bias:
            bias = self.param("bias", self.bias_init, (self.features,), jnp.float32)
            y = y + jnp.asarray(bias, self.dtype)
        return y


_RUNNING_AVERAGE_PATHS: contextvars.ContextVar[frozenset[tuple[str, ...]]] = contextvars.ContextVar(
    "running_average_paths", default=frozenset()
)


@contextlib.contextmanager
def batch_norm_running_average(paths: frozenset[tuple[str, ...]]) -> Iterator[None]:
    """BatchNorm layers at these module paths use their running averages, even in training.

    A trace-time setting, like `conv_implementation`: for partial BN (TSN) and
    frozen stages (Hara et al.), whose BatchNorm layers neither normalize with
    batch statistics nor update their running averages.

    Args:
      paths: module paths as Flax names them, e.g. ``('backbone', 'layer1_0', 'bn1')``.
    """
    token = _RUNNING_AVERAGE_PATHS.set(frozenset(paths))
    try:
        yield
    finally:
        _RUNNING_AVERAGE_PATHS.reset(token)


def _batch_norm_forward(x, scale, bias, epsilon, dtype):
    """Flax's training-mode BatchNorm arithmetic: float32 statistics over every axis but
    the last (E[x^2] - E[x]^2, clipped at 0), then (x - mean) * (rsqrt(var + eps) * scale)
    + bias, cast to `dtype`."""
    axes = tuple(range(x.ndim - 1))
    x32 = x.astype(jnp.float32)
    mean = x32.mean(axes)
    var = jnp.maximum(0.0, jnp.square(x32).mean(axes) - jnp.square(mean))
    inv = jax.lax.rsqrt(var + epsilon)
    y = ((x32 - mean) * (inv * scale) + bias).astype(dtype)
    return y, mean, var, inv


@functools.partial(jax.custom_vjp, nondiff_argnums=(3, 4))
def batch_norm_train(
    x: jax.Array, scale: jax.Array, bias: jax.Array, epsilon: float, dtype: Dtype
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Training-mode BatchNorm whose backward pass keeps only its input.

    Autodiff of Flax's BatchNorm keeps float32 copies of the input and of the centred
    input (8 bytes an element whatever the compute dtype); this one keeps the input as
    it came (2 bytes an element in bfloat16) with the per-channel mean and rsqrt(var +
    eps), and recomputes the normalized input in the backward pass. Forward values are
    Flax's, operation for operation.

    Args:
      x: [..., C] input (any float dtype; statistics are float32).
      scale, bias: [C] float32.
      epsilon: added to the variance.
      dtype: dtype of the output.

    Returns:
      y [..., C] in `dtype`, and the batch mean and (biased) variance, [C] float32.
    """
    return _batch_norm_forward(x, scale, bias, epsilon, dtype)[:3]


def _batch_norm_train_forward(x, scale, bias, epsilon, dtype):
    y, mean, var, inv = _batch_norm_forward(x, scale, bias, epsilon, dtype)
    return (y, mean, var), (x, mean, inv, scale)


def _batch_norm_train_backward(epsilon, dtype, residuals, cotangents):
    del epsilon, dtype  # the residuals hold what the gradient needs
    x, mean, inv, scale = residuals
    g_y, g_mean, g_var = cotangents
    axes = tuple(range(x.ndim - 1))
    count = x.size // x.shape[-1]
    centred = x.astype(jnp.float32) - mean
    x_hat = centred * inv
    g = g_y.astype(jnp.float32)
    g_bias = g.sum(axes)
    g_scale = (g * x_hat).sum(axes)
    # d/dx of y = x_hat * scale + bias through x_hat and the batch statistics, plus the
    # (usually zero) cotangents of the returned mean and variance.
    g_x = (inv * scale) * (g - (g_bias + x_hat * g_scale) / count)
    g_x = g_x + (g_mean + 2.0 * g_var * centred) / count
    return g_x.astype(x.dtype), g_scale, g_bias


batch_norm_train.defvjp(_batch_norm_train_forward, _batch_norm_train_backward)


class BatchNorm(nn.BatchNorm):
    """Flax's BatchNorm whose training mode the enclosing `batch_norm_running_average` can veto.

    In training mode it normalizes with `batch_norm_train` (Flax's arithmetic, a backward
    pass that keeps 2-4x fewer bytes) and updates the running averages as Flax does; the
    variables (params 'scale', 'bias'; batch_stats 'mean', 'var') are Flax's. Only the
    default layout (features last, scale and bias, no mask or axis_name) is supported.

    Attributes:
      train: batch statistics (and running-average updates) unless this layer's
        path is in the active `batch_norm_running_average` set.
    """

    train: bool = False

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        fixed = not self.train or self.path in _RUNNING_AVERAGE_PATHS.get()
        if fixed:
            return super().__call__(x, use_running_average=True)
        if self.axis != -1 or not (self.use_bias and self.use_scale) or self.axis_name:
            raise NotImplementedError(
                "layers.BatchNorm trains with features last, scale and bias, and no "
                "axis_name (use flax.linen.BatchNorm for other layouts)"
            )
        features = (x.shape[-1],)
        ra_mean = self.variable("batch_stats", "mean", jnp.zeros, features, jnp.float32)
        ra_var = self.variable("batch_stats", "var", jnp.ones, features, jnp.float32)
        scale = self.param("scale", self.scale_init, features, self.param_dtype)
        bias = self.param("bias", self.bias_init, features, self.param_dtype)
        dtype = self.dtype or jnp.result_type(x, scale)
        y, mean, var = batch_norm_train(x, scale, bias, self.epsilon, dtype)
        if not self.is_initializing():
            ra_mean.value = self.momentum * ra_mean.value + (1 - self.momentum) * mean
            ra_var.value = self.momentum * ra_var.value + (1 - self.momentum) * var
        return y


def batch_norm(
    train: bool,
    dtype: Dtype,
    name: str,
    zero_scale: bool = False,
    epsilon: float = 1e-5,
    momentum: float = 0.1,
) -> BatchNorm:
    """BatchNorm with PyTorch's defaults (momentum 0.1 == flax momentum 0.9).

    Statistics are reduced over every axis but the last of the *global* array, so under
    ``jit`` with a batch sharded over devices they are synchronized across devices (the
    SyncBN behaviour of the original TSN multi-GPU training) without an ``axis_name``.

    Args:
      train: normalize with batch statistics (and update the running averages when
        ``batch_stats`` is mutable); ``False`` uses the running averages, as does a
        layer named by `batch_norm_running_average`.
      dtype: computation dtype; scale, bias and statistics stay float32.
      name: module name (torchvision's, e.g. ``'bn1'``).
      zero_scale: start the scale at zero (zero-init residual, Goyal et al. 2017).
      epsilon: 1e-5 (PyTorch's default); torchvision's GoogLeNet and Inception-v3 use
        1e-3.
      momentum: PyTorch's convention (weight of the new batch statistics, flax's is one
        minus it): 0.1 by default; torchvision's S3D uses 0.001.

    Note: flax updates ``var`` with the biased batch variance where PyTorch uses the
    unbiased one; this only changes how running statistics accumulate during training,
    not the forward pass of converted weights.
    """
    return BatchNorm(
        train=train,
        momentum=1.0 - momentum,
        epsilon=epsilon,
        dtype=dtype,
        param_dtype=jnp.float32,
        scale_init=nn.initializers.zeros if zero_scale else nn.initializers.ones,
        bias_init=nn.initializers.zeros,
        name=name,
    )


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
    window, strides, padding = (_tuple(v, ndim) for v in (window, strides, padding))
    pads = []
    for n, k, s, p in zip(x.shape[1:-1], window, strides, padding, strict=True):
        extra = 0
        if ceil_mode:
            out = -(-(n + 2 * p - k) // s) + 1
            if (out - 1) * s >= n + p:
                out -= 1
            extra = max(0, (out - 1) * s + k - (n + 2 * p))
        pads.append((p, p + extra))
    return nn.max_pool(x, window, strides=strides, padding=tuple(pads))


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
    for axis, o in enumerate(_tuple(output_size, ndim), start=1):
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
