"""Orbax checkpointing of the training state.

A checkpoint step holds two items: `default`, the state as a plain nested dict
({'step', 'params', 'batch_stats', 'opt_state'}), so another JAX project can read
the weights with `orbax.checkpoint.StandardCheckpointer().restore(path)['params']`
without any tsn-jax class; and `run`, a JSON file ({'config', 'class_names'}) from
which `tsn_jax.runs.load_run` rebuilds the model of a copied step directory.
Orbax writes each step into a temporary directory and renames it when complete,
so a process killed mid-save (even with SIGKILL) leaves the previous checkpoints
intact and the half-written one is ignored on restore.
"""

import json
import os
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import flax
import flax.linen as nn
import jax
import numpy as np
import orbax.checkpoint as ocp

from tsn_jax.errors import CheckpointError

State = TypeVar("State")

STATE_ITEM, RUN_ITEM = "default", "run"

# Where a shape difference under each top-level key of a state comes from.
_CONFIG_SECTIONS = {"params": "config.model", "batch_stats": "config.model"}


def create_manager(directory: str, *, save_every_steps: int, keep: int) -> ocp.CheckpointManager:
    """A manager that saves every `save_every_steps` steps and keeps the last `keep`."""
    options = ocp.CheckpointManagerOptions(
        save_interval_steps=save_every_steps, max_to_keep=keep, create=True
    )
    handlers = {STATE_ITEM: ocp.StandardCheckpointHandler(), RUN_ITEM: ocp.JsonCheckpointHandler()}
    return ocp.CheckpointManager(directory, options=options, item_handlers=handlers)


def workdir_checkpoints(workdir: str) -> str:
    """Where a run keeps its checkpoints: `<workdir>/checkpoints`, absolute (Orbax's)."""
    return os.path.join(os.path.abspath(os.path.expanduser(workdir)), "checkpoints")


def newest_step(directory: str) -> int | None:
    """The newest complete step in a checkpoint directory, or None (no such directory,
    or no step in it); Orbax's own listing, so half-written steps are not counted."""
    if not os.path.isdir(directory):
        return None
    manager = create_manager(directory, save_every_steps=1, keep=1)
    step = manager.latest_step()
    manager.close()
    return step


def save_args(state, run_info: Mapping[str, Any] | None = None) -> ocp.args.Composite:
    """Orbax save arguments: the state pytree (stored as a plain dict) and, when given,
    the JSON `run_info` that describes it (`tsn_jax.runs.run_info`)."""
    items = {STATE_ITEM: ocp.args.StandardSave(flax.serialization.to_state_dict(state))}
    if run_info is not None:
        items[RUN_ITEM] = ocp.args.JsonSave(dict(run_info))
    return ocp.args.Composite(**items)


def read_run_info(step_directory: str) -> dict[str, Any] | None:
    """The JSON `run` item of a checkpoint step, or None when the step has none."""
    path = os.path.join(step_directory, RUN_ITEM, "metadata")
    if not os.path.isfile(path):
        return None
    with open(path) as f:
        return json.load(f)


def workdir_step(path: str, key: str) -> str | None:
    """The newest step directory of the run whose workdir is `path` (absolute), or None
    when `path` is not a workdir (it has no `checkpoints` folder).

    Raises:
      CheckpointError: a workdir without a complete step; the message names `key`.
    """
    directory = workdir_checkpoints(path)
    if not os.path.isdir(directory):
        return None
    step = newest_step(directory)
    if step is None:
        raise CheckpointError(
            f"{key}: {path} is a run without a checkpoint (nothing in {directory})"
        )
    return os.path.join(directory, str(step))


def resolve(path: str, key: str) -> str:
    """The absolute item directory of the checkpoint a user gave under config `key`.

    Accepts a relative path, a run's workdir (its newest step), a step directory
    (`.../checkpoints/STEP`) or its `default` item directory.

    Raises:
      CheckpointError: nothing at `path`, or no Orbax checkpoint there; the message
        names `key`.
    """
    absolute = workdir_step(path, key) or os.path.abspath(os.path.expanduser(path))
    if os.path.isdir(os.path.join(absolute, STATE_ITEM)):
        absolute = os.path.join(absolute, STATE_ITEM)
    if not os.path.exists(absolute):
        raise CheckpointError(f"{key}: no checkpoint at {path} ({absolute} does not exist)")
    if not os.path.isfile(os.path.join(absolute, "_METADATA")):
        raise CheckpointError(
            f"{key}: {path} is not an Orbax checkpoint (no _METADATA in {absolute}); give a "
            "step directory such as WORKDIR/checkpoints/1000, or one written by tsn-jax-convert"
        )
    return absolute


