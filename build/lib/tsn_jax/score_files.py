"""Per-video score files (`scores.npz`): writing, reading, comparing, scoring, fusing.

An evaluation writes one score file; the tools read them back to fuse streams
(`tsn-jax-fuse`, TSN's RGB + flow late fusion) or to compare a temporal
model with its TSN baseline (`tsn-jax-contribution`).

A score file is an uncompressed `np.savez` archive with the arrays

  video_ids    [V] unicode   one id per video, unique
  labels       [V] int32     class index, or -1 where the label is unknown
  logits       [V, N] float32  video-level scores after the consensus over views,
                               before softmax
  class_names  [N] unicode   names of the N classes, in logit order
  protocol     [] unicode    JSON text of a small dict describing how the scores
                             were made (views, crops, checkpoint, fusion inputs...)
  view_logits  [V, M, N] float32  optional: the logits of each of the M views

Everything is plain numpy: reading a score file needs no JAX and no pickle.
"""

from __future__ import annotations

import dataclasses
import json
import os
import zipfile
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from tsn_jax.metrics import UNKNOWN_LABEL, log_softmax
from tsn_jax.spec import FUSIONS

REQUIRED_KEYS = ("video_ids", "labels", "logits", "class_names", "protocol")
OPTIONAL_KEYS = ("view_logits",)
# How many offending ids an error message lists.
_SHOW = 5


@dataclasses.dataclass(frozen=True, eq=False)
class ScoreFile:
    """The contents of one score file (arrays are read-only).

    Attributes:
      video_ids: [V] str array.
      labels: [V] int32, -1 for unknown.
      logits: [V, N] float32 video-level scores (before softmax).
      class_names: the N class names, in logit order.
      view_logits: [V, M, N] float32 per-view logits, or None.
      protocol: the dict stored with the scores.
    """

    video_ids: np.ndarray
    labels: np.ndarray
    logits: np.ndarray
    class_names: tuple[str, ...]
    view_logits: np.ndarray | None = None
    protocol: dict = dataclasses.field(default_factory=dict)

    @property
    def num_videos(self) -> int:
        return int(self.logits.shape[0])

    @property
    def num_classes(self) -> int:
        return int(self.logits.shape[1])


def _preview(items: Sequence[Any]) -> str:
    shown = ", ".join(repr(str(x)) for x in list(items)[:_SHOW])
    return shown + (", ..." if len(items) > _SHOW else "")


def _finite_float32(name: str, values: np.ndarray) -> np.ndarray:
    """`values` as float32, checked to be numeric and finite (ValueError naming `name`)."""
    if not np.issubdtype(values.dtype, np.number):
        raise ValueError(f"{name} must be numeric, got dtype {values.dtype}")
    values = values.astype(np.float32)
    if not np.all(np.isfinite(values)):
        raise ValueError(f"{name} contain NaN or infinite values")
    return values


def _validate(
    video_ids: Sequence[str],
    labels: np.ndarray,
    logits: np.ndarray,
    class_names: Sequence[str],
    view_logits: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
    """Checks shapes and types; returns (ids, labels, logits, names, view_logits) as stored."""
    ids = list(video_ids)
    if not all(isinstance(v, str) for v in ids):
        raise ValueError("video_ids must be strings")
    names = list(class_names)
    if not all(isinstance(n, str) for n in names):
        raise ValueError("class_names must be strings")
    num_videos, num_classes = len(ids), len(names)
    if num_videos == 0:
        raise ValueError("a score file needs at least one video")
    if num_classes == 0:
        raise ValueError("a score file needs at least one class")
    if len(set(ids)) != num_videos:
        seen, dups = set(), []
        for v in ids:
            if v in seen and v not in dups:
                dups.append(v)
            seen.add(v)
        raise ValueError(f"video_ids must be unique; repeated: {_preview(dups)}")
    if len(set(names)) != num_classes:
        raise ValueError("class_names must be unique")

    logits = np.asarray(logits)
    if logits.shape != (num_videos, num_classes):
        raise ValueError(
            f"logits must have shape [V, N] = [{num_videos}, {num_classes}] "
            f"(len(video_ids), len(class_names)), got {list(logits.shape)}"
        )
    logits = _finite_float32("logits", logits)

    labels = np.asarray(labels)
    if labels.shape != (num_videos,):
        raise ValueError(f"labels must have shape [V] = [{num_videos}], got {list(labels.shape)}")
    if not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"labels must be integers, got dtype {labels.dtype}")
    bad = (labels < UNKNOWN_LABEL) | (labels >= num_classes)
    if np.any(bad):
        raise ValueError(
            f"labels must be in [0, {num_classes}) or {UNKNOWN_LABEL} (unknown); "
            f"got {_preview(labels[bad].tolist())}"
        )
    labels = labels.astype(np.int32)

    if view_logits is not None:
        view_logits = np.asarray(view_logits)
        if (
            view_logits.ndim != 3
            or view_logits.shape[0] != num_videos
            or view_logits.shape[2] != num_classes
            or view_logits.shape[1] == 0
        ):
            raise ValueError(
                f"view_logits must have shape [V, M, N] = [{num_videos}, M>0, {num_classes}], "
                f"got {list(view_logits.shape)}"
            )
        view_logits = _finite_float32("view_logits", view_logits)

    return np.array(ids, dtype=np.str_), labels, logits, np.array(names, dtype=np.str_), view_logits


