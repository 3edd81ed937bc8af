"""Decodes a video file into RGB frames with PyAV, one frame at a time.

Used at dataset-build time only: the training pipeline never sees a video
file, it reads the JPEG frames that the builders store in TFDS.
"""

from __future__ import annotations

import fractions
import math
import os
from collections.abc import Iterator

import av
import numpy as np
from absl import logging


class VideoDecodeError(Exception):
    """A video file could not be turned into frames; the message says why."""


def resized_shape(height: int, width: int, short_side: int | None) -> tuple[int, int]:
    """Returns the (height, width) that makes the shorter side `short_side`.

    Args:
      height: source height in pixels.
      width: source width in pixels.
      short_side: target length of the shorter side, or None to keep the size.

    Returns:
      (new_height, new_width), the longer side scaled by the same factor and
      rounded to the nearest integer (halves round up), never below 1.
    """
    if short_side is None:
        return height, width
    if short_side <= 0:
        raise ValueError(f"short_side must be positive or None, got {short_side}")
    short, long_ = min(height, width), max(height, width)
    # int(x + 0.5) rather than round(): Python rounds halves to even, which
    # would make 320x240 -> short side 80 depend on floating point luck.
    new_long = max(1, int(long_ * short_side / short + 0.5))
    if height <= width:
        return short_side, new_long
    return new_long, short_side


def _frame_rate(stream: av.video.stream.VideoStream, pts_seconds: list[float]) -> float:
    """Returns the frame rate of `stream` in frames per second (0.0 if unknown).

    Containers disagree on where they store the rate, so this tries the
    average rate, then FFmpeg's guess, then the time between decoded frames.
    """
    for rate in (stream.average_rate, stream.guessed_rate, stream.base_rate):
        if rate and isinstance(rate, (fractions.Fraction, int, float)) and rate > 0:
            return float(rate)
    if len(pts_seconds) >= 2 and pts_seconds[-1] > pts_seconds[0]:
        return (len(pts_seconds) - 1) / (pts_seconds[-1] - pts_seconds[0])
    return 0.0


def kept_frame_indices(num_frames: int, source_fps: float, target_fps: float | None) -> np.ndarray:
    """Which of `num_frames` frames at `source_fps` survive subsampling to `target_fps`.

    Frame i is kept when it is the first frame at or after a sample time
    k / target_fps, i.e. when floor(i * target / source) steps up. Frames are
    dropped, never repeated: a target at or above the source rate keeps every
    frame (as do an unknown source rate and target None).

    Returns:
      [N] int64 increasing indices into the decoded frames.
    """
    if target_fps is not None and target_fps <= 0:
        raise ValueError(f"target_fps must be positive or None, got {target_fps}")
    if target_fps is None or source_fps <= 0 or target_fps >= source_fps:
        return np.arange(num_frames)
    return np.array([i for i in range(num_frames) if _is_kept(i, source_fps, target_fps)], np.int64)


def _is_kept(index: int, source_fps: float, target_fps: float) -> bool:
    """Whether frame `index` is kept when subsampling `source_fps` to `target_fps` < it."""
    ratio = target_fps / source_fps
    # The small epsilon keeps 30 fps -> 10 fps at exactly every third frame
    # although 1/3 is not representable.
    return index == 0 or math.floor(index * ratio + 1e-9) > math.floor((index - 1) * ratio + 1e-9)


def output_shape(
    height: int, width: int, short_side: int | None, size: tuple[int, int] | None
) -> tuple[int, int]:
    """(height, width) of stored frames: a fixed `size`, else the short side rule."""
    if size is not None:
        if short_side is not None:
            raise ValueError(f"give short_side or size, not both (got {short_side}, {size})")
        if len(size) != 2 or min(size) <= 0:
            raise ValueError(f"size must be (height, width) > 0, got {size}")
        return int(size[0]), int(size[1])
    return resized_shape(height, width, short_side)


