"""Video-level scores and metrics for untrimmed videos, in plain numpy.

Two pieces:

* `mtwi`: Multi-scale Temporal Window Integration (M-TWI), the way the TSN
  journal paper (Wang et al., "Temporal Segment Networks for Action Recognition
  in Videos", TPAMI 2018, section 4.2) turns the scores of snippets sampled
  along an untrimmed video into one score per class. Snippets are taken at one
  per second; for each window length `l` (seconds = snippets) windows slide
  with a stride of `0.8 * l`, a window's score is the per-class max over its
  snippets, the windows of one length are combined by top-k pooling (per class,
  the mean of the k highest window scores), and the lengths are averaged.
* `average_precision` / `mean_average_precision`: per-class average precision
  over videos and its mean over classes, for single-label or multi-label
  video classification (THUMOS / ActivityNet style untrimmed classification).

Nothing here depends on JAX: the inputs are the numpy arrays an evaluation
loop collects from the model.
"""

from collections.abc import Sequence

import numpy as np

DEFAULT_WINDOW_LENGTHS = (1, 2, 4, 8, 16)


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


def _check_stride_ratio(stride_ratio: float) -> float:
    ratio = float(stride_ratio)
    if not 0.0 < ratio <= 1.0:
        raise ValueError(f"stride_ratio must be in (0, 1], got {stride_ratio!r}")
    return ratio


def window_bounds(num_snippets: int, length: int, stride_ratio: float = 0.8) -> np.ndarray:
    """The sliding windows of one length over a video of `num_snippets` snippets.

    Rules (the paper gives only "length l, stride 0.8 l"; the rest is ours):

    * A length longer than the video is clamped to the video: `L = min(length,
      num_snippets)`, which gives a single window covering everything.
    * The stride `stride_ratio * L` is usually fractional. Window `i` starts at
      `floor(i * stride_ratio * L + 0.5)` (round half up, not numpy's
      round-half-to-even), for i = 0, 1, ... while the start is at most
      `num_snippets - L`; repeated starts (a stride under one snippet) are
      dropped.
    * If the last start leaves a tail uncovered, one more window is added that
      ends exactly at the end of the video (start `num_snippets - L`), so every
      snippet lies in at least one window. With `stride_ratio <= 1` consecutive
      starts are at most `L` apart, so there are no gaps in between either.

    Args:
      num_snippets: S, the number of snippets (seconds) in the video, >= 1.
      length: the window length l in snippets, >= 1.
      stride_ratio: the stride as a fraction of the (clamped) length, in (0, 1].

    Returns:
      int64 [W, 2]: (start, end) of each window, end exclusive, sorted by start.
    """
    num_snippets = _check_positive_int(num_snippets, "num_snippets")
    length = _check_positive_int(length, "length")
    ratio = _check_stride_ratio(stride_ratio)
    window = min(length, num_snippets)
    last_start = num_snippets - window
    stride = ratio * window
    # Enough steps to pass last_start; the filter below drops the overshoot.
    steps = np.arange(int(np.ceil(last_start / stride)) + 2)
    starts = np.floor(steps * stride + 0.5).astype(np.int64)
    starts = np.unique(starts[starts <= last_start])
    if starts[-1] < last_start:
        starts = np.append(starts, last_start)
    return np.stack([starts, starts + window], axis=1)


def window_scores(snippet_scores: np.ndarray, length: int, stride_ratio: float = 0.8) -> np.ndarray:
    """Per-class max of the snippet scores inside each window of one length.

    Args:
      snippet_scores: [S, N] scores of S snippets (one per second) for N classes.
      length: the window length l in snippets (clamped to S, see `window_bounds`).
      stride_ratio: the stride as a fraction of the window length.

    Returns:
      [W, N] window scores, windows in the order of `window_bounds`.
    """
    scores = _check_scores_2d(snippet_scores, "snippet_scores")
    bounds = window_bounds(scores.shape[0], length, stride_ratio)
    return np.stack([scores[start:end].max(axis=0) for start, end in bounds])


