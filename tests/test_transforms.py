"""Crop boxes and spatial transforms."""

import numpy as np
import pytest
import tensorflow as tf

from input_pipeline import transforms
from tsn_jax import spec

TSN_SCALES = (1.0, 0.875, 0.75, 0.66)


def test_scale_pairs_differ_by_at_most_max_distort():
    pairs = transforms.scale_pairs(4, 1)
    assert len(pairs) == 10
    assert set(pairs) == {(i, j) for i in range(4) for j in range(4) if abs(i - j) <= 1}
    assert len(transforms.scale_pairs(4, 0)) == 4


def _boxes(height, width, positions, num_seeds=1500, scales=TSN_SCALES, max_distort=1):
    """The set of (y, x, h, w) boxes drawn with seeds (s, 11), s < num_seeds (in a
    tf.data map: one traced function instead of thousands of eager calls)."""

    def box(s):
        return transforms.multiscale_crop_box(
            tf.constant(height),
            tf.constant(width),
            scales=scales,
            max_distort=max_distort,
            positions=positions,
            seed=tf.stack([s, tf.constant(11, tf.int64)]),
        )

    seeds = tf.data.Dataset.range(num_seeds)
    return {tuple(b.tolist()) for b in seeds.map(box).as_numpy_iterator()}


def test_multiscale_corner_crop_boxes_of_a_340x256_frame():
    # The TSN paper's sizes: 256, 224, 192, 168 of a 340x256 frame.
    sides = (256, 224, 192, 168)
    expected = set()
    for wi, w in enumerate(sides):
        for hi, h in enumerate(sides):
            if abs(wi - hi) > 1:
                continue
            step_x, step_y = (340 - w) // 4, (256 - h) // 4
            for a, b in ((0, 0), (4, 0), (0, 4), (4, 4), (2, 2)):
                expected.add((b * step_y, a * step_x, h, w))
    # 10 size pairs x 5 points, less the corners that coincide for full-height crops.
    assert len(expected) == 46
    observed = _boxes(256, 340, "corners")
    assert observed == expected
    # Spot checks written out: the largest crop, and a 224 x 192 crop at the bottom right.
    assert (0, 0, 256, 256) in observed and (0, 84, 256, 256) in observed
    assert (64, 116, 192, 224) in observed


def test_more_fixed_crop_positions_are_the_13_grid_points():
    observed = _boxes(256, 340, "more_fixed", num_seeds=3000)
    full = [b for b in observed if b[2] == 256 and b[3] == 256]
    # 256 x 256 crop: free space only along x (84 // 4 = 21), so 13 points give 5 x offsets.
    assert {b[1] for b in full} == {0, 21, 42, 63, 84}
    quarter = [b for b in observed if b[2] == 168 and b[3] == 168]
    assert {(b[0], b[1]) for b in quarter} == {
        (y * 22, x * 43) for x, y in spec.MORE_FIXED_POSITIONS
    }


def test_hara_multiscale_random_crop_boxes():
    # Hara et al.: square crops of 2^(-k/4) of the short side at any position. On a
    # 20 x 24 frame the sides are 20, 16, 14, 11, 10.
    hara = tuple(2 ** (-k / 4) for k in range(5))
    observed = _boxes(20, 24, "random", num_seeds=3000, scales=hara, max_distort=0)
    assert {b[2] for b in observed} == {20, 16, 14, 11, 10}
    assert all(b[2] == b[3] for b in observed)
    assert all(b[0] + b[2] <= 20 and b[1] + b[3] <= 24 for b in observed)
    # Every offset is reachable, the last ones included (free space 10 x 14 for side 10).
    side10 = {(b[0], b[1]) for b in observed if b[2] == 10}
    assert {y for y, _ in side10} == set(range(11)) and {x for _, x in side10} == set(range(15))


def test_unknown_crop_positions_is_an_error():
    with pytest.raises(ValueError, match="more_fixed"):
        _boxes(20, 24, "anywhere", num_seeds=1)


