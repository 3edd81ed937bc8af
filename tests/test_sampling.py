"""Frame indices of TSN segment sampling."""

import numpy as np
import pytest
import tensorflow as tf

from input_pipeline import sampling
from tsn_jax import spec


def _indices(
    num_frames, k, t, training, short_video="clamp", seed=(0, 0), interval=1, scales=(), stride=0
):
    return sampling.tsn_frame_indices(
        tf.constant(num_frames),
        num_segments=k,
        frames_per_snippet=t,
        training=training,
        short_video=short_video,
        seed=tf.constant(seed, tf.int64) if training else None,
        frame_interval=interval,
        temporal_scales=scales,
        snippet_stride=stride,
    ).numpy()


def test_eval_takes_centre_of_each_segment():
    np.testing.assert_array_equal(_indices(30, 3, 1, False), [5, 15, 25])
    # 26 admissible starts of a 5-frame snippet -> segments of 26/3 starts.
    expected = [4, 5, 6, 7, 8, 13, 14, 15, 16, 17, 21, 22, 23, 24, 25]
    np.testing.assert_array_equal(_indices(30, 3, 5, False), expected)


def test_eval_25_snippets_are_evenly_spaced():
    idx = _indices(250, 25, 1, False)
    np.testing.assert_array_equal(idx, np.arange(25) * 10 + 5)


def test_train_start_is_uniform_inside_each_segment():
    starts = np.stack([_indices(12, 3, 1, True, seed=(s, 7)) for s in range(300)])
    for k in range(3):
        assert set(starts[:, k]) == set(range(4 * k, 4 * k + 4))


def test_train_snippets_are_consecutive_and_inside_video():
    for s in range(20):
        idx = _indices(40, 4, 5, True, seed=(s, 1)).reshape(4, 5)
        np.testing.assert_array_equal(np.diff(idx, axis=1), 1)
        assert idx.min() >= 0 and idx.max() <= 39
        assert np.all(np.diff(idx[:, 0]) >= 0)


def test_train_is_deterministic_per_seed_and_varies_across_seeds():
    a = _indices(100, 8, 1, True, seed=(3, 4))
    np.testing.assert_array_equal(a, _indices(100, 8, 1, True, seed=(3, 4)))
    others = [_indices(100, 8, 1, True, seed=(s, 4)) for s in range(5, 10)]
    assert any(not np.array_equal(a, o) for o in others)


def test_video_shorter_than_segments_keeps_temporal_order():
    # 2 frames, 4 segments: segments of half a frame -> starts 0, 0, 1, 1 for any draw.
    for s in range(10):
        np.testing.assert_array_equal(_indices(2, 4, 1, True, seed=(s, 0)), [0, 0, 1, 1])
    np.testing.assert_array_equal(_indices(2, 4, 1, False), [0, 0, 1, 1])


def test_video_shorter_than_snippet_clamps_or_loops():
    np.testing.assert_array_equal(_indices(2, 3, 4, False, "clamp"), [0, 1, 1, 1] * 3)
    np.testing.assert_array_equal(_indices(2, 3, 4, False, "loop"), [0, 1, 0, 1] * 3)
    np.testing.assert_array_equal(_indices(3, 2, 4, True, "loop"), [0, 1, 2, 0] * 2)


def test_single_frame_video():
    np.testing.assert_array_equal(_indices(1, 3, 2, True), [0] * 6)


def test_unknown_short_video_mode_is_an_error():
    with pytest.raises(ValueError, match="short_video"):
        _indices(10, 2, 1, False, "wrap")


# --------------------------------------------------------------------- dense clips (3D)


def test_dense_eval_clips_are_evenly_spaced_and_strided():
    # 100 frames, 2 clips of 4 frames 8 apart (span 25): 76 starts, segments of 38,
    # centres 19 and 57.
    expected = [19, 27, 35, 43, 57, 65, 73, 81]
    np.testing.assert_array_equal(_indices(100, 2, 4, False, interval=8), expected)


