"""Tests for the ResNet backbones, the segmental consensus and the TSN wrapper.

Tiny widths (base_width 8) and 32x32 frames keep them fast on a 2-core CPU; shape and
naming checks at full width only trace (``jax.eval_shape``), they never run a convolution.
"""

from __future__ import annotations

import functools
import hashlib
from typing import ClassVar

import flax
import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from tests.helpers import (
    abstract_init,
    numpy_variables,
    random_inputs,
    run_once,
    torchvision_resnet_keys,
)
from tsn_jax import models
from tsn_jax.models import consensus, resnet
from tsn_jax.models.tsn import TSN, fold_clips, fold_snippets

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


# Every distinct array shape costs an XLA compilation on CPU (~0.1 s per op, ~1.5 s per
# threefry random draw) and model.init runs eagerly, so a real init of even a tiny
# ResNet-18 takes 10-20 s on the 2-core machine. The TSN tests therefore share one tiny
# model whose variables have the real structure (from a traced init) but numpy-drawn
# values, one input shape (B*K = 6 rows) and NUM_CLASSES everywhere. The initializers
# themselves are tested on a one-stage ResNet, single blocks and a TSN on a toy backbone.
B, K = 2, 3
RGB_SHAPE = (B, K, 1, 32, 32, 3)


def tiny_tsn(backbone: str = "resnet18", **kwargs) -> TSN:
    return TSN(
        backbone=getattr(resnet, backbone)(num_classes=None, base_width=8),
        num_classes=NUM_CLASSES,
        **kwargs,
    )


@pytest.fixture(scope="module")
def rgb_tsn():
    """A tiny ResNet-18 TSN (dropout 0.8), an RGB batch [2, 3, 1, 32, 32, 3], variables."""
    model = tiny_tsn(dropout_rate=0.8)
    variables = numpy_variables(abstract_init(model, RGB_SHAPE))
    return model, random_inputs(RGB_SHAPE), variables


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
    # A one-stage member of the family: few distinct shapes, so few compilations.
    model = resnet.ResNet(
        block_cls=resnet.BasicBlock, stage_sizes=(1,), base_width=8, num_classes=NUM_CLASSES
    )
    variables = jax.jit(lambda x: model.init(jax.random.key(0), x, train=False))(
        jnp.zeros((1, 32, 32, 3))
    )
    params = variables["params"]
    assert set(params) == {"conv1", "bn1", "layer1_0", "fc"}
    # Kaiming normal, fan_out: std sqrt(2 / (8 * 7 * 7)); 1176 samples, so ~2% noise.
    std = float(jnp.std(params["conv1"]["kernel"]))
    assert std == pytest.approx(np.sqrt(2.0 / (8 * 49)), rel=0.1)
    np.testing.assert_array_equal(params["bn1"]["scale"], 1.0)
    np.testing.assert_array_equal(params["bn1"]["bias"], 0.0)
    np.testing.assert_array_equal(variables["batch_stats"]["bn1"]["mean"], 0.0)
    np.testing.assert_array_equal(variables["batch_stats"]["bn1"]["var"], 1.0)
    # PyTorch's nn.Linear default: U(-1/sqrt(8), 1/sqrt(8)) for kernel and bias.
    assert params["fc"]["kernel"].shape == (8, NUM_CLASSES)
    assert float(jnp.abs(params["fc"]["kernel"]).max()) <= 8**-0.5
    assert 0 < float(jnp.abs(params["fc"]["bias"]).max()) <= 8**-0.5
    assert all(x.dtype == jnp.float32 for x in jax.tree.leaves(variables))


@pytest.mark.parametrize(
    "block_cls,last_bn", [(resnet.BasicBlock, "bn2"), (resnet.Bottleneck, "bn3")]
)
def test_zero_init_residual_zeroes_only_the_last_bn(block_cls, last_bn):
    block = block_cls(planes=4, stride=2, zero_init_residual=True)
    params = block.init(jax.random.key(0), jnp.zeros((1, 8, 8, 8)), train=False)["params"]
    for name in params:
        if name.startswith("bn") or name == "downsample_1":
            np.testing.assert_array_equal(params[name]["scale"], float(name != last_bn))
    assert {last_bn, "downsample_0", "downsample_1"} <= set(params)


