"""Each consensus function of TSN (TPAMI 2018, Sec. 3.3): values and gradients.

The gradients of the video loss L = cross-entropy(softmax(G), y) are compared with the
paper's analytic forms: dL/dG = p - y, then the chain through each G (TPAMI Eqs. 4-11).
"""

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import pytest

from configs import default
from tsn_jax import optim
from tsn_jax.models import consensus, create_model

B, K, N, F = 2, 5, 4, 6
LABELS = np.array([1, 3])


@pytest.fixture
def scores():
    # Distinct values: no ties in max / top-k.
    return jnp.asarray(np.random.default_rng(0).permutation(B * K * N).reshape(B, K, N) / 7.0)


def _loss_grad(video_scores_fn, *args):
    """Gradients of the mean video loss with respect to every argument."""

    def loss(*a):
        logits = video_scores_fn(*a)
        return optax.softmax_cross_entropy_with_integer_labels(logits, LABELS).mean()

    return jax.grad(loss, argnums=tuple(range(len(args))))(*args)


def _dl_dg(video_scores):
    """p - y, divided by B for the mean over the batch: [B, N]."""
    p = jax.nn.softmax(np.asarray(video_scores), axis=-1)
    return (np.asarray(p) - np.eye(N)[LABELS]) / B


def test_max_consensus_gradient_goes_to_the_top_snippet_of_each_class(scores):
    g = np.asarray(scores)
    np.testing.assert_array_equal(consensus.max_consensus(scores), g.max(axis=1))
    (grad,) = _loss_grad(consensus.max_consensus, scores)
    winners = (g == g.max(axis=1, keepdims=True)).astype(float)
    np.testing.assert_allclose(grad, winners * _dl_dg(g.max(axis=1))[:, None], atol=1e-6)


@pytest.mark.parametrize("k", [1, 2, 5])
def test_top_k_consensus_averages_the_k_best_and_splits_their_gradient(scores, k):
    g = np.asarray(scores)
    best = -np.sort(-g, axis=1)[:, :k]
    np.testing.assert_allclose(consensus.top_k_consensus(scores, k), best.mean(axis=1), rtol=1e-6)
    (grad,) = _loss_grad(lambda s: consensus.top_k_consensus(s, k), scores)
    selected = (g >= best[:, -1:]).astype(float)
    expected = selected * _dl_dg(best.mean(axis=1))[:, None] / k
    np.testing.assert_allclose(grad, expected, atol=1e-6)
    if k == K:  # top-K is the average
        np.testing.assert_allclose(consensus.top_k_consensus(scores, k), g.mean(1), rtol=1e-6)
    with pytest.raises(ValueError, match="1 <= k <= K"):
        consensus.top_k_consensus(scores, K + 1)
    # One snippet (whole-video testing scores snippets one by one) is its own consensus.
    np.testing.assert_array_equal(consensus.top_k_consensus(scores[:, :1], k), g[:, 0])


def test_linear_weighting_gradients(scores):
    w = jnp.linspace(0.1, 0.5, K)
    g, wn = np.asarray(scores), np.asarray(w)
    video = np.einsum("bkn,k->bn", g, wn)
    np.testing.assert_allclose(consensus.linear_weighting(scores, w), video, rtol=1e-6)
    grad_s, grad_w = _loss_grad(consensus.linear_weighting, scores, w)
    d = _dl_dg(video)
    # Eq. 7: dL/dF_k = w_k (p - y); dL/dw_k = sum_i (p_i - y_i) F_k,i.
    np.testing.assert_allclose(grad_s, wn[None, :, None] * d[:, None], atol=1e-6)
    np.testing.assert_allclose(grad_w, np.einsum("bn,bkn->k", d, g), atol=1e-6)


def test_attention_weighting_weights_and_gradients(scores):
    rng = np.random.default_rng(1)
    features = jnp.asarray(rng.normal(size=(B, K, F)))
    w_att = jnp.asarray(rng.normal(size=F) * 0.3)
    g, r, w = np.asarray(scores), np.asarray(features), np.asarray(w_att)
    e = r @ w
    a = np.exp(e - e.max(1, keepdims=True))
    a /= a.sum(1, keepdims=True)
    np.testing.assert_allclose(consensus.attention_weights(features, w_att), a, rtol=1e-5)
    np.testing.assert_allclose(consensus.attention_weights(features, w_att).sum(1), 1, rtol=1e-6)
    video = np.einsum("bkn,bk->bn", g, a)
    np.testing.assert_allclose(
        consensus.attention_weighting(scores, features, w_att), video, rtol=1e-5
    )
    grad_s, grad_r, grad_w = _loss_grad(consensus.attention_weighting, scores, features, w_att)
    d = _dl_dg(video)
    # dL/dF_k = A_k (p - y)  (Eq. 8).
    np.testing.assert_allclose(grad_s, a[..., None] * d[:, None], atol=1e-6)
    # dL/dA_k = (p - y) . F_k (Eq. 8); dA_k/de_j = A_k (delta_kj - A_j) (Eq. 11), so
    # dL/de_k = A_k ((p - y) . F_k - (p - y) . G); then e_k = w_att . R_k (Eqs. 9-10):
    dl_de = a * (np.einsum("bn,bkn->bk", d, g) - np.einsum("bn,bn->b", d, video)[:, None])
    np.testing.assert_allclose(grad_w, np.einsum("bk,bkf->f", dl_de, r), atol=1e-6)
    np.testing.assert_allclose(grad_r, dl_de[..., None] * w[None, None], atol=1e-6)


