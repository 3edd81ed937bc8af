"""Partial BN, frozen stages, parameter groups, schedules and label smoothing."""

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from tests.helpers import tiny_config
from tsn_jax import finetune, optim, train_step
from tsn_jax.models import create_model, lowerings

INPUT_SHAPE = (4, 2, 1, 32, 32, 3)


def _train(config, steps=3):
    """(initial state, state after `steps` steps) of a tiny TSN-ResNet-18 on random batches.

    XLA's own convolutions: what is tested is which variables move, and the CPU
    lowerings (tested against XLA's in test_layers.py) compile several times slower.
    """
    with lowerings.conv_implementation("xla"):
        return _train_steps(config, steps)


def _train_steps(config, steps):
    model = create_model(config.model, num_classes=5, num_segments=2)
    layout = finetune.model_layout(model, INPUT_SHAPE)
    params = jax.eval_shape(
        functools.partial(model.init, train=False), jax.random.key(0), jnp.zeros(INPUT_SHAPE)
    )["params"]
    stages = finetune.frozen_modules(layout, config.trainable_from)
    fixed = finetune.fixed_statistics_paths(
        layout, config.partial_bn, stages, config.frozen_batch_norm
    )
    frozen = finetune.frozen_parameters(params, layout, config.partial_bn, stages)
    schedule = optim.create_learning_rate_schedule(config, steps_per_epoch=10)
    tx = optim.create_optimizer(config, schedule, frozen)
    state = jax.jit(
        functools.partial(train_step.initial_state, model, tx, input_shape=INPUT_SHAPE)
    )(jax.random.key(0))
    # Running averages unlike any batch's statistics: a layer that used batch
    # statistics would move them.
    rng = np.random.default_rng(0)
    # (Means near 0 and variances near 1 keep the ReLUs alive.)
    state = state.replace(
        batch_stats=jax.tree_util.tree_map_with_path(
            lambda path, x: jnp.asarray(
                rng.uniform(-0.1, 0.1, x.shape)
                if path[-1].key == "mean"
                else rng.uniform(0.5, 1.5, x.shape),
                x.dtype,
            ),
            state.batch_stats,
        )
    )
    step = jax.jit(
        functools.partial(
            train_step.train_step, model=model, tx=tx, schedule=schedule, fixed_statistics=fixed
        )
    )
    start = jax.device_get(state)
    for i in range(steps):
        batch = {
            "inputs": jnp.asarray(rng.normal(size=INPUT_SHAPE), jnp.float32),
            "label": jnp.asarray(rng.integers(0, 5, INPUT_SHAPE[0]), jnp.int32),
        }
        state, _ = step(state, batch, jax.random.key(i))
    return start, jax.device_get(state), layout


def _config(**overrides):
    config = tiny_config("")
    config.model.base_width = 8
    config.model.backbone_options = {}
    config.optimizer.learning_rate = 0.1
    for key, value in overrides.items():
        config[key] = value
    return config


def _changed(before, after, path):
    for name in path:
        before, after = before[name], after[name]
    return [
        not np.array_equal(a, b)
        for a, b in zip(jax.tree.leaves(before), jax.tree.leaves(after), strict=True)
    ]


@pytest.mark.parametrize("mode", ["frozen", "stats_only"])
def test_partial_bn_trains_only_the_first_batch_norm_statistics(mode):
    start, end, layout = _train(_config(partial_bn=mode))
    bn_paths = layout.batch_norms
    assert bn_paths[0] == ("backbone", "bn1") and len(bn_paths) == 20
    assert all(_changed(start.batch_stats, end.batch_stats, bn_paths[0]))
    assert all(_changed(start.params, end.params, bn_paths[0]))  # first BN's scale, bias
    for path in bn_paths[1:]:
        # Bit-identical statistics: neither used nor updated from the batches.
        assert not any(_changed(start.batch_stats, end.batch_stats, path)), path
        affine = _changed(start.params, end.params, path)
        assert (not any(affine)) if mode == "frozen" else all(affine), (mode, path)
    assert all(_changed(start.params, end.params, ("backbone", "layer2_0", "conv1")))
    assert all(_changed(start.params, end.params, ("fc",)))


