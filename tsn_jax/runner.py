"""The runs: train and evaluate a config, or evaluate a trained checkpoint.

The one module of `tsn_jax` that drives `input_pipeline` (and so TensorFlow):
it builds the dataset a config names, feeds its batches to the train step
(`tsn_jax.train_step`) and the view scorer (`tsn_jax.scoring`), checkpoints,
and writes a run's files (`tsn_jax.reports`). `main.py` calls
`train_and_evaluate` or `evaluate`.
"""

import collections
import functools
import math
import os
from collections.abc import Iterator, Mapping
from typing import Any

import flax.linen as nn
import jax
import ml_collections
import numpy as np
from absl import logging
from clu import metric_writers
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

from input_pipeline import datasets, pipeline
from tsn_jax import (
    checkpoints,
    file_lock,
    finetune,
    optim,
    pretrained,
    progress,
    reports,
    runs,
    scoring,
    train_step,
)
from tsn_jax.config_checks import config_warnings, frame_count_warning, validate_config
from tsn_jax.errors import ConfigError, TrainingDiverged
from tsn_jax.models import create_model, example_inputs, input_shape_of


def _check_batch_sizes(config: ml_collections.ConfigDict) -> None:
    """The global batch splits over every device (in micro-batches too); evaluation rows
    split over each process's own devices."""
    devices, steps = jax.device_count(), config.gradient_accumulation_steps
    if config.batch_size % (devices * steps):
        raise ValueError(
            f"config.batch_size={config.batch_size} must be divisible by the {devices} devices "
            f"x config.gradient_accumulation_steps={steps}"
        )
    if config.eval.batch_size % jax.local_device_count():
        raise ValueError(
            f"config.eval.batch_size={config.eval.batch_size} must be divisible by the "
            f"{jax.local_device_count()} devices of a process"
        )


LOCK_FILE = "run.lock"


def _pretrained_variables(config: ml_collections.ConfigDict, model: nn.Module, state):
    """`{'params', 'batch_stats'}` initialized from `config.init.checkpoint` (TSN) or
    `config.init.stan_streams` (STAN streams), or None when neither is set."""
    variables = {"params": state.params, "batch_stats": state.batch_stats}
    if getattr(model, "takes_streams", False):
        if config.init.checkpoint:
            raise ValueError(
                "config.init.checkpoint initializes a TSN backbone; a STAN takes one checkpoint "
                "per stream in config.init.stan_streams, e.g. ('frame=/ckpt/vgg16',)"
            )
        paths = pretrained.parse_stream_checkpoints(config.init.stan_streams, model.streams)
        if not paths:
            return None
        logging.info("Initializing the STAN streams from %s", paths)
        return pretrained.init_stan_streams(
            variables,
            {stream: pretrained.load_checkpoint(path) for stream, path in paths.items()},
            inflation=config.init.inflation,
            log=logging.info,
        )
    if not config.init.checkpoint:
        return None
    logging.info("Initializing the backbone from %s", config.init.checkpoint)
    return pretrained.init_backbone(
        variables,
        pretrained.load_checkpoint(config.init.checkpoint, "config.init.checkpoint"),
        inflation=config.init.inflation,
        name_map=pretrained.NAME_MAPS.get(config.model.backbone, ()),
        log=logging.info,
        new_classifier=config.init.classifier == "new",
    )


