"""Tests for the ResNet backbones, the segmental consensus and the TSN wrapper.

Tiny widths (base_width 8) and 32x32 frames keep them fast on a 2-core CPU; shape and
naming checks at full width only trace (``jax.eval_shape``), they never run a convolution.
"""

from __future__ import annotations

import functools
import hashlib

import flax
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from tsn_jax import models
from tsn_jax.models import consensus, resnet
from tsn_jax.models.tsn import TSN, fold_snippets

NUM_CLASSES = 5

# torchvision.models.resnet18().state_dict(): key and shape, in order (torchvision 0.29).
TORCHVISION_RESNET18 = [
    ("conv1.weight", (64, 3, 7, 7)),
    ("bn1.weight", (64,)),
    ("bn1.bias", (64,)),
    ("bn1.running_mean", (64,)),
    ("bn1.running_var", (64,)),
    ("bn1.num_batches_tracked", ()),
    ("layer1.0.conv1.weight", (64, 64, 3, 3)),
    ("layer1.0.bn1.weight", (64,)),
    ("layer1.0.bn1.bias", (64,)),
    ("layer1.0.bn1.running_mean", (64,)),
    ("layer1.0.bn1.running_var", (64,)),
    ("layer1.0.bn1.num_batches_tracked", ()),
    ("layer1.0.conv2.weight", (64, 64, 3, 3)),
    ("layer1.0.bn2.weight", (64,)),
    ("layer1.0.bn2.bias", (64,)),
    ("layer1.0.bn2.running_mean", (64,)),
    ("layer1.0.bn2.running_var", (64,)),
    ("layer1.0.bn2.num_batches_tracked", ()),
    ("layer1.1.conv1.weight", (64, 64, 3, 3)),
    ("layer1.1.bn1.weight", (64,)),
    ("layer1.1.bn1.bias", (64,)),
    ("layer1.1.bn1.running_mean", (64,)),
    ("layer1.1.bn1.running_var", (64,)),
    ("layer1.1.bn1.num_batches_tracked", ()),
    ("layer1.1.conv2.weight", (64, 64, 3, 3)),
    ("layer1.1.bn2.weight", (64,)),
    ("layer1.1.bn2.bias", (64,)),
    ("layer1.1.bn2.running_mean", (64,)),
    ("layer1.1.bn2.running_var", (64,)),
    ("layer1.1.bn2.num_batches_tracked", ()),
    ("layer2.0.conv1.weight", (128, 64, 3, 3)),
    ("layer2.0.bn1.weight", (128,)),
    ("layer2.0.bn1.bias", (128,)),
    ("layer2.0.bn1.running_mean", (128,)),
    ("layer2.0.bn1.running_var", (128,)),
    ("layer2.0.bn1.num_batches_tracked", ()),
    ("layer2.0.conv2.weight", (128, 128, 3, 3)),
    ("layer2.0.bn2.weight", (128,)),
    ("layer2.0.bn2.bias", (128,)),
    ("layer2.0.bn2.running_mean", (128,)),
    ("layer2.0.bn2.running_var", (128,)),
    ("layer2.0.bn2.num_batches_tracked", ()),
    ("layer2.0.downsample.0.weight", (128, 64, 1, 1)),
    ("layer2.0.downsample.1.weight", (128,)),
    ("layer2.0.downsample.1.bias", (128,)),
    ("layer2.0.downsample.1.running_mean", (128,)),
    ("layer2.0.downsample.1.running_var", (128,)),
    ("layer2.0.downsample.1.num_batches_tracked", ()),
    ("layer2.1.conv1.weight", (128, 128, 3, 3)),
    ("layer2.1.bn1.weight", (128,)),
    ("layer2.1.bn1.bias", (128,)),
    ("layer2.1.bn1.running_mean", (128,)),
    ("layer2.1.bn1.running_var", (128,)),
    ("layer2.1.bn1.num_batches_tracked", ()),
    ("layer2.1.conv2.weight", (128, 128, 3, 3)),
    ("layer2.1.bn2.weight", (128,)),
    ("layer2.1.bn2.bias", (128,)),
    ("layer2.1.bn2.running_mean", (128,)),
    ("layer2.1.bn2.running_var", (128,)),
    ("layer2.1.bn2.num_batches_tracked", ()),
    ("layer3.0.conv1.weight", (256, 128, 3, 3)),
    ("layer3.0.bn1.weight", (256,)),
    ("layer3.0.bn1.bias", (256,)),
    ("layer3.0.bn1.running_mean", (256,)),
    ("layer3.0.bn1.running_var", (256,)),
    ("layer3.0.bn1.num_batches_tracked", ()),
    ("layer3.0.conv2.weight", (256, 256, 3, 3)),
    ("layer3.0.bn2.weight", (256,)),
    ("layer3.0.bn2.bias", (256,)),
    ("layer3.0.bn2.running_mean", (256,)),
    ("layer3.0.bn2.running_var", (256,)),
    ("layer3.0.bn2.num_batches_tracked", ()),
    ("layer3.0.downsample.0.weight", (256, 128, 1, 1)),
    ("layer3.0.downsample.1.weight", (256,)),
    ("layer3.0.downsample.1.bias", (256,)),
    ("layer3.0.downsample.1.running_mean", (256,)),
    ("layer3.0.downsample.1.running_var", (256,)),
    ("layer3.0.downsample.1.num_batches_tracked", ()),
    ("layer3.1.conv1.weight", (256, 256, 3, 3)),
    ("layer3.1.bn1.weight", (256,)),
    ("layer3.1.bn1.bias", (256,)),
    ("layer3.1.bn1.running_mean", (256,)),
    ("layer3.1.bn1.running_var", (256,)),
    ("layer3.1.bn1.num_batches_tracked", ()),
    ("layer3.1.conv2.weight", (256, 256, 3, 3)),
    ("layer3.1.bn2.weight", (256,)),
    ("layer3.1.bn2.bias", (256,)),
    ("layer3.1.bn2.running_mean", (256,)),
    ("layer3.1.bn2.running_var", (256,)),
    ("layer3.1.bn2.num_batches_tracked", ()),
    ("layer4.0.conv1.weight", (512, 256, 3, 3)),
    ("layer4.0.bn1.weight", (512,)),
    ("layer4.0.bn1.bias", (512,)),
    ("layer4.0.bn1.running_mean", (512,)),
    ("layer4.0.bn1.running_var", (512,)),
    ("layer4.0.bn1.num_batches_tracked", ()),
    ("layer4.0.conv2.weight", (512, 512, 3, 3)),
    ("layer4.0.bn2.weight", (512,)),
    ("layer4.0.bn2.bias", (512,)),
    ("layer4.0.bn2.running_mean", (512,)),
    ("layer4.0.bn2.running_var", (512,)),
    ("layer4.0.bn2.num_batches_tracked", ()),
    ("layer4.0.downsample.0.weight", (512, 256, 1, 1)),
    ("layer4.0.downsample.1.weight", (512,)),
    ("layer4.0.downsample.1.bias", (512,)),
    ("layer4.0.downsample.1.running_mean", (512,)),
    ("layer4.0.downsample.1.running_var", (512,)),
    ("layer4.0.downsample.1.num_batches_tracked", ()),
    ("layer4.1.conv1.weight", (512, 512, 3, 3)),
    ("layer4.1.bn1.weight", (512,)),
    ("layer4.1.bn1.bias", (512,)),
    ("layer4.1.bn1.running_mean", (512,)),
    ("layer4.1.bn1.running_var", (512,)),
    ("layer4.1.bn1.num_batches_tracked", ()),
    ("layer4.1.conv2.weight", (512, 512, 3, 3)),
    ("layer4.1.bn2.weight", (512,)),
    ("layer4.1.bn2.bias", (512,)),
    ("layer4.1.bn2.running_mean", (512,)),
    ("layer4.1.bn2.running_var", (512,)),
    ("layer4.1.bn2.num_batches_tracked", ()),
    ("fc.weight", (1000, 512)),
    ("fc.bias", (1000,)),
]

