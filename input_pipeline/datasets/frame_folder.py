"""Reads one video stored as a folder of JPEG frames (mmaction2's raw-frame layout).

    <folder>/img_00001.jpg ...       RGB frames, numbered from 1
    <folder>/flow_x_00001.jpg ...    flow planes (denseflow / tools/extract_flow.py), and
    <folder>/flow_y_00001.jpg ...    warp_x_ / warp_y_ for warped flow

Frames already at the wanted size are copied byte for byte (no re-encoding);
others are decoded, resized and encoded again, one at a time.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator

import numpy as np
from PIL import Image

from input_pipeline.datasets.building import encode_jpeg
from input_pipeline.datasets.video_decode import VideoDecodeError, output_shape


def numbered_files(folder: str, prefix: str) -> list[str]:
    """Paths of '<prefix>NNNNN.jpg' in `folder`, in frame-number order (any digit count)."""
    pattern = re.compile(re.escape(prefix) + r"(\d+)\.jpe?g$", re.IGNORECASE)
    numbered = []
    for name in os.listdir(folder):
        match = pattern.match(name)
        if match:
            numbered.append((int(match.group(1)), name))
    return [os.path.join(folder, name) for _, name in sorted(numbered)]


def _resized(image: Image.Image, short_side: int | None, size: tuple[int, int] | None):
    """`image` at the stored size, or None when it already has it."""
    height, width = output_shape(image.height, image.width, short_side, size)
    if (height, width) == (image.height, image.width):
        return None
    # BOX averages source pixels when shrinking (no aliasing); BICUBIC when growing.
    shrinking = height * width < image.height * image.width
    return image.resize((width, height), Image.Resampling.BOX if shrinking else Image.BICUBIC)


def stored_jpegs(
    paths: list[str], short_side: int | None, size: tuple[int, int] | None, quality: int, mode: str
) -> list[bytes]:
    """JPEG bytes of each file, resized and re-encoded only where the size differs.

    Args:
      mode: 'RGB' for frames, 'L' for flow planes.

    Raises:
      VideoDecodeError: a file is not a readable image.
    """
    encoded = []
    for path in paths:
        try:
            with Image.open(path) as image:
                image.load()
                resized = _resized(image, short_side, size)
                if resized is None and image.mode == mode and image.format == "JPEG":
                    with open(path, "rb") as f:
                        encoded.append(f.read())
                    continue
                converted = (resized or image).convert(mode)
        except OSError as e:
            raise VideoDecodeError(f"unreadable frame {os.path.basename(path)}: {e}") from e
        encoded.append(encode_jpeg(np.asarray(converted), quality))
    return encoded


def iter_rgb_frames(
    paths: list[str], short_side: int | None, size: tuple[int, int] | None
) -> Iterator[np.ndarray]:
    """The [H, W, 3] uint8 RGB frames of `paths` at the stored size, one at a time."""
    for path in paths:
        try:
            with Image.open(path) as image:
                image = image.convert("RGB")
                yield np.asarray(_resized(image, short_side, size) or image)
        except OSError as e:
            raise VideoDecodeError(f"unreadable frame {os.path.basename(path)}: {e}") from e


def frame_folder_paths(folder: str, flow_types: tuple[str, ...]) -> dict[str, list[str]]:
    """{'video': img files, '<type>_x' / '<type>_y': flow files} of one video folder.

    Raises:
      VideoDecodeError: no folder, no img_ frames, or missing or uneven flow planes.
    """
    if not os.path.isdir(folder):
        raise VideoDecodeError(f"frame folder does not exist: {folder}")
    paths = {"video": numbered_files(folder, "img_")}
    if not paths["video"]:
        raise VideoDecodeError("no img_NNNNN.jpg frames in the folder")
    for flow_type in flow_types:
        for axis in ("x", "y"):
            paths[f"{flow_type}_{axis}"] = numbered_files(folder, f"{flow_type}_{axis}_")
        num_x, num_y = len(paths[f"{flow_type}_x"]), len(paths[f"{flow_type}_y"])
        if not num_x or num_x != num_y:
            raise VideoDecodeError(
                f"{flow_type}: {num_x} x planes and {num_y} y planes (need the same, at least 1)"
            )
    return paths
