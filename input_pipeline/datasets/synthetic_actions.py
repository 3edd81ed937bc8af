"""Renders the embedded demo dataset: small H.264 action videos in the UCF101 layout.

Ten classes in two groups:

* appearance classes (`APPEARANCE_CLASSES`): one shape per class (circle,
  square, triangle, star) wandering around; any single frame names the class.
* order classes (`ORDER_CLASSES`): three pairs whose two classes look the
  same in every single frame and differ only in the direction of time:
  moving left vs right, growing vs shrinking, and a diamond shown alone then
  an hourglass shown alone vs the reverse. Inside a pair the per-frame
  quantities (position, size, which shape is visible) come from the same
  distribution, because one class is the other played backwards: a single
  frame model stays at chance inside a pair, a temporal model does not.

Everything else is class-independent nuisance: backgrounds cropped from the
photographs bundled with scikit-image, a slow camera pan, distractor
ellipses and bars, random colours, sizes, speeds, positions and lengths
(6 to 40 frames), and sensor noise.

The output is what `VideoFolder` (and so real UCF101) expects::

  out_dir/classInd.txt                 "1 CircleDrift"
  out_dir/trainlist01.txt              "CircleDrift/v_CircleDrift_train_000.mp4 1"
  out_dir/testlist01.txt               "CircleDrift/v_CircleDrift_test_000.mp4"
  out_dir/CircleDrift/v_CircleDrift_train_000.mp4
  ...

Each video is drawn from its own generator seeded by (seed, split, class,
index): the dataset is reproducible and the videos can be rendered in any
order or in parallel.
"""

from __future__ import annotations

import colorsys
import concurrent.futures
import functools
import json
import math
import os
import shutil
from collections.abc import Callable, Mapping

import av
import numpy as np
from PIL import Image, ImageFilter

CLASS_NAMES: tuple[str, ...] = (
    "CircleDrift",
    "SquareDrift",
    "TriangleDrift",
    "StarDrift",
    "MoveLeft",
    "MoveRight",
    "Grow",
    "Shrink",
    "DiamondThenHourglass",
    "HourglassThenDiamond",
)
APPEARANCE_CLASSES: tuple[str, ...] = CLASS_NAMES[:4]
ORDER_CLASSES: tuple[str, ...] = CLASS_NAMES[4:]
# Pairs whose two classes are time reversals of each other.
ORDER_PAIRS: tuple[tuple[str, str], ...] = tuple(
    (ORDER_CLASSES[i], ORDER_CLASSES[i + 1]) for i in range(0, len(ORDER_CLASSES), 2)
)

MIN_FRAMES = 6
MAX_FRAMES = 40
# The untrimmed variant (`render_dataset(untrimmed=True)`, dataset name
# 'synthetic_actions_untrimmed'): videos of 20 to 40 s holding one action instance that
# lasts a quarter to three quarters of the video (5 to 30 s; ActivityNet's instances
# also fill much of their videos, THUMOS's less). At 4 frames a second an instance has
# 20 to 120 frames.
UNTRIMMED_SECONDS = (20, 40)
UNTRIMMED_ACTION_FRACTION = (0.25, 0.75)
UNTRIMMED_FPS = 4
# Where the instances are: ActivityNet's layout ('database' -> video -> 'annotations').
UNTRIMMED_ANNOTATIONS = "annotations.json"
# Bump when the drawing or the encoding changes, so that `render_dataset` re-renders.
# 4: x264's macroblock tree off (see `write_mp4`).
RENDER_VERSION = 4
MARKER_FILE = ".complete"
# Photographs bundled in the scikit-image wheel (no download needed).
BACKGROUND_PHOTOS: tuple[str, ...] = (
    "astronaut",
    "coffee",
    "chelsea",
    "rocket",
    "camera",
    "brick",
    "grass",
    "gravel",
    "hubble_deep_field",
    "coins",
    "moon",
    "page",
    "immunohistochemistry",
)
_SPLITS = ("train", "test")

