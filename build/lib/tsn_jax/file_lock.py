"""An exclusive lock on a file, for one run per workdir and one build per dataset.

The lock is an `fcntl.flock` on the file, so the kernel releases it when its
process ends, however it ends (SIGKILL included): a lock left by a dead process
is never in the way. The file holds its owner's host and pid while locked, so
the message of the process that finds it taken names who holds it; a file still
naming an owner when its lock is free was left by a process that died, and is
taken over with a log line. No jax, no TensorFlow: `input_pipeline` uses it too.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
from collections.abc import Callable, Iterator

from tsn_jax.errors import WorkdirInUse


def _owner() -> str:
    return f"host {socket.gethostname()} pid {os.getpid()}"


def _read(fd: int) -> str:
    os.lseek(fd, 0, os.SEEK_SET)
    return os.read(fd, 1024).decode(errors="replace").strip()


@contextlib.contextmanager
def exclusive(
    path: str,
    *,
    wait: bool,
    what: str,
    log: Callable[[str], None] = print,
) -> Iterator[None]:
    """Holds an exclusive lock on `path` (created if missing) for the `with` block.

    Args:
      path: the lock file, on a local or network file system that supports flock.
      wait: when another process holds the lock, wait for it (a dataset build: the
        second process then reuses the first one's result) instead of raising.
      what: what the lock protects, for messages ("the workdir /runs/a").
      log: where the waiting and take-over lines go.

    A path on a remote file system (`gs://...`) cannot be locked: the block then
    runs unlocked, with a log line saying so.

    Raises:
      WorkdirInUse: `wait` is False and another live process holds the lock.
    """
    if "://" in path:
        log(f"Not locking {what}: {path} is not on a local or mounted file system")
        yield
        return
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read(fd) or "another process"
            if not wait:
                raise WorkdirInUse(
                    f"{what} is in use by {holder} (lock file {path}): wait for that run to "
                    "end, or give this one another --workdir"
                ) from None
            log(f"Waiting for {holder}, which holds {what} (lock file {path})")
            fcntl.flock(fd, fcntl.LOCK_EX)
        stale = _read(fd)
        if stale:
            log(f"Taking over the lock on {what} left by {stale}, which is no longer running")
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{_owner()}\n".encode(), 0)
        try:
            yield
        finally:
            # An empty file marks a lock released in order; a dead owner leaves its name.
            os.ftruncate(fd, 0)
    finally:
        os.close(fd)