def save_scores(
    path: str,
    video_ids: Sequence[str],
    labels: np.ndarray,
    logits: np.ndarray,
    class_names: Sequence[str],
    view_logits: np.ndarray | None = None,
    protocol: Mapping[str, Any] | None = None,
) -> None:
    """Writes a score file (see the module docstring for its layout).

    The file is written next to `path` and renamed into place, so a reader never
    sees half a file; missing parent folders are created. `path` is used as given
    (no `.npz` is appended).

    Args:
      path: where to write, e.g. `<workdir>/eval/scores.npz`.
      video_ids: V unique ids.
      labels: [V] int class indices, -1 for unknown.
      logits: [V, N] video-level scores before softmax.
      class_names: the N class names, in logit order.
      view_logits: optional [V, M, N] logits of each of the M views.
      protocol: optional JSON-serializable dict, stored as JSON text.

    Raises:
      ValueError: on inconsistent shapes, non-integer or out-of-range labels,
        non-finite logits, repeated ids or names, or a protocol JSON cannot encode.
    """
    ids, labels, logits, names, view_logits = _validate(
        video_ids, labels, logits, class_names, view_logits
    )
    try:
        protocol_json = json.dumps(dict(protocol or {}))
    except (TypeError, ValueError) as e:
        raise ValueError(f"protocol must be a JSON-serializable dict: {e}") from e
    arrays = {
        "video_ids": ids,
        "labels": labels,
        "logits": logits,
        "class_names": names,
        "protocol": np.array(protocol_json, dtype=np.str_),
    }
    if view_logits is not None:
        arrays["view_logits"] = view_logits
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    tmp_path = f"{path}.tmp{os.getpid()}"
    try:
        with open(tmp_path, "wb") as f:
            np.savez(f, **arrays)
        os.replace(tmp_path, path)
    finally:
        if os.path.exists(tmp_path):
            os.remove(tmp_path)