def test_dense_eval_clip_is_centred_in_the_admissible_starts():
    # TSN's rule: one clip at the centre of the L = N - span + 1 starts, floor(L / 2).
    # 100 frames, 4 frames 8 apart (span 25): L = 76 -> 38 (mmaction2's rule gives
    # (N - span) // 2 = 37, `clip_sampling='mmaction2'`, tests/test_mmaction_parity_data.py).
    np.testing.assert_array_equal(_indices(100, 1, 4, False, interval=8), [38, 46, 54, 62])
    np.testing.assert_array_equal(_indices(101, 1, 4, False, interval=8), [38, 46, 54, 62])


def test_dense_train_clip_starts_uniformly_in_the_admissible_range():
    # 40 frames, one clip of 4 frames 4 apart (span 13): starts 0..27, all reachable.
    clips = np.stack([_indices(40, 1, 4, True, seed=(s, 3), interval=4) for s in range(400)])
    np.testing.assert_array_equal(np.diff(clips, axis=1), 4)
    assert set(clips[:, 0]) == set(range(28))


def test_dense_clip_longer_than_the_video_clamps_or_loops():
    # 10 frames, 4 frames 4 apart: one start (0); 12 is past the end.
    np.testing.assert_array_equal(_indices(10, 1, 4, False, "clamp", interval=4), [0, 4, 8, 9])
    np.testing.assert_array_equal(_indices(10, 1, 4, False, "loop", interval=4), [0, 4, 8, 2])
    with pytest.raises(ValueError, match="frame_interval"):
        _indices(10, 1, 4, False, interval=0)


# ------------------------------------------------------- Hara's multi-scale temporal crop


@pytest.mark.parametrize(
    "scale,offsets",
    [(3, [0, 3, 6, 9, 12, 15]), (2, [0, 2, 4, 6, 8, 10]), (1, [0, 1, 2, 3, 4, 5]),
     (1 / 2, [0, 0, 1, 1, 2, 2]), (1 / 3, [0, 0, 0, 1, 1, 1])],
)  # fmt: skip
def test_temporal_scale_resamples_the_window_by_nearest_neighbour(scale, offsets):
    for s in range(5):
        idx = _indices(100, 1, 6, True, seed=(s, 2), scales=(scale,))
        np.testing.assert_array_equal(idx - idx[0], offsets)
        assert idx[0] + offsets[-1] <= 99


def test_temporal_scales_are_drawn_per_sample_and_only_in_training():
    hara = (3, 2, 1, 1 / 2, 1 / 3)
    patterns = {
        tuple(np.diff(_indices(100, 1, 6, True, seed=(s, 9), scales=hara))) for s in range(60)
    }
    assert len(patterns) == 5
    np.testing.assert_array_equal(
        _indices(100, 1, 6, False, scales=hara), _indices(100, 1, 6, False)
    )


def test_temporal_scale_window_longer_than_the_video_loops():
    # 5 frames, 4 frames 3 apart (span 10): one start, indices 0, 3, 6, 9 loop to 0, 3, 1, 4.
    np.testing.assert_array_equal(
        _indices(5, 1, 4, True, "loop", seed=(1, 1), scales=(3,)), [0, 3, 1, 4]
    )


# ------------------------------------------------------------- regular sampling (TSN 5.2)


def test_regular_sampling_eval_centres_the_group():
    # 100 frames, 3 snippets of 2 frames 10 apart: span 22, 79 starts, centred at 39.
    np.testing.assert_array_equal(_indices(100, 3, 2, False, stride=10), [39, 40, 49, 50, 59, 60])


def test_regular_sampling_train_places_the_group_anywhere():
    groups = np.stack([_indices(30, 3, 1, True, seed=(s, 5), stride=10) for s in range(300)])
    np.testing.assert_array_equal(np.diff(groups, axis=1), 10)
    assert set(groups[:, 0]) == set(range(10))  # span 21: starts 0..9


def test_regular_group_longer_than_the_video_starts_at_zero():
    np.testing.assert_array_equal(_indices(12, 3, 1, False, stride=8), [0, 8, 11])
    np.testing.assert_array_equal(_indices(12, 3, 1, False, "loop", stride=8), [0, 8, 4])


