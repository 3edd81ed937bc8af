"""GoogLeNet / Inception-v1 with BatchNorm (Szegedy et al., "Going Deeper with
Convolutions", CVPR 2015), in the layout of torchvision's ``torchvision.models.googlenet``.

torchvision's model (and the Google weights it ports) differs from the paper: every
convolution is torchvision's ``BasicConv2d`` (bias-free convolution, BatchNorm with eps
1e-3, ReLU) instead of a biased convolution, there is no local response normalization,
and the third branch of every Inception block uses a 3x3 convolution where the paper has a
5x5 (torchvision issue #906, kept for weight compatibility). ``branch3_kernel`` selects
3 (torchvision, the default here because it is what converted weights need) or 5 (the
paper).

Parameter names follow torchvision so that a ``state_dict`` converts mechanically
(``inception3a.branch2.1.conv.weight`` is ``params/inception3a/branch2_1/conv/kernel``):
``conv1``, ``conv2``, ``conv3``, ``inception3a`` .. ``inception5b`` each with ``branch1``,
``branch2_{0,1}``, ``branch3_{0,1}``, ``branch4_1`` (``branch4.0`` is the max pool), the
auxiliary classifiers ``aux1``/``aux2`` (``conv``, ``fc1``, ``fc2``; only with
``aux_logits=True``) and ``fc``.

Temporal modules (Chen et al., "Deep Analysis of CNN-based Spatio-temporal
Representations for Action Recognition", CVPR 2021, and their public code): with
``temporal_module`` set, a TSM shift or a TAM follows ``conv1``, ``conv2``, ``conv3`` and
every Inception block (the whole feature map is mixed along the K segments: an Inception
block has no identity path to leave alone), TAM parameters under ``tam1``, ``tam2``,
``tam3``, ``tam3a`` .. ``tam5b`` as in that code; ``temporal_pool`` max-pools the segments
after the spatial pools that follow the stem, inception3b and inception4e.

The pieces are public so that other networks can reuse the block structure: ``basic_conv``
and ``Inception`` take inputs with any number of spatial axes (``[N, H, W, C]`` here;
integer kernel sizes and pools apply to every axis, as an inflated 3D network would use
them), and ``INCEPTION_V1_BLOCKS`` lists the block widths.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp

from tsn_jax.models.layers import (
    ConvModule,
    IntOrSeq,
    adaptive_avg_pool,
    dense_normal,
    flatten_channels_first,
    kaiming_normal_fan_out,
    max_pool,
    scaled_width,
)
from tsn_jax.models.temporal import TemporalMixing, blocks_with_module, temporal_max_pool

__all__ = [
    "INCEPTION_V1_BLOCKS",
    "GoogLeNet",
    "GoogLeNetOutputs",
    "Inception",
    "InceptionAux",
    "basic_conv",
    "googlenet",
    "transform_input",
]

Dtype = Any

# torchvision initializes every conv and linear weight with trunc_normal(0, 0.01) truncated
# at +-2 (absolute, i.e. +-200 std: a plain normal) and leaves the Linear biases at PyTorch's
# default uniform; here the linear biases start at zero (`dense_normal`).
INIT_STD = 0.01
_KERNEL_INIT = nn.initializers.normal(INIT_STD)
# Convolution initializations (``GoogLeNet.kernel_init``): torchvision's, above, is the
# default (Chen et al. fine-tune it from ImageNet weights). He's (fan_out, as the ResNets)
# is for training from scratch, where normal(0.01) learned slowly on the demo
# (configs/studies/_chen_demo.py has the measured runs).
KERNEL_INITS = {"torchvision": _KERNEL_INIT, "kaiming": kaiming_normal_fan_out}

# Arguments of torchvision's Inception(in, ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5,
# pool_proj) for each block, in order, at full width (the input width is the previous
# block's output). The paper's Table 1 lists the same widths.
INCEPTION_V1_BLOCKS: tuple[tuple[str, tuple[int, int, int, int, int, int]], ...] = (
    ("inception3a", (64, 96, 128, 16, 32, 32)),
    ("inception3b", (128, 128, 192, 32, 96, 64)),
    ("inception4a", (192, 96, 208, 16, 48, 64)),
    ("inception4b", (160, 112, 224, 24, 64, 64)),
    ("inception4c", (128, 128, 256, 24, 64, 64)),
    ("inception4d", (112, 144, 288, 32, 64, 64)),
    ("inception4e", (256, 160, 320, 32, 128, 128)),
    ("inception5a", (256, 160, 320, 32, 128, 128)),
    ("inception5b", (384, 192, 384, 48, 128, 128)),
)
# Max pools (window, stride 2, ceil mode) after a block, and the auxiliary classifiers that
# read a block's output (train time only).
_POOL_AFTER = {"inception3b": 3, "inception4e": 2}
# Where temporal modules go (after these layers; TAM parameters under "tam" + suffix) and
# the spatial pools that `temporal_pool` counts (1: after the stem, 2, 3: `_POOL_AFTER`).
_TEMPORAL_POSITIONS = (
    "1",
    "2",
    "3",
    *(name[len("inception") :] for name, _ in INCEPTION_V1_BLOCKS),
)
_TEMPORAL_POOLS = {"stem": 1, "inception3b": 2, "inception4e": 3}
_AUX_AFTER = {"inception4a": "aux1", "inception4d": "aux2"}

# ImageNet normalization (torchvision's) and the [-1, 1] normalization of Google's Inception
# weights: x_inception = (x_imagenet * std + mean - 0.5) / 0.5.
_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)


def transform_input(x: jax.Array) -> jax.Array:
    """torchvision's ``transform_input``: ImageNet-normalized RGB -> Inception's [-1, 1].

    Args:
      x: [N, ..., 3] RGB normalized with the ImageNet mean and std (channels last).

    Returns:
      The same images as (pixel - 0.5) / 0.5, the normalization of Google's weights.
    """
    if x.shape[-1] != 3:
        raise ValueError(f"transform_input needs 3 RGB channels, got {x.shape[-1]}")
    mean = jnp.asarray(_IMAGENET_MEAN, x.dtype)
    std = jnp.asarray(_IMAGENET_STD, x.dtype)
    return x * (std / 0.5) + (mean - 0.5) / 0.5


def basic_conv(
    features: int,
    kernel_size: IntOrSeq,
    strides: IntOrSeq = 1,
    padding: IntOrSeq = 0,
    kernel_init: nn.initializers.Initializer = _KERNEL_INIT,
    dtype: Dtype = jnp.float32,
    name: str | None = None,
) -> ConvModule:
    """torchvision's ``BasicConv2d``: bias-free convolution, BatchNorm (eps 1e-3), ReLU.

    A ``ConvModule`` (any number of spatial axes; parameters ``conv/kernel``,
    ``bn/{scale,bias}``, statistics ``bn/{mean,var}``), called as ``(x, train)``.
    ``kernel_size``, ``strides``, ``padding`` are as ``layers.Conv``'s (PyTorch's explicit
    padding). Shapes: ``[N, *spatial, C] -> [N, *spatial', features]``.
    """
    return ConvModule(
        features,
        kernel_size,
        strides,
        padding,
        epsilon=1e-3,
        kernel_init=kernel_init,
        dtype=dtype,
        name=name,
    )


class Inception(nn.Module):
    """An Inception-v1 block: four parallel branches concatenated along channels.

    ``branch1`` 1x1; ``branch2`` 1x1 reduce then 3x3; ``branch3`` 1x1 reduce then
    ``branch3_kernel`` (3 in torchvision, 5 in the paper); ``branch4`` 3x3/1 max pool then
    1x1 projection. Every convolution keeps the spatial size.

    Attributes:
      ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj: branch widths (torchvision's
        argument names).
      branch3_kernel: kernel of branch3's second convolution, 3 or 5.
      kernel_init: initializer of every convolution (torchvision's normal(0.01)).
      dtype: computation dtype.

    Shapes: ``[N, *spatial, C] -> [N, *spatial, ch1x1 + ch3x3 + ch5x5 + pool_proj]``.
    """

    ch1x1: int
    ch3x3red: int
    ch3x3: int
    ch5x5red: int
    ch5x5: int
    pool_proj: int
    branch3_kernel: int = 3
    kernel_init: nn.initializers.Initializer = _KERNEL_INIT
    dtype: Dtype = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        if self.branch3_kernel not in (3, 5):
            raise ValueError(f"branch3_kernel must be 3 or 5, got {self.branch3_kernel}")

        def conv(features: int, kernel: int, name: str) -> ConvModule:
            return basic_conv(
                features,
                kernel,
                padding=kernel // 2,
                kernel_init=self.kernel_init,
                dtype=self.dtype,
                name=name,
            )

        branch1 = conv(self.ch1x1, 1, "branch1")(x, train)
        branch2 = conv(self.ch3x3red, 1, "branch2_0")(x, train)
        branch2 = conv(self.ch3x3, 3, "branch2_1")(branch2, train)
        branch3 = conv(self.ch5x5red, 1, "branch3_0")(x, train)
        branch3 = conv(self.ch5x5, self.branch3_kernel, "branch3_1")(branch3, train)
        # torchvision's ceil_mode=True changes nothing for a 3/1 pool padded by 1.
        branch4 = max_pool(x, 3, 1, padding=1)
        branch4 = conv(self.pool_proj, 1, "branch4_1")(branch4, train)
        return jnp.concatenate([branch1, branch2, branch3, branch4], axis=-1)


class InceptionAux(nn.Module):
    """GoogLeNet's auxiliary classifier (torchvision's ``InceptionAux``).

    Adaptive average pool to 4x4, ``conv`` (1x1 ``basic_conv``, 128), flatten, ``fc1`` (1024),
    ReLU, dropout, ``fc2``. (The paper pools 5x5/3, which is 4x4 at 14x14; the adaptive
    pool keeps that output size for any input size.)

    Attributes:
      num_classes: outputs of ``fc2``.
      conv_features, hidden_features: widths of ``conv`` and ``fc1`` (128 and 1024 at
        full width).
      dropout_rate: dropout before ``fc2`` in train mode (0.7).
      dtype: computation dtype.

    Shapes: ``[N, H, W, C] -> [N, num_classes]``.
    """

    num_classes: int
    conv_features: int = 128
    hidden_features: int = 1024
    dropout_rate: float = 0.7
    dtype: Dtype = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        x = adaptive_avg_pool(x, 4)
        x = basic_conv(self.conv_features, 1, dtype=self.dtype, name="conv")(x, train)
        x = flatten_channels_first(x)  # torch's NCHW order, which a converted fc1 expects.
        x = nn.relu(dense_normal(self.hidden_features, INIT_STD, self.dtype, "fc1")(x))
        x = nn.Dropout(self.dropout_rate, deterministic=not train)(x)
        return dense_normal(self.num_classes, INIT_STD, self.dtype, "fc2")(x)


class GoogLeNetOutputs(NamedTuple):
    """Train-time outputs with ``aux_logits=True`` (torchvision's order)."""

    logits: jax.Array
    aux_logits2: jax.Array
    aux_logits1: jax.Array


class GoogLeNet(nn.Module):
    """GoogLeNet (Inception-v1) with BatchNorm, torchvision's layout.

    Stem (``googlenet_stem``), inception3a-3b, max pool 3/2, inception4a-4e, max pool 2/2
    (both ceil mode), inception5a-5b, global average pool, dropout, ``fc``.

    Attributes:
      num_classes: size of ``fc``; ``None`` drops ``fc`` (and the dropout before it) and
        returns the pooled features ``[N, num_features]``.
      base_width: 64 gives the published widths; every width scales by base_width / 64.
      aux_logits: build the auxiliary classifiers ``aux1`` (on inception4a) and ``aux2``
        (on inception4d). They run in train mode only, where the call returns
        ``GoogLeNetOutputs``; eval returns the main logits. Default off: the form
        torchvision returns pretrained weights in (``convert_torchvision`` drops the aux
        keys of such a ``state_dict`` unless asked for them). Needs ``num_classes``.
      transform_input: re-normalize ImageNet-normalized RGB to the [-1, 1] inputs of
        Google's weights (``transform_input``) first; torchvision turns this on when it
        loads its pretrained GoogLeNet, so set it with converted ImageNet weights.
      branch3_kernel: 3 (torchvision) or 5 (the paper); see the module docstring.
      dropout_rate: dropout before ``fc`` in train mode (0.2 in torchvision, 0.4 in the
        paper).
      aux_dropout_rate: dropout inside the auxiliary classifiers (0.7).
      num_segments: K, segments per video, for the temporal modules; the input is then
        ``[N * K, H, W, C]`` with the K snippets of a video consecutive (as ``TSN`` folds
        them) and the output ``[N * K', ...]``, K' after temporal pooling.
      temporal_module: None (plain TSN), 'tsm' or 'tam' after the stem convolutions and
        the Inception blocks chosen by ``temporal_placement`` (module docstring).
      temporal_placement: 'all', 'bottom_half', 'top_half' or 'every_other' of those 12
        positions (``temporal.blocks_with_module``).
      shift_fraction: TSM, share of channels shifted each way (1/8).
      temporal_pool: which of the spatial pools after the stem (1), inception3b (2) and
        inception4e (3) also max-pool the segments by 2 (kernel 3, stride 2); Chen et
        al. use ``(1, 2, 3)``.
      kernel_init: initialization of the convolutions, 'torchvision' (normal(0.01),
        the default) or 'kaiming' (He, fan_out), for TAM networks trained from scratch
        (``KERNEL_INITS``); the classifiers keep torchvision's normal(0.01) either way.
      dtype: computation dtype; parameters and statistics stay float32.

    Shapes: ``[N, H, W, C]`` (C = 3 with ``transform_input``; H, W >= 15) ->
    ``[N, num_classes]`` or ``[N, num_features]``.
    """

    is_3d: ClassVar[bool] = False

    num_classes: int | None = 1000
    base_width: int = 64
    aux_logits: bool = False
    transform_input: bool = False
    branch3_kernel: int = 3
    dropout_rate: float = 0.2
    aux_dropout_rate: float = 0.7
    num_segments: int = 1
    temporal_module: str | None = None
    temporal_placement: str = "all"
    shift_fraction: float = 0.125
    temporal_pool: Sequence[int] = ()
    kernel_init: str = "torchvision"
    dtype: Dtype = jnp.float32

    @property
    def mixes_segments(self) -> bool:
        """Whether the K snippets of a video interact (then K must be ``num_segments``)."""
        return bool(self.temporal_module or self.temporal_pool)

    def _width(self, features: int) -> int:
        return scaled_width(features, self.base_width)

    @property
    def num_features(self) -> int:
        """Channels of inception5b's output (1024 at full width)."""
        _, (ch1x1, _, ch3x3, _, ch5x5, pool_proj) = INCEPTION_V1_BLOCKS[-1]
        return sum(self._width(c) for c in (ch1x1, ch3x3, ch5x5, pool_proj))

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array | GoogLeNetOutputs:
        """Runs the network; ``train=False`` normalizes with the BN running averages.

        In train mode with ``num_classes`` set, a 'dropout' rng is needed.
        """
        if self.aux_logits and self.num_classes is None:
            raise ValueError("aux_logits needs num_classes (the aux heads are classifiers)")
        if self.transform_input:
            x = transform_input(x)
        if self.kernel_init not in KERNEL_INITS:
            raise ValueError(
                f"kernel_init must be one of {sorted(KERNEL_INITS)}, got {self.kernel_init!r}"
            )
        kernel_init = KERNEL_INITS[self.kernel_init]
        unknown_pools = sorted(set(self.temporal_pool) - set(_TEMPORAL_POOLS.values()))
        if unknown_pools:
            raise ValueError(f"temporal_pool positions must be 1, 2 or 3, got {unknown_pools}")
        with_module = dict(
            zip(
                _TEMPORAL_POSITIONS,
                blocks_with_module((len(_TEMPORAL_POSITIONS),), self.temporal_placement)[0],
                strict=True,
            )
        )
        segments = self.num_segments

        def mix(x: jax.Array, position: str) -> jax.Array:
            if not (self.temporal_module and with_module[position]):
                return x
            module = TemporalMixing(
                self.temporal_module, segments, self.shift_fraction, tam_init="googlenet"
            )
            return module.mix(x, self.dtype, name=f"tam{position}")

        def spatial_pool(x: jax.Array, window: int, after: str) -> jax.Array:
            nonlocal segments
            x = max_pool(x, window, 2, ceil_mode=True)
            if _TEMPORAL_POOLS[after] in self.temporal_pool:
                x = temporal_max_pool(x, segments)
                segments = (segments - 1) // 2 + 1
            return x

        def stem_conv(features: int, kernel: int, stride: int, name: str) -> ConvModule:
            return basic_conv(
                self._width(features),
                kernel,
                stride,
                kernel // 2,
                kernel_init=kernel_init,
                dtype=self.dtype,
                name=name,
            )

        x = jnp.asarray(x, self.dtype)
        x = mix(stem_conv(64, 7, 2, "conv1")(x, train), "1")
        x = max_pool(x, 3, 2, ceil_mode=True)
        x = mix(stem_conv(64, 1, 1, "conv2")(x, train), "2")
        x = mix(stem_conv(192, 3, 1, "conv3")(x, train), "3")
        x = spatial_pool(x, 3, "stem")
        # The aux heads also run at init, so that their parameters exist even when the
        # model is initialized in eval mode (e.g. to convert a checkpoint).
        run_aux = self.aux_logits and (train or self.is_initializing())
        aux = {}
        for name, widths in INCEPTION_V1_BLOCKS:
            block = Inception(
                *(self._width(c) for c in widths),
                branch3_kernel=self.branch3_kernel,
                kernel_init=kernel_init,
                dtype=self.dtype,
                name=name,
            )
            x = mix(block(x, train), name[len("inception") :])
            if run_aux and name in _AUX_AFTER:
                head = InceptionAux(
                    self.num_classes,
                    conv_features=self._width(128),
                    hidden_features=self._width(1024),
                    dropout_rate=self.aux_dropout_rate,
                    dtype=self.dtype,
                    name=_AUX_AFTER[name],
                )
                aux[_AUX_AFTER[name]] = head(x, train)
            if name in _POOL_AFTER:
                x = spatial_pool(x, _POOL_AFTER[name], name)

        x = jnp.mean(x, axis=(1, 2))  # nn.AdaptiveAvgPool2d((1, 1)) and flatten.
        if self.num_classes is None:
            return x
        x = nn.Dropout(self.dropout_rate, deterministic=not train)(x)
        logits = dense_normal(self.num_classes, INIT_STD, self.dtype, "fc")(x)
        if self.aux_logits and train:
            return GoogLeNetOutputs(logits, aux["aux2"], aux["aux1"])
        return logits


def googlenet(**kwargs: Any) -> GoogLeNet:
    """GoogLeNet (Inception-v1 with BatchNorm), torchvision's layout; 1024 features."""
    return GoogLeNet(**kwargs)
