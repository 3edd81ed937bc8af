"""Tests for the 3D backbones: torchvision's R3D / MC3 / R(2+1)D and S3D, Hara et al.'s 3D ResNets.

Full-width names, shapes and parameter counts are traced only (``jax.eval_shape``) and
compared with torchvision 0.29's ``state_dict`` (and its published ``num_params``) and
kenshohara/3D-ResNets-PyTorch's. Behaviour runs at base width 8 on 2 clips of 4x32x32
(S3D: 8x64x64), one jitted call per model with XLA's convolutions (quick to compile).
"""

from __future__ import annotations

import functools
import math

import flax
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from tests.layout_utils import torch_layout
from tsn_jax import convert_torch, models
from tsn_jax.models import layers, lowerings, s3d, video_resnet

NUM_CLASSES = 5
CLIPS = (2, 4, 32, 32, 3)
S3D_CLIPS = (2, 8, 64, 64, 3)

CONSTRUCTORS = {
    "r3d_18": video_resnet.r3d_18,
    "mc3_18": video_resnet.mc3_18,
    "r2plus1d_18": video_resnet.r2plus1d_18,
    "resnet3d_10": video_resnet.resnet3d_10,
    "resnet3d_18": video_resnet.resnet3d_18,
    "resnet3d_34": video_resnet.resnet3d_34,
    "resnet3d_50": video_resnet.resnet3d_50,
    "s3d": s3d.s3d,
    "s3d_resnet18": video_resnet.s3d_resnet18,
}

# Number of parameters (not buffers), and of state_dict entries without
# num_batches_tracked: torchvision's published num_params, and Hara et al.'s models with
# their default shortcuts (A for -18/34, B for -50) and 400 classes.
REFERENCE_SIZES = {
    "r3d_18": (33371472, 102),
    "mc3_18": (11695440, 102),
    "r2plus1d_18": (31505325, 187),
    "s3d": (8320048, 387),
    "resnet3d_18": (33235280, 87),
    "resnet3d_34": (63544912, 167),
    "resnet3d_50": (47018576, 267),
}

# Selected state_dict entries of the references: torch key -> torch shape.
REFERENCE_KEYS = {
    "r3d_18": {
        "stem.0.weight": (64, 3, 3, 7, 7),
        "stem.1.running_var": (64,),
        "layer1.0.conv1.0.weight": (64, 64, 3, 3, 3),
        "layer1.0.conv1.1.weight": (64,),
        "layer2.0.downsample.0.weight": (128, 64, 1, 1, 1),
        "layer4.1.conv2.1.running_mean": (512,),
        "fc.weight": (400, 512),
    },
    "mc3_18": {
        "layer1.0.conv1.0.weight": (64, 64, 3, 3, 3),
        "layer2.0.conv1.0.weight": (128, 64, 1, 3, 3),
        "layer2.0.downsample.0.weight": (128, 64, 1, 1, 1),
        "layer4.1.conv2.0.weight": (512, 512, 1, 3, 3),
    },
    "r2plus1d_18": {
        "stem.0.weight": (45, 3, 1, 7, 7),
        "stem.3.weight": (64, 45, 3, 1, 1),
        "stem.4.weight": (64,),
        "layer1.0.conv1.0.0.weight": (144, 64, 1, 3, 3),
        "layer1.0.conv1.0.1.running_var": (144,),
        "layer1.0.conv1.0.3.weight": (64, 144, 3, 1, 1),
        "layer1.0.conv1.1.weight": (64,),
        # midplanes from the block's input width (64), for both convolutions.
        "layer2.0.conv1.0.0.weight": (230, 64, 1, 3, 3),
        "layer2.0.conv2.0.0.weight": (230, 128, 1, 3, 3),
        "layer2.1.conv1.0.0.weight": (288, 128, 1, 3, 3),
        "layer2.0.downsample.0.weight": (128, 64, 1, 1, 1),
    },
    "s3d": {
        "features.0.0.0.weight": (64, 3, 1, 7, 7),
        "features.0.1.0.weight": (64, 64, 7, 1, 1),
        "features.0.1.1.running_mean": (64,),
        "features.2.0.weight": (64, 64, 1, 1, 1),
        "features.3.1.0.weight": (192, 192, 3, 1, 1),
        "features.5.branch1.1.0.0.weight": (128, 96, 1, 3, 3),
        "features.5.branch3.1.0.weight": (32, 192, 1, 1, 1),
        "features.15.branch0.1.running_var": (384,),
        "classifier.1.weight": (400, 1024, 1, 1, 1),
        "classifier.1.bias": (400,),
    },
    "resnet3d_18": {
        "conv1.weight": (64, 3, 7, 7, 7),
        "bn1.running_mean": (64,),
        "layer1.0.conv1.weight": (64, 64, 3, 3, 3),
        "layer2.0.bn2.weight": (128,),
        "layer4.1.conv2.weight": (512, 512, 3, 3, 3),
        "fc.weight": (400, 512),
    },
    "resnet3d_50": {
        "layer1.0.conv3.weight": (256, 64, 1, 1, 1),
        "layer1.0.downsample.0.weight": (256, 64, 1, 1, 1),
        "layer4.0.downsample.1.running_var": (2048,),
        "fc.weight": (400, 2048),
    },
}


