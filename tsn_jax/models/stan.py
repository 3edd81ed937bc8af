"""Spatio-temporal attention networks (STAN: Li, Yao, Duan, Mei and Rui, "Unified
Spatio-Temporal Attention Networks for Action Recognition in Videos", IEEE TMM 2019).

Every attention in STAN is one ``AttCell``: a 1x1 convolution scores each of P input
vectors, a softmax over the P positions turns the scores into weights, and the cell
returns the weighted sum of the vectors (and the weights, to plot them).

Per stream:

* frame: VGG-16 on one RGB frame per segment; flow: VGG-16 on 10 stacked flow fields
  (20 channels); clip: C3D on 16 RGB frames;
* ``conv6``: a 3x3 convolution with 1024 channels (and ReLU) on the stream's last
  pooling map (pool5, K x K cells, averaged over time for C3D), giving K^2 local
  descriptors;
* spatial attention: an AttCell over the K^2 descriptors, one 1024-d vector per segment.

Early fusion (the paper's main model): the streams' segment vectors are concatenated,
an LSTM (1024 hidden units) runs over the segments, a temporal AttCell pools its
outputs, then dropout and the classifier. Late fusion: each stream has its own LSTM,
temporal AttCell and classifier, and the class scores are a weighted sum over streams.

Inputs are a dict of streams, each in the batch contract ``[B, K, T, H, W, C]``; the
stream names map to batch keys through ``STAN.stream_inputs``.
"""

from __future__ import annotations

from typing import Any, ClassVar

import flax.linen as nn
import jax
import jax.numpy as jnp

from tsn_jax.models import c3d, vgg
from tsn_jax.models.layers import Conv
from tsn_jax.models.tsn import fold_clips, fold_snippets

__all__ = ["AttCell", "STAN", "STREAMS", "SpatialStream"]

Dtype = Any

# Stream -> (backbone constructor, whether it is 3D).
STREAMS: dict[str, tuple[Any, bool]] = {
    "frame": (vgg.vgg16, False),
    "flow": (vgg.vgg16, False),
    "clip": (c3d.c3d, True),
}
FUSIONS = ("early", "late")


class AttCell(nn.Module):
    """1x1 convolution scoring -> softmax over the positions -> weighted sum.

    ``[N, P, D] -> ([N, D], [N, P])``: the attended vector and the weights (which sum to 1
    over P). The scoring layer is ``score`` (a 1x1 convolution on a sequence of vectors
    is a dense layer on each).
    """

    dtype: Dtype = jnp.float32

    @nn.compact
    def __call__(self, vectors: jax.Array) -> tuple[jax.Array, jax.Array]:
        scores = nn.Dense(1, dtype=self.dtype, param_dtype=jnp.float32, name="score")(vectors)
        weights = jax.nn.softmax(scores[..., 0].astype(jnp.float32), axis=-1)
        attended = jnp.einsum("np,npd->nd", weights, vectors.astype(jnp.float32))
        return attended, weights


class SpatialStream(nn.Module):
    """One stream: backbone pool5 map -> conv6 (3x3, 1024, ReLU) -> spatial AttCell.

    Attributes:
      stream: 'frame', 'flow' (VGG-16) or 'clip' (C3D); the backbone is the submodule
        ``backbone`` (so a pretrained VGG-16 / C3D maps onto ``<stream>_stream/backbone``).
      base_width: the backbone's first width (64 as published).
      conv6_features: channels of conv6 (1024 in the paper).
    """

    stream: str
    base_width: int = 64
    conv6_features: int = 1024
    dtype: Dtype = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> tuple[jax.Array, jax.Array]:
        """``[N, H, W, C']`` or ``[N, T, H, W, C]`` -> ([N, conv6_features], [N, K, K])."""
        constructor, _ = STREAMS[self.stream]
        backbone = constructor(
            num_classes=None, base_width=self.base_width, dtype=self.dtype, name="backbone"
        )
        features = backbone(x, train=train, return_feature_map=True)
        if features.ndim == 5:  # C3D: [N, T', K, K, 512]; T' is 1 for 16-frame clips.
            features = jnp.mean(features, axis=1)
        features = Conv(self.conv6_features, (3, 3), padding=1, dtype=self.dtype, name="conv6")(
            features
        )
        features = nn.relu(features)
        n, h, w, d = features.shape
        vector, weights = AttCell(dtype=self.dtype, name="spatial_attention")(
            jnp.reshape(features, (n, h * w, d))
        )
        return vector, jnp.reshape(weights, (n, h, w))