# ----------------------------------------------------------------------------
# Shapes as signed distance functions.
#
# Each takes offsets from the centre (dx, dy, arrays in pixels) and a radius r
# and returns an (approximate) signed distance to the outline in pixels,
# negative inside. Coverage is then clip(0.5 - d, 0, 1): anti-aliased edges
# from the same formula for every shape, with no per-pixel Python.
# ----------------------------------------------------------------------------

SDF = Callable[[np.ndarray, np.ndarray, float], np.ndarray]


def _sdf_circle(dx: np.ndarray, dy: np.ndarray, r: float) -> np.ndarray:
    return np.hypot(dx, dy) - r


def _sdf_square(dx: np.ndarray, dy: np.ndarray, r: float) -> np.ndarray:
    # Half side 0.85 r: about the area of the circle of radius r.
    return np.maximum(np.abs(dx), np.abs(dy)) - 0.85 * r


def _sdf_polygon(dx: np.ndarray, dy: np.ndarray, r: float, sides: int, phase: float) -> np.ndarray:
    """Regular polygon with circumradius r: the largest distance to its edges."""
    apothem = r * math.cos(math.pi / sides)
    d = None
    for k in range(sides):
        angle = phase + 2 * math.pi * k / sides
        edge = dx * math.cos(angle) + dy * math.sin(angle) - apothem
        d = edge if d is None else np.maximum(d, edge)
    return d


def _sdf_triangle(dx: np.ndarray, dy: np.ndarray, r: float) -> np.ndarray:
    # Edge normals at 90, 210, 330 degrees (y points down): apex up.
    return _sdf_polygon(dx, dy, 1.15 * r, 3, math.pi / 2)


def _sdf_star(dx: np.ndarray, dy: np.ndarray, r: float) -> np.ndarray:
    # Five points: the radius follows a triangle wave of the polar angle.
    t = (np.arctan2(dy, dx) + math.pi / 2) * (5 / (2 * math.pi))
    tri = np.abs(2 * (t - np.floor(t)) - 1)  # 1 at the points, 0 between
    return np.hypot(dx, dy) - 1.1 * r * (0.42 + 0.58 * tri)


def _sdf_diamond(dx: np.ndarray, dy: np.ndarray, r: float) -> np.ndarray:
    return (np.abs(dx) + np.abs(dy) - 1.1 * r) / math.sqrt(2)


def _sdf_hourglass(dx: np.ndarray, dy: np.ndarray, r: float) -> np.ndarray:
    # Two triangles meeting at the centre, wide at top and bottom.
    ady = np.abs(dy)
    return np.maximum(ady - r, (np.abs(dx) - 0.9 * ady) / math.hypot(1, 0.9))


def _sdf_ring(dx: np.ndarray, dy: np.ndarray, r: float) -> np.ndarray:
    return np.abs(np.hypot(dx, dy) - 0.72 * r) - 0.28 * r


def _sdf_cross(dx: np.ndarray, dy: np.ndarray, r: float) -> np.ndarray:
    adx, ady = np.abs(dx), np.abs(dy)
    w = 0.33 * r
    return np.minimum(np.maximum(adx - r, ady - w), np.maximum(adx - w, ady - r))


def _rotated(dx: np.ndarray, dy: np.ndarray, angle: float) -> tuple[np.ndarray, np.ndarray]:
    c, s = math.cos(angle), math.sin(angle)
    return dx * c + dy * s, -dx * s + dy * c


def _sdf_ellipse(dx: np.ndarray, dy: np.ndarray, a: float, b: float, angle: float) -> np.ndarray:
    u, v = _rotated(dx, dy, angle)
    # Scaled by the minor axis: exact on it, close enough elsewhere for AA.
    return (np.sqrt((u / a) ** 2 + (v / b) ** 2) - 1) * b


def _sdf_bar(dx: np.ndarray, dy: np.ndarray, a: float, b: float, angle: float) -> np.ndarray:
    u, v = _rotated(dx, dy, angle)
    return np.maximum(np.abs(u) - a, np.abs(v) - b)


