"""M-TWI window integration and mean average precision, on values worked by hand."""

import numpy as np
import pytest

from tsn_jax import untrimmed


@pytest.mark.parametrize(
    "length, starts, ends",
    [
        # TPAMI Sec. 4.2 on M = 10 s: N^l = floor(10 / (0.8 l)) windows starting at
        # floor(n * 0.8 l). l=1: 12 windows, starts floor(0, .8, 1.6, ..., 8.8).
        (1, [0, 0, 1, 2, 3, 4, 4, 5, 6, 7, 8, 8], [1, 1, 2, 3, 4, 5, 5, 6, 7, 8, 9, 9]),
        # l=2: floor(10 / 1.6) = 6 windows, starts floor(0, 1.6, 3.2, 4.8, 6.4, 8.0).
        (2, [0, 1, 3, 4, 6, 8], [2, 3, 5, 6, 8, 10]),
        # l=4: floor(10 / 3.2) = 3 windows at 0, 3.2, 6.4.
        (4, [0, 3, 6], [4, 7, 10]),
        # l=8: floor(10 / 6.4) = 1 window.
        (8, [0], [8]),
        # l=16: floor(10 / 12.8) = 0; one window at 0, cut at the end of the video.
        (16, [0], [10]),
    ],
)
def test_window_bounds_follow_the_paper(length, starts, ends):
    bounds = untrimmed.window_bounds(10, length)
    np.testing.assert_array_equal(bounds, np.stack([starts, ends], axis=1))
    assert bounds.dtype == np.int64
    assert len(bounds) == max(1, int(10 // (0.8 * length)))


@pytest.mark.parametrize(
    "length, starts, ends",
    [
        # The public code: integer stride ceil(0.8 l) = 1, 2, 4, 7, 13; starts while < M.
        (1, list(range(10)), list(range(1, 11))),
        (2, [0, 2, 4, 6, 8], [2, 4, 6, 8, 10]),
        (4, [0, 4, 8], [4, 8, 10]),
        (8, [0, 7], [8, 10]),
        (16, [0], [10]),
    ],
)
def test_window_bounds_of_the_tsn_code(length, starts, ends):
    bounds = untrimmed.window_bounds(10, length, rule="tsn_code")
    np.testing.assert_array_equal(bounds, np.stack([starts, ends], axis=1))


def test_window_bounds_cut_at_the_end_and_exact_strides():
    # M = 13, l = 8: floor(13 / 6.4) = 2 windows at 0 and 6.4 -> [6, 14) cut to [6, 13).
    np.testing.assert_array_equal(untrimmed.window_bounds(13, 8), [[0, 8], [6, 13]])
    # M = 100, l = 1: 125 windows; starts are exact multiples of 4/5 (n = 5 -> 4, not 3).
    bounds = untrimmed.window_bounds(100, 1)
    assert len(bounds) == 125
    np.testing.assert_array_equal(bounds[:, 0], (4 * np.arange(125)) // 5)
    # A stride of half the length: 2.5 s for l = 5 over 20 s -> 8 windows at floor(2.5 n).
    np.testing.assert_array_equal(
        untrimmed.window_bounds(20, 5, stride_ratio=0.5)[:, 0], [0, 2, 5, 7, 10, 12, 15, 17]
    )
    np.testing.assert_array_equal(untrimmed.window_bounds(1, 1), [[0, 1]])


def test_window_scores_max_over_snippets():
    scores = np.array([[0, 5], [3, 1], [1, 0], [4, 2], [2, 9]], dtype=np.float32)
    # 5 snippets, l=2: floor(5 / 1.6) = 3 windows at 0, 1, 3: [0,2) [1,3) [3,5).
    np.testing.assert_array_equal(untrimmed.window_scores(scores, 2), [[3, 5], [3, 1], [4, 9]])
    # l=1: floor(5 / .8) = 6 windows at 0, 0, 1, 2, 3, 4 (the first snippet twice).
    np.testing.assert_array_equal(untrimmed.window_scores(scores, 1), scores[[0, 0, 1, 2, 3, 4]])
    # Longer than the video: the per-class max of the whole video.
    np.testing.assert_array_equal(untrimmed.window_scores(scores, 8), [[4, 9]])


def test_top_k_count_rule():
    # The paper's k = max(15, ceil(N^l / 4)), clamped to N^l.
    assert untrimmed.top_k_count(5) == 5  # max(15, 2) = 15 > 5 windows -> 5
    assert untrimmed.top_k_count(15) == 15
    assert untrimmed.top_k_count(20) == 15  # max(15, 5)
    assert untrimmed.top_k_count(60) == 15  # max(15, 15)
    assert untrimmed.top_k_count(61) == 16  # ceil(15.25) = 16
    assert untrimmed.top_k_count(125) == 32  # ceil(31.25); the code's 125 // 4 = 31
    assert untrimmed.top_k_count(61, rule="tsn_code") == 15
    assert untrimmed.top_k_count(125, rule="tsn_code") == 31
    assert untrimmed.top_k_count(100, top_k=3) == 3  # fixed k overrides the rule
    assert untrimmed.top_k_count(2, top_k=3) == 2  # and is clamped too


def test_top_k_pool_clamped_k_averages_all_windows():
    windows = np.array([[1, 9], [4, 0], [2, 3], [8, 1], [5, 2]], dtype=np.float64)
    # 5 windows, k = min(5, 15) = 5: plain column means (20/5, 15/5).
    np.testing.assert_allclose(untrimmed.top_k_pool(windows), [4.0, 3.0])
    # top_k=2, each class its own windows: (8+5)/2, (9+3)/2.
    np.testing.assert_allclose(untrimmed.top_k_pool(windows, top_k=2), [6.5, 6.0])
    # top_k=1 is max pooling.
    np.testing.assert_allclose(untrimmed.top_k_pool(windows, top_k=1), [8.0, 9.0])


def test_top_k_pool_paper_rule_with_many_windows():
    rng = np.random.default_rng(0)
    column = np.arange(125, dtype=np.float64)
    windows = np.stack([rng.permutation(column), 2 * rng.permutation(column)], axis=1)
    # 125 windows -> k = 32: the top 32 of 0..124 are 93..124, mean 108.5; doubled, 217.
    np.testing.assert_allclose(untrimmed.top_k_pool(windows), [108.5, 217.0])
    # The code's k = 31: 94..124, mean 109.
    np.testing.assert_allclose(untrimmed.top_k_pool(windows, rule="tsn_code"), [109.0, 218.0])


# 6 seconds, 2 classes, worked by hand below.
SIX_SECONDS = np.array(
    [[0, 1], [1, 0], [0, 0], [0, 3], [5, 0], [0, 0]],
    dtype=np.float32,
)


def test_mtwi_by_hand():
    # Every length has fewer than 15 windows, so k = all of them (plain mean).
    # l=1: floor(6 / .8) = 7 windows on snippets 0 0 1 2 3 4 4:
    #      class 0: (0+0+1+0+0+5+5)/7 = 11/7; class 1: (1+1+0+0+3+0+0)/7 = 5/7.
    # l=2: floor(6 / 1.6) = 3 windows [0,2) [1,3) [3,5): maxes 1 1 5 -> 7/3; 1 0 3 -> 4/3.
    # l=4: floor(6 / 3.2) = 1 window [0,4): 1 and 3.
    # l=8, 16: N^l = 0 -> one window [0,6): the maxes 5 and 3.
    # Mean over the 5 lengths: (11/7 + 7/3 + 1 + 5 + 5) / 5 = 313/105;
    #                          (5/7 + 4/3 + 3 + 3 + 3) / 5 = 232/105.
    np.testing.assert_allclose(untrimmed.mtwi(SIX_SECONDS), [313 / 105, 232 / 105], rtol=1e-6)
    # The code's windows: l=1 the 6 snippets (1, 2/3); l=2 [0,2) [2,4) [4,6) (2, 4/3);
    # l=4 [0,4) [4,6) (3, 3/2); l=8, 16 the whole video (5, 3): (16/5, 9.5/5).
    np.testing.assert_allclose(untrimmed.mtwi(SIX_SECONDS, rule="tsn_code"), [3.2, 1.9])


def test_mtwi_options():
    # top_k=1: the max over the windows of each length; the one l=4 window [0,4) misses
    # snippet 4 (class 0's 5), so class 0 gets (5 + 5 + 1 + 5 + 5) / 5.
    np.testing.assert_allclose(untrimmed.mtwi(SIX_SECONDS, top_k=1), [4.2, 3.0])
    # l=2 only, top 2 of the window maxes (1, 1, 5) and (1, 0, 3): 3 and 2.
    np.testing.assert_allclose(
        untrimmed.mtwi(SIX_SECONDS, window_lengths=(2,), top_k=2), [3.0, 2.0]
    )
    # Two snippets a second: a 1 s window spans 2 snippets, i.e. l=2 at one a second.
    np.testing.assert_allclose(
        untrimmed.mtwi(SIX_SECONDS, window_lengths=(1,), snippets_per_second=2),
        untrimmed.mtwi(SIX_SECONDS, window_lengths=(2,)),
    )


def _tsn_code_mtwi(score, spans=(1, 2, 4, 8, 16), overlap=0.2):
    """`sliding_window_aggregation_func` of yjxiong/temporal-segment-networks
    (pyActionRecog/utils/video_funcs.py), re-stated because the original is Python 2
    code inside a Caffe repository that does not install: xrange -> range, `/` on ints ->
    `//`; our input is already one row a second (its `score.max(axis=1)` over crops is
    done) and without its final softmax (`norm=False`)."""
    slide_score = []
    for span in spans:
        step = int(np.ceil(span * (1 - overlap)))
        local_agg = [score[i : i + span].max(axis=0) for i in range(0, score.shape[0], step)]
        k = max(15, len(local_agg) // 4)
        slide_score.append(np.sort(np.array(local_agg), axis=0)[-k:, :].mean(axis=0))
    return np.mean(slide_score, axis=0)


@pytest.mark.parametrize("seconds", [3, 10, 37, 300])
def test_mtwi_tsn_code_rule_matches_the_public_code(seconds):
    scores = np.random.default_rng(seconds).normal(size=(seconds, 4))
    np.testing.assert_allclose(
        untrimmed.mtwi(scores, rule="tsn_code"), _tsn_code_mtwi(scores), rtol=1e-12
    )


def test_mtwi_long_video_matches_composition():
    rng = np.random.default_rng(1)
    scores = rng.normal(size=(300, 4))
    expected = np.mean(
        [
            untrimmed.top_k_pool(untrimmed.window_scores(scores, length))
            for length in (1, 2, 4, 8, 16)
        ],
        axis=0,
    )
    result = untrimmed.mtwi(scores)
    assert result.shape == (4,)
    np.testing.assert_allclose(result, expected)
    # l=1 on 300 s: 375 windows (every 4th snippet twice), k = ceil(375 / 4) = 94.
    windows = scores[(4 * np.arange(375)) // 5]
    top94 = np.sort(windows, axis=0)[-94:].mean(axis=0)
    np.testing.assert_allclose(untrimmed.top_k_pool(untrimmed.window_scores(scores, 1)), top94)


def test_average_precision_by_hand():
    # Positives at ranks 1 and 3: (1/1 + 2/3) / 2 = 5/6.
    assert untrimmed.average_precision(
        np.array([0.9, 0.8, 0.7, 0.6]), np.array([1, 0, 1, 0])
    ) == pytest.approx(5 / 6)
    assert untrimmed.average_precision(np.array([0.1, 0.9, 0.5]), np.array([0, 1, 1])) == 1.0
    # The only positive ranked last of 3: 1/3.
    assert untrimmed.average_precision(
        np.array([0.9, 0.8, 0.7]), np.array([False, False, True])
    ) == pytest.approx(1 / 3)
    # Order of the input does not matter, only the ranking by score.
    assert untrimmed.average_precision(
        np.array([0.6, 0.7, 0.8, 0.9]), np.array([0, 1, 0, 1])
    ) == pytest.approx(5 / 6)


def test_average_precision_interpolated():
    scores = np.array([0.9, 0.8, 0.7, 0.6, 0.5])
    positives = np.array([1, 0, 0, 1, 1])
    # Precision at the positive ranks 1, 4, 5: 1, 2/4, 3/5 -> (1 + .5 + .6) / 3 = 0.7.
    assert untrimmed.average_precision(scores, positives) == pytest.approx(0.7)
    # Interpolated: rank 4 takes the best later precision, 3/5 -> (1 + .6 + .6) / 3.
    assert untrimmed.average_precision(scores, positives, interpolated=True) == pytest.approx(
        2.2 / 3
    )


def _voc_area_ap(scores, positives):
    """Area under the monotone precision envelope, summed over recall steps."""
    order = np.argsort(-scores, kind="stable")
    hits = positives[order]
    true_pos = np.cumsum(hits)
    recall = np.concatenate([[0.0], true_pos / hits.sum(), [1.0]])
    precision = np.concatenate([[0.0], true_pos / np.arange(1, hits.size + 1), [0.0]])
    for i in range(precision.size - 2, -1, -1):
        precision[i] = max(precision[i], precision[i + 1])
    steps = np.flatnonzero(recall[1:] != recall[:-1]) + 1
    return float(np.sum((recall[steps] - recall[steps - 1]) * precision[steps]))


def _pairwise_ap(scores, positives):
    """AP as mean over positives p of P(score >= s_p among positives) / rank(p)."""
    total = 0.0
    for s in scores[positives]:
        rank = np.sum(scores >= s)
        total += np.sum(scores[positives] >= s) / rank
    return total / positives.sum()


def test_average_precision_matches_references_on_random_data():
    rng = np.random.default_rng(2)
    for _ in range(20):
        scores = rng.random(50)  # continuous: no ties
        positives = rng.random(50) < 0.3
        positives[rng.integers(50)] = True
        assert untrimmed.average_precision(scores, positives) == pytest.approx(
            _pairwise_ap(scores, positives)
        )
        assert untrimmed.average_precision(scores, positives, True) == pytest.approx(
            _voc_area_ap(scores, positives)
        )


def test_average_precision_ties_keep_input_order():
    scores = np.array([0.5, 0.5, 0.1])
    # Equal scores: the earlier video ranks first.
    assert untrimmed.average_precision(scores, np.array([0, 1, 0])) == pytest.approx(0.5)
    assert untrimmed.average_precision(scores, np.array([1, 0, 0])) == 1.0


def test_average_precision_without_positives_is_nan():
    assert np.isnan(untrimmed.average_precision(np.array([0.3, 0.2]), np.array([0, 0])))


SCORES = np.array(
    [
        [0.9, 0.1, 0.3],
        [0.2, 0.8, 0.1],
        [0.6, 0.7, 0.2],
        [0.4, 0.3, 0.5],
    ]
)


def test_mean_average_precision_single_label():
    result = untrimmed.mean_average_precision(SCORES, np.array([0, 1, 0, 1]))
    # Class 0: ranking v0 (.9, +) v2 (.6, +) v3 v1 -> AP 1.
    # Class 1: ranking v1 (.8, +) v2 (.7, -) v3 (.3, +) v0 -> (1 + 2/3) / 2 = 5/6.
    # Class 2: no positive -> NaN, excluded. mAP = (1 + 5/6) / 2 = 11/12.
    np.testing.assert_allclose(result["per_class_ap"], [1.0, 5 / 6, np.nan])
    assert result["mAP"] == pytest.approx(11 / 12)
    assert result["num_classes_evaluated"] == 2
    np.testing.assert_array_equal(result["classes_without_positives"], [2])
    # The same labels as a one-hot matrix give the same numbers.
    one_hot = np.eye(3, dtype=int)[[0, 1, 0, 1]]
    assert untrimmed.mean_average_precision(SCORES, one_hot)["mAP"] == pytest.approx(11 / 12)


def test_video_map_ranks_each_videos_softmax():
    # v0 scores every class high; ranked by the raw score v0 would lead class 1 (9 > 1),
    # by its softmax share (0.27 < 0.48) v1, the positive, does.
    logits = np.array([[10.0, 9.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0]])
    labels = np.array([0, 1])
    raw = untrimmed.mean_average_precision(logits, labels)["per_class_ap"]
    np.testing.assert_allclose(raw[:2], [1.0, 0.5])
    result = untrimmed.video_mean_average_precision(logits, labels)
    np.testing.assert_allclose(result["per_class_ap"][:2], [1.0, 1.0])
    assert result["mAP"] == 1.0
    with pytest.raises(ValueError, match="video_scores must be 2-D"):
        untrimmed.video_mean_average_precision(logits[0], labels)


def test_mean_average_precision_multi_label_with_background_video():
    labels = np.array(
        [
            [True, False, False],
            [False, True, False],
            [False, False, False],  # background: no class
            [True, True, False],
        ]
    )
    result = untrimmed.mean_average_precision(SCORES, labels)
    # Class 0: v0 (.9, +) v2 (.6, -) v3 (.4, +) v1 -> 5/6.
    # Class 1: v1 (.8, +) v2 (.7, -) v3 (.3, +) v0 -> 5/6. Class 2: NaN.
    np.testing.assert_allclose(result["per_class_ap"], [5 / 6, 5 / 6, np.nan])
    assert result["mAP"] == pytest.approx(5 / 6)
    assert result["num_classes_evaluated"] == 2
    # Interpolated: class 0 precisions 1, 2/3 are already non-increasing, same value.
    assert untrimmed.mean_average_precision(SCORES, labels, interpolated=True)[
        "mAP"
    ] == pytest.approx(5 / 6)


@pytest.mark.parametrize(
    "call",
    [
        lambda: untrimmed.window_bounds(0, 2),
        lambda: untrimmed.window_bounds(10, 0),
        lambda: untrimmed.window_bounds(10, -4),
        lambda: untrimmed.window_bounds(10, 1.5),
        lambda: untrimmed.window_bounds(10, 2, stride_ratio=0.0),
        lambda: untrimmed.window_bounds(10, 2, stride_ratio=1.5),
        lambda: untrimmed.window_scores(np.zeros(6), 2),
        lambda: untrimmed.window_scores(np.zeros((0, 3)), 2),
        lambda: untrimmed.window_scores(np.zeros((6, 0)), 2),
        lambda: untrimmed.top_k_pool(np.zeros((4, 2)), top_k=0),
        lambda: untrimmed.top_k_pool(np.zeros((4, 2)), rule="rounded"),
        lambda: untrimmed.window_bounds(10, 2, rule="centred"),
        lambda: untrimmed.mtwi(SIX_SECONDS, snippets_per_second=0),
        lambda: untrimmed.mtwi(np.zeros((0, 2))),
        lambda: untrimmed.mtwi(np.zeros((2, 3, 4))),
        lambda: untrimmed.mtwi(SIX_SECONDS, window_lengths=()),
        lambda: untrimmed.mtwi(SIX_SECONDS, window_lengths=(1, 0)),
        lambda: untrimmed.average_precision(np.zeros(3), np.zeros(4)),
        lambda: untrimmed.average_precision(np.zeros((3, 1)), np.zeros((3, 1))),
        lambda: untrimmed.average_precision(np.zeros(0), np.zeros(0)),
        lambda: untrimmed.average_precision(np.array([0.1, np.nan]), np.array([1, 0])),
        lambda: untrimmed.average_precision(np.array([0.1, 0.2]), np.array([2, 0])),
        lambda: untrimmed.mean_average_precision(SCORES, np.array([0, 1, 0])),
        lambda: untrimmed.mean_average_precision(SCORES, np.array([0, 1, 0, 3])),
        lambda: untrimmed.mean_average_precision(SCORES, np.array([0, 1, 0, -1])),
        lambda: untrimmed.mean_average_precision(SCORES, np.array([0.0, 1.0, 0.0, 1.0])),
        lambda: untrimmed.mean_average_precision(SCORES, np.zeros((4, 2), dtype=bool)),
        lambda: untrimmed.mean_average_precision(SCORES, np.zeros((4, 3, 1), dtype=bool)),
        lambda: untrimmed.mean_average_precision(SCORES, np.full((4, 3), 2)),
        lambda: untrimmed.mean_average_precision(SCORES, np.zeros((4, 3), dtype=bool)),
        lambda: untrimmed.mean_average_precision(SCORES[0], np.array([0])),
    ],
)
def test_bad_input_raises_value_error(call):
    with pytest.raises(ValueError):
        call()
