"""Orbax checkpointing of the training state.

A checkpoint stores the state as a plain nested dict ({'step', 'params',
'batch_stats', 'opt_state'}), so another JAX project can read the weights with
`orbax.checkpoint.StandardCheckpointer().restore(path)['params']` without any
tsn-jax class. Orbax writes each step into a temporary directory and renames it
when complete, so a process killed mid-save (even with SIGKILL) leaves the
previous checkpoints intact and the half-written one is ignored on restore.
"""

from collections.abc import Mapping
from typing import Any, TypeVar

import flax
import flax.linen as nn
import jax
import numpy as np
import orbax.checkpoint as ocp

State = TypeVar("State")


def create_manager(directory: str, *, save_every_steps: int, keep: int) -> ocp.CheckpointManager:
    """A manager that saves every `save_every_steps` steps and keeps the last `keep`."""
    options = ocp.CheckpointManagerOptions(
        save_interval_steps=save_every_steps, max_to_keep=keep, create=True
    )
    return ocp.CheckpointManager(directory, options=options)


def save_args(state) -> ocp.args.StandardSave:
    """Orbax save arguments for a state pytree (stored as a plain dict)."""
    return ocp.args.StandardSave(flax.serialization.to_state_dict(state))


def restore_latest(manager: ocp.CheckpointManager, state: State) -> State:
    """The newest checkpoint restored into the structure and shardings of `state`.

    Returns `state` itself when the directory holds no checkpoint.
    """
    step = manager.latest_step()
    if step is None:
        return state
    target = jax.tree.map(ocp.utils.to_shape_dtype_struct, flax.serialization.to_state_dict(state))
    restored = manager.restore(step, args=ocp.args.StandardRestore(target))
    return flax.serialization.from_state_dict(state, restored)


def check_fits(model: nn.Module, variables: Mapping[str, Any], inputs: Any, path: str) -> None:
    """Raises ValueError, listing the differing tensors, when `variables` (read from the
    checkpoint at `path`) do not fit `model` called on `inputs` (e.g. another width)."""
    expected = jax.eval_shape(lambda: model.init(jax.random.key(0), inputs, train=False))
    expected = {c: expected.get(c, {}) for c in ("params", "batch_stats")}
    shapes = jax.tree_util.tree_flatten_with_path
    want = {jax.tree_util.keystr(k): v.shape for k, v in shapes(expected)[0]}
    have = {jax.tree_util.keystr(k): np.shape(v) for k, v in shapes(dict(variables))[0]}
    problems = sorted(set(want) ^ set(have)) + sorted(
        f"{k}: checkpoint {have[k]}, model {want[k]}"
        for k in set(want) & set(have)
        if tuple(have[k]) != tuple(want[k])
    )
    if problems:
        raise ValueError(
            f"the checkpoint {path} does not fit config.model (evaluate with the config it "
            f"was trained with); differences: {problems[:10]}"
        )
