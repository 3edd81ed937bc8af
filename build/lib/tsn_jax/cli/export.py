"""Writes a slim copy of a trained run for deployment: weights without optimizer state.

    tsn-jax-export runs/default exported/default
    tsn-jax-export runs/default/checkpoints/750 /models/tsm_demo

RUN is a workdir (its newest checkpoint), a step directory or its `default` item. The
output holds `default/` (an Orbax checkpoint of {'params', 'batch_stats'}) and
`run/metadata` (the config and class names), and loads with `tsn_jax.load_run(OUTPUT)`
or `tsn-jax-predict --checkpoint`. The sizes before and after are printed.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from tsn_jax import runs


def _size(directory: str) -> int:
    """Bytes of the files under `directory`."""
    return sum(
        os.path.getsize(os.path.join(root, name))
        for root, _, names in os.walk(directory)
        for name in names
    )


def main(argv: Sequence[str]) -> str:
    """Runs the tool on `argv` (without the program name); returns the output directory."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("run", help="workdir, checkpoint step directory or its default item")
    parser.add_argument("output", help="new directory to write")
    args = parser.parse_args(argv)
    source = runs.step_directory(args.run)
    output = runs.export_run(args.run, args.output)
    print(
        f"wrote {output}: {_size(output) / 1e6:.1f} MB (the step {source} holds "
        f"{_size(source) / 1e6:.1f} MB with its optimizer state)"
    )
    return output


def run() -> None:
    """The `tsn-jax-export` console entry point."""
    main(sys.argv[1:])


if __name__ == "__main__":
    run()
