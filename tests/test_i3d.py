"""I3D (DeepMind's Inception-v1 I3D) and I3D-ResNet (mmaction2's ResNet3d): names, shapes.

Full-width checks only trace (``jax.eval_shape``); only I3D's dropout head runs here.
Tiny-width networks run against PyTorch references in ``test_torch_parity_i3d.py``.
"""

from __future__ import annotations

import hashlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from tests.helpers import abstract_init, piergiaj_i3d_keys, torchvision_resnet_keys
from tests.layout_utils import torch_layout
from tsn_jax import convert_torch, models
from tsn_jax.models import i3d, i3d_resnet

# sha256 of "\n".join(f"{key} {shape}") over piergiaj/pytorch-i3d's
# InceptionI3d(400, in_channels=3).state_dict() (pytorch_i3d.py at b49fadf, torch 2.13).
PIERGIAJ_I3D_SHA256 = "9580ef69e9635d326f6c631f40c040c7a8888254d1bdb4e4288c013cbf9deacf"

# piergiaj's InceptionModule widths, with his in-channel arithmetic.


def sha256(keys) -> str:
    return hashlib.sha256("\n".join(f"{k} {s}" for k, s in keys).encode()).hexdigest()


def expected_shapes(keys, rules=()) -> dict[str, tuple[int, ...]]:
    """A reference (key, shape) list renamed to tsn-jax keys, num_batches_tracked dropped."""
    return {
        convert_torch.rename_key(k, rules): s
        for k, s in keys
        if not k.endswith("num_batches_tracked")
    }


# --------------------------------------------------------------------------- I3D


@pytest.mark.parametrize(
    "size,kernel,stride,expected",
    [
        (224, 7, 2, (2, 3)),  # even size, stride 2: one more after
        (35, 3, 2, (1, 1)),
        (18, 3, 2, (0, 1)),
        (3, 2, 2, (0, 1)),
        (8, 3, 1, (1, 1)),
        (8, 1, 1, (0, 0)),
    ],
)
def test_same_padding_is_tensorflows(size, kernel, stride, expected):
    assert i3d.same_padding(size, kernel, stride) == expected


def test_same_padding_gives_ceil_outputs():
    # The defining property of 'SAME': ceil(n / s) outputs, at most one more pad after.
    for n in range(1, 40):
        for k, s in [(1, 1), (3, 1), (3, 2), (2, 2), (7, 2)]:
            before, after = i3d.same_padding(n, k, s)
            assert (n + before + after - k) // s + 1 == -(-n // s)
            assert 0 <= after - before <= 1


def test_piergiaj_key_generator_matches_his_code():
    assert sha256(piergiaj_i3d_keys()) == PIERGIAJ_I3D_SHA256


@pytest.fixture(scope="module")
def full_i3d():
    """The full-width I3D (400 classes) and its variables' shapes (traced once)."""
    model = i3d.i3d()
    return model, abstract_init(model, (1, 8, 64, 64, 3))


def test_i3d_names_and_shapes_match_piergiaj_after_renaming(full_i3d):
    _, variables = full_i3d
    assert torch_layout(variables) == expected_shapes(
        piergiaj_i3d_keys(), convert_torch.PIERGIAJ_I3D_TO_DEEPMIND
    )
    # DeepMind's scope names, including its Conv3d_0a_3x3 in Mixed_5b.
    params = variables["params"]
    assert params["Mixed_5b"]["Branch_2"].keys() == {"Conv3d_0a_1x1", "Conv3d_0a_3x3"}
    assert params["Mixed_5c"]["Branch_2"].keys() == {"Conv3d_0a_1x1", "Conv3d_0b_3x3"}
    assert params["Logits"]["Conv3d_0c_1x1"]["conv_3d"].keys() == {"kernel", "bias"}
    assert i3d.i3d().num_features == 1024
    assert i3d.i3d(base_width=8).num_features == 48 + 48 + 16 + 16


