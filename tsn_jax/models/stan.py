"""Spatio-temporal attention networks (STAN: Li, Yao, Duan, Mei and Rui, "Unified
Spatio-Temporal Attention Networks for Action Recognition in Videos", IEEE TMM 2019).

Every attention in STAN is one ``AttCell`` (Sec. III-A, Eqs. 1-2): a 1x1 convolution
``s_n = W^T f_n + b`` scores each of P input vectors, a softmax over the P positions
turns the scores into weights, and the cell returns the weighted sum (and the weights).

Per stream m (Sec. III-B/C; the streams of Sec. IV):

* frame: VGG-16 on one RGB frame per segment; flow: VGG-16 on 10 stacked flow fields
  (20 channels); clip: C3D on 16 consecutive RGB frames. At 224x224 every stream's pool5
  is 7x7x512 (Sec. IV): for C3D that needs the Caffe pooling rule of the paper's Caffe
  model (pool4's 14x14 -> 7x7), which is the clip stream's default here
  (``clip_caffe_pooling``; mmaction2's padded pool5 would give 8x8);
* ``conv6``: a 3x3, stride-1 convolution with 1024 filters on pool5 (padding 1, so K x K
  stays 7x7, "K = 7 and D = 1024"), giving the K^2 local descriptors f_ij^{m,t} of Eq. 3;
  C3D's pool5 (one time step for a 16-frame clip) is averaged over time first;
* spatial attention (Eqs. 4-5): an AttCell per stream over the K^2 descriptors gives the
  segment representation f_att^{m,t} (D-dimensional).

Early fusion (Sec. III-D, the paper's STAN): the streams' f_att^{m,t} are concatenated
into f_att^t (Eq. 6, M*D); an LSTM (1024 hidden units, Sec. IV) runs over the T segments;
the temporal AttCell scores each LSTM output h^t (Eq. 7) and its weights beta pool the
concatenated representations f_att^t, not the h^t (Eq. 8: f_att = sum_t beta^t f_att^t,
M*D wide); then dropout and the classifier ("softmax layer", Sec. IV). Late fusion
(Sec. V-C: temporal attention per modality, "weighted sum of score"): each stream has
its own LSTM, temporal AttCell (pooling its own f_att^{m,t}) and classifier, and the
logits are summed with ``late_weights``.

Choices the paper does not fix (documented, not published): a ReLU after conv6 (the text
names only the layer), the LSTM's zero initial state and Flax's standard LSTM cell (the
paper points to [10] for the unit), the late-fusion weights (default equal) and that they
weight logits (the text says "scores"), the dropout rate (a model attribute).

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
    """1x1 convolution scoring -> softmax over the positions -> weighted sum (Eqs. 1-2).

    ``vectors [N, P, D], keys [N, P, E] -> ([N, D], [N, P])``: the weights (summing to 1
    over P) are the softmax of ``score`` (a 1x1 convolution on a sequence of vectors is a
    dense layer on each) applied to ``keys``, and they pool ``vectors``. ``keys``
    defaults to ``vectors`` (the spatial cell, Eqs. 4-5); the temporal cell scores the
    LSTM outputs h^t and pools the segment representations f_att^t (Eqs. 7-8).
    """

    dtype: Dtype = jnp.float32

    @nn.compact
    def __call__(
        self, vectors: jax.Array, keys: jax.Array | None = None
    ) -> tuple[jax.Array, jax.Array]:
        keys = vectors if keys is None else keys
        if keys.shape[:2] != vectors.shape[:2]:
            raise ValueError(
                f"AttCell keys {keys.shape} and vectors {vectors.shape} differ in [N, P]"
            )
        scores = nn.Dense(1, dtype=self.dtype, param_dtype=jnp.float32, name="score")(keys)
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
      clip_caffe_pooling: the clip stream's C3D pools with Caffe's ceil rule (7x7 pool5 at
        224, Sec. IV; True) or mmaction2's padded pool5 (8x8 at 224); ignored by VGG.
      vgg_batch_norm: the frame and flow streams are VGG-16 with BatchNorm (torchvision's
        ``vgg16_bn``) instead of the paper's plain VGG-16; not in the paper, for training
        from scratch (a plain VGG-16 rarely leaves chance without ImageNet weights).
    """

    stream: str
    base_width: int = 64
    conv6_features: int = 1024
    clip_caffe_pooling: bool = True
    vgg_batch_norm: bool = False
    dtype: Dtype = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> tuple[jax.Array, jax.Array]:
        """``[N, H, W, C']`` or ``[N, T, H, W, C]`` -> ([N, conv6_features], [N, K, K])."""
        constructor, is_3d = STREAMS[self.stream]
        options = {"caffe_pooling": self.clip_caffe_pooling} if is_3d else {}
        if self.vgg_batch_norm and not is_3d:
            constructor = vgg.vgg16_bn
        backbone = constructor(
            num_classes=None,
            base_width=self.base_width,
            dtype=self.dtype,
            name="backbone",
            **options,
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
      conv6_features, lstm_features: 1024 in the paper (Sec. IV).
      fusion: 'early' (concatenate the streams, one LSTM, Eq. 6) or 'late' (one LSTM,
        temporal attention and classifier per stream, scores summed with
        ``late_weights``, Sec. V-C).
      late_weights: per-stream weights of late fusion (default: equal; not published).
      dropout_rate: before the classifier (Sec. IV names the layer, not its rate).
      clip_caffe_pooling: C3D's pooling in the clip stream (see ``SpatialStream``).
      vgg_batch_norm: VGG-16 with BatchNorm in the frame and flow streams (not in the
        paper; see ``SpatialStream``).

    The classifier ``fc`` reads the Eq. 8 video representation: ``M * conv6_features``
    wide in early fusion, ``conv6_features`` per stream in late fusion.
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
    clip_caffe_pooling: bool = True
    vgg_batch_norm: bool = False
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

    def _temporal_head(self, segments: jax.Array, train: bool, prefix: str):
        """Segment representations f_att^t ``[B, K, D]`` -> (logits [B, N], beta [B, K]).

        The LSTM runs over f_att^t; the temporal AttCell scores its outputs h^t (Eq. 7)
        and pools f_att^t with those weights (Eq. 8); dropout; the classifier.
        """
        segments = segments.astype(jnp.float32)
        lstm = nn.RNN(nn.OptimizedLSTMCell(self.lstm_features, name=f"{prefix}lstm_cell"))
        hidden = lstm(segments)  # h^t: [B, K, lstm_features]
        pooled, weights = AttCell(dtype=self.dtype, name=f"{prefix}temporal_attention")(
            segments, keys=hidden
        )
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
                clip_caffe_pooling=self.clip_caffe_pooling,
                vgg_batch_norm=self.vgg_batch_norm,
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
