"""Runs a study: a paper's table reproduced as training runs on one parent folder.

    tsn-jax-study configs/studies/tsn_sampling.py [--root runs/studies] [--seeds 3]

Each run of the study is an ordinary training run (`runner.train_and_evaluate`, the
code path of `main.py`) in `<root>/<study>/<run>/`: a finished run is skipped, an
interrupted one resumes. Then `results.md` (the paper's table, ours beside the paper's
figures), `results.json` and `results.png` are written in `<root>/<study>/`
(`tsn_jax.studies`). `--seeds=N` trains every run under N seeds and reports mean and
spread; a finding is called reproduced only when its difference exceeds the spread.
`--steps` sets every run's training length (a quick check of a new study file), `--set
KEY=VALUE` any config key of every run (e.g. `dataset.data_dir`).
"""

from __future__ import annotations

import argparse
import ast
import os
from collections.abc import Sequence

from absl import app, flags

from tsn_jax.cli import console


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("study", help="A study file, e.g. configs/studies/tsn_sampling.py.")
    parser.add_argument("--root", default="runs/studies", help="Parent of the study's folder.")
    parser.add_argument("--seeds", type=int, default=1, help="Seeds per run (default 1).")
    parser.add_argument("--steps", type=int, default=None, help="Training steps of every run.")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="Override a config key of every run, e.g. dataset.data_dir=/tmp/tfds "
        "(a Python literal, else a string); repeatable.",
    )
    parser.add_argument("--verbose", action="store_true", help="Also print libraries' lines.")
    return parser


def main(argv: Sequence[str] | None = None) -> dict:
    """Runs the tool on `argv` (without the program name); returns the study's results."""
    parser = _parser()
    args = parser.parse_args(argv)
    common = {}
    for item in args.set:
        key, sep, text = item.partition("=")
        if not sep or not key:
            parser.error(f"--set takes KEY=VALUE, got {item!r}")
        try:
            common[key] = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            common[key] = text
    console.setup(args.verbose)
    from tsn_jax import studies
    from tsn_jax.errors import TsnJaxError

    try:
        study = studies.load_study(args.study)
        root = os.path.join(args.root, study.name)
        results = studies.run_study(study, root, args.seeds, args.steps, common, log=print)
    except TsnJaxError as error:
        raise SystemExit(f"error: {error}") from None
    with open(os.path.join(root, "results.md")) as f:
        print(f.read())
    return results


def _keep_arguments(argv: list[str]) -> list[str]:
    """absl's flags parser replaced: argparse reads the arguments in `main`."""
    flags.FLAGS.mark_as_parsed()
    return argv


def run() -> None:
    """The `tsn-jax-study` console entry point: under absl's app for its logging (the
    runs' progress lines), with argparse's arguments."""
    app.run(_main, flags_parser=_keep_arguments)


def _main(argv: list[str]) -> None:
    """`main` for absl's app, which exits with what it returns (0 here, not the results)."""
    main(argv[1:])


if __name__ == "__main__":
    run()
