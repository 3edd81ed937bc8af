"""M-TWI window integration and mean average precision, on values worked by hand."""

import numpy as np
import pytest

from tsn_jax import untrimmed


@pytest.mark.parametrize(
    "length, starts, ends",
    [
        # stride 0.8: round(0, .8, 1.6, 2.4, 3.2, 4, 4.8, 5.6, 6.4, 7.2, 8, 8.8)
        # = 0 1 2 2 3 4 5 6 6 7 8 9 -> every start 0..9 once.
        (1, list(range(10)), list(range(1, 11))),
        # stride 1.6: 0, 1.6->2, 3.2->3, 4.8->5, 6.4->6, 8.0->8 (= last start 10-2).
        (2, [0, 2, 3, 5, 6, 8], [2, 4, 5, 7, 8, 10]),
        # stride 3.2: 0, 3.2->3, 6.4->6 (= last start 10-4); 9.6 overshoots.
        (4, [0, 3, 6], [4, 7, 10]),
        # stride 6.4: 0 only (6.4->6 > last start 2), then the tail window at 2.
        (8, [0, 2], [8, 10]),
        # longer than the video: clamped to one window over all 10 snippets.
        (16, [0], [10]),
    ],
)
def test_window_bounds_ten_snippets(length, starts, ends):
    bounds = untrimmed.window_bounds(10, length)
    np.testing.assert_array_equal(bounds, np.stack([starts, ends], axis=1))
    assert bounds.dtype == np.int64


def test_window_bounds_tail_window_and_short_videos():
    # 9 snippets, l=4: stride 3.2 -> 0, 3 (6.4->6 > last start 5); [3, 7) leaves
    # snippets 7, 8 uncovered, so a window [5, 9) ends at the end of the video.
    np.testing.assert_array_equal(untrimmed.window_bounds(9, 4), [[0, 4], [3, 7], [5, 9]])
    np.testing.assert_array_equal(untrimmed.window_bounds(1, 1), [[0, 1]])
    np.testing.assert_array_equal(untrimmed.window_bounds(3, 3), [[0, 3]])


def test_window_bounds_rounds_half_up():
    # 20 snippets, l=5, ratio 0.5: stride 2.5 -> 0, 2.5, 5, 7.5, 10, 12.5, 15.
    # Half up: 0 3 5 8 10 13 15 (numpy's half-to-even would give 0 2 5 8 10 12 15).
    bounds = untrimmed.window_bounds(20, 5, stride_ratio=0.5)
    np.testing.assert_array_equal(bounds[:, 0], [0, 3, 5, 8, 10, 13, 15])
    np.testing.assert_array_equal(bounds[:, 1] - bounds[:, 0], 5)


@pytest.mark.parametrize("num_snippets", [1, 2, 7, 15, 16, 17, 31, 100, 333])
@pytest.mark.parametrize("length", [1, 2, 3, 4, 8, 16])
def test_window_bounds_cover_every_snippet(num_snippets, length):
    bounds = untrimmed.window_bounds(num_snippets, length)
    covered = np.zeros(num_snippets, dtype=bool)
    for start, end in bounds:
        covered[start:end] = True
    assert covered.all()
    assert bounds[0, 0] == 0 and bounds[-1, 1] == num_snippets
    assert (np.diff(bounds[:, 0]) > 0).all()  # sorted, no duplicates
    np.testing.assert_array_equal(bounds[:, 1] - bounds[:, 0], min(length, num_snippets))


def test_window_scores_max_over_snippets():
    scores = np.array([[0, 5], [3, 1], [1, 0], [4, 2], [2, 9]], dtype=np.float32)
    # 5 snippets, l=2: stride 1.6 -> starts 0, 2, 3 (last start 3): windows
    # [0,2) -> max(0,3), max(5,1) = 3, 5; [2,4) -> 4, 2; [3,5) -> 4, 9.
    np.testing.assert_array_equal(untrimmed.window_scores(scores, 2), [[3, 5], [4, 2], [4, 9]])
    # l=1 gives the snippets back; l >= 5 the per-class max of the whole video.
    np.testing.assert_array_equal(untrimmed.window_scores(scores, 1), scores)
    np.testing.assert_array_equal(untrimmed.window_scores(scores, 8), [[4, 9]])