def _random_resized(height, width, num_seeds):
    def box(s):
        return transforms.random_resized_crop_box(
            tf.constant(height), tf.constant(width), seed=tf.stack([s, tf.constant(3, tf.int64)])
        )

    return np.stack(list(tf.data.Dataset.range(num_seeds).map(box).as_numpy_iterator()))


def test_random_resized_crop_areas_aspects_and_positions():
    boxes = _random_resized(120, 160, 400)
    y, x, h, w = boxes.T
    assert (y >= 0).all() and (x >= 0).all() and (y + h <= 120).all() and (x + w <= 160).all()
    area = h * w / (120 * 160)
    aspect = w / h
    # Rounding the sides moves the area and the aspect a little past the ranges.
    assert area.min() >= 0.07 and area.max() <= 1.0 and area.min() < 0.15 and area.max() > 0.8
    assert aspect.min() >= 0.72 and aspect.max() <= 1.38
    assert len({(a, b) for a, b in zip(y, x, strict=True)}) > 300  # positions vary


def test_random_resized_crop_falls_back_to_a_centred_clipped_frame():
    # 10 x 200: every candidate (area >= 160 at aspect <= 4/3) is taller than 10 rows.
    boxes = _random_resized(10, 200, 5)
    np.testing.assert_array_equal(boxes, [[0, 93, 10, 13]] * 5)


def _train_transform(frames, seed, **overrides):
    options = dict(
        crop_size=32, scales=TSN_SCALES, max_distort=1, crop_positions="corners", flip=True
    )
    options.update(overrides)
    return transforms.train_transform(frames, seed=tf.constant(seed, tf.int64), **options)


def test_train_transform_random_resized_crop_crops_the_drawn_box():
    frames = tf.constant(np.random.default_rng(1).integers(0, 255, (3, 48, 64, 3), np.uint8))
    out = _train_transform(frames, (1, 2), flip=False, train_crop="random_resized").numpy()
    crop_seed, _ = tf.unstack(
        tf.random.experimental.stateless_split(tf.constant([1, 2], tf.int64), 2)
    )
    box = transforms.random_resized_crop_box(tf.constant(48), tf.constant(64), seed=crop_seed)
    expected = transforms.resize(transforms.crop(frames, box), 32, 32).numpy()
    np.testing.assert_allclose(out, expected, atol=1e-4)
    with pytest.raises(ValueError, match="random_resized"):
        _train_transform(frames, (1, 2), train_crop="inception")


def test_train_transform_crops_the_drawn_box_and_flips_every_frame_alike():
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 255, (1, 48, 64, 3), dtype=np.uint8)
    frames = tf.constant(np.repeat(frame, 4, axis=0))
    out = _train_transform(frames, (5, 6)).numpy()
    assert out.shape == (4, 32, 32, 3) and out.dtype == np.float32
    for i in range(1, 4):
        np.testing.assert_array_equal(out[i], out[0])
    # Reproduce it from the same box and flip draw.
    crop_seed, flip_seed = tf.unstack(
        tf.random.experimental.stateless_split(tf.constant([5, 6], tf.int64), 2)
    )
    box = transforms.multiscale_crop_box(
        tf.constant(48),
        tf.constant(64),
        scales=TSN_SCALES,
        max_distort=1,
        positions="corners",
        seed=crop_seed,
    )
    ref = transforms.resize(transforms.crop(frames, box), 32, 32)
    flipped = bool(tf.random.stateless_uniform([], flip_seed) < 0.5)
    if flipped:
        ref = ref[:, :, ::-1]
    np.testing.assert_allclose(out, ref.numpy(), atol=1e-4)