def check_resumable(
    config: ml_collections.ConfigDict,
    workdir: str,
    *,
    num_train_steps: int | None = None,
    optimizer_may_change: bool = True,
) -> None:
    """Refuses to resume `workdir` under a config that would train differently from the
    steps already in it (`runs.resume_changes`): its newest checkpoint would otherwise go
    on silently under the new settings wherever the parameter shapes still fit.

    Passes a workdir without a checkpoint, or whose newest step holds no config, and one
    whose newest step is already `num_train_steps` (when given): a finished run only
    evaluates, so other test settings (or another crop size) are fine there. Other
    `optimizer.*` settings pass with a warning when `optimizer_may_change` (a lower
    learning rate after a divergence, as `TrainingDiverged` suggests).

    Raises:
      ConfigError: names the differing settings (the first five).
    """
    directory = checkpoints.workdir_checkpoints(workdir)
    step = checkpoints.newest_step(directory)
    if step is None or (num_train_steps is not None and step >= num_train_steps):
        return
    info = checkpoints.read_run_info(os.path.join(directory, str(step)))
    changes = runs.resume_changes(info["config"], config) if info else []
    tuned = [c for c in changes if optimizer_may_change and c.startswith("optimizer.")]
    conflicts = [c for c in changes if c not in tuned]
    if conflicts:
        more = f" and {len(conflicts) - 5} more" if len(conflicts) > 5 else ""
        raise ConfigError(
            f"{workdir} holds a run trained to step {step} with another config "
            f"({'; '.join(conflicts[:5])}{more}): resume it with the config it was trained "
            f"with ({runs.CONFIG_FILE} there), or train in a new workdir"
        )
    if tuned:
        logging.warning("Resuming %s from step %d with other optimizer settings: %s",
                        workdir, step, "; ".join(tuned))  # fmt: skip


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> dict[str, Any]:
    """Trains a TSN model, evaluates it, checkpoints, and writes metrics.json.

    The final evaluation runs the config's test protocol (`tsn_jax.scoring`) and
    also writes its eval_metrics.json, scores.npz and confusion matrix.

    Resumes from the newest checkpoint in `workdir/checkpoints` if there is one
    (the input stream resumes at the same sample). Evaluates every
    `config.eval_every_steps` steps (0: never in between) and after the last
    step.

    Args:
      config: a training config (see configs/default.py).
      workdir: where checkpoints, TensorBoard events, config.json and
        metrics.json go.

    Every setting is checked before anything is written to the workdir or any
    dataset is built, and an unfinished run resumes only under the config its
    checkpoints were trained with (`check_resumable`; training may be lengthened and the
    optimizer changed), checked before anything but the lock is written. One run at a
    time holds a workdir (`LOCK_FILE`). A step whose loss or gradient norm is not finite
    stops the run (`TrainingDiverged`) before its state could be saved, so the newest
    checkpoint on disk stays a good one.

    Returns:
      The final evaluation metrics (as written to workdir/metrics.json).

    Raises:
      ConfigError, CheckpointError: a bad setting or checkpoint (nothing written), or an
        unfinished workdir trained under another config (nothing but the lock written).
      WorkdirInUse: another live process trains in `workdir`.
      TrainingDiverged: a non-finite loss or gradient norm.
    """
    validate_config(config)
    _check_batch_sizes(config)
    for warning in config_warnings(config):
        logging.warning("%s", warning)
    workdir = os.path.abspath(workdir)
    if jax.process_index() != 0:
        return _train_and_evaluate(config, workdir)
    os.makedirs(workdir, exist_ok=True)
    lock = os.path.join(workdir, LOCK_FILE)
    with file_lock.exclusive(lock, wait=False, what=f"the workdir {workdir}", log=logging.warning):
        return _train_and_evaluate(config, workdir)