@pytest.mark.parametrize("trainable_from", ["layer4", "conv5_x"])
def test_trainable_from_freezes_the_earlier_stages_bit_for_bit(trainable_from):
    # 'conv5_x': Hara et al.'s (ICPR 2018) best fine-tuning, ">conv4" of Fig. 2.
    start, end, _ = _train(_config(trainable_from=trainable_from))
    for module in ("conv1", "bn1", "layer1_0", "layer2_1", "layer3_1"):
        assert not any(_changed(start.params, end.params, ("backbone", module))), module
        if module in start.batch_stats["backbone"]:
            assert not any(_changed(start.batch_stats, end.batch_stats, ("backbone", module)))
    for module in ("layer4_0", "layer4_1"):
        assert all(_changed(start.params, end.params, ("backbone", module))), module
        assert all(_changed(start.batch_stats, end.batch_stats, ("backbone", module)))
    assert all(_changed(start.params, end.params, ("fc",)))


def test_frozen_stages_can_keep_training_their_batch_statistics():
    # Hara et al.'s code: frozen parameters, but BatchNorm in training mode.
    start, end, _ = _train(_config(trainable_from="layer4", frozen_batch_norm="batch"))
    for module in ("conv1", "bn1", "layer1_0", "layer3_1"):
        assert not any(_changed(start.params, end.params, ("backbone", module))), module
    for module in ("bn1", "layer1_0", "layer3_1"):
        assert all(_changed(start.batch_stats, end.batch_stats, ("backbone", module))), module
    with pytest.raises(ValueError, match="frozen_batch_norm"):
        finetune.fixed_statistics_paths(finetune.ModelLayout((), ()), "off", [], "train")


def test_trainable_from_must_name_a_module():
    with pytest.raises(ValueError, match="names no backbone module.*layer1_0"):
        finetune.frozen_modules(finetune.ModelLayout((), ("conv1", "layer1_0")), "conv5")


def test_trainable_from_takes_hara_et_al_stage_names_on_their_3d_resnet_18():
    """Hara et al. ICPR 2018, Table I / Fig. 2: ">convX" trains what follows conv X."""
    config = _config()
    config.model.backbone = "resnet3d_18"
    config.model.backbone_options = {}
    model = create_model(config.model, num_classes=5, num_segments=1)
    layout = finetune.model_layout(model, (1, 1, 8, 32, 32, 3))
    modules = ["conv1", "bn1"] + [f"layer{i}_{j}" for i in range(1, 5) for j in range(2)]
    assert list(layout.backbone_modules) == modules

    def frozen(name):
        return finetune.frozen_modules(layout, name)

    assert frozen("conv1") == frozen("") == []  # "All"
    assert frozen("conv2_x") == ["conv1", "bn1"]  # ">conv1"
    assert frozen("conv3_x") == modules[:4]  # ">conv2"
    assert frozen("conv4_x") == modules[:6]  # ">conv3"
    assert frozen("conv5_x") == frozen("layer4") == modules[:8]  # ">conv4", the best
    assert frozen("fc") == modules  # ">conv5": only the classifier trains


def test_trainable_from_fc_trains_only_the_classifier():
    start, end, _ = _train(_config(trainable_from="fc"), steps=2)
    assert not any(_changed(start.params, end.params, ("backbone",)))
    assert not any(_changed(start.batch_stats, end.batch_stats, ("backbone",)))
    assert all(_changed(start.params, end.params, ("fc",)))


@pytest.mark.parametrize("backbone, first, first_module", [
    # torchvision's video ResNets: 'stem_0' sorts after 'layer4_1'; call order does not.
    ("r3d_18", ("backbone", "stem_1"), "stem_0"),
    ("i3d", ("backbone", "Conv3d_1a_7x7", "batch_norm"), "Conv3d_1a_7x7"),
    ("bninception", ("backbone", "conv1_7x7_s2_bn"), "conv1_7x7_s2"),
])  # fmt: skip
def test_the_first_batch_norm_is_the_stem_in_2d_and_3d_backbones(backbone, first, first_module):
    config = _config()
    config.model.backbone = backbone
    config.model.backbone_options = {}
    model = create_model(config.model, num_classes=5, num_segments=1)
    shape = (1, 1, 8, 32, 32, 3) if backbone != "bninception" else (1, 1, 1, 32, 32, 3)
    layout = finetune.model_layout(model, shape)
    assert layout.batch_norms[0] == first
    assert layout.backbone_modules[0] == first_module