def abstract_init(model, shape):
    return convert_torch.abstract_variables(model, shape)


def random_variables(abstract, seed: int = 0):
    """Numpy-drawn values: He-normal kernels, non-trivial BN, unit-scale biases."""
    rng = np.random.default_rng(seed)
    values = {}
    for path, leaf in flax.traverse_util.flatten_dict(abstract).items():
        shape, name = leaf.shape, path[-1]
        if name == "kernel":
            value = rng.normal(0.0, np.sqrt(2.0 / math.prod(shape[:-1])), shape)
        elif name in ("scale", "var"):
            value = rng.uniform(0.5, 1.5, shape)
        else:
            value = rng.normal(0.0, 0.1, shape)
        values[path] = np.asarray(value, leaf.dtype)
    return flax.traverse_util.unflatten_dict(values)


def random_clips(shape, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape, np.float32)


# --------------------------------------------------------------------------- layout


@pytest.mark.parametrize("arch", sorted(REFERENCE_SIZES))
def test_full_width_layout_matches_reference(arch):
    shape = (1, 8, 32, 32, 3)
    model = CONSTRUCTORS[arch]()
    layout = torch_layout(abstract_init(model, shape))
    num_params = sum(
        math.prod(s) for k, s in layout.items() if not k.endswith(("running_mean", "running_var"))
    )
    assert (num_params, len(layout)) == REFERENCE_SIZES[arch]
    expected = REFERENCE_KEYS.get(arch, {})
    assert {k: layout.get(k) for k in expected} == expected
    assert model.is_3d
    features = jax.eval_shape(
        lambda: model.clone(num_classes=None).init_with_output(
            jax.random.key(0), jnp.zeros(shape), train=False
        )[0]
    )
    assert features.shape == (1, model.num_features)


def test_hara_shortcut_types():
    shape = (1, 16, 32, 32, 3)
    a = torch_layout(abstract_init(video_resnet.resnet3d_18(), shape))
    b = torch_layout(abstract_init(video_resnet.resnet3d_18(shortcut_type="B"), shape))
    assert not any("downsample" in k for k in a)
    leaves = ("0.weight", "1.weight", "1.bias", "1.running_mean", "1.running_var")
    assert set(b) - set(a) == {f"layer{i}.0.downsample.{x}" for i in (2, 3, 4) for x in leaves}
    assert b["layer3.0.downsample.0.weight"] == (256, 128, 1, 1, 1)
    # Their newer options: conv1_t_size, conv1_t_stride, no_max_pool.
    model = video_resnet.resnet3d_18(conv1_t_size=3, conv1_t_stride=2, no_max_pool=True)
    assert torch_layout(abstract_init(model, shape))["conv1.weight"] == (64, 3, 3, 7, 7)
    with pytest.raises(ValueError, match="shortcut type 'C'"):
        abstract_init(video_resnet.resnet3d_18(shortcut_type="C"), shape)


def test_midplanes_equal_keeps_the_width():
    model = video_resnet.r2plus1d_18(midplanes="equal")
    layout = torch_layout(abstract_init(model, (1, 8, 32, 32, 3)))
    assert layout["stem.0.weight"] == (64, 3, 1, 7, 7)
    assert layout["layer2.0.conv1.0.0.weight"] == (128, 64, 1, 3, 3)
    assert layout["layer2.0.conv2.0.3.weight"] == (128, 128, 3, 1, 1)
    with pytest.raises(ValueError, match="midplanes 'paper'"):
        abstract_init(video_resnet.r2plus1d_18(midplanes="paper"), (1, 8, 32, 32, 3))


def _block_outputs(model, shape):
    """Output shape of every residual block, by name, traced only."""
    _, state = jax.eval_shape(
        lambda: model.init_with_output(
            jax.random.key(0),
            jnp.zeros(shape),
            train=False,
            capture_intermediates=lambda module, method: (
                method == "__call__" and (module.name or "").startswith("layer")
            ),
            mutable=True,
        )
    )
    return {name: out["__call__"][0].shape for name, out in state["intermediates"].items()}


