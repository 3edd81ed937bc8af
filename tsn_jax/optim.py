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


def create_optimizer(
    config: ml_collections.ConfigDict, schedule: optax.Schedule, frozen: Any = None
) -> optax.GradientTransformation:
    """clip-by-global-norm -> L2 decay -> SGD with momentum -> per-parameter rate factors.

    Args:
      config: full config (uses config.optimizer).
      schedule: the learning-rate schedule.
      frozen: None, or a tree like `params` of bools (`finetune.frozen_parameters`):
        True leaves get zero updates.
    """
    opt = config.optimizer
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
    tx = optax.chain(*parts)
    if frozen is None or not any(jax.tree.leaves(frozen)):
        return tx
    labels = jax.tree.map(lambda f: "frozen" if f else "train", frozen)
    return optax.multi_transform({"train": tx, "frozen": optax.set_to_zero()}, labels)