# --------------------------------------------------------------------------- consensus


def test_avg_consensus_is_mean_with_gradient_one_over_k():
    x = random_inputs((2, 4, 3))
    avg = consensus.avg_consensus
    np.testing.assert_allclose(avg(x), np.mean(np.asarray(x), axis=1), rtol=1e-6)
    assert avg(x).shape == (2, 3)
    grad = jax.grad(lambda s: jnp.sum(avg(s) * jnp.arange(1.0, 4.0)))(x)
    expected = np.broadcast_to(np.arange(1.0, 4.0) / 4, (2, 4, 3))
    np.testing.assert_allclose(grad, expected, rtol=1e-6)


def test_unknown_consensus_raises():
    with pytest.raises(ValueError, match="Unknown consensus 'median'"):
        consensus.check_consensus("median")


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
    # Traced only: the numerics of a TSN are exercised on the ResNet-18 fixture below.
    model = tiny_tsn(backbone)
    x = jnp.zeros((B, K, frames, 32, 32, channels))
    variables = abstract_init(model, x.shape)
    assert set(variables["params"]) == {"backbone", "fc"}
    assert set(variables["batch_stats"]) == {"backbone"}
    conv1 = variables["params"]["backbone"]["conv1"]["kernel"]
    assert conv1.shape == (7, 7, frames * channels, 8)
    features = model.backbone.num_features
    assert variables["params"]["fc"]["kernel"].shape == (features, NUM_CLASSES)

    def apply(v, **kwargs):
        return model.apply(v, x, train=False, **kwargs)

    assert jax.eval_shape(apply, variables).shape == (B, NUM_CLASSES)
    snippets = jax.eval_shape(functools.partial(apply, return_snippet_logits=True), variables)
    assert snippets.shape == (B, K, NUM_CLASSES)


class ToyBackbone(nn.Module):
    """Global average pool and a 256-wide dense layer: [N, H, W, C'] -> [N, 256]."""

    is_3d: ClassVar[bool] = False

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        return nn.Dense(256)(jnp.mean(x, axis=(1, 2)))


def test_tsn_classifier_init():
    model = TSN(backbone=ToyBackbone(), num_classes=NUM_CLASSES)
    variables = model.init(jax.random.key(0), jnp.zeros((1, 2, 1, 8, 8, 3)), train=False)
    assert set(variables["params"]) == {"backbone", "fc"}
    fc = variables["params"]["fc"]
    # N(0, 0.001^2) on 1280 samples: ~2% noise on the std.
    assert fc["kernel"].shape == (256, NUM_CLASSES)
    assert float(jnp.std(fc["kernel"])) == pytest.approx(0.001, rel=0.1)
    np.testing.assert_array_equal(fc["bias"], 0.0)


@pytest.mark.parametrize("name", ["avg", "max", "topk", "weighted", "attention"])
def test_tsn_consensus_on_the_snippet_logits(name):
    model = TSN(backbone=ToyBackbone(), num_classes=NUM_CLASSES, consensus=name, consensus_k=2)
    inputs = random_inputs((2, 4, 1, 8, 8, 3))
    variables = model.init(jax.random.key(0), inputs, train=False)
    learned = {"weighted": "consensus_weights", "attention": "attention"}
    extra = {learned[name]} if name in learned else set()
    assert set(variables["params"]) == {"backbone", "fc"} | extra
    snippets = np.asarray(model.apply(variables, inputs, train=False, return_snippet_logits=True))
    expected = {
        "avg": snippets.mean(1),
        "max": snippets.max(1),
        "topk": -np.sort(-snippets, axis=1)[:, :2].mean(1),
        # The learned ones start as the average.
        "weighted": snippets.mean(1),
        "attention": snippets.mean(1),
    }[name]
    np.testing.assert_allclose(model.apply(variables, inputs, train=False), expected, rtol=1e-5)
    if name in learned:
        grads = jax.grad(
            lambda p: jnp.sum(model.apply({"params": p}, inputs, train=False)[:, 0] ** 2)
        )(variables["params"])
        assert float(jnp.abs(grads[learned[name]]).sum()) > 0


