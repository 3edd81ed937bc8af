r"""Spatial contribution (Phi) and temporal improvement (Psi) of a temporal model over TSN.

    tsn-jax-contribution --name=TAM \
        --pair backbone=resnet50,frames=8,tsn=runs/tsn8/scores.npz,model=runs/tam8/scores.npz \
        --pair backbone=resnet50,frames=16,tsn=runs/tsn16/scores.npz,model=runs/tam16/scores.npz
    tsn-jax-contribution --pairs_csv=pairs.csv --output=contribution.json

Chen et al.'s Eq. 1 and Table 7 (CVPR 2021, Sec. 6.3), computed by `tsn_jax.contribution`:
Phi and Psi per (backbone, frames) pair and their means.

Inputs are score files (`tsn_jax.score_files`, the `scores.npz` an evaluation
writes); accuracy is the top-1 of their video-level logits. The two files of a pair
must hold the same videos in the same order with the same labels. Pairs come from
repeated --pair flags, each `backbone=NAME,frames=INT,tsn=PATH,model=PATH` (paths
may not contain commas), or from --pairs_csv, a CSV file with the header
`backbone,frames,tsn,model`; paths are taken relative to the current folder. Each
(backbone, frames) may appear once. `main(argv)` returns the results as a dict.

Command-line parsing uses argparse (not absl flags) so that `main` can be called more
than once in-process.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from tsn_jax import contribution, reports
from tsn_jax.score_files import format_table


def _fmt(value: float | None, percent: bool = False) -> str:
    if value is None:
        return "n/a"
    return f"{100 * value:.2f}" if percent else f"{value:.3f}"


def _table(title: str, rows: Sequence[tuple[str, dict]]) -> str:
    header = (title, "TSN top1", "model top1", "Phi", "Psi")
    rows = [
        (
            label,
            _fmt(r["tsn_top1"], True),
            _fmt(r["model_top1"], True),
            _fmt(r["phi"]),
            _fmt(r["psi"]),
        )
        for label, r in rows
    ]
    return format_table(header, rows)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--pair",
        action="append",
        default=[],
        metavar="backbone=NAME,frames=INT,tsn=PATH,model=PATH",
        help="One backbone and frame count: TSN's and the temporal model's score files. "
        "Repeat for every pair.",
    )
    parser.add_argument(
        "--pairs_csv",
        default=None,
        help="CSV file with the header backbone,frames,tsn,model, one pair per row "
        "(added to the --pair flags).",
    )
    parser.add_argument("--name", default="model", help="Name of the temporal model (table).")
    parser.add_argument("--output", default=None, help="Optional JSON file for the results.")
    return parser


def main(argv: Sequence[str] | None = None) -> dict:
    """Runs the program on `argv` (without the program name); returns
    `contribution.analyse`'s results."""
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        pairs = [contribution.parse_pair(text) for text in args.pair]
        if args.pairs_csv:
            pairs += contribution.read_pairs_csv(args.pairs_csv)
        contribution.check_pairs(pairs)
    except ValueError as e:
        parser.error(str(e))
    results = contribution.analyse(pairs, args.name)
    rows = results["pairs"]
    print(f"{args.name} vs TSN (accuracies in %, Phi/Psi as fractions)")
    print(_table("backbone / frames", [(f"{r['backbone']} / {r['frames']}", r) for r in rows]))
    print()
    print(
        _table(
            "mean over",
            [(f"backbone {b}", s) for b, s in results["per_backbone"].items()]
            + [(f"{f} frames", s) for f, s in results["per_frames"].items()]
            + [(f"all {len(rows)} pairs", results["mean"])],
        )
    )
    if args.output:
        os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
        reports.write_json(args.output, results)
        print(f"wrote {args.output}")
    return results


def run() -> None:
    """The `tsn-jax-contribution` console entry point."""
    main(sys.argv[1:])


if __name__ == "__main__":
    run()