def _one_update(config, grads, params):
    tx = optim.create_optimizer(config, optim.create_learning_rate_schedule(config, 10))
    updates, _ = tx.update(grads, tx.init(params), params)
    return updates


def test_learning_rate_multipliers_scale_the_update_exactly():
    params = {"fc": {"kernel": jnp.ones(3), "bias": jnp.ones(2)}, "conv1": {"kernel": jnp.ones(4)}}
    grads = jax.tree.map(lambda p: jnp.linspace(0.5, 1.5, p.size), params)
    config = _config()
    config.optimizer.clip_grad_norm = 0.0
    plain = _one_update(config, grads, params)
    config.optimizer.lr_multipliers = ("^fc/kernel=5", "^fc/bias=10")
    grouped = _one_update(config, grads, params)
    np.testing.assert_allclose(grouped["fc"]["kernel"], 5 * plain["fc"]["kernel"], rtol=1e-6)
    np.testing.assert_allclose(grouped["fc"]["bias"], 10 * plain["fc"]["bias"], rtol=1e-6)
    np.testing.assert_array_equal(grouped["conv1"]["kernel"], plain["conv1"]["kernel"])


def test_weight_decay_multipliers_and_defaults():
    params = {"fc": {"kernel": jnp.ones(2), "bias": jnp.ones(2)}, "bn": {"scale": jnp.ones(2)}}
    zero = jax.tree.map(jnp.zeros_like, params)
    config = _config()
    config.optimizer.clip_grad_norm = 0.0
    config.optimizer.momentum = 0.0
    config.optimizer.learning_rate = 1.0
    config.optimizer.weight_decay = 0.1
    updates = _one_update(config, zero, params)
    # SGD's update is -lr * (grad + decay * param): only kernels are decayed by default.
    np.testing.assert_allclose(updates["fc"]["kernel"], -0.1)
    np.testing.assert_array_equal(updates["fc"]["bias"], 0.0)
    np.testing.assert_array_equal(updates["bn"]["scale"], 0.0)
    config.optimizer.weight_decay_multipliers = ("fc/bias=2", "kernel=0")
    updates = _one_update(config, zero, params)
    np.testing.assert_array_equal(updates["fc"]["kernel"], 0.0)
    np.testing.assert_allclose(updates["fc"]["bias"], -0.2)
    config.optimizer.lr_multipliers = ("fc=five",)
    with pytest.raises(ValueError, match="lr_multipliers: bad entry 'fc=five'"):
        _one_update(config, zero, params)


def test_cosine_schedule_with_warmup_and_linear_scaling():
    config = _config()
    config.num_train_steps = 100
    config.batch_size = 64
    config.optimizer.learning_rate = 0.1
    config.optimizer.lr_base_batch_size = 32  # -> 0.2
    config.optimizer.schedule = "cosine"
    config.optimizer.warmup_epochs = 1.0
    schedule = optim.create_learning_rate_schedule(config, steps_per_epoch=10)
    values = [float(schedule(s)) for s in (0, 5, 10, 55, 100)]
    np.testing.assert_allclose(values, [0.0, 0.1, 0.2, 0.1, 0.0], atol=1e-6)


def test_step_schedule_with_warmup_keeps_its_boundaries():
    config = _config()
    config.optimizer.learning_rate = 0.1
    config.optimizer.warmup_epochs = 0.5
    config.optimizer.lr_decay_epochs = (2.0,)
    schedule = optim.create_learning_rate_schedule(config, steps_per_epoch=10)
    values = [float(schedule(s)) for s in (0, 2, 5, 19, 20)]
    np.testing.assert_allclose(values, [0.0, 0.04, 0.1, 0.1, 0.01], rtol=1e-6)
    config.optimizer.schedule = "poly"
    with pytest.raises(ValueError, match="schedule must be one of"):
        optim.create_learning_rate_schedule(config, steps_per_epoch=10)