def top_k_count(
    num_windows: int, top_k_min: int = 15, top_k_divisor: int = 4, top_k: int | None = None
) -> int:
    """How many windows top-k pooling averages.

    The paper's rule is `k = max(15, ceil(N_w / 4))`, which asks for more
    windows than exist whenever `N_w < 15` (any video shorter than about 15 s
    at l = 1). Here k is clamped to the number of windows, so such videos
    average all their windows:
    `k = min(N_w, max(top_k_min, ceil(N_w / top_k_divisor)))`. A fixed `top_k`
    replaces the rule and is clamped the same way.

    Args:
      num_windows: N_w >= 1.
      top_k_min: the lower bound of the rule (15 in the paper).
      top_k_divisor: the divisor of the rule (4 in the paper).
      top_k: if given, a fixed k that overrides the rule.

    Returns:
      k, with 1 <= k <= num_windows.
    """
    num_windows = _check_positive_int(num_windows, "num_windows")
    if top_k is not None:
        k = _check_positive_int(top_k, "top_k")
    else:
        k_min = _check_positive_int(top_k_min, "top_k_min")
        divisor = _check_positive_int(top_k_divisor, "top_k_divisor")
        k = max(k_min, -(-num_windows // divisor))
    return min(k, num_windows)


def top_k_pool(
    window_scores: np.ndarray,
    top_k_min: int = 15,
    top_k_divisor: int = 4,
    top_k: int | None = None,
) -> np.ndarray:
    """Per class, the mean of the k highest window scores.

    Each class picks its own k windows. k comes from `top_k_count` (the paper's
    rule clamped to the number of windows, or a fixed `top_k`).

    Args:
      window_scores: [W, N] scores of W windows for N classes.
      top_k_min, top_k_divisor, top_k: see `top_k_count`.

    Returns:
      [N] pooled scores (float64 for integer input, else the input's float dtype).
    """
    scores = _check_scores_2d(window_scores, "window_scores")
    k = top_k_count(scores.shape[0], top_k_min, top_k_divisor, top_k)
    # partition puts the k largest values of each column in the last k rows.
    highest = np.partition(scores, scores.shape[0] - k, axis=0)[scores.shape[0] - k :]
    return highest.mean(axis=0)


def mtwi(
    snippet_scores: np.ndarray,
    window_lengths: Sequence[int] = DEFAULT_WINDOW_LENGTHS,
    stride_ratio: float = 0.8,
    top_k_min: int = 15,
    top_k_divisor: int = 4,
    top_k: int | None = None,
) -> np.ndarray:
    """Multi-scale Temporal Window Integration: snippet scores -> one video score.

    For each length in `window_lengths`: windows from `window_bounds`, window
    scores by max pooling (`window_scores`), then top-k pooling (`top_k_pool`);
    the result is the mean over the lengths. Lengths longer than the video all
    reduce to the one window covering it, and each still counts once in the
    mean (so in a short video the global per-class max gets more weight).

    The function is agnostic to what the scores are: logits, softmax
    probabilities or any other per-class score; max and mean are applied to
    them as given, so the caller chooses (and the result is on the same scale).

    Args:
      snippet_scores: [S, N] scores of S snippets sampled at one per second,
        for N classes.
      window_lengths: window lengths l in seconds (= snippets); each >= 1.
      stride_ratio: the window stride as a fraction of the length (0.8 in the
        paper).
      top_k_min, top_k_divisor, top_k: see `top_k_count`.

    Returns:
      [N] video-level class scores.
    """
    scores = _check_scores_2d(snippet_scores, "snippet_scores")
    lengths = tuple(window_lengths)
    if not lengths:
        raise ValueError("window_lengths must name at least one length")
    for length in lengths:
        _check_positive_int(length, "each window length")
    pooled = [
        top_k_pool(window_scores(scores, length, stride_ratio), top_k_min, top_k_divisor, top_k)
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
