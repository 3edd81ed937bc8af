"""Spatial contribution (Phi) and temporal improvement (Psi) of a temporal model over TSN.

The measures are Eq. 1 and Table 7 of Chen, Panda, Ramakrishnan, Feris, Cohn, Oliva and
Fan, "Deep Analysis of CNN-based Spatio-temporal Representations for Action Recognition"
(CVPR 2021, Sec. 6.3 "Disentangling Spatial and Temporal Effects"; full text in
shared/papers/chen_cvpr2021_deep_analysis.txt). TSN without temporal pooling is the
spatial-only baseline; S_a^b(k) is the top-1 accuracy (in %) of architecture a on
backbone b with k input frames. For each (b, k):

    Phi_a^b = S_TSN^b / max(S_a^b, S_TSN^b)
        spatial contribution, in [0, 1]: 1 when the temporal model is no better
        than TSN;
    Psi_a^b = (S_a^b - S_TSN^b) / (100 - S_TSN^b)
        temporal improvement: the gain over TSN as a share of the errors TSN
        leaves; negative when temporal modelling hurts.

Here accuracies are fractions, so 100 becomes 1. Table 7 reports the means
Phi_a = (1/Z) sum_{b in B} sum_{k in K} Phi_a^b(k) (and likewise Psi_a) over
B = {InceptionV1, ResNet18, ResNet50} and K = {8, 16, 32, 64}, i.e. over every
(backbone, frames) pair; the tool prints the mean over the pairs it is given (and per
backbone and per frame count). Table 7's Psi^ta is the improvement from temporal
aggregation only, Psi^{ta+tp} from temporal aggregation combined with temporal pooling;
the baseline stays TSN without temporal pooling (Sec. 6.3): give the matching files.
The paper's accuracies are clip-level on the mini datasets (Sec. 5: clip-level by
default; Sec. 6.1: uniform sampling and clip-level evaluation), so evaluate both models
of a pair on one clip per video for figures comparable with Table 7; the tool scores
whatever the files hold (their video-level logits).

Phi is undefined when both models score 0 and Psi when TSN scores 1; such values are
shown as n/a and left out of the means.

Inputs are score files (`tsn_jax.score_files`, the `scores.npz` an evaluation
writes); accuracy is the top-1 of their video-level logits. The two files of a pair
must hold the same videos in the same order with the same labels.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from typing import NamedTuple

from tsn_jax.metrics import classification_metrics
from tsn_jax.score_files import check_same_videos, load_scores

PAIR_KEYS = ("backbone", "frames", "tsn", "model")


class Pair(NamedTuple):
    """One backbone and frame count: the TSN score file and the temporal model's."""

    backbone: str
    frames: int
    tsn: str
    model: str


def _make_pair(fields: dict[str, str], where: str) -> Pair:
    missing = [k for k in PAIR_KEYS if not fields.get(k)]
    unknown = sorted(set(fields) - set(PAIR_KEYS))
    if missing or unknown:
        raise ValueError(
            f"{where}: needs exactly the keys {', '.join(PAIR_KEYS)}"
            + (f"; missing {', '.join(missing)}" if missing else "")
            + (f"; unknown {', '.join(unknown)}" if unknown else "")
        )
    try:
        frames = int(fields["frames"])
    except ValueError:
        raise ValueError(f"{where}: frames must be an integer, got {fields['frames']!r}") from None
    if frames <= 0:
        raise ValueError(f"{where}: frames must be positive, got {frames}")
    return Pair(fields["backbone"], frames, fields["tsn"], fields["model"])


def parse_pair(text: str) -> Pair:
    """Parses `backbone=NAME,frames=INT,tsn=PATH,model=PATH` (keys in any order)."""
    fields = {}
    for item in text.split(","):
        key, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"--pair {text!r}: {item!r} is not KEY=VALUE")
        key = key.strip()
        if key in fields:
            raise ValueError(f"--pair {text!r}: {key} given twice")
        fields[key] = value.strip()
    return _make_pair(fields, f"--pair {text!r}")


