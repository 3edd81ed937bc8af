"""Kernel inflation, 2D -> 3D variable filling (`pretrained.init_backbone` with the inflation
name maps) and TSN's cross-modality initialization."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from tests.helpers import abstract_init, numpy_variables, run_once
from tsn_jax import inflate, pretrained
from tsn_jax.models import googlenet, i3d, i3d_resnet, lowerings, resnet


def test_inflate_kernel_average_repeats_and_divides_by_time():
    kernel = np.arange(2 * 2 * 3 * 4, dtype=np.float32).reshape(2, 2, 3, 4)
    out = inflate.inflate_kernel(kernel, 3)
    assert out.shape == (3, 2, 2, 3, 4)
    for t in range(3):
        np.testing.assert_array_equal(out[t], kernel / 3)
    # The sum over time is the 2D kernel: a static input gives the 2D response.
    np.testing.assert_allclose(out.sum(axis=0), kernel, rtol=1e-6)
    np.testing.assert_array_equal(inflate.inflate_kernel(kernel, 1), kernel[None])


@pytest.mark.parametrize("time,center", [(3, 1), (5, 2), (2, 1), (1, 0)])
def test_inflate_kernel_center_puts_the_kernel_on_the_middle_frame(time, center):
    kernel = np.random.default_rng(0).normal(size=(3, 3, 2, 5)).astype(np.float32)
    out = inflate.inflate_kernel(kernel, time, method="center")
    np.testing.assert_array_equal(out[center], kernel)
    np.testing.assert_array_equal(np.delete(out, center, axis=0), 0.0)


def test_inflate_kernel_rejects_bad_arguments():
    with pytest.raises(ValueError, match="unknown inflation method"):
        inflate.inflate_kernel(np.ones((1, 1, 1, 1)), 3, method="random")
    with pytest.raises(ValueError, match="time"):
        inflate.inflate_kernel(np.ones((1, 1, 1, 1)), 0)


@pytest.mark.parametrize("time", [None, 5])
def test_cross_modality_kernel_replicates_the_rgb_mean(time):
    rng = np.random.default_rng(0)
    shape = (7, 7, 3, 4) if time is None else (time, 7, 7, 3, 4)
    kernel = rng.normal(size=shape).astype(np.float32)
    out = inflate.cross_modality_kernel(kernel, 10)  # 5 stacked flow x/y fields
    assert out.shape == shape[:-2] + (10, 4)
    mean = (kernel[..., 0, :] + kernel[..., 1, :] + kernel[..., 2, :]) / 3
    for c in range(10):
        np.testing.assert_allclose(out[..., c, :], mean, rtol=1e-6)


def _inflate(variables_2d, abstract_3d, name_map=(), method="average"):
    """A 3D backbone's variables filled from a 2D classifier's, as `init.checkpoint` does."""
    wrapped = {c: {"backbone": tree} for c, tree in abstract_3d.items()}
    filled = pretrained.init_backbone(
        wrapped, variables_2d, inflation=method, name_map=name_map, log=lambda _: None
    )
    return {c: tree["backbone"] for c, tree in filled.items()}


def test_shapes_decide_copy_or_inflate_and_every_problem_is_reported():
    two_d = {
        "params": {
            "conv1": {"kernel": np.ones((3, 3, 2, 4), np.float32)},
            "bn1": {"scale": np.ones(4, np.float32)},
            "fc": {"kernel": np.ones((4, 9), np.float32)},
        }
    }
    three_d = {
        "params": {
            "conv1": {"kernel": jax.ShapeDtypeStruct((5, 3, 3, 2, 4), np.float32)},
            "bn1": {"scale": jax.ShapeDtypeStruct((4,), np.float32)},
        }
    }
    out = _inflate(two_d, three_d)  # fc: the ImageNet classifier, dropped
    np.testing.assert_array_equal(out["params"]["conv1"]["kernel"], np.float32(0.2))
    np.testing.assert_array_equal(out["params"]["bn1"]["scale"], 1.0)

    bad = {
        "params": {
            "conv1": {"kernel": jax.ShapeDtypeStruct((5, 3, 4, 2, 4), np.float32)},
            "conv2": {"kernel": jax.ShapeDtypeStruct((1, 1, 1, 4, 4), np.float32)},
        }
    }
    with pytest.raises(ValueError) as error:
        _inflate(two_d, bad)
    message = str(error.value)
    assert "missing from the checkpoint: ['params/backbone/conv2/kernel']" in message
    assert "not in the model: ['params/backbone/bn1/scale']" in message
    assert "params/backbone/conv1/kernel: pretrained (3, 3, 2, 4), model (5, 3, 4, 2, 4)" in message


def test_i3d_resnet50_from_resnet50_names_and_cross_modality():
    # Every variable of a torchvision-named ResNet-50 lands in mmaction2's I3D-R50 names.
    variables_2d = numpy_variables(abstract_init(resnet.resnet50(base_width=16), (1, 32, 32, 3)))
    variables_2d = jax.tree.map(np.asarray, variables_2d)
    conv1 = variables_2d["params"]["conv1"]["kernel"]
    # A flow I3D: TSN's cross-modality first convolution, then inflation.
    variables_2d["params"]["conv1"]["kernel"] = inflate.cross_modality_kernel(conv1, 2)
    flow_model = i3d_resnet.i3d_resnet50(num_classes=None, base_width=16)
    out = _inflate(
        variables_2d,
        abstract_init(flow_model, (1, 8, 32, 32, 2)),
        inflate.I3D_RESNET_FROM_RESNET,
    )
    params, stats = out["params"], out["batch_stats"]
    assert params["conv1"]["conv"]["kernel"].shape == (5, 7, 7, 2, 16)
    np.testing.assert_allclose(
        params["conv1"]["conv"]["kernel"].sum(axis=0).mean(axis=-2),
        np.mean(conv1, axis=-2),
        rtol=1e-6,
        atol=1e-7,
    )
    source = variables_2d["params"]["layer4_1"]
    np.testing.assert_allclose(  # inflated block, 3x1x1 conv1
        params["layer4_1"]["conv1"]["conv"]["kernel"],
        np.repeat(source["conv1"]["kernel"][None], 3, 0) / 3,
    )
    np.testing.assert_array_equal(  # 1x3x3 conv2: the 2D kernel
        params["layer4_1"]["conv2"]["conv"]["kernel"][0], source["conv2"]["kernel"]
    )
    np.testing.assert_array_equal(
        params["layer2_0"]["downsample"]["bn"]["bias"],
        variables_2d["params"]["layer2_0"]["downsample_1"]["bias"],
    )
    np.testing.assert_array_equal(
        stats["layer3_5"]["conv3"]["bn"]["var"],
        variables_2d["batch_stats"]["layer3_5"]["bn3"]["var"],
    )


def test_i3d_from_googlenet_names():
    # Tiny widths: the same names, and both scale Inception-v1's table the same way.
    variables_2d = numpy_variables(abstract_init(googlenet.googlenet(base_width=8), (1, 64, 64, 3)))
    out = _inflate(
        variables_2d,
        abstract_init(i3d.i3d(num_classes=None, base_width=8), (1, 8, 64, 64, 3)),
        inflate.I3D_FROM_GOOGLENET,
        method="center",
    )
    params, source = out["params"], variables_2d["params"]
    pairs = [
        (params["Conv3d_1a_7x7"]["conv_3d"]["kernel"][3], source["conv1"]["conv"]["kernel"]),
        (
            params["Mixed_4b"]["Branch_1"]["Conv3d_0b_3x3"]["conv_3d"]["kernel"][1],
            source["inception4a"]["branch2_1"]["conv"]["kernel"],
        ),
        (
            params["Mixed_5b"]["Branch_2"]["Conv3d_0a_3x3"]["conv_3d"]["kernel"][1],
            source["inception5a"]["branch3_1"]["conv"]["kernel"],
        ),
        (
            params["Mixed_5c"]["Branch_3"]["Conv3d_0b_1x1"]["batch_norm"]["scale"],
            source["inception5b"]["branch4_1"]["bn"]["scale"],
        ),
    ]
    for ours, theirs in pairs:
        np.testing.assert_array_equal(ours, theirs)


def test_inflated_resnet50_on_a_boring_clip_gives_the_2d_features():
    """Center inflation: I3D-R50 on 8 copies of a frame = ResNet-50 on the frame.

    With 'average' inflation this holds only where temporal windows lie inside the clip
    (checked on the stem below): zero temporal padding at the clip's ends changes the
    whole network's features.
    """
    frame = np.random.default_rng(0).normal(size=(2, 32, 32, 3)).astype(np.float32)
    clip = np.repeat(frame[:, None], 8, axis=1)
    model_2d = resnet.resnet50(num_classes=None, base_width=8)
    model_3d = i3d_resnet.i3d_resnet50(num_classes=None, base_width=8)
    variables_2d = numpy_variables(abstract_init(model_2d, frame.shape))
    abstract_3d = abstract_init(model_3d, clip.shape)
    features_2d = run_once(lambda v, x: model_2d.apply(v, x, train=False), variables_2d, frame)
    center = _inflate(variables_2d, abstract_3d, inflate.I3D_RESNET_FROM_RESNET, method="center")
    features_3d = run_once(lambda v, x: model_3d.apply(v, x, train=False), center, clip)
    scale = np.abs(features_2d).max()  # random weights: features of order 1e2
    np.testing.assert_allclose(features_3d / scale, features_2d / scale, atol=1e-5)


def test_average_inflated_stem_on_a_boring_clip_is_2d_inside_the_clip():
    rng = np.random.default_rng(0)
    frame = rng.normal(size=(1, 16, 16, 3)).astype(np.float32)
    clip = np.repeat(frame[:, None], 9, axis=1)
    kernel = rng.normal(size=(7, 7, 3, 4)).astype(np.float32)
    kernel_3d = inflate.inflate_kernel(kernel, 5)
    out_2d = lowerings.conv_xla(frame, kernel, (2, 2), (3, 3))
    out_3d = np.asarray(lowerings.conv_xla(clip, kernel_3d, (2, 2, 2), (2, 3, 3)))
    # Output frames 1..3 see input frames 0..8 only; frames 0 and 4 reach into the padding.
    for t in (1, 2, 3):
        np.testing.assert_allclose(out_3d[:, t], out_2d, rtol=1e-5, atol=1e-4)
    assert not np.allclose(out_3d[:, 0], out_2d, atol=1e-2)