def test_flip_happens_about_half_the_time_and_reverses_width():
    frames = tf.constant(np.arange(2 * 3 * 4 * 1).reshape(2, 3, 4, 1), tf.float32)
    flips = 0
    for s in range(200):
        out = transforms.random_flip_left_right(frames, tf.constant([s, 0], tf.int64)).numpy()
        if not np.array_equal(out, frames.numpy()):
            np.testing.assert_array_equal(out, frames.numpy()[:, :, ::-1])
            flips += 1
    assert 70 < flips < 130


def test_eval_transform_is_a_centre_crop_after_short_side_resize():
    rng = np.random.default_rng(1)
    frames = rng.integers(0, 255, (2, 73, 100, 3), dtype=np.uint8)
    out = transforms.eval_transform(tf.constant(frames), resize_short=73, crop_size=64).numpy()
    np.testing.assert_allclose(out[0], frames[:, 4:68, 18:82].astype(np.float32), atol=1e-3)
    out = transforms.eval_transform(tf.constant(frames), resize_short=146, crop_size=64)
    assert out.shape == (1, 2, 64, 64, 3)


def _eval_boxes(height, width, size, crops):
    return [
        (tuple(int(v) for v in box.numpy()), mirrored)
        for box, mirrored in transforms.eval_crop_boxes(
            tf.constant(height), tf.constant(width), size, crops
        )
    ]


def test_ten_crop_boxes_of_a_256x340_frame():
    # TSN's 10-crop test of 224 crops: free space 32 x 116, quarter steps 8 and 29.
    corners = [
        ((0, 0, 224, 224), False),
        ((0, 116, 224, 224), False),
        ((32, 0, 224, 224), False),
        ((32, 116, 224, 224), False),
        ((16, 58, 224, 224), False),
    ]
    assert _eval_boxes(256, 340, 224, "ten") == corners + [(box, True) for box, _ in corners]


def test_three_crop_boxes_follow_the_long_side():
    assert _eval_boxes(256, 341, 256, "three") == [
        ((0, 0, 256, 256), False),
        ((0, 42, 256, 256), False),
        ((0, 84, 256, 256), False),
    ]
    assert _eval_boxes(300, 256, 256, "three") == [
        ((0, 0, 256, 256), False),
        ((22, 0, 256, 256), False),
        ((44, 0, 256, 256), False),
    ]
    assert _eval_boxes(256, 340, 224, "centre") == [((16, 58, 224, 224), False)]
    with pytest.raises(ValueError, match="eval crops"):
        _eval_boxes(256, 340, 224, "five")


def test_ten_crop_views_mirror_and_negate_flow_x():
    """The mirrored views of flow are the mirrored crops with x -> 255 - x."""
    rng = np.random.default_rng(4)
    flow = rng.integers(0, 256, (3, 40, 52, 2), dtype=np.uint8)
    views = transforms.eval_transform(
        tf.constant(flow), resize_short=40, crop_size=32, crops="ten", flow=True
    ).numpy()
    assert views.shape == (10, 3, 32, 32, 2)
    # Corner 1 (top right): free space 8 x 20, quarter steps 2 and 5.
    np.testing.assert_allclose(views[1], flow[:, 0:32, 20:52], atol=1e-3)
    mirrored = flow[:, 0:32, 20:52][:, :, ::-1].astype(np.float32)
    mirrored[..., 0] = 255 - mirrored[..., 0]
    np.testing.assert_allclose(views[6], mirrored, atol=1e-3)
    rgb = transforms.eval_transform(
        tf.constant(flow[..., :1].repeat(3, -1)), resize_short=40, crop_size=32, crops="ten"
    ).numpy()
    np.testing.assert_allclose(rgb[6, ..., 0], flow[:, 0:32, 20:52, 0][:, :, ::-1], atol=1e-3)