class _Toy(nn.Module):
    """Dense -> BatchNorm -> dropout -> Dense: train_step's contract at no compile cost."""

    @nn.compact
    def __call__(self, x, train: bool):
        x = nn.Dense(16)(x.reshape(x.shape[0], -1))
        x = nn.BatchNorm(use_running_average=not train)(x)
        x = nn.Dropout(0.5, deterministic=not train)(nn.relu(x))
        return nn.Dense(5)(x)


def _toy_state(config):
    model = _Toy()
    schedule = optim.create_learning_rate_schedule(config, 10)
    tx = optim.create_optimizer(config, schedule)
    state = jax.jit(lambda rng: train_step.initial_state(model, tx, rng, INPUT_SHAPE))(
        jax.random.key(0)
    )
    batch = {
        "inputs": jnp.asarray(np.random.default_rng(1).normal(size=INPUT_SHAPE), jnp.float32),
        "label": jnp.array([0, 1, 2, 3], jnp.int32),
    }
    return model, schedule, tx, state, batch


def test_label_smoothing_changes_the_target():
    model, schedule, tx, state, batch = _toy_state(_config())
    losses = []
    for eps in (0.0, 0.2):
        step = jax.jit(
            functools.partial(
                train_step.train_step, model=model, tx=tx, schedule=schedule, label_smoothing=eps
            )
        )
        _, metrics = step(state, batch, jax.random.key(0))
        losses.append(float(metrics["loss"]))
    # The step's own train-mode logits (its dropout key is the rng folded with step 0):
    # the smoothed loss is (1 - eps) CE + eps * mean over classes of -log p.
    dropout = jax.random.fold_in(jax.random.key(0), 0)
    train_logits, _ = jax.jit(
        lambda variables, x: model.apply(
            variables, x, train=True, rngs={"dropout": dropout}, mutable=["batch_stats"]
        )
    )(state.variables(), batch["inputs"])
    log_p = jax.nn.log_softmax(train_logits)
    ce = -jnp.take_along_axis(log_p, batch["label"][:, None], 1).mean()
    uniform = -log_p.mean()
    np.testing.assert_allclose(losses[0], ce, rtol=1e-5)
    np.testing.assert_allclose(losses[1], 0.8 * ce + 0.2 * uniform, rtol=1e-5)


def test_reduce_on_plateau_counts_evaluations_without_improvement():
    state = optim.initial_plateau_state()
    scales = []
    for value in (1.0, 0.9, 0.95, 0.9, 0.89995, 0.95, 0.5):
        state = optim.plateau_update(state, value, factor=0.1, patience=2)
        scales.append(float(state["lr_scale"]))
    # 0.9 is not beaten by 0.95, 0.9 or 0.89995 (threshold 1e-4 relative: below 0.89991
    # is needed): that third stalled evaluation exceeds patience 2 and divides by 10.
    np.testing.assert_allclose(scales, [1, 1, 1, 1, 0.1, 0.1, 0.1], rtol=1e-6)
    assert float(state["best"]) == 0.5 and int(state["num_bad"]) == 0


def test_the_plateau_factor_scales_the_update():
    config = _config()
    config.optimizer.momentum = 0.0
    model, schedule, tx, state, batch = _toy_state(config)
    step = jax.jit(functools.partial(train_step.train_step, model=model, tx=tx, schedule=schedule))
    full, _ = step(state, batch, jax.random.key(0))
    halved_state = state.replace(plateau=dict(state.plateau, lr_scale=jnp.float32(0.5)))
    half, metrics = step(halved_state, batch, jax.random.key(0))
    np.testing.assert_allclose(float(metrics["learning_rate"]), 0.5 * 0.1, rtol=1e-6)
    delta_full = jax.tree.map(jnp.subtract, full.params, state.params)
    delta_half = jax.tree.map(jnp.subtract, half.params, state.params)
    for a, b in zip(jax.tree.leaves(delta_full), jax.tree.leaves(delta_half), strict=True):
        # (Deltas of float32 parameters near 1 carry rounding of ~1e-7.)
        np.testing.assert_allclose(b, 0.5 * a, rtol=1e-3, atol=3e-7)
