"""Inference with a trained run: load its config and class names, score video files.

`Predictor` holds a run's compiled model and scores a video file (`video_example`)
under the run's own test protocol (the same views and fusion as `main.py
--mode=eval`, `tsn_jax.scoring`), or one centre-cropped snippet a second for a
timeline. The file is stored as the run's dataset stores its videos and its views
come from `input_pipeline` (TensorFlow), as in evaluation.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import tensorflow as tf

from input_pipeline import datasets, pipeline
from input_pipeline.datasets.video_decode import VideoDecodeError
from input_pipeline.datasets.video_folder import encode_video_file
from tsn_jax import metrics, pretrained, scoring, spec
from tsn_jax.models import create_model


def video_example(path: str, config) -> dict[str, Any]:
    """The file as a dataset example: JPEG frames (and flow planes) as tf tensors.

    Raises:
      ValueError: the file cannot be decoded (the decoder's reason included).
    """
    storage = datasets.storage_options(config.dataset)
    if storage["flow_method"] == "stored":
        raise ValueError(
            "the run read flow stored in raw-frame folders (flow_method='stored'); give "
            "--config with dataset.flow_method set to tvl1, farneback or dis to compute it"
        )
    names = [config.data.modality]
    names += [spec.parse_extra_modality(s, 1)[0] for s in config.data.extra_modalities]
    if not any(spec.is_flow(m) for m in names):
        storage.update(flow_method=None, flow_types=())
    try:
        planes, fps, _ = encode_video_file(path, **storage)
    except VideoDecodeError as error:
        raise ValueError(f"cannot read {path}: {error}") from error
    if not planes["video"]:
        raise ValueError(f"{path} has no video frames")
    example = {key: tf.constant(value, tf.string) for key, value in planes.items()}
    example["fps"] = tf.constant(fps, tf.float32)
    example["num_frames"] = tf.constant(len(planes["video"]), tf.int32)
    example["label"] = tf.constant(0, tf.int64)
    example["video_id"] = tf.constant(os.path.basename(path))
    return example


def views(example: dict[str, Any], config) -> dict[str, Any]:
    """{'inputs*': [V, K, T, S, S, C]} test views of an example under `config`."""
    sample = pipeline.preprocess_example(
        example, data_config=config.data, training=False, eval_config=config.eval
    )
    inputs = {k: v.numpy() for k, v in sample.items() if k.startswith("inputs")}
    if inputs["inputs"].ndim == 5:
        inputs = {k: v[None] for k, v in inputs.items()}
    return inputs


def score_rows(apply, inputs: dict[str, Any], batch_size: int):
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


class Predictor:
    """A trained run ready to score files: config, class names, compiled model."""

    def __init__(self, config, class_names: tuple[str, ...], checkpoint_dir: str):
        self.config = config
        self.class_names = class_names
        self.model = create_model(config.model, len(class_names), config.data.num_segments)
        self.variables = pretrained.load_checkpoint(checkpoint_dir)
        self.apply = scoring.compile_apply(self.model, self.variables)
        self.batch_size = config.eval.batch_size

    def scores(self, example: dict[str, Any]):
        """(video scores [N], view logits [V, N]) under the config's test protocol."""
        view_logits = score_rows(self.apply, views(example, self.config), self.batch_size)
        return scoring.aggregate_views(view_logits, self.config), view_logits

    def per_second(self, example: dict[str, Any]):
        """[S, N] class probabilities of the video's seconds, one centre-cropped snippet a
        second; a model that mixes K segments (TSM, TAM) scores second s with the window
        of K consecutive snippets centred on it (`sliding_windows`)."""
        config = self.config.copy_and_resolve_references()
        config.eval.sampling = "per_second"
        config.eval.crops = "centre"
        inputs = views(example, config)  # one snippet a row: [S, 1, T, H, W, C]
        backbone = getattr(self.model, "backbone", None)
        if getattr(backbone, "mixes_segments", False):
            inputs = {k: sliding_windows(v, backbone.num_segments) for k, v in inputs.items()}
        return metrics.softmax(score_rows(self.apply, inputs, self.batch_size))


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