class VideoReader:
    """Frames of a video file, decoded, upright and resized one at a time (a context manager).

    Usage:
      with VideoReader(path, short_side=256) as video:
          for frame in video:  # [H, W, 3] uint8 RGB
              ...
      video.fps

    Memory holds one full-resolution frame at a time, so a ten-minute video is
    never decoded whole. A video with a rotation in its display matrix (phone
    videos) is turned upright, as players show it; a grayscale source gives 3
    equal channels. Every frame has the size of the first: a stream whose
    resolution changes part way (a `.ts` that switches size) is resized to it.
    A file damaged part way keeps the frames before the damage. Both are
    recorded in `notes` (one line each, read after iterating), as is a stream
    that ends well short of the frame count its container declares.

    Args:
      path: a video file FFmpeg can read (mp4, avi, mkv, webm, ...).
      short_side: length of the shorter side of the frames (aspect ratio kept),
        or None to keep the decoded size.
      size: (height, width) of every frame instead of `short_side` (TSN stores
        340x256 frames: size=(256, 340)); the aspect ratio is not kept.
      target_fps: keep only the frames that subsample the video to this rate
        (e.g. 1 or 10 for long untrimmed videos; see `kept_frame_indices`);
        None keeps every frame. Needs the container's frame rate.

    Raises:
      ValueError: bad arguments (before anything is read).
      VideoDecodeError: the file is missing, empty, not a media file, has no
        video stream (on opening), or yields no decodable frame (when iterated).
    """

    def __init__(
        self,
        path: str,
        short_side: int | None = None,
        *,
        size: tuple[int, int] | None = None,
        target_fps: float | None = None,
    ):
        # Bad arguments are the caller's error, not the video's: raise them first.
        output_shape(1, 1, short_side, size)
        if target_fps is not None and target_fps <= 0:
            raise ValueError(f"target_fps must be positive or None, got {target_fps}")
        if os.path.isdir(path):
            raise VideoDecodeError(f"is a directory, not a video file: {path}")
        if not os.path.isfile(path):
            raise VideoDecodeError(f"file does not exist: {path}")
        if os.path.getsize(path) == 0:
            raise VideoDecodeError("file is empty (0 bytes)")
        try:
            self._container = av.open(path, mode="r")
        except (av.FFmpegError, OSError, ValueError) as e:
            raise VideoDecodeError(f"cannot open as a media file: {e}") from e
        if not self._container.streams.video:
            kinds = sorted({s.type for s in self._container.streams}) or ["none"]
            self._container.close()
            raise VideoDecodeError(f"no video stream (streams found: {', '.join(kinds)})")
        self.path = path
        self._stream = self._container.streams.video[0]
        self._short_side, self._size = short_side, size
        self._source_fps = _frame_rate(self._stream, [])
        self._subsample = (
            target_fps is not None and self._source_fps > 0 and target_fps < self._source_fps
        )
        self._target_fps = target_fps
        self._pts_seconds: list[float] = []
        # (height, width) of the first returned frame, which every later one takes.
        self._frame_shape: tuple[int, int] | None = None
        self.notes: list[str] = []

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *exc_info) -> None:
        self._container.close()

    @property
    def fps(self) -> float:
        """Frame rate of the returned frames (0.0 when unknown; read it after iterating)."""
        if self._subsample:
            return float(self._target_fps)
        return self._source_fps or _frame_rate(self._stream, self._pts_seconds)

    @property
    def expected_frames(self) -> int:
        """How many frames the iteration should return, from the container's declared count
        (and the subsampling to `target_fps`); 0 when the container does not say."""
        declared = self._declared_frames()
        if self._subsample:
            return len(kept_frame_indices(declared, self._source_fps, self._target_fps))
        return declared

    def __iter__(self) -> Iterator[np.ndarray]:
        num_decoded = num_returned = 0
        error = None
        source_shapes: set[tuple[int, int]] = set()
        try:
            for frame in self._container.decode(self._stream):
                index, num_decoded = num_decoded, num_decoded + 1
                if frame.time is not None:
                    self._pts_seconds.append(float(frame.time))
                if self._subsample and not _is_kept(index, self._source_fps, self._target_fps):
                    continue
                if source_shapes and (frame.height, frame.width) not in source_shapes:
                    self.notes.append(
                        f"the resolution changes at frame {index} to {frame.width}x"
                        f"{frame.height}; resized to the first frames' "
                        f"{self._frame_shape[1]}x{self._frame_shape[0]}"
                    )
                source_shapes.add((frame.height, frame.width))
                rgb = _convert(frame, self._short_side, self._size, self._frame_shape)
                self._frame_shape = self._frame_shape or rgb.shape[:2]
                num_returned += 1
                yield rgb
        except (av.FFmpegError, OSError, ValueError) as e:
            # A truncated file often decodes fine up to the damage: keep what came
            # out, but a file with nothing usable is an error.
            if not num_returned:
                raise VideoDecodeError(f"no decodable frame: {e}") from e
            error = e
        if not num_returned:
            raise VideoDecodeError("the video stream has zero decodable frames")
        declared = self._declared_frames()
        of_declared = f" of the {declared} its container declares" if declared else ""
        if error is not None:
            self.notes.append(f"decoding stopped after {num_decoded} frames{of_declared}: {error}")
        elif declared and num_decoded < 0.9 * declared:
            # Container counts and durations are approximate: only a clear shortfall is noted.
            self.notes.append(f"the file ends after {num_decoded} frames{of_declared}")
        for note in self.notes:
            logging.warning("%s: %s", self.path, note)

    def _declared_frames(self) -> int:
        """The frame count the container declares (its count, else duration x rate), or 0."""
        if self._stream.frames:
            return int(self._stream.frames)
        if self._container.duration and self._source_fps:
            return int(self._container.duration / av.time_base * self._source_fps + 0.5)
        return 0