# sha256 of "\n".join(f"{key} {shape}") over torchvision.models.resnet50().state_dict().
TORCHVISION_RESNET50_SHA256 = "d7e4f8bb0a5363446a59c81c3887ccf66900a11651a0ae2dec96d1bb1eb6ea81"

STAGE_SIZES = {
    "resnet18": ("basic", (2, 2, 2, 2)),
    "resnet34": ("basic", (3, 4, 6, 3)),
    "resnet50": ("bottleneck", (3, 4, 6, 3)),
    "resnet101": ("bottleneck", (3, 4, 23, 3)),
    "resnet152": ("bottleneck", (3, 8, 36, 3)),
}


# --------------------------------------------------------------------------- helpers


def torchvision_resnet_keys(block: str, layers, num_classes: int = 1000):
    """(key, shape) of a torchvision ResNet state_dict, written the way torchvision builds it.

    Checked against the hard-coded resnet18 list and the resnet50 hash above, so that it
    can stand for torchvision's layout of the other depths.
    """
    keys = []

    def conv(prefix, cout, cin, k):
        keys.append((f"{prefix}.weight", (cout, cin, k, k)))

    def bn(prefix, c):
        keys.extend(
            [
                (f"{prefix}.weight", (c,)),
                (f"{prefix}.bias", (c,)),
                (f"{prefix}.running_mean", (c,)),
                (f"{prefix}.running_var", (c,)),
                (f"{prefix}.num_batches_tracked", ()),
            ]
        )

    expansion = 1 if block == "basic" else 4
    conv("conv1", 64, 3, 7)
    bn("bn1", 64)
    inplanes = 64
    for i, n in enumerate(layers):
        planes = 64 * 2**i
        for j in range(n):
            p = f"layer{i + 1}.{j}"
            stride = 2 if i > 0 and j == 0 else 1
            if block == "basic":
                conv(f"{p}.conv1", planes, inplanes, 3)
                bn(f"{p}.bn1", planes)
                conv(f"{p}.conv2", planes, planes, 3)
                bn(f"{p}.bn2", planes)
            else:
                conv(f"{p}.conv1", planes, inplanes, 1)
                bn(f"{p}.bn1", planes)
                conv(f"{p}.conv2", planes, planes, 3)
                bn(f"{p}.bn2", planes)
                conv(f"{p}.conv3", planes * 4, planes, 1)
                bn(f"{p}.bn3", planes * 4)
            if stride != 1 or inplanes != planes * expansion:
                conv(f"{p}.downsample.0", planes * expansion, inplanes, 1)
                bn(f"{p}.downsample.1", planes * expansion)
            inplanes = planes * expansion
    keys.append(("fc.weight", (num_classes, 512 * expansion)))
    keys.append(("fc.bias", (num_classes,)))
    return keys


