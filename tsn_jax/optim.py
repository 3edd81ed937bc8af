"""Optimizer and learning-rate schedule from the config (optax).

SGD with momentum as in TSN: the raw gradient is clipped by its global norm
first (TSN clips at 40 for RGB, 20 for flow), then L2 weight decay is added to
conv and linear kernels (not to biases or BatchNorm scale/bias, which the TSN
code gives a decay multiplier of 0), then momentum and the learning rate.
"""

import jax
import ml_collections
import optax


def create_learning_rate_schedule(
    config: ml_collections.ConfigDict, steps_per_epoch: int
) -> optax.Schedule:
    """Step schedule: base rate, multiplied by `lr_decay_factor` at each decay epoch.

    Args:
      config: full config (uses config.optimizer).
      steps_per_epoch: training steps in one pass over the training split.

    Returns:
      step -> learning rate.
    """
    opt = config.optimizer
    boundaries = {
        int(round(epoch * steps_per_epoch)): opt.lr_decay_factor for epoch in opt.lr_decay_epochs
    }
    return optax.piecewise_constant_schedule(opt.learning_rate, boundaries)


def weight_decay_mask(params):
    """True for the leaves that get weight decay: every 'kernel'."""
    return jax.tree_util.tree_map_with_path(
        lambda path, _: getattr(path[-1], "key", None) == "kernel", params
    )


def create_optimizer(
    config: ml_collections.ConfigDict, schedule: optax.Schedule
) -> optax.GradientTransformation:
    """clip-by-global-norm -> L2 decay on kernels -> SGD with momentum."""
    opt = config.optimizer
    parts = []
    if opt.clip_grad_norm > 0:
        parts.append(optax.clip_by_global_norm(opt.clip_grad_norm))
    if opt.weight_decay > 0:
        parts.append(optax.add_decayed_weights(opt.weight_decay, mask=weight_decay_mask))
    parts.append(optax.sgd(schedule, momentum=opt.momentum or None))
    return optax.chain(*parts)
