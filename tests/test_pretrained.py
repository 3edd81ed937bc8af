"""config.init.checkpoint: a pretrained classifier or TSN checkpoint initializes a TSN backbone."""

import flax
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from tests.helpers import abstract_init, classifier_checkpoint, numpy_variables, save_tree
from tsn_jax import pretrained
from tsn_jax.models import resnet
from tsn_jax.models.tsn import TSN

RGB = (1, 3, 1, 32, 32, 3)
FLOW = (1, 3, 5, 32, 32, 2)


def _tsn(num_classes=5, **options):
    backbone = resnet.resnet18(num_classes=None, base_width=8, num_segments=3, **options)
    return TSN(backbone=backbone, num_classes=num_classes)


def _flat(tree):
    return flax.traverse_util.flatten_dict(tree)


def testclassifier_checkpoint_fills_the_backbone_and_drops_its_classifier(tmp_path):
    source, loaded = classifier_checkpoint(tmp_path)
    model = _tsn()
    fresh = numpy_variables(abstract_init(model, RGB))
    lines = []
    out = pretrained.init_backbone(fresh, loaded, log=lines.append)
    for (collection, *path), value in _flat(source).items():
        if path[0] != "fc":
            got = _flat(out[collection]["backbone"])[tuple(path)]
            np.testing.assert_array_equal(got, value)
    np.testing.assert_array_equal(out["params"]["fc"]["kernel"], fresh["params"]["fc"]["kernel"])
    assert any("dropping" in line and "'fc'" in line for line in lines)


def test_flow_first_conv_gets_the_cross_modality_initialization(tmp_path):
    source, loaded = classifier_checkpoint(tmp_path)
    model = _tsn()
    out = pretrained.init_backbone(numpy_variables(abstract_init(model, FLOW)), loaded)
    rgb = np.asarray(source["params"]["conv1"]["kernel"])  # [7, 7, 3, 8]
    flow = out["params"]["backbone"]["conv1"]["kernel"]  # [7, 7, 10, 8]
    assert flow.shape == (7, 7, 10, 8)
    for c in range(10):
        np.testing.assert_allclose(flow[:, :, c], rgb.mean(axis=2), rtol=1e-6)
    np.testing.assert_array_equal(
        out["params"]["backbone"]["layer1_0"]["conv1"]["kernel"],
        source["params"]["layer1_0"]["conv1"]["kernel"],
    )


def test_temporal_modules_keep_their_initialization(tmp_path):
    _, loaded = classifier_checkpoint(tmp_path)
    model = _tsn(temporal_module="tam", temporal_placement="top_half")
    fresh = numpy_variables(abstract_init(model, RGB))
    lines = []
    out = pretrained.init_backbone(fresh, loaded, log=lines.append)
    tam = out["params"]["backbone"]["layer4_1"]["tam"]["next_se"]["fc1"]["kernel"]
    np.testing.assert_array_equal(
        tam, fresh["params"]["backbone"]["layer4_1"]["tam"]["next_se"]["fc1"]["kernel"]
    )
    assert any("layer4_1/tam/next_se/fc1/kernel" in line for line in lines)


def test_a_checkpoint_of_another_architecture_is_an_error_listing_keys(tmp_path):
    _, loaded = classifier_checkpoint(tmp_path, arch="resnet34")
    model = _tsn()
    with pytest.raises(ValueError, match=r"not in the model: .*layer1_2/conv1/kernel"):
        pretrained.init_backbone(numpy_variables(abstract_init(model, RGB)), loaded)
    _, loaded50 = classifier_checkpoint(tmp_path, arch="resnet50")
    with pytest.raises(ValueError, match=r"shapes that cannot be adapted: .*layer1_0/conv1"):
        pretrained.init_backbone(numpy_variables(abstract_init(model, RGB)), loaded50)


