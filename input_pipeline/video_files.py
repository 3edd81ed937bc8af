"""A video file as its run's dataset would store it, for prediction (TensorFlow decodes).

`tsn-jax-predict` and `Predictor.predict` on a path read the file through the same
storage as a dataset build (`dataset.short_side` / `size`, `fps`, optical flow when
the model reads it, JPEG at the build's quality) and decode the sampled JPEGs with
the pipeline's decoder, so a file of the test split gets the views, and the scores,
that its evaluation gave it.
"""

from __future__ import annotations

import ml_collections
import numpy as np
import tensorflow as tf

from input_pipeline import datasets
from input_pipeline.clip_views import VideoFrames
from input_pipeline.datasets.video_decode import VideoDecodeError
from input_pipeline.datasets.video_folder import encode_video_file
from tsn_jax import spec


def stored_video(path: str, config: ml_collections.ConfigDict) -> VideoFrames:
    """A video file's frames as its run's dataset stores them.

    Args:
      path: any file PyAV decodes.
      config: the run's config (dataset.* says how its videos were stored; data.* which
        modalities, and so whether flow is computed).

    Returns:
      frames {'video': [F] JPEG bytes, and 'flow_x', ... when the run reads flow}, the
      stored frame rate, and a reader that decodes the frames asked for (TensorFlow's
      JPEG decoder, as `modalities.decode_frames`).

    Raises:
      ValueError: the file cannot be decoded or has no frames; the run reads flow
        stored in frame folders, which a file does not have.
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

    def read(feature: str, indices: np.ndarray) -> np.ndarray:
        unique, positions = np.unique(indices, return_inverse=True)  # each JPEG once
        decoded = [tf.io.decode_jpeg(planes[feature][i]).numpy() for i in unique]
        return np.stack(decoded)[positions]

    return VideoFrames(planes, fps, read)
