"""Spatial transforms of a clip [N, H, W, C], as TensorFlow ops.

All frames of a clip (every snippet of a TSN sample) get the same crop and the
same flip, as TSN's group transforms and DMVR's shared random state do; a
per-frame crop would break the motion between frames.
"""

import math
from collections.abc import Sequence

import tensorflow as tf

from input_pipeline import modalities
from tsn_jax.spec import (
    CORNER_AND_CENTRE_POSITIONS,
    CROP_POSITIONS,
    EVAL_CROPS,
    MORE_FIXED_POSITIONS,
    TRAIN_CROPS,
)


def scale_pairs(num_scales: int, max_distort: int) -> tuple[tuple[int, int], ...]:
    """(width index, height index) pairs of crop scales differing by at most max_distort.

    `max_distort >= num_scales - 1` gives every pair: width and height drawn
    independently (TSN's paper rule, see `multiscale_crop_box`); 1 gives the
    neighbouring pairs of the public TSN code (Caffe, tsn-pytorch, mmaction2).
    """
    if max_distort < 0:
        raise ValueError(f"max_distort must be >= 0, got {max_distort}")
    return tuple(
        (i, j) for j in range(num_scales) for i in range(num_scales) if abs(i - j) <= max_distort
    )


def multiscale_crop_box(
    height: tf.Tensor,
    width: tf.Tensor,
    *,
    scales: Sequence[float],
    max_distort: int,
    positions: str,
    seed: tf.Tensor,
) -> tf.Tensor:
    """Draws the box of a multi-scale crop (TSN's scale jittering, Hara et al.'s crops).

    Crop width and height are each `int(s * short_side)` for a scale s of
    `scales`, the two scale indices differing by at most `max_distort`; the
    (width, height) pair is drawn uniformly from the allowed pairs. Two TSN rules:

    * the paper's (ECCV 2016 Sec. 3.2, TPAMI 2018 Sec. 3.4): on 340x256 frames
      "the width and height of cropped regions are randomly selected from
      {256, 224, 192, 168}": `scales=(1, .875, .75, .65625)` (those sizes over
      256) and `max_distort=3` (any of the 16 pairs, i.e. width and height
      independent and uniform), the TSN recipe configs' default;
    * the public code's (the Caffe data layer's `max_distort: 1`, tsn-pytorch's
      and mmaction2's `MultiScaleCrop` default): `scales=(1, .875, .75, .66)`
      (the same 256, 224, 192, 168 on a 256 short side) and `max_distort=1`,
      the 10 pairs of neighbouring sizes (no 256x192, 224x168, 256x168, ...).

    The box sits at:

    * 'corners': one of the 4 corners or the centre (TSN, ECCV 2016, Sec. 3.2),
      on tsn-pytorch's grid of quarters of the free space (so the right and
      bottom corners may fall up to 3 pixels short of the edge);
      This is the TSN authors' own code's rule (Caffe and tsn-pytorch); the paper
      does not say how the corners are rounded;
    * 'exact_corners': one of the 4 corners flush with the frame's edges or the
      centre (free space // 2), Hara et al.'s multi-scale corner crop (ICPR 2018,
      Sec. IV-A, "the 4 corners and a center");
    * 'more_fixed': one of tsn-pytorch's 13 grid points (`more_fix_crop`);
    * 'random': a uniformly random position, every pixel offset allowed.

    Hara et al.'s crops are the same boxes with square crops (`max_distort=0`)
    and their scales 2^(-k/4), k = 0..4: 'exact_corners' is their multi-scale
    corner crop, 'random' their multi-scale random crop.

    tsn-pytorch additionally snaps crop sides within 3 pixels of the output
    size to the output size; this follows the paper and does not.

    Args:
      height, width: scalar int32 frame size.
      scales: crop sides as fractions of the short side.
      max_distort: largest allowed difference of width and height scale indices.
      positions: one of `CROP_POSITIONS`.
      seed: [2] stateless random seed.

    Returns:
      [4] int32 box (y, x, h, w).
    """
    if positions not in CROP_POSITIONS:
        raise ValueError(f"crop positions must be one of {CROP_POSITIONS}, got {positions!r}")
    pairs = tf.constant(scale_pairs(len(scales), max_distort), tf.int32)
    pair_seed, position_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
    pair = pairs[tf.random.stateless_uniform([], pair_seed, 0, tf.shape(pairs)[0], dtype=tf.int32)]
    short_side = tf.cast(tf.minimum(height, width), tf.float32)
    sides = tf.cast(short_side * tf.constant(scales, tf.float32), tf.int32)
    crop_w, crop_h = sides[pair[0]], sides[pair[1]]
    if positions == "random":
        # maxval is exclusive: offsets 0 .. free space inclusive.
        y_seed, x_seed = tf.unstack(tf.random.experimental.stateless_split(position_seed, 2))
        y = tf.random.stateless_uniform([], y_seed, 0, height - crop_h + 1, dtype=tf.int32)
        x = tf.random.stateless_uniform([], x_seed, 0, width - crop_w + 1, dtype=tf.int32)
        return tf.stack([y, x, crop_h, crop_w])
    grid = tf.constant(
        MORE_FIXED_POSITIONS if positions == "more_fixed" else CORNER_AND_CENTRE_POSITIONS,
        tf.int32,
    )
    position = grid[
        tf.random.stateless_uniform([], position_seed, 0, tf.shape(grid)[0], dtype=tf.int32)
    ]
    if positions == "exact_corners":
        # Grid points 0, 2, 4 quarters of the free space: 0, free // 2, free.
        x = position[0] * (width - crop_w) // 4
        y = position[1] * (height - crop_h) // 4
    else:
        x = position[0] * ((width - crop_w) // 4)
        y = position[1] * ((height - crop_h) // 4)
    return tf.stack([y, x, crop_h, crop_w])


def centre_crop_box(
    height: tf.Tensor, width: tf.Tensor, crop_h: tf.Tensor, crop_w: tf.Tensor
) -> tf.Tensor:
    """[4] int32 box (y, x, h, w) of a crop_h x crop_w crop at the centre of the frame,
    offsets (H - h) // 2 and (W - w) // 2."""
    return tf.stack([(height - crop_h) // 2, (width - crop_w) // 2, crop_h, crop_w])


def random_crop_box(
    height: tf.Tensor, width: tf.Tensor, size: int, *, seed: tf.Tensor
) -> tf.Tensor:
    """Draws a size x size box at a uniformly random position (C3D's, Hara's random crop).

    The frames keep their stored scale (e.g. 112 crops of 128-pixel frames). A
    frame smaller than `size` gives the largest box that fits, which the
    training transform then resizes to `size`.

    Returns:
      [4] int32 box (y, x, h, w).
    """
    crop_h, crop_w = tf.minimum(height, size), tf.minimum(width, size)
    y_seed, x_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
    y = tf.random.stateless_uniform([], y_seed, 0, height - crop_h + 1, dtype=tf.int32)
    x = tf.random.stateless_uniform([], x_seed, 0, width - crop_w + 1, dtype=tf.int32)
    return tf.stack([y, x, crop_h, crop_w])


def random_resized_crop_box(
    height: tf.Tensor,
    width: tf.Tensor,
    *,
    seed: tf.Tensor,
    area_range: tuple[float, float] = (0.08, 1.0),
    aspect_range: tuple[float, float] = (3 / 4, 4 / 3),
    attempts: int = 10,
) -> tf.Tensor:
    """Draws the box of the Inception-style random-resized crop (torchvision, mmaction2).

    Up to `attempts` candidates: an area of a uniform fraction in `area_range` of the
    frame, an aspect ratio (w / h) log-uniform in `aspect_range`, sides rounded, at a
    uniformly random position; the first that fits the frame is taken. When none
    fits, the whole frame clipped to the nearest allowed aspect ratio, centred (as
    torchvision's `RandomResizedCrop.get_params`).

    Args:
      height, width: scalar int32 frame size.
      seed: [2] stateless random seed.
      area_range: crop area as a fraction of the frame's.
      aspect_range: crop width / height.
      attempts: candidates drawn.

    Returns:
      [4] int32 box (y, x, h, w).
    """
    seeds = tf.unstack(tf.random.experimental.stateless_split(seed, 4))
    h_f, w_f = tf.cast(height, tf.float32), tf.cast(width, tf.float32)
    area = h_f * w_f * tf.random.stateless_uniform([attempts], seeds[0], *area_range)
    log_low, log_high = math.log(aspect_range[0]), math.log(aspect_range[1])
    aspect = tf.exp(tf.random.stateless_uniform([attempts], seeds[1], log_low, log_high))
    crop_w = tf.cast(tf.round(tf.sqrt(area * aspect)), tf.int32)
    crop_h = tf.cast(tf.round(tf.sqrt(area / aspect)), tf.int32)
    fits = (crop_w > 0) & (crop_h > 0) & (crop_w <= width) & (crop_h <= height)
    first = tf.argmax(tf.cast(fits, tf.int32), output_type=tf.int32)
    # Positions as fractions of the free space: floor(u * (free + 1)) is uniform on it.
    u_y = tf.random.stateless_uniform([], seeds[2])
    u_x = tf.random.stateless_uniform([], seeds[3])
    h, w = crop_h[first], crop_w[first]
    y = tf.cast(u_y * tf.cast(height - h + 1, tf.float32), tf.int32)
    x = tf.cast(u_x * tf.cast(width - w + 1, tf.float32), tf.int32)
    drawn = tf.stack([y, x, h, w])

    ratio = w_f / h_f
    fallback_w = tf.cast(
        tf.where(ratio > aspect_range[1], tf.round(h_f * aspect_range[1]), w_f), tf.int32
    )
    fallback_h = tf.cast(
        tf.where(ratio < aspect_range[0], tf.round(w_f / aspect_range[0]), h_f), tf.int32
    )
    fallback = centre_crop_box(height, width, fallback_h, fallback_w)
    return tf.where(tf.reduce_any(fits), drawn, fallback)


def crop(frames: tf.Tensor, box: tf.Tensor) -> tf.Tensor:
    """Crops [N, H, W, C] frames to the box (y, x, h, w)."""
    return frames[:, box[0] : box[0] + box[2], box[1] : box[1] + box[3], :]


def resize(frames: tf.Tensor, height: int | tf.Tensor, width: int | tf.Tensor) -> tf.Tensor:
    """Bilinear resize of [N, H, W, C] frames to float32 [N, height, width, C]."""
    resized = tf.image.resize(frames, tf.stack([height, width]), method="bilinear", antialias=True)
    return resized


def resize_short_side(frames: tf.Tensor, short_side: int) -> tf.Tensor:
    """Resizes [N, H, W, C] frames so that min(H, W) == short_side (aspect kept)."""
    shape = tf.shape(frames)
    height, width = tf.cast(shape[1], tf.float32), tf.cast(shape[2], tf.float32)
    ratio = short_side / tf.minimum(height, width)
    new_h = tf.cast(tf.round(height * ratio), tf.int32)
    new_w = tf.cast(tf.round(width * ratio), tf.int32)
    return resize(frames, new_h, new_w)


def flip_left_right(frames: tf.Tensor, flow: bool = False) -> tf.Tensor:
    """Mirrors [N, H, W, C] frames; for quantized flow also negates x (255 - x).

    A mirrored video moves the other way: its flow's x component changes sign
    (TSN's flow stream does this on its flipped crops; forgetting it teaches the
    network that leftward and rightward motion look alike).
    """
    flipped = tf.reverse(frames, axis=[2])
    return modalities.invert_flow_x(flipped) if flow else flipped


def random_flip_left_right(frames: tf.Tensor, seed: tf.Tensor, flow: bool = False) -> tf.Tensor:
    """`flip_left_right` with probability 1/2 (one coin per clip); returns float32."""
    frames = tf.cast(frames, tf.float32)
    flip = tf.random.stateless_uniform([], seed) < 0.5
    return tf.cond(flip, lambda: flip_left_right(frames, flow), lambda: frames)


def normalize(frames: tf.Tensor, mean: Sequence[float], std: Sequence[float]) -> tf.Tensor:
    """(frames - mean) / std per channel, frames in [0, 255]; returns float32."""
    frames = tf.cast(frames, tf.float32)
    return (frames - tf.constant(mean, tf.float32)) / tf.constant(std, tf.float32)


def train_crop_box(
    height: tf.Tensor,
    width: tf.Tensor,
    *,
    train_crop: str,
    crop_size: int,
    scales: Sequence[float],
    max_distort: int,
    crop_positions: str,
    seed: tf.Tensor,
) -> tf.Tensor:
    """Draws the training crop box of a frame: one of `TRAIN_CROPS`.

    Args:
      height, width: scalar int32 frame size.
      train_crop: 'multiscale' (`multiscale_crop_box`: TSN, Hara et al.),
        'random_resized' (`random_resized_crop_box`: Inception-style, mmaction2's
        recipes for 3D networks), 'random' (`random_crop_box`: C3D) or 'centre' (a
        multi-scale crop size at the centre of the frame, offsets (H - h) // 2 and
        (W - w) // 2; with `scales=(1.0,)` Hara et al.'s *spatial center*, the
        short-side square; for several scales their code's `train_crop='center'`).
      crop_size: output side ('random' crops it at the stored scale).
      scales, max_distort, crop_positions: of the 'multiscale' crop ('centre': the
        scales and max_distort).
      seed: [2] stateless random seed.

    Returns:
      [4] int32 box (y, x, h, w).
    """
    if train_crop in ("multiscale", "centre"):
        box = multiscale_crop_box(
            height,
            width,
            scales=scales,
            max_distort=max_distort,
            positions=crop_positions,
            seed=seed,
        )
        if train_crop == "multiscale":
            return box
        return centre_crop_box(height, width, box[2], box[3])
    if train_crop == "random_resized":
        return random_resized_crop_box(height, width, seed=seed)
    if train_crop == "random":
        return random_crop_box(height, width, crop_size, seed=seed)
    raise ValueError(f"train_crop must be one of {TRAIN_CROPS}, got {train_crop!r}")


def train_transform(
    frames: tf.Tensor,
    *,
    crop_size: int,
    scales: Sequence[float],
    max_distort: int,
    crop_positions: str,
    flip: bool,
    seed: tf.Tensor,
    train_crop: str = "multiscale",
    flow: bool = False,
) -> tf.Tensor:
    """Training augmentation: a crop (`train_crop_box`), resize to `crop_size`, flip.

    Args:
      frames: [N, H, W, C] uint8 frames of one sample.
      crop_size: output side.
      scales, max_distort, crop_positions, train_crop: the crop, see `train_crop_box`.
      flip: flip every frame with probability 1/2 (one coin per sample).
      seed: [2] stateless seed shared by every frame.
      flow: frames are quantized flow x/y planes: a flip also negates x.

    Returns:
      [N, crop_size, crop_size, C] float32 in [0, 255].
    """
    crop_seed, flip_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
    shape = tf.shape(frames)
    box = train_crop_box(
        shape[1],
        shape[2],
        train_crop=train_crop,
        crop_size=crop_size,
        scales=scales,
        max_distort=max_distort,
        crop_positions=crop_positions,
        seed=crop_seed,
    )
    frames = resize(crop(frames, box), crop_size, crop_size)
    if flip:
        frames = random_flip_left_right(frames, flip_seed, flow)
    return frames


def eval_crop_boxes(
    height: tf.Tensor, width: tf.Tensor, size: int | tf.Tensor, crops: str
) -> list[tuple[tf.Tensor, bool]]:
    """The spatial test views of a frame: (box (y, x, h, w), mirrored) pairs.

    `size` is the side of every crop (an int32 scalar tensor for the short side).

    * 'centre': one size x size crop at the centre.
    * 'three': three size x size crops along the long side, at its start, middle
      and end, centred on the short side (mmaction2's ThreeCrop; with the short
      side resized to `size` they span it, as the 3D networks' 3-crop test does).
    * 'ten': the 4 corners and the centre on the quarter grid of the corner crop
      (`CORNER_AND_CENTRE_POSITIONS`), then the same 5 mirrored (TSN's 10-crop
      test, tsn-pytorch's GroupOverSample).

    Returns:
      [(box, mirrored)] in that order.
    """
    if crops not in EVAL_CROPS:
        raise ValueError(f"eval crops must be one of {tuple(EVAL_CROPS)}, got {crops!r}")
    free_y, free_x = height - size, width - size
    if crops == "centre":
        return [(centre_crop_box(height, width, size, size), False)]
    if crops == "three":
        landscape = width >= height
        boxes = []
        for i in range(3):
            y = tf.where(landscape, free_y // 2, i * (free_y // 2))
            x = tf.where(landscape, i * (free_x // 2), free_x // 2)
            boxes.append((tf.stack([y, x, size, size]), False))
        return boxes
    boxes = [
        tf.stack([gy * (free_y // 4), gx * (free_x // 4), size, size])
        for gx, gy in CORNER_AND_CENTRE_POSITIONS
    ]
    return [(box, False) for box in boxes] + [(box, True) for box in boxes]


def eval_transform(
    frames: tf.Tensor,
    *,
    resize_short: int,
    crop_size: int,
    crops: str = "centre",
    flow: bool = False,
) -> tf.Tensor:
    """Test views: the crops of `eval_crop_boxes`, at `crop_size` pixels.

    With `resize_short` > 0 the frames are resized to that short side first and
    the crops are `crop_size` squares of them (TSN: 224 crops of 256; Hara et al.'s
    code: 112 of 112). With `resize_short` 0 the crops are squares of the full
    short side of the stored frames, each resized to `crop_size`: Hara et al.'s
    test crop (ICPR 2018, Sec. III-B2: "cropped around a center position with the
    maximum scale", then, as every sample, resized to 112, Sec. III-B1). Both
    cover the same part of the frame; they differ by the rounding of the resized
    frame and the order of resizing and cropping.

    Args:
      frames: [N, H, W, C] uint8.
      resize_short: short side before cropping; 0: crop first at the short side.
      crop_size: side of each view.
      crops: one of EVAL_CROPS.
      flow: frames are quantized flow planes: mirrored views negate x.

    Returns:
      [V, N, crop_size, crop_size, C] float32 in [0, 255]: V = 1, 3 or 10 views.
    """
    if resize_short:
        frames = resize_short_side(frames, resize_short)
    shape = tf.shape(frames)
    side = crop_size if resize_short else tf.minimum(shape[1], shape[2])
    views = []
    for box, mirrored in eval_crop_boxes(shape[1], shape[2], side, crops):
        view = crop(frames, box)
        if not resize_short:
            view = resize(view, crop_size, crop_size)
        views.append(flip_left_right(view, flow) if mirrored else view)
    return tf.ensure_shape(tf.stack(views), [len(views), None, crop_size, crop_size, None])