class STAN(nn.Module):
    """STAN on any subset of the frame, flow and clip streams.

    Attributes:
      streams: stream names (keys of ``STREAMS``), in fusion order.
      stream_inputs: the batch key each stream reads, e.g. ``('inputs', 'inputs_flow')``.
      num_classes: action classes.
      base_width: 64 for the published VGG-16 / C3D widths (tests use less).
      conv6_features, lstm_features: 1024 in the paper.
      fusion: 'early' (concatenate the streams, one LSTM) or 'late' (one LSTM,
        temporal attention and classifier per stream, scores summed with
        ``late_weights``).
      late_weights: per-stream weights of late fusion (default: equal).
      dropout_rate: before the classifier.
    """

    takes_streams: ClassVar[bool] = True

    streams: tuple[str, ...]
    stream_inputs: tuple[str, ...]
    num_classes: int
    base_width: int = 64
    conv6_features: int = 1024
    lstm_features: int = 1024
    fusion: str = "early"
    late_weights: tuple[float, ...] = ()
    dropout_rate: float = 0.5
    dtype: Dtype = jnp.float32

    def __post_init__(self):
        unknown = [s for s in self.streams if s not in STREAMS]
        if not self.streams or unknown:
            raise ValueError(f"STAN streams must be some of {list(STREAMS)}, got {self.streams}")
        if len(self.stream_inputs) != len(self.streams):
            raise ValueError("STAN needs one batch key per stream (stream_inputs)")
        if self.fusion not in FUSIONS:
            raise ValueError(f"STAN fusion must be one of {FUSIONS}, got {self.fusion!r}")
        if self.late_weights and len(self.late_weights) != len(self.streams):
            raise ValueError("STAN late_weights needs one weight per stream")
        super().__post_init__()

    def _temporal_head(self, vectors: jax.Array, train: bool, prefix: str):
        """``[B, K, D]`` -> (logits [B, N], temporal weights [B, K]): LSTM, AttCell, classifier."""
        lstm = nn.RNN(nn.OptimizedLSTMCell(self.lstm_features, name=f"{prefix}lstm_cell"))
        outputs = lstm(vectors.astype(jnp.float32))  # [B, K, lstm_features]
        pooled, weights = AttCell(dtype=self.dtype, name=f"{prefix}temporal_attention")(outputs)
        pooled = nn.Dropout(rate=self.dropout_rate, deterministic=not train)(pooled)
        logits = nn.Dense(self.num_classes, name=f"{prefix}fc")(pooled)
        return logits.astype(jnp.float32), weights

    @nn.compact
    def __call__(
        self, inputs: dict[str, jax.Array], train: bool, return_attention: bool = False
    ) -> jax.Array | tuple[jax.Array, dict[str, jax.Array]]:
        """Scores videos.

        Args:
          inputs: {batch key: [B, K, T, H, W, C]} holding every key of ``stream_inputs``.
          train: dropout active (needs a 'dropout' rng).
          return_attention: also return the attention maps.

        Returns:
          float32 logits [B, N]; with ``return_attention`` also {'<stream>_spatial':
          [B, K, K', K'], 'temporal' (early fusion) or '<stream>_temporal' (late):
          [B, K]}, each summing to 1 over its cells or segments.
        """
        attention: dict[str, jax.Array] = {}
        vectors = []
        for stream, key in zip(self.streams, self.stream_inputs, strict=True):
            if key not in inputs:
                raise ValueError(f"STAN stream {stream!r} reads {key!r}, not in {list(inputs)}")
            x = inputs[key]
            b, k = x.shape[:2]
            _, is_3d = STREAMS[stream]
            vector, spatial = SpatialStream(
                stream,
                base_width=self.base_width,
                conv6_features=self.conv6_features,
                dtype=self.dtype,
                name=f"{stream}_stream",
            )(fold_clips(x) if is_3d else fold_snippets(x), train)
            vectors.append(jnp.reshape(vector, (b, k, -1)))
            attention[f"{stream}_spatial"] = jnp.reshape(spatial, (b, k, *spatial.shape[1:]))

        if self.fusion == "early":
            logits, temporal = self._temporal_head(jnp.concatenate(vectors, -1), train, "")
            attention["temporal"] = temporal
        else:
            weights = self.late_weights or (1.0,) * len(self.streams)
            logits = 0.0
            for stream, vector, weight in zip(self.streams, vectors, weights, strict=True):
                stream_logits, temporal = self._temporal_head(vector, train, f"{stream}_")
                logits = logits + weight * stream_logits
                attention[f"{stream}_temporal"] = temporal
        return (logits, attention) if return_attention else logits