def _train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> dict[str, Any]:
    """`train_and_evaluate` once the config is checked and the workdir is this run's."""
    is_main = jax.process_index() == 0
    # --- input ---------------------------------------------------------------
    builder = datasets.get_builder(config.dataset)
    info = pipeline.get_dataset_info(builder, config)
    steps_per_epoch = max(1, info.num_train_examples // config.batch_size)
    num_train_steps = max(1, optim.total_steps(config, steps_per_epoch))
    check_resumable(config, workdir, num_train_steps=num_train_steps)
    writer = metric_writers.create_default_writer(workdir, just_logging=not is_main)
    # The config as run: with the data directory really used (TFDS's default for '').
    config = config.copy_and_resolve_references()
    config.dataset.data_dir = str(builder.data_dir_root)
    if is_main:  # tsn-jax-predict and runs.load_run read these two files.
        with open(os.path.join(workdir, runs.CONFIG_FILE), "w") as f:
            f.write(config.to_json_best_effort(indent=2))
        reports.write_json(os.path.join(workdir, runs.CLASS_NAMES_FILE), list(info.class_names))
    described = runs.run_info(config, info.class_names)
    writer.write_hparams(reports.flat_hparams(config.to_dict()))  # TensorBoard's HPARAMS tab
    split = config.dataset.train_split
    warning = frame_count_warning(config.data, pipeline.stored_frame_counts(builder, split), split)
    if warning:
        logging.warning("%s", warning)
    local_batch = config.batch_size // jax.process_count()
    logging.info(
        "%d classes, %d train / %d eval videos, %d steps (%d per epoch)",
        info.num_classes,
        info.num_train_examples,
        info.num_eval_examples,
        num_train_steps,
        steps_per_epoch,
    )

    # --- model, optimizer, state ---------------------------------------------
    mesh = train_step.create_mesh()
    model = create_model(config.model, info.num_classes, config.data.num_segments)
    schedule = optim.create_learning_rate_schedule(config, steps_per_epoch)
    input_shape = input_shape_of(model, config.data)
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
        functools.partial(train_step.initial_state, model, tx, input_shape=input_shape),
        out_shardings=replicated,
    )(init_rng)
    p_train = train_step.compile_train_step(
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
        checkpoints.workdir_checkpoints(workdir),
        save_every_steps=config.checkpoint_every_steps,
        keep=config.keep_checkpoints,
    )
    if manager.latest_step() is None:
        variables = _pretrained_variables(config, model, state)
        if variables is not None:
            state = state.replace(
                params=train_step.replicate(variables["params"], mesh),
                batch_stats=train_step.replicate(variables["batch_stats"], mesh),
            )
    state = checkpoints.restore_latest(manager, state, log=logging.warning)
    start_step = int(state.step)
    if start_step:
        logging.info("Resumed from the checkpoint of step %d", start_step)

    # --- training ------------------------------------------------------------
    report = progress.StepProgress(num_train_steps, first_step=start_step + 1)
    # The video ids of the last few batches, by step, to name them if a step diverges.
    batch_ids: collections.OrderedDict[int, np.ndarray] = collections.OrderedDict()
    train_iter = train_step.prefetch_to_device(
        _host_ids_apart(
            pipeline.create_train_dataset(
                builder,
                config,
                local_batch_size=local_batch,
                process_index=jax.process_index(),
                process_count=jax.process_count(),
                start_step=start_step,
            ).as_numpy_iterator(),
            batch_ids,
            first_step=start_step + 1,
            keep=config.prefetch_to_device + 2,
        ),
        mesh,
        config.prefetch_to_device,
    )
    # A step's metrics are read when the next step has been dispatched (so reading them
    # does not stall the device), and always before a log line, evaluation or save.
    unchecked: list[tuple[int, Mapping[str, jax.Array]]] = []

    def check_finite() -> None:
        for step, step_metrics in unchecked:
            _check_finite(step, step_metrics, batch_ids.get(step), manager, config)
        unchecked.clear()

    pending = []
    try:
        for step in range(start_step + 1, num_train_steps + 1):
            with jax.profiler.StepTraceAnnotation("train", step_num=step):
                state, step_metrics = p_train(state, next(train_iter), dropout_rng)
            check_finite()
            unchecked.append((step, step_metrics))
            pending.append(step_metrics)
            if step % config.log_every_steps == 0 or step == num_train_steps:
                check_finite()  # every step so far has finished
                means = jax.tree.map(lambda *xs: float(np.mean(xs)), *jax.device_get(pending))
                scalars = {f"train_{k}": v for k, v in means.items()}
                rate = report.steps_per_second(step)
                if rate is not None:
                    scalars["steps_per_sec"] = rate
                for group, value in optim.group_learning_rates(
                    config.optimizer, means["learning_rate"]
                ).items():
                    scalars[f"learning_rate/{group}"] = value
                writer.write_scalars(step, scalars)
                line = report.line(step)
                if is_main:
                    logging.info("%s", line)
                pending = []
            if (
                config.eval_every_steps
                and step % config.eval_every_steps == 0
                and step < num_train_steps
            ):
                check_finite()
                with report.paused():
                    scores, summary = evaluate_split(
                        model, state.variables(), builder, config, info
                    )
                _write_evaluation(writer, step, scores, summary, info.class_names)
                if config.optimizer.schedule == "plateau":
                    plateau = optim.plateau_update(
                        jax.device_get(state.plateau),
                        summary["loss"],
                        factor=config.optimizer.plateau_factor,
                        patience=config.optimizer.plateau_patience,
                    )
                    state = state.replace(plateau=train_step.replicate(plateau, mesh))
                    writer.write_scalars(step, {"lr_scale": float(plateau["lr_scale"])})
            # After the evaluation: a resumed run must see the plateau state it updated.
            if step % config.checkpoint_every_steps == 0:
                check_finite()
                _check_state(step, state, manager, config)
                manager.save(step, args=checkpoints.save_args(state, described))
        check_finite()
        if manager.latest_step() != num_train_steps:
            _check_state(num_train_steps, state, manager, config)
            manager.save(num_train_steps, args=checkpoints.save_args(state, described), force=True)
    finally:
        # Saves already started complete (a diverged run keeps its good checkpoints).
        manager.wait_until_finished()

    # --- final evaluation ----------------------------------------------------
    scores, summary = evaluate_split(model, state.variables(), builder, config, info)
    summary["step"] = int(state.step)
    _write_evaluation(writer, summary["step"], scores, summary, info.class_names)
    writer.flush()
    if is_main:
        reports.write_json(os.path.join(workdir, "metrics.json"), summary)
        reports.write_outputs(
            workdir,
            scores,
            summary,
            info.class_names,
            scoring.protocol(config),
            info.class_groups,
        )
    manager.close()
    return summary


