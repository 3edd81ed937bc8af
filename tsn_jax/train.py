"""Training and evaluation loop: `train_and_evaluate(config, workdir)`.

One jitted update step over a 1-D `data` mesh of every device: parameters and
optimizer state replicated, the batch sharded along its first axis. XLA
partitions the BatchNorm means over the sharded batch, so the statistics are
those of the global batch (every snippet of every device), as in single-device
TSN training.

The input pipeline (tf.data) and clu's writers are imported inside
`train_and_evaluate` only, so importing this module, the train step or the
models never loads TensorFlow.
"""

import collections
import functools
import json
import os
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import flax
import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from absl import logging
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from tsn_jax import checkpoints, finetune, optim, pretrained
from tsn_jax import evaluate as evaluation
from tsn_jax.config_checks import validate_config
from tsn_jax.models import create_model, example_inputs, layers, model_inputs

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

    def loss_fn(params, batch_stats, micro, micro_rng):
        with layers.batch_norm_running_average(fixed_statistics):
            logits, updates = model.apply(
                {"params": params, "batch_stats": batch_stats},
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


def _check_batch_sizes(config: ml_collections.ConfigDict) -> None:
    """The global batch splits over every device (in micro-batches too); evaluation rows
    split over each process's own devices."""
    devices, steps = jax.device_count(), config.gradient_accumulation_steps
    if config.batch_size % (devices * steps):
        raise ValueError(
            f"config.batch_size={config.batch_size} must be divisible by the {devices} devices "
            f"x config.gradient_accumulation_steps={steps}"
        )
    if config.eval_batch_size % jax.local_device_count():
        raise ValueError(
            f"config.eval_batch_size={config.eval_batch_size} must be divisible by the "
            f"{jax.local_device_count()} devices of a process"
        )


CLASS_NAMES_FILE = "class_names.json"


def model_input_shape(model: nn.Module, data_config: ml_collections.ConfigDict):
    """The shape of one training sample as `model` takes it: ``(1, K, T, S, S, C)``, or a
    dict of such shapes (one per 'inputs*' key) for multi-stream models (STAN)."""
    from input_pipeline import pipeline

    if getattr(model, "takes_streams", False):
        return {key: (1, *shape) for key, shape in pipeline.sample_shapes(data_config).items()}
    return (1, *pipeline.sample_shape(data_config))


def _pretrained_variables(config: ml_collections.ConfigDict, model: nn.Module, state):
    """`{'params', 'batch_stats'}` initialized from `config.init_from` (TSN) or
    `config.model.stan.init_from` (STAN streams), or None when neither is set."""
    variables = {"params": state.params, "batch_stats": state.batch_stats}
    if getattr(model, "takes_streams", False):
        if config.init_from:
            raise ValueError(
                "config.init_from initializes a TSN backbone; a STAN takes one checkpoint per "
                "stream in config.model.stan.init_from, e.g. ('frame=/ckpt/vgg16',)"
            )
        paths = pretrained.parse_stream_checkpoints(config.model.stan.init_from, model.streams)
        if not paths:
            return None
        logging.info("Initializing the STAN streams from %s", paths)
        return pretrained.init_stan_streams(
            variables,
            {stream: pretrained.load_checkpoint(path) for stream, path in paths.items()},
            inflation=config.init_inflation,
            log=logging.info,
        )
    if not config.init_from:
        return None
    logging.info("Initializing the backbone from %s", config.init_from)
    return pretrained.init_backbone(
        variables,
        pretrained.load_checkpoint(config.init_from),
        inflation=config.init_inflation,
        name_map=pretrained.NAME_MAPS.get(config.model.backbone, ()),
        log=logging.info,
    )


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> dict[str, Any]:
    """Trains a TSN model, evaluates it, checkpoints, and writes metrics.json.

    The final evaluation runs the config's test protocol (`tsn_jax.evaluate`) and
    also writes its eval_metrics.json, scores.npz and confusion matrix.

    Resumes from the newest checkpoint in `workdir/checkpoints` if there is one
    (the input stream resumes at the same sample). Evaluates every
    `config.eval_every_steps` steps (0: never in between) and after the last
    step.

    Args:
      config: a training config (see configs/default.py).
      workdir: where checkpoints, TensorBoard events, config.json and
        metrics.json go.

    Returns:
      The final evaluation metrics (as written to workdir/metrics.json).
    """
    # Deferred: tf.data and clu's TensorBoard writer load TensorFlow, which the
    # step functions and the models above must not need.
    from clu import metric_writers, periodic_actions

    from input_pipeline import datasets, pipeline

    validate_config(config)
    _check_batch_sizes(config)
    workdir = os.path.abspath(workdir)
    is_main = jax.process_index() == 0
    if is_main:
        os.makedirs(workdir, exist_ok=True)
        with open(os.path.join(workdir, "config.json"), "w") as f:
            f.write(config.to_json_best_effort(indent=2))
    writer = metric_writers.create_default_writer(workdir, just_logging=not is_main)

    # --- input ---------------------------------------------------------------
    builder = datasets.get_builder(config.dataset)
    info = pipeline.get_dataset_info(builder, config)
    if is_main:  # tools/predict.py names the classes of a run's checkpoints from this file.
        with open(os.path.join(workdir, CLASS_NAMES_FILE), "w") as f:
            json.dump(list(info.class_names), f, indent=1)
    local_batch = config.batch_size // jax.process_count()
    steps_per_epoch = max(1, info.num_train_examples // config.batch_size)
    num_train_steps = max(1, optim.total_steps(config, steps_per_epoch))
    logging.info(
        "%d classes, %d train / %d eval videos, %d steps (%d per epoch)",
        info.num_classes,
        info.num_train_examples,
        info.num_eval_examples,
        num_train_steps,
        steps_per_epoch,
    )

    # --- model, optimizer, state ---------------------------------------------
    mesh = create_mesh()
    model = create_model(config.model, info.num_classes, config.data.num_segments)
    schedule = optim.create_learning_rate_schedule(config, steps_per_epoch)
    input_shape = model_input_shape(model, config.data)
    # What partial BN and freezing touch, from the order the model calls its layers.
    layout = finetune.model_layout(model, input_shape)
    frozen_stages = finetune.frozen_modules(layout, config.trainable_from)
    fixed_statistics = finetune.fixed_statistics_paths(
        layout, config.partial_bn, frozen_stages, config.frozen_batch_norm
    )
    frozen = finetune.frozen_parameters(
        jax.eval_shape(
            functools.partial(model.init, train=False),
            jax.random.key(0),
            example_inputs(input_shape),
        )["params"],
        layout,
        config.partial_bn,
        frozen_stages,
    )
    if frozen_stages or config.partial_bn != "off":
        logging.info(
            "Fine-tuning: partial BN %s, frozen backbone modules %s; %d BatchNorm layers keep "
            "their statistics, %d of %d parameter arrays are frozen",
            config.partial_bn,
            frozen_stages,
            len(fixed_statistics),
            sum(jax.tree.leaves(frozen)),
            len(jax.tree.leaves(frozen)),
        )
    tx = optim.create_optimizer(config, schedule, frozen)
    replicated = NamedSharding(mesh, P())
    # Made inside jit: a key must be a global array, the same in every process.
    init_rng, dropout_rng = jax.jit(
        lambda: tuple(jax.random.split(jax.random.key(config.seed))), out_shardings=replicated
    )()
    state = jax.jit(
        functools.partial(initial_state, model, tx, input_shape=input_shape),
        out_shardings=replicated,
    )(init_rng)
    p_train = compile_train_step(
        model,
        tx,
        schedule,
        mesh,
        fixed_statistics=fixed_statistics,
        label_smoothing=config.optimizer.label_smoothing,
        accumulation_steps=config.gradient_accumulation_steps,
    )

    # --- checkpoint ----------------------------------------------------------
    manager = checkpoints.create_manager(
        os.path.join(workdir, "checkpoints"),
        save_every_steps=config.checkpoint_every_steps,
        keep=config.keep_checkpoints,
    )
    if manager.latest_step() is None:
        variables = _pretrained_variables(config, model, state)
        if variables is not None:
            state = state.replace(
                params=replicate(variables["params"], mesh),
                batch_stats=replicate(variables["batch_stats"], mesh),
            )
    state = checkpoints.restore_latest(manager, state)
    start_step = int(state.step)
    if start_step:
        logging.info("Resumed from the checkpoint of step %d", start_step)

    # --- training ------------------------------------------------------------
    report = periodic_actions.ReportProgress(
        num_train_steps=num_train_steps, writer=writer, every_steps=config.log_every_steps
    )
    train_iter = prefetch_to_device(
        pipeline.create_train_dataset(
            builder,
            config,
            local_batch_size=local_batch,
            process_index=jax.process_index(),
            process_count=jax.process_count(),
            start_step=start_step,
        ).as_numpy_iterator(),
        mesh,
        config.prefetch_to_device,
    )
    pending = []
    for step in range(start_step + 1, num_train_steps + 1):
        with jax.profiler.StepTraceAnnotation("train", step_num=step):
            state, step_metrics = p_train(state, next(train_iter), dropout_rng)
        pending.append(step_metrics)
        report(step)
        if step % config.log_every_steps == 0 or step == num_train_steps:
            means = jax.tree.map(lambda *xs: float(np.mean(xs)), *jax.device_get(pending))
            writer.write_scalars(step, {f"train_{k}": v for k, v in means.items()})
            pending = []
        if (
            config.eval_every_steps
            and step % config.eval_every_steps == 0
            and step < num_train_steps
        ):
            with report.timed("eval"):
                _, summary = evaluation.evaluate(model, state.variables(), builder, config, info)
            writer.write_scalars(step, _scalars("eval", summary))
            if config.optimizer.schedule == "plateau":
                plateau = optim.plateau_update(
                    jax.device_get(state.plateau),
                    summary["loss"],
                    factor=config.optimizer.plateau_factor,
                    patience=config.optimizer.plateau_patience,
                )
                state = state.replace(plateau=replicate(plateau, mesh))
                writer.write_scalars(step, {"lr_scale": float(plateau["lr_scale"])})
        # After the evaluation: a resumed run must see the plateau state it updated.
        if step % config.checkpoint_every_steps == 0:
            manager.save(step, args=checkpoints.save_args(state))
    if manager.latest_step() != num_train_steps:
        manager.save(num_train_steps, args=checkpoints.save_args(state), force=True)
    manager.wait_until_finished()

    # --- final evaluation ----------------------------------------------------
    scores, summary = evaluation.evaluate(model, state.variables(), builder, config, info)
    summary["step"] = int(state.step)
    writer.write_scalars(summary["step"], _scalars("eval", summary))
    writer.flush()
    if is_main:
        with open(os.path.join(workdir, "metrics.json"), "w") as f:
            json.dump(summary, f, indent=2)
        evaluation.write_outputs(
            workdir, scores, summary, info.class_names, evaluation.protocol(config)
        )
    manager.close()
    return summary


def _scalars(prefix: str, summary: Mapping[str, Any]) -> dict[str, float]:
    """The scalar entries of a metrics summary, for the metric writer."""
    keys = ("top1", "top5", "loss", "mean_class_accuracy")
    scalars = {f"{prefix}_{k}": summary[k] for k in keys}
    for group, acc in summary.get("group_accuracy", {}).items():
        if acc is not None:
            scalars[f"{prefix}_{group}_accuracy"] = acc
    return scalars