@pytest.mark.parametrize(
    "num_classes,new_classifier,fc_copied", [(5, False, True), (6, False, False), (5, True, False)]
)
def test_tsn_checkpoint_copies_fc_only_for_the_same_classes(
    tmp_path, num_classes, new_classifier, fc_copied
):
    source = numpy_variables(abstract_init(_tsn(), RGB), seed=3)
    state = {"step": 10, **source}
    save_tree(tmp_path / "run" / "checkpoints" / "10" / "default", state)
    # A run's workdir stands for its newest step.
    loaded = pretrained.load_checkpoint(str(tmp_path / "run"))
    model = _tsn(num_classes=num_classes)
    fresh = numpy_variables(abstract_init(model, RGB))
    lines = []
    out = pretrained.init_backbone(fresh, loaded, log=lines.append, new_classifier=new_classifier)
    np.testing.assert_array_equal(
        out["params"]["backbone"]["conv1"]["kernel"],
        source["params"]["backbone"]["conv1"]["kernel"],
    )
    expected_fc = source if fc_copied else fresh
    np.testing.assert_array_equal(out["params"]["fc"]["bias"], expected_fc["params"]["fc"]["bias"])
    assert any("fresh initialization" in line and "fc/kernel" in line for line in lines) != (
        fc_copied
    )


@pytest.mark.parametrize(
    "arch, stem_frames", [("resnet50", 5), ("resnet18", 3)], ids=["i3d_resnet50", "i3d_resnet18"]
)
def test_imagenet_resnet_inflates_into_i3d_resnet(tmp_path, arch, stem_frames):
    # mmaction2's I3D-R50 (5x7x7 stem) and Chen et al.'s I3D-ResNet18 (3x7x7 stem, basic
    # blocks inflated 3x3x3) from the 2D ResNet of the same depth.
    from tsn_jax.models import i3d_resnet

    source, loaded = classifier_checkpoint(tmp_path, arch=arch)
    backbone = getattr(i3d_resnet, f"i3d_{arch}")(num_classes=None, base_width=8)
    model = TSN(backbone=backbone, num_classes=5)
    fresh = numpy_variables(abstract_init(model, (1, 1, 8, 32, 32, 3)))
    lines = []
    out = pretrained.init_backbone(
        fresh, loaded, "average", pretrained.NAME_MAPS[f"i3d_{arch}"], log=lines.append
    )
    stem = out["params"]["backbone"]["conv1"]["conv"]["kernel"]
    rgb = np.asarray(source["params"]["conv1"]["kernel"])
    assert stem.shape == (stem_frames, 7, 7, 3, 8)
    for t in range(stem_frames):
        np.testing.assert_allclose(stem[t], rgb / stem_frames, rtol=1e-6)
    block = out["params"]["backbone"]["layer1_0"]["conv2"]["conv"]["kernel"]
    if arch == "resnet18":  # every basic block is inflated 3x3x3
        for t in range(3):
            np.testing.assert_allclose(
                block[t], np.asarray(source["params"]["layer1_0"]["conv2"]["kernel"]) / 3,
                rtol=1e-6,
            )  # fmt: skip
    np.testing.assert_array_equal(
        out["batch_stats"]["backbone"]["layer2_0"]["downsample"]["bn"]["mean"],
        source["batch_stats"]["layer2_0"]["downsample_1"]["mean"],
    )
    assert any("dropping" in line and "'fc'" in line for line in lines)


def test_googlenet_temporal_modules_keep_their_initialization(tmp_path):
    from tsn_jax.models import googlenet

    classifier = googlenet.googlenet(num_classes=7, base_width=8)
    source = numpy_variables(abstract_init(classifier, (1, 32, 32, 3)), seed=1)
    save_tree(tmp_path / "googlenet", source)
    backbone = googlenet.googlenet(
        num_classes=None, base_width=8, num_segments=3, temporal_module="tam"
    )
    model = TSN(backbone=backbone, num_classes=5)
    fresh = numpy_variables(abstract_init(model, RGB))
    lines = []
    loaded = pretrained.load_checkpoint(str(tmp_path / "googlenet"))
    out = pretrained.init_backbone(fresh, loaded, log=lines.append)
    ours = out["params"]["backbone"]
    np.testing.assert_array_equal(
        ours["tam4c"]["prev_se"]["fc1"]["kernel"],
        fresh["params"]["backbone"]["tam4c"]["prev_se"]["fc1"]["kernel"],
    )
    np.testing.assert_array_equal(
        ours["inception4c"]["branch1"]["conv"]["kernel"],
        source["params"]["inception4c"]["branch1"]["conv"]["kernel"],
    )
    assert any("tam5b/next_se/fc1/kernel" in line for line in lines)


