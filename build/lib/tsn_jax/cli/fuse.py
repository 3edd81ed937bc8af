r"""Late fusion of score files, e.g. TSN's two streams (RGB 1 : flow 1.5).

    tsn-jax-fuse rgb/scores.npz flow/scores.npz --weights 1 1.5 \
        --output fused/scores.npz

Reads the `scores.npz` that evaluations wrote (`tsn_jax.score_files`), checks they
cover the same videos in the same order with the same labels and classes, fuses
their video-level scores with a weighted average, and prints each stream's and the
fused top-1, top-5 and mean class accuracy.

  --mode=score   average the logits (TSN: scores before softmax); the default
  --mode=prob    average the softmax probabilities; the fused scores written are
                 the log of the averaged probabilities

With --output, the fused scores are written there as a score file (its protocol
records the inputs, weights and mode) and the metrics as JSON in
`eval_metrics.json` next to it; --metrics_out sets another JSON path. `main(argv)`
returns the fused metrics, for calling in-process.

Command-line parsing uses argparse (not absl flags): it takes several positional files
and lets `main` be called more than once.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from tsn_jax import reports, spec
from tsn_jax.metrics import classification_metrics
from tsn_jax.score_files import (
    check_same_videos,
    format_table,
    fuse,
    load_scores,
    save_scores,
)

METRICS_FILENAME = "eval_metrics.json"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("files", nargs="+", help="Score files (scores.npz), two or more.")
    parser.add_argument(
        "--weights",
        nargs="+",
        type=float,
        default=None,
        help="One weight per file (default: all 1). TSN fuses RGB:flow as 1:1.5.",
    )
    parser.add_argument(
        "--mode",
        choices=spec.FUSIONS,
        default="score",
        help="score: average logits (TSN); prob: average softmax probabilities.",
    )
    parser.add_argument(
        "--names", nargs="+", default=None, help="Stream names for the table (default: paths)."
    )
    parser.add_argument("--output", default=None, help="Where to write the fused score file.")
    parser.add_argument(
        "--metrics_out",
        default=None,
        help=f"Where to write the metrics JSON (default: {METRICS_FILENAME} next to --output; "
        "none without --output).",
    )
    return parser


def _table(rows: Sequence[tuple[str, str, dict]]) -> str:
    """Rows of (name, weight, metrics) as a fixed-width text table, accuracies in %."""
    header = ("stream", "weight", "top1", "top5", "mean class")
    rows = [
        (
            name,
            weight,
            f"{100 * m['top1']:.2f}",
            f"{100 * m['top5']:.2f}",
            f"{100 * m['mean_class_accuracy']:.2f}",
        )
        for name, weight, m in rows
    ]
    return format_table(header, rows)


def main(argv: Sequence[str] | None = None) -> dict:
    """Runs the tool on `argv` (without the program name).

    Returns:
      The fused metrics: {'top1', 'top5', 'mean_class_accuracy', 'num_videos'}.
    """
    parser = _parser()
    args = parser.parse_args(argv)
    if len(args.files) < 2:
        parser.error("give at least two score files to fuse")
    weights = args.weights if args.weights is not None else [1.0] * len(args.files)
    if len(weights) != len(args.files):
        parser.error(f"{len(args.files)} files but {len(weights)} --weights")
    names = args.names if args.names is not None else list(args.files)
    if len(names) != len(args.files):
        parser.error(f"{len(args.files)} files but {len(names)} --names")

    streams = [load_scores(path) for path in args.files]
    check_same_videos(streams, names)
    first = streams[0]
    fused = fuse([s.logits for s in streams], weights, mode=args.mode)
    stream_metrics = {
        name: classification_metrics(s.logits, s.labels)
        for name, s in zip(names, streams, strict=True)
    }
    fused_metrics = classification_metrics(fused, first.labels)

    rows = [(n, f"{w:g}", stream_metrics[n]) for n, w in zip(names, weights, strict=True)]
    rows.append((f"fused ({args.mode})", "", fused_metrics))
    print(f"{fused_metrics['num_videos']} videos, {first.num_classes} classes")
    print(_table(rows))

    fusion = {
        "inputs": [os.path.abspath(p) for p in args.files],
        "names": names,
        "weights": [float(w) for w in weights],
        "mode": args.mode,
    }
    if args.output:
        protocol = dict(fusion, input_protocols=[s.protocol for s in streams])
        save_scores(
            args.output,
            first.video_ids,
            first.labels,
            fused,
            first.class_names,
            protocol={"fused_from": protocol},
        )
        print(f"wrote {args.output}")
    metrics_out = args.metrics_out
    if metrics_out is None and args.output:
        metrics_out = os.path.join(os.path.dirname(os.path.abspath(args.output)), METRICS_FILENAME)
    if metrics_out:
        os.makedirs(os.path.dirname(os.path.abspath(metrics_out)), exist_ok=True)
        reports.write_json(metrics_out, dict(fused_metrics, streams=stream_metrics, fusion=fusion))
        print(f"wrote {metrics_out}")
    return fused_metrics


def run() -> None:
    """The `tsn-jax-fuse` console entry point."""
    main(sys.argv[1:])


if __name__ == "__main__":
    run()