def load_scores(path: str) -> ScoreFile:
    """Reads a score file written by `save_scores`.

    Raises:
      FileNotFoundError: `path` does not exist.
      ValueError: the file is not an .npz archive, lacks required arrays (the
        message names them), or its arrays are inconsistent.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"score file not found: {path}")
    try:
        data = np.load(path, allow_pickle=False)
        if not isinstance(data, np.lib.npyio.NpzFile):
            raise ValueError("expected an .npz archive")
        with data:
            arrays = {key: data[key] for key in data.files}
    except (OSError, ValueError, zipfile.BadZipFile) as e:
        raise ValueError(f"{path} is not a readable score file: {e}") from e
    missing = [key for key in REQUIRED_KEYS if key not in arrays]
    if missing:
        raise ValueError(
            f"{path} is not a complete score file: missing {', '.join(missing)} "
            f"(has {', '.join(sorted(arrays)) or 'nothing'})"
        )
    try:
        ids, labels, logits, names, view_logits = _validate(
            arrays["video_ids"].tolist(),
            arrays["labels"],
            arrays["logits"],
            arrays["class_names"].tolist(),
            arrays.get("view_logits"),
        )
        protocol = json.loads(str(arrays["protocol"][()]))
        if not isinstance(protocol, dict):
            raise ValueError(f"protocol must be a JSON object, got {type(protocol).__name__}")
    except (ValueError, TypeError, IndexError) as e:
        raise ValueError(f"{path}: {e}") from e
    for array in (ids, labels, logits, view_logits):
        if array is not None:
            array.flags.writeable = False
    return ScoreFile(
        video_ids=ids,
        labels=labels,
        logits=logits,
        class_names=tuple(str(n) for n in names),
        view_logits=view_logits,
        protocol=protocol,
    )


def _differences(first: ScoreFile, other: ScoreFile, name0: str, name: str) -> list[str]:
    """Human-readable differences in ids, labels and class names between two files."""
    problems = []
    ids0, ids = first.video_ids.tolist(), other.video_ids.tolist()
    if ids0 != ids:
        set0, set1 = set(ids0), set(ids)
        only0 = [v for v in ids0 if v not in set1]
        only1 = [v for v in ids if v not in set0]
        if not only0 and not only1:
            if len(ids0) != len(ids):
                problems.append(
                    f"{name0} has {len(ids0)} videos and {name} has {len(ids)} with the same "
                    "set of ids (an id is repeated)"
                )
            else:
                pos = next(i for i, (a, b) in enumerate(zip(ids0, ids, strict=True)) if a != b)
                moved = sum(a != b for a, b in zip(ids0, ids, strict=True))
                problems.append(
                    f"{name0} and {name} hold the same {len(ids0)} video ids but in a "
                    f"different order ({moved} positions differ; first at position {pos}: "
                    f"{ids0[pos]!r} vs {ids[pos]!r})"
                )
        else:
            parts = []
            if only0:
                parts.append(f"{len(only0)} only in {name0} ({_preview(only0)})")
            if only1:
                parts.append(f"{len(only1)} only in {name} ({_preview(only1)})")
            problems.append(
                f"{name0} ({len(ids0)} videos) and {name} ({len(ids)} videos) differ in "
                f"video ids: " + "; ".join(parts)
            )
    else:
        differ = np.flatnonzero(first.labels != other.labels)
        if differ.size:
            problems.append(
                f"{name0} and {name} differ in the labels of {differ.size} videos "
                f"({_preview([ids0[i] for i in differ])})"
            )
    names0, names = first.class_names, other.class_names
    if tuple(names0) != tuple(names):
        if len(names0) != len(names):
            problems.append(f"{name0} has {len(names0)} classes and {name} has {len(names)}")
        else:
            pos = next(i for i, (a, b) in enumerate(zip(names0, names, strict=True)) if a != b)
            problems.append(
                f"{name0} and {name} differ in class names (first at index {pos}: "
                f"{names0[pos]!r} vs {names[pos]!r})"
            )
    return problems


def check_same_videos(files: Sequence[ScoreFile], names: Sequence[str]) -> None:
    """Checks that score files cover the same videos, in the same order, with the same
    labels and class names, so their logits can be compared row by row.

    Args:
      files: the loaded score files; each is compared with the first.
      names: one name per file (e.g. its path), used in the message.

    Raises:
      ValueError: listing every difference found, naming the files: ids only in one
        file (count and the first few), the same ids in another order, differing labels
        or class names.
    """
    if len(files) != len(names):
        raise ValueError(f"{len(files)} score files but {len(names)} names")
    problems = []
    for other, name in zip(files[1:], names[1:], strict=True):
        problems += _differences(files[0], other, names[0], name)
    if problems:
        raise ValueError("score files do not match:\n  " + "\n  ".join(problems))


def fuse(
    logits_list: Sequence[np.ndarray], weights: Sequence[float], mode: str = "score"
) -> np.ndarray:
    """Weighted late fusion of several streams' scores: sum_i(w_i x_i) / sum_i(w_i).

    Args:
      logits_list: S arrays of the same shape, e.g. [V, N] logits of RGB and flow.
      weights: S non-negative weights with a positive sum (TSN: RGB 1, flow 1.5).
      mode: 'score' averages the logits themselves, as TSN does (before softmax).
        'prob' averages the softmax probabilities p_i = softmax(x_i) over the last
        axis and returns log(sum_i(w_i p_i) / sum_i(w_i)): a normalized
        log-probability, so its argmax is the class of highest averaged probability
        and its softmax gives back the averaged probabilities. It is computed in log
        space, so it stays finite where a probability underflows.

    Returns:
      float32 array of the inputs' shape.

    Raises:
      ValueError: no streams, a weight count that differs from the stream count,
        shapes that differ, negative or non-finite weights, a weight sum that is not
        positive, or an unknown mode.
    """
    if mode not in FUSIONS:
        raise ValueError(f"mode must be one of {FUSIONS}, got {mode!r}")
    if len(logits_list) == 0:
        raise ValueError("nothing to fuse: no streams given")
    if len(weights) != len(logits_list):
        raise ValueError(f"{len(logits_list)} streams but {len(weights)} weights")
    arrays = [np.asarray(x, np.float64) for x in logits_list]
    shapes = {a.shape for a in arrays}
    if len(shapes) != 1:
        raise ValueError(f"streams differ in shape: {[list(a.shape) for a in arrays]}")
    w = np.asarray(weights, np.float64)
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        raise ValueError(f"weights must be finite and non-negative, got {list(weights)}")
    total = float(np.sum(w))
    if total <= 0:
        raise ValueError(f"weights must have a positive sum, got {list(weights)}")
    if mode == "score":
        fused = sum(wi * a for wi, a in zip(w, arrays, strict=True)) / total
        return fused.astype(np.float32)
    # log(sum_i (w_i / W) p_i) = logsumexp_i(log(w_i / W) + log p_i), over streams with w_i > 0.
    terms = np.stack(
        [np.log(wi / total) + log_softmax(a) for wi, a in zip(w, arrays, strict=True) if wi > 0]
    )
    peak = np.max(terms, axis=0)
    return (peak + np.log(np.sum(np.exp(terms - peak), axis=0))).astype(np.float32)


def format_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A fixed-width text table: the first column left-aligned, the others right-aligned,
    a rule under the header (the tools print metrics with it)."""
    cells = [tuple(header)] + [tuple(row) for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = [
        "  ".join(
            cell.ljust(w) if i == 0 else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        )
        for row in cells
    ]
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines)
