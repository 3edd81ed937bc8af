"""Sampled frame indices and crop boxes against mmaction2 1.2's own transforms.

Each test runs mmaction2's real `SampleFrames`, `CenterCrop`, `ThreeCrop`, `TenCrop` or
`MultiScaleCrop` (installed, `import_mmaction()`; skipped without it) next to ours and
compares exactly. The TF sampling ops run eagerly on scalars.
"""

import itertools
import random

import numpy as np
import pytest
import tensorflow as tf

from input_pipeline import sampling, transforms
from tsn_jax import spec

pytest.importorskip("torch")

from tests.torch_utils import import_mmaction  # noqa: E402


@pytest.fixture(scope="module")
def mm():
    """mmaction2's transforms module (registers nothing we depend on)."""
    import_mmaction()
    from mmaction.datasets.transforms import loading, processing

    return loading, processing


def _sample_frames(mm, num_frames, clip_len, interval, num_clips, **kwargs) -> np.ndarray:
    sampler = mm[0].SampleFrames(
        clip_len=clip_len, frame_interval=interval, num_clips=num_clips, **kwargs
    )
    return sampler.transform({"total_frames": num_frames, "start_index": 0})["frame_inds"]


def _ours(num_frames, clip_len, interval, num_clips, *, clip_sampling, short_video, twice=False):
    sets = (False, True) if twice else (False,)
    return np.concatenate(
        [
            sampling.tsn_frame_indices(
                tf.constant(num_frames),
                num_segments=num_clips,
                frames_per_snippet=clip_len,
                training=False,
                short_video=short_video,
                frame_interval=interval,
                second_set=second,
                clip_sampling=clip_sampling,
            ).numpy()
            for second in sets
        ]
    )


def _lengths(span: int) -> list[int]:
    """Video lengths around a clip span: shorter, equal, N - span + 1 odd and even, long."""
    return sorted({1, 2, span - 1, span, span + 1, span + 2, span + 3, 2 * span + 7, 301} - {0})


# ------------------------------------------------------------------- test clips


@pytest.mark.parametrize("clip_len,interval", [(1, 1), (1, 8), (4, 1), (4, 2), (8, 8), (32, 2)])
@pytest.mark.parametrize("num_clips", [1, 3, 10])
def test_test_clips_equal_sample_frames(mm, clip_len, interval, num_clips):
    # clip_sampling='mmaction2' is SampleFrames(test_mode=True), with twice_sample and
    # either out_of_bound_opt, for every length around the clip span.
    span = (clip_len - 1) * interval + 1
    for num_frames, twice, out_of_bound in itertools.product(
        _lengths(span), (False, True), ("loop", "repeat_last")
    ):
        if twice and num_clips == 1 and clip_len > 1:
            continue  # mmaction2 divides by num_clips - 1 = 0 (test below)
        case = (num_frames, clip_len, interval, num_clips, twice, out_of_bound)
        expected = _sample_frames(
            mm,
            num_frames,
            clip_len,
            interval,
            num_clips,
            test_mode=True,
            twice_sample=twice,
            out_of_bound_opt=out_of_bound,
        )
        ours = _ours(
            num_frames,
            clip_len,
            interval,
            num_clips,
            clip_sampling="mmaction2",
            short_video=out_of_bound,
            twice=twice,
        )
        np.testing.assert_array_equal(ours, expected, err_msg=str(case))


def test_twice_sampled_single_dense_clip_fails_as_in_mmaction2(mm):
    with pytest.raises(ZeroDivisionError):
        _sample_frames(mm, 100, 4, 2, 1, test_mode=True, twice_sample=True)
    with pytest.raises(ValueError, match="twice_sample"):
        _ours(100, 4, 2, 1, clip_sampling="mmaction2", short_video="loop", twice=True)


@pytest.mark.parametrize("num_clips", [1, 3, 7, 25])
def test_2d_clips_equal_sample_frames_and_tsn_but_for_float_rounding(mm, num_clips):
    # T = 1: mmaction2's clips are TSN's segment centres (twice_sample: segment starts)
    # in float64, which puts a few integer centres a frame early; clip_sampling=
    # 'mmaction2' repeats its arithmetic, 'tsn' computes the centres exactly.
    early = {(6, 7): [3], (12, 7): [3], (30, 25): [12], (58, 25): [12], (60, 25): [12]}
    for num_frames, twice in itertools.product([1, 2, 5, 6, 9, 12, 30, 58, 60, 301], (0, 1)):
        case = (num_frames, num_clips, twice)
        expected = _sample_frames(
            mm, num_frames, 1, 1, num_clips, test_mode=True, twice_sample=bool(twice)
        )
        ours = {
            name: _ours(num_frames, 1, 1, num_clips, clip_sampling=name, short_video="clamp",
                        twice=bool(twice))
            for name in spec.CLIP_SAMPLINGS
        }  # fmt: skip
        np.testing.assert_array_equal(ours["mmaction2"], expected, err_msg=str(case))
        exact = np.array(expected)
        exact[early.get((num_frames, num_clips), [])] += 1
        np.testing.assert_array_equal(ours["tsn"], exact, err_msg=str(case))


