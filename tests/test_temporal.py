"""Temporal modules (TSM, TAM, non-local, temporal pooling) and their place in ResNet/TSN."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from configs.studies import _chen_demo
from tests.helpers import abstract_init, numpy_variables, random_inputs, run_once
from tsn_jax import models
from tsn_jax.models import googlenet, resnet, temporal
from tsn_jax.models.tsn import TSN


def test_temporal_shift_moves_one_eighth_each_way_with_zero_ends():
    # 1 video, K=3 segments, 1x1 pixels, 8 channels: value = 10 * segment + channel.
    x = (10 * np.arange(3)[:, None] + np.arange(8)[None, :]).astype(np.float32)
    x = x.reshape(3, 1, 1, 8)
    y = np.asarray(temporal.temporal_shift(jnp.asarray(x), 3, fraction=0.125))[:, 0, 0]
    np.testing.assert_array_equal(y[:, 0], [10, 20, 0])  # channel 0 from the next segment
    np.testing.assert_array_equal(y[:, 1], [0, 1, 11])  # channel 1 from the previous
    np.testing.assert_array_equal(y[:, 2:], x[:, 0, 0, 2:])
    with pytest.raises(ValueError, match="whole videos"):
        temporal.temporal_shift(jnp.ones((4, 1, 1, 8)), 3)


def test_temporal_shift_keeps_videos_apart():
    x = random_inputs((6, 2, 2, 16))  # 2 videos of K=3
    y = temporal.temporal_shift(x, 3, fraction=0.25)
    changed = x.at[3:].set(0.0)  # erase video 1
    np.testing.assert_array_equal(temporal.temporal_shift(changed, 3, 0.25)[:3], y[:3])


def test_tam_sums_per_channel_weighted_neighbours_then_relu():
    # Chen et al. (Sec. 3, Table 1) describe TAM only as a depthwise 1x1 temporal
    # aggregation; the exact rule is the authors' code (IBM/action-recognition-pytorch,
    # models/twod_models/temporal_modeling.py, `TAM` with 3 blended frames and `sum`),
    # which is not on the package index. This re-states it in numpy (a last resort):
    # per-channel weights on segments k-1, k, k+1, summed, then ReLU.
    x = random_inputs((6, 2, 2, 4))  # 2 videos, K=3
    module = temporal.TemporalAggregation(num_segments=3)
    variables = module.init(jax.random.key(0), x)
    params = variables["params"]
    assert {k: v["fc1"]["kernel"].shape for k, v in params.items()} == {
        "prev_se": (1, 1, 1, 4),
        "curr_se": (1, 1, 1, 4),
        "next_se": (1, 1, 1, 4),
    }
    w = {k: np.asarray(v["fc1"]["kernel"]).reshape(4) for k, v in params.items()}
    v = np.asarray(x).reshape(2, 3, 2, 2, 4)
    expected = w["curr_se"] * v
    expected[:, 1:] += w["prev_se"] * v[:, :-1]  # segment k sees segment k-1 ...
    expected[:, :-1] += w["next_se"] * v[:, 1:]  # ... and segment k+1
    expected = np.maximum(expected, 0).reshape(6, 2, 2, 4)
    np.testing.assert_allclose(module.apply(variables, x), expected, rtol=1e-5, atol=1e-6)


def test_temporal_max_pool_halves_segments():
    x = jnp.asarray(np.array([3, 1, 4, 1, 5, 9, 2, 6], np.float32).reshape(8, 1, 1, 1))
    y = temporal.temporal_max_pool(x, 4)  # 2 videos of K=4 -> 2 segments each
    np.testing.assert_array_equal(np.asarray(y).ravel(), [3, 4, 9, 9])


@pytest.mark.parametrize(
    "placement,expected",
    [
        ("all", [[1, 1], [1, 1], [1, 1], [1, 1]]),
        ("bottom_half", [[1, 1], [1, 1], [0, 0], [0, 0]]),
        ("top_half", [[0, 0], [0, 0], [1, 1], [1, 1]]),
        ("every_other", [[1, 0], [1, 0], [1, 0], [1, 0]]),
        ("tsm_authors", [[1, 1], [1, 1], [1, 1], [1, 1]]),
    ],
)
def test_placement(placement, expected):
    flags = temporal.blocks_with_module((2, 2, 2, 2), placement)
    assert [[int(f) for f in stage] for stage in flags] == expected


def test_tsm_authors_placement_halves_each_stage_of_resnet101_only():
    # The TSM code's n_round: every other block *of each stage* once stage 3 has 23 blocks
    # (ResNet-101); Chen et al.'s 'every_other' counts over the whole network instead.
    r101 = temporal.blocks_with_module((3, 4, 23, 3), "tsm_authors")
    assert [[j for j, f in enumerate(stage) if f] for stage in r101] == [
        [0, 2], [0, 2], list(range(0, 23, 2)), [0, 2]
    ]  # fmt: skip
    assert r101 != temporal.blocks_with_module((3, 4, 23, 3), "every_other")
    assert all(map(all, temporal.blocks_with_module((3, 4, 6, 3), "tsm_authors")))


def test_placement_odd_count_and_unknown():
    assert temporal.blocks_with_module((2, 3), "bottom_half") == [
        [True, True],
        [True, False, False],
    ]
    assert temporal.blocks_with_module((2, 3), "top_half") == [[False, False], [False, True, True]]
    with pytest.raises(ValueError, match="every_other"):
        temporal.blocks_with_module((2, 2), "middle")


def _non_local_reference(x, params, subsample=False, use_scale=False):
    """Embedded Gaussian non-local block in numpy, on [N, T, H, W, C].

    ``subsample`` max-pools the phi and g projections 2x2 in space (mmcv's NonLocal3d).
    """
    n, t, h, w, c = x.shape

    def conv(name, v):
        p = params[name]["conv"]
        return v @ np.asarray(p["kernel"]).reshape(v.shape[-1], -1) + (
            np.asarray(p["bias"]) if "bias" in p else 0
        )

    def pool(v):
        v = v.reshape(n, t, h // 2, 2, w // 2, 2, -1)
        return v.max(axis=(3, 5))

    theta, phi, g = conv("theta", x), conv("phi", x), conv("g", x)
    if subsample:
        phi, g = pool(phi), pool(g)
    theta, phi, g = (v.reshape(n, -1, c // 2) for v in (theta, phi, g))
    a = np.einsum("nic,njc->nij", theta, phi)
    if use_scale:
        a = a / np.sqrt(c // 2)
    a = np.exp(a - a.max(-1, keepdims=True))
    a /= a.sum(-1, keepdims=True)
    y = conv("conv_out", np.einsum("nij,njc->nic", a, g))
    return y.reshape(x.shape)


@pytest.mark.parametrize("subsample,use_scale", [(False, False), (True, False), (False, True)])
def test_non_local_block_matches_numpy_and_starts_as_identity(subsample, use_scale):
    x = random_inputs((2, 3, 4, 4, 4))  # a 3D clip, [N, T, H, W, C]
    module = temporal.NonLocal(subsample=subsample, use_scale=use_scale)
    variables = module.init(jax.random.key(0), x, train=False)
    np.testing.assert_allclose(module.apply(variables, x, train=False), x, atol=1e-6)
    shapes = jax.tree.map(jnp.shape, variables["params"])
    assert shapes["theta"] == {"conv": {"kernel": (1, 1, 1, 4, 2), "bias": (2,)}}
    assert shapes["conv_out"] == {
        "conv": {"kernel": (1, 1, 1, 2, 4)},
        "bn": {"scale": (4,), "bias": (4,)},
    }

    # With a unit BN the block adds the attention output to its input.
    params = jax.tree.map(np.asarray, variables["params"])
    params["conv_out"]["bn"]["scale"] = np.ones(4, np.float32)
    stats = {"conv_out": {"bn": {"mean": np.zeros(4), "var": np.ones(4) - 1e-5}}}
    got = module.apply({"params": params, "batch_stats": stats}, x, train=False)
    reference = _non_local_reference(np.asarray(x), params, subsample, use_scale)
    expected = np.asarray(x) + reference
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)

    # The same block on a folded 2D batch [N * K, H, W, C] attends over all K segments.
    folded = temporal.NonLocal(num_segments=3, subsample=subsample, use_scale=use_scale)
    variables2d = {"params": params, "batch_stats": stats}
    got2d = folded.apply(variables2d, x.reshape(6, 4, 4, 4), False)
    np.testing.assert_allclose(got2d, expected.reshape(6, 4, 4, 4), rtol=1e-4, atol=1e-5)


# --------------------------------------------------------------------------- in ResNet / TSN
K = 4
SHAPE = (2, K, 1, 32, 32, 3)


def _tsn(arch="resnet18", **backbone_options):
    constructor = {"resnet18": resnet.resnet18, "googlenet": googlenet.googlenet}[arch]
    backbone = constructor(num_classes=None, base_width=8, num_segments=K, **backbone_options)
    return TSN(backbone=backbone, num_classes=5, dropout_rate=0.0)


def _snippet_logits(model, variables, x):
    return run_once(
        lambda v, x: model.apply(v, x, train=False, return_snippet_logits=True), variables, x
    )


@pytest.mark.parametrize(
    "arch,options",
    [
        ("resnet18", {}),
        ("resnet18", {"temporal_module": "tsm"}),
        ("resnet18", {"temporal_module": "tam", "temporal_placement": "every_other"}),
        ("resnet18", {"non_local": ((0, 0), (0, 1), (0, 0), (0, 0))}),
        ("googlenet", {}),
        ("googlenet", {"temporal_module": "tsm", "temporal_placement": "top_half"}),
        ("googlenet", {"temporal_module": "tam", "temporal_placement": "bottom_half"}),
    ],
    ids=["tsn", "tsm", "tam", "non_local", "googlenet", "googlenet_tsm", "googlenet_tam"],
)
def test_temporal_modules_mix_segments_of_a_video_only(arch, options):
    model = _tsn(arch, **options)
    variables = numpy_variables(abstract_init(model, SHAPE))
    if "non_local" in options:  # A non-identity W_z so the block does something.
        bn = variables["params"]["backbone"]["layer2_1_non_local"]["conv_out"]["bn"]
        bn["scale"] = jnp.ones_like(bn["scale"])
    x = random_inputs(SHAPE)
    changed = x.at[0, 3].multiply(-1.0)  # change the last snippet of video 0
    before, after = _snippet_logits(model, variables, x), _snippet_logits(model, variables, changed)
    np.testing.assert_allclose(before[1], after[1], rtol=1e-5, atol=1e-5)  # other video
    assert not np.allclose(before[0, 3], after[0, 3])
    mixes = bool(options)
    assert model.backbone.mixes_segments == mixes
    # Snippets 0..2 of video 0 see snippet 3 only through a temporal module.
    assert (not np.allclose(before[0, :3], after[0, :3], atol=1e-5)) == mixes


@pytest.mark.parametrize(
    "options,blind",
    [
        ({"non_local": _chen_demo.NON_LOCAL["ResNet18"], **_chen_demo.NON_LOCAL_OPTIONS}, True),
        ({"temporal_module": "tam"}, False),
    ],
    ids=["non_local", "tam"],
)
def test_only_an_order_aware_module_tells_a_video_from_its_reverse(options, blind):
    """The non-local block attends over space-time positions without their order, so a
    TSN with it (and average consensus) scores a video and its segments reversed alike,
    as plain TSN does; TAM's neighbour weights see the order (the demo's order classes are
    reversal pairs: chen_aggregation_nonlocal in docs/studies.md)."""
    model = _tsn(**options)
    variables = numpy_variables(abstract_init(model, SHAPE))  # W_z's BN scale is not 0
    identity = jax.tree.map(jnp.asarray, variables)
    for name, block in identity["params"]["backbone"].items():
        if name.endswith("_non_local"):  # z = x + BN(W_z y) with BN(.) = 0: the identity.
            bn = block["conv_out"]["bn"]
            bn["scale"], bn["bias"] = jnp.zeros_like(bn["scale"]), jnp.zeros_like(bn["bias"])
    x = random_inputs(SHAPE)
    video_logits = jax.jit(lambda v, x: model.apply(v, x, train=False))
    forward = video_logits(variables, x)
    reverse = video_logits(variables, x[:, ::-1])
    assert np.allclose(forward, reverse, rtol=1e-5, atol=1e-5) == blind
    if blind:  # Not because the blocks do nothing: as the identity they score otherwise.
        assert not np.allclose(forward, video_logits(identity, x), rtol=1e-3, atol=1e-3)


def test_tam_parameters_sit_in_the_chosen_blocks():
    model = _tsn(temporal_module="tam", temporal_placement="top_half")
    params = abstract_init(model, SHAPE)["params"]["backbone"]
    with_tam = sorted(name for name, block in params.items() if "tam" in block)
    assert with_tam == ["layer3_0", "layer3_1", "layer4_0", "layer4_1"]
    assert params["layer3_0"]["tam"]["prev_se"]["fc1"]["kernel"].shape == (1, 1, 1, 16)


@pytest.mark.parametrize("arch", ["resnet18", "googlenet"])
def test_tam_weights_start_as_in_chen_et_al_code(arch):
    """Their ResNets re-initialize every Conv2d with kaiming_normal(fan_out): N(0, 2 / C)
    for a depthwise kernel; their GoogLeNet leaves its TAMs at PyTorch's default for a
    depthwise 1x1 kernel (fan_in 1): U(-1, 1)."""
    model = _tsn(arch, temporal_module="tam")
    init = jax.jit(lambda x: model.init(jax.random.key(0), x, train=False))
    params = init(jnp.zeros(SHAPE))["params"]["backbone"]
    tam = params["layer4_1"]["tam"] if arch == "resnet18" else params["tam5b"]
    w = np.concatenate([np.ravel(v["fc1"]["kernel"]) for v in tam.values()])
    c = w.size // 3
    if arch == "resnet18":
        assert abs(np.std(w) / np.sqrt(2 / c) - 1) < 0.15
    else:
        assert np.abs(w).max() <= 1 and abs(np.std(w) - 1 / np.sqrt(3)) < 0.05
        assert np.abs(w).max() > 0.95  # uniform over the whole of [-1, 1]
    with pytest.raises(ValueError, match="unknown TAM init 'he'"):
        temporal.TemporalMixing("tam", K, tam_init="he")


def test_googlenet_tam_parameters_follow_chen_et_al():
    model = _tsn("googlenet", temporal_module="tam", temporal_placement="every_other")
    params = abstract_init(model, SHAPE)["params"]["backbone"]
    # After conv1, conv2, conv3 and the 9 Inception blocks; every other one of those 12.
    assert sorted(name for name in params if name.startswith("tam")) == [
        "tam1", "tam3", "tam3b", "tam4b", "tam4d", "tam5a"
    ]  # fmt: skip
    assert params["tam1"]["prev_se"]["fc1"]["kernel"].shape == (1, 1, 1, 8)  # conv1: 64 / 8
    assert params["tam3b"]["curr_se"]["fc1"]["kernel"].shape == (1, 1, 1, 60)  # 480 / 8


def test_googlenet_convolutions_start_as_torchvision_or_as_he_says():
    """'torchvision': normal(0.01); 'kaiming': He's normal with fan_out (std sqrt(2 /
    (9 * 24)) for conv3's 3x3 kernel to 24 channels at width 8); the classifier keeps
    normal(0.01) either way."""
    x = jnp.zeros((1, 32, 32, 3))
    stds = {}
    for init in ("torchvision", "kaiming"):
        model = googlenet.googlenet(num_classes=5, base_width=8, kernel_init=init)
        params = jax.jit(lambda x, model=model: model.init(jax.random.key(0), x, train=False))(x)[
            "params"
        ]
        stds[init] = [float(np.std(params[name]["conv"]["kernel"])) for name in ("conv3",)]
        stds[init].append(float(np.std(params["fc"]["kernel"])))
    np.testing.assert_allclose(stds["torchvision"], [0.01, 0.01], rtol=0.1)
    np.testing.assert_allclose(stds["kaiming"], [np.sqrt(2 / (9 * 24)), 0.01], rtol=0.1)
    with pytest.raises(ValueError, match="kernel_init must be one of"):
        googlenet.googlenet(kernel_init="xavier").init(jax.random.PRNGKey(0), x, train=False)


def test_googlenet_shifts_the_output_of_each_layer():
    model = googlenet.googlenet(
        num_classes=None, base_width=8, num_segments=K, temporal_module="tsm"
    )
    x = random_inputs((2 * K, 32, 32, 3))  # two videos of K segments, folded
    variables = numpy_variables(abstract_init(model, x.shape))

    def inputs_and_outputs(variables, x):
        seen = {}

        def record(next_fun, args, kwargs, context):
            out = next_fun(*args, **kwargs)
            if context.method_name == "__call__" and context.module.parent is not None:
                if context.module.parent.name is None:  # a layer of the GoogLeNet itself
                    seen[str(context.module.name)] = (args[0], out)
            return out

        with nn.intercept_methods(record):
            model.apply(variables, x, train=False)
        return seen

    seen = run_once(inputs_and_outputs, variables, x)
    # conv3 reads conv2's output shifted; inception4b reads inception4a's shifted output.
    for before, after in (("conv2", "conv3"), ("inception4a", "inception4b")):
        expected = temporal.temporal_shift(jnp.asarray(seen[before][1]), K)
        np.testing.assert_allclose(seen[after][0], expected, rtol=1e-6, atol=1e-6)
        assert not np.allclose(seen[after][0], seen[before][1])


@pytest.mark.parametrize(
    "arch,pools,segments",
    [("resnet18", (1, 2), 1), ("googlenet", (1,), 2), ("googlenet", (1, 2, 3), 1)],
)
def test_temporal_pooling_reduces_snippet_scores(arch, pools, segments):
    model = _tsn(arch, temporal_module="tsm", temporal_pool=pools)
    logits = _snippet_logits(
        model, numpy_variables(abstract_init(model, SHAPE)), random_inputs(SHAPE)
    )
    assert logits.shape == (2, segments, 5)  # K = 4 -> 2 -> 1 (-> 1)
    with pytest.raises(ValueError, match="1, 2 or 3"):
        abstract_init(_tsn("googlenet", temporal_pool=(4,)), SHAPE)


def test_tsn_rejects_a_segment_count_its_backbone_does_not_mix():
    model = _tsn(temporal_module="tsm")
    with pytest.raises(ValueError, match="mix 4 segments per video, the inputs have K=3"):
        abstract_init(model, (2, 3, 1, 32, 32, 3))


def test_create_model_passes_the_segment_count_to_temporal_backbones():
    config = ml_collections.ConfigDict(
        {"backbone": "resnet50", "backbone_options": {"temporal_module": "tsm"}}
    )
    model = models.create_model(config, num_classes=5, num_segments=8)
    assert model.backbone.temporal_module == "tsm" and model.backbone.num_segments == 8
    plain = models.create_model(ml_collections.ConfigDict({"backbone": "resnet50"}), 5, 8)
    assert plain.backbone.num_segments == 1 and not plain.backbone.mixes_segments
    with pytest.raises(ValueError, match="unknown temporal module 'tsn'"):
        bad = ml_collections.ConfigDict(
            {"backbone": "resnet18", "backbone_options": {"temporal_module": "tsn"}}
        )
        abstract_init(models.create_model(bad, 5, 4), SHAPE)
