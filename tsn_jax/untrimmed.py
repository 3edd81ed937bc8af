"""Video-level scores and metrics for untrimmed videos, in plain numpy.

Two pieces:

* `mtwi`: Multi-scale Temporal Window Integration (M-TWI), the way the TSN
  journal paper (Wang et al., "Temporal Segment Networks for Action Recognition
  in Videos", TPAMI 2018, section 4.2) turns the scores of snippets sampled
  along an untrimmed video into one score per class. Snippets are taken at one
  per second; for each window length l in (1, 2, 4, 8, 16) seconds,
  N^l = floor(M / (0.8 l)) windows slide over the M seconds with a stride of
  0.8 l, a window's score is the per-class max over its snippets (Eq. 13), the
  windows of one length are combined by top-k pooling (per class, the mean of
  the k = max(15, ceil(N^l / 4)) highest window scores), and the five lengths
  are averaged. The public code's variant (integer strides, k rounded down) is
  the named option `rule='tsn_code'`.
* `average_precision` / `mean_average_precision`: per-class average precision
  over videos and its mean over classes, for single-label or multi-label
  video classification (THUMOS / ActivityNet style untrimmed classification);
  `video_mean_average_precision` ranks the softmax of each video's scores, as the
  TSN code scores ActivityNet.

Nothing here depends on JAX: the inputs are the numpy arrays an evaluation
loop collects from the model.
"""

import math
from collections.abc import Sequence
from fractions import Fraction

import numpy as np

from tsn_jax.metrics import softmax

# Window placement and k: the paper's formulas (TPAMI Sec. 4.2) or the public TSN code's
# `sliding_window_aggregation_func` (yjxiong/temporal-segment-networks,
# pyActionRecog/utils/video_funcs.py).
from tsn_jax.spec import MTWI_RULES

DEFAULT_WINDOW_LENGTHS = (1, 2, 4, 8, 16)
# k = max(TOP_K_MIN, ceil(N^l / TOP_K_DIVISOR)) in the paper.
TOP_K_MIN = 15
TOP_K_DIVISOR = 4


def _is_real(dtype: np.dtype) -> bool:
    return np.issubdtype(dtype, np.integer) or np.issubdtype(dtype, np.floating)


def _check_scores_2d(snippet_scores: np.ndarray, name: str) -> np.ndarray:
    scores = np.asarray(snippet_scores)
    if scores.ndim != 2:
        raise ValueError(f"{name} must be 2-D [S, N], got shape {scores.shape}")
    if scores.shape[0] == 0 or scores.shape[1] == 0:
        raise ValueError(f"{name} must be non-empty, got shape {scores.shape}")
    if not _is_real(scores.dtype):
        raise ValueError(f"{name} must hold real numbers, got dtype {scores.dtype}")
    return scores


