"""Optimizer and learning-rate schedule from the config (optax).

SGD with momentum as in TSN: the raw gradient is clipped by its global norm
first (TSN clips at 40 for RGB, 20 for flow), then L2 weight decay is added
(to conv and linear kernels only by default: the TSN code gives biases and
BatchNorm scale/bias a decay multiplier of 0), then momentum and the learning
rate. Per-parameter multipliers of the learning rate and of the weight decay,
selected by regular expressions on the parameter path, give the reference
recipes' parameter groups (TSM's classifier weights x5 and biases x10; a flow
network's first convolution x5 in some recipes). Frozen parameters (partial BN,
frozen stages: `tsn_jax.finetune`) get no update at all and are left out of the
gradient clipping, as parameters without gradients are in PyTorch.

Linear-weighting consensus (TSN TPAMI 2018, Sec. 3.3, Eq. 7: "we use this equation to
update the network weights W and the combination weights omega alternatively"): with
`model.consensus='weighted'` and `optimizer.consensus_update='alternate'` (the default,
the paper's rule) even steps update only the network and odd steps only the segment
weights `consensus_weights`. Each group runs its own copy of the chain above (its own
gradient clipping and momentum, untouched on the steps it sits out) at the learning
rate of the global step. The paper does not say how often it alternates; every step
is our choice. 'joint' updates both every step (plain back-propagation, as for the
attention weights, which the paper learns jointly with W).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import optax

SCHEDULES = ("step", "cosine", "plateau")
CONSENSUS_UPDATES = ("alternate", "joint")
# The parameter of the linear-weighting consensus (tsn_jax.models.tsn.TSN).
CONSENSUS_WEIGHTS = "consensus_weights"


def base_learning_rate(config: ml_collections.ConfigDict) -> float:
    """The learning rate, scaled linearly with the global batch when asked.

    With `optimizer.lr_base_batch_size` > 0, the rate is learning_rate x batch_size
    / lr_base_batch_size (the linear scaling rule, Goyal et al. 2017), so a recipe's
    rate carries over to a different number of devices.
    """
    opt = config.optimizer
    if opt.lr_base_batch_size > 0:
        return opt.learning_rate * config.batch_size / opt.lr_base_batch_size
    return opt.learning_rate


def create_learning_rate_schedule(
    config: ml_collections.ConfigDict, steps_per_epoch: int
) -> optax.Schedule:
    """step -> learning rate, after `optimizer.warmup_epochs` of linear warmup from 0.

    'step': the base rate multiplied by `lr_decay_factor` at each of `lr_decay_epochs`
    (TSN, mmaction2's multi-step). 'cosine': cosine decay from the base rate to 0 at
    the end of training (`total_steps`; mmaction2's CosineAnnealing, Chen et al.).
    'plateau': the base rate, which the training loop multiplies by the factor that
    `plateau_update` keeps (Hara et al.'s reduce-on-plateau of the validation loss).

    Args:
      config: full config (uses config.optimizer, config.batch_size).
      steps_per_epoch: training steps in one pass over the training split.
    """
    opt = config.optimizer
    rate = base_learning_rate(config)
    warmup = int(round(opt.warmup_epochs * steps_per_epoch))
    if opt.schedule in ("step", "plateau"):
        decay_epochs = opt.lr_decay_epochs if opt.schedule == "step" else ()
        boundaries = {
            int(round(epoch * steps_per_epoch)): opt.lr_decay_factor for epoch in decay_epochs
        }
        main = optax.piecewise_constant_schedule(rate, boundaries)
        if not warmup:
            return main
        # The step boundaries count from the start of training, warmup included.
        ramp = optax.linear_schedule(0.0, rate, warmup)
        return lambda step: jnp.where(step < warmup, ramp(step), main(step))
    if opt.schedule == "cosine":
        total = total_steps(config, steps_per_epoch)
        if warmup:
            return optax.warmup_cosine_decay_schedule(0.0, rate, warmup, max(total, warmup + 1))
        return optax.cosine_decay_schedule(rate, max(total, 1))
    raise ValueError(f"config.optimizer.schedule must be one of {SCHEDULES}, got {opt.schedule!r}")


def initial_plateau_state() -> dict[str, jax.Array]:
    """Reduce-on-plateau bookkeeping: rate factor 1, best loss +inf, no bad evaluation yet."""
    return {
        "lr_scale": jnp.ones((), jnp.float32),
        "best": jnp.full((), jnp.inf, jnp.float32),
        "num_bad": jnp.zeros((), jnp.int32),
    }


def plateau_update(
    state: dict[str, jax.Array],
    value: float,
    *,
    factor: float,
    patience: int,
    threshold: float = 1e-4,
) -> dict[str, jax.Array]:
    """One evaluation of reduce-on-plateau (PyTorch's ReduceLROnPlateau, mode 'min', 'rel').

    A value below best x (1 - threshold) is an improvement; after more than `patience`
    evaluations without one, the rate factor is multiplied by `factor` and the count
    restarts (Hara et al. divide by 10 after 10 epochs of stalled validation loss).

    Returns:
      The new {'lr_scale', 'best', 'num_bad'}.
    """
    improved = value < float(state["best"]) * (1.0 - threshold)
    best = value if improved else float(state["best"])
    num_bad = 0 if improved else int(state["num_bad"]) + 1
    scale = float(state["lr_scale"])
    if num_bad > patience:
        scale, num_bad = scale * factor, 0
    return {
        "lr_scale": jnp.asarray(scale, jnp.float32),
        "best": jnp.asarray(best, jnp.float32),
        "num_bad": jnp.asarray(num_bad, jnp.int32),
    }  # fmt: skip


def total_steps(config: ml_collections.ConfigDict, steps_per_epoch: int) -> int:
    """Training steps: num_train_steps when > 0, else num_epochs x steps_per_epoch."""
    if config.num_train_steps > 0:
        return int(config.num_train_steps)
    return int(math.ceil(config.num_epochs * steps_per_epoch))


def _path_name(path: Sequence[Any]) -> str:
    """'backbone/conv1/kernel' for a tree path."""
    return "/".join(str(getattr(key, "key", key)) for key in path)


def parse_multipliers(specs: Sequence[str], key: str) -> list[tuple[re.Pattern, float]]:
    """["fc/kernel=5", "fc/bias=10"] -> [(regex, 5.0), (regex, 10.0)].

    Raises:
      ValueError: a spec without '=', a bad regex or a bad number (naming the config key).
    """
    parsed = []
    for spec in specs:
        pattern, sep, factor = spec.rpartition("=")
        try:
            if not sep:
                raise ValueError("expected 'regex=factor'")
            parsed.append((re.compile(pattern), float(factor)))
        except (ValueError, re.error) as e:
            raise ValueError(f"config.optimizer.{key}: bad entry {spec!r}: {e}") from None
    return parsed


def factor_by_path(
    specs: Sequence[str], key: str, default: Callable[[str], float]
) -> Callable[[str], float]:
    """path -> factor: the first spec whose regex matches the path, else `default(path)`.

    Args:
      specs: 'regex=factor' strings, searched in the path 'module/submodule/name'.
      key: the config key, for messages.
      default: factor of parameters no spec matches.
    """
    parsed = parse_multipliers(specs, key)

    def factor(name: str) -> float:
        for pattern, value in parsed:
            if pattern.search(name):
                return value
        return default(name)

    return factor


def group_learning_rates(opt: ml_collections.ConfigDict, learning_rate: float) -> dict[str, float]:
    """The rate of each parameter group of `optimizer.lr_multipliers` at a step whose base
    rate is `learning_rate`: {'<regex>': rate x factor, ..., 'other': rate}; {} without
    multipliers (every parameter then has the base rate)."""
    if not opt.lr_multipliers:
        return {}
    rates = {
        pattern.pattern: learning_rate * factor
        for pattern, factor in parse_multipliers(opt.lr_multipliers, "lr_multipliers")
    }
    return {**rates, "other": learning_rate}


def is_kernel(name: str) -> bool:
    """Whether a parameter path names a conv or linear kernel (the leaves decayed by default)."""
    return name.rsplit("/", 1)[-1] == "kernel"


def _scale_each(factor: Callable[[str], float]) -> optax.GradientTransformation:
    """Multiplies each leaf's update by factor(its path)."""

    def scale(updates, params):
        del params
        return jax.tree_util.tree_map_with_path(
            lambda path, u: u * factor(_path_name(path)), updates
        )

    return optax.stateless(scale)


def _add_weight_decay(rate: float, factor: Callable[[str], float]) -> optax.GradientTransformation:
    """L2 decay: adds rate x factor(path) x param to each leaf's gradient (factor 0: none)."""

    def add(updates, params):
        return jax.tree_util.tree_map_with_path(
            lambda path, g, p: g + rate * factor(_path_name(path)) * p, updates, params
        )

    return optax.stateless(add)


def _sgd_chain(
    opt: ml_collections.ConfigDict, schedule: optax.Schedule
) -> optax.GradientTransformation:
    """clip-by-global-norm -> L2 decay -> SGD with momentum -> per-parameter rate factors."""
    parts = []
    if opt.clip_grad_norm > 0:
        parts.append(optax.clip_by_global_norm(opt.clip_grad_norm))
    if opt.weight_decay > 0:
        decay = factor_by_path(
            opt.weight_decay_multipliers,
            "weight_decay_multipliers",
            lambda name: float(is_kernel(name)),
        )
        parts.append(_add_weight_decay(opt.weight_decay, decay))
    parts.append(optax.sgd(schedule, momentum=opt.momentum or None))
    if opt.lr_multipliers:
        rates = factor_by_path(opt.lr_multipliers, "lr_multipliers", lambda name: 1.0)
        parts.append(_scale_each(rates))
    return optax.chain(*parts)


def _on_alternate_steps(
    opt: ml_collections.ConfigDict, schedule: optax.Schedule, phase: int
) -> optax.GradientTransformation:
    """The SGD chain applied only on global steps t with t % 2 == phase.

    On the other steps the updates are zero and the chain's state (momentum, its step
    count) is left as it was. The chain's own count c therefore reaches its c-th update
    at global step 2c + phase, which is the step whose learning rate it is given.
    """
    inner = _sgd_chain(opt, lambda count: schedule(2 * count + phase))

    def init(params):
        return inner.init(params), jnp.zeros((), jnp.int32)

    def update(updates, state, params=None):
        inner_state, step = state
        new_updates, new_inner_state = inner.update(updates, inner_state, params)
        active = step % 2 == phase
        new_updates = jax.tree.map(lambda u: jnp.where(active, u, jnp.zeros_like(u)), new_updates)
        new_inner_state = jax.tree.map(
            lambda new, old: jnp.where(active, new, old), new_inner_state, inner_state
        )
        return new_updates, (new_inner_state, step + 1)

    return optax.GradientTransformation(init, update)


def create_optimizer(
    config: ml_collections.ConfigDict, schedule: optax.Schedule, frozen: Any = None
) -> optax.GradientTransformation:
    """clip-by-global-norm -> L2 decay -> SGD with momentum -> per-parameter rate factors.

    With `model.consensus='weighted'` and `optimizer.consensus_update='alternate'` the
    network and the consensus weights each get that chain on alternate steps (module
    docstring).

    Args:
      config: full config (uses config.optimizer, config.model.consensus).
      schedule: the learning-rate schedule.
      frozen: None, or a tree like `params` of bools (`finetune.frozen_parameters`):
        True leaves get zero updates.
    """
    opt = config.optimizer
    if opt.consensus_update not in CONSENSUS_UPDATES:
        raise ValueError(
            f"config.optimizer.consensus_update must be one of {CONSENSUS_UPDATES}, "
            f"got {opt.consensus_update!r}"
        )
    alternate = opt.consensus_update == "alternate" and config.model.consensus == "weighted"
    any_frozen = frozen is not None and any(jax.tree.leaves(frozen))
    if not alternate and not any_frozen:
        return _sgd_chain(opt, schedule)

    def labels(params):
        flags = frozen if frozen is not None else jax.tree.map(lambda _: False, params)

        def label(path, is_frozen):
            if is_frozen:
                return "frozen"
            if alternate and _path_name(path).rsplit("/", 1)[-1] == CONSENSUS_WEIGHTS:
                return "consensus"
            return "train"

        tree = jax.tree_util.tree_map_with_path(label, flags)
        if alternate and "consensus" not in jax.tree.leaves(tree):
            raise ValueError(
                f"consensus_update='alternate' found no {CONSENSUS_WEIGHTS!r} to train"
            )
        return tree

    transforms = {"frozen": optax.set_to_zero()}
    if alternate:
        transforms["train"] = _on_alternate_steps(opt, schedule, 0)
        transforms["consensus"] = _on_alternate_steps(opt, schedule, 1)
    else:
        transforms["train"] = _sgd_chain(opt, schedule)
    return optax.multi_transform(transforms, labels)