def _host_ids_apart(
    batches: Iterator[dict[str, np.ndarray]],
    ids: collections.OrderedDict,
    *,
    first_step: int,
    keep: int,
) -> Iterator[dict[str, np.ndarray]]:
    """The batches without their 'video_id' strings (which stay on the host), recorded in
    `ids[step]` for the last `keep` steps."""
    for step, batch in enumerate(batches, start=first_step):
        ids[step] = batch.pop("video_id")
        while len(ids) > keep:
            ids.popitem(last=False)
        yield batch


def _check_finite(
    step: int,
    step_metrics: Mapping[str, jax.Array],
    video_ids: np.ndarray | None,
    manager,
    config: ml_collections.ConfigDict,
) -> None:
    """Raises TrainingDiverged when step `step`'s loss or gradient norm is not finite."""
    loss, norm = float(step_metrics["loss"]), float(step_metrics["grad_norm"])
    if math.isfinite(loss) and math.isfinite(norm):
        return
    names = "?" if video_ids is None else ", ".join(v.decode() for v in np.asarray(video_ids))
    what = f"loss {loss}, gradient norm {norm} (batch of videos {names})"
    raise _diverged(step, what, manager, config)


def _check_state(step: int, state, manager, config: ml_collections.ConfigDict) -> None:
    """Raises TrainingDiverged when the state after `step` holds a non-finite number
    (a finite gradient times a huge rate can overflow the parameters)."""
    if not bool(train_step.is_finite({"params": state.params, "batch_stats": state.batch_stats})):
        what = "the parameters or statistics hold non-finite numbers"
        raise _diverged(step, what, manager, config)


def _diverged(step: int, what: str, manager, config) -> TrainingDiverged:
    """The one-line error of a diverged step, naming the checkpoint that stays newest."""
    manager.wait_until_finished()  # saves already started land: the good checkpoints stay
    newest = manager.latest_step()
    kept = f"step {newest}" if newest is not None else "none: no checkpoint was saved yet"
    rate, clip = config.optimizer.learning_rate, config.optimizer.clip_grad_norm
    return TrainingDiverged(
        f"training diverged at step {step}: {what}; stopped without saving, the newest "
        f"checkpoint is {kept}. Lower config.optimizer.learning_rate (now {rate}) or "
        f"config.optimizer.clip_grad_norm (now {clip}; 0 is off)"
    )