def test_i3d_output_shapes(full_i3d):
    model, variables = full_i3d
    # DeepMind's case: a 7x7 map, the 2x7x7 window leaves 7 time steps, averaged.
    shape = (2, 64, 224, 224, 3)
    logits = jax.eval_shape(lambda v: model.apply(v, jnp.zeros(shape), train=False), variables)
    assert logits.shape == (2, 400)
    # A 2x10x8 final map: pooled features averaged over the 1x4x2 remaining positions.
    shape = (1, 16, 320, 256, 3)
    features = jax.eval_shape(
        lambda v: model.clone(num_classes=None).apply(v, jnp.zeros(shape), train=False),
        {
            "params": {k: p for k, p in variables["params"].items() if k != "Logits"},
            "batch_stats": variables["batch_stats"],
        },
    )
    assert features.shape == (1, 1024)


def test_i3d_dropout_only_in_train():
    head = i3d._Logits(num_classes=3, dropout_rate=0.5)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 1, 1, 1, 16)).astype(np.float32)
    kernel, bias = rng.normal(size=(16, 3)).astype(np.float32), np.ones(3, np.float32)
    conv = {"kernel": kernel.reshape(1, 1, 1, 16, 3), "bias": bias}
    variables = {"params": {"Conv3d_0c_1x1": {"conv_3d": conv}}}

    @jax.jit
    def run(variables, x):
        def train(seed):
            rngs = {"dropout": jax.random.key(seed)}
            return head.apply(variables, x, train=True, rngs=rngs)

        return head.apply(variables, x, train=False), train(0), train(1)

    evaluated, train_a, train_b = run(variables, x)
    np.testing.assert_allclose(evaluated, x.reshape(2, 16) @ kernel + bias, rtol=1e-5)
    assert not np.allclose(train_a, train_b)


# --------------------------------------------------------------------------- I3D-ResNet


def mmaction2_i3d_resnet_keys(stage_sizes, inflate, style="3x1x1", conv1_kernel=(5, 7, 7)):
    """(key, shape) of mmaction2's ResNet3d backbone + I3DHead, from torchvision's names.

    torchvision's ``convN`` / ``bnN`` / ``downsample.0`` / ``downsample.1`` are mmaction2's
    ``convN.conv`` / ``convN.bn`` / ``downsample.conv`` / ``downsample.bn``; a conv weight
    [O, I, kh, kw] gets the temporal extent mmaction2 gives it.
    """
    keys = []
    for key, shape in torchvision_resnet_keys("bottleneck", stage_sizes, num_classes=400):
        module, leaf = key.rsplit(".", 1)
        parts = module.split(".")
        if len(shape) == 4:
            if parts[0] == "conv1":
                t = conv1_kernel[0]
            else:
                stage, block, conv = int(parts[0][5:]) - 1, int(parts[1]), parts[2]
                inflated_conv = "conv1" if style == "3x1x1" else "conv2"
                t = 3 if inflate[stage][block] and conv == inflated_conv else 1
            shape = (shape[0], shape[1], t, shape[2], shape[3])
        if parts[-1].startswith("bn"):
            parts[-1] = f"conv{parts[-1][2:]}.bn"
        elif parts[-1].startswith("conv"):
            parts[-1] += ".conv"
        elif parts[-2:-1] == ["downsample"]:
            parts[-2:] = ["downsample", "conv" if parts[-1] == "0" else "bn"]
        parts = ["cls_head", "fc_cls"] if parts == ["fc"] else ["backbone", *parts]
        keys.append((".".join([*parts, leaf]), shape))
    return keys


R50_INFLATE = ((1, 1, 1), (1, 0, 1, 0), (1, 0, 1, 0, 1, 0), (0, 1, 0))


