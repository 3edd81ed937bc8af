"""Which parameters train and which BatchNorm layers keep their statistics: partial BN, freezing.

Partial BN (Wang et al., TSN, ECCV 2016, Sec. 3.2): when fine-tuning from ImageNet
with few videos, the statistics of every BatchNorm layer except the first are frozen.
The public TSN code (and tsn-pytorch's ``partialBN``) also freezes their scale and
bias; the paper's text mentions only the mean and variance. Both are offered:

* 'frozen'      (the public code): BatchNorm layers after the first normalize with
                their running averages, which stay as loaded, and their scale and
                bias get no updates;
* 'stats_only'  (the paper's text): the same statistics, scale and bias trained.

The first BatchNorm layer (after the first convolution) keeps computing batch
statistics, which re-estimates them for a new input distribution (flow, RGB
difference). The BatchNorm layers of non-local blocks are new layers, not part of the
pretrained network, and train as usual: their scale starts at zero (the block starts as
the identity), so freezing it would keep the block the identity for ever. mmaction2's
partial BN leaves them trainable too (it freezes `BatchNorm2d` only; theirs is a
`BatchNorm3d`).

Freezing (Hara et al., "Towards Good Practice for Action Recognition with
Spatiotemporal 3D Convolutions", ICPR 2018, Sec. IV-B and Fig. 2): fine-tuning only
from a stage upward; the earlier layers' parameters get no updates and their
BatchNorm layers use their running averages, so nothing of them changes.
`trainable_from` names the first trained module, by our module name ('layer4') or by
the paper's stage names (Table I; He et al.'s ResNet names), `PAPER_STAGES`:

    paper    conv1   conv2_x   conv3_x   conv4_x   conv5_x   fc
    ours     conv1   layer1_*  layer2_*  layer3_*  layer4_*  fc (outside the backbone)

The paper's ">convX" ("all layers above convX are finetuned", Fig. 2) trains what
follows conv X: its ">conv4", the best on UCF-101 and HMDB-51 (Sec. V-B), is
`trainable_from='conv5_x'`; ">conv5" is 'fc' (the whole backbone frozen); "All" is
'conv1' (or '', nothing frozen). ("Above conv1" must exclude conv1, or it would be
"All".)

Both are expressed as (a) a set of BatchNorm module paths that use running averages
(the `batch_norm.FIXED_STATISTICS` collection the train step passes to the model) and (b) a boolean
tree over the parameters marking the frozen ones (`optim.create_optimizer` gives
them zero updates), computed once from the model's variables.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping
from typing import Any

import flax.linen as nn
import jax

from tsn_jax.models import example_inputs

PARTIAL_BN_MODES = ("off", "frozen", "stats_only")
# Hara et al.'s stage names (ICPR 2018, Table I) -> our ResNet module prefixes; 'fc' is
# the classifier, after every backbone module.
PAPER_STAGES = {"conv2_x": "layer1", "conv3_x": "layer2", "conv4_x": "layer3", "conv5_x": "layer4"}
FROZEN_BATCH_NORM_MODES = ("fixed", "batch")

Path = tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class ModelLayout:
    """The order in which a model calls its layers, which variable trees do not keep.

    Attributes:
      batch_norms: module paths of every BatchNorm layer in call order, e.g.
        [('backbone', 'bn1'), ('backbone', 'layer1_0', 'bn1'), ...].
      backbone_modules: names of the backbone's top-level modules in call order
        (['conv1', 'bn1', 'layer1_0', ...]).
    """

    batch_norms: tuple[Path, ...]
    backbone_modules: tuple[str, ...]


def model_layout(model: nn.Module, input_shape: tuple[int, ...] | dict) -> ModelLayout:
    """Traces `model.init` on zeros of `input_shape` (shapes only) and records the call order.

    `input_shape` is [B, K, T, H, W, C], or a dict of them for a multi-stream model.

    Variable trees cannot give it: JAX sorts dict keys (r3d_18's 'layer1_0' would
    come before its 'stem').
    """
    calls: list[tuple[Path, bool]] = []
    seen: set[Path] = set()

    def record(next_fun, args, kwargs, context):
        path = tuple(context.module.path)
        if context.method_name == "__call__" and path not in seen:
            seen.add(path)
            calls.append((path, isinstance(context.module, nn.BatchNorm)))
        return next_fun(*args, **kwargs)

    with nn.intercept_methods(record):
        jax.eval_shape(
            functools.partial(model.init, train=False),
            jax.random.key(0),
            example_inputs(input_shape),
        )
    backbone_modules: list[str] = []
    for path, _ in calls:
        if len(path) > 1 and path[0] == "backbone" and path[1] not in backbone_modules:
            backbone_modules.append(path[1])
    return ModelLayout(
        batch_norms=tuple(path for path, is_bn in calls if is_bn),
        backbone_modules=tuple(backbone_modules),
    )


def frozen_modules(layout: ModelLayout, trainable_from: str) -> list[str]:
    """The backbone's top-level modules called before the first one named `trainable_from`.

    Args:
      layout: the model's `model_layout`.
      trainable_from: '' (nothing frozen); the name, or prefix before '_', of the
        first module to train: 'layer4' trains layer4_* upward, 'Mixed_5b' trains
        I3D's last two Mixed blocks; a ResNet stage by the paper's name, 'conv2_x' ..
        'conv5_x' (`PAPER_STAGES`: 'conv5_x' is 'layer4'); or 'fc': every backbone
        module frozen, only the classifier trains.

    Raises:
      ValueError: no module has that name (the message lists them).
    """
    if not trainable_from:
        return []
    names = list(layout.backbone_modules)
    if trainable_from == "fc":
        return names
    prefix = PAPER_STAGES.get(trainable_from, trainable_from)
    for i, name in enumerate(names):
        if name == prefix or name.startswith(prefix + "_"):
            return names[:i]
    raise ValueError(
        f"config.trainable_from={trainable_from!r} names no backbone module; in order: {names}"
        f" (or 'fc', or a ResNet stage {tuple(PAPER_STAGES)})"
    )


def partial_bn_paths(layout: ModelLayout) -> frozenset[Path]:
    """The BatchNorm layers partial BN freezes: all but the first, outside non-local blocks."""
    return frozenset(
        path
        for path in layout.batch_norms[1:]
        if not any(name.endswith("_non_local") for name in path)
    )


def fixed_statistics_paths(
    layout: ModelLayout, partial_bn: str, frozen: list[str], frozen_batch_norm: str = "fixed"
) -> frozenset[Path]:
    """BatchNorm paths that use running averages in training: partial BN's and frozen stages'.

    Args:
      layout, partial_bn, frozen: the model's layout, `config.partial_bn` and the frozen
        backbone modules (`frozen_modules`).
      frozen_batch_norm: 'fixed' -- frozen stages normalize with their running averages
        and never change them (Hara et al.: earlier layers untouched); 'batch' -- their
        BatchNorm layers still normalize with batch statistics and update the running
        averages, only their scale and bias are frozen, as Hara et al.'s public code does
        (`requires_grad = False` on parameters of a network left in training mode).
    """
    if partial_bn not in PARTIAL_BN_MODES:
        raise ValueError(f"config.partial_bn must be one of {PARTIAL_BN_MODES}, got {partial_bn!r}")
    if frozen_batch_norm not in FROZEN_BATCH_NORM_MODES:
        raise ValueError(
            f"config.frozen_batch_norm must be one of {FROZEN_BATCH_NORM_MODES}, "
            f"got {frozen_batch_norm!r}"
        )
    paths = layout.batch_norms
    fixed = set(partial_bn_paths(layout)) if partial_bn != "off" else set()
    if frozen_batch_norm == "fixed":
        fixed |= {p for p in paths if len(p) > 1 and p[0] == "backbone" and p[1] in frozen}
    return frozenset(fixed)


def frozen_parameters(
    params: Mapping[str, Any], layout: ModelLayout, partial_bn: str, frozen: list[str]
) -> Any:
    """A tree like `params` of bools: True for parameters that get no updates.

    Frozen stages' parameters, and with partial BN 'frozen' the scale and bias of
    the BatchNorm layers of `partial_bn_paths`.
    """
    frozen_bn = partial_bn_paths(layout) if partial_bn == "frozen" else frozenset()

    def is_frozen(path, _) -> bool:
        names = tuple(getattr(key, "key", str(key)) for key in path)
        if len(names) > 1 and names[0] == "backbone" and names[1] in frozen:
            return True
        return names[:-1] in frozen_bn

    return jax.tree_util.tree_map_with_path(is_frozen, params)
