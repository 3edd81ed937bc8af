"""Multi-process runs: two processes on 127.0.0.1 against one process, same global batch."""

import os
import socket
import subprocess
import sys

import jax
import numpy as np
import pytest
from jax.sharding import Mesh

from tests import distributed_worker
from tsn_jax import distributed

pytestmark = pytest.mark.slow  # end-to-end runs: `pytest -m 'not slow'` skips them

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_worker(out, checkpoint_dir, data_dir, process_id, port):
    """Starts process `process_id` of 2, one CPU device each; its log goes to out/log.txt."""
    env = {
        k: v for k, v in os.environ.items() if k not in ("XLA_FLAGS", "JAX_COMPILATION_CACHE_DIR")
    }
    env["XLA_FLAGS"] = "--xla_force_host_platform_device_count=1"
    os.makedirs(out, exist_ok=True)
    command = [sys.executable, "-m", "tests.distributed_worker", f"--out={out}"]
    command += [f"--checkpoint_dir={checkpoint_dir}"]
    command += [f"--data_dir={data_dir}", "--num_processes=2", f"--process_id={process_id}"]
    command += [f"--port={port}"]
    log = open(os.path.join(out, "log.txt"), "w")
    return subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)


def test_two_processes_train_and_evaluate_as_one(tiny_data_dir, tmp_path):
    # Two processes of one CPU device each, against this process on two devices: the
    # same mesh size, so the same partitioned program; only the runtime differs
    # (gloo collectives between processes for the gradient and BatchNorm reductions).
    port = _free_port()
    outs = [tmp_path / f"process{i}" for i in range(2)]
    workers = [
        _start_worker(out, tmp_path / "two_process_checkpoints", tiny_data_dir, i, port)
        for i, out in enumerate(outs)
    ]
    mesh = Mesh(np.asarray(jax.devices()[:2]), ("data",))
    distributed_worker.run(tmp_path / "single", tmp_path / "checkpoints", tiny_data_dir, mesh)
    for process, out in zip(workers, outs, strict=True):
        try:
            code = process.wait(timeout=300)
        except subprocess.TimeoutExpired:
            process.kill()
            code = "timeout"
        if code != 0:
            with open(out / "log.txt") as f:
                pytest.fail(f"worker {out} exited with {code}:\n{f.read()[-5000:]}")
    multi = np.load(outs[0] / "result.npz")
    single = np.load(tmp_path / "single" / "result.npz")
    assert int(multi["processes"]) == 2 and int(single["processes"]) == 1
    assert int(multi["devices"]) == int(single["devices"]) == 2
    assert not (outs[1] / "result.npz").exists()  # only process 0 writes

    variables = [k for k in single.files if k.startswith("var")]
    assert any("batch_stats" in k for k in variables) and len(variables) == 8
    assert sorted(variables) == sorted(k for k in multi.files if k.startswith("var"))
    for key in variables:
        np.testing.assert_allclose(multi[key], single[key], rtol=1e-5, atol=1e-6, err_msg=key)

    # Evaluation: every test video once, in split order, with the same scores, although
    # each process scored only its half.
    assert len(single["eval_ids"]) == 10
    np.testing.assert_array_equal(multi["eval_ids"], single["eval_ids"])
    np.testing.assert_array_equal(multi["eval_labels"], single["eval_labels"])
    np.testing.assert_allclose(multi["eval_logits"], single["eval_logits"], rtol=1e-4, atol=1e-5)
    assert float(multi["eval_top1"]) == float(single["eval_top1"])
    # Per-view logits, gathered from both processes as well (scores.npz's view_logits).
    views = single["eval_view_logits"]
    assert views.shape[:2] == (10, 3)
    np.testing.assert_allclose(multi["eval_view_logits"], views, rtol=1e-4, atol=1e-5)


def test_initialize_is_a_no_op_without_a_cluster(monkeypatch):
    monkeypatch.delenv(distributed.COORDINATOR_ENV, raising=False)
    assert distributed.initialize() is False


def test_initialize_names_the_missing_values(monkeypatch):
    monkeypatch.delenv(distributed.COORDINATOR_ENV, raising=False)
    with pytest.raises(ValueError, match=r"missing \['num_processes', 'process_id'\]"):
        distributed.initialize("10.0.0.1:1234")
    monkeypatch.setenv(distributed.COORDINATOR_ENV, "10.0.0.1:1234")
    with pytest.raises(ValueError, match=r"missing \['process_id'\]"):
        distributed.initialize(num_processes=2)