def test_tsn_dense_clips_are_not_sample_frames(mm):
    # The departure that `clip_sampling` names: TSN centres a clip in its segment;
    # mmaction2 spreads clips over [0, N - span] (100 frames, span 25: 38 against 37).
    ours = _ours(100, 4, 8, 1, clip_sampling="tsn", short_video="loop")
    expected = _sample_frames(mm, 100, 4, 8, 1, test_mode=True)
    np.testing.assert_array_equal(ours[:1], [38])
    np.testing.assert_array_equal(expected[:1], [37])


@pytest.mark.parametrize("num_frames", [5, 9, 12, 14])
def test_out_of_bound_modes_equal_sample_frames(mm, num_frames):
    # 4 frames 4 apart (span 13) past the end of a short video: 'loop' is mmaction2's
    # modulo, 'repeat_last' its last in-bounds index of the clip; 'clamp' (N - 1) is not
    # mmaction2's when tau > 1.
    for mode in ("loop", "repeat_last"):
        expected = _sample_frames(mm, num_frames, 4, 4, 1, test_mode=True, out_of_bound_opt=mode)
        ours = _ours(num_frames, 4, 4, 1, clip_sampling="mmaction2", short_video=mode)
        np.testing.assert_array_equal(ours, expected, err_msg=mode)
    clamped = _ours(9, 4, 4, 1, clip_sampling="mmaction2", short_video="clamp")
    np.testing.assert_array_equal(clamped, [0, 4, 8, 8])
    expected = _sample_frames(mm, 10, 4, 4, 1, test_mode=True, out_of_bound_opt="repeat_last")
    np.testing.assert_array_equal(expected, [0, 4, 8, 8])  # clamp would give 9
    np.testing.assert_array_equal(
        _ours(10, 4, 4, 1, clip_sampling="mmaction2", short_video="repeat_last"), expected
    )


# --------------------------------------------------------------- training clips


def _mm_train_starts(mm, num_frames, clip_len, interval, num_clips, draws) -> np.ndarray:
    np.random.seed(0)
    return np.stack(
        [
            _sample_frames(mm, num_frames, clip_len, interval, num_clips)[::clip_len]
            for _ in range(draws)
        ]
    )


def _our_train_starts(num_frames, clip_len, interval, num_clips, draws) -> np.ndarray:
    return np.stack(
        [
            sampling.tsn_frame_indices(
                tf.constant(num_frames),
                num_segments=num_clips,
                frames_per_snippet=clip_len,
                training=True,
                short_video="loop",
                seed=tf.constant([s, 11], tf.int64),
                frame_interval=interval,
                clip_sampling="mmaction2",
            ).numpy()[::clip_len]
            for s in range(draws)
        ]
    )


@pytest.mark.parametrize(
    "num_frames,clip_len,interval,num_clips",
    [
        (40, 4, 4, 1),  # one clip: starts 0..24 (T * tau = 16 frames); TSN's reach 27
        (14, 4, 4, 1),  # 13 <= N < 16: always frame 0 in mmaction2
        (40, 1, 1, 3),  # integer segments of 13: k * 13 + 0..12
        (10, 4, 2, 5),  # L = 3 < K, N > max(K, 8): sorted draws in 0..2
        (4, 1, 1, 5),  # L = 4 < K, N <= K: round(k * 4 / 5) = 0, 1, 2, 2, 3
        (3, 4, 2, 5),  # N < T * tau: zeros
    ],
)
def test_train_clip_starts_have_sample_frames_support(
    mm, num_frames, clip_len, interval, num_clips
):
    # Random draws cannot agree number for number (numpy's generator against TF's
    # stateless one); the reachable starts of every clip and their order must.
    draws = 300
    expected = _mm_train_starts(mm, num_frames, clip_len, interval, num_clips, draws)
    ours = _our_train_starts(num_frames, clip_len, interval, num_clips, draws)
    for k in range(num_clips):
        assert set(ours[:, k]) == set(expected[:, k]), k
    assert np.all(np.diff(ours, axis=1) >= 0) and np.all(np.diff(expected, axis=1) >= 0)


# ------------------------------------------------------------------------ crops


def _box(box) -> list[int]:
    """Our (y, x, h, w) as mmaction2's crop_bbox (left, top, right, bottom)."""
    y, x, h, w = (int(v) for v in np.asarray(box))
    return [x, y, x + w, y + h]


@pytest.mark.parametrize("height,width", [(256, 340), (340, 256), (256, 256), (73, 98), (99, 64)])
def test_centre_crop_box_equals_center_crop(mm, height, width):
    size = 64
    expected = mm[1].CenterCrop(size).transform({"img_shape": (height, width)})["crop_bbox"]
    ((box, mirrored),) = transforms.eval_crop_boxes(height, width, size, "centre")
    assert not mirrored
    np.testing.assert_array_equal(_box(box), expected)


def _imgs(height, width):
    return {"imgs": [np.zeros((height, width, 3), np.uint8)], "img_shape": (height, width)}


