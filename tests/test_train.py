"""The update step, its sharding, resuming, and the whole training loop."""

import json
import os

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import orbax.checkpoint as ocp
import pytest
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from tests.helpers import tiny_config
from tsn_jax import optim, runner, train_step
from tsn_jax.models import create_model, lowerings


@pytest.fixture
def xla_convolutions():
    """XLA's own convolutions while the test traces: these tests are about the step's
    sharding, precision and statistics, and the CPU lowerings (tested against XLA's in
    test_layers.py) compile several times slower."""
    with lowerings.conv_implementation("xla"):
        yield


def _setup(num_devices, config=None):
    config = config or tiny_config("")
    model = create_model(config.model, num_classes=5, num_segments=config.data.num_segments)
    schedule = optim.create_learning_rate_schedule(config, steps_per_epoch=10)
    tx = optim.create_optimizer(config, schedule)
    mesh = Mesh(np.asarray(jax.devices()[:num_devices]), ("data",))
    state = jax.jit(
        lambda rng: train_step.initial_state(model, tx, rng, (1, 3, 1, 32, 32, 3)),
        out_shardings=NamedSharding(mesh, P()),
    )(jax.random.key(0))
    p_train = train_step.compile_train_step(model, tx, schedule, mesh)
    return state, p_train, mesh


def _batch(seed=0, size=8):
    rng = np.random.default_rng(seed)
    return {
        "inputs": rng.normal(size=(size, 3, 1, 32, 32, 3)).astype(np.float32),
        "label": rng.integers(0, 5, size).astype(np.int32),
    }


def test_training_steps_lower_the_loss_on_a_fixed_batch(xla_convolutions):
    state, p_train, mesh = _setup(1)
    batch = train_step.shard_batch(_batch(), mesh)
    rng = jax.random.key(1)
    losses = []
    for _ in range(8):
        state, m = p_train(state, batch, rng)
        losses.append(float(m["loss"]))
    assert int(state.step) == 8
    assert losses[-1] < 0.5 * losses[0], losses


@pytest.mark.slow
def test_eight_devices_match_one_device(xla_convolutions):
    assert jax.device_count() == 8
    results = []
    for n in (1, 8):
        state, p_train, mesh = _setup(n)
        for i in range(2):
            state, _ = p_train(state, train_step.shard_batch(_batch(i), mesh), jax.random.key(1))
        results.append(jax.device_get((state.params, state.batch_stats)))
    flat1 = jax.tree.leaves(results[0])
    flat8 = jax.tree.leaves(results[1])
    assert len(flat1) == len(flat8)
    for a, b in zip(flat1, flat8, strict=True):
        np.testing.assert_allclose(a, b, atol=1e-5, rtol=1e-5)


def test_batch_norm_statistics_are_global_across_devices(xla_convolutions):
    # Each device holds one constant-valued sample; per-device statistics would
    # give a different running mean than statistics over the global batch.
    state, p_train, mesh = _setup(8)
    batch = _batch()
    batch["inputs"] = np.repeat(np.arange(8, dtype=np.float32), 3 * 32 * 32 * 3).reshape(
        8, 3, 1, 32, 32, 3
    )
    state1, _ = p_train(state, train_step.shard_batch(batch, mesh), jax.random.key(0))
    single, p_train1, mesh1 = _setup(1)
    single1, _ = p_train1(single, train_step.shard_batch(batch, mesh1), jax.random.key(0))
    np.testing.assert_allclose(
        state1.batch_stats["backbone"]["bn1"]["mean"],
        single1.batch_stats["backbone"]["bn1"]["mean"],
        atol=1e-5,
    )


def test_step_schedule_decays_at_the_given_epochs():
    config = tiny_config("")
    config.optimizer.learning_rate = 0.1
    config.optimizer.lr_decay_epochs = (2.0, 3.0)
    schedule = optim.create_learning_rate_schedule(config, steps_per_epoch=10)
    np.testing.assert_allclose(
        [schedule(s) for s in (0, 19, 20, 29, 30)], [0.1, 0.1, 0.01, 0.01, 0.001], rtol=1e-6
    )


def test_gradient_clipping_bounds_the_update():
    config = tiny_config("")
    config.optimizer.clip_grad_norm = 1.0
    config.optimizer.weight_decay = 0.0
    config.optimizer.momentum = 0.0
    config.optimizer.learning_rate = 1.0
    tx = optim.create_optimizer(config, optim.create_learning_rate_schedule(config, 10))
    params = {"w": jnp.zeros(4)}
    updates, _ = tx.update({"w": jnp.full(4, 10.0)}, tx.init(params), params)
    np.testing.assert_allclose(optax.tree.norm(updates), 1.0, rtol=1e-5)


