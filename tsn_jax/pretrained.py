"""Initialize a TSN's backbone from a pretrained checkpoint (`config.init.checkpoint`).

Accepted checkpoints (Orbax, plain nested dicts):

* a converted classifier, as `tsn-jax-convert` writes it
  (`{'params', 'batch_stats'}` of e.g. `resnet50(num_classes=1000)`): its variables
  fill the TSN's `backbone`; its classifier (`CLASSIFIER_MODULES`: `fc`, `classifier_6`,
  aux heads, ...) is dropped, since TSN adds its own `fc`;
* a tsn-jax training checkpoint (`{'step', 'params', 'batch_stats', 'opt_state'}` with
  `params/backbone` and `params/fc`): the backbone is copied, and `fc` too when the
  class count is the same (unless `config.init.classifier='new'`), otherwise it keeps
  its fresh initialization (progressive training and fine-tuning on another dataset,
  Chen et al. / TSN / Hara et al.).

Where a pretrained tensor and the model's differ in shape, the adaptation is the one
the papers use, and nothing else is guessed:

* first convolution with other input channels (flow 2L, RGB difference 3L, or frames
  folded into channels): TSN's cross-modality initialization, the RGB kernel averaged
  over its colour channels and replicated (`inflate.cross_modality_kernel`);
* a 2D kernel for a 3D one (one more axis): inflation along time
  (`inflate.inflate_kernel`, 'average' as I3D or 'center'); where the 3D network names
  its layers differently (I3D-ResNet after mmaction2, I3D after DeepMind), `NAME_MAPS`
  says which 2D tensor each 3D one comes from (ImageNet ResNet -> I3D-ResNet, GoogLeNet
  -> I3D, as in the I3D paper and Chen et al.).

Parameters of temporal modules that 2D ImageNet models never have (TAM, non-local
blocks) keep their initialization. Anything else missing, unexpected at a kept level,
or of an unadaptable shape is an error that lists it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import flax
import jax
import numpy as np
import orbax.checkpoint as ocp

from tsn_jax import checkpoints, inflate
from tsn_jax.convert_torch import KeyRules, rename_key, torch_key

__all__ = [
    "CLASSIFIER_MODULES",
    "NAME_MAPS",
    "NEW_MODULE_NAMES",
    "init_backbone",
    "init_stan_streams",
    "load_checkpoint",
    "parse_stream_checkpoints",
]

# Module names of temporal modules added to a pretrained 2D network (regular expressions,
# whole names): a ResNet block's `tam`, GoogLeNet's `tam1` .. `tam5b`, non-local blocks.
NEW_MODULE_NAMES = (r"tam\w*", r"\w+_non_local")

# Top-level modules of the pretrained classifiers that a TSN backbone replaces with its own
# `fc` (torchvision's fc / classifier.6 / S3D classifier.1 / aux heads, C3D's fc8, I3D's
# Logits); any other pretrained module the backbone lacks is an error.
CLASSIFIER_MODULES = (
    "fc",
    "fc8",
    "last_linear",
    "classifier_1",
    "classifier_6",
    "Logits",
    "aux1",
    "aux2",
    "AuxLogits",
)

# A STAN stream reads its backbone's pool5 map: the pretrained fully connected layers
# before the classifier (VGG's classifier.0 / .3, C3D's fc6 / fc7) are dropped too.
FEATURE_MAP_DROPPED = (*CLASSIFIER_MODULES, "classifier_0", "classifier_3", "fc6", "fc7")

# Backbone name -> rules from its keys to those of the 2D ImageNet network it inflates.
NAME_MAPS: dict[str, KeyRules] = {
    "i3d_resnet18": inflate.I3D_RESNET_FROM_RESNET,
    "i3d_resnet50": inflate.I3D_RESNET_FROM_RESNET,
    "i3d_resnet101": inflate.I3D_RESNET_FROM_RESNET,
    "i3d": inflate.I3D_FROM_GOOGLENET,
}

Tree = dict[str, Any]


def load_checkpoint(path: str, key: str = "checkpoint") -> Tree:
    """`{'params', 'batch_stats'}` of an Orbax checkpoint directory, as numpy arrays.

    `path` may be relative, a step directory or its `default` item; a path that holds
    no checkpoint is a CheckpointError naming `key` (the config key or flag it came from).
    """
    path = checkpoints.resolve(path, key)
    checkpointer = ocp.StandardCheckpointer()
    # Restored onto this process's first device whatever the topology it was saved
    # from (a run on 8 devices read by a 1-device evaluation, or the converse).
    device = jax.sharding.SingleDeviceSharding(jax.local_devices()[0])
    metadata = checkpointer.metadata(path)
    metadata = getattr(metadata, "item_metadata", metadata)
    target = jax.tree.map(
        lambda m: (
            jax.ShapeDtypeStruct(m.shape, m.dtype, sharding=device) if hasattr(m, "shape") else m
        ),
        dict(metadata),
    )
    restored = checkpointer.restore(path, target)
    missing = {"params"} - set(restored)
    if missing:
        raise ValueError(f"{path} is not a variables checkpoint: it has {sorted(restored)}")
    return {
        "params": restored["params"],
        "batch_stats": restored.get("batch_stats", {}),
    }


def _is_new_module(path: tuple[str, ...]) -> bool:
    return any(re.fullmatch(n, name) for name in path for n in NEW_MODULE_NAMES)


def _adapt(value: np.ndarray, shape: tuple[int, ...], inflation: str) -> np.ndarray | None:
    """`value` made to fit `shape` by cross-modality init and/or inflation, or None."""
    value = np.asarray(value, np.float32)
    if value.shape == shape:
        return value
    if len(shape) == value.ndim + 1 and value.ndim >= 3:
        value = inflate.inflate_kernel(value, shape[0], inflation)
    if value.ndim == len(shape) and value.ndim >= 3 and value.shape[-2] != shape[-2]:
        if value.shape[:-2] == shape[:-2] and value.shape[-1] == shape[-1]:
            value = inflate.cross_modality_kernel(value, shape[-2])
    return value if value.shape == shape else None


def init_backbone(
    variables: Mapping[str, Any],
    pretrained: Mapping[str, Any],
    inflation: str = "average",
    name_map: KeyRules = (),
    log: Callable[[str], None] = print,
    dropped_modules: tuple[str, ...] = CLASSIFIER_MODULES,
    new_classifier: bool = False,
) -> Tree:
    """The TSN `variables` with the backbone (and maybe `fc`) taken from `pretrained`.

    Args:
      variables: `{'params', 'batch_stats'}` of the TSN to initialize (freshly
        initialized; only the structure, shapes and untouched values are used).
      pretrained: `{'params', 'batch_stats'}` of a converted classifier or a TSN.
      inflation: 'average' or 'center', for 2D kernels loaded into a 3D backbone.
      name_map: rules from the backbone's torch-style keys to the pretrained model's,
        tried where a name is not found as it is (`NAME_MAPS`: ImageNet ResNet into
        I3D-ResNet, GoogLeNet into I3D).
      log: receives one line per decision (dropped modules, kept initializations).
      dropped_modules: top-level pretrained modules the model may lack (its
        classifier); any other unused pretrained module is an error.
      new_classifier: keep the fresh initialization of everything outside the
        backbone (`fc`, a learned consensus) even where a TSN checkpoint has it in
        the same shape (`config.init.classifier='new'`).

    Returns:
      New `{'params', 'batch_stats'}` (numpy leaves), same structure as `variables`.

    Raises:
      ValueError: listing missing, unexpected and mismatched tensors.
    """
    is_tsn = "backbone" in pretrained["params"]
    flat_new = flax.traverse_util.flatten_dict(flax.core.unfreeze(dict(variables)))
    sources = {}
    for collection in ("params", "batch_stats"):
        flat = flax.traverse_util.flatten_dict(dict(pretrained.get(collection) or {}))
        for path, value in flat.items():
            sources[(collection, *path) if is_tsn else (collection, "backbone", *path)] = value
    by_key = {torch_key(path[0], path[2:]): path for path in sources if path[1] == "backbone"}

    def source_of(path: tuple[str, ...]) -> tuple[str, ...] | None:
        if path in sources:
            return path
        if path[1] == "backbone" and name_map:
            return by_key.get(rename_key(torch_key(path[0], path[2:]), name_map))
        return None

    out, missing, mismatched, kept, used = {}, [], [], [], set()
    for path, leaf in flat_new.items():
        shape = tuple(leaf.shape)
        key = "/".join(path)
        source = source_of(path)
        if new_classifier and path[1] != "backbone":
            source = None
        if source is None:
            if path[1] != "backbone" or _is_new_module(path):
                kept.append(key)
                out[path] = np.asarray(leaf)
            else:
                missing.append(key)
            continue
        used.add(source)
        value = _adapt(sources[source], shape, inflation)
        if value is not None:
            out[path] = value
        elif path[1] != "backbone":  # TSN fc with another class count: a new classifier.
            kept.append(key)
            out[path] = np.asarray(leaf)
        else:
            mismatched.append(f"{key}: pretrained {np.shape(sources[source])}, model {shape}")

    # The pretrained classifier is dropped; any other unused tensor is an error.
    unused = [p for p in sources if p not in used and p[1] == "backbone"]
    dropped = sorted({p[2] for p in unused if p[2] in dropped_modules})
    unexpected = sorted("/".join(p) for p in unused if p[2] not in dropped_modules)
    if dropped:
        log(f"init.checkpoint: dropping pretrained modules the backbone does not have: {dropped}")
    problems = []
    if missing:
        problems.append(f"missing from the checkpoint: {missing}")
    if unexpected:
        problems.append(f"not in the model: {unexpected}")
    if mismatched:
        problems.append(f"shapes that cannot be adapted: {mismatched}")
    if problems:
        raise ValueError("init.checkpoint does not fit the model; " + "; ".join(problems))
    if kept:
        log(f"init.checkpoint: keeping the fresh initialization of {kept}")
    return flax.traverse_util.unflatten_dict(out)


def parse_stream_checkpoints(specs: Sequence[str], streams: Sequence[str]) -> dict[str, str]:
    """`('frame=/ckpt/vgg16', 'clip=/ckpt/c3d')` -> {stream: path}; unknown streams are errors."""
    paths = {}
    for spec in specs:
        stream, sep, path = spec.partition("=")
        if not sep or not path:
            raise ValueError(f"init.stan_streams entries are 'stream=path', got {spec!r}")
        if stream not in streams:
            raise ValueError(
                f"init.stan_streams names stream {stream!r}, the model's are {list(streams)}"
            )
        if stream in paths:
            raise ValueError(f"init.stan_streams names stream {stream!r} twice")
        paths[stream] = path
    return paths


def init_stan_streams(
    variables: Mapping[str, Any],
    checkpoints: Mapping[str, Mapping[str, Any]],
    inflation: str = "average",
    log: Callable[[str], None] = print,
) -> Tree:
    """The STAN `variables` with each named stream's backbone taken from a checkpoint.

    STAN (Li et al.) starts its frame and flow streams from ImageNet VGG-16 and its clip
    stream from C3D trained on Sports-1M. Each stream's `backbone` is filled as
    `init_backbone` fills a TSN's (cross-modality initialization for the flow stream's
    first kernel included); its conv6, attention cells, LSTM and classifier, which no
    pretrained classifier has, keep their initialization, and the pretrained fully
    connected layers are dropped (`FEATURE_MAP_DROPPED`).

    Args:
      variables: `{'params', 'batch_stats'}` of a freshly initialized STAN.
      checkpoints: {stream name ('frame', 'flow', 'clip'): `{'params', 'batch_stats'}`}.
      inflation, log: as for `init_backbone`.

    Returns:
      New `{'params', 'batch_stats'}` with the same structure as `variables`.
    """
    out = {c: dict(flax.core.unfreeze(dict(variables.get(c) or {}))) for c in variables}
    out.setdefault("batch_stats", {})
    for stream, pretrained in checkpoints.items():
        scope = f"{stream}_stream"
        if scope not in out["params"]:
            raise ValueError(f"the model has no {stream!r} stream to initialize")
        sub = {c: out[c].get(scope, {}) for c in ("params", "batch_stats")}
        filled = init_backbone(
            sub,
            pretrained,
            inflation=inflation,
            log=lambda line, stream=stream: log(f"[{stream} stream] {line}"),
            dropped_modules=FEATURE_MAP_DROPPED,
        )
        for collection, tree in filled.items():
            if tree:
                out.setdefault(collection, {})[scope] = tree
    return out