def torch_to_flax(key: str, shape: tuple[int, ...]):
    """Maps a torchvision state_dict entry to (flax path, flax shape) by the naming rule.

    A numeric path component joins its parent with '_'; conv weights OIHW -> HWIO, fc
    weight [out, in] -> [in, out]; BN weight/bias -> params scale/bias, running stats ->
    batch_stats mean/var. Returns None for num_batches_tracked, which has no counterpart.
    """
    *modules, leaf = key.split(".")
    path: list[str] = []
    for part in modules:
        if part.isdigit():
            path[-1] = f"{path[-1]}_{part}"
        else:
            path.append(part)
    if leaf == "num_batches_tracked":
        return None
    if leaf == "weight" and len(shape) == 4:
        o, i, h, w = shape
        return ("params", *path, "kernel"), (h, w, i, o)
    if leaf == "weight" and len(shape) == 2:
        return ("params", *path, "kernel"), shape[::-1]
    if leaf == "weight":
        return ("params", *path, "scale"), shape
    if leaf == "bias":
        return ("params", *path, "bias"), shape
    if leaf == "running_mean":
        return ("batch_stats", *path, "mean"), shape
    if leaf == "running_var":
        return ("batch_stats", *path, "var"), shape
    raise ValueError(key)


def expected_flax_shapes(torch_keys) -> dict[tuple[str, ...], tuple[int, ...]]:
    mapped = (torch_to_flax(k, s) for k, s in torch_keys)
    return dict(m for m in mapped if m is not None)


def flax_shapes(variables) -> dict[tuple[str, ...], tuple[int, ...]]:
    flat = flax.traverse_util.flatten_dict(flax.core.unfreeze(variables))
    return {k: tuple(v.shape) for k, v in flat.items()}


def abstract_init(model, x_shape):
    """Variables' shapes without running anything (train is static, so not traced)."""
    return jax.eval_shape(lambda: model.init(jax.random.key(0), jnp.zeros(x_shape), train=False))


def tiny_tsn(backbone: str = "resnet18", **kwargs) -> TSN:
    return TSN(
        backbone=getattr(resnet, backbone)(num_classes=None, base_width=8),
        num_classes=NUM_CLASSES,
        **kwargs,
    )


