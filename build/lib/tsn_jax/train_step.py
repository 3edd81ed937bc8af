"""The sharded training step and the state it carries.

One jitted update step over a 1-D `data` mesh of every device: parameters and
optimizer state replicated, the batch sharded along its first axis. XLA
partitions the BatchNorm means over the sharded batch, so the statistics are
those of the global batch (every snippet of every device), as in single-device
TSN training. Nothing here reads data: `tsn_jax.runner` drives the loop.
"""

import collections
import functools
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import flax
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from tsn_jax import optim
from tsn_jax.models import batch_norm, example_inputs, model_inputs

# ----------------------------------------------------------------------------
# State
# ----------------------------------------------------------------------------


@flax.struct.dataclass
class TrainState:
    """Everything a training run carries from step to step (a plain pytree).

    `params` and `batch_stats` are the Flax variable collections; `opt_state`
    is optax's; `plateau` is reduce-on-plateau's factor of the learning rate and
    its bookkeeping (`optim.plateau_update`; factor 1 with other schedules).
    Checkpoints hold exactly these fields.
    """

    step: jax.Array
    params: Any
    batch_stats: Any
    opt_state: Any
    plateau: Any

    def variables(self) -> dict[str, Any]:
        return {"params": self.params, "batch_stats": self.batch_stats}


def initial_state(
    model: nn.Module, tx: optax.GradientTransformation, rng: jax.Array, input_shape: tuple
) -> TrainState:
    """Randomly initialized state for inputs of `input_shape` [B, K, T, H, W, C] (a dict of
    such shapes for a multi-stream model)."""
    variables = model.init(rng, example_inputs(input_shape), train=False)
    params = variables["params"]
    return TrainState(
        step=jnp.zeros((), jnp.int32),
        params=params,
        batch_stats=variables.get("batch_stats", {}),
        opt_state=tx.init(params),
        plateau=optim.initial_plateau_state(),
    )


# ----------------------------------------------------------------------------
# Mesh and sharding
# ----------------------------------------------------------------------------


def create_mesh() -> Mesh:
    """A 1-D mesh named 'data' over every device of every process."""
    return Mesh(np.asarray(jax.devices()), ("data",))


def shard_batch(batch: Mapping[str, np.ndarray], mesh: Mesh) -> dict[str, jax.Array]:
    """This process's numpy batch -> global arrays sharded along the batch axis."""
    sharding = NamedSharding(mesh, P("data"))
    return {
        key: jax.make_array_from_process_local_data(sharding, np.asarray(value))
        for key, value in batch.items()
    }


def replicate(tree: Any, mesh: Mesh) -> Any:
    """Host arrays holding the same values in every process -> arrays replicated on `mesh`.

    (`jax.device_put` cannot target the devices of other processes.)
    """
    sharding = NamedSharding(mesh, P())
    return jax.tree.map(
        lambda x: jax.make_array_from_process_local_data(sharding, np.asarray(x)), tree
    )


@jax.jit
def is_finite(tree: Any) -> jax.Array:
    """Whether every number of every floating-point array of `tree` is finite (a bool)."""
    leaves = [x for x in jax.tree.leaves(tree) if jnp.issubdtype(x.dtype, jnp.floating)]
    return jnp.all(jnp.stack([jnp.all(jnp.isfinite(x)) for x in leaves]))


def prefetch_to_device(
    batches: Iterator[Mapping[str, np.ndarray]], mesh: Mesh, size: int
) -> Iterator[dict[str, jax.Array]]:
    """`shard_batch` of each batch, `size` batches ahead of the one being consumed.

    Copies to the devices are asynchronous: while the step runs on batch s, batches
    s + 1 .. s + size are on their way, so the host-to-device transfer overlaps the
    computation. `size` 0 shards each batch when it is asked for.
    """
    queue: collections.deque = collections.deque()
    for batch in batches:
        queue.append(shard_batch(batch, mesh))
        if len(queue) > size:
            yield queue.popleft()
    while queue:
        yield queue.popleft()


# ----------------------------------------------------------------------------
# Update step
# ----------------------------------------------------------------------------


