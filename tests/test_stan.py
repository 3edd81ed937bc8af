"""STAN (Li et al.): AttCell, the attention maps, early and late fusion (its training runs
in test_configs.py: configs/ucf101_stan_rgb_flow.py)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

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


def _inputs(rng):
    return {
        "inputs": jnp.asarray(rng.normal(size=(B, K, 1, 64, 64, 3)), jnp.float32),
        "inputs_flow": jnp.asarray(rng.normal(size=(B, K, 10, 64, 64, 2)), jnp.float32),
        "inputs_rgb": jnp.asarray(rng.normal(size=(B, K, 16, 64, 64, 3)), jnp.float32),
    }


def _stan(fusion, late_weights=()):
    return stan.STAN(
        streams=("frame", "flow", "clip"),
        stream_inputs=("inputs", "inputs_flow", "inputs_rgb"),
        num_classes=7,
        base_width=4,
        conv6_features=16,
        lstm_features=12,
        fusion=fusion,
        late_weights=late_weights,
    )


def test_early_fusion_shapes_and_attention_maps():
    inputs = _inputs(np.random.default_rng(1))
    model = _stan("early")
    variables = model.init(jax.random.key(0), inputs, train=False)
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
    # The LSTM reads the three streams' 16-d vectors, concatenated.
    assert variables["params"]["lstm_cell"]["ii"]["kernel"].shape == (48, 12)
    logits, maps = model.apply(variables, inputs, train=False, return_attention=True)
    assert logits.shape == (B, 7) and logits.dtype == jnp.float32
    # VGG's pool5 of a 64x64 frame is 2x2; C3D's (padded last pool, 4x4 at 112) is 3x3.
    for stream, grid in (("frame", 2), ("flow", 2), ("clip", 3)):
        spatial = maps[f"{stream}_spatial"]
        assert spatial.shape == (B, K, grid, grid)
        np.testing.assert_allclose(spatial.sum((-1, -2)), 1.0, rtol=1e-5)
    assert maps["temporal"].shape == (B, K)
    np.testing.assert_allclose(maps["temporal"].sum(-1), 1.0, rtol=1e-5)


def test_late_fusion_sums_the_weighted_stream_scores():
    inputs = _inputs(np.random.default_rng(2))
    model = _stan("late", late_weights=(1.0, 0.5, 2.0))
    variables = model.init(jax.random.key(0), inputs, train=False)
    logits, maps = model.apply(variables, inputs, train=False, return_attention=True)
    assert {"frame_temporal", "flow_temporal", "clip_temporal"} <= set(maps)
    # Zeroing one stream's classifier removes exactly its weighted share.
    params = jax.tree.map(lambda x: x, variables["params"])
    params["flow_fc"] = jax.tree.map(jnp.zeros_like, params["flow_fc"])
    without_flow = model.apply({"params": params}, inputs, train=False)
    params_only = jax.tree.map(lambda x: x, variables["params"])
    for stream in ("frame", "clip"):
        params_only[f"{stream}_fc"] = jax.tree.map(jnp.zeros_like, params_only[f"{stream}_fc"])
    only_flow = model.apply({"params": params_only}, inputs, train=False)
    np.testing.assert_allclose(logits, without_flow + only_flow, rtol=1e-4, atol=1e-6)
    # ... and that share is the flow scores times the flow weight 0.5.
    equal = _stan("late", late_weights=(1.0, 1.0, 1.0))
    flow_scores = equal.apply({"params": params_only}, inputs, train=False)
    np.testing.assert_allclose(only_flow, 0.5 * flow_scores, rtol=1e-5, atol=1e-7)


def test_bad_streams_are_errors():
    with pytest.raises(ValueError, match="streams must be some of"):
        stan.STAN(streams=("depth",), stream_inputs=("inputs",), num_classes=3)
    with pytest.raises(ValueError, match="fusion"):
        stan.STAN(streams=("frame",), stream_inputs=("inputs",), num_classes=3, fusion="mid")
