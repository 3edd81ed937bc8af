"""Joining a multi-process run on JAX's distributed runtime.

One process per host (a GPU node with all its GPUs, or a TPU VM of a pod slice),
or one per GPU with `local_device_ids`. Every process runs the same command; after
`initialize`, `jax.devices()` lists the devices of every process and the training
mesh spans them all (`train_step.create_mesh`). Each process reads its own part of the
split (`input_pipeline.pipeline.process_split`) and contributes its rows of the
global batch (`train_step.shard_batch`, `jax.make_array_from_process_local_data`).

`initialize` must run before anything touches a device (`jax.devices()`, a jitted
call): JAX fixes its backends on first use.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import jax

COORDINATOR_ENV = "JAX_COORDINATOR_ADDRESS"


def initialize(
    coordinator_address: str | None = None,
    num_processes: int | None = None,
    process_id: int | None = None,
    local_device_ids: Sequence[int] | None = None,
    *,
    auto_detect: bool = False,
) -> bool:
    """Joins a multi-process run when one is asked for; returns whether it did.

    Args:
      coordinator_address: 'host:port' of process 0's coordinator service. When None,
        $JAX_COORDINATOR_ADDRESS is used if set.
      num_processes, process_id: how many processes, and which one this is.
      local_device_ids: the local devices this process drives (one process per GPU);
        None: all of them.
      auto_detect: let JAX read the cluster from its environment (Cloud TPU pod
        slices, SLURM, Open MPI, GKE) instead of the three values above.

    Returns:
      False, without touching JAX, when nothing asks for a multi-process run (no
      address, count, id, environment variable or auto_detect): a single process.

    Raises:
      ValueError: an explicit run lacking the address, the count or the id.
    """
    coordinator_address = coordinator_address or os.environ.get(COORDINATOR_ENV) or None
    explicit = {
        "coordinator_address": coordinator_address,
        "num_processes": num_processes,
        "process_id": process_id,
    }
    given = {key for key, value in explicit.items() if value is not None}
    if not given and not auto_detect:
        return False
    if not auto_detect and len(given) < len(explicit):
        missing = sorted(set(explicit) - given)
        raise ValueError(
            f"a multi-process run needs coordinator_address, num_processes and process_id; "
            f"missing {missing} (or auto-detect the cluster on TPU pods and SLURM)"
        )
    # CPU processes need a collective implementation to all-reduce across processes;
    # GPU and TPU backends bring their own (NCCL, ICI) and ignore this setting.
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(
        coordinator_address=coordinator_address,
        num_processes=num_processes,
        process_id=process_id,
        local_device_ids=None if local_device_ids is None else list(local_device_ids),
    )
    return True
