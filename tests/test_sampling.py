"""Frame indices of TSN segment sampling."""

import numpy as np
import pytest
import tensorflow as tf

from input_pipeline import sampling


def _indices(num_frames, k, t, training, short_video="clamp", seed=(0, 0)):
    return sampling.tsn_frame_indices(
        tf.constant(num_frames),
        num_segments=k,
        frames_per_snippet=t,
        training=training,
        short_video=short_video,
        seed=tf.constant(seed, tf.int64) if training else None,
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