def test_tsn_shares_weights_across_snippets(rgb_tsn):
    model, x, variables = rgb_tsn
    # Compiled once per input shape and flag, not run op by op (5x faster here).
    apply = jax.jit(
        functools.partial(model.apply, variables, train=False),
        static_argnames="return_snippet_logits",
    )
    tol = dict(rtol=1e-5, atol=1e-5)

    logits = apply(x)
    snippets = apply(x, return_snippet_logits=True)
    assert float(jnp.std(logits)) > 0.1  # The comparisons below are not vacuous.
    np.testing.assert_allclose(logits, jnp.mean(snippets, axis=1), **tol)

    # Permuting the snippets permutes their scores and leaves the consensus unchanged.
    perm = jnp.array([2, 0, 1])
    np.testing.assert_allclose(apply(x[:, perm]), logits, **tol)
    np.testing.assert_allclose(
        apply(x[:, perm], return_snippet_logits=True), snippets[:, perm], **tol
    )

    # Each snippet scored alone (K=1, the 6 snippets as 6 videos) scores as inside its video.
    alone = apply(jnp.reshape(x, (B * K, 1, *x.shape[2:])))
    np.testing.assert_allclose(alone, jnp.reshape(snippets, (B * K, NUM_CLASSES)), **tol)

    # The same snippet K times scores like that snippet alone.
    repeated = jnp.repeat(x[:, :1], K, axis=1)
    np.testing.assert_allclose(apply(repeated), alone[::K], **tol)


def test_tsn_dropout_only_in_train(rgb_tsn):
    model, x, variables = rgb_tsn
    assert model.dropout_rate == 0.8

    def train_logits(m):
        """key -> training-mode logits of `m`, compiled once (not run op by op)."""

        def run(key):
            out, _ = m.apply(
                variables, x, train=True, rngs={"dropout": key}, mutable=["batch_stats"]
            )
            return out

        compiled = jax.jit(run)
        return lambda seed: np.asarray(compiled(jax.random.key(seed)))

    # Eval is deterministic and needs no rng.
    evaluate = jax.jit(lambda v, x: model.apply(v, x, train=False))
    eval_logits = np.asarray(evaluate(variables, x))
    np.testing.assert_array_equal(evaluate(variables, x), eval_logits)
    # Train: different dropout masks give different logits ...
    dropped = train_logits(model)
    assert np.abs(dropped(1) - dropped(2)).max() > 1e-2
    # ... and only because of dropout: with rate 0 the same batch gives the same logits.
    kept = train_logits(model.clone(dropout_rate=0.0))
    np.testing.assert_allclose(kept(1), kept(2), rtol=1e-6)
    with pytest.raises(flax.errors.InvalidRngError):  # traced only: the error is at trace time
        jax.eval_shape(lambda: model.apply(variables, x, train=True, mutable=["batch_stats"]))


def test_tsn_batch_norm_statistics_cover_all_snippets(rgb_tsn):
    model, x, variables = rgb_tsn
    model = model.clone(dropout_rate=0.0)
    # Give every snippet its own offset so per-video or per-snippet statistics would differ.
    x = x + jnp.arange(B * K, dtype=jnp.float32).reshape(B, K, 1, 1, 1, 1)

    _, state = run_once(
        lambda v, x: model.apply(
            v,
            x,
            train=True,
            mutable=["batch_stats", "intermediates"],
            capture_intermediates=lambda mdl, _: (
                mdl.name == "conv1" and mdl.parent.name == "backbone"
            ),
        ),
        variables,
        x,
    )
    conv1_out = np.asarray(state["intermediates"]["backbone"]["conv1"]["__call__"][0])
    assert conv1_out.shape == (B * K, 16, 16, 8)
    old = variables["batch_stats"]["backbone"]["bn1"]
    new = state["batch_stats"]["backbone"]["bn1"]
    # Running update with PyTorch's momentum 0.1, the batch statistics taken over all B*K
    # snippets and all positions (flax keeps the biased variance, see resnet.py).
    mean, var = conv1_out.mean(axis=(0, 1, 2)), conv1_out.var(axis=(0, 1, 2))
    np.testing.assert_allclose(new["mean"], 0.9 * old["mean"] + 0.1 * mean, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(new["var"], 0.9 * old["var"] + 0.1 * var, rtol=1e-4, atol=1e-6)
    # The statistics of the first video alone would be different.
    first_video = conv1_out[:K].mean(axis=(0, 1, 2))
    assert np.abs(first_video - mean).max() > 0.1

    # Hence in train mode one video's logits depend on the other video's snippets ...
    def train_logits(inputs):
        out, _ = model.apply(variables, inputs, train=True, mutable=["batch_stats"])
        return np.asarray(out)

    changed = x.at[1, 2].multiply(3.0)
    assert np.abs(train_logits(x)[0] - train_logits(changed)[0]).max() > 1e-4
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
            "dropout_rate": 0.5,
            "consensus": "avg",
            "dtype": "float32",
        }
    )
    config.update(overrides)
    return config