def test_stan_streams_start_from_vgg16_and_c3d(tmp_path):
    from tsn_jax.models import c3d, stan, vgg

    vgg_source = numpy_variables(abstract_init(vgg.vgg16(base_width=4), (1, 32, 32, 3)), seed=1)
    c3d_source = numpy_variables(abstract_init(c3d.c3d(base_width=4), (1, 16, 32, 32, 3)), seed=2)
    save_tree(tmp_path / "vgg", vgg_source)
    save_tree(tmp_path / "c3d", c3d_source)
    model = stan.STAN(
        streams=("frame", "flow", "clip"),
        stream_inputs=("inputs", "inputs_flow", "inputs_clip"),
        num_classes=5,
        base_width=4,
        conv6_features=8,
        lstm_features=8,
    )
    inputs = {
        "inputs": (1, 3, 1, 32, 32, 3),
        "inputs_flow": (1, 3, 5, 32, 32, 2),
        "inputs_clip": (1, 3, 16, 32, 32, 3),
    }
    fresh = numpy_variables(
        jax.eval_shape(
            lambda: model.init(
                jax.random.key(0), {k: jnp.zeros(v) for k, v in inputs.items()}, train=False
            )
        )
    )
    paths = pretrained.parse_stream_checkpoints(
        [f"frame={tmp_path / 'vgg'}", f"flow={tmp_path / 'vgg'}", f"clip={tmp_path / 'c3d'}"],
        model.streams,
    )
    lines = []
    out = pretrained.init_stan_streams(
        fresh,
        {s: pretrained.load_checkpoint(p) for s, p in paths.items()},
        log=lines.append,
    )
    params = out["params"]
    frame = params["frame_stream"]["backbone"]
    np.testing.assert_array_equal(
        frame["features_0"]["kernel"], vgg_source["params"]["features_0"]["kernel"]
    )
    flow_kernel = params["flow_stream"]["backbone"]["features_0"]["kernel"]  # [3, 3, 10, 4]
    rgb_mean = np.asarray(vgg_source["params"]["features_0"]["kernel"]).mean(axis=2)
    for c in range(10):
        np.testing.assert_allclose(flow_kernel[:, :, c], rgb_mean, rtol=1e-6)
    np.testing.assert_array_equal(
        params["clip_stream"]["backbone"]["conv5b"]["conv"]["kernel"],
        c3d_source["params"]["conv5b"]["conv"]["kernel"],
    )
    # What no pretrained classifier has keeps its initialization.
    for kept in (("frame_stream", "conv6"), ("clip_stream", "spatial_attention"), ("fc",)):
        a, b = params, fresh["params"]
        for name in kept:
            a, b = a[name], b[name]
        for x, y in zip(jax_leaves(a), jax_leaves(b), strict=True):
            np.testing.assert_array_equal(x, y)
    assert any("[clip stream]" in line and "fc6" in line for line in lines)


def test_stan_stream_checkpoint_specs_are_checked():
    with pytest.raises(ValueError, match="'depth'"):
        pretrained.parse_stream_checkpoints(["depth=/x"], ("frame", "flow"))
    with pytest.raises(ValueError, match="stream=path"):
        pretrained.parse_stream_checkpoints(["/ckpt/vgg16"], ("frame",))
    with pytest.raises(ValueError, match="twice"):
        pretrained.parse_stream_checkpoints(["frame=/a", "frame=/b"], ("frame",))


def jax_leaves(tree):
    return list(_flat(tree).values())
