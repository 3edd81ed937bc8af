"""What an evaluation reports: metrics of the video scores and the files of a run.

`summarize` gives video- and clip-level metrics of `scoring.VideoScores`;
`write_outputs` writes eval_metrics.json, scores.npz, confusion.csv and
confusion.png; `write_json` is how every JSON file of the project is written.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from tsn_jax import metrics, score_files, untrimmed
from tsn_jax.scoring import VideoScores


def json_safe(value: Any) -> Any:
    """`value` with NaN and infinities as None and numpy scalars as Python numbers."""
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, np.ndarray):
        return json_safe(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def write_json(path: str, value: Any) -> None:
    """Writes `value` as strict JSON (RFC 8259): a non-finite number becomes null, never
    the bare NaN / Infinity that other JSON readers reject."""
    with open(path, "w") as f:
        json.dump(json_safe(value), f, indent=2, allow_nan=False)
        f.write("\n")


def format_number(value: Any) -> str:
    """A float to 4 significant digits ('0.9167'); anything else as str()."""
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def format_metrics(summary: Mapping[str, Any], keys: tuple[str, ...]) -> str:
    """The summary's `keys` as 'top1=0.9167, step=4, ...' through `format_number` (a
    missing metric, e.g. mAP of a run without it, reads None)."""
    return ", ".join(f"{k}={format_number(summary.get(k))}" for k in keys)


def summarize(
    scores: VideoScores,
    class_names: tuple[str, ...],
    class_groups: Mapping[str, tuple[str, ...]] | None = None,
) -> dict[str, Any]:
    """Video- and clip-level metrics of `scores`: `metrics.classification_metrics` (its
    'num_videos' as 'num_eval_videos'), 'mAP', 'clip_top1' and views per video."""
    summary = metrics.classification_metrics(
        scores.logits, scores.labels, class_names, class_groups
    )
    summary["num_eval_videos"] = summary.pop("num_videos")
    finite = bool(np.all(np.isfinite(scores.logits)))  # a diverged run is still reported
    summary["mAP"] = (
        float(untrimmed.video_mean_average_precision(scores.logits, scores.labels)["mAP"])
        if finite
        else None
    )
    summary["clip_top1"] = scores.clip_hits / max(scores.clip_count, 1)
    summary["views_per_video"] = {
        "min": int(scores.num_views.min()),
        "max": int(scores.num_views.max()),
        "mean": float(scores.num_views.mean()),
    }
    return summary


def flat_hparams(config: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """A nested config as TensorBoard hyperparameters: {'optimizer.learning_rate': 0.01,
    ...}, sequences and None as their text (the hparams plugin takes numbers, text and
    booleans only)."""
    flat = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flat_hparams(value, f"{name}."))
        elif isinstance(value, bool | int | float | str):
            flat[name] = value
        else:
            flat[name] = str(value)
    return flat


def confusion_matrix(labels: np.ndarray, logits: np.ndarray, num_classes: int) -> np.ndarray:
    """[N, N] int counts: row = true class, column = predicted (top-1) class."""
    matrix = np.zeros((num_classes, num_classes), np.int64)
    np.add.at(matrix, (labels, np.argmax(logits, axis=-1)), 1)
    return matrix


def confusion_figure(matrix: np.ndarray, class_names: tuple[str, ...]):
    """A matplotlib Figure of the confusion matrix, each row normalized to sum to 1."""
    # matplotlib's object API: pyplot's global backend (a notebook's) stays untouched.
    from matplotlib.figure import Figure

    n = len(class_names)
    rows = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    size = min(4 + 0.25 * n, 40)
    fig = Figure(figsize=(size, size), dpi=100)
    ax = fig.subplots()
    ax.imshow(rows, cmap="Blues", vmin=0.0, vmax=1.0)
    ax.set_xticks(range(n), class_names, rotation=90, fontsize=8)
    ax.set_yticks(range(n), class_names, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title("confusion (each row normalized)")
    fig.tight_layout()
    return fig


def confusion_image(matrix: np.ndarray, class_names: tuple[str, ...]) -> np.ndarray:
    """The confusion figure as pixels [H, W, 3] uint8 (for TensorBoard)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(confusion_figure(matrix, class_names))
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()


def write_outputs(
    out_dir: str,
    scores: VideoScores,
    summary: Mapping[str, Any],
    class_names: tuple[str, ...],
    protocol_info: Mapping[str, Any],
    class_groups: Mapping[str, Sequence[str]] | None = None,
) -> None:
    """eval_metrics.json, scores.npz, confusion.csv and confusion.png in `out_dir`.

    `class_groups` (the demo's appearance and order classes) are kept in the score
    file's protocol, so that fused or re-scored scores report the same groups.
    """
    os.makedirs(out_dir, exist_ok=True)
    if class_groups:
        protocol_info = {**protocol_info, "class_groups": {k: list(v) for k, v in
                                                           class_groups.items()}}  # fmt: skip
    write_json(
        os.path.join(out_dir, "eval_metrics.json"),
        {**summary, "num_videos": len(scores.video_ids), "protocol": dict(protocol_info)},
    )
    score_files.save_scores(
        os.path.join(out_dir, "scores.npz"),
        scores.video_ids,
        scores.labels,
        scores.logits,
        class_names,
        view_logits=scores.view_logits,
        protocol=dict(protocol_info),
    )
    matrix = confusion_matrix(scores.labels, scores.logits, len(class_names))
    with open(os.path.join(out_dir, "confusion.csv"), "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["true \\ predicted", *class_names])
        for name, row in zip(class_names, matrix, strict=True):
            writer.writerow([name, *row.tolist()])
    confusion_figure(matrix, class_names).savefig(os.path.join(out_dir, "confusion.png"))
