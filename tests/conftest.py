"""Shared fixtures: 8 simulated CPU devices and a tiny prepared demo dataset."""

import os

# Must happen before JAX initializes its backend: every test sees 8 CPU devices,
# so the sharded code paths run in the suite.
os.environ["XLA_FLAGS"] = (
    os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=8"
).strip()

# The tests' programs are tiny and run a few times each, so compiling dominates: without
# XLA's backend optimizations they compile about twice as fast and the suite takes 60%
# of the time (numbers agree to the tests' tolerances; benchmarks keep the optimizations).
os.environ.setdefault("JAX_DISABLE_MOST_OPTIMIZATIONS", "1")

# Runs of train_and_evaluate build new jitted functions each time, so identical
# programs (a resumed run, the same tiny model in several tests, main.py's
# subprocesses) would compile again; XLA's persistent cache, in a directory for
# this session, compiles each once (it halves the resume test's time).
_OWN_CACHE_DIR = None
if "JAX_COMPILATION_CACHE_DIR" not in os.environ:
    import tempfile

    _OWN_CACHE_DIR = tempfile.mkdtemp(prefix="tsn_jax_xla_cache_")
    os.environ["JAX_COMPILATION_CACHE_DIR"] = _OWN_CACHE_DIR
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES", "0")

import pytest  # noqa: E402

from tests.helpers import tiny_config  # noqa: E402


@pytest.fixture(scope="session")
def tiny_data_dir(tmp_path_factory):
    """A TFDS data dir holding the tiny demo dataset, rendered and built once per session."""
    from input_pipeline import datasets

    data_dir = str(tmp_path_factory.mktemp("tfds"))
    datasets.get_builder(tiny_config(data_dir).dataset)
    return data_dir


@pytest.fixture
def one_device(monkeypatch):
    """train_and_evaluate trains on one device (its evaluation still shards over all 8).

    For tests of what a run does rather than of sharding (sharded steps are tested in
    test_train.py and main.py runs on 2 devices in test_main.py): on the 8 simulated
    devices Orbax's save of the replicated state alone takes 10-12 s per run.
    """
    import jax
    import numpy as np
    from jax.sharding import Mesh

    from tsn_jax import train_step

    monkeypatch.setattr(
        train_step, "create_mesh", lambda: Mesh(np.asarray(jax.devices()[:1]), ("data",))
    )


@pytest.fixture
def fast_compile():
    """XLA's own convolutions and `jax_disable_most_optimizations` for the test.

    For runs that are almost all compilation (a few steps of many configs): the CPU
    im2col lowering runs faster but compiles far more slowly
    (lowerings.conv_implementation), and the two together take 2-2.5x less time (the
    losses of the runs we compared were the same).
    """
    import jax

    from tsn_jax.models import lowerings

    previous = jax.config.values["jax_disable_most_optimizations"]
    jax.config.update("jax_disable_most_optimizations", True)
    try:
        with lowerings.conv_implementation("xla"):
            yield
    finally:
        jax.config.update("jax_disable_most_optimizations", previous)


def pytest_collection_modifyitems(config, items):
    """Runs the tests marked slow first (the order is otherwise kept).

    pytest-xdist's loadgroup scheduling hands tests out in this order (a group of tests
    marked ``xdist_group`` first, to one worker), so the workers share the runs of tens
    of seconds to minutes from the start and finish on short tests, rather than one
    worker running the last long test while the other waits.
    """
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


def pytest_sessionfinish(session, exitstatus):
    """Removes this session's compilation cache (tens of MB)."""
    if _OWN_CACHE_DIR:
        import shutil

        shutil.rmtree(_OWN_CACHE_DIR, ignore_errors=True)