def read_pairs_csv(path: str) -> list[Pair]:
    """Reads pairs from a CSV file with the header `backbone,frames,tsn,model`."""
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        if reader.fieldnames is None:
            raise ValueError(f"{path}: empty CSV file")
        return [
            _make_pair(
                {k.strip(): (v or "").strip() for k, v in row.items() if k is not None},
                f"{path} line {reader.line_num}",
            )
            for row in reader
            if any((v or "").strip() for v in row.values() if isinstance(v, str))
        ]


def contribution(tsn_top1: float, model_top1: float) -> tuple[float | None, float | None]:
    """(Phi, Psi) of Eq. 1 from top-1 accuracies in [0, 1]; None where undefined."""
    best = max(model_top1, tsn_top1)
    phi = tsn_top1 / best if best > 0 else None
    psi = (model_top1 - tsn_top1) / (1.0 - tsn_top1) if tsn_top1 < 1 else None
    return phi, psi


def mean_defined(values: Sequence[float | None]) -> float | None:
    """The mean of the values that are defined (not None); None when none is."""
    defined = [v for v in values if v is not None]
    return sum(defined) / len(defined) if defined else None


def mean_contribution(
    accuracies: Sequence[tuple[float, float]],
) -> tuple[float | None, float | None]:
    """Table 7's means: (mean Phi, mean Psi) over (TSN top-1, model top-1) pairs, each
    mean over the pairs where it is defined."""
    values = [contribution(tsn, model) for tsn, model in accuracies]
    return mean_defined([v[0] for v in values]), mean_defined([v[1] for v in values])


def _summary(rows: Sequence[dict]) -> dict:
    return {
        "phi": mean_defined([r["phi"] for r in rows]),
        "psi": mean_defined([r["psi"] for r in rows]),
        "tsn_top1": mean_defined([r["tsn_top1"] for r in rows]),
        "model_top1": mean_defined([r["model_top1"] for r in rows]),
        "num_pairs": len(rows),
    }


def evaluate_pair(pair: Pair) -> dict:
    """Loads one pair's score files, checks they match and computes Phi and Psi."""
    tsn, model = load_scores(pair.tsn), load_scores(pair.model)
    check_same_videos([tsn, model], [pair.tsn, pair.model])
    tsn_metrics = classification_metrics(tsn.logits, tsn.labels)
    model_top1 = classification_metrics(model.logits, model.labels)["top1"]
    phi, psi = contribution(tsn_metrics["top1"], model_top1)
    return dict(
        pair._asdict(),
        tsn_top1=tsn_metrics["top1"],
        model_top1=model_top1,
        phi=phi,
        psi=psi,
        num_videos=tsn_metrics["num_videos"],
    )


def check_pairs(pairs: Sequence[Pair]) -> None:
    """Raises ValueError for no pair or a (backbone, frames) given twice."""
    if not pairs:
        raise ValueError("give at least one --pair or a --pairs_csv")
    seen = set()
    for pair in pairs:
        key = (pair.backbone, pair.frames)
        if key in seen:
            raise ValueError(f"backbone {pair.backbone} with {pair.frames} frames is given twice")
        seen.add(key)


def analyse(pairs: Sequence[Pair], name: str = "model") -> dict:
    """Phi and Psi of every pair and their means (Table 7).

    Args:
      pairs: one per (backbone, frames), each at most once.
      name: the temporal model's name, kept in the result.

    Returns:
      {'name', 'pairs': [{backbone, frames, tsn, model, tsn_top1, model_top1, phi,
      psi, num_videos}], 'mean': {phi, psi, tsn_top1, model_top1, num_pairs},
      'per_backbone': {backbone: same}, 'per_frames': {frames: same}}; undefined
      values are None.

    Raises:
      ValueError: `check_pairs` fails, or the two files of a pair differ in videos.
    """
    check_pairs(pairs)
    rows = [evaluate_pair(pair) for pair in pairs]
    backbones = list(dict.fromkeys(r["backbone"] for r in rows))
    frame_counts = sorted({r["frames"] for r in rows})
    return {
        "name": name,
        "pairs": rows,
        "mean": _summary(rows),
        "per_backbone": {b: _summary([r for r in rows if r["backbone"] == b]) for b in backbones},
        "per_frames": {f: _summary([r for r in rows if r["frames"] == f]) for f in frame_counts},
    }