def test_create_model():
    model = models.create_model(model_config(), num_classes=NUM_CLASSES, num_segments=K)
    assert isinstance(model, TSN)
    assert model.num_classes == NUM_CLASSES and model.dropout_rate == 0.5
    assert model.consensus == "avg" and model.dtype == jnp.float32
    assert model.backbone.num_classes is None and model.backbone.base_width == 8
    variables = abstract_init(model, (B, K, 5, 32, 32, 2))
    assert variables["params"]["backbone"]["conv1"]["kernel"].shape == (7, 7, 10, 8)
    assert variables["params"]["fc"]["kernel"].shape == (64, NUM_CLASSES)


def test_create_model_defaults():
    config = ml_collections.ConfigDict({"backbone": "resnet50"})
    model = models.create_model(config, num_classes=NUM_CLASSES, num_segments=K)
    assert model.dropout_rate == 0.8 and model.consensus == "avg"
    assert model.backbone.base_width == 64 and model.backbone.num_features == 2048


def test_create_model_bfloat16_keeps_float32_params_and_logits():
    model = models.create_model(model_config(dtype="bfloat16"), NUM_CLASSES, K)
    assert model.backbone.dtype == jnp.bfloat16 and model.dtype == jnp.bfloat16
    abstract = abstract_init(model, RGB_SHAPE)
    assert all(v.dtype == jnp.float32 for v in jax.tree.leaves(abstract))
    variables = numpy_variables(abstract)
    logits = run_once(
        lambda v, x: model.apply(v, x, train=False), variables, random_inputs(RGB_SHAPE)
    )
    assert logits.dtype == jnp.float32 and logits.shape == (B, NUM_CLASSES)
    assert bool(jnp.all(jnp.isfinite(logits)))


def test_create_model_rejects_unknown_names():
    with pytest.raises(ValueError, match="resnet18"):
        models.create_model(model_config(backbone="resnet19"), NUM_CLASSES, K)
    with pytest.raises(ValueError, match="bfloat16"):
        models.create_model(model_config(dtype="float16"), NUM_CLASSES, K)
    with pytest.raises(ValueError, match="avg"):
        models.create_model(model_config(consensus="median"), NUM_CLASSES, K)
    with pytest.raises(ValueError, match="dropout_rte"):
        models.create_model(model_config(dropout_rte=0.5), NUM_CLASSES, K)
    with pytest.raises(ValueError, match="backbone_options for 'resnet18'.*temporal_modul"):
        models.create_model(
            model_config(backbone_options={"temporal_modul": "tsm"}), NUM_CLASSES, K
        )


def test_fold_clips_keeps_time():
    x = jnp.arange(2 * 3 * 4 * 1 * 1 * 2).reshape(2, 3, 4, 1, 1, 2)
    folded = fold_clips(x)
    assert folded.shape == (6, 4, 1, 1, 2)
    np.testing.assert_array_equal(folded[1 * 3 + 2], x[1, 2])