def init_with_big_fc(model: TSN, x: jax.Array, seed: int = 0):
    """Initializes the model, then scales the N(0, 0.001^2) fc up to std 1.

    With TSN's tiny classifier init every logit is ~1e-3 and any allclose would pass; a
    unit-scale fc makes the comparisons below able to fail.
    """
    variables = model.init(jax.random.key(seed), x, train=False)
    params = flax.core.unfreeze(variables["params"])
    params["fc"]["kernel"] = params["fc"]["kernel"] * 1000.0
    params["fc"]["bias"] = jax.random.normal(jax.random.key(seed + 1), params["fc"]["bias"].shape)
    return {**variables, "params": params}


def random_inputs(shape, seed: int = 0) -> jax.Array:
    return jax.random.normal(jax.random.key(seed), shape, jnp.float32)


# --------------------------------------------------------------------------- ResNet naming


def test_torchvision_key_generator_matches_torchvision():
    assert torchvision_resnet_keys("basic", (2, 2, 2, 2)) == TORCHVISION_RESNET18
    r50 = torchvision_resnet_keys("bottleneck", (3, 4, 6, 3))
    digest = hashlib.sha256("\n".join(f"{k} {s}" for k, s in r50).encode()).hexdigest()
    assert digest == TORCHVISION_RESNET50_SHA256


def test_resnet18_names_and_shapes_match_torchvision():
    variables = abstract_init(resnet.resnet18(), (1, 32, 32, 3))
    assert flax_shapes(variables) == expected_flax_shapes(TORCHVISION_RESNET18)


@pytest.mark.parametrize("name", ["resnet34", "resnet50", "resnet101", "resnet152"])
def test_resnet_names_and_shapes_match_torchvision(name):
    block, layers = STAGE_SIZES[name]
    variables = abstract_init(getattr(resnet, name)(), (1, 32, 32, 3))
    assert flax_shapes(variables) == expected_flax_shapes(torchvision_resnet_keys(block, layers))


@pytest.mark.parametrize("name", list(STAGE_SIZES))
def test_num_features(name):
    block, _ = STAGE_SIZES[name]
    expansion = 1 if block == "basic" else 4
    assert getattr(resnet, name)().num_features == 512 * expansion
    assert getattr(resnet, name)(base_width=8).num_features == 64 * expansion


def test_resnet_without_fc_returns_features():
    model = resnet.resnet50(num_classes=None, base_width=8)
    variables = abstract_init(model, (2, 32, 32, 7))
    assert "fc" not in variables["params"]
    out = jax.eval_shape(
        lambda v: model.apply(v, jnp.zeros((2, 32, 32, 7)), train=False), variables
    )
    assert out.shape == (2, model.num_features)


# --------------------------------------------------------------------------- ResNet init


def test_resnet_init():
    model = resnet.resnet18(base_width=8, num_classes=10, zero_init_residual=True)
    variables = model.init(jax.random.key(0), jnp.zeros((1, 32, 32, 3)), train=False)
    params = variables["params"]
    # Kaiming normal, fan_out: std sqrt(2 / (8 * 7 * 7)); 1176 samples, so ~2% noise.
    std = float(jnp.std(params["conv1"]["kernel"]))
    assert std == pytest.approx(np.sqrt(2.0 / (8 * 49)), rel=0.1)
    np.testing.assert_array_equal(params["bn1"]["scale"], 1.0)
    np.testing.assert_array_equal(params["bn1"]["bias"], 0.0)
    np.testing.assert_array_equal(variables["batch_stats"]["bn1"]["var"], 1.0)
    # zero_init_residual zeroes the last BN of each block, only that one.
    np.testing.assert_array_equal(params["layer1_0"]["bn2"]["scale"], 0.0)
    np.testing.assert_array_equal(params["layer1_0"]["bn1"]["scale"], 1.0)
    np.testing.assert_array_equal(params["layer2_0"]["downsample_1"]["scale"], 1.0)
    assert all(x.dtype == jnp.float32 for x in jax.tree.leaves(variables))


def test_bottleneck_zero_init_residual_targets_bn3():
    model = resnet.resnet50(base_width=8, num_classes=None, zero_init_residual=True)
    variables = model.init(jax.random.key(0), jnp.zeros((1, 32, 32, 3)), train=False)
    block = variables["params"]["layer3_1"]
    np.testing.assert_array_equal(block["bn3"]["scale"], 0.0)
    np.testing.assert_array_equal(block["bn2"]["scale"], 1.0)


# --------------------------------------------------------------------------- consensus