@pytest.mark.parametrize("height,width", [(64, 107), (107, 64), (64, 64), (64, 65), (66, 64)])
def test_three_crop_boxes_equal_three_crop(mm, height, width):
    # mmaction2 needs the short side at the crop size (the 3D networks' 3-crop test).
    # Its order is start, end, middle; ours start, middle, end: the same three views,
    # whose scores are averaged.
    size = 64
    expected = mm[1].ThreeCrop(size).transform(_imgs(height, width))["crop_bbox"]
    boxes = transforms.eval_crop_boxes(height, width, size, "three")
    assert not any(mirrored for _, mirrored in boxes)
    ours = [_box(box) for box, _ in boxes]
    np.testing.assert_array_equal([ours[0], ours[2], ours[1]], expected)


@pytest.mark.parametrize("height,width", [(73, 98), (98, 73), (64, 64), (70, 67), (256, 340)])
def test_ten_crop_boxes_equal_ten_crop(mm, height, width):
    # mmaction2 interleaves each crop with its mirror image; ours lists the 5 crops,
    # then their 5 mirror images (tsn-pytorch's GroupOverSample order).
    size = 64
    expected = mm[1].TenCrop(size).transform(_imgs(height, width))["crop_bbox"]
    boxes = transforms.eval_crop_boxes(height, width, size, "ten")
    assert [m for _, m in boxes] == [False] * 5 + [True] * 5
    ours = [_box(box) for box, _ in boxes]
    interleaved = [b for pair in zip(ours[:5], ours[5:], strict=True) for b in pair]
    np.testing.assert_array_equal(interleaved, expected)


class _Enumerate:
    """Stands in for the `random` module: choice() walks every candidate in turn."""

    def __init__(self, picks):
        self.picks = iter(picks)

    def choice(self, seq):
        return seq[next(self.picks)]


def _mm_multiscale_boxes(mm, height, width, scales, max_distort, fixed_crops) -> set:
    # input_size 1: no candidate side is within 3 pixels of it, so mmaction2's snapping
    # of near-output sides (which TSN's paper does not have, see
    # transforms.multiscale_crop_box) stays off.
    crop = mm[1].MultiScaleCrop(
        1, scales=scales, max_wh_scale_gap=max_distort, num_fixed_crops=fixed_crops
    )
    num_pairs = len(transforms.scale_pairs(len(scales), max_distort))
    boxes = set()
    original = mm[1].random
    try:
        for pair, position in itertools.product(range(num_pairs), range(fixed_crops)):
            mm[1].random = _Enumerate([pair, position])
            result = crop.transform({"img_shape": (height, width)})
            boxes.add(tuple(int(v) for v in result["crop_bbox"]))
    finally:
        mm[1].random = original
    return boxes


def _our_multiscale_boxes(height, width, scales, max_distort, positions, draws) -> set:
    @tf.function
    def boxes(seeds):
        return tf.map_fn(
            lambda seed: transforms.multiscale_crop_box(
                tf.constant(height),
                tf.constant(width),
                scales=scales,
                max_distort=max_distort,
                positions=positions,
                seed=seed,
            ),
            seeds,
            fn_output_signature=tf.int32,
        )

    seeds = tf.stack(
        [tf.range(draws, dtype=tf.int64), tf.fill([draws], tf.constant(5, tf.int64))], 1
    )
    return {tuple(_box(box)) for box in boxes(seeds).numpy()}


@pytest.mark.parametrize(
    "height,width,scales,max_distort,positions,fixed_crops",
    [
        (256, 340, (1.0, 0.875, 0.75, 0.66), 1, "corners", 5),  # TSN
        (256, 340, (1.0, 0.875, 0.75, 0.66), 1, "more_fixed", 13),  # tsn-pytorch, Chen et al.
        (240, 320, (1.0, 2**-0.25, 2**-0.5, 2**-0.75, 0.5), 0, "corners", 5),  # Hara
        (131, 97, (1.0, 0.8, 0.7, 0.6, 0.55), 2, "more_fixed", 13),
    ],
)
def test_multiscale_crop_candidates_equal_multiscale_crop(
    mm, height, width, scales, max_distort, positions, fixed_crops
):
    # Every (crop size, position) candidate mmaction2's MultiScaleCrop can choose,
    # against every box ours drew from 3000 seeds: the same set.
    expected = _mm_multiscale_boxes(mm, height, width, scales, max_distort, fixed_crops)
    ours = _our_multiscale_boxes(height, width, scales, max_distort, positions, 3000)
    assert ours == expected


def test_multiscale_random_positions_equal_multiscale_random_crop(mm):
    height, width, scales = 20, 26, (1.0, 0.75)
    crop = mm[1].MultiScaleCrop(1, scales=scales, max_wh_scale_gap=1, random_crop=True)
    random.seed(0)
    expected = {
        tuple(int(v) for v in crop.transform({"img_shape": (height, width)})["crop_bbox"])
        for _ in range(4000)
    }
    ours = _our_multiscale_boxes(height, width, scales, 1, "random", 4000)
    assert ours == expected
