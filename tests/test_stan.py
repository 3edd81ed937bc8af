"""STAN (Li et al., TMM 2019): AttCell (Eqs. 1-2), the attention maps, the Eq. 8 pooling,
the 7x7 pool5 of every stream at 224 (Sec. IV), early and late fusion (its training runs
in test_configs.py: configs/ucf101_stan_rgb_flow.py)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from tests.helpers import run_once
from tsn_jax.models import stan

B, K = 2, 3


def test_att_cell_weights_sum_to_one_and_weight_the_vectors():
    vectors = jnp.asarray(np.random.default_rng(0).normal(size=(4, 5, 6)), jnp.float32)
    cell = stan.AttCell()
    variables = cell.init(jax.random.key(0), vectors)
    attended, weights = cell.apply(variables, vectors)
    assert attended.shape == (4, 6) and weights.shape == (4, 5)
    np.testing.assert_allclose(weights.sum(-1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(attended, np.einsum("np,npd->nd", weights, vectors), rtol=1e-5)
    # The weights are the softmax of the 1x1 scoring layer.
    score = variables["params"]["score"]
    logits = np.asarray(vectors) @ np.asarray(score["kernel"])[:, 0] + np.asarray(score["bias"])
    np.testing.assert_allclose(weights, jax.nn.softmax(logits, -1), rtol=1e-5)


def test_att_cell_scores_the_keys_and_pools_the_vectors():
    # Eqs. 7-8: the weights come from the keys (LSTM outputs h^t, 3-d here) and pool the
    # vectors (segment representations f_att^t, 2-d). Hand numbers: score = h . (1, 0, 0),
    # so the keys' first entries 0, ln 3 give weights 1/4, 3/4.
    keys = jnp.asarray([[[0.0, 5.0, -1.0], [np.log(3.0), -2.0, 7.0]]], jnp.float32)
    vectors = jnp.asarray([[[4.0, 0.0], [0.0, 8.0]]], jnp.float32)
    variables = {"params": {"score": {"kernel": jnp.asarray([[1.0], [0.0], [0.0]]),
                                      "bias": jnp.zeros((1,))}}}  # fmt: skip
    attended, weights = stan.AttCell().apply(variables, vectors, keys=keys)
    np.testing.assert_allclose(weights, [[0.25, 0.75]], rtol=1e-6)
    np.testing.assert_allclose(attended, [[1.0, 6.0]], rtol=1e-6)
    with pytest.raises(ValueError, match="differ"):
        stan.AttCell().apply(variables, vectors, keys=keys[:, :1])


def _inputs(rng):
    return {
        "inputs": jnp.asarray(rng.normal(size=(B, K, 1, 64, 64, 3)), jnp.float32),
        "inputs_flow": jnp.asarray(rng.normal(size=(B, K, 10, 64, 64, 2)), jnp.float32),
        "inputs_rgb": jnp.asarray(rng.normal(size=(B, K, 16, 64, 64, 3)), jnp.float32),
    }


def _stan(fusion, late_weights=(), **kwargs):
    return stan.STAN(
        streams=("frame", "flow", "clip"),
        stream_inputs=("inputs", "inputs_flow", "inputs_rgb"),
        num_classes=7,
        base_width=4,
        conv6_features=16,
        lstm_features=12,
        fusion=fusion,
        late_weights=late_weights,
        **kwargs,
    )


@pytest.mark.slow
def test_early_fusion_shapes_and_attention_maps():
    inputs = _inputs(np.random.default_rng(1))
    model = _stan("early")
    variables = run_once(lambda x: model.init(jax.random.key(0), x, train=False), inputs)
    assert {
        "frame_stream",
        "flow_stream",
        "clip_stream",
        "lstm_cell",
        "temporal_attention",
        "fc",
    } <= set(variables["params"])
    # conv6 reads the 512-channel pool5 map (scaled by base_width) and has 16 filters.
    assert variables["params"]["flow_stream"]["conv6"]["kernel"].shape == (3, 3, 32, 16)
    # The LSTM reads the three streams' 16-d vectors, concatenated (Eq. 6).
    assert variables["params"]["lstm_cell"]["ii"]["kernel"].shape == (48, 12)
    # The temporal AttCell scores the 12-d LSTM outputs (Eq. 7) ...
    assert variables["params"]["temporal_attention"]["score"]["kernel"].shape == (12, 1)
    # ... and the classifier reads the pooled 48-d concatenation (Eq. 8), not the LSTM's 12.
    assert variables["params"]["fc"]["kernel"].shape == (48, 7)
    logits, maps = run_once(
        lambda v, x: model.apply(v, x, train=False, return_attention=True), variables, inputs
    )
    assert logits.shape == (B, 7) and logits.dtype == jnp.float32
    # Every stream's pool5 of a 64x64 input is 2x2 (C3D with the Caffe pooling, Sec. IV).
    for stream in ("frame", "flow", "clip"):
        spatial = maps[f"{stream}_spatial"]
        assert spatial.shape == (B, K, 2, 2)
        np.testing.assert_allclose(spatial.sum((-1, -2)), 1.0, rtol=1e-5)
    assert maps["temporal"].shape == (B, K)
    np.testing.assert_allclose(maps["temporal"].sum(-1), 1.0, rtol=1e-5)


def test_eq8_pools_the_concatenated_segment_representations():
    """logits = fc(sum_t beta^t f_att^t), f_att^t the streams' spatially attended vectors
    concatenated (Eqs. 6, 8); pooling the LSTM outputs h^t instead fails here."""
    inputs = _inputs(np.random.default_rng(3))
    model = _stan("early")
    variables = run_once(lambda x: model.init(jax.random.key(0), x, train=False), inputs)
    (logits, maps), state = run_once(
        lambda v, x: model.apply(
            v, x, train=False, return_attention=True, capture_intermediates=True
        ),
        variables,
        inputs,
    )
    segments = np.concatenate(
        [
            np.reshape(state["intermediates"][f"{s}_stream"]["__call__"][0][0], (B, K, -1))
            for s in ("frame", "flow", "clip")
        ],
        axis=-1,
    )  # f_att^t: [B, K, 48]
    video = np.einsum("bk,bkd->bd", maps["temporal"], segments)  # Eq. 8
    fc = variables["params"]["fc"]
    np.testing.assert_allclose(
        logits, video @ np.asarray(fc["kernel"]) + np.asarray(fc["bias"]), rtol=1e-4, atol=1e-6
    )
    # beta is the softmax of the temporal cell's scores of the LSTM outputs h^t (Eq. 7).
    hidden = np.asarray(state["intermediates"]["RNN_0"]["__call__"][0])  # [B, K, 12]
    score = variables["params"]["temporal_attention"]["score"]
    scores = hidden @ np.asarray(score["kernel"])[:, 0] + np.asarray(score["bias"])
    np.testing.assert_allclose(maps["temporal"], jax.nn.softmax(scores, -1), rtol=1e-5)


def test_every_stream_has_a_7x7_pool5_at_224():
    """Sec. IV: at 224x224 the pool5 of the frame, flow and clip streams are all 7x7x512;
    C3D gets there with the Caffe pooling (mmaction2's padded pool5 gives 8x8)."""
    shapes = {
        "inputs": (1, 2, 1, 224, 224, 3),
        "inputs_flow": (1, 2, 10, 224, 224, 2),
        "inputs_rgb": (1, 2, 16, 224, 224, 3),
    }
    inputs = {k: jax.ShapeDtypeStruct(v, jnp.float32) for k, v in shapes.items()}

    def maps(**kwargs):
        model = _stan("early", **kwargs)

        def run(x):
            variables = model.init(jax.random.key(0), x, train=False)
            return model.apply(variables, x, train=False, return_attention=True)[1]

        return {k: v.shape for k, v in jax.eval_shape(run, inputs).items()}

    assert maps() == {
        "frame_spatial": (1, 2, 7, 7),
        "flow_spatial": (1, 2, 7, 7),
        "clip_spatial": (1, 2, 7, 7),
        "temporal": (1, 2),
    }
    assert maps(clip_caffe_pooling=False)["clip_spatial"] == (1, 2, 8, 8)


@pytest.mark.slow
def test_late_fusion_sums_the_weighted_stream_scores():
    inputs = _inputs(np.random.default_rng(2))
    model = _stan("late", late_weights=(1.0, 0.5, 2.0))
    variables = run_once(lambda x: model.init(jax.random.key(0), x, train=False), inputs)
    # One compiled program per model, called with each set of parameters.
    apply = jax.jit(lambda params, x: model.apply({"params": params}, x, train=False))
    logits, maps = run_once(
        lambda v, x: model.apply(v, x, train=False, return_attention=True), variables, inputs
    )
    assert {"frame_temporal", "flow_temporal", "clip_temporal"} <= set(maps)
    # Zeroing one stream's classifier removes exactly its weighted share.
    params = jax.tree.map(lambda x: x, variables["params"])
    params["flow_fc"] = jax.tree.map(jnp.zeros_like, params["flow_fc"])
    without_flow = apply(params, inputs)
    params_only = jax.tree.map(lambda x: x, variables["params"])
    for stream in ("frame", "clip"):
        params_only[f"{stream}_fc"] = jax.tree.map(jnp.zeros_like, params_only[f"{stream}_fc"])
    only_flow = apply(params_only, inputs)
    np.testing.assert_allclose(logits, without_flow + only_flow, rtol=1e-4, atol=1e-6)
    # ... and that share is the flow scores times the flow weight 0.5.
    equal = _stan("late", late_weights=(1.0, 1.0, 1.0))
    flow_scores = jax.jit(lambda p, x: equal.apply({"params": p}, x, train=False))(
        params_only, inputs
    )
    np.testing.assert_allclose(only_flow, 0.5 * flow_scores, rtol=1e-5, atol=1e-7)


def test_bad_streams_are_errors():
    with pytest.raises(ValueError, match="streams must be some of"):
        stan.STAN(streams=("depth",), stream_inputs=("inputs",), num_classes=3)
    with pytest.raises(ValueError, match="fusion"):
        stan.STAN(streams=("frame",), stream_inputs=("inputs",), num_classes=3, fusion="mid")


@pytest.mark.parametrize("caffe_pooling", [True, False])
def test_config_key_picks_the_clip_streams_pooling(caffe_pooling):
    from configs import default
    from tsn_jax.models import create_model

    config = default.get_config()
    config.model.architecture = "stan"
    config.model.stan.streams = ("clip",)
    config.model.stan.stream_inputs = ("inputs",)
    config.model.stan.clip_caffe_pooling = caffe_pooling
    model = create_model(config.model, num_classes=3, num_segments=2)
    assert model.clip_caffe_pooling is caffe_pooling


@pytest.mark.slow
def test_the_batch_norm_option_puts_batch_norm_in_the_vgg_streams_only():
    """config.model.stan.vgg_batch_norm: frame and flow streams become vgg16_bn (one
    BatchNorm per convolution: 13), the clip stream's C3D is unchanged."""
    from configs import default
    from tsn_jax.models import create_model

    config = default.get_config()
    config.model.architecture = "stan"
    config.model.base_width = 4
    config.model.stan.streams = ("frame", "flow", "clip")
    config.model.stan.stream_inputs = ("inputs", "inputs_flow", "inputs_rgb")
    config.model.stan.conv6_features = config.model.stan.lstm_features = 8
    config.model.stan.vgg_batch_norm = True
    model = create_model(config.model, num_classes=3, num_segments=K)
    inputs = _inputs(np.random.default_rng(3))
    variables = run_once(lambda x: model.init(jax.random.key(0), x, train=False), inputs)
    stats = variables["batch_stats"]
    assert set(stats) == {"frame_stream", "flow_stream"}
    for stream in ("frame_stream", "flow_stream"):
        assert len(jax.tree.leaves(stats[stream])) == 2 * 13  # mean and var of 13 BNs
    (logits, maps), updates = run_once(
        lambda v, x: model.apply(
            v,
            x,
            train=True,
            return_attention=True,
            mutable=["batch_stats"],
            rngs={"dropout": jax.random.key(1)},
        ),
        variables,
        inputs,
    )
    assert logits.shape == (B, 3) and maps["frame_spatial"].shape == (B, K, 2, 2)
    # Training moves the running statistics.
    moved = jax.tree.map(lambda a, b: bool(np.any(a != b)), stats, updates["batch_stats"])
    assert all(jax.tree.leaves(moved))
