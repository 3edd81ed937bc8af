"""Writes a slim copy of a trained run for deployment, and the model in other formats.

    tsn-jax-export runs/default exported/default
    tsn-jax-export runs/default/checkpoints/750 /models/tsm_demo
    tsn-jax-export runs/default exported/default --formats=stablehlo,saved_model,onnx

RUN is a workdir (its newest checkpoint), a step directory or its `default` item. The
output holds `default/` (an Orbax checkpoint of {'params', 'batch_stats'}, without the
optimizer state) and `run/metadata` (the config and class names), and loads with
`tsn_jax.load_run(OUTPUT)` or `tsn-jax-predict --checkpoint`. The sizes before and
after are printed.

`--formats` also writes the inference function clips [B, K, T, S, S, C] -> logits
[B, N] as `model.stablehlo` (jax.export), `saved_model/` (TensorFlow, jax2tf) and
`model.onnx` (jax2onnx, batch `--onnx_batch_size`), with `signature.json` (input and
output shapes, class names, normalization, test protocol); see tsn_jax/deployment.py.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from tsn_jax import deployment, runs


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
    parser.add_argument(
        "--formats",
        default="",
        help=f"comma-separated, any of {', '.join(deployment.FORMATS)} (default: none)",
    )
    parser.add_argument("--onnx_batch_size", type=int, default=1, help="batch of model.onnx")
    args = parser.parse_args(argv)
    formats = [name for name in args.formats.split(",") if name]
    unknown = [name for name in formats if name not in deployment.FORMATS]
    if unknown:  # before anything is written
        parser.error(f"unknown format(s) {unknown}; known: {', '.join(deployment.FORMATS)}")
    source = runs.step_directory(args.run)
    output = runs.export_run(args.run, args.output)
    print(
        f"wrote {output}: {_size(output) / 1e6:.1f} MB (the step {source} holds "
        f"{_size(source) / 1e6:.1f} MB with its optimizer state)"
    )
    if formats:
        model, variables, config, class_names = runs.load_run(output)
        written = deployment.export(
            model, variables, config, class_names, output, formats, args.onnx_batch_size
        )
        for name, path in written.items():
            size = _size(path) if os.path.isdir(path) else os.path.getsize(path)
            print(f"wrote {path} ({name}, {size / 1e6:.1f} MB)")
    return output


def run() -> None:
    """The `tsn-jax-export` console entry point."""
    main(sys.argv[1:])


if __name__ == "__main__":
    run()
