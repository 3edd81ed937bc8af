"""Classification metrics of a whole evaluation.

`eval_sums` turns video scores into sums (hits, losses, per-class counts) and
`summarize` into the reported numbers; `tsn_jax.reports` calls both on the
fused scores of every video of the split, gathered from all processes, so each
video counts exactly once.
"""

from collections.abc import Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax


def eval_sums(logits: jax.Array, labels: jax.Array, mask: jax.Array) -> dict[str, jax.Array]:
    """Per-batch sums of the evaluation metrics.

    Args:
      logits: [B, N] float video scores (before softmax).
      labels: [B] int32.
      mask: [B] float, 1 for real rows, 0 for padding.

    Returns:
      {'loss', 'top1', 'top5', 'count'}: scalar sums over valid rows;
      {'class_correct', 'class_total'}: [N] top-1 hits and videos per class.
    """
    num_classes = logits.shape[-1]
    logits = logits.astype(jnp.float32)
    loss = optax.softmax_cross_entropy_with_integer_labels(logits, labels)
    k = min(5, num_classes)
    _, top_k = jax.lax.top_k(logits, k)
    hit1 = (top_k[:, 0] == labels).astype(jnp.float32) * mask
    hit5 = jnp.any(top_k == labels[:, None], axis=-1).astype(jnp.float32) * mask
    one_hot = jax.nn.one_hot(labels, num_classes) * mask[:, None]
    return {
        "loss": jnp.sum(loss * mask),
        "top1": jnp.sum(hit1),
        "top5": jnp.sum(hit5),
        "count": jnp.sum(mask),
        "class_correct": jnp.sum(one_hot * hit1[:, None], axis=0),
        "class_total": jnp.sum(one_hot, axis=0),
    }


def summarize(
    sums: Mapping[str, np.ndarray],
    class_names: Sequence[str],
    class_groups: Mapping[str, Sequence[str]] | None = None,
) -> dict:
    """Turns accumulated `eval_sums` into reportable metrics.

    Returns:
      {'top1', 'top5', 'loss', 'mean_class_accuracy' (mean over classes that
      have videos), 'num_eval_videos', 'per_class_accuracy': {name: acc or None},
      'group_accuracy': {group: mean of its classes' accuracies}}.
    """
    count = float(sums["count"])
    if count == 0:
        raise ValueError("no evaluation videos were seen")
    correct = np.asarray(sums["class_correct"], np.float64)
    total = np.asarray(sums["class_total"], np.float64)
    per_class = {
        name: (float(correct[i] / total[i]) if total[i] > 0 else None)
        for i, name in enumerate(class_names)
    }
    present = [acc for acc in per_class.values() if acc is not None]
    groups = {}
    for group, names in (class_groups or {}).items():
        accs = [per_class[name] for name in names if per_class.get(name) is not None]
        groups[group] = float(np.mean(accs)) if accs else None
    return {
        "top1": float(sums["top1"]) / count,
        "top5": float(sums["top5"]) / count,
        "loss": float(sums["loss"]) / count,
        "mean_class_accuracy": float(np.mean(present)),
        "num_eval_videos": int(round(count)),
        "per_class_accuracy": per_class,
        "group_accuracy": groups,
    }