def test_random_crop_box_keeps_the_scale_and_covers_every_offset():
    seen = set()
    for i in range(200):
        box = transforms.random_crop_box(
            tf.constant(10), tf.constant(12), 8, seed=tf.constant([5, i])
        ).numpy()
        assert tuple(box[2:]) == (8, 8)
        seen.add((int(box[0]), int(box[1])))
    assert seen == {(y, x) for y in range(3) for x in range(5)}
    small = transforms.random_crop_box(tf.constant(6), tf.constant(20), 8, seed=tf.constant([1, 2]))
    assert int(small[0]) == 0 and tuple(small.numpy()[2:]) == (6, 8)


def test_resize_short_side_keeps_aspect():
    frames = tf.zeros([1, 96, 128, 3], tf.uint8)
    assert transforms.resize_short_side(frames, 80).shape == (1, 80, 107, 3)
    frames = tf.zeros([1, 128, 96, 3], tf.uint8)
    assert transforms.resize_short_side(frames, 48).shape == (1, 64, 48, 3)


def test_normalize():
    frames = tf.constant([[[[255, 0, 128]]]], tf.uint8)
    out = transforms.normalize(frames, (128.0, 0.0, 128.0), (127.0, 1.0, 2.0)).numpy()
    np.testing.assert_allclose(out.ravel(), [1.0, 0.0, 0.0])


def _train_boxes(height, width, num_seeds=8000, crop_size=8, **crop):
    """The set of `train_crop_box` boxes over `num_seeds` seeds, drawn in one graph."""
    crop.setdefault("crop_positions", "random")  # not read by 'centre'
    seeds = tf.stack([tf.range(num_seeds, dtype=tf.int64), tf.fill([num_seeds], tf.int64.max)], 1)
    draw = tf.function(
        lambda s: tf.map_fn(
            lambda seed: transforms.train_crop_box(
                tf.constant(height), tf.constant(width), crop_size=crop_size, seed=seed, **crop
            ),
            s,
            fn_output_signature=tf.int32,
        )
    )
    return {tuple(b) for b in draw(seeds).numpy().tolist()}


def _spatial(name):
    return {k: v for k, v in spec.AUGMENTATIONS[name].items() if k != "temporal_scales"}


def _hara_sides(short_side, scales):
    # Side = int(scale x short side) (Hara et al. Sec. IV-A; the truncation is their code's).
    return sorted({int(short_side * s) for s in scales})


