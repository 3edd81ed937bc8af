"""Layers shared by the backbones.

`Conv2D` is a bias-free 2D convolution with PyTorch-style explicit padding and
a choice of lowering. XLA's CPU convolutions are pathologically slow for some
shapes that small-frame training hits (a 3x3 convolution on a 2x2 map of 512
channels: 2.4 s forward+backward for 96 images, against 37 ms as a matmul; a
7x7/2 first convolution on 3 channels: 3x slower), so on CPU the convolution is
computed as shifted slices concatenated along channels (im2col) times the
kernel reshaped to a matrix. On GPU/TPU XLA's own convolution (cuDNN) is used.
Both give the same result up to float rounding, and the parameter is the same
HWIO 'kernel' either way.
"""

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

Dtype = Any
CONV_IMPLEMENTATIONS = ("auto", "xla", "im2col")


def conv2d_im2col(x: jax.Array, kernel: jax.Array, stride: int, padding: int) -> jax.Array:
    """2D convolution as one matmul over shifted slices.

    Args:
      x: [N, H, W, C] input.
      kernel: [KH, KW, C, O] weights (HWIO).
      stride: the same along both axes.
      padding: zeros added on every side (PyTorch's `padding`).

    Returns:
      [N, (H + 2p - KH) // s + 1, (W + 2p - KW) // s + 1, O].
    """
    kh, kw, c, o = kernel.shape
    if padding:
        x = jnp.pad(x, ((0, 0), (padding, padding), (padding, padding), (0, 0)))
    n, h, w, _ = x.shape
    out_h = (h - kh) // stride + 1
    out_w = (w - kw) // stride + 1
    columns = [
        x[:, i : i + stride * (out_h - 1) + 1 : stride, j : j + stride * (out_w - 1) + 1 : stride]
        for i in range(kh)
        for j in range(kw)
    ]
    patches = columns[0] if len(columns) == 1 else jnp.concatenate(columns, axis=-1)
    out = jnp.dot(patches.reshape(-1, kh * kw * c), kernel.reshape(kh * kw * c, o))
    return out.reshape(n, out_h, out_w, o)


def conv2d_xla(x: jax.Array, kernel: jax.Array, stride: int, padding: int) -> jax.Array:
    """The same convolution through `lax.conv_general_dilated`."""
    return jax.lax.conv_general_dilated(
        x,
        kernel,
        (stride, stride),
        ((padding, padding), (padding, padding)),
        dimension_numbers=("NHWC", "HWIO", "NHWC"),
    )


class Conv2D(nn.Module):
    """Square bias-free convolution, NHWC, with explicit symmetric padding.

    Attributes:
      features: output channels.
      kernel_size: side of the square kernel.
      stride: stride along both spatial axes.
      padding: zeros on every side, as PyTorch's `padding` (never XLA's 'SAME',
        which pads strided convolutions asymmetrically).
      implementation: 'xla', 'im2col', or 'auto' (im2col on CPU, xla elsewhere).
      kernel_init: initializer of the HWIO kernel.
      dtype: computation dtype; the parameter stays float32.

    Shapes: [N, H, W, C] -> [N, H', W', features].
    """

    features: int
    kernel_size: int
    stride: int = 1
    padding: int = 0
    implementation: str = "auto"
    kernel_init: nn.initializers.Initializer = nn.initializers.lecun_normal()
    dtype: Dtype = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        if self.implementation not in CONV_IMPLEMENTATIONS:
            raise ValueError(
                f"unknown conv implementation {self.implementation!r}; "
                f"known: {CONV_IMPLEMENTATIONS}"
            )
        shape = (self.kernel_size, self.kernel_size, x.shape[-1], self.features)
        kernel = self.param("kernel", self.kernel_init, shape, jnp.float32)
        x, kernel = jnp.asarray(x, self.dtype), jnp.asarray(kernel, self.dtype)
        implementation = self.implementation
        if implementation == "auto":
            implementation = "im2col" if jax.default_backend() == "cpu" else "xla"
        conv = conv2d_im2col if implementation == "im2col" else conv2d_xla
        return conv(x, kernel, self.stride, self.padding)
