"""Segmental consensus of Temporal Segment Networks.

Wang et al., "Temporal Segment Networks: Towards Good Practices for Deep Action
Recognition", ECCV 2016, and "Temporal Segment Networks for Action Recognition in
Videos", TPAMI 2018, Sec. 3.3: the class scores F(T_k) of the K snippets of a video are
aggregated by a consensus function G *before* the softmax,
``p = softmax(G(F(T_1), ..., F(T_K)))``, so the loss and its gradient see the whole video.

Every consensus here is a pure function of the snippet scores ``[B, K, N] -> [B, N]``
over the segment axis 1; the learned ones also take their weights, which the TSN module
owns as parameters. The TPAMI paper writes each aggregation function in the text and
numbers its gradient (Sec. 3.3):

* max pooling (gradient Eq. 4): only the highest-scoring snippet of each class gets it;
* average pooling (Eq. 5): every snippet gets 1/K of the gradient;
* top-k pooling (Eq. 6): the mean of the k highest scores of each class;
* linear weighting (Eq. 7): sum_k w_k F(T_k), one learned weight per segment; the
  paper updates the network W and the weights w alternately
  (`tsn_jax.optim`, `optimizer.consensus_update`); tested on another number of
  snippets, the weights are spread over them (`resample_segment_weights`);
* attention weighting (Eqs. 8-12): sum_k A(T_k) F(T_k) with A = softmax over the
  snippets of e_k = w_att . R(T_k) (Eq. 9), R the snippet's last hidden features;
  Eqs. 10-11 are the gradients of A, Eq. 12 the back-propagation into W through A.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

__all__ = [
    "CONSENSUS_FUNCTIONS",
    "LEARNED",
    "attention_weights",
    "attention_weighting",
    "avg_consensus",
    "check_consensus",
    "linear_weighting",
    "max_consensus",
    "resample_segment_weights",
    "top_k_consensus",
]


def avg_consensus(snippet_scores: jax.Array) -> jax.Array:
    """Average over segments (TPAMI Sec. 3.3, gradient Eq. 5): ``[B, K, N] -> [B, N]``.

    Its gradient with respect to every snippet's scores is ``1/K`` times the gradient of
    the video's scores, so all K snippets are updated jointly (TSN Eq. 3).
    """
    return jnp.mean(snippet_scores, axis=1)


def max_consensus(snippet_scores: jax.Array) -> jax.Array:
    """Maximum over segments, per class (gradient Eq. 4): ``[B, K, N] -> [B, N]``.

    The gradient of class i flows only to the snippet with the highest score for i
    (the most discriminative snippet of the video for that class).
    """
    return jnp.max(snippet_scores, axis=1)


def top_k_consensus(snippet_scores: jax.Array, k: int) -> jax.Array:
    """Mean of the k highest snippet scores of each class (Eq. 6): ``[B, K, N] -> [B, N]``.

    Between max (k = 1) and average (k = K): each selected snippet gets 1/k of the
    class's gradient, the others none. A single snippet (K = 1: the per-window and
    per-second views of whole-video testing) is its own consensus for any k.
    """
    num_segments = snippet_scores.shape[1]
    if num_segments == 1 and k >= 1:
        return snippet_scores[:, 0]
    if not 1 <= k <= num_segments:
        raise ValueError(f"top-k consensus needs 1 <= k <= K={num_segments}, got k={k}")
    per_class = jnp.swapaxes(snippet_scores, 1, 2)  # [B, N, K]
    top, _ = jax.lax.top_k(per_class, k)
    return jnp.mean(top, axis=-1)


def linear_weighting(snippet_scores: jax.Array, weights: jax.Array) -> jax.Array:
    """Weighted sum over segments with one learned weight per segment (gradients Eq. 7).

    Args:
      snippet_scores: ``[B, K, N]``.
      weights: ``[K]``; ``1/K`` each makes it the average.

    Returns:
      ``[B, N]`` = sum_k weights[k] * snippet_scores[:, k].
    """
    return jnp.einsum("bkn,k->bn", snippet_scores, weights)


def resample_segment_weights(weights: jax.Array, num_snippets: int) -> jax.Array:
    """The K learned segment weights of linear weighting, for K' test snippets.

    TPAMI Sec. 3.3 learns one weight per training segment ("phases" of the action) and
    does not say how a network tested on another number of snippets uses them (TSN
    tests on 25; whole-video testing scores one snippet a view). Here the weights are a
    piecewise-constant density over the video, segment k (of K equal parts) holding
    weights[k], and test snippet j (of K' equal parts) gets the mass of its part:
    sum_k weights[k] * K * |part_j of K' ∩ part_k of K|. K' = K gives the weights
    back, a single snippet gets sum(weights), and the total is always sum(weights).

    Args:
      weights: ``[K]`` learned weights.
      num_snippets: K', >= 1.

    Returns:
      ``[K']`` weights.
    """
    k = weights.shape[0]
    if num_snippets == k:
        return weights
    # Parts in units of 1 / (K K'): snippet j is [j K, (j + 1) K), segment s [s K', (s + 1) K').
    j = np.arange(num_snippets)[:, None]
    s = np.arange(k)[None, :]
    overlap = np.minimum((j + 1) * k, (s + 1) * num_snippets) - np.maximum(j * k, s * num_snippets)
    share = np.maximum(overlap, 0) / num_snippets  # K * overlap / (K K')
    return jnp.asarray(share, weights.dtype) @ weights


def attention_weights(features: jax.Array, w_att: jax.Array) -> jax.Array:
    """A(T_k) of Eq. 9: softmax over the K snippets of e_k = w_att . R(T_k).

    Args:
      features: ``[B, K, F]`` last hidden features R of each snippet.
      w_att: ``[F]`` attention weights.

    Returns:
      ``[B, K]`` snippet weights, non-negative, summing to 1 over K.
    """
    return jax.nn.softmax(jnp.einsum("bkf,f->bk", features, w_att), axis=1)


def attention_weighting(
    snippet_scores: jax.Array, features: jax.Array, w_att: jax.Array
) -> jax.Array:
    """Attention-weighted sum over segments (Eqs. 8-9): ``[B, K, N] -> [B, N]``.

    The weights depend on each snippet's own features, so which snippets count is
    decided per video; with ``w_att = 0`` all weights are 1/K (the average).
    """
    weights = attention_weights(features, w_att)
    return jnp.einsum("bkn,bk->bn", snippet_scores, weights)


# Consensus names of config.model.consensus; the learned ones have parameters.
CONSENSUS_FUNCTIONS: tuple[str, ...] = ("avg", "max", "topk", "weighted", "attention")
LEARNED: tuple[str, ...] = ("weighted", "attention")


def check_consensus(name: str) -> None:
    """Raises ValueError for an unknown consensus name."""
    if name not in CONSENSUS_FUNCTIONS:
        raise ValueError(f"Unknown consensus {name!r}; known: {list(CONSENSUS_FUNCTIONS)}.")