@pytest.mark.parametrize("height, width", [(16, 18), (19, 16)])
@pytest.mark.parametrize("name", list(spec.AUGMENTATIONS))
def test_each_hara_augmentation_draws_exactly_its_crop_boxes(name, height, width):
    """Hara et al. (ICPR 2018) Sec. IV-A: every box of each named configuration, and no other."""
    short = min(height, width)
    crop = spec.AUGMENTATIONS[name]
    multi = name.startswith("multiscale")
    sides = _hara_sides(short, spec.HARA_SCALES) if multi else [short]
    if multi:  # 2^(-k/4), k = 0..4, of a short side of 16: 16, 13, 11, 9, 8
        assert sides == [8, 9, 11, 13, 16]
    expected = set()
    for s in sides:
        free_y, free_x = height - s, width - s
        if name == "spatial_center":
            positions = {(free_y // 2, free_x // 2)}
        elif crop["crop_positions"] == "random":
            positions = {(y, x) for y in range(free_y + 1) for x in range(free_x + 1)}
        else:  # the 4 corners, flush with the frame's edges, and the centre
            positions = {(0, 0), (0, free_x), (free_y, 0), (free_y, free_x)}
            positions.add((free_y // 2, free_x // 2))
        expected |= {(y, x, s, s) for y, x in positions}
    assert _train_boxes(height, width, **_spatial(name)) == expected


def test_spatial_center_is_the_short_side_square_resized():
    """A Hara *spatial center* sample is the centre square of the short side, at crop_size."""
    rng = np.random.default_rng(3)
    frames = tf.constant(rng.integers(0, 255, (2, 20, 28, 3), np.uint8))
    options = dict(crop_size=20, flip=False, crop_positions="random", **_spatial("spatial_center"))
    for seed in range(3):
        out = transforms.train_transform(frames, seed=tf.constant([seed, 1], tf.int64), **options)
        np.testing.assert_allclose(out.numpy(), frames.numpy()[:, :, 4:24], atol=1e-3)
    out = transforms.train_transform(
        frames, seed=tf.constant([0, 1], tf.int64), **options | {"crop_size": 10}
    )
    expected = transforms.resize(frames[:, :, 4:24], 10, 10).numpy()
    np.testing.assert_allclose(out.numpy(), expected, atol=1e-4)


def test_multiscale_centre_crop_centres_every_drawn_size():
    # Hara et al.'s code's train_crop='center': their multi-scale sizes at the centre.
    boxes = _train_boxes(
        16, 18, train_crop="centre", scales=spec.HARA_SCALES, max_distort=0,
        crop_positions="random",
    )  # fmt: skip
    assert boxes == {((16 - s) // 2, (18 - s) // 2, s, s) for s in (16, 13, 11, 9, 8)}


def test_hara_test_crop_is_the_short_side_centre_square_resized():
    """resize_short=0: the centre square of the full short side, resized (Hara Sec. III-B2)."""
    rng = np.random.default_rng(5)
    frames = rng.integers(0, 255, (2, 30, 44, 3), dtype=np.uint8)
    out = transforms.eval_transform(tf.constant(frames), resize_short=0, crop_size=12).numpy()
    expected = transforms.resize(tf.constant(frames[:, :, 7:37]), 12, 12).numpy()
    assert out.shape == (1, 2, 12, 12, 3)
    np.testing.assert_allclose(out[0], expected, atol=1e-4)
    # Their test code: the short side resized to 12 (12 x 18), then the centre 12 x 12.
    theirs = transforms.eval_transform(tf.constant(frames), resize_short=12, crop_size=12)
    resized = transforms.resize_short_side(tf.constant(frames), 12).numpy()
    np.testing.assert_allclose(theirs.numpy()[0], resized[:, :, 3:15], atol=1e-4)
    tall = transforms.eval_transform(tf.constant(frames[:, :, :20]), resize_short=0, crop_size=20)
    np.testing.assert_allclose(tall.numpy()[0], frames[:, 5:25, :20], atol=1e-3)


PAPER_SIDES = (256, 224, 192, 168)  # TSN ECCV 2016 Sec. 3.2 / TPAMI 2018 Sec. 3.4


def test_scale_pairs_any_pair_and_bad_max_distort():
    assert transforms.scale_pairs(4, 3) == tuple((i, j) for j in range(4) for i in range(4))
    assert transforms.scale_pairs(4, 7) == transforms.scale_pairs(4, 3)
    with pytest.raises(ValueError, match="max_distort"):
        transforms.scale_pairs(4, -1)


@pytest.mark.parametrize(
    "name",
    [
        "ucf101_tsn_bninception_rgb",
        "ucf101_tsn_bninception_flow",
        "ucf101_tsn_bninception_rgbdiff",
        "activitynet_tsn_topk",
    ],
)
def test_tsn_recipes_draw_crop_width_and_height_independently_from_the_paper_sizes(name):
    # The paper: on 340x256 frames, width and height each from {256, 224, 192, 168}.
    import importlib

    data = importlib.import_module(f"configs.{name}").get_config().data
    observed = _boxes(256, 340, "corners", 600, tuple(data.scales), data.max_distort)
    assert {(b[2], b[3]) for b in observed} == {(h, w) for h in PAPER_SIDES for w in PAPER_SIDES}


def test_tsn_code_rule_keeps_to_neighbouring_sizes():
    # tsn-pytorch / the Caffe layer / mmaction2: max_distort 1, 10 of the 16 pairs.
    observed = _boxes(256, 340, "corners", 600, TSN_SCALES, 1)
    sizes = {(b[2], b[3]) for b in observed}
    assert len(sizes) == 10 and (256, 192) not in sizes and (168, 256) not in sizes