def test_s3d_resnet18_is_chen_et_al_layout():
    """Chen et al.'s s3d_resnet.py: torchvision's BasicStem, a 1x3x3 max pool of stride
    (1, 2, 2), (2+1)D blocks of equal width, temporal stride 2 in the first block of layers
    2-4 unless `temporal_strides=(1, 1, 1, 1)` (their without_t_stride)."""
    shape = (1, 8, 32, 32, 3)
    layout = torch_layout(abstract_init(video_resnet.s3d_resnet18(), shape))
    assert layout["stem.0.weight"] == (64, 3, 3, 7, 7)
    assert layout["layer1.0.conv1.0.0.weight"] == (64, 64, 1, 3, 3)
    assert layout["layer1.0.conv1.0.3.weight"] == (64, 64, 3, 1, 1)
    assert layout["layer3.0.conv1.0.0.weight"] == (256, 128, 1, 3, 3)
    assert layout["layer3.0.conv2.0.3.weight"] == (256, 256, 3, 1, 1)
    assert layout["layer2.0.downsample.0.weight"] == (128, 64, 1, 1, 1)
    assert not any(k.startswith("stem.3") for k in layout)  # a 3D stem, not (2+1)D

    tiny = functools.partial(video_resnet.s3d_resnet18, num_classes=None, base_width=8)
    strided = _block_outputs(tiny(), shape)
    # The stem halves 32 -> 16, its max pool 16 -> 8; each of layers 2-4 halves T and H.
    assert strided["layer1_1"] == (1, 8, 8, 8, 8)
    assert strided["layer2_0"] == (1, 4, 4, 4, 16)
    assert strided["layer4_1"] == (1, 1, 1, 1, 64)
    kept = _block_outputs(tiny(temporal_strides=(1, 1, 1, 1)), shape)
    assert kept["layer4_1"] == (1, 8, 1, 1, 64)
    # Only the first block of a stage strides; (2, 1, 1, 1) strides layer1_0 in time alone.
    first = _block_outputs(tiny(temporal_strides=(2, 1, 1, 1)), shape)
    assert (first["layer1_0"], first["layer1_1"]) == ((1, 4, 8, 8, 8), (1, 4, 8, 8, 8))
    assert _block_outputs(tiny(stem_pool=False), shape)["layer1_1"] == (1, 8, 16, 16, 8)
    with pytest.raises(ValueError, match="one stride per stage"):
        abstract_init(tiny(temporal_strides=(1, 2)), shape)
    with pytest.raises(ValueError, match="no temporal kernel"):
        abstract_init(video_resnet.mc3_18(temporal_strides=(1, 2, 2, 2)), shape)


@pytest.mark.parametrize(
    "conv_type,out_shape",
    [("3d", (1, 2, 4, 4, 8)), ("2d", (1, 4, 4, 4, 8)), ("2plus1d", (1, 2, 4, 4, 8))],
)
def test_block_strides_follow_the_conv_type(conv_type, out_shape):
    block = video_resnet.BasicBlock(planes=8, stride=2, conv_type=conv_type)
    x = jnp.zeros((1, 4, 8, 8, 4))
    out, variables = jax.eval_shape(
        lambda: block.init_with_output(jax.random.key(0), x, train=False)
    )
    assert out.shape == out_shape
    # The projection shortcut strides like the block: 1 in time for 2D convolutions.
    assert variables["params"]["downsample_0"]["kernel"].shape == (1, 1, 1, 4, 8)


# --------------------------------------------------------------------------- shortcut A


def test_shortcut_a_subsamples_and_zero_pads():
    x = random_clips((2, 5, 6, 7, 3))
    y = np.asarray(video_resnet.shortcut_a(jnp.asarray(x), 8, (2, 2, 2)))
    # F.avg_pool3d(x, kernel_size=1, stride=2): positions 0, 2, 4 of each axis.
    assert y.shape == (2, 3, 3, 4, 8)
    np.testing.assert_array_equal(y[..., :3], x[:, ::2, ::2, ::2])
    np.testing.assert_array_equal(y[..., 3:], 0.0)
    # Gradients pass (He et al.) unless stopped (Hara et al.'s `out.data`).
    for stop, expected in [(False, 1.0), (True, 0.0)]:
        grad = jax.grad(lambda v, s=stop: video_resnet.shortcut_a(v, 8, (2, 2, 2), s).sum())(
            jnp.asarray(x)
        )
        np.testing.assert_array_equal(grad[:, ::2, ::2, ::2], expected)
        assert float(jnp.abs(grad[:, 1::2]).max()) == 0.0