def test_segments_as_clip_reads_the_k_snippets_as_one_clip():
    # Chen et al.'s uniform sampling for I3D: K one-frame segments are one K-frame clip,
    # scored once (no consensus), with the same weights as the clip read directly.
    config = model_config(backbone="i3d_resnet18", segments_as_clip=True, dropout_rate=0)
    model = models.create_model(config, NUM_CLASSES, 4)
    x = random_inputs((2, 4, 1, 32, 32, 3))
    variables = model.init(jax.random.key(0), x, train=False)
    snippets = model.apply(variables, x, train=False, return_snippet_logits=True)
    assert snippets.shape == (2, 1, NUM_CLASSES)
    clip = jnp.swapaxes(x, 1, 2)  # [B, 1, K, H, W, C]: the K frames as one snippet's time
    plain = model.clone(segments_as_clip=False)
    np.testing.assert_allclose(
        model.apply(variables, x, train=False), plain.apply(variables, clip, train=False),
        rtol=1e-5, atol=1e-6,
    )  # fmt: skip
    # Read as K snippets of one frame each, the same network would give K scores.
    assert plain.apply(variables, x, train=False, return_snippet_logits=True).shape[1] == 4
    with pytest.raises(ValueError, match="segments_as_clip needs a 3D backbone"):
        models.create_model(model_config(backbone="resnet18", segments_as_clip=True), 3, 4)


def _remat_loss(backbone, options, shape, remat):
    """(loss of the params, params) of a tiny TSN without dropout, built with `remat`."""
    config = model_config(backbone=backbone, backbone_options=options, remat=remat, dropout_rate=0)
    model = models.create_model(config, NUM_CLASSES, shape[1])
    variables = numpy_variables(abstract_init(model, shape))
    x = random_inputs(shape)

    def loss(params):
        logits, _ = model.apply(
            {**variables, "params": params}, x, train=True, mutable=["batch_stats"]
        )
        return jnp.sum(logits**2)

    return loss, variables["params"]


@pytest.mark.parametrize(
    "backbone, options, shape",
    [
        ("resnet18", {"temporal_module": "tsm"}, (B, K, 1, 96, 96, 3)),
        ("r2plus1d_18", {}, (1, 1, 8, 64, 64, 3)),
        ("resnet3d_18", {}, (1, 1, 8, 64, 64, 3)),
        ("i3d_resnet50", {}, (1, 1, 8, 64, 64, 3)),
    ],
)
def test_remat_keeps_the_parameters_and_stores_fewer_activations(backbone, options, shape):
    # Memory is measured as the residuals the backward pass keeps (the leaves of the VJP
    # closure), which does not depend on a backend's scheduler: XLA's CPU scheduler
    # places the recomputation early and does not shrink its temporaries.
    residual_bytes, structures = {}, {}
    for remat in (False, True):
        loss, params = _remat_loss(backbone, options, shape, remat)
        residuals = jax.eval_shape(lambda p, loss=loss: jax.vjp(loss, p)[1], params)
        residual_bytes[remat] = sum(r.size * r.dtype.itemsize for r in jax.tree.leaves(residuals))
        structures[remat] = jax.tree.map(lambda p: p.shape, params)
    assert structures[True] == structures[False]  # checkpoints load either way
    # The stem is not rematerialized; at these sizes the blocks hold 15-50% of the total.
    assert residual_bytes[True] < 0.9 * residual_bytes[False], residual_bytes


def test_remat_gives_the_same_gradients():
    grads = []
    for remat in (False, True):
        loss, params = _remat_loss("resnet3d_10", {}, (2, 1, 4, 16, 16, 3), remat)
        grads.append(jax.jit(jax.grad(loss))(params))
    for a, b in zip(*map(jax.tree.leaves, grads), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_remat_of_a_backbone_without_it_is_an_error():
    with pytest.raises(ValueError, match="remat is implemented for the residual backbones"):
        models.create_model(model_config(backbone="bninception", remat=True), NUM_CLASSES, K)
    config = model_config(architecture="stan", remat=True)
    config.stan = ml_collections.ConfigDict({"streams": ("frame",)})
    with pytest.raises(ValueError, match="not implemented for STAN"):
        models.create_model(config, NUM_CLASSES, K)
