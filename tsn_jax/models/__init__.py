"""Models: backbones, segmental consensus and the TSN wrapper.

``create_model`` builds a model from the ``model`` section of a config.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import flax.linen as nn
import jax.numpy as jnp
import ml_collections

from tsn_jax import spec
from tsn_jax.models import (
    bninception,
    c3d,
    googlenet,
    i3d,
    i3d_resnet,
    inception_v3,
    resnet,
    s3d,
    stan,
    vgg,
    video_resnet,
)
from tsn_jax.models.consensus import check_consensus
from tsn_jax.models.tsn import TSN

__all__ = ["BACKBONES", "DTYPES", "TSN", "create_model", "example_inputs", "model_inputs"]

# Backbone constructors by config name. Each takes keyword arguments (num_classes,
# base_width, dtype, then its own options) and returns a module built with num_classes=None
# that maps [N, H, W, C'] (2D, class attribute is_3d False) or [N, T, H, W, C] (3D) to
# pooled features [N, F]. base_width=64 gives the published widths; every layer's width
# scales with base_width / 64 (tests use tiny widths).
BACKBONES: dict[str, Callable[..., nn.Module]] = {
    "resnet18": resnet.resnet18,
    "resnet34": resnet.resnet34,
    "resnet50": resnet.resnet50,
    "resnet101": resnet.resnet101,
    "resnet152": resnet.resnet152,
    "i3d": i3d.i3d,
    "i3d_resnet18": i3d_resnet.i3d_resnet18,
    "i3d_resnet50": i3d_resnet.i3d_resnet50,
    "i3d_resnet101": i3d_resnet.i3d_resnet101,
    "r3d_18": video_resnet.r3d_18,
    "mc3_18": video_resnet.mc3_18,
    "r2plus1d_18": video_resnet.r2plus1d_18,
    "s3d_resnet18": video_resnet.s3d_resnet18,
    "resnet3d_10": video_resnet.resnet3d_10,
    "resnet3d_18": video_resnet.resnet3d_18,
    "resnet3d_34": video_resnet.resnet3d_34,
    "resnet3d_50": video_resnet.resnet3d_50,
    "s3d": s3d.s3d,
    "googlenet": googlenet.googlenet,
    "inception_v3": inception_v3.inception_v3,
    "bninception": bninception.bninception,
    "vgg16": vgg.vgg16,
    "vgg16_bn": vgg.vgg16_bn,
    "c3d": c3d.c3d,
}

# Backbones built of residual blocks that `remat` rematerializes one block at a time.
REMAT_BACKBONES = frozenset(
    name
    for name in BACKBONES
    if name.startswith(("resnet", "i3d_resnet", "r3d", "mc3", "r2plus1d", "s3d_resnet"))
)

DTYPES: dict[str, Any] = {
    "float32": jnp.float32,
    "bfloat16": jnp.bfloat16,
}

# Keys of config.model; anything else is a typo and an error.
MODEL_CONFIG_KEYS = (
    "backbone",
    "base_width",
    "backbone_options",
    "dropout_rate",
    "consensus",
    "consensus_k",
    "segments_as_clip",
    "dtype",
    "remat",
    "architecture",
    "stan",
)
ARCHITECTURES = ("tsn", "stan")


def create_model(
    model_config: ml_collections.ConfigDict, num_classes: int, num_segments: int
) -> nn.Module:
    """Builds a TSN (or, with ``architecture='stan'``, a STAN) from a model config.

    Args:
      model_config: fields ``backbone`` (a key of ``BACKBONES``), ``base_width`` (default
        64), ``backbone_options`` (keyword arguments of the backbone constructor, e.g.
        ``{'temporal_module': 'tsm'}``; default none), ``dropout_rate`` (default 0.8),
        ``consensus`` (default ``'avg'``), ``consensus_k`` (k of 'topk', default 3),
        ``segments_as_clip`` (default False: a 3D backbone reads the K one-frame
        snippets as one clip, ``TSN.segments_as_clip``) and
        ``dtype`` (``'float32'`` (default) or ``'bfloat16'``; parameters stay float32);
        ``remat`` (default False: rematerialize each residual block, ``REMAT_BACKBONES``);
        ``architecture`` ('tsn' (default) or 'stan') and ``stan`` (``streams``,
        ``stream_inputs``, ``fusion``, ``late_weights``, ``conv6_features``,
        ``lstm_features``, ``clip_caffe_pooling``, ``vgg_batch_norm``: see ``stan.STAN``; STAN uses
        ``base_width``, ``dropout_rate`` and ``dtype`` too, not ``backbone``).
      num_classes: number of action classes.
      num_segments: K, snippets per video; given to backbones whose temporal modules mix
        the snippets of a video (``mixes_segments`` true).

    Raises:
      ValueError: unknown key, backbone, backbone option, dtype or consensus.
    """
    unknown = sorted(set(model_config.keys()) - set(MODEL_CONFIG_KEYS))
    if unknown:
        raise ValueError(f"unknown config.model keys {unknown}; known: {list(MODEL_CONFIG_KEYS)}")
    architecture = model_config.get("architecture", "tsn")
    if architecture not in ARCHITECTURES:
        raise ValueError(f"Unknown architecture {architecture!r}; known: {list(ARCHITECTURES)}.")
    dtype_name = model_config.get("dtype", "float32")
    if dtype_name not in DTYPES:
        raise ValueError(f"Unknown dtype {dtype_name!r}; known dtypes: {sorted(DTYPES)}.")
    if architecture == "stan":
        if model_config.get("remat", False):
            raise ValueError("config.model.remat is not implemented for STAN (VGG / C3D streams)")
        options = model_config.stan
        return stan.STAN(
            streams=tuple(options.streams),
            stream_inputs=tuple(options.stream_inputs),
            num_classes=num_classes,
            base_width=model_config.get("base_width", 64),
            conv6_features=options.conv6_features,
            lstm_features=options.lstm_features,
            fusion=options.fusion,
            late_weights=tuple(options.late_weights),
            clip_caffe_pooling=options.get("clip_caffe_pooling", True),
            vgg_batch_norm=options.get("vgg_batch_norm", False),
            dropout_rate=model_config.get("dropout_rate", 0.5),
            dtype=DTYPES[dtype_name],
        )
    name = model_config.backbone
    if name not in BACKBONES:
        raise ValueError(f"Unknown backbone {name!r}; known backbones: {sorted(BACKBONES)}.")
    dtype = DTYPES[dtype_name]
    consensus = model_config.get("consensus", "avg")
    check_consensus(consensus)  # Raise here, at construction, rather than at the first step.

    options = dict(model_config.get("backbone_options") or {})
    if model_config.get("remat", False):
        if name not in REMAT_BACKBONES:
            raise ValueError(
                f"config.model.remat is implemented for the residual backbones "
                f"{sorted(REMAT_BACKBONES)}, not for {name!r}"
            )
        options["remat"] = True
    try:
        backbone = BACKBONES[name](
            num_classes=None, base_width=model_config.get("base_width", 64), dtype=dtype, **options
        )
    except TypeError as error:
        raise ValueError(f"config.model.backbone_options for {name!r}: {error}") from error
    if getattr(backbone, "mixes_segments", False):
        backbone = backbone.clone(num_segments=num_segments)
    segments_as_clip = model_config.get("segments_as_clip", False)
    if segments_as_clip and not backbone.is_3d:
        raise ValueError(f"segments_as_clip needs a 3D backbone; {name!r} is 2D")
    return TSN(
        backbone=backbone,
        num_classes=num_classes,
        dropout_rate=model_config.get("dropout_rate", 0.8),
        consensus=consensus,
        consensus_k=model_config.get("consensus_k", 3),
        segments_as_clip=segments_as_clip,
        dtype=dtype,
    )


def input_shape_of(
    model: nn.Module, data_config: ml_collections.ConfigDict
) -> tuple[int, ...] | dict[str, tuple[int, ...]]:
    """The shape `model` is initialized with: (1, K, T, S, S, C) of `spec.sample_shape`, or
    for a model that takes several streams (STAN) one such shape per 'inputs*' key."""
    if getattr(model, "takes_streams", False):
        return {key: (1, *shape) for key, shape in spec.sample_shapes(data_config).items()}
    return (1, *spec.sample_shape(data_config))


def example_inputs(input_shape: tuple[int, ...] | dict[str, tuple[int, ...]]) -> Any:
    """Zeros of an input shape, or a dict of zeros for a dict of shapes (multi-stream models)."""
    if isinstance(input_shape, dict):
        return {key: jnp.zeros(shape, jnp.float32) for key, shape in input_shape.items()}
    return jnp.zeros(input_shape, jnp.float32)


def model_inputs(model: nn.Module, batch: dict[str, Any]) -> Any:
    """What `model` is called with: batch['inputs'], or every 'inputs*' key for STAN."""
    if getattr(model, "takes_streams", False):
        return {key: value for key, value in batch.items() if key.startswith("inputs")}
    return batch["inputs"]
