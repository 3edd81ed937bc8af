"""How a convolution is lowered: XLA's own, im2col, or XLA's with polyphase gradients.

XLA's CPU convolutions are pathologically slow for some shapes that small-frame
training hits (a 3x3 convolution on a 2x2 map of 512 channels: 2.4 s
forward+backward for 96 images, against 37 ms as a matmul; a 7x7/2 first
convolution on 3 channels: 3x slower), so on CPU an ungrouped 1D/2D convolution
is computed as shifted slices concatenated along channels (im2col) times the
kernel reshaped to a matrix. GPU/TPU use XLA's own convolution (cuDNN on GPU). 3D
kernels on CPU use XLA's convolution too, but the gradient of a strided one is taken
through its polyphase decomposition (`conv_phases`), because XLA's CPU input gradient
of a strided convolution is 10-20x slower than a plain one. All give the same result
up to float rounding, on the same channels-last kernel ('HWIO', or 'DHWIO' in 3D).

`convolve` picks the lowering (`layers.Conv` calls it); `conv_implementation`
overrides 'auto' while tracing (one-off evaluations use 'xla', which compiles faster).
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import itertools
import math
from collections.abc import Iterator, Sequence

import jax
import jax.numpy as jnp

IntOrSeq = int | Sequence[int]


def as_tuple(value: IntOrSeq, ndim: int) -> tuple[int, ...]:
    """An int repeated `ndim` times, or a sequence of exactly `ndim` ints, as a tuple."""
    if isinstance(value, int):
        return (value,) * ndim
    value = tuple(value)
    if len(value) != ndim:
        raise ValueError(f"expected {ndim} values, got {value}")
    return value


CONV_IMPLEMENTATIONS = ("auto", "xla", "im2col", "polyphase")


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
    check_implementation(implementation)
    token = _AUTO_IMPLEMENTATION.set(implementation)
    try:
        yield
    finally:
        _AUTO_IMPLEMENTATION.reset(token)


def check_implementation(implementation: str) -> None:
    """Raises ValueError for a name not in `CONV_IMPLEMENTATIONS`."""
    if implementation not in CONV_IMPLEMENTATIONS:
        raise ValueError(
            f"unknown conv implementation {implementation!r}; known: {CONV_IMPLEMENTATIONS}"
        )


def convolve(
    x: jax.Array,
    kernel: jax.Array,
    strides: Sequence[int],
    padding: Sequence[int],
    groups: int,
    implementation: str,
) -> jax.Array:
    """[N, *spatial, C] convolved with a channels-last kernel, lowered as asked.

    'auto' takes the innermost `conv_implementation`, or else on CPU im2col for 1D/2D
    kernels and polyphase for 3D ones, and xla on GPU/TPU. Grouped convolutions always
    use XLA's lowering; 'polyphase' only changes strided ones.
    """
    check_implementation(implementation)
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
            implementation = "im2col" if len(strides) <= 2 else "polyphase"
    if implementation == "im2col" and groups == 1:
        return conv_im2col(x, kernel, strides, padding)
    if implementation == "polyphase" and groups == 1 and max(strides) > 1:
        return conv_polyphase(x, kernel, strides, padding)
    return conv_xla(x, kernel, strides, padding, groups)