def test_avg_consensus_is_mean_with_gradient_one_over_k():
    x = random_inputs((2, 4, 3))
    avg = consensus.get_consensus("avg")
    np.testing.assert_allclose(avg(x), np.mean(np.asarray(x), axis=1), rtol=1e-6)
    assert avg(x).shape == (2, 3)
    grad = jax.grad(lambda s: jnp.sum(avg(s) * jnp.arange(1.0, 4.0)))(x)
    expected = np.broadcast_to(np.arange(1.0, 4.0) / 4, (2, 4, 3))
    np.testing.assert_allclose(grad, expected, rtol=1e-6)


@pytest.mark.parametrize("name", ["max", "topk", "weighted", "attention", "median"])
def test_unimplemented_consensus_raises(name):
    with pytest.raises(ValueError, match="implemented: \\['avg'\\]"):
        consensus.get_consensus(name)


# --------------------------------------------------------------------------- TSN


def test_fold_snippets_is_frame_major():
    x = random_inputs((2, 3, 4, 5, 6, 2))  # B, K, T, H, W, C
    y = np.asarray(fold_snippets(x))
    x = np.asarray(x)
    assert y.shape == (6, 5, 6, 8)
    for b, k, t, c in [(0, 0, 0, 0), (1, 2, 3, 1), (0, 1, 2, 0), (1, 0, 1, 1)]:
        np.testing.assert_array_equal(y[b * 3 + k, :, :, t * 2 + c], x[b, k, t, :, :, c])


@pytest.mark.parametrize("backbone", ["resnet18", "resnet50"])
@pytest.mark.parametrize("frames,channels", [(1, 3), (5, 2)])
def test_tsn_output_shapes(backbone, frames, channels):
    model = tiny_tsn(backbone)
    x = jnp.zeros((2, 3, frames, 32, 32, channels))
    variables = model.init(jax.random.key(0), x, train=False)
    assert set(variables["params"]) == {"backbone", "fc"}
    assert variables["params"]["backbone"]["conv1"]["kernel"].shape == (7, 7, frames * channels, 8)
    features = model.backbone.num_features
    assert variables["params"]["fc"]["kernel"].shape == (features, NUM_CLASSES)
    assert model.apply(variables, x, train=False).shape == (2, NUM_CLASSES)
    snippets = model.apply(variables, x, train=False, return_snippet_logits=True)
    assert snippets.shape == (2, 3, NUM_CLASSES)


def test_tsn_classifier_init():
    model = tiny_tsn()
    variables = model.init(jax.random.key(0), jnp.zeros((1, 1, 1, 32, 32, 3)), train=False)
    fc = variables["params"]["fc"]
    assert float(jnp.std(fc["kernel"])) == pytest.approx(0.001, rel=0.15)
    np.testing.assert_array_equal(fc["bias"], 0.0)