def test_learned_consensus_functions_start_as_the_average(scores):
    uniform = consensus.linear_weighting(scores, jnp.full(K, 1.0 / K))
    np.testing.assert_allclose(uniform, consensus.avg_consensus(scores), rtol=1e-6)
    attention = consensus.attention_weighting(scores, jnp.ones((B, K, F)), jnp.zeros(F))
    np.testing.assert_allclose(attention, consensus.avg_consensus(scores), rtol=1e-6)


def _weighted_consensus_optimizer(consensus_update):
    config = default.get_config()
    config.model.consensus = "weighted"
    config.optimizer.consensus_update = consensus_update
    config.optimizer.momentum = 0.5
    config.optimizer.weight_decay = 0.0
    config.optimizer.clip_grad_norm = 0.0
    # Rate 1 on steps 0-1, 0.1 from step 2: shows which step's rate each update uses.
    schedule = optax.piecewise_constant_schedule(1.0, {2: 0.1})
    return optim.create_optimizer(config, schedule)


def test_linear_weighting_alternates_network_and_segment_weight_updates():
    # TPAMI Sec. 3.3 (Eq. 7): W and the weights w are updated alternately.
    params = {"fc": {"kernel": jnp.zeros(3)}, "consensus_weights": jnp.zeros(K)}
    grads = [
        {
            "fc": {"kernel": jnp.full(3, float(t + 1))},
            "consensus_weights": jnp.full(K, 10.0 * (t + 1)),
        }
        for t in range(4)
    ]
    tx = _weighted_consensus_optimizer("alternate")
    state = tx.init(params)
    updates = []
    for g in grads:
        u, state = tx.update(g, state, params)
        updates.append(jax.tree.map(np.asarray, u))
    fc = [u["fc"]["kernel"][0] for u in updates]
    w = [u["consensus_weights"][0] for u in updates]
    # Even steps: the network only; odd steps: the segment weights only.
    assert w[0] == 0 and w[2] == 0 and fc[1] == 0 and fc[3] == 0
    # Each group's momentum skips the steps it sits out; the rate is the global step's:
    # fc: -1 * 1 at step 0, then -0.1 * (3 + 0.5 * 1) at step 2;
    # w: -1 * 20 at step 1, then -0.1 * (40 + 0.5 * 20) at step 3.
    np.testing.assert_allclose(fc[0::2], [-1.0, -0.35], rtol=1e-6)
    np.testing.assert_allclose(w[1::2], [-20.0, -5.0], rtol=1e-6)
    # 'joint' updates both groups at every step.
    tx = _weighted_consensus_optimizer("joint")
    state = tx.init(params)
    u, _ = tx.update(grads[0], state, params)
    assert u["fc"]["kernel"][0] == -1.0 and u["consensus_weights"][0] == -10.0


def test_segment_weights_spread_over_another_number_of_test_snippets():
    w = jnp.asarray([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0])
    np.testing.assert_array_equal(consensus.resample_segment_weights(w, 7), w)
    # Thirds of 7 segments: 1 + 2 + 3/3, 3 * 2/3 + 4 + 5 * 2/3, 5/3 + 6 + 7.
    np.testing.assert_allclose(
        consensus.resample_segment_weights(w, 3), [4.0, 4.0 + 16 / 3, 5 / 3 + 13], rtol=1e-6
    )
    np.testing.assert_allclose(consensus.resample_segment_weights(w, 1), [28.0], rtol=1e-6)
    # 14 snippets: each segment's weight split between its two halves.
    np.testing.assert_allclose(
        consensus.resample_segment_weights(w, 14), np.repeat(np.arange(1, 8) / 2, 2), rtol=1e-6
    )
    np.testing.assert_allclose(consensus.resample_segment_weights(w, 25).sum(), 28.0, rtol=1e-6)
    # Equal weights 1/K stay the average on any number of snippets.
    np.testing.assert_allclose(
        consensus.resample_segment_weights(jnp.full(7, 1 / 7), 25), np.full(25, 1 / 25), rtol=1e-6
    )


def test_weighted_tsn_trained_on_k_segments_scores_any_number_of_snippets():
    model_config = ml_collections.ConfigDict(
        {"backbone": "resnet18", "base_width": 4, "consensus": "weighted"}
    )
    model = create_model(model_config, num_classes=N, num_segments=3)
    variables = model.init(jax.random.PRNGKey(0), jnp.zeros((1, 3, 1, 16, 16, 3)), train=False)
    weights = jnp.asarray([0.2, 0.5, 0.3])
    params = {**variables["params"], "consensus_weights": weights}
    variables = {**variables, "params": params}
    x = jax.random.normal(jax.random.PRNGKey(1), (2, 6, 1, 16, 16, 3))
    snippets = model.apply(variables, x, train=False, return_snippet_logits=True)
    video = model.apply(variables, x, train=False)
    # 6 test snippets: two per training segment, each with half its weight.
    expected = jnp.einsum("bkn,k->bn", snippets, jnp.repeat(weights / 2, 2))
    np.testing.assert_allclose(video, expected, rtol=1e-5, atol=1e-6)
    assert variables["params"]["consensus_weights"].shape == (3,)
