"""Renaming and transposing a torch state_dict into Flax variables (no torch needed)."""

import flax
import jax
import numpy as np
import pytest

from tsn_jax import convert_torch
from tsn_jax.models import layers, resnet


def test_torch_keys_follow_torchvision_names():
    assert convert_torch.torch_key("params", ("conv1", "kernel")) == "conv1.weight"
    assert convert_torch.torch_key("params", ("layer1_0", "bn1", "scale")) == "layer1.0.bn1.weight"
    assert (
        convert_torch.torch_key("batch_stats", ("layer2_0", "downsample_1", "mean"))
        == "layer2.0.downsample.1.running_mean"
    )
    assert convert_torch.torch_key("params", ("fc", "bias")) == "fc.bias"


def _torch_style_state_dict(model, input_shape):
    """A state_dict laid out as torch would hold this model's random variables."""
    variables = model.init(jax.random.key(0), np.zeros(input_shape, np.float32), train=False)
    state = {}
    for (collection, *path), value in flax.traverse_util.flatten_dict(variables).items():
        value = np.asarray(value)
        if value.ndim == 4:
            value = value.transpose(3, 2, 0, 1)  # HWIO -> OIHW
        elif value.ndim == 2:
            value = value.T
        state[convert_torch.torch_key(collection, tuple(path))] = value
    return variables, state


def test_conversion_restores_every_variable_of_a_tiny_resnet():
    model = resnet.resnet18(num_classes=5, base_width=8)
    variables, state = _torch_style_state_dict(model, (1, 32, 32, 3))
    state["bn1.num_batches_tracked"] = np.array(3)
    converted = convert_torch.convert_state_dict(
        state, convert_torch.abstract_variables(model, (1, 32, 32, 3))
    )
    flat_a = flax.traverse_util.flatten_dict(variables)
    flat_b = flax.traverse_util.flatten_dict(converted)
    assert flat_a.keys() == flat_b.keys()
    for key in flat_a:
        np.testing.assert_array_equal(flat_a[key], flat_b[key])


def test_missing_unexpected_and_misshaped_keys_are_listed():
    model = resnet.resnet18(num_classes=5, base_width=8)
    abstract = convert_torch.abstract_variables(model, (1, 32, 32, 3))
    _, state = _torch_style_state_dict(model, (1, 32, 32, 3))
    del state["layer1.0.bn2.running_var"]
    state["head.weight"] = np.zeros(3)
    state["fc.bias"] = np.zeros(7)
    with pytest.raises(ValueError) as error:
        convert_torch.convert_state_dict(state, abstract)
    message = str(error.value)
    assert "layer1.0.bn2.running_var" in message and "head.weight" in message
    assert "fc.bias" in message


def test_oihw_kernels_keep_torch_convolution_semantics():
    # torch's conv2d is a cross-correlation over an OIHW kernel; compute it in numpy.
    rng = np.random.default_rng(0)
    x = rng.normal(size=(1, 3, 6, 7)).astype(np.float32)  # NCHW
    w = rng.normal(size=(4, 3, 3, 3)).astype(np.float32)  # OIHW
    padded = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    ref = np.zeros((1, 4, 3, 4), np.float32)
    for i in range(3):
        for j in range(4):
            patch = padded[:, :, 2 * i : 2 * i + 3, 2 * j : 2 * j + 3]
            ref[0, :, i, j] = np.einsum("nchw,ochw->o", patch, w)
    kernel = convert_torch.torch_to_flax_array(w, (3, 3, 3, 4))
    conv = layers.Conv(4, 3, strides=2, padding=1)
    out = conv.apply({"params": {"kernel": kernel}}, x.transpose(0, 2, 3, 1))
    np.testing.assert_allclose(np.asarray(out).transpose(0, 3, 1, 2), ref, rtol=1e-5, atol=1e-5)


def test_unknown_architecture_is_an_error():
    with pytest.raises(ValueError, match="unsupported architecture 'vgg17'"):
        convert_torch.convert_torchvision("vgg17", {})


def test_bgr_to_rgb_makes_a_bgr_network_read_rgb_frames():
    model = resnet.ResNet(
        block_cls=resnet.BasicBlock, stage_sizes=(1,), num_classes=4, base_width=4
    )
    rgb = np.random.default_rng(0).normal(size=(2, 32, 32, 3)).astype(np.float32)
    variables = model.init(jax.random.key(0), rgb, train=False)
    on_bgr = model.apply(variables, rgb[..., ::-1], train=False)
    converted = convert_torch.bgr_to_rgb(variables)
    np.testing.assert_allclose(
        model.apply(converted, rgb, train=False), on_bgr, rtol=1e-5, atol=1e-6
    )
    assert not np.allclose(model.apply(variables, rgb, train=False), on_bgr)
    with pytest.raises(ValueError, match="exactly one"):
        convert_torch.bgr_to_rgb(
            {
                "params": {
                    "a": {"kernel": np.zeros((3, 3, 3, 3))},
                    "b": {"kernel": np.zeros((1, 1, 3, 8))},
                }
            }
        )


@pytest.mark.parametrize(
    "key,expected",
    [
        ("backbone.layer1.0.conv1.conv.net.weight", "layer1.0.conv1.weight"),  # 'blockres'
        ("backbone.layer1.0.net.conv2.bn.running_var", "layer1.0.bn2.running_var"),  # 'block'
        # temporal_pool wraps layer2, NL3DWrapper a block, TemporalShift its conv1.conv:
        ("backbone.layer2.net.0.block.conv1.conv.net.weight", "layer2.0.conv1.weight"),
        ("backbone.layer2.0.block.net.downsample.conv.weight", "layer2.0.downsample.0.weight"),
        (
            "backbone.layer2.net.0.non_local_block.phi.0.conv.bias",
            "layer2_0_non_local.phi.conv.bias",
        ),
        ("backbone.layer3.4.non_local_block.g.conv.weight", "layer3_4_non_local.g.conv.weight"),
        (
            "backbone.layer3.4.non_local_block.conv_out.bn.running_mean",
            "layer3_4_non_local.conv_out.bn.running_mean",
        ),
        ("cls_head.fc_cls.weight", "fc.weight"),
    ],
)
def test_mmaction2_resnet_tsm_keys_become_ours(key, expected):
    assert convert_torch.rename_key(key, convert_torch.MMACTION2_RESNET_2D) == expected


def test_mmaction2_tsm_conversion_finds_the_non_local_blocks():
    flags = ((0, 0, 0), (1, 0, 1, 0), (1, 0, 1, 0, 1, 0), (0, 0, 0))
    model = resnet.resnet50(num_classes=3, non_local=flags)
    abstract = convert_torch.abstract_variables(model, (1, 64, 64, 3))
    state = {}
    for (collection, *path), leaf in flax.traverse_util.flatten_dict(abstract).items():
        shape = leaf.shape if len(leaf.shape) < 2 else (*leaf.shape[::-1][:2], *leaf.shape[:-2])
        key = convert_torch.torch_key(collection, tuple(path))
        state[key.replace("fc.", "cls_head.fc_cls.")] = np.zeros(shape, np.float32)
    converted = convert_torch.convert_torchvision("mmaction2_tsm_resnet50", state)
    blocks = sorted(name for name in converted["params"] if name.endswith("_non_local"))
    assert blocks == [
        f"layer{i}_{j}_non_local" for i, j in ((2, 0), (2, 2), (3, 0), (3, 2), (3, 4))
    ]
    assert convert_torch.non_local_flags((3, 4, 6, 3))(["layer1.0.conv1.weight"]) == {}