@pytest.mark.parametrize(
    "name,stage_sizes,style",
    [
        ("i3d_resnet50", (3, 4, 6, 3), "3x1x1"),
        ("i3d_resnet101", (3, 4, 23, 3), "3x1x1"),
    ],
)
def test_i3d_resnet_names_and_shapes_match_mmaction2(name, stage_sizes, style):
    model = getattr(i3d_resnet, name)(inflate_style=style)
    variables = abstract_init(model, (1, 8, 32, 32, 3))
    inflate = model.inflate
    if name == "i3d_resnet50":
        assert inflate == R50_INFLATE  # mmaction2's i3d_r50
    assert torch_layout(variables) == expected_shapes(
        mmaction2_i3d_resnet_keys(stage_sizes, inflate, style), convert_torch.MMACTION2_RECOGNIZER
    )
    assert model.num_features == 2048
    if name == "i3d_resnet50" and style == "3x1x1":
        # mmaction2's model zoo lists its I3D-R50 with 28.04M parameters.
        count = sum(np.prod(p.shape) for p in jax.tree.leaves(variables["params"]))
        assert count == pytest.approx(28.04e6, abs=5e3)


def test_i3d_resnet_rejects_bad_options():
    x = jnp.zeros((1, 8, 32, 32, 3))
    with pytest.raises(ValueError, match="one flag per block"):
        abstract_init(i3d_resnet.i3d_resnet50(inflate=((1,), (1,), (1,), (1,))), x.shape)
    with pytest.raises(ValueError, match="inflate_style"):
        abstract_init(i3d_resnet.i3d_resnet50(inflate_style="2x1x1"), x.shape)
    with pytest.raises(ValueError, match="'3x1x1' is for bottlenecks"):
        abstract_init(i3d_resnet.i3d_resnet18(inflate_style="3x1x1"), x.shape)


def test_i3d_batch_norm_momentum_is_the_weight_of_the_batch_statistics():
    # Running means start at 0, so one training step leaves momentum x the batch mean:
    # Sonnet's 0.001 by default, PyTorch's 0.1 (Chen et al.'s code) when asked.
    x = jax.random.normal(jax.random.key(0), (2, 4, 8, 8, 3)) + 1.0
    means = {}
    for momentum in (0.001, 0.1):
        unit = i3d.Unit3D(4, (3, 3, 3), bn_momentum=momentum)
        variables = unit.init(jax.random.key(1), x, train=False)
        _, state = unit.apply(variables, x, train=True, mutable=["batch_stats"])
        means[momentum] = state["batch_stats"]["batch_norm"]["mean"]
    np.testing.assert_allclose(means[0.1], 100 * means[0.001], rtol=1e-4)
    assert i3d.i3d().bn_momentum == 0.001


@pytest.mark.parametrize("temporal_pool, frames_left", [(True, 1), (False, 8)])
def test_i3d_without_temporal_pooling_keeps_every_frame(temporal_pool, frames_left):
    # DeepMind's three temporal strides take 8 frames to 1; Chen et al.'s w/o tp keeps 8.
    # The weights are the same either way: a checkpoint of one loads into the other.
    model = i3d.i3d(num_classes=None, base_width=8, temporal_pool=temporal_pool)
    x = jnp.zeros((1, 8, 32, 32, 3))
    variables = abstract_init(model, x.shape)
    assert jax.tree_util.tree_map(jnp.shape, variables) == jax.tree_util.tree_map(
        jnp.shape, abstract_init(i3d.i3d(num_classes=None, base_width=8), x.shape)
    )
    _, state = jax.eval_shape(
        lambda v: model.apply(v, x, train=False, capture_intermediates=True), variables
    )
    assert state["intermediates"]["Mixed_5c"]["__call__"][0].shape[1] == frames_left


@pytest.mark.parametrize("name", ["i3d", "i3d_resnet18", "i3d_resnet50", "i3d_resnet101"])
def test_backbones_are_registered_as_3d(name):
    backbone = models.BACKBONES[name](num_classes=None, base_width=8)
    assert backbone.is_3d