def decode_video(
    path: str,
    short_side: int | None,
    *,
    size: tuple[int, int] | None = None,
    target_fps: float | None = None,
) -> tuple[np.ndarray, float]:
    """Decodes a whole video file (see `VideoReader` for the arguments and errors).

    Returns:
      (frames, fps): [T, H, W, 3] uint8 RGB frames and their frame rate (0.0
      when the file does not say).
    """
    with VideoReader(path, short_side, size=size, target_fps=target_fps) as video:
        frames = np.stack(list(video))
        return frames, video.fps


def _convert(
    frame: av.VideoFrame,
    short_side: int | None,
    size: tuple[int, int] | None,
    shape: tuple[int, int] | None = None,
) -> np.ndarray:
    """One decoded frame -> upright, resized RGB [H, W, 3] uint8.

    `shape`, when given, is the (height, width) of the output (upright), whatever the
    frame's own size; otherwise `short_side` / `size` decide it.
    """
    # Display-matrix rotation in degrees counterclockwise; np.rot90 uses the same sense.
    quarter_turns = round((frame.rotation or 0) / 90) % 4
    upright_h, upright_w = (
        (frame.width, frame.height) if quarter_turns % 2 else (frame.height, frame.width)
    )
    height, width = shape or output_shape(upright_h, upright_w, short_side, size)
    if quarter_turns % 2:
        height, width = width, height
    # One swscale call converts to RGB and resizes. AREA averages source
    # pixels when shrinking (no aliasing); BICUBIC when growing.
    shrinking = height * width < frame.height * frame.width
    rgb = frame.to_ndarray(
        format="rgb24",
        width=width,
        height=height,
        interpolation="AREA" if shrinking else "BICUBIC",
    )
    if quarter_turns:
        rgb = np.ascontiguousarray(np.rot90(rgb, quarter_turns))
    return rgb
