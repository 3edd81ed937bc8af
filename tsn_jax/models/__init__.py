"""Models: backbones, segmental consensus and the TSN wrapper.

``create_model`` builds a model from the ``model`` section of a config.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import flax.linen as nn
import jax.numpy as jnp
import ml_collections

from tsn_jax.models import resnet
from tsn_jax.models.consensus import get_consensus
from tsn_jax.models.tsn import TSN

__all__ = ["BACKBONES", "DTYPES", "TSN", "create_model", "get_consensus"]

# Backbone constructors by config name. Each takes keyword arguments (num_classes,
# base_width, dtype, ...) and returns a module mapping [N, H, W, C'] to [N, F] when built
# with num_classes=None. Later backbones (BN-Inception, 3D ResNets, ...) add entries here.
BACKBONES: dict[str, Callable[..., nn.Module]] = {
    "resnet18": resnet.resnet18,
    "resnet34": resnet.resnet34,
    "resnet50": resnet.resnet50,
    "resnet101": resnet.resnet101,
    "resnet152": resnet.resnet152,
}

DTYPES: dict[str, Any] = {
    "float32": jnp.float32,
    "bfloat16": jnp.bfloat16,
}


def create_model(model_config: ml_collections.ConfigDict, num_classes: int) -> nn.Module:
    """Builds a TSN from a model config.

    Args:
      model_config: fields ``backbone`` (a key of ``BACKBONES``), ``base_width`` (default
        64), ``dropout_rate`` (default 0.8), ``consensus`` (default ``'avg'``) and
        ``dtype`` (``'float32'`` (default) or ``'bfloat16'``; parameters stay float32).
      num_classes: number of action classes.

    Raises:
      ValueError: unknown backbone, dtype or consensus.
    """
    name = model_config.backbone
    if name not in BACKBONES:
        raise ValueError(f"Unknown backbone {name!r}; known backbones: {sorted(BACKBONES)}.")
    dtype_name = model_config.get("dtype", "float32")
    if dtype_name not in DTYPES:
        raise ValueError(f"Unknown dtype {dtype_name!r}; known dtypes: {sorted(DTYPES)}.")
    dtype = DTYPES[dtype_name]
    consensus = model_config.get("consensus", "avg")
    get_consensus(consensus)  # Raise here, at construction, rather than at the first step.

    backbone = BACKBONES[name](
        num_classes=None,
        base_width=model_config.get("base_width", 64),
        dtype=dtype,
    )
    return TSN(
        backbone=backbone,
        num_classes=num_classes,
        dropout_rate=model_config.get("dropout_rate", 0.8),
        consensus=consensus,
        dtype=dtype,
    )