def _write_evaluation(
    writer: metric_writers.MetricWriter,
    step: int,
    scores: scoring.VideoScores,
    summary: Mapping[str, Any],
    class_names: tuple[str, ...],
) -> None:
    """An evaluation for TensorBoard: its metrics and the confusion matrix as an image."""
    writer.write_scalars(step, _scalars("eval", summary))
    matrix = reports.confusion_matrix(scores.labels, scores.logits, len(class_names))
    writer.write_images(
        step, {"eval_confusion": reports.confusion_image(matrix, class_names)[None]}
    )


def _scalars(prefix: str, summary: Mapping[str, Any]) -> dict[str, float]:
    """The scalar entries of a metrics summary, for the metric writer."""
    keys = ("top1", "top5", "loss", "mean_class_accuracy")
    scalars = {f"{prefix}_{k}": summary[k] for k in keys}
    for group, acc in summary.get("group_accuracy", {}).items():
        if acc is not None:
            scalars[f"{prefix}_{group}_accuracy"] = acc
    return scalars


def evaluate_split(
    model: nn.Module,
    variables: Mapping[str, Any],
    builder,
    config: ml_collections.ConfigDict,
    info,
) -> tuple[scoring.VideoScores, dict[str, Any]]:
    """Runs the config's test protocol on the evaluation split.

    Args:
      model: the network (TSN or STAN).
      variables: its {'params', 'batch_stats'}.
      builder: the prepared TFDS builder; info: `pipeline.get_dataset_info`.
      config: the full config.

    Returns:
      (the per-video scores, the metrics summary).
    """
    if config.eval.batch_size % jax.local_device_count():
        raise ValueError(
            f"config.eval.batch_size={config.eval.batch_size} must be divisible by the "
            f"{jax.local_device_count()} local devices"
        )
    batches = pipeline.create_view_dataset(
        builder,
        config,
        batch_size=config.eval.batch_size,
        process_index=jax.process_index(),
        process_count=jax.process_count(),
    )
    scores = scoring.score_videos(
        scoring.compile_apply(model, variables), batches, config, info.num_eval_examples
    )
    logging.info("Scored %d videos, %d views", len(scores.video_ids), int(scores.num_views.sum()))
    return scores, reports.summarize(scores, info.class_names, info.class_groups)


def checkpoint_path(config: ml_collections.ConfigDict, workdir: str) -> str:
    """The variables to evaluate: `config.eval.checkpoint`, or the workdir's newest step.

    Accepts a step directory (`.../checkpoints/STEP`) or its `default` item directory.
    """
    path = config.eval.checkpoint
    if not path:
        directory = checkpoints.workdir_checkpoints(workdir)
        step = checkpoints.newest_step(directory)
        if step is None:
            raise FileNotFoundError(
                f"no checkpoint in {directory}: train first (python main.py --config=... "
                f"--workdir={workdir}) or set --config.eval.checkpoint=PATH"
            )
        path = os.path.join(directory, str(step))
    return checkpoints.resolve(path, "config.eval.checkpoint")


def evaluate(config: ml_collections.ConfigDict, workdir: str) -> dict[str, Any]:
    """`main.py --mode=eval`: the config's test protocol on a trained checkpoint.

    Writes eval_metrics.json, scores.npz, confusion.csv and confusion.png to
    `config.eval.output_dir` (default: the workdir) and returns the metrics.
    """
    validate_config(config)
    path = checkpoint_path(config, workdir)
    builder = datasets.get_builder(config.dataset)
    info = pipeline.get_dataset_info(builder, config)
    model = create_model(config.model, info.num_classes, config.data.num_segments)
    variables = pretrained.load_checkpoint(path)
    checkpoints.check_fits(
        model, variables, example_inputs(input_shape_of(model, config.data)), path
    )
    logging.info("Evaluating %s with %s", path, scoring.protocol(config))
    scores, summary = evaluate_split(model, variables, builder, config, info)
    summary["checkpoint"] = path
    if jax.process_index() == 0:
        reports.write_outputs(
            config.eval.output_dir or workdir,
            scores,
            summary,
            info.class_names,
            scoring.protocol(config),
            info.class_groups,
        )
    return summary
