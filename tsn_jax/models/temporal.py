"""Temporal modules for 2D backbones: TSM, TAM, non-local blocks, temporal pooling.

A 2D backbone inside TSN sees the K snippets of a video folded into the batch,
``[N * K, H, W, C]`` with the snippets of a video consecutive (``tsn.fold_snippets``).
These modules unfold ``[N, K, ...]``, mix information along K, and fold back, so that
a 2D network models time at the cost of a few parameters (Chen et al., "Deep Analysis
of CNN-based Spatio-temporal Representations for Action Recognition", CVPR 2021, Sec. 3).

* ``temporal_shift`` -- TSM (Lin et al., ICCV 2019): a fraction of the channels moves
  one segment back, as many one segment forward, zeros enter at the ends.
* ``TemporalAggregation`` -- TAM (Fan et al., NeurIPS 2019, as used by Chen et al.):
  per-channel (depthwise 1x1) weights on each of the previous, current and next
  segments, summed, then ReLU.
* ``NonLocal`` -- the embedded-Gaussian non-local block (Wang et al., CVPR 2018) over
  all positions of all segments (or frames of a 3D clip).
* ``temporal_max_pool`` -- max pooling over segments (kernel 3, stride 2, padding 1),
  halving K between stages ("temporal pooling" in Chen et al. and TSM).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from tsn_jax.models.layers import (
    ConvModule,
    kaiming_normal_fan_out,
    max_pool,
    torch_default_kernel_init,
)

__all__ = [
    "PLACEMENTS",
    "TAM_INITS",
    "TEMPORAL_MODULES",
    "NonLocal",
    "TemporalAggregation",
    "TemporalMixing",
    "blocks_with_module",
    "temporal_max_pool",
    "temporal_shift",
]

Dtype = Any
TEMPORAL_MODULES = ("tsm", "tam")
PLACEMENTS = ("all", "bottom_half", "top_half", "every_other", "tsm_authors")


def _unfold(x: jax.Array, num_segments: int) -> jax.Array:
    """``[N * K, ...] -> [N, K, ...]``, checking that the rows are whole videos."""
    if x.shape[0] % num_segments:
        raise ValueError(f"{x.shape[0]} rows are not whole videos of {num_segments} segments")
    return jnp.reshape(x, (-1, num_segments, *x.shape[1:]))


def _fold(x: jax.Array) -> jax.Array:
    """``[N, K, ...] -> [N * K, ...]``."""
    return jnp.reshape(x, (-1, *x.shape[2:]))


def temporal_shift(x: jax.Array, num_segments: int, fraction: float = 0.125) -> jax.Array:
    """Temporal shift of TSM (Lin et al. 2019, Sec. 3).

    Of C channels, the first ``int(C * fraction)`` of segment k take their values from
    segment k + 1 (shifted backward in time, zeros at the last segment) and the next as
    many from segment k - 1 (shifted forward, zeros at the first); the rest are
    unchanged. ``fraction=1/8`` is the paper's 1/8 each way (1/4 moved in total), the
    ``n_div=8`` of the public code.

    Args:
      x: ``[N * K, ..., C]``, the K segments of each video consecutive.
      num_segments: K.
      fraction: share of channels shifted in each direction, in [0, 0.5].

    Returns:
      An array of the same shape.
    """
    if not 0.0 <= fraction <= 0.5:
        raise ValueError(f"shift fraction must be in [0, 0.5], got {fraction}")
    fold = int(x.shape[-1] * fraction)
    if fold == 0:
        return x
    y = _unfold(x, num_segments)
    zeros = jnp.zeros_like(y[:, :1, ..., :fold])
    from_next = jnp.concatenate([y[:, 1:, ..., :fold], zeros], axis=1)
    from_previous = jnp.concatenate([zeros, y[:, :-1, ..., fold : 2 * fold]], axis=1)
    y = jnp.concatenate([from_next, from_previous, y[..., 2 * fold :]], axis=-1)
    return _fold(y)


def _shift_segments(y: jax.Array, offset: int) -> jax.Array:
    """Row k of ``[N, K, ...]`` gets row ``k + offset``; zeros outside [0, K)."""
    if offset == 0:
        return y
    k = y.shape[1]
    if abs(offset) >= k:
        return jnp.zeros_like(y)
    zeros = jnp.zeros_like(y[:, : abs(offset)])
    if offset > 0:
        return jnp.concatenate([y[:, offset:], zeros], axis=1)
    return jnp.concatenate([zeros, y[:, :offset]], axis=1)


class _ChannelWeights(nn.Module):
    """A depthwise 1x1 convolution, i.e. one weight per channel, named like the reference.

    The kernel keeps the layout of PyTorch's ``Conv2d(C, C, 1, groups=C)`` (HWIO
    ``[1, 1, 1, C]``, under ``fc1`` as in Chen et al.'s ``SEModule``) so that reference
    checkpoints convert; it is computed as a product, no convolution needed.
    """

    kernel_init: nn.initializers.Initializer = kaiming_normal_fan_out
    dtype: Dtype = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        c = x.shape[-1]
        kernel = self.param("kernel", self.kernel_init, (1, 1, 1, c), jnp.float32)
        return x * jnp.asarray(kernel.reshape(c), self.dtype)


class _SEModule(nn.Module):
    kernel_init: nn.initializers.Initializer = kaiming_normal_fan_out
    dtype: Dtype = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        return _ChannelWeights(self.kernel_init, self.dtype, name="fc1")(x)


# TAM's weight initializations, as in Chen et al.'s code: their ResNets re-initialize every
# Conv2d with kaiming_normal(fan_out), which for a depthwise kernel (fan_out C) is
# N(0, 2 / C); their GoogLeNet does not re-initialize its TAMs, which keep PyTorch's
# default for a depthwise 1x1 kernel (fan_in 1): U(-1, 1).
TAM_INITS = {"resnet": kaiming_normal_fan_out, "googlenet": torch_default_kernel_init}


class TemporalAggregation(nn.Module):
    """TAM, depthwise temporal aggregation (Fan et al. 2019; Chen et al. 2021).

    For ``blending_frames = 3`` (the default): ``relu(w_prev * x[k-1] + w_curr * x[k] +
    w_next * x[k+1])`` per channel, zeros beyond the ends, with parameter names
    ``prev_se/fc1``, ``curr_se/fc1``, ``next_se/fc1`` as in Chen et al.'s code. Other odd
    counts use offsets ``-(b // 2) .. b // 2`` with names ``blending_layers_i/fc1``.
    ``blending='max'`` takes the maximum instead of the sum.

    Attributes:
      num_segments: K.
      blending_frames: neighbouring segments aggregated (odd).
      blending: 'sum' (the paper) or 'max'.
      kernel_init: initializer of the per-channel weights (``TAM_INITS``).
      dtype: computation dtype.

    Shapes: ``[N * K, H, W, C] -> [N * K, H, W, C]``.
    """

    num_segments: int
    blending_frames: int = 3
    blending: str = "sum"
    kernel_init: nn.initializers.Initializer = kaiming_normal_fan_out
    dtype: Dtype = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        if self.blending_frames < 1 or self.blending_frames % 2 == 0:
            raise ValueError(f"blending_frames must be odd, got {self.blending_frames}")
        if self.blending not in ("sum", "max"):
            raise ValueError(f"blending must be 'sum' or 'max', got {self.blending!r}")
        half = self.blending_frames // 2
        if self.blending_frames == 3:
            names = ["prev_se", "curr_se", "next_se"]
        else:
            names = [f"blending_layers_{i}" for i in range(self.blending_frames)]
        # Output segment k receives the term of segment k + offset.
        terms = [
            _shift_segments(
                _unfold(_SEModule(self.kernel_init, self.dtype, name=name)(x), self.num_segments),
                o,
            )
            for o, name in zip(range(-half, half + 1), names, strict=True)
        ]
        stacked = jnp.stack(terms)
        out = jnp.sum(stacked, axis=0) if self.blending == "sum" else jnp.max(stacked, axis=0)
        return _fold(nn.relu(out))


@dataclasses.dataclass(frozen=True)
class TemporalMixing:
    """Which temporal module a residual block applies, and how.

    Both modules act on the input of the residual branch (the identity path is left
    alone): TSM's "residual shift" (Lin et al. Sec. 3.3; ``shift_inplace=True`` gives
    their in-place variant, which shifts the block input for both paths) and TAM as
    placed by Chen et al. (before the block's first convolution).

    Attributes:
      kind: 'tsm' or 'tam'.
      num_segments: K, segments per video at this block (after any temporal pooling).
      shift_fraction: TSM, share of channels shifted each way (1/8).
      shift_inplace: TSM, shift the block input instead of only the residual branch.
      blending_frames: TAM, segments aggregated (3).
      blending: TAM, 'sum' or 'max'.
      tam_init: TAM, the initialization of its weights as in the named network of Chen et
        al.'s code, 'resnet' or 'googlenet' (``TAM_INITS``).
    """

    kind: str
    num_segments: int
    shift_fraction: float = 0.125
    shift_inplace: bool = False
    blending_frames: int = 3
    blending: str = "sum"
    tam_init: str = "resnet"

    def __post_init__(self):
        if self.kind not in TEMPORAL_MODULES:
            raise ValueError(f"unknown temporal module {self.kind!r}; known: {TEMPORAL_MODULES}")
        if self.tam_init not in TAM_INITS:
            raise ValueError(f"unknown TAM init {self.tam_init!r}; known: {sorted(TAM_INITS)}")

    def mix(self, x: jax.Array, dtype: Dtype, name: str = "tam") -> jax.Array:
        """The module applied to the whole feature map x (``[N * K, H, W, C]``).

        Called inside a compact ``__call__``: TAM's parameters belong to the caller,
        under ``name``.
        """
        if self.kind == "tsm":
            return temporal_shift(x, self.num_segments, self.shift_fraction)
        tam = TemporalAggregation(
            self.num_segments,
            self.blending_frames,
            self.blending,
            TAM_INITS[self.tam_init],
            dtype,
            name=name,
        )
        return tam(x)

    def inputs(self, x: jax.Array, dtype: Dtype) -> tuple[jax.Array, jax.Array]:
        """The (identity, residual-branch) inputs of a block whose input is x.

        Called inside a block's compact ``__call__``: TAM's parameters belong to the block
        (under ``tam``).
        """
        mixed = self.mix(x, dtype)
        if self.kind == "tsm" and self.shift_inplace:
            return mixed, mixed
        return x, mixed


def blocks_with_module(stage_sizes: Sequence[int], placement: str) -> list[list[bool]]:
    """Which residual blocks get a temporal module.

    Chen et al.'s placement study (CVPR 2021, Sec. 6.3, Table 6, on TAM-ResNet18) keeps
    all the modules (*All*), those of the bottom half (blocks nearer the input), of the
    top half, or every other one (*Uniform-Half*); blocks are counted in network order
    over all stages:

    * 'all': every block;
    * 'bottom_half': the first half (the middle block goes to the bottom half for an odd
      count); 'top_half': the rest;
    * 'every_other': blocks 0, 2, 4, ... of the whole network.

    'tsm_authors' is the rule of the TSM authors' public code (mit-han-lab/
    temporal-shift-module, ``ops/temporal_shift.py``, ``make_temporal_shift`` with
    ``place='blockres'``), which mmaction2's ``ResNetTSM`` keeps: every block, except that
    a network whose third stage has 23 or more blocks (ResNet-101, ResNet-152) gets the
    module only in blocks 0, 2, 4, ... of *each* stage (their ``n_round = 2``). It is not
    in Chen et al.; it is the placement of an imported mmaction2 / TSM-code TSM-R101.

    Returns:
      One list of booleans per stage, one per block.
    """
    if placement not in PLACEMENTS:
        raise ValueError(f"unknown placement {placement!r}; known: {PLACEMENTS}")
    if placement == "tsm_authors":
        step = 2 if len(stage_sizes) >= 3 and stage_sizes[2] >= 23 else 1
        return [[j % step == 0 for j in range(size)] for size in stage_sizes]
    total = sum(stage_sizes)
    bottom = (total + 1) // 2
    rule = {
        "all": lambda i: True,
        "bottom_half": lambda i: i < bottom,
        "top_half": lambda i: i >= bottom,
        "every_other": lambda i: i % 2 == 0,
    }[placement]
    flags, start = [], 0
    for size in stage_sizes:
        flags.append([rule(i) for i in range(start, start + size)])
        start += size
    return flags


def temporal_max_pool(x: jax.Array, num_segments: int) -> jax.Array:
    """Max pooling over segments, kernel 3, stride 2, padding 1 (Chen et al.; TSM).

    ``[N * K, H, W, C] -> [N * K', H, W, C]`` with ``K' = (K - 1) // 2 + 1``.
    """
    y = _unfold(x, num_segments)  # [N, K, H, W, C]: pool over axis 1 as a 3D window.
    return _fold(max_pool(y, (3, 1, 1), (2, 1, 1), (1, 0, 0)))


class NonLocal(nn.Module):
    """Embedded-Gaussian non-local block (Wang et al., "Non-local Neural Networks", 2018).

    ``z = x + BN(W_z y)``, ``y_i = sum_j softmax_j(theta(x_i) . phi(x_j)) g(x_j)`` over all
    space-time positions of a clip; theta, phi, g and W_z are 1x1(x1) convolutions, the
    inner width is half the input's, and the final BN scale starts at zero so the block
    starts as the identity. ``subsample`` max-pools the outputs of the phi and g
    projections 2x2 in space (window and stride 2, no padding): Wang et al.'s cheaper
    variant, as mmcv's ``NonLocal3d(sub_sample=True)`` computes it (``phi`` and ``g`` are
    ``Sequential(ConvModule, MaxPool3d((1, 2, 2)))`` there, torch keys ``phi.0.conv``);
    pooling the block input before the projections instead gives other outputs. The
    dot products are unscaled by default, as in mmaction2's non-local TSM configs
    (``use_scale=False``); ``use_scale`` divides them by sqrt(inner width) (the default of
    mmcv's module). Parameter names follow mmcv's ``NonLocal3d`` (``theta/conv``,
    ``phi/conv``, ``g/conv``, ``conv_out/conv``, ``conv_out/bn``); only its
    'embedded_gaussian' mode with a BatchNorm after ``conv_out`` (mmaction2's configs) is
    implemented.

    Attributes:
      num_segments: K when the input is a folded 2D batch ``[N * K, H, W, C]``; ``None``
        for a 3D input ``[N, T, H, W, C]``.
      subsample: max-pool the phi and g projections 2x2 in space.
      use_scale: divide the affinities by sqrt(inner width).
      dtype: computation dtype.

    Shapes: the input's.
    """

    num_segments: int | None = None
    subsample: bool = False
    use_scale: bool = False
    dtype: Dtype = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        clip = x if self.num_segments is None else _unfold(x, self.num_segments)
        c = clip.shape[-1]
        inner = max(1, c // 2)

        def project(name: str, y: jax.Array) -> jax.Array:
            return ConvModule(inner, norm=False, relu=False, dtype=self.dtype, name=name)(y, train)

        theta, phi, g = (project(name, clip) for name in ("theta", "phi", "g"))
        if self.subsample:  # Pool the projections, not the block input (mmcv's NonLocal3d).
            phi, g = (max_pool(v, (1, 2, 2), (1, 2, 2)) for v in (phi, g))
        n = clip.shape[0]
        theta, phi, g = (jnp.reshape(v, (n, -1, inner)) for v in (theta, phi, g))
        affinity = jnp.einsum("nic,njc->nij", theta, phi)
        if self.use_scale:
            affinity = affinity / jnp.sqrt(float(inner)).astype(affinity.dtype)
        weights = jax.nn.softmax(affinity.astype(jnp.float32), axis=-1).astype(self.dtype)
        y = jnp.einsum("nij,njc->nic", weights, g).reshape(*clip.shape[:-1], inner)
        conv_out = ConvModule(c, relu=False, zero_scale=True, dtype=self.dtype, name="conv_out")
        y = conv_out(y, train)
        z = clip + y
        return z if self.num_segments is None else _fold(z)