def test_eval_segment_starts_and_exact_centres():
    # Segment starts floor(k L / K) (twice_sample's second set) and centres
    # floor((k + 1/2) L / K) in exact arithmetic: 6 frames, 7 segments, centre 3 is 3.0
    # exactly (float64 makes it 2.9999999999999996).
    num_frames, k = 100, 4
    centre = sampling.tsn_eval_starts(tf.constant(num_frames), k, 1).numpy()
    start = sampling.tsn_eval_starts(tf.constant(num_frames), k, 1, at_start=True).numpy()
    np.testing.assert_array_equal(centre, [12, 37, 62, 87])
    np.testing.assert_array_equal(start, [0, 25, 50, 75])
    np.testing.assert_array_equal(
        sampling.tsn_eval_starts(tf.constant(6), 7, 1).numpy(), [0, 1, 2, 3, 3, 4, 5]
    )


def test_repeat_last_repeats_the_clips_last_frame_not_the_videos():
    # 10 frames, 4 frames 4 apart: 12 is past the end; the clip's last frame inside is 8.
    np.testing.assert_array_equal(
        _indices(10, 1, 4, False, "repeat_last", interval=4), [0, 4, 8, 8]
    )
    np.testing.assert_array_equal(_indices(10, 1, 4, False, "clamp", interval=4), [0, 4, 8, 9])
    # tau = 1: the clip's last frame inside is the video's last frame.
    np.testing.assert_array_equal(
        _indices(2, 3, 4, False, "repeat_last"), _indices(2, 3, 4, False, "clamp")
    )


def test_clip_sampling_choices_are_checked():
    with pytest.raises(ValueError, match="clip_sampling"):
        sampling.tsn_frame_indices(
            tf.constant(10), num_segments=1, frames_per_snippet=1, training=False,
            clip_sampling="slowfast",
        )  # fmt: skip
    with pytest.raises(ValueError, match="temporal scales"):
        sampling.tsn_frame_indices(
            tf.constant(10), num_segments=1, frames_per_snippet=2, training=True,
            seed=tf.constant([0, 0]), temporal_scales=(2,), clip_sampling="mmaction2",
        )  # fmt: skip


def test_config_check_allows_the_sampling_modes():
    from configs import default
    from tsn_jax.config_checks import validate_config

    for key, allowed in (
        ("short_video", spec.SHORT_VIDEO_MODES),
        ("clip_sampling", spec.CLIP_SAMPLINGS),
    ):
        for value in allowed:
            config = default.get_config()
            config.data[key] = value
            validate_config(config)
        config.data[key] = "wrap"
        with pytest.raises(ValueError, match=f"data.{key}"):
            validate_config(config)
    config = default.get_config()
    config.data.clip_sampling, config.data.snippet_stride = "mmaction2", 4
    with pytest.raises(ValueError, match="snippet_stride"):
        validate_config(config)


@pytest.mark.parametrize(
    "num_frames, fps, rate, expected",
    [
        (100, 30.0, 1.0, [0, 30, 60, 90]),
        (90, 30.0, 1.0, [0, 30, 60]),
        (10, 30.0, 1.0, [0]),  # shorter than a second: one snippet
        (50, 25.0, 2.0, [0, 12, 25, 37]),  # two a second: 12.5-frame period
        (60, 29.97, 1.0, [0, 29, 59]),
    ],
)
def test_per_second_starts(num_frames, fps, rate, expected):
    starts = sampling.per_second_starts(tf.constant(num_frames), fps, rate).numpy()
    np.testing.assert_array_equal(starts, expected)


def test_per_second_starts_needs_a_frame_rate():
    with pytest.raises(tf.errors.InvalidArgumentError, match="frame rate"):
        sampling.per_second_starts(tf.constant(10), 0.0)


def test_non_overlapping_windows_loop_pad_the_last_one_within_itself():
    indices = sampling.window_frame_indices(tf.constant(40), 16).numpy()
    assert indices.shape == (3, 16)
    np.testing.assert_array_equal(indices[:2].ravel(), np.arange(32))
    # Hara et al.'s LoopPadding: the last window's own frames 32..39, twice.
    np.testing.assert_array_equal(indices[2], list(range(32, 40)) * 2)
    overlapping = sampling.window_frame_indices(tf.constant(20), 8, stride=6).numpy()
    np.testing.assert_array_equal(overlapping[:, 0], [0, 6, 12, 18])
    np.testing.assert_array_equal(overlapping[3], [18, 19] * 4)
    np.testing.assert_array_equal(
        sampling.window_frame_indices(tf.constant(5), 16)[0], list(range(5)) * 3 + [0]
    )
