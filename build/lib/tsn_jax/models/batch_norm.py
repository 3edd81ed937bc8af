"""BatchNorm with PyTorch's defaults, a lighter backward pass, and partial BN by data.

`batch_norm` builds the layer every backbone uses. In training mode it normalizes
with `batch_norm_train` (Flax's arithmetic; a custom VJP that keeps only its input),
unless the model is applied with a `FIXED_STATISTICS` collection naming the layer:
then it uses and keeps its running averages, as partial BN (TSN TPAMI Sec. 3.4) and
frozen stages (Hara et al. ICPR 2018, Fig. 2) ask. The train step passes that
collection (`fixed_statistics_collection`, from `finetune.fixed_statistics_paths`),
so the policy travels with the `apply` call, from the config to the layer.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

Dtype = Any

# The variable collection whose entries name the BatchNorm layers that keep their
# running averages in training: {'backbone': {'layer1_0': {'bn1': {'fixed': ...}}}}.
FIXED_STATISTICS = "fixed_statistics"


def fixed_statistics_collection(paths: Iterable[tuple[str, ...]]) -> dict[str, Any]:
    """The `FIXED_STATISTICS` collection for BatchNorm module paths such as
    ``('backbone', 'layer1_0', 'bn1')``: one placeholder leaf per layer (only its
    presence is read)."""
    tree: dict[str, Any] = {}
    for path in paths:
        node = tree
        for name in path:
            node = node.setdefault(name, {})
        node["fixed"] = np.zeros((), np.bool_)
    return tree


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
    """Flax's BatchNorm whose training mode a `FIXED_STATISTICS` entry can veto.

    In training mode it normalizes with `batch_norm_train` (Flax's arithmetic, a backward
    pass that keeps 2-4x fewer bytes) and updates the running averages as Flax does; the
    variables (params 'scale', 'bias'; batch_stats 'mean', 'var') are Flax's. Only the
    default layout (features last, scale and bias, no mask or axis_name) is supported.

    Attributes:
      train: batch statistics (and running-average updates) unless the model is
        applied with a `FIXED_STATISTICS` entry for this layer.
    """

    train: bool = False

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        fixed = not self.train or self.has_variable(FIXED_STATISTICS, "fixed")
        if fixed:
            return super().__call__(x, use_running_average=True)
        if self.axis != -1 or not (self.use_bias and self.use_scale) or self.axis_name:
            raise NotImplementedError(
                "batch_norm.BatchNorm trains with features last, scale and bias, and no "
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
        layer named in the `FIXED_STATISTICS` collection.
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