def _final_params(workdir, step):
    restored = ocp.StandardCheckpointer().restore(
        os.path.join(workdir, "checkpoints", str(step), "default")
    )
    return restored["params"]


@pytest.mark.slow
def test_resumed_run_matches_an_uninterrupted_run(tiny_data_dir, tmp_path, one_device):
    config = tiny_config(tiny_data_dir)
    full = str(tmp_path / "full")
    runner.train_and_evaluate(config, full)

    split = str(tmp_path / "split")
    config.num_train_steps = 2
    runner.train_and_evaluate(config, split)
    config.num_train_steps = 4
    summary = runner.train_and_evaluate(config, split)
    assert summary["step"] == 4

    a, b = _final_params(full, 4), _final_params(split, 4)
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_allclose(x, y, atol=1e-6)
    metrics = json.load(open(os.path.join(split, "metrics.json")))
    assert metrics == json.load(open(os.path.join(full, "metrics.json")))
    for key in ("top1", "top5", "mean_class_accuracy", "step", "num_eval_videos"):
        assert key in metrics
    assert metrics["num_eval_videos"] == 10
    assert set(metrics["per_class_accuracy"]) and set(metrics["group_accuracy"]) == {
        "appearance",
        "order",
    }


def test_batch_size_not_divisible_by_devices_is_an_error(tiny_data_dir, tmp_path):
    config = tiny_config(tiny_data_dir)
    config.batch_size = 6
    with pytest.raises(ValueError, match="batch_size=6 must be divisible"):
        runner.train_and_evaluate(config, str(tmp_path))


@pytest.mark.slow
def test_init_from_initializes_the_backbone_of_a_new_run(tiny_data_dir, tmp_path, one_device):
    from tests.helpers import classifier_checkpoint

    source, _ = classifier_checkpoint(tmp_path)  # resnet18 at base_width 8, 7 classes
    config = tiny_config(tiny_data_dir)
    config.init.checkpoint = str(tmp_path / "resnet18")
    # A rate too small to move a float32 parameter (a rate of 0 is refused as a mistake).
    config.optimizer.learning_rate = 1e-30
    config.num_train_steps = 2
    runner.train_and_evaluate(config, str(tmp_path / "run"))

    params = _final_params(str(tmp_path / "run"), 2)
    for path in (("conv1", "kernel"), ("layer4_1", "bn2", "scale")):
        got, expected = params["backbone"], source["params"]
        for name in path:
            got, expected = got[name], expected[name]
        np.testing.assert_array_equal(got, expected)
    assert params["fc"]["kernel"].shape == (64, 10)  # TSN's own classifier, not the 7-class fc


@pytest.mark.slow
def test_progressive_training_continues_a_run_with_more_segments(
    tiny_data_dir, tmp_path, one_device
):
    """Chen et al.'s progressive training: a TSM run with K=2 initializes one with K=3."""
    config = tiny_config(tiny_data_dir)
    config.data.num_segments = 2
    config.num_train_steps = 2
    runner.train_and_evaluate(config, str(tmp_path / "k2"))
    config.data.num_segments = 3
    config.init.checkpoint = str(tmp_path / "k2" / "checkpoints" / "2" / "default")
    # A rate too small to move the parameters (a rate of 0 is refused as a mistake).
    config.optimizer.learning_rate = 1e-30
    runner.train_and_evaluate(config, str(tmp_path / "k3"))
    start, end = _final_params(str(tmp_path / "k2"), 2), _final_params(str(tmp_path / "k3"), 2)
    # Same classes: the classifier carries over with the backbone.
    for a, b in zip(jax.tree.leaves(start), jax.tree.leaves(end), strict=True):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-20)


class _Toy(nn.Module):
    """Optional BatchNorm on the inputs -> Dense -> ReLU -> Dense: no dropout, so a step
    is a function of its batch alone."""

    batch_norm: bool = False

    @nn.compact
    def __call__(self, x, train: bool):
        x = x.reshape(x.shape[0], -1)
        if self.batch_norm:
            x = nn.BatchNorm(use_running_average=not train, momentum=0.9)(x)
        return nn.Dense(5)(nn.relu(nn.Dense(16)(x)))


