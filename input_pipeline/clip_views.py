"""The test views of decoded frames in numpy: no TensorFlow, the pipeline's numbers.

`pipeline.preprocess_example(..., training=False)` makes a video's test views inside a
tf.data graph. Inference on a clip held in memory (a notebook, a service, another
project) should not need TensorFlow, yet must feed the model exactly what evaluation
feeds it. This module computes the same views from frames already decoded:

  sample (`frame_indices`: the segment centres of TSN testing, mmaction2's test
  clips, regular strides, windows, one snippet a second) -> resize and crop
  (`eval_transform`: centre, three or ten crops) -> normalize -> RGB difference.

Every step follows the TensorFlow op it mirrors in float32, operation for operation,
so the result is bit for bit the pipeline's: `resize` reproduces
`tf.image.resize(..., 'bilinear', antialias=True)` (separable triangle kernel, rows
then columns, float32 accumulation in span order), and the index arithmetic uses the
pipeline's float32 / float64 / integer steps. tests/test_clip_views.py runs both on
the same frames over the test protocols and compares them with `np.array_equal`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sized

import ml_collections
import numpy as np

from tsn_jax import spec

_F32 = np.float32

# The frames of one dataset feature ('video', 'flow_x', ...) at given indices:
# (feature, [N] int indices) -> [N, H, W, C] uint8.
ReadFrames = Callable[[str, np.ndarray], np.ndarray]


@dataclasses.dataclass(frozen=True)
class VideoFrames:
    """A video's frames by dataset feature, its frame rate, and how to read the frames.

    frames: 'video' [F, H, W, 3] uint8 for RGB and RGB difference, 'flow_x' / 'flow_y'
      (or 'warp_x' / 'warp_y') [F', H, W] or [F', H, W, 1] uint8 quantized flow planes
      for the flow modalities; with `read`, anything with a length per feature (only
      the sampled frames are read, e.g. a stored video's JPEGs).
    fps: the frame rate, needed by eval.sampling 'per_second'.
    read: the frames of a feature at given indices; None indexes the arrays.
    """

    frames: Mapping[str, Sized]
    fps: float | None = None
    read: ReadFrames | None = None

    def read_frames(self, feature: str, indices: np.ndarray) -> np.ndarray:
        """[N, H, W, C] uint8 frames of `feature` at `indices`."""
        if self.read is not None:
            return self.read(feature, indices)
        planes = np.asarray(self.frames[feature])
        return planes[indices] if planes.ndim == 4 else planes[indices][..., None]


# --- Sampling (input_pipeline/sampling.py, evaluation branches) ---------------------------


def _offsets(frames_per_snippet: int, frame_interval: float) -> np.ndarray:
    """[T] frame offsets inside a snippet: floor(t * interval) in float32."""
    t = np.arange(frames_per_snippet, dtype=_F32)
    return np.floor(t * _F32(frame_interval)).astype(np.int64)


def _num_starts(num_frames: int, frames_per_snippet: int, frame_interval: float) -> int:
    span = int(_offsets(frames_per_snippet, frame_interval)[-1]) + 1
    return max(num_frames - span + 1, 1)


def snippet_frame_indices(
    starts: np.ndarray,
    frames_per_snippet: int,
    num_frames: int,
    short_video: str,
    frame_interval: float = 1,
) -> np.ndarray:
    """[K * T] indices of the snippets starting at `starts` (`sampling.snippet_frame_indices`)."""
    if short_video not in spec.SHORT_VIDEO_MODES:
        raise ValueError(
            f"short_video must be one of {spec.SHORT_VIDEO_MODES}, got {short_video!r}"
        )
    indices = np.asarray(starts, np.int64)[:, None] + _offsets(frames_per_snippet, frame_interval)
    if short_video == "clamp":
        indices = np.minimum(indices, num_frames - 1)
    elif short_video == "repeat_last":
        inside = indices < num_frames
        last = np.max(np.where(inside, indices, 0), axis=1, keepdims=True)
        indices = np.where(inside, indices, last)
    else:
        indices = np.mod(indices, num_frames)
    return indices.reshape(-1)


def tsn_test_starts(
    num_frames: int,
    num_segments: int,
    frames_per_snippet: int,
    frame_interval: float = 1,
    at_start: bool = False,
) -> np.ndarray:
    """[K] starts at the centres of K equal segments (TSN TPAMI Sec. 3.2 / 4.1), or at their
    first admissible starts with `at_start` (`sampling.tsn_eval_starts`)."""
    num_starts = _num_starts(num_frames, frames_per_snippet, frame_interval)
    halves = 2 * np.arange(num_segments, dtype=np.int64) + (0 if at_start else 1)
    return halves * num_starts // (2 * num_segments)


def mmaction2_test_starts(
    num_frames: int,
    num_clips: int,
    frames_per_snippet: int,
    frame_interval: int = 1,
    second_set: bool = False,
) -> np.ndarray:
    """[M] starts of mmaction2 1.2's test clips (`sampling.mmaction2_test_starts`)."""
    if frames_per_snippet == 1:
        segment = float(num_frames) / float(num_clips)
        starts = np.arange(num_clips, dtype=np.float64) * segment
        return (starts if second_set else starts + segment / 2.0).astype(np.int64)
    if not isinstance(frame_interval, int):
        raise ValueError(f"mmaction2 clips need an integer frame_interval, got {frame_interval}")
    span = (frames_per_snippet - 1) * frame_interval + 1
    last_start = max(num_frames - span, 0)
    if num_clips == 1:
        if second_set:
            raise ValueError("mmaction2's twice_sample of dense clips needs more than one clip")
        return np.array([last_start // 2])
    between = float(last_start) / float(num_clips - 1)
    first = num_clips if second_set else 0
    k = np.arange(first, first + num_clips, dtype=np.float64)
    return np.round(k * between).astype(np.int64)


def regular_test_starts(
    num_frames: int,
    num_snippets: int,
    frames_per_snippet: int,
    snippet_stride: int,
    frame_interval: float,
) -> np.ndarray:
    """[K] starts `snippet_stride` apart, the group centred in the video (TSN TPAMI Sec.
    5.2's regular sampling; `sampling.regular_starts` without a seed)."""
    if snippet_stride < 1:
        raise ValueError(f"snippet_stride must be >= 1, got {snippet_stride}")
    snippet_span = int(_offsets(frames_per_snippet, frame_interval)[-1]) + 1
    span = (num_snippets - 1) * snippet_stride + snippet_span
    num_starts = max(num_frames - span + 1, 1)
    return (num_starts - 1) // 2 + np.arange(num_snippets, dtype=np.int64) * snippet_stride


def per_second_starts(num_frames: int, fps: float, snippets_per_second: float = 1.0) -> np.ndarray:
    """[N] starts of one snippet every 1 / rate seconds (TSN TPAMI Sec. 4.2;
    `sampling.per_second_starts`), N = ceil(num_frames * rate / fps)."""
    period = _F32(fps) / _F32(snippets_per_second)
    if not period > 0:
        raise ValueError("per-second sampling needs the video's frame rate")
    count = max(int(np.ceil(_F32(num_frames) / period)), 1)
    starts = np.floor(np.arange(count, dtype=_F32) * period).astype(np.int64)
    return np.minimum(starts, num_frames - 1)


def window_frame_indices(num_frames: int, window: int) -> np.ndarray:
    """[N, window] indices of consecutive windows, the last one loop padded within itself
    (Hara et al.'s test clips; `sampling.window_frame_indices`)."""
    num_frames = max(num_frames, 1)
    starts = np.arange(0, num_frames, window, dtype=np.int64)
    available = np.minimum(num_frames - starts, window)
    return starts[:, None] + np.mod(np.arange(window)[None, :], available[:, None])


def frame_indices(
    num_frames: int,
    fps: float | None,
    *,
    frames_read: int,
    num_segments: int,
    data_config: ml_collections.ConfigDict,
    eval_config: ml_collections.ConfigDict,
    second_set: bool = False,
) -> np.ndarray:
    """[N * T] indices of one set of test views, as `pipeline.modality_inputs` samples them.

    Args:
      num_frames: frames (or flow fields) of the modality in the video (> 0).
      fps: the video's frame rate (needed by eval.sampling 'per_second').
      frames_read: frames read per snippet (`spec.frames_to_sample`).
      num_segments: K of a 'segments' test.
      data_config, eval_config: config.data, config.eval.
      second_set: the second set of `twice_sample`.
    """
    interval = data_config.frame_interval
    if eval_config.sampling == "windows":
        if interval != 1:
            raise ValueError(
                "eval.sampling='windows' reads consecutive frames; frame_interval="
                f"{interval} is not implemented for it"
            )
        return window_frame_indices(num_frames, frames_read).reshape(-1)
    if eval_config.sampling == "per_second":
        if fps is None:
            raise ValueError("eval.sampling='per_second' needs the video's frame rate")
        starts = per_second_starts(num_frames, fps, eval_config.snippets_per_second)
    elif eval_config.sampling != "segments":
        raise ValueError(f"unknown eval.sampling {eval_config.sampling!r}")
    elif data_config.clip_sampling == "mmaction2":
        starts = mmaction2_test_starts(num_frames, num_segments, frames_read, interval, second_set)
    elif data_config.snippet_stride:
        if second_set:
            raise ValueError("regular sampling has no segments: twice_sample is not defined")
        starts = regular_test_starts(
            num_frames, num_segments, frames_read, data_config.snippet_stride, interval
        )
    else:
        starts = tsn_test_starts(num_frames, num_segments, frames_read, interval, second_set)
    return snippet_frame_indices(starts, frames_read, num_frames, data_config.short_video, interval)


# --- Spatial transforms (input_pipeline/transforms.py, evaluation branches) ---------------


def _resize_axis(frames: np.ndarray, axis: int, out_size: int) -> np.ndarray:
    """Antialiased linear resampling of one axis, float32, as TensorFlow's ScaleAndTranslate.

    The triangle kernel is widened by the inverse scale when shrinking; each output is
    the normalized weighted sum of its span of inputs, accumulated in span order.
    """
    in_size = frames.shape[axis]
    scale = _F32(out_size) / _F32(in_size)
    inv_scale = _F32(1.0 / np.float64(scale))
    kernel_scale = max(inv_scale, _F32(1.0))
    span_size = min(2 * int(np.ceil(kernel_scale)) + 1, in_size)
    centres = (np.arange(out_size, dtype=_F32) + _F32(0.5)) * inv_scale
    starts = np.clip(np.ceil(centres - kernel_scale - _F32(0.5)).astype(np.int64), 0, in_size - 1)
    ends = np.clip(np.floor(centres + kernel_scale - _F32(0.5)).astype(np.int64), 0, in_size - 1)
    ends = ends + 1
    weights = np.zeros((out_size, span_size), _F32)
    total = np.zeros(out_size, _F32)
    for p in range(span_size):
        source = starts + p
        distance = np.abs(
            ((source.astype(_F32) + _F32(0.5)) - centres) * (_F32(1.0) / kernel_scale)
        )
        weight = np.where((source < ends) & (distance < 1), _F32(1.0) - distance, _F32(0.0))
        weights[:, p] = weight
        total = total + weight.astype(_F32)
    weights = weights * (_F32(1.0) / total)[:, None]
    moved = np.moveaxis(frames, axis, 0)
    out = np.zeros((out_size, *moved.shape[1:]), _F32)
    shape = (out_size,) + (1,) * (moved.ndim - 1)
    for p in range(span_size):
        rows = moved[np.minimum(starts + p, in_size - 1)].astype(_F32)
        out = out + weights[:, p].reshape(shape) * rows
    return np.moveaxis(out, 0, axis)


def resize(frames: np.ndarray, height: int, width: int) -> np.ndarray:
    """[N, H, W, C] -> float32 [N, height, width, C], bit for bit `transforms.resize`."""
    return _resize_axis(_resize_axis(frames, 1, height), 2, width)


def resize_short_side(frames: np.ndarray, short_side: int) -> np.ndarray:
    """Resizes [N, H, W, C] so that min(H, W) == short_side (`transforms.resize_short_side`)."""
    height, width = _F32(frames.shape[1]), _F32(frames.shape[2])
    ratio = _F32(short_side) / min(height, width)
    return resize(frames, int(np.round(height * ratio)), int(np.round(width * ratio)))


def invert_flow_x(frames: np.ndarray) -> np.ndarray:
    """Quantized flow [..., 2]: x -> 255 - x, what a mirror does to motion."""
    frames = frames.astype(_F32)
    return np.concatenate([_F32(255.0) - frames[..., :1], frames[..., 1:]], axis=-1)


def flip_left_right(frames: np.ndarray, flow: bool = False) -> np.ndarray:
    """Mirrors [N, H, W, C] frames; for flow also negates x."""
    flipped = frames[:, :, ::-1]
    return invert_flow_x(flipped) if flow else flipped


def eval_crop_boxes(
    height: int, width: int, size: int, crops: str
) -> list[tuple[tuple[int, int, int, int], bool]]:
    """The (box (y, x, h, w), mirrored) test crops of `transforms.eval_crop_boxes`: the
    centre; three along the long side; TSN's 4 corners + centre and their mirrors."""
    if crops not in spec.EVAL_CROPS:
        raise ValueError(f"eval crops must be one of {tuple(spec.EVAL_CROPS)}, got {crops!r}")
    free_y, free_x = height - size, width - size
    if crops == "centre":
        return [((free_y // 2, free_x // 2, size, size), False)]
    if crops == "three":
        landscape = width >= height
        return [
            (
                (
                    free_y // 2 if landscape else i * (free_y // 2),
                    i * (free_x // 2) if landscape else free_x // 2,
                    size,
                    size,
                ),
                False,
            )
            for i in range(3)
        ]
    boxes = [
        (gy * (free_y // 4), gx * (free_x // 4), size, size)
        for gx, gy in spec.CORNER_AND_CENTRE_POSITIONS
    ]
    return [(box, False) for box in boxes] + [(box, True) for box in boxes]


def eval_transform(
    frames: np.ndarray, *, resize_short: int, crop_size: int, crops: str, flow: bool
) -> np.ndarray:
    """[N, H, W, C] uint8 -> [V, N, crop_size, crop_size, C] float32 test crops in [0, 255]
    (`transforms.eval_transform`: resize the short side then crop, or with `resize_short`
    0 crop squares of the full short side and resize each)."""
    if resize_short:
        frames = resize_short_side(frames, resize_short)
    height, width = frames.shape[1:3]
    side = crop_size if resize_short else min(height, width)
    views = []
    for (y, x, h, w), mirrored in eval_crop_boxes(height, width, side, crops):
        view = frames[:, y : y + h, x : x + w]
        if not resize_short:
            view = resize(view, crop_size, crop_size)
        views.append(flip_left_right(view, flow) if mirrored else view)
    return np.stack(views).astype(_F32)


# --- One modality, one video ----------------------------------------------------------------


def modality_views(
    read: ReadFrames,
    num_frames: int,
    fps: float | None,
    modality: str,
    frames_per_snippet: int,
    *,
    data_config: ml_collections.ConfigDict,
    eval_config: ml_collections.ConfigDict,
) -> np.ndarray:
    """The test views of one modality: [V, K, T, S, S, C] float32 normalized.

    The evaluation branch of `pipeline.modality_inputs`, always with the view axis (V = 1
    for one view). For a whole-video test (eval.sampling 'windows' / 'per_second') K = 1
    and the views are crop-major over the windows or seconds.

    Args:
      read: the frames of a feature at given indices (`ReadFrames`).
      num_frames: frames (or flow fields) of the modality in the video.
      fps: the video's frame rate, for 'per_second'.
      modality: one of spec.MODALITIES.
      frames_per_snippet: T of the modality.
    """
    whole_video = eval_config.sampling != "segments"
    num_segments = 1 if whole_video else eval_config.num_segments or data_config.num_segments
    frames_read = spec.frames_to_sample(modality, frames_per_snippet)
    flow = spec.is_flow(modality)
    sets = (False, True) if eval_config.twice_sample and not whole_video else (False,)
    views = []
    for second_set in sets:
        indices = frame_indices(
            num_frames,
            fps,
            frames_read=frames_read,
            num_segments=num_segments,
            data_config=data_config,
            eval_config=eval_config,
            second_set=second_set,
        )
        planes = [read(feature, indices) for feature in spec.features(modality)]
        frames = planes[0] if len(planes) == 1 else np.concatenate(planes, axis=-1)
        views.append(
            eval_transform(
                frames,
                resize_short=eval_config.resize_short,
                crop_size=data_config.crop_size,
                crops=eval_config.crops,
                flow=flow,
            )
        )
    mean, std = spec.normalization(data_config, modality)
    frames = (np.concatenate(views) - np.asarray(mean, _F32)) / np.asarray(std, _F32)
    size, channels = data_config.crop_size, spec.channels_per_frame(modality)
    inputs = frames.reshape(-1, num_segments, frames_read, size, size, channels)
    if modality == "rgb_diff":
        differences = inputs[:, :, 1:] - inputs[:, :, :-1]
        if data_config.rgb_diff_keep_rgb:
            differences = np.concatenate([inputs[:, :, :1], differences], axis=2)
        inputs = differences
    return inputs


def clip_views(video: VideoFrames, config: ml_collections.ConfigDict) -> dict[str, np.ndarray]:
    """A video's test views under `config`, without TensorFlow.

    Args:
      video: the decoded (or readable) frames of every feature the run reads.
      config: the run's config (data.*, eval.*).

    Returns:
      {'inputs': [V, K, T, S, S, C] float32, 'inputs_<modality>' for each of
      data.extra_modalities}: the rows `pipeline.create_view_dataset` gives the video.

    Raises:
      ValueError: a feature the run reads is missing; 'per_second' without a frame rate.
    """
    data, eval_config = config.data, config.eval
    streams = [("inputs", data.modality, data.frames_per_snippet)]
    for entry in data.extra_modalities:
        name, count = spec.parse_extra_modality(entry, data.frames_per_snippet)
        streams.append((f"inputs_{name}", name, count))
    needed = {feature for _, modality, _ in streams for feature in spec.features(modality)}
    missing = sorted(needed - set(video.frames))
    if missing:
        raise ValueError(
            f"the run reads the {missing} frames, which were not given "
            f"(have {sorted(video.frames)})"
        )
    return {
        key: modality_views(
            video.read_frames,
            len(video.frames[spec.features(modality)[0]]),
            video.fps,
            modality,
            count,
            data_config=data,
            eval_config=eval_config,
        )
        for key, modality, count in streams
    }
