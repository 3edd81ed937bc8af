"""Temporal Segment Network wrapper (Wang et al., ECCV 2016 / TPAMI 2018).

A video is split into K segments and one snippet is sampled from each; a single ConvNet
(one set of weights) scores every snippet, and a segmental consensus aggregates the K
snippet scores before the softmax (TPAMI Sec. 3.1-3.3). Following the public TSN code,
the classifier is a new ``fc`` after dropout (0.8 for RGB in the paper) on the pooled
backbone features.

Batch contract (DESIGN.md): inputs ``[B, K, T, H, W, C]`` with K snippets, T frames per
snippet and C channels per frame (RGB: T=1, C=3; optical flow: T=5, C=2).
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from tsn_jax.models import consensus as consensus_lib

__all__ = ["TSN", "fold_clips", "fold_snippets", "segments_to_clip"]

Dtype = Any


def fold_snippets(inputs: jax.Array) -> jax.Array:
    """Folds snippets into the batch and frames into channels for a 2D backbone.

    ``[B, K, T, H, W, C] -> [B * K, H, W, T * C]``. Row ``b * K + k`` is snippet k of video
    b; channel ``t * C + c`` is channel c of frame t (frame-major: frame 0's C channels,
    then frame 1's, ...), the stacking order of the TSN flow and RGB-difference inputs.
    """
    b, k, t, h, w, c = inputs.shape
    x = jnp.transpose(inputs, (0, 1, 3, 4, 2, 5))  # [B, K, H, W, T, C]
    return jnp.reshape(x, (b * k, h, w, t * c))


def fold_clips(inputs: jax.Array) -> jax.Array:
    """Folds snippets into the batch and keeps time for a 3D backbone.

    ``[B, K, T, H, W, C] -> [B * K, T, H, W, C]``; row ``b * K + k`` is snippet (clip) k of
    video b.
    """
    b, k = inputs.shape[:2]
    return jnp.reshape(inputs, (b * k, *inputs.shape[2:]))


def segments_to_clip(inputs: jax.Array) -> jax.Array:
    """Reads the K snippets of a video, in order, as one clip of K * T frames.

    ``[B, K, T, H, W, C] -> [B, 1, K * T, H, W, C]``: Chen et al.'s uniform sampling for a
    3D model (CVPR 2021, Sec. 6.1: one frame from each of K equal segments, the K frames
    one input clip), where TSN would score each snippet apart.
    """
    b, k, t = inputs.shape[:3]
    return jnp.reshape(inputs, (b, 1, k * t, *inputs.shape[3:]))


class TSN(nn.Module):
    """Temporal Segment Network on a 2D or 3D backbone.

    The K snippets are folded into the batch. A 2D backbone (class attribute
    ``is_3d = False``) gets the T frames of a snippet folded into channels
    (``fold_snippets``); a 3D backbone (``is_3d = True``) keeps them as a time axis
    (``fold_clips``): TSN on I3D in the TPAMI paper, or K=1 for a plain 3D network. A 2D
    backbone with temporal modules (TSM, TAM, ...) has ``mixes_segments`` true and a
    ``num_segments`` attribute, mixes information across the K snippets of a video (K
    must equal ``num_segments``), and may pool them in time (fewer snippet scores, K').

    Attributes:
      backbone: a module built without its classifier (``num_classes=None``) mapping
        ``[N, H, W, C']`` (2D) or ``[N, T, H, W, C]`` (3D) to pooled features ``[N, F]``
        and called as ``backbone(x, train=...)``; its parameters live under ``backbone``.
      num_classes: number of action classes N.
      dropout_rate: dropout on the features before ``fc`` (TSN uses 0.8 for RGB).
      consensus: the segmental consensus, one of ``consensus.CONSENSUS_FUNCTIONS``:
        'avg', 'max', 'topk' (mean of the ``consensus_k`` highest snippet scores per
        class), 'weighted' (learned weight per segment, parameter
        ``consensus_weights`` [K'] starting at 1/K'; on another number of snippets
        spread over them by ``consensus.resample_segment_weights``) or 'attention' (parameter
        ``attention`` [F], ``w_att`` of TPAMI Eq. 9 on the backbone features,
        starting at 0: both learned consensus functions start as the average).
      consensus_k: k of the top-k consensus (3: "TSN-Top3" of TPAMI Table 7).
      segments_as_clip: a 3D backbone sees the K snippets of a video as one clip of
        K * T frames (``segments_to_clip``; Chen et al.'s uniform sampling for I3D)
        and gives one score, not K; an error with a 2D backbone.
      dtype: computation dtype of ``fc``; logits are returned in float32.
    """

    backbone: nn.Module
    num_classes: int
    dropout_rate: float = 0.8
    consensus: str = "avg"
    consensus_k: int = 3
    segments_as_clip: bool = False
    dtype: Dtype = jnp.float32

    @nn.compact
    def __call__(
        self, inputs: jax.Array, train: bool, return_snippet_logits: bool = False
    ) -> jax.Array:
        """Scores videos.

        Args:
          inputs: ``[B, K, T, H, W, C]``.
          train: batch statistics in BatchNorm (and their running update, pass
            ``mutable=['batch_stats']``) and active dropout (needs a ``'dropout'`` rng);
            ``False`` uses running averages and no dropout.
          return_snippet_logits: return the per-snippet logits ``[B, K, N]`` (``[B, K', N]``
            after temporal pooling) instead of the consensus (for analysis and for
            evaluation protocols that aggregate themselves).

        Returns:
          float32 logits ``[B, N]`` (consensus over the K snippets, before softmax), or
          ``[B, K, N]`` when ``return_snippet_logits`` (``[B, 1, N]`` with
          ``segments_as_clip``).
        """
        consensus_lib.check_consensus(self.consensus)  # Fails early on an unknown name.
        if self.segments_as_clip:
            if not self.backbone.is_3d:
                raise ValueError("segments_as_clip needs a 3D backbone; this one is 2D")
            inputs = segments_to_clip(inputs)
        b, k = inputs.shape[:2]

        if getattr(self.backbone, "mixes_segments", False) and k != self.backbone.num_segments:
            raise ValueError(
                f"the backbone's temporal modules mix {self.backbone.num_segments} segments "
                f"per video, the inputs have K={k}"
            )
        # Folding K into the batch makes every snippet go through the same weights and
        # makes BatchNorm statistics cover all B*K snippets, as in the original TSN.
        x = fold_clips(inputs) if self.backbone.is_3d else fold_snippets(inputs)
        features = self.backbone(x, train=train)  # [B*K, F]
        x = nn.Dropout(rate=self.dropout_rate, deterministic=not train)(features)
        x = nn.Dense(
            self.num_classes,
            # The TSN code initializes its new classifier with N(0, 0.001^2) and zero bias.
            kernel_init=nn.initializers.normal(stddev=0.001),
            bias_init=nn.initializers.zeros,
            dtype=self.dtype,
            param_dtype=jnp.float32,
            name="fc",
        )(x)
        # Consensus and the loss work in float32 even when the network runs in bfloat16.
        snippet_logits = jnp.reshape(x, (b, -1, self.num_classes)).astype(jnp.float32)
        if return_snippet_logits:
            return snippet_logits
        num_scores = snippet_logits.shape[1]  # K, or K' after temporal pooling
        if self.consensus == "max":
            return consensus_lib.max_consensus(snippet_logits)
        if self.consensus == "topk":
            return consensus_lib.top_k_consensus(snippet_logits, self.consensus_k)
        if self.consensus == "weighted":
            # The weights are created for the training K'; a test on another number of
            # snippets (TSN: 25) spreads them over its snippets.
            if self.has_variable("params", "consensus_weights"):
                weights = self.get_variable("params", "consensus_weights")
            else:
                weights = self.param(
                    "consensus_weights", nn.initializers.constant(1.0 / num_scores), (num_scores,)
                )
            weights = consensus_lib.resample_segment_weights(weights, num_scores)
            return consensus_lib.linear_weighting(snippet_logits, weights)
        if self.consensus == "attention":
            # R(T_k) of Eq. 9: the snippet's pooled features, before dropout.
            features = jnp.reshape(features, (b, num_scores, -1)).astype(jnp.float32)
            w_att = self.param("attention", nn.initializers.zeros, (features.shape[-1],))
            return consensus_lib.attention_weighting(snippet_logits, features, w_att)
        return consensus_lib.avg_consensus(snippet_logits)
