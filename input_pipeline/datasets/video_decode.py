"""Decodes a video file into RGB frames with PyAV, one frame at a time.

Used at dataset-build time only: the training pipeline never sees a video
file, it reads the JPEG frames that the builders store in TFDS.
"""

from __future__ import annotations

import fractions
import os

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


def decode_video(path: str, short_side: int | None) -> tuple[np.ndarray, float]:
    """Decodes every frame of a video file to RGB.

    Frames are pulled from the decoder and resized one at a time, so memory
    holds at most one full-resolution frame besides the resized output.

    Args:
      path: a video file FFmpeg can read (mp4, avi, mkv, webm, ...).
      short_side: length of the shorter side of the returned frames (the
        aspect ratio is kept), or None to keep the decoded size.

    Returns:
      (frames, fps): frames is a [T, H, W, 3] uint8 array in RGB order (a
      grayscale source is expanded to 3 equal channels), fps the frame rate as
      a float (0.0 when the file does not say).

    Raises:
      VideoDecodeError: the file is missing, empty, not a media file, has no
        video stream, or yields no decodable frame.
    """
    if not os.path.isfile(path):
        raise VideoDecodeError(f"file does not exist: {path}")
    if os.path.getsize(path) == 0:
        raise VideoDecodeError("file is empty (0 bytes)")
    try:
        container = av.open(path, mode="r")
    except (av.FFmpegError, OSError, ValueError) as e:
        raise VideoDecodeError(f"cannot open as a media file: {e}") from e

    with container:
        if not container.streams.video:
            kinds = sorted({s.type for s in container.streams}) or ["none"]
            raise VideoDecodeError(f"no video stream (streams found: {', '.join(kinds)})")
        stream = container.streams.video[0]
        frames: list[np.ndarray] = []
        pts_seconds: list[float] = []
        try:
            for frame in container.decode(stream):
                height, width = resized_shape(frame.height, frame.width, short_side)
                # One swscale call converts to RGB and resizes. AREA averages
                # source pixels when shrinking (no aliasing); BICUBIC when growing.
                shrinking = height * width < frame.height * frame.width
                frames.append(
                    frame.to_ndarray(
                        format="rgb24",
                        width=width,
                        height=height,
                        interpolation="AREA" if shrinking else "BICUBIC",
                    )
                )
                if frame.time is not None:
                    pts_seconds.append(float(frame.time))
        except (av.FFmpegError, OSError, ValueError) as e:
            # A truncated file often decodes fine up to the damage: keep what came
            # out, but a file with nothing usable is an error.
            if not frames:
                raise VideoDecodeError(f"no decodable frame: {e}") from e
            logging.warning("%s: decoding stopped after %d frames: %s", path, len(frames), e)
        if not frames:
            raise VideoDecodeError("the video stream has zero decodable frames")
        fps = _frame_rate(stream, pts_seconds)
    return np.stack(frames), fps