SHAPES: dict[str, SDF] = {
    "circle": _sdf_circle,
    "square": _sdf_square,
    "triangle": _sdf_triangle,
    "star": _sdf_star,
    "ring": _sdf_ring,
    "cross": _sdf_cross,
    "diamond": _sdf_diamond,
    "hourglass": _sdf_hourglass,
}
# Shape of the class object(s) of every class. Distractors are ellipses and
# bars, which are none of these.
_APPEARANCE_SHAPES: dict[str, str] = {
    "CircleDrift": "circle",
    "SquareDrift": "square",
    "TriangleDrift": "triangle",
    "StarDrift": "star",
}
_MOVE_SHAPE = "ring"
_SIZE_SHAPE = "cross"
_ORDER_SHAPES = ("diamond", "hourglass")


def _paint(
    canvas: np.ndarray,
    sdf: Callable[[np.ndarray, np.ndarray], np.ndarray],
    cx: float,
    cy: float,
    extent: float,
    fill: np.ndarray,
    outline: np.ndarray | None = None,
    outline_width: float = 1.5,
) -> None:
    """Alpha-composites one shape onto `canvas` in place.

    Args:
      canvas: [H, W, 3] float32 image in [0, 1].
      sdf: maps (dx, dy) offset arrays from (cx, cy) to signed distances.
      cx, cy: centre in pixel coordinates (x right, y down).
      extent: a radius that bounds the shape; only that box is evaluated.
      fill: [3] colour inside.
      outline: [3] colour of a band `outline_width` pixels wide inside the
        edge, or None for no outline.
    """
    h, w = canvas.shape[:2]
    x0, x1 = max(0, int(cx - extent - 2)), min(w, int(cx + extent + 3))
    y0, y1 = max(0, int(cy - extent - 2)), min(h, int(cy + extent + 3))
    if x0 >= x1 or y0 >= y1:
        return
    # Pixel centres sit at integer + 0.5.
    dx = (np.arange(x0, x1, dtype=np.float32) + 0.5 - cx)[None, :]
    dy = (np.arange(y0, y1, dtype=np.float32) + 0.5 - cy)[:, None]
    d = sdf(dx, dy)
    box = canvas[y0:y1, x0:x1]
    if outline is not None:
        cover = np.clip(0.5 - d, 0.0, 1.0)[..., None]
        box[...] = box * (1 - cover) + outline * cover
        d = d + outline_width
    cover = np.clip(0.5 - d, 0.0, 1.0)[..., None]
    box[...] = box * (1 - cover) + fill * cover


# ----------------------------------------------------------------------------
# Random draws shared by all classes.
# ----------------------------------------------------------------------------


def _random_colour(rng: np.random.Generator) -> np.ndarray:
    """A saturated, fairly bright RGB colour, [3] float32 in [0, 1]."""
    rgb = colorsys.hsv_to_rgb(rng.uniform(), rng.uniform(0.55, 1.0), rng.uniform(0.6, 1.0))
    return np.asarray(rgb, np.float32)


def _outline_for(colour: np.ndarray) -> np.ndarray:
    """Dark outline for a light colour, light for a dark one: visible on any photo."""
    luma = float(colour @ np.array([0.299, 0.587, 0.114], np.float32))
    return np.full(3, 0.05 if luma > 0.45 else 0.95, np.float32)


def _uniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    """Uniform on [lo, hi]; lo when rounding made hi a hair smaller than lo."""
    return lo + rng.uniform() * max(0.0, hi - lo)


