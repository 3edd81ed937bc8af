"""Inference with a trained run: a video file or a clip in memory through its test protocol.

    predictor = inference.load_predictor("runs/default")     # tsn_jax.load_run + compile
    result = predictor.predict("clip.mp4")                   # or a [F, H, W, 3] uint8 array
    result["top"]   # [(class name, probability), ...]

The views are the run's own test views (`eval.sampling`, segments, crops; the same
fusion as `main.py --mode=eval`, `tsn_jax.scoring`), made in numpy by
`input_pipeline.clip_views`, bit for bit what the tf.data pipeline makes. A clip
given as an array never loads TensorFlow. A file path is first stored as the run's
dataset stores its videos (`input_pipeline.video_files`: resized, JPEG-encoded, with
optical flow when the model reads it; TensorFlow decodes the JPEGs), so a file of the
test split gets the scores its evaluation gave it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import flax.linen as nn
import ml_collections
import numpy as np

from input_pipeline import clip_views
from tsn_jax import metrics, runs, scoring
from tsn_jax.models import create_model

# A video given to a `Predictor`: a file path, RGB frames [F, H, W, 3] uint8, or frames
# by dataset feature (`clip_views.VideoFrames`, e.g. a file already read once).
Video = str | np.ndarray | clip_views.VideoFrames


def score_rows(apply, inputs: Mapping[str, np.ndarray], batch_size: int) -> np.ndarray:
    """[V, N] logits of V view rows, scored `batch_size` rows at a time (last one padded)."""
    total = len(inputs["inputs"])
    out = []
    for start in range(0, total, batch_size):
        chunk = {k: v[start : start + batch_size] for k, v in inputs.items()}
        rows = len(chunk["inputs"])
        chunk = {
            k: np.concatenate([v, np.zeros((batch_size - rows, *v.shape[1:]), v.dtype)])
            for k, v in chunk.items()
        }
        out.append(np.asarray(apply(chunk))[:rows])
    return np.concatenate(out)


def sliding_windows(snippets: np.ndarray, k: int) -> np.ndarray:
    """[S, 1, ...] snippets (one a second) -> [S, K, ...]: row s holds snippets s - K // 2
    .. s - K // 2 + K - 1, the first and last repeated at the ends of the video."""
    count = len(snippets)
    index = np.arange(count)[:, None] + np.arange(k)[None, :] - k // 2
    return snippets[np.clip(index, 0, count - 1), 0]


def top_classes(scores, class_names: tuple[str, ...], k: int) -> list[tuple[str, float]]:
    """The k best (name, probability) pairs of video scores [N] (softmax)."""
    probs = metrics.softmax(scores)
    order = metrics.ranking(probs, k)
    return [(class_names[i], float(probs[i])) for i in order]


class Predictor:
    """A trained run ready to score videos: config, class names, compiled model."""

    def __init__(
        self,
        config: ml_collections.ConfigDict,
        class_names: tuple[str, ...],
        variables: Mapping[str, Any],
        model: nn.Module | None = None,
    ):
        """`variables`: {'params', 'batch_stats'} of the model `config.model` builds (or
        `model`, when the caller has it already)."""
        self.config = config
        self.class_names = tuple(class_names)
        self.model = model or create_model(config.model, len(class_names), config.data.num_segments)
        self.variables = variables
        self.apply = scoring.compile_apply(self.model, variables)
        self.batch_size = config.eval.batch_size

    def read(self, video: Video, fps: float | None = None) -> clip_views.VideoFrames:
        """The frames of a path (stored as the run's dataset stores videos), an array or
        `VideoFrames`; read a file once and pass the result to several calls."""
        if isinstance(video, clip_views.VideoFrames):
            return video
        if isinstance(video, str):
            # Only a file needs TensorFlow (its JPEG storage); arrays never load it.
            from input_pipeline import video_files

            return video_files.stored_video(video, self.config)
        video = np.asarray(video)
        if video.ndim != 4 or video.shape[-1] != 3 or video.dtype != np.uint8:
            raise ValueError(
                f"a clip is RGB frames [F, H, W, 3] uint8, got {video.dtype} {video.shape}"
            )
        return clip_views.VideoFrames({"video": video}, fps)

    def scores(self, video: Video, fps: float | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(video scores [N], view logits [V, N]) under the config's test protocol.

        Args:
          video: a file path, RGB frames [F, H, W, 3] uint8 (the whole video: the
            protocol samples its snippets), or frames by dataset feature.
          fps: the frames' rate (arrays only; needed by eval.sampling 'per_second').
        """
        views = clip_views.clip_views(self.read(video, fps), self.config)
        view_logits = score_rows(self.apply, views, self.batch_size)
        return scoring.aggregate_views(view_logits, self.config), view_logits

    def per_second(self, video: Video, fps: float | None = None) -> np.ndarray:
        """[S, N] class probabilities of the video's seconds, one centre-cropped snippet a
        second; a model that mixes K segments (TSM, TAM) scores second s with the window
        of K consecutive snippets centred on it (`sliding_windows`).

        Args: as `scores`; `fps` is required for an array.
        """
        config = self.config.copy_and_resolve_references()
        config.eval.sampling = "per_second"
        config.eval.crops = "centre"
        inputs = clip_views.clip_views(self.read(video, fps), config)  # [S, 1, T, H, W, C]
        backbone = getattr(self.model, "backbone", None)
        if getattr(backbone, "mixes_segments", False):
            inputs = {k: sliding_windows(v, backbone.num_segments) for k, v in inputs.items()}
        return metrics.softmax(score_rows(self.apply, inputs, self.batch_size))

    def predict(self, video: Video, fps: float | None = None, top: int = 5) -> dict[str, Any]:
        """{'top': [(class, probability)] best first, 'scores' [N], 'view_logits' [V, N]}."""
        scores, view_logits = self.scores(video, fps)
        return {
            "top": top_classes(scores, self.class_names, top),
            "scores": scores,
            "view_logits": view_logits,
        }


def load_predictor(path: str) -> Predictor:
    """The run at `path` (a workdir, a checkpoint step, or an export; `runs.load_run`)."""
    model, variables, config, class_names = runs.load_run(path)
    return Predictor(config, class_names, variables, model)
