"""What every video dataset builder shares: JPEG frames, parallel ordered encoding, skip reports.

A builder lists (entry, encode function) pairs; `generate_examples` runs the
encodes a few at a time in threads, yields the usable examples in list order,
and reports every video it had to leave out with the reason, so one corrupt
file never ends a build.
"""

from __future__ import annotations

import collections
import concurrent.futures
import io
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

import numpy as np
import tensorflow_datasets as tfds
from absl import logging
from PIL import Image

from input_pipeline.datasets import optical_flow
from input_pipeline.datasets.video_decode import VideoDecodeError
from tsn_jax.progress import Progress

# Decoding threads, and how many videos may be decoded ahead of the writer:
# bounds memory to a handful of encoded videos.
NUM_WORKERS = 2
MAX_PENDING = 4

T = TypeVar("T")


def encode_jpeg(image: np.ndarray, quality: int) -> bytes:
    """JPEG bytes of one [H, W, 3] (or [H, W] grayscale) uint8 image."""
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def frame_features(flow_types: tuple[str, ...] = ()) -> dict[str, tfds.features.FeatureConnector]:
    """The frame features of a video example: 'video' RGB JPEGs plus x/y JPEG planes per flow type.

    Args:
      flow_types: e.g. ('flow',) or ('flow', 'warp'): adds '<type>_x' and
        '<type>_y', each [T - 1] one-channel JPEGs of flow quantized to [0, 255].
    """
    features = {"video": tfds.features.Video(shape=(None, None, None, 3), encoding_format="jpeg")}
    for flow_type in flow_types:
        for axis in ("x", "y"):
            features[f"{flow_type}_{axis}"] = tfds.features.Video(
                shape=(None, None, None, 1), encoding_format="jpeg"
            )
    return features


def encode_flows(
    frames: Iterable[np.ndarray], method: str | None, flow_types: tuple[str, ...], quality: int
) -> dict[str, list[bytes]]:
    """Consumes `frames` and returns the JPEG planes of their flows.

    Args:
      frames: [H, W, 3] uint8 RGB frames, read once, two at a time.
      method: one of optical_flow.FLOW_METHODS, or None to only consume the frames.
      flow_types: subset of ('flow', 'warp').
      quality: JPEG quality of the planes.

    Returns:
      {'<type>_x': [T - 1 JPEGs], '<type>_y': [...]} for each type ({} without a method).
    """
    if method is None:
        for _ in frames:
            pass
        return {}
    planes: dict[str, list[bytes]] = {
        f"{kind}_{axis}": [] for kind in flow_types for axis in ("x", "y")
    }
    for flows in optical_flow.iter_video_flows(frames, method, flow_types):
        for kind, flow in flows.items():
            planes[f"{kind}_x"].append(encode_jpeg(flow[..., 0], quality))
            planes[f"{kind}_y"].append(encode_jpeg(flow[..., 1], quality))
    return planes


def ordered_map(
    fn: Callable[[T], object], items: Iterable[T], num_workers: int, max_pending: int
) -> Iterator[tuple[T, object]]:
    """Yields (item, fn(item)) in input order, computing up to `max_pending` ahead in threads.

    Threads, because forking a process that has TensorFlow loaded is unsafe;
    PyAV's decoder, PIL's JPEG codec and OpenCV release the GIL for much of
    their work. Input order keeps the build deterministic; the window bounds memory.
    """
    with concurrent.futures.ThreadPoolExecutor(num_workers) as pool:
        pending = collections.deque()
        for item in items:
            pending.append((item, pool.submit(fn, item)))
            if len(pending) >= max_pending:
                item, future = pending.popleft()
                yield item, future.result()
        while pending:
            item, future = pending.popleft()
            yield item, future.result()


def format_skipped(skipped: list[tuple[str, str]], total: int, verb: str = "skipped") -> str:
    """One line for the log: "skipped 2 of 400 videos: a.mp4 (reason), ..."."""
    details = ", ".join(f"{path} ({reason})" for path, reason in skipped)
    return f"{verb} {len(skipped)} of {total} videos: {details}"


def generate_examples(
    split: str,
    keys: list[str],
    encode: Callable[[str], tuple[dict[str, object], list[str]]],
    skipped: list[tuple[str, str]],
    noted: list[tuple[str, str]],
) -> Iterator[tuple[str, dict[str, object]]]:
    """Yields (key, example) for every usable key of a split, in order.

    Args:
      split: split name, for messages.
      keys: the split's videos (relative paths), in list order.
      encode: key -> (TFDS example, notes on it); raises VideoDecodeError or
        ValueError (or anything else) when the video cannot be used.
      skipped: filled with (key, reason) of every video left out: listed twice,
        or unusable.
      noted: filled with (key, note) of every video built with a note (only
        partly decoded, resolution changed).

    Raises:
      ValueError: no video of a non-empty split could be used.
    """
    seen: set[str] = set()
    unique = []
    for key in keys:
        if key in seen:
            # TFDS refuses duplicated keys; the first occurrence wins.
            skipped.append((key, f"listed twice in the {split} list"))
        else:
            seen.add(key)
            unique.append(key)

    def safe_encode(key: str) -> tuple[dict[str, object], list[str]] | Exception:
        try:
            return encode(key)
        except (VideoDecodeError, ValueError, OSError) as e:
            return e
        except Exception as e:
            # Whatever else one odd file raises, it must not end the build.
            return RuntimeError(f"{type(e).__name__}: {e}")

    progress = Progress(len(unique), unit=f"{split} videos")
    num_built = 0
    for key, result in ordered_map(safe_encode, unique, NUM_WORKERS, MAX_PENDING):
        progress.update()
        if isinstance(result, Exception):
            logging.warning("Skipping video %s: %s", key, result)
            skipped.append((key, str(result)))
            continue
        example, notes = result
        noted.extend((key, note) for note in notes)
        num_built += 1
        yield key, example

    if skipped:
        logging.warning("%s split: %s", split, format_skipped(skipped, len(keys)))
    else:
        logging.info("%s split: built all %d videos.", split, len(keys))
    if noted:
        logging.warning(
            "%s split: %s", split, format_skipped(noted, len(keys), "built with a note")
        )
    if keys and not num_built:
        raise ValueError(
            f"None of the {len(keys)} videos of the {split} split could be used: "
            + format_skipped(skipped[:5], len(keys))
        )