def _microbatches(batch: Mapping[str, jax.Array], count: int) -> dict[str, jax.Array]:
    """[B, ...] -> [count, B / count, ...]: micro-batch m holds rows m, m + count, ...

    Strided rather than contiguous, so that each micro-batch takes B / count / D rows
    from every device's contiguous block of the sharded batch and no row moves.
    """
    return {
        key: jnp.swapaxes(x.reshape((x.shape[0] // count, count) + x.shape[1:]), 0, 1)
        for key, x in batch.items()
    }


def train_step(
    state: TrainState,
    batch: Mapping[str, jax.Array],
    rng: jax.Array,
    *,
    model: nn.Module,
    tx: optax.GradientTransformation,
    schedule: optax.Schedule,
    fixed_statistics: frozenset[tuple[str, ...]] = frozenset(),
    label_smoothing: float = 0.0,
    accumulation_steps: int = 1,
) -> tuple[TrainState, dict[str, jax.Array]]:
    """One SGD step on the mean softmax cross-entropy of the consensus logits.

    Args:
      state: current state.
      batch: {'inputs': [B, K, T, H, W, C], 'label': [B]} (global batch).
      rng: base key; dropout uses it folded with the step (and the micro-batch).
      fixed_statistics: BatchNorm module paths that keep their running averages
        (partial BN, frozen stages: `finetune.fixed_statistics_paths`).
      label_smoothing: the target puts 1 - eps on the label and eps / N on every class.
      accumulation_steps: n > 1 runs the batch as n micro-batches of B / n (in a
        `lax.scan`, so only one micro-batch's activations are alive) and updates once
        with the mean of their gradients: the update of the whole batch, except that
        BatchNorm normalizes each micro-batch with its own statistics and updates its
        running averages n times, as accumulating gradients in PyTorch does.

    Returns:
      (new state, {'loss', 'accuracy', 'learning_rate', 'grad_norm'}).
    """
    dropout_rng = jax.random.fold_in(rng, state.step)

    # Partial BN and frozen stages: the BatchNorm layers named here keep their running
    # averages (batch_norm.FIXED_STATISTICS).
    fixed = batch_norm.fixed_statistics_collection(fixed_statistics)

    def loss_fn(params, batch_stats, micro, micro_rng):
        logits, updates = model.apply(
            {"params": params, "batch_stats": batch_stats, batch_norm.FIXED_STATISTICS: fixed},
            model_inputs(model, micro),
            train=True,
            rngs={"dropout": micro_rng},
            mutable=["batch_stats"],
        )
        logits = logits.astype(jnp.float32)
        if label_smoothing:
            targets = optax.smooth_labels(
                jax.nn.one_hot(micro["label"], logits.shape[-1]), label_smoothing
            )
            loss = optax.softmax_cross_entropy(logits, targets).mean()
        else:
            labels = micro["label"]
            loss = optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()
        accuracy = jnp.mean(jnp.argmax(logits, -1) == micro["label"])
        return loss, (accuracy, updates["batch_stats"])

    grad_fn = jax.value_and_grad(loss_fn, has_aux=True)
    if accumulation_steps == 1:
        (loss, (accuracy, batch_stats)), grads = grad_fn(
            state.params, state.batch_stats, batch, dropout_rng
        )
    else:

        def accumulate(carry, micro_and_index):
            grad_sum, loss_sum, accuracy_sum, batch_stats = carry
            micro, index = micro_and_index
            micro_rng = jax.random.fold_in(dropout_rng, index)
            (loss, (accuracy, batch_stats)), grads = grad_fn(
                state.params, batch_stats, micro, micro_rng
            )
            grad_sum = jax.tree.map(jnp.add, grad_sum, grads)
            return (grad_sum, loss_sum + loss, accuracy_sum + accuracy, batch_stats), None

        zeros = jax.tree.map(jnp.zeros_like, state.params)
        (grad_sum, loss_sum, accuracy_sum, batch_stats), _ = jax.lax.scan(
            accumulate,
            (zeros, jnp.zeros((), jnp.float32), jnp.zeros((), jnp.float32), state.batch_stats),
            (_microbatches(batch, accumulation_steps), jnp.arange(accumulation_steps)),
        )
        grads = jax.tree.map(lambda g: g / accumulation_steps, grad_sum)
        loss = loss_sum / accumulation_steps
        accuracy = accuracy_sum / accumulation_steps
    param_updates, opt_state = tx.update(grads, state.opt_state, state.params)
    # SGD is linear in the rate: scaling the update scales the rate.
    lr_scale = state.plateau["lr_scale"]
    param_updates = jax.tree.map(lambda u: u * lr_scale, param_updates)
    new_state = state.replace(
        step=state.step + 1,
        params=optax.apply_updates(state.params, param_updates),
        batch_stats=batch_stats,
        opt_state=opt_state,
    )
    step_metrics = {
        "loss": loss,
        "accuracy": accuracy,
        "learning_rate": schedule(state.step) * lr_scale,
        "grad_norm": optax.tree.norm(grads),
    }
    return new_state, step_metrics


def compile_train_step(
    model: nn.Module,
    tx: optax.GradientTransformation,
    schedule: optax.Schedule,
    mesh: Mesh,
    **train_options,
) -> Callable:
    """jitted train_step: replicated state, batch sharded on 'data', the state donated.

    `train_options` are `train_step`'s `fixed_statistics`, `label_smoothing` and
    `accumulation_steps`.
    """
    replicated = NamedSharding(mesh, P())
    batch_sharding = NamedSharding(mesh, P("data"))
    return jax.jit(
        functools.partial(train_step, model=model, tx=tx, schedule=schedule, **train_options),
        in_shardings=(replicated, batch_sharding, replicated),
        out_shardings=(replicated, replicated),
        donate_argnums=(0,),
    )


# ----------------------------------------------------------------------------
# The loop
# ----------------------------------------------------------------------------
