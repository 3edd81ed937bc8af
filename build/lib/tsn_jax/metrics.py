"""Classification metrics of video scores, and the softmax they and the fusions use.

One implementation (numpy) serves the evaluation of a run (`tsn_jax.reports`),
the fusion of score files (`tsn-jax-fuse`), Chen et al.'s Phi and Psi
(`tsn_jax.contribution`) and inference. Classes are ranked by a stable sort of
the scores, so equal scores rank the lower class index first, everywhere.
"""

from collections.abc import Mapping, Sequence

import numpy as np

# The label of a video whose class is not known (e.g. an unlabelled test split).
UNKNOWN_LABEL = -1


def log_softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """log softmax(x) along `axis`, computed stably (the maximum subtracted first)."""
    x = np.asarray(x)
    shifted = x - np.max(x, axis=axis, keepdims=True)
    return shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))


def softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """softmax(x) along `axis`."""
    return np.exp(log_softmax(x, axis))


def ranking(scores: np.ndarray, k: int) -> np.ndarray:
    """[..., k] indices of the k highest scores of [..., N], best first, ties by index."""
    return np.argsort(-np.asarray(scores), axis=-1, kind="stable")[..., :k]


def classification_metrics(
    logits: np.ndarray,
    labels: np.ndarray,
    class_names: Sequence[str] | None = None,
    class_groups: Mapping[str, Sequence[str]] | None = None,
) -> dict:
    """Top-1, top-5, loss and per-class accuracy of video-level scores.

    Args:
      logits: [V, N] scores before softmax (any scores rank the same; the loss is the
        cross-entropy of their softmax).
      labels: [V] int class indices, `UNKNOWN_LABEL` for unknown (left out).
      class_names: the N names, for 'per_class_accuracy' and 'group_accuracy'.
      class_groups: {group: class names}, e.g. the demo's appearance and order classes.

    Returns:
      {'top1', 'top5' (top-k with k = min(5, N)), 'loss' (mean cross-entropy),
      'mean_class_accuracy' (mean of the per-class top-1 accuracy over the classes
      that have videos), 'num_videos' (the labelled videos counted)}, and with
      `class_names` also 'per_class_accuracy' {name: accuracy or None} and
      'group_accuracy' {group: mean of its classes' accuracies, or None}.

    Raises:
      ValueError: mismatched shapes, labels out of range, or no labelled video.
    """
    logits = np.asarray(logits)
    labels = np.asarray(labels)
    if logits.ndim != 2 or labels.shape != logits.shape[:1]:
        raise ValueError(
            f"expected logits [V, N] and labels [V], got {list(logits.shape)} "
            f"and {list(labels.shape)}"
        )
    num_classes = logits.shape[1]
    known = labels != UNKNOWN_LABEL
    if not np.any(known):
        raise ValueError("no labelled videos to score")
    logits, labels = logits[known], labels[known].astype(np.int64)
    if np.any((labels < 0) | (labels >= num_classes)):
        raise ValueError(f"labels must be in [0, {num_classes}) or {UNKNOWN_LABEL}")
    best = ranking(logits, min(5, num_classes))
    hit1 = best[:, 0] == labels
    hitk = np.any(best == labels[:, None], axis=1)
    losses = -np.take_along_axis(log_softmax(logits.astype(np.float64)), labels[:, None], 1)
    correct = np.bincount(labels, weights=hit1, minlength=num_classes)
    total = np.bincount(labels, minlength=num_classes)
    present = total > 0
    result = {
        "top1": float(np.mean(hit1)),
        "top5": float(np.mean(hitk)),
        "loss": float(np.mean(losses)),
        "mean_class_accuracy": float(np.mean(correct[present] / total[present])),
        "num_videos": int(len(labels)),
    }
    if class_names is not None:
        per_class = {
            name: (float(correct[i] / total[i]) if total[i] > 0 else None)
            for i, name in enumerate(class_names)
        }
        groups = {}
        for group, names in (class_groups or {}).items():
            accs = [per_class[name] for name in names if per_class.get(name) is not None]
            groups[group] = float(np.mean(accs)) if accs else None
        result["per_class_accuracy"] = per_class
        result["group_accuracy"] = groups
    return result