def test_top_k_count_rule():
    # The paper's k = max(15, ceil(N_w / 4)), clamped to N_w.
    assert untrimmed.top_k_count(5) == 5  # max(15, 2) = 15 > 5 windows -> 5
    assert untrimmed.top_k_count(15) == 15
    assert untrimmed.top_k_count(20) == 15  # max(15, 5)
    assert untrimmed.top_k_count(60) == 15  # max(15, 15)
    assert untrimmed.top_k_count(61) == 16  # ceil(15.25) = 16
    assert untrimmed.top_k_count(100) == 25  # ceil(100 / 4) = 25
    assert untrimmed.top_k_count(7, top_k_min=1, top_k_divisor=2) == 4  # ceil(3.5)
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
    column = np.arange(100, dtype=np.float64)
    windows = np.stack([rng.permutation(column), 2 * rng.permutation(column)], axis=1)
    # 100 windows -> k = 25: the top 25 of 0..99 are 75..99, mean 87; doubled, 174.
    np.testing.assert_allclose(untrimmed.top_k_pool(windows), [87.0, 174.0])


# 6 seconds, 2 classes, worked by hand below.
SIX_SECONDS = np.array(
    [[0, 1], [1, 0], [0, 0], [0, 3], [5, 0], [0, 0]],
    dtype=np.float32,
)


def test_mtwi_by_hand():
    # Every length has at most 6 windows < 15, so k = all windows (plain mean).
    # l=1: windows = snippets; means (0+1+0+0+5+0)/6 = 1, (1+0+0+3+0+0)/6 = 2/3.
    # l=2: stride 1.6 -> starts 0, 2, 3 + tail 4: [0,2) [2,4) [3,5) [4,6);
    #      class 0 maxes 1, 0, 5, 5 -> 11/4 = 2.75; class 1: 1, 3, 3, 0 -> 7/4.
    # l=4: starts 0 + tail 2: [0,4) [2,6); class 0: 1, 5 -> 3; class 1: 3, 3 -> 3.
    # l=8, 16: clamped to one window [0,6): the maxes 5 and 3.
    # Mean over the 5 lengths: (1 + 2.75 + 3 + 5 + 5) / 5 = 16.75 / 5 = 3.35;
    #                          (2/3 + 1.75 + 3 + 3 + 3) / 5 = (137/12) / 5 = 137/60.
    np.testing.assert_allclose(untrimmed.mtwi(SIX_SECONDS), [3.35, 137 / 60], rtol=1e-6)


def test_mtwi_options():
    # top_k=1: every length gives the max over all windows = the global max.
    np.testing.assert_allclose(untrimmed.mtwi(SIX_SECONDS, top_k=1), [5.0, 3.0])
    # l=2 only, top 2 of the window maxes (1, 0, 5, 5) and (1, 3, 3, 0): 5 and 3.
    np.testing.assert_allclose(
        untrimmed.mtwi(SIX_SECONDS, window_lengths=(2,), top_k=2), [5.0, 3.0]
    )
    # l=4 only: windows [0,4) [2,6) -> (1+5)/2 = 3, (3+3)/2 = 3.
    np.testing.assert_allclose(untrimmed.mtwi(SIX_SECONDS, window_lengths=(4,)), [3.0, 3.0])


def test_mtwi_long_video_matches_composition():
    rng = np.random.default_rng(1)
    scores = rng.normal(size=(300, 4))
    expected = np.mean(
        [
            untrimmed.top_k_pool(untrimmed.window_scores(scores, length, 0.8), 15, 4)
            for length in (1, 2, 4, 8, 16)
        ],
        axis=0,
    )
    result = untrimmed.mtwi(scores)
    assert result.shape == (4,)
    np.testing.assert_allclose(result, expected)
    # l=1 on 300 snippets: 300 windows, k = 75; check that one by sorting.
    top75 = np.sort(scores, axis=0)[-75:].mean(axis=0)
    np.testing.assert_allclose(untrimmed.top_k_pool(untrimmed.window_scores(scores, 1)), top75)


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
        lambda: untrimmed.top_k_pool(np.zeros((4, 2)), top_k_divisor=0),
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