def _toy_run(model, batch, accumulation_steps, num_devices=8):
    config = tiny_config("")
    schedule = optim.create_learning_rate_schedule(config, steps_per_epoch=10)
    tx = optim.create_optimizer(config, schedule)
    mesh = Mesh(np.asarray(jax.devices()[:num_devices]), ("data",))
    state = jax.jit(
        lambda rng: train_step.initial_state(model, tx, rng, (1, *batch["inputs"].shape[1:])),
        out_shardings=NamedSharding(mesh, P()),
    )(jax.random.key(0))
    initial = jax.device_get(state.params)
    step = train_step.compile_train_step(
        model, tx, schedule, mesh, accumulation_steps=accumulation_steps
    )
    for _ in range(2):
        state, metrics = step(state, train_step.shard_batch(batch, mesh), jax.random.key(1))
    return initial, *jax.device_get((state, metrics))


def _toy_batch(size=16):
    rng = np.random.default_rng(3)
    return {
        "inputs": rng.normal(size=(size, 1, 1, 2, 2, 3)).astype(np.float32),
        "label": rng.integers(0, 5, size).astype(np.int32),
    }


def test_gradient_accumulation_matches_the_whole_batch():
    batch = _toy_batch()
    initial, whole, whole_metrics = _toy_run(_Toy(), batch, 1)
    kernel = whole.params["Dense_1"]["kernel"]
    assert np.abs(kernel - initial["Dense_1"]["kernel"]).max() > 1e-3  # the steps moved it
    for steps in (2, 4):
        _, accumulated, metrics = _toy_run(_Toy(), batch, steps)
        for a, b in zip(*(jax.tree.leaves(s.params) for s in (whole, accumulated)), strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(metrics["loss"], whole_metrics["loss"], rtol=1e-5)
        np.testing.assert_allclose(metrics["grad_norm"], whole_metrics["grad_norm"], rtol=1e-5)


def test_gradient_accumulation_normalizes_each_micro_batch_with_its_statistics():
    # Micro-batch m holds rows m, m + n, ...; BatchNorm's running mean takes one update
    # per micro-batch: mean <- 0.9 mean + 0.1 mean(micro-batch), here from 0, twice a step.
    batch = _toy_batch()
    _, state, _ = _toy_run(_Toy(batch_norm=True), batch, 2)
    x = batch["inputs"].reshape(16, -1)
    mean = np.zeros(x.shape[1])
    for _ in range(2):  # steps
        for m in range(2):
            mean = 0.9 * mean + 0.1 * x[m::2].mean(0)
    np.testing.assert_allclose(state.batch_stats["BatchNorm_0"]["mean"], mean, rtol=1e-5)


def test_batch_size_must_split_into_micro_batches_on_every_device(tiny_data_dir, tmp_path):
    config = tiny_config(tiny_data_dir)
    config.gradient_accumulation_steps = 2  # 8 rows = 2 micro-batches of 4 on 8 devices
    with pytest.raises(ValueError, match="gradient_accumulation_steps=2"):
        runner.train_and_evaluate(config, str(tmp_path))


def test_bfloat16_step_keeps_float32_state_and_tracks_the_float32_step(xla_convolutions):
    results = {}
    for dtype in ("float32", "bfloat16"):
        config = tiny_config("")
        config.model.dtype = dtype
        state, p_train, mesh = _setup(1, config)
        state, metrics = p_train(state, train_step.shard_batch(_batch(), mesh), jax.random.key(1))
        results[dtype] = jax.device_get((state, metrics))
    state, metrics = results["bfloat16"]
    leaves = jax.tree.leaves((state.params, state.batch_stats, state.opt_state))
    assert {x.dtype for x in leaves if np.issubdtype(x.dtype, np.floating)} == {
        np.dtype(np.float32)
    }
    assert metrics["loss"].dtype == np.float32
    reference_state, reference = results["float32"]
    np.testing.assert_allclose(metrics["loss"], reference["loss"], rtol=0.05)
    np.testing.assert_allclose(
        state.batch_stats["backbone"]["bn1"]["mean"],
        reference_state.batch_stats["backbone"]["bn1"]["mean"],
        rtol=0.05,
        atol=1e-2,
    )
    # The computation did run in bfloat16: the results are close, not equal.
    assert not np.array_equal(metrics["loss"], reference["loss"])


def test_prefetch_to_device_keeps_order_and_reads_only_size_ahead():
    mesh = Mesh(np.asarray(jax.devices()), ("data",))
    drawn = []

    def batches():
        for i in range(5):
            drawn.append(i)
            yield {"inputs": np.full((8, 2), i, np.float32)}

    for size in (0, 2, 9):
        drawn.clear()
        stream = train_step.prefetch_to_device(batches(), mesh, size)
        first = next(stream)
        assert len(drawn) == min(size + 1, 5)
        assert first["inputs"].sharding == NamedSharding(mesh, P("data"))
        rest = [int(b["inputs"][0, 0]) for b in stream]
        assert [int(first["inputs"][0, 0])] + rest == [0, 1, 2, 3, 4]