def test_tsn_shares_weights_across_snippets():
    model = tiny_tsn()
    x = random_inputs((2, 3, 1, 32, 32, 3))
    variables = init_with_big_fc(model, x)
    apply = functools.partial(model.apply, variables, train=False)

    logits = apply(x)
    snippets = apply(x, return_snippet_logits=True)
    assert float(jnp.std(logits)) > 0.1  # The comparisons below are not vacuous.
    np.testing.assert_allclose(logits, jnp.mean(snippets, axis=1), rtol=1e-5, atol=1e-5)

    perm = jnp.array([2, 0, 1])
    np.testing.assert_allclose(apply(x[:, perm]), logits, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(
        apply(x[:, perm], return_snippet_logits=True), snippets[:, perm], rtol=1e-5, atol=1e-5
    )

    # The same snippet K times scores exactly like that snippet alone.
    one = x[:, :1]
    np.testing.assert_allclose(apply(jnp.tile(one, (1, 4, 1, 1, 1, 1))), apply(one), atol=1e-5)
    np.testing.assert_allclose(snippets[:, 0], apply(one), rtol=1e-5, atol=1e-5)


def test_tsn_dropout_only_in_train():
    x = random_inputs((2, 2, 1, 32, 32, 3))
    model = tiny_tsn(dropout_rate=0.8)
    variables = init_with_big_fc(model, x)

    def train_logits(m, seed):
        out, _ = m.apply(
            variables,
            x,
            train=True,
            rngs={"dropout": jax.random.key(seed)},
            mutable=["batch_stats"],
        )
        return np.asarray(out)

    # Eval is deterministic and needs no rng.
    np.testing.assert_array_equal(
        model.apply(variables, x, train=False), model.apply(variables, x, train=False)
    )
    # Train: different dropout masks give different logits ...
    assert np.abs(train_logits(model, 1) - train_logits(model, 2)).max() > 1e-3
    # ... and only because of dropout: with rate 0 the same batch gives the same logits.
    no_dropout = tiny_tsn(dropout_rate=0.0)
    np.testing.assert_allclose(train_logits(no_dropout, 1), train_logits(no_dropout, 2), rtol=1e-6)
    with pytest.raises(flax.errors.InvalidRngError):
        model.apply(variables, x, train=True, mutable=["batch_stats"])


def test_tsn_batch_norm_statistics_cover_all_snippets():
    b, k = 2, 3
    # Give every snippet its own offset so per-video or per-snippet statistics would differ.
    offsets = jnp.arange(b * k, dtype=jnp.float32).reshape(b, k, 1, 1, 1, 1)
    x = random_inputs((b, k, 1, 32, 32, 3)) + offsets
    model = tiny_tsn(dropout_rate=0.0)
    variables = model.init(jax.random.key(0), x, train=False)

    _, state = model.apply(
        variables,
        x,
        train=True,
        mutable=["batch_stats", "intermediates"],
        capture_intermediates=lambda mdl, _: mdl.name == "conv1" and mdl.parent.name == "backbone",
    )
    conv1_out = np.asarray(state["intermediates"]["backbone"]["conv1"]["__call__"][0])
    assert conv1_out.shape == (b * k, 16, 16, 8)
    bn1 = state["batch_stats"]["backbone"]["bn1"]
    # Running update with PyTorch's momentum 0.1 from the initial mean 0 and var 1, the
    # batch statistics taken over all B*K snippets and all positions.
    np.testing.assert_allclose(
        bn1["mean"], 0.1 * conv1_out.mean(axis=(0, 1, 2)), rtol=1e-4, atol=1e-6
    )
    np.testing.assert_allclose(
        bn1["var"], 0.9 + 0.1 * conv1_out.var(axis=(0, 1, 2)), rtol=1e-4, atol=1e-6
    )
    # The statistics of the first video alone would be different.
    first_video = conv1_out[:k].mean(axis=(0, 1, 2))
    assert np.abs(0.1 * first_video - np.asarray(bn1["mean"])).max() > 1e-3

    # Hence in train mode one video's logits depend on the other video's snippets.
    def train_logits(inputs):
        out, _ = model.apply(variables, inputs, train=True, mutable=["batch_stats"])
        return np.asarray(out)

    changed = x.at[1, 2].multiply(3.0)
    assert np.abs(train_logits(x)[0] - train_logits(changed)[0]).max() > 0
    # ... and in eval mode they do not.
    np.testing.assert_array_equal(
        model.apply(variables, x, train=False)[0], model.apply(variables, changed, train=False)[0]
    )


# --------------------------------------------------------------------------- create_model


def model_config(**overrides) -> ml_collections.ConfigDict:
    config = ml_collections.ConfigDict(
        {
            "backbone": "resnet18",
            "base_width": 8,
            "dropout_rate": 0.8,
            "consensus": "avg",
            "dtype": "float32",
        }
    )
    config.update(overrides)
    return config


def test_create_model():
    model = models.create_model(model_config(), num_classes=7)
    assert isinstance(model, TSN)
    assert model.num_classes == 7 and model.dropout_rate == 0.8
    assert model.backbone.num_classes is None and model.backbone.base_width == 8
    x = jnp.zeros((2, 3, 5, 32, 32, 2))
    variables = abstract_init(model, x.shape)
    assert variables["params"]["backbone"]["conv1"]["kernel"].shape == (7, 7, 10, 8)
    assert variables["params"]["fc"]["kernel"].shape == (64, 7)


def test_create_model_bfloat16_keeps_float32_params_and_logits():
    model = models.create_model(model_config(dtype="bfloat16", backbone="resnet50"), 7)
    x = random_inputs((1, 2, 1, 32, 32, 3))
    variables = model.init(jax.random.key(0), x, train=False)
    assert all(v.dtype == jnp.float32 for v in jax.tree.leaves(variables))
    assert model.apply(variables, x, train=False).dtype == jnp.float32


def test_create_model_rejects_unknown_names():
    with pytest.raises(ValueError, match="resnet18"):
        models.create_model(model_config(backbone="resnet19"), 7)
    with pytest.raises(ValueError, match="bfloat16"):
        models.create_model(model_config(dtype="float16"), 7)
    with pytest.raises(ValueError, match="avg"):
        models.create_model(model_config(consensus="max"), 7)