def test_block_with_shortcut_a_adds_the_padded_identity():
    block = video_resnet.BasicBlock(planes=8, stride=2, layout="hara", shortcut="A")
    x = random_clips((1, 4, 6, 6, 4))
    variables = random_variables(abstract_init(block, x.shape))
    assert set(variables["params"]) == {"conv1", "bn1", "conv2", "bn2"}
    # A zero last BN makes the residual branch zero: the output is relu(shortcut).
    variables["params"]["bn2"] = {"scale": np.zeros(8, np.float32), "bias": np.zeros(8, np.float32)}
    with lowerings.conv_implementation("xla"):
        out = jax.jit(lambda v, x: block.apply(v, x, train=False))(variables, x)
    expected = np.maximum(np.asarray(video_resnet.shortcut_a(jnp.asarray(x), 8, (2, 2, 2))), 0)
    np.testing.assert_array_equal(out, expected)


# --------------------------------------------------------------------------- tiny forward


# One compilation each (on CPU it dominates): train mode for R(2+1)D (batch statistics,
# its middle BNs included), eval for the others. Every architecture also runs at full
# width in eval mode in tests/test_torch_parity_video.py.
@pytest.mark.parametrize(
    "arch,train", [("r2plus1d_18", True), ("resnet3d_18", False), ("s3d", False)]
)
def test_tiny_forward(arch, train):
    model = CONSTRUCTORS[arch](num_classes=NUM_CLASSES, base_width=8)
    shape = S3D_CLIPS if arch == "s3d" else CLIPS
    x = random_clips(shape)
    variables = random_variables(abstract_init(model, shape))

    def apply(variables, x, rngs):
        return model.apply(variables, x, train=train, mutable=["batch_stats"], rngs=rngs)

    with lowerings.conv_implementation("xla"):
        logits, state = jax.jit(apply)(variables, x, {"dropout": jax.random.key(0)})
    assert logits.shape == (2, NUM_CLASSES)
    assert np.all(np.isfinite(logits))
    assert float(jnp.abs(logits[0] - logits[1]).max()) > 1e-3  # the clips differ
    old, new = (flax.traverse_util.flatten_dict(v) for v in (variables, state))
    means = [k for k in new if k[-1] == "mean"]
    # Running averages move in training only.
    assert all(np.array_equal(old[k], new[k]) != train for k in means)
    if arch == "r2plus1d_18":
        assert any(k[-2] == "conv1_0_1" for k in means)  # a (2+1)D middle BN
    if arch == "s3d":  # classifier_0 is a dropout layer: training needs its rng.
        with pytest.raises(flax.errors.InvalidRngError):
            jax.eval_shape(lambda v: model.apply(v, x, train=True, mutable=True), variables)


def test_s3d_pooling_window_is_clipped_to_small_maps():
    # 5x17x17 ends in a 1x1x1 map (torchvision's (2, 7, 7) window needs 2x7x7): the
    # smallest clip the strided layers accept (8x64x64, 1x2x2, runs above).
    model = s3d.s3d(num_classes=None, base_width=8)
    features = jax.eval_shape(
        lambda: model.init_with_output(jax.random.key(0), jnp.zeros((1, 5, 17, 17, 3)), train=False)
    )[0]
    assert features.shape == (1, model.num_features) == (1, 128)


# --------------------------------------------------------------------------- registries


def test_backbones_and_converters_are_registered():
    for name, constructor in CONSTRUCTORS.items():
        assert models.BACKBONES[name] is constructor
    assert {"r3d_18", "mc3_18", "r2plus1d_18", "s3d", "resnet3d_18", "resnet3d_34"} <= set(
        convert_torch.supported_architectures()
    )
    config = ml_collections.ConfigDict(
        {"backbone": "r2plus1d_18", "base_width": 8, "backbone_options": {"midplanes": "equal"}}
    )
    tsn = models.create_model(config, num_classes=NUM_CLASSES, num_segments=1)
    logits = jax.eval_shape(
        lambda: tsn.init_with_output(
            jax.random.key(0), jnp.zeros((2, 3, 4, 32, 32, 3)), train=False
        )[0]
    )
    assert logits.shape == (2, NUM_CLASSES)


def test_conv_implementation_context_selects_the_lowering():
    conv = layers.Conv(4, (3, 1, 1), padding=(1, 0, 0))
    x = jnp.zeros((1, 4, 5, 5, 2))
    variables = jax.eval_shape(conv.init, jax.random.key(0), x)

    def primitives():
        jaxpr = jax.make_jaxpr(conv.apply)(variables, x)
        return {str(eqn.primitive) for eqn in jaxpr.jaxpr.eqns}

    with lowerings.conv_implementation("xla"):
        assert "conv_general_dilated" in primitives()
    with lowerings.conv_implementation("im2col"):
        assert "conv_general_dilated" not in primitives()
    with pytest.raises(ValueError, match="unknown conv implementation 'cudnn'"):
        with lowerings.conv_implementation("cudnn"):
            pass