def _bounce(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Folds positions into [lo, hi] as if they bounced off both ends."""
    span = hi - lo
    if span <= 0:
        return np.full_like(x, (lo + hi) / 2)
    y = np.mod(x - lo, 2 * span)
    return lo + np.where(y > span, 2 * span - y, y)


def _wander(
    rng: np.random.Generator,
    num_frames: int,
    width: int,
    height: int,
    margin: float,
    max_speed: float,
) -> tuple[np.ndarray, np.ndarray]:
    """A straight path from a random point in a random direction, bouncing off the borders.

    Returns:
      (x, y): [num_frames] float arrays of centres, kept `margin` pixels
      inside the frame.
    """
    angle = rng.uniform(0, 2 * math.pi)
    speed = rng.uniform(0.2, 1.0) * max_speed
    t = np.arange(num_frames, dtype=np.float32)
    x = _bounce(
        _uniform(rng, margin, width - margin) + speed * math.cos(angle) * t, margin, width - margin
    )
    y = _bounce(
        _uniform(rng, margin, height - margin) + speed * math.sin(angle) * t,
        margin,
        height - margin,
    )
    return x, y


@functools.lru_cache(maxsize=4)
def _photos(min_height: int, min_width: int) -> tuple[np.ndarray, ...]:
    """The background photographs as float32 RGB arrays in [0, 1].

    Each is resized (keeping its aspect ratio) so that it is at least 1.5x
    the frame height and 1.25x the frame width: room for a crop to pan.
    """
    import skimage.data  # Slow to import; only needed when rendering.

    photos = []
    for name in BACKGROUND_PHOTOS:
        image = np.asarray(getattr(skimage.data, name)())
        if image.dtype == bool:
            image = image.astype(np.uint8) * 255
        if image.ndim == 2:
            image = np.stack([image] * 3, axis=-1)
        image = image[..., :3].astype(np.uint8)
        h, w = image.shape[:2]
        scale = max(1.5 * min_height / h, 1.25 * min_width / w)
        size = (max(min_width + 2, round(w * scale)), max(min_height + 2, round(h * scale)))
        resized = Image.fromarray(image).resize(size, Image.Resampling.LANCZOS)
        # Out of focus, as behind a subject at depth of field: the photograph's
        # fine texture would otherwise compete with the objects' outlines.
        resized = resized.filter(ImageFilter.GaussianBlur(radius=1.5 * min_height / 96))
        photos.append(np.asarray(resized, np.float32) / 255.0)
    return tuple(photos)


def _background(rng: np.random.Generator, num_frames: int, width: int, height: int) -> np.ndarray:
    """A crop of a random photograph whose window drifts slowly (a camera pan).

    Returns:
      [num_frames, height, width, 3] float32 in [0, 1].
    """
    photos = _photos(height, width)
    photo = photos[rng.integers(len(photos))]
    if rng.uniform() < 0.5:
        photo = photo[:, ::-1]
    room_y, room_x = photo.shape[0] - height - 1, photo.shape[1] - width - 1
    # At most 0.4 px per frame, and never more than the photo leaves room for.
    steps = max(num_frames - 1, 1)
    vx = rng.uniform(-1, 1) * min(0.4 * height / 96, room_x / steps)
    vy = rng.uniform(-1, 1) * min(0.25 * height / 96, room_y / steps)
    x0 = _uniform(rng, max(0.0, -vx * steps), room_x - max(0.0, vx * steps))
    y0 = _uniform(rng, max(0.0, -vy * steps), room_y - max(0.0, vy * steps))
    frames = np.empty((num_frames, height, width, 3), np.float32)
    for t in range(num_frames):
        # Sub-pixel pan by bilinear blending of the four neighbouring crops.
        x, y = x0 + vx * t, y0 + vy * t
        ix, iy = int(x), int(y)
        fx, fy = x - ix, y - iy
        patch = photo[iy : iy + height + 1, ix : ix + width + 1]
        top = patch[:-1, :-1] * (1 - fx) + patch[:-1, 1:] * fx
        bottom = patch[1:, :-1] * (1 - fx) + patch[1:, 1:] * fx
        frames[t] = top * (1 - fy) + bottom * fy
    contrast = rng.uniform(0.4, 0.7)
    brightness = rng.uniform(-0.1, 0.1)
    return (frames - 0.5) * contrast + 0.5 + brightness


def _paint_distractors(rng: np.random.Generator, frames: np.ndarray) -> None:
    """Adds 0 to 2 ellipses or bars (never a class shape) moving at random, in place."""
    num_frames, height, width = frames.shape[:3]
    for _ in range(rng.integers(0, 3)):
        a = rng.uniform(0.05, 0.09) * height
        b = a / rng.uniform(2.0, 3.5)
        sdf_fn = _sdf_ellipse if rng.uniform() < 0.5 else _sdf_bar
        colour = _random_colour(rng)
        angle0, spin = rng.uniform(0, math.pi), rng.uniform(-0.1, 0.1)
        xs, ys = _wander(rng, num_frames, width, height, a, 2.0 * height / 96)
        for t in range(num_frames):
            angle = angle0 + spin * t

            def sdf(dx, dy, a=a, b=b, angle=angle, sdf_fn=sdf_fn):
                return sdf_fn(dx, dy, a, b, angle)

            _paint(frames[t], sdf, xs[t], ys[t], a, colour)


# ----------------------------------------------------------------------------
# Class objects: each returns per-frame (shape, x, y, radius) tuples.
# ----------------------------------------------------------------------------

# Per frame: (shape name, centre x, centre y, radius), in pixels.
Track = list[tuple[str, float, float, float]]


def _object_radius(rng: np.random.Generator, height: int) -> float:
    return rng.uniform(0.14, 0.2) * height


def _appearance_track(
    rng: np.random.Generator, shape: str, num_frames: int, w: int, h: int
) -> Track:
    r = _object_radius(rng, h)
    xs, ys = _wander(rng, num_frames, w, h, r + 1, 2.5 * h / 96)
    return [(shape, x, y, r) for x, y in zip(xs, ys, strict=True)]


def _move_track(
    rng: np.random.Generator, rightward: bool, num_frames: int, w: int, h: int
) -> Track:
    """Horizontal motion. Left is right played backwards: the same x positions."""
    r = _object_radius(rng, h)
    margin = r + 1
    steps = max(num_frames - 1, 1)
    speed = min(rng.uniform(1.5, 3.5) * h / 96, (w - 2 * margin) / steps)
    travel = speed * steps
    x_start = _uniform(rng, margin, w - margin - travel)
    t = np.arange(num_frames, dtype=np.float32)
    xs = x_start + speed * t
    if not rightward:
        xs = xs[::-1]
    # A little vertical wobble so the path is not a ruler line.
    amplitude = rng.uniform(0, 0.05) * h
    phase, period = rng.uniform(0, 2 * math.pi), rng.uniform(8, 24)
    y_mid = rng.uniform(margin + amplitude, h - margin - amplitude)
    ys = y_mid + amplitude * np.sin(2 * math.pi * t / period + phase)
    return [(_MOVE_SHAPE, x, y, r) for x, y in zip(xs, ys, strict=True)]


def _size_track(rng: np.random.Generator, growing: bool, num_frames: int, w: int, h: int) -> Track:
    """A cross that grows or shrinks: shrink is grow played backwards."""
    r_small = rng.uniform(0.07, 0.1) * h
    r_large = rng.uniform(0.2, 0.28) * h
    # Geometric steps: equal relative change per frame, as a zoom would give.
    radii = np.geomspace(r_small, r_large, num_frames)
    if not growing:
        radii = radii[::-1]
    xs, ys = _wander(rng, num_frames, w, h, r_large + 1, 0.6 * h / 96)
    return [(_SIZE_SHAPE, x, y, r) for x, y, r in zip(xs, ys, radii, strict=True)]


def _order_track(rng: np.random.Generator, first: int, num_frames: int, w: int, h: int) -> Track:
    """Shape `first` alone, then the other shape alone.

    The switch frame k is uniform on a range symmetric under k -> T - k, so
    the fraction of frames showing each shape has the same distribution in
    both orders.
    """
    lo = math.ceil(num_frames / 3)
    switch = int(rng.integers(lo, num_frames - lo + 1))
    track: Track = []
    for shape_index, start, stop in ((first, 0, switch), (1 - first, switch, num_frames)):
        r = _object_radius(rng, h)
        xs, ys = _wander(rng, stop - start, w, h, r + 1, 1.5 * h / 96)
        track += [(_ORDER_SHAPES[shape_index], x, y, r) for x, y in zip(xs, ys, strict=True)]
    return track


def object_track(
    class_name: str, rng: np.random.Generator, num_frames: int, width: int, height: int
) -> Track:
    """Where the class object(s) of `class_name` are in each frame.

    Args:
      class_name: one of CLASS_NAMES.
      rng: random source (drawn from in the same order for both classes of a
        pair, so equal generators give time-reversed tracks for left/right and
        grow/shrink).
      num_frames: T.
      width, height: frame size in pixels.

    Returns:
      T tuples (shape name, centre x, centre y, radius) in pixels; the shape
      name is a key of SHAPES.
    """
    w, h = width, height
    if class_name in _APPEARANCE_SHAPES:
        return _appearance_track(rng, _APPEARANCE_SHAPES[class_name], num_frames, w, h)
    if class_name in ("MoveLeft", "MoveRight"):
        return _move_track(rng, class_name == "MoveRight", num_frames, w, h)
    if class_name in ("Grow", "Shrink"):
        return _size_track(rng, class_name == "Grow", num_frames, w, h)
    if class_name in ("DiamondThenHourglass", "HourglassThenDiamond"):
        return _order_track(rng, 0 if class_name == "DiamondThenHourglass" else 1, num_frames, w, h)
    raise ValueError(f"unknown class {class_name!r}; known: {CLASS_NAMES}")


def _compose(
    class_name: str,
    rng: np.random.Generator,
    width: int,
    height: int,
    num_frames: int,
    action: tuple[int, int],
) -> np.ndarray:
    """Background, distractors and sensor noise over `num_frames` frames, with the class
    object(s) of `class_name` in frames [action[0], action[1]).

    Returns:
      [num_frames, height, width, 3] uint8 RGB frames.
    """
    frames = _background(rng, num_frames, width, height)
    _paint_distractors(rng, frames)
    start, stop = action
    # One colour per shape; in order pairs the two shapes draw independently.
    colours: dict[str, np.ndarray] = {}
    track = object_track(class_name, rng, stop - start, width, height)
    for t, (shape, x, y, r) in enumerate(track, start=start):
        if shape not in colours:
            colours[shape] = _random_colour(rng)
        fill = colours[shape]

        def sdf(dx, dy, shape_fn=SHAPES[shape], r=r):
            return shape_fn(dx, dy, r)

        _paint(frames[t], sdf, x, y, 1.2 * r, fill, _outline_for(fill), 0.1 * r + 0.8)
    noise_std = rng.uniform(0.005, 0.025)
    frames += noise_std * rng.standard_normal(frames.shape, dtype=np.float32)
    return (np.clip(frames, 0.0, 1.0) * 255 + 0.5).astype(np.uint8)


def render_video(class_name: str, rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """Draws one (trimmed) video of `class_name`: the action fills every frame.

    Args:
      class_name: one of CLASS_NAMES.
      rng: the only source of randomness, so equal generators give equal videos.
      width, height: frame size in pixels.

    Returns:
      [T, height, width, 3] uint8 RGB frames, MIN_FRAMES <= T <= MAX_FRAMES.
    """
    num_frames = int(rng.integers(MIN_FRAMES, MAX_FRAMES + 1))
    return _compose(class_name, rng, width, height, num_frames, (0, num_frames))


def render_untrimmed_video(
    class_name: str, rng: np.random.Generator, width: int, height: int, fps: int
) -> tuple[np.ndarray, tuple[int, int]]:
    """Draws one untrimmed video of `class_name`: one action instance in a long video.

    The video lasts UNTRIMMED_SECONDS (whole seconds at `fps`); the instance lasts
    UNTRIMMED_ACTION_FRACTION of it (whole frames) and starts anywhere. The rest
    is the same scene (photo, camera pan, distractors, noise) without the class object,
    the "background" of untrimmed video (TSN TPAMI 2018, Sec. 4.2: the action can be at
    any location, short or long, and background can fill most of the video).

    Args:
      class_name: one of CLASS_NAMES.
      rng: the only source of randomness.
      width, height: frame size in pixels.
      fps: frames per second of the video.

    Returns:
      ([T, height, width, 3] uint8 RGB frames, (first, end) frame of the instance, end
      exclusive).
    """
    low, high = UNTRIMMED_SECONDS
    num_frames = fps * int(rng.integers(low, high + 1))
    low, high = UNTRIMMED_ACTION_FRACTION
    length = int(rng.integers(math.ceil(low * num_frames), math.floor(high * num_frames) + 1))
    start = int(rng.integers(0, num_frames - length + 1))
    frames = _compose(class_name, rng, width, height, num_frames, (start, start + length))
    return frames, (start, start + length)


def write_mp4(path: str, frames: np.ndarray, fps: int) -> None:
    """Writes [T, H, W, 3] uint8 RGB frames (H, W even) as H.264 (yuv420p) mp4."""
    with av.open(path, mode="w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.height, stream.width = frames.shape[1:3]
        stream.pix_fmt = "yuv420p"
        # One encoder thread: the bitstream then does not depend on the
        # number of cores, and parallelism comes from rendering several videos.
        # Without the macroblock tree (float rate control), because with it the
        # same frames encoded from two rendering threads at once came out different
        # (13 of 200 videos on a loaded 2-core machine; none with it off).
        stream.options = {
            "crf": "18",
            "preset": "veryfast",
            "threads": "1",
            "x264-params": "mbtree=0",
        }
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def video_relpath(class_name: str, split: str, index: int) -> str:
    """The path of a video relative to the dataset root, as the split lists write it."""
    return f"{class_name}/v_{class_name}_{split}_{index:03d}.mp4"


def _render_one(
    out_dir: str,
    seed: int,
    split: str,
    label: int,
    index: int,
    width: int,
    height: int,
    fps: int,
    untrimmed: bool,
) -> tuple[int, int, int] | None:
    """Renders and writes one video; untrimmed, returns (its frames, the instance's first
    frame, its end frame), else None."""
    name = CLASS_NAMES[label]
    path = os.path.join(out_dir, video_relpath(name, split, index))
    # Every video has its own generator: order and parallelism do not matter.
    key = [seed, _SPLITS.index(split), label, index]
    if not untrimmed:
        write_mp4(path, render_video(name, np.random.default_rng(key), width, height), fps)
        return None
    frames, span = render_untrimmed_video(
        name, np.random.default_rng([*key, 1]), width, height, fps
    )
    write_mp4(path, frames, fps)
    return (len(frames), *span)


def _write_annotations(
    out_dir: str, spans: Mapping[tuple[str, str, int], tuple[int, int, int]], fps: int
) -> None:
    """annotations.json in ActivityNet's layout: for each video (split, class, index) ->
    (frames, first, end) its subset, duration and the instance's label and [start, end]
    in seconds."""
    database = {}
    for (split, name, index), (num_frames, start, end) in spans.items():
        path = video_relpath(name, split, index)
        database[path] = {
            "subset": split,
            "duration": num_frames / fps,
            "annotations": [{"label": name, "segment": [start / fps, end / fps]}],
        }
    with open(os.path.join(out_dir, UNTRIMMED_ANNOTATIONS), "w") as f:
        json.dump({"fps": fps, "database": database}, f, indent=1, sort_keys=True)


def _write_lists(out_dir: str, counts: dict[str, int]) -> None:
    """Writes classInd.txt, trainlist01.txt and testlist01.txt (UCF101 format)."""
    with open(os.path.join(out_dir, "classInd.txt"), "w") as f:
        f.writelines(f"{i + 1} {name}\n" for i, name in enumerate(CLASS_NAMES))
    with open(os.path.join(out_dir, "trainlist01.txt"), "w") as f:
        for label, name in enumerate(CLASS_NAMES):
            f.writelines(
                f"{video_relpath(name, 'train', i)} {label + 1}\n" for i in range(counts["train"])
            )
    with open(os.path.join(out_dir, "testlist01.txt"), "w") as f:
        for name in CLASS_NAMES:
            f.writelines(f"{video_relpath(name, 'test', i)}\n" for i in range(counts["test"]))


def render_dataset(
    out_dir: str,
    *,
    num_train_per_class: int = 30,
    num_test_per_class: int = 10,
    width: int = 128,
    height: int = 96,
    fps: int | None = None,
    seed: int = 0,
    num_workers: int = 2,
    untrimmed: bool = False,
) -> str:
    """Renders the demo dataset into `out_dir` unless it is already there.

    A marker file holding the parameters is written last; when it exists with
    the same parameters nothing is done. Otherwise the class folders are
    deleted and everything is rendered again (an interrupted render never
    passes for a complete one).

    Args:
      out_dir: dataset root, created if needed.
      num_train_per_class, num_test_per_class: videos per class per split.
      width, height: frame size; both even (H.264 in yuv420p needs it).
      fps: frame rate written in the files; None: 12 (trimmed) or UNTRIMMED_FPS.
      seed: the dataset seed; same seed, same videos.
      num_workers: threads rendering videos at once (the result does not
        depend on it).
      untrimmed: render untrimmed videos (`render_untrimmed_video`: 20 to 40 s with
        one action instance) and write where each instance is in annotations.json.

    Returns:
      out_dir.
    """
    if width % 2 or height % 2 or width < 16 or height < 16:
        raise ValueError(f"width and height must be even and >= 16, got {width}x{height}")
    if fps is None:
        fps = UNTRIMMED_FPS if untrimmed else 12
    params = {
        "render_version": RENDER_VERSION,
        "untrimmed": untrimmed,
        "num_train_per_class": num_train_per_class,
        "num_test_per_class": num_test_per_class,
        "width": width,
        "height": height,
        "fps": fps,
        "seed": seed,
    }
    marker = os.path.join(out_dir, MARKER_FILE)
    if os.path.exists(marker):
        with open(marker) as f:
            try:
                if json.load(f) == params:
                    return out_dir
            except json.JSONDecodeError:
                pass
        os.remove(marker)
    os.makedirs(out_dir, exist_ok=True)
    # An instance list of an earlier render never describes this one.
    if os.path.exists(os.path.join(out_dir, UNTRIMMED_ANNOTATIONS)):
        os.remove(os.path.join(out_dir, UNTRIMMED_ANNOTATIONS))
    for name in CLASS_NAMES:
        # Only our own class folders: stale videos of another size or count go.
        shutil.rmtree(os.path.join(out_dir, name), ignore_errors=True)
        os.makedirs(os.path.join(out_dir, name))

    counts = {"train": num_train_per_class, "test": num_test_per_class}
    jobs = [
        (out_dir, seed, split, label, index, width, height, fps, untrimmed)
        for split in _SPLITS
        for label in range(len(CLASS_NAMES))
        for index in range(counts[split])
    ]
    _photos(height, width)  # Load the photographs once, before the threads race to.
    # Threads, not processes: forking a process that has TensorFlow loaded is
    # unsafe. The encoder and the larger numpy operations release the GIL, so
    # a second thread gains something (about 10% on a busy 2-core machine).
    with concurrent.futures.ThreadPoolExecutor(max(1, num_workers)) as pool:
        futures = [pool.submit(_render_one, *job) for job in jobs]
        # .result() re-raises a worker's exception here.
        spans = {
            (job[2], CLASS_NAMES[job[3]], job[4]): f.result()
            for job, f in zip(jobs, futures, strict=True)
        }
    _write_lists(out_dir, counts)
    if untrimmed:
        _write_annotations(out_dir, spans, fps)
    with open(marker, "w") as f:
        json.dump(params, f)
    return out_dir