def _shapes(tree: Any) -> dict[str, tuple[int, ...]]:
    """{'[key][key]...': shape} of every leaf (arrays, ShapeDtypeStructs, Orbax metadata)."""
    leaves = jax.tree_util.tree_flatten_with_path(tree)[0]
    return {
        jax.tree_util.keystr(k): tuple(np.shape(v) if not hasattr(v, "shape") else v.shape)
        for k, v in leaves
    }


def shape_differences(expected: Any, found: Any) -> list[str]:
    """Tensors present in only one of two trees, then those whose shapes differ.

    Returns:
      sorted lines: "['params']['fc']['kernel']" (in one tree only) or
      "['params']['fc']['kernel']: checkpoint (8, 3), model (16, 3)".
    """
    want, have = _shapes(expected), _shapes(found)
    return sorted(set(want) ^ set(have)) + sorted(
        f"{k}: checkpoint {have[k]}, model {want[k]}"
        for k in set(want) & set(have)
        if have[k] != want[k]
    )


def _first_line(error: Exception, limit: int = 200) -> str:
    text = (str(error).strip().splitlines() or [type(error).__name__])[0]
    return text if len(text) <= limit else text[:limit] + "..."


def restore_latest(
    manager: ocp.CheckpointManager,
    state: State,
    log: Callable[[str], None] = print,
) -> State:
    """The newest checkpoint that restores, in the structure and shardings of `state`.

    A step that cannot be read (a data file deleted or truncated, its metadata
    missing) is reported in one line through `log`, renamed to `STEP.damaged` so
    that a later save of that step does not collide with it, and the next older
    step is tried. Returns `state` itself when the directory holds no checkpoint.

    Raises:
      CheckpointError: the newest readable checkpoint does not fit `state` (the
        model or optimizer config changed: the differing tensors are listed), or
        no checkpoint of the directory restores.
    """
    steps = sorted(manager.all_steps(), reverse=True)
    if not steps:
        return state
    state_dict = flax.serialization.to_state_dict(state)
    target = jax.tree.map(ocp.utils.to_shape_dtype_struct, state_dict)
    directory = str(manager.directory)
    for step in steps:
        try:
            metadata = manager.item_metadata(step)
            found = metadata[STATE_ITEM] if STATE_ITEM in metadata else None
            found = getattr(found, "tree", found)
            if found is None:
                raise CheckpointError("its metadata is missing")
        except Exception as error:  # Orbax and TensorStore raise many kinds.
            _set_aside(manager, step, error, log)
            continue
        differences = shape_differences(target, found)
        if differences:
            sections = sorted({_section(line) for line in differences})
            raise CheckpointError(
                f"the checkpoint {directory}/{step} does not fit the config ({', '.join(sections)}"
                f" changed since it was written); differences: {differences[:10]}. Train "
                "in a new --workdir, or restore the config the workdir was trained with"
            )
        try:
            restored = manager.restore(
                step, args=ocp.args.Composite(**{STATE_ITEM: ocp.args.StandardRestore(target)})
            )[STATE_ITEM]
        except Exception as error:
            _set_aside(manager, step, error, log)
            continue
        return flax.serialization.from_state_dict(state, restored)
    raise CheckpointError(
        f"none of the {len(steps)} checkpoints in {directory} restores (each was set aside "
        "as STEP.damaged): train in a new --workdir or restore the directory from a copy"
    )


def _section(difference: str) -> str:
    top = difference.split("]")[0].strip("['\"")
    return _CONFIG_SECTIONS.get(top, "config.optimizer")


def _set_aside(manager: ocp.CheckpointManager, step: int, error: Exception, log) -> None:
    """Reports a checkpoint step that cannot be restored and renames it `STEP.damaged`."""
    path = os.path.join(str(manager.directory), str(step))
    log(f"The checkpoint {path} cannot be restored ({_first_line(error)}); trying an older one")
    if jax.process_index() == 0 and os.path.isdir(path):
        os.replace(path, f"{path}.damaged")
    manager.reload()


def check_fits(model: nn.Module, variables: Mapping[str, Any], inputs: Any, path: str) -> None:
    """Raises CheckpointError, listing the differing tensors, when `variables` (read from
    the checkpoint at `path`) do not fit `model` called on `inputs` (e.g. another width)."""
    expected = jax.eval_shape(lambda: model.init(jax.random.key(0), inputs, train=False))
    expected = {c: expected.get(c, {}) for c in ("params", "batch_stats")}
    problems = shape_differences(expected, dict(variables))
    if problems:
        raise CheckpointError(
            f"the checkpoint {path} does not fit config.model (evaluate with the config it "
            f"was trained with); differences: {problems[:10]}"
        )
