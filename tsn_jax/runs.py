"""A trained run, loaded in one call: `load_run(path) -> (model, variables, config, class_names)`.

A run's files (no TensorFlow needed to read them):

    WORKDIR/config.json                 the config as run (its data_dir the one really used)
    WORKDIR/class_names.json            the classes, in label order
    WORKDIR/checkpoints/STEP/default/   the Orbax state {'step', 'params', 'batch_stats', ...}
    WORKDIR/checkpoints/STEP/run/metadata   JSON {'config', 'class_names'}: a copied step
                                        directory rebuilds its model on its own

`export_run(path, output)` writes a slim copy for deployment: the parameters and
BatchNorm statistics without the optimizer state, and the run item; `load_run`
reads it like a step directory.

Usage from another project:

    import tsn_jax
    model, variables, config, class_names = tsn_jax.load_run("runs/default")
    logits = model.apply(variables, clips, train=False)  # clips: [B, K, T, S, S, C]
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

import flax.linen as nn
import ml_collections
import orbax.checkpoint as ocp

from tsn_jax import checkpoints, pretrained, reports
from tsn_jax.models import create_model, example_inputs, input_shape_of

CONFIG_FILE = "config.json"
CLASS_NAMES_FILE = "class_names.json"


def config_json(config: ml_collections.ConfigDict) -> dict[str, Any]:
    """`config` as it is stored (tuples as lists), to write or to compare with a record."""
    return json.loads(config.to_json_best_effort())


def run_info(config: ml_collections.ConfigDict, class_names: tuple[str, ...]) -> dict[str, Any]:
    """What a checkpoint step stores next to its arrays to rebuild its model."""
    return {"config": config_json(config), "class_names": list(class_names)}


def _tuples(value: Any) -> Any:
    """JSON lists back to the tuples the config code expects."""
    if isinstance(value, dict):
        return {k: _tuples(v) for k, v in value.items()}
    if isinstance(value, list):
        return tuple(_tuples(v) for v in value)
    return value


def config_from_json(value: Mapping[str, Any]) -> ml_collections.ConfigDict:
    """A config from its JSON form (`config.json`, or a checkpoint's run item)."""
    return ml_collections.ConfigDict(_tuples(dict(value)))


# Settings a run may resume under with other values: they do not change what the steps
# already taken computed. Training may be lengthened (the schedule then follows the new
# length from the step it resumes at).
RESUMABLE_KEYS = frozenset({
    "num_epochs", "num_train_steps", "log_every_steps", "checkpoint_every_steps",
    "keep_checkpoints", "eval_every_steps", "prefetch_to_device", "dataset.data_dir",
})  # fmt: skip
RESUMABLE_SECTIONS = ("eval.",)


def resume_changes(trained: Mapping[str, Any], config: ml_collections.ConfigDict) -> list[str]:
    """What a resumed run would train differently from the steps already in its workdir.

    Args:
      trained: the config the newest checkpoint was trained with, in its JSON form (the
        step's `run` item).
      config: the config the run is resumed with.

    Returns:
      ['key: trained with A, now B', ...] for every setting outside `RESUMABLE_KEYS` and
      `RESUMABLE_SECTIONS` that differs, sorted by key; keys only one of the two configs
      has (settings added or removed between versions) cannot be compared and are left
      out.
    """
    before, now = reports.flat_hparams(trained), reports.flat_hparams(config_json(config))
    return [
        f"{key}: trained with {before[key]}, now {now[key]}"
        for key in sorted(before.keys() & now.keys())
        if before[key] != now[key]
        and key not in RESUMABLE_KEYS
        and not key.startswith(RESUMABLE_SECTIONS)
    ]


def load_config(workdir: str | None, config: ml_collections.ConfigDict | None = None):
    """The run's config: `config` if given, else WORKDIR/config.json."""
    if config is not None:
        return config
    if not workdir:
        raise ValueError("give --workdir (a run with config.json) or --config")
    path = os.path.join(workdir, CONFIG_FILE)
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path} does not exist: is {workdir} a tsn-jax run?")
    with open(path) as f:
        return config_from_json(json.load(f))


def load_class_names(workdir: str | None, path: str | None = None) -> tuple[str, ...]:
    """The class names in `path` (a JSON list), else WORKDIR/class_names.json."""
    path = path or (os.path.join(workdir, CLASS_NAMES_FILE) if workdir else None)
    if not path or not os.path.exists(path):
        raise FileNotFoundError(
            f"no class names at {path}: pass --class_names=FILE (a JSON list of names)"
        )
    with open(path) as f:
        return tuple(json.load(f))


def step_directory(path: str) -> str:
    """The checkpoint step directory `path` names: a workdir (its newest step), a step
    directory, or a step's `default` item; absolute.

    Raises:
      CheckpointError: no checkpoint there.
    """
    step = checkpoints.workdir_step(path, "the run")
    if step is not None:
        return step
    absolute = os.path.abspath(os.path.expanduser(path))
    if os.path.basename(absolute) == checkpoints.STATE_ITEM:
        return os.path.dirname(absolute)
    checkpoints.resolve(path, "the run")  # a clear error when it holds none
    return absolute


def describe(path: str) -> tuple[ml_collections.ConfigDict, tuple[str, ...]]:
    """(config, class names) of the checkpoint at `path` (as `load_run` takes it): from
    its `run` item, or for a step written before steps held one, from its workdir."""
    step = step_directory(path)
    info = checkpoints.read_run_info(step)
    if info is not None:
        return config_from_json(info["config"]), tuple(info["class_names"])
    workdir = os.path.dirname(os.path.dirname(step))
    return load_config(workdir), load_class_names(workdir)


def load_run(
    path: str,
) -> tuple[nn.Module, dict[str, Any], ml_collections.ConfigDict, tuple[str, ...]]:
    """(model, {'params', 'batch_stats'}, config, class names) of a trained run.

    Args:
      path: a workdir (its newest checkpoint), a checkpoint step directory (a copied
        one is enough: it holds its config and class names), or its `default` item.
        Relative paths are resolved.

    Raises:
      CheckpointError: no checkpoint at `path`, or its arrays do not fit its config.
      FileNotFoundError: a step written before steps held their config, outside its
        workdir.
    """
    step = step_directory(path)
    config, class_names = describe(step)
    model = create_model(config.model, len(class_names), config.data.num_segments)
    variables = pretrained.load_checkpoint(step, "the run")
    checkpoints.check_fits(
        model, variables, example_inputs(input_shape_of(model, config.data)), step
    )
    return model, variables, config, class_names


def export_run(path: str, output: str) -> str:
    """Writes the run at `path` (as `load_run` takes it) to `output` without its
    optimizer state: `output/default` ({'params', 'batch_stats'}) and `output/run/metadata`.

    Returns:
      The absolute output directory.

    Raises:
      FileExistsError: `output` exists and is not empty (nothing is overwritten).
    """
    output = os.path.abspath(os.path.expanduser(output))
    if os.path.exists(output) and os.listdir(output):
        raise FileExistsError(f"{output} exists and is not empty: give a new directory")
    _, variables, config, class_names = load_run(path)
    with ocp.StandardCheckpointer() as checkpointer:
        checkpointer.save(os.path.join(output, checkpoints.STATE_ITEM), variables)
    os.makedirs(os.path.join(output, checkpoints.RUN_ITEM), exist_ok=True)
    reports.write_json(
        os.path.join(output, checkpoints.RUN_ITEM, "metadata"), run_info(config, class_names)
    )
    return output