def _check_positive_int(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _check_rule(rule: str) -> str:
    if rule not in MTWI_RULES:
        raise ValueError(f"rule must be one of {MTWI_RULES}, got {rule!r}")
    return rule


def _stride_fraction(stride_ratio: float) -> Fraction:
    """The stride ratio as an exact fraction (0.8 -> 4/5), so window starts are exact."""
    ratio = float(stride_ratio)
    if not 0.0 < ratio <= 1.0:
        raise ValueError(f"stride_ratio must be in (0, 1], got {stride_ratio!r}")
    return Fraction(repr(ratio))


def window_bounds(
    num_snippets: int, length: int, stride_ratio: float = 0.8, rule: str = "paper"
) -> np.ndarray:
    """The sliding windows of one length over a video of `num_snippets` snippets.

    TPAMI 2018, Sec. 4.2: a video of M seconds gives M snippets T_1..T_M (one a
    second; T_{m+1} starts at second m, `input_pipeline.sampling.per_second_starts`).
    Windows of l seconds slide with a stride of 0.8 l; the window starting at
    second s covers T_{s+1}..T_{s+l} (Eq. 13), and there are N^l = floor(M / (0.8 l))
    of them. `rule`:

    * 'paper' (default): window n = 0 .. N^l - 1 starts at s_n = floor(n * 0.8 l),
      the whole second in which the time n * 0.8 l falls (the stride is fractional
      for l = 1, 2, 8, 16, so two windows can start in the same second: both are
      kept, N^l counts them). What the paper leaves open, decided here:
      a window that runs past the end (the last ones can, by up to 0.2 l) is cut
      at the end of the video; a video shorter than 0.8 l seconds, for which the
      formula gives N^l = 0, gets one window starting at 0 (so all five lengths
      still vote, as P = (1/5) sum_l G^l needs).
    * 'tsn_code': the public code's integer stride ceil(0.8 l) (1, 2, 4, 7, 13 s
      for l = 1..16); windows start at 0, stride, 2 stride, ... while the start is
      inside the video, and are cut at its end (ceil(M / stride) windows).

    Args:
      num_snippets: M, the number of snippets in the video, >= 1.
      length: the window length l in snippets, >= 1.
      stride_ratio: the stride as a fraction of the length, in (0, 1] (0.8 in the
        paper; 1 - `overlap` in the code).
      rule: 'paper' or 'tsn_code'.

    Returns:
      int64 [W, 2]: (start, end) of each window, end exclusive, in window order.
    """
    num_snippets = _check_positive_int(num_snippets, "num_snippets")
    length = _check_positive_int(length, "length")
    stride = _stride_fraction(stride_ratio) * length
    if _check_rule(rule) == "paper":
        count = max(1, math.floor(num_snippets / stride))
        starts = np.array([math.floor(n * stride) for n in range(count)], dtype=np.int64)
    else:
        starts = np.arange(0, num_snippets, math.ceil(stride), dtype=np.int64)
    return np.stack([starts, np.minimum(starts + length, num_snippets)], axis=1)


def window_scores(
    snippet_scores: np.ndarray, length: int, stride_ratio: float = 0.8, rule: str = "paper"
) -> np.ndarray:
    """Per-class max of the snippet scores inside each window of one length (Eq. 13).

    Args:
      snippet_scores: [S, N] scores of S snippets (one per second) for N classes.
      length, stride_ratio, rule: see `window_bounds`.

    Returns:
      [W, N] window scores, windows in the order of `window_bounds`.
    """
    scores = _check_scores_2d(snippet_scores, "snippet_scores")
    bounds = window_bounds(scores.shape[0], length, stride_ratio, rule)
    return np.stack([scores[start:end].max(axis=0) for start, end in bounds])


def top_k_count(num_windows: int, top_k: int | None = None, rule: str = "paper") -> int:
    """How many windows top-k pooling averages.

    The paper (Sec. 4.2): k = max(15, ceil(N^l / 4)); the public code:
    max(15, N^l // 4) (Python 2 integer division). Both ask for more windows than
    exist when N^l < 15; k is then clamped to N^l, which averages every window (the
    code's `np.sort(scores)[-k:]` does the same). A fixed `top_k` replaces the rule
    and is clamped the same way.

    Args:
      num_windows: N^l >= 1.
      top_k: if given, a fixed k that overrides the rule.
      rule: 'paper' or 'tsn_code'.

    Returns:
      k, with 1 <= k <= num_windows.
    """
    num_windows = _check_positive_int(num_windows, "num_windows")
    if top_k is not None:
        k = _check_positive_int(top_k, "top_k")
    elif _check_rule(rule) == "paper":
        k = max(TOP_K_MIN, -(-num_windows // TOP_K_DIVISOR))
    else:
        k = max(TOP_K_MIN, num_windows // TOP_K_DIVISOR)
    return min(k, num_windows)


def top_k_pool(
    window_scores: np.ndarray, top_k: int | None = None, rule: str = "paper"
) -> np.ndarray:
    """Per class, the mean of the k highest window scores (top-k pooling, TPAMI Sec. 3.3).

    Each class picks its own k windows; k comes from `top_k_count`.

    Args:
      window_scores: [W, N] scores of W windows for N classes.
      top_k, rule: see `top_k_count`.

    Returns:
      [N] pooled scores (float64 for integer input, else the input's float dtype).
    """
    scores = _check_scores_2d(window_scores, "window_scores")
    k = top_k_count(scores.shape[0], top_k, rule)
    # partition puts the k largest values of each column in the last k rows.
    highest = np.partition(scores, scores.shape[0] - k, axis=0)[scores.shape[0] - k :]
    return highest.mean(axis=0)


def mtwi(
    snippet_scores: np.ndarray,
    window_lengths: Sequence[int] = DEFAULT_WINDOW_LENGTHS,
    stride_ratio: float = 0.8,
    top_k: int | None = None,
    rule: str = "paper",
    snippets_per_second: int = 1,
) -> np.ndarray:
    """Multi-scale Temporal Window Integration: snippet scores -> one video score.

    TPAMI 2018, Sec. 4.2: for each window length l in seconds (1, 2, 4, 8, 16),
    the windows of `window_bounds`, each scored by the per-class max of its
    snippets (Eq. 13, `window_scores`), are pooled into G^l by top-k pooling
    (`top_k_pool`); the video score is the mean of G^l over the lengths,
    P = (1/5) sum_l G^l. Each length counts once in the mean, also when a short
    video gives it a single window.

    The function is agnostic to what the scores are: logits, softmax
    probabilities or any other per-class score; max and mean are applied to
    them as given, so the caller chooses (and the result is on the same scale).
    The public code applies a softmax to P afterwards, which does not change
    the ranking of the classes of one video.

    Args:
      snippet_scores: [S, N] scores of S snippets sampled at `snippets_per_second`,
        for N classes.
      window_lengths: window lengths l in seconds; each >= 1.
      stride_ratio: the window stride as a fraction of the length (0.8 in the
        paper).
      top_k: a fixed k instead of the rule of `top_k_count`.
      rule: 'paper' or 'tsn_code', see `window_bounds` and `top_k_count`.
      snippets_per_second: the sampling rate (1 in the paper; the code's `fps`): a
        window of l seconds spans l * snippets_per_second snippets.

    Returns:
      [N] video-level class scores.
    """
    scores = _check_scores_2d(snippet_scores, "snippet_scores")
    lengths = tuple(window_lengths)
    if not lengths:
        raise ValueError("window_lengths must name at least one length")
    rate = _check_positive_int(snippets_per_second, "snippets_per_second")
    pooled = [
        top_k_pool(
            window_scores(
                scores,
                _check_positive_int(length, "each window length") * rate,
                stride_ratio,
                rule,
            ),
            top_k,
            rule,
        )
        for length in lengths
    ]
    return np.mean(pooled, axis=0)


def average_precision(
    scores: np.ndarray, positives: np.ndarray, interpolated: bool = False
) -> float:
    """Average precision of one class, ranking videos by descending score.

    Non-interpolated (default): the mean, over the positive videos, of the
    precision at the rank where each appears,
    `AP = (1 / P) * sum_{r : positive at r} (positives in ranks 1..r) / r`.
    This is the AP of THUMOS'14 recognition evaluation. With
    `interpolated=True` each of those precisions is replaced by the highest
    precision at that rank or any later one (the monotone envelope of the
    precision-recall curve, VOC 2011 style), which is what the ActivityNet
    classification evaluation script computes. Interpolated AP >= plain AP.

    Ties: videos are sorted with a stable sort on the negated score, so videos
    with equal scores keep their input order (earlier first). The result then
    depends on that order; it is deterministic, but not the tie-averaged value
    that e.g. scikit-learn reports for tied scores.

    Args:
      scores: [V] real scores of V videos for this class; NaN is rejected.
      positives: [V] bool (or 0/1) ground truth: the video shows the class.

    Returns:
      AP in [0, 1]; NaN when there is no positive video (AP is undefined).
    """
    scores = np.asarray(scores)
    positives = np.asarray(positives)
    if scores.ndim != 1 or positives.ndim != 1:
        raise ValueError(
            f"scores and positives must be 1-D, got shapes {scores.shape} and {positives.shape}"
        )
    if scores.shape != positives.shape:
        raise ValueError(f"scores {scores.shape} and positives {positives.shape} differ in shape")
    if scores.size == 0:
        raise ValueError("scores must be non-empty")
    if not _is_real(scores.dtype):
        raise ValueError(f"scores must hold real numbers, got dtype {scores.dtype}")
    if np.isnan(scores).any():
        raise ValueError("scores contain NaN; the ranking would be undefined")
    positives = _as_binary(positives, "positives")
    num_positives = int(positives.sum())
    if num_positives == 0:
        return float("nan")
    order = np.argsort(-scores.astype(np.float64), kind="stable")
    hits = positives[order]
    precision = np.cumsum(hits) / np.arange(1, hits.size + 1)
    if interpolated:
        precision = np.maximum.accumulate(precision[::-1])[::-1]
    return float(precision[hits].sum() / num_positives)


def _as_binary(labels: np.ndarray, name: str) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.dtype == np.bool_:
        return labels
    if not np.issubdtype(labels.dtype, np.number) or not np.isin(labels, (0, 1)).all():
        raise ValueError(f"{name} must be bool or 0/1, got dtype {labels.dtype}")
    return labels.astype(bool)


def mean_average_precision(
    scores: np.ndarray, labels: np.ndarray, interpolated: bool = False
) -> dict:
    """Per-class AP over videos and its mean over the classes that have positives.

    Args:
      scores: [V, N] real scores of V videos for N classes (e.g. `mtwi` output
        stacked over videos).
      labels: either int [V] class indices in [0, N) (single-label; turned into
        one-hot), or bool / 0-1 [V, N] (multi-label: any number of classes per
        video, including none, e.g. background videos).
      interpolated: see `average_precision`.

    Returns:
      {'mAP': float, mean AP over the evaluated classes;
       'per_class_ap': float64 [N], NaN for classes without a positive video;
       'num_classes_evaluated': int, the classes that have a positive;
       'classes_without_positives': int64 [K], the excluded class indices}.

    Raises:
      ValueError: on mismatched shapes, labels out of range or not 0/1, or
        when no class has a positive video.
    """
    scores = _check_scores_2d(scores, "scores")
    num_videos, num_classes = scores.shape
    labels = np.asarray(labels)
    if labels.ndim == 1:
        if labels.shape[0] != num_videos:
            raise ValueError(f"labels {labels.shape} do not match scores {scores.shape}")
        if labels.dtype == np.bool_ or not np.issubdtype(labels.dtype, np.integer):
            raise ValueError(f"1-D labels must be integer class indices, got {labels.dtype}")
        if labels.min() < 0 or labels.max() >= num_classes:
            raise ValueError(
                f"labels must lie in [0, {num_classes}), got {labels.min()}..{labels.max()}"
            )
        truth = np.zeros((num_videos, num_classes), dtype=bool)
        truth[np.arange(num_videos), labels] = True
    elif labels.ndim == 2:
        if labels.shape != scores.shape:
            raise ValueError(f"labels {labels.shape} do not match scores {scores.shape}")
        truth = _as_binary(labels, "2-D labels")
    else:
        raise ValueError(f"labels must be 1-D [V] or 2-D [V, N], got shape {labels.shape}")
    per_class = np.array(
        [average_precision(scores[:, c], truth[:, c], interpolated) for c in range(num_classes)],
        dtype=np.float64,
    )
    evaluated = ~np.isnan(per_class)
    if not evaluated.any():
        raise ValueError("no class has a positive video; mAP is undefined")
    return {
        "mAP": float(per_class[evaluated].mean()),
        "per_class_ap": per_class,
        "num_classes_evaluated": int(evaluated.sum()),
        "classes_without_positives": np.flatnonzero(~evaluated),
    }


def video_mean_average_precision(video_scores: np.ndarray, labels: np.ndarray) -> dict:
    """`mean_average_precision` of video-level scores normalized per video by the softmax.

    The scores of different videos are not on one scale (a video whose snippets all
    score high has high scores for every class), and AP ranks the videos by one class's
    score. The TSN code normalizes each video's aggregated scores by the softmax before
    ranking them (its aggregation functions, M-TWI's `sliding_window_aggregation_func`
    included, return softmax(scores) by default, and its ActivityNet evaluation ranks
    those), so a class's score is its share of the video's belief.

    Args:
      video_scores: [V, N] scores before the softmax (fused logits, or M-TWI's).
      labels: as `mean_average_precision`.

    Returns:
      `mean_average_precision(softmax(video_scores), labels)`.
    """
    scores = _check_scores_2d(video_scores, "video_scores")
    return mean_average_precision(softmax(scores.astype(np.float64), axis=-1), labels)
