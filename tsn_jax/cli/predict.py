"""Classifies video files with a trained run, using the run's own test protocol.

    tsn-jax-predict VIDEO.mp4 [MORE.mkv ...] --workdir=runs/default
    tsn-jax-predict VIDEO.mp4 --workdir=runs/x --timeline=timeline.png
    tsn-jax-predict VIDEO.mp4 --workdir=runs/x --annotate=annotated.mp4   # or .gif
    tsn-jax-predict VIDEO.mp4 --checkpoint=exported/default   # a step or an export
    tsn-jax-predict VIDEO.mp4 --config=configs/kinetics_i3d.py \
        --checkpoint=/ckpt/run/checkpoints/1000 --class_names=classes.json

Each file (anything PyAV decodes) is stored as the run's dataset stores its videos
(`dataset.short_side` / `size`, `fps`, optical flow when the model reads it), then goes
through the evaluation transform of the config (`eval.sampling`, segments, crops)
and the same fusion as `main.py --mode=eval` (tsn_jax/scoring.py), so a file of the
test split gets the scores its evaluation gave it. The top-k classes are printed with
their probabilities (softmax of the fused scores).

`--timeline=out.png` also scores one centre-cropped snippet a second over the whole
video and plots the per-second probabilities of the top classes: useful for long,
untrimmed videos. Models that mix K segments (TSM, TAM) score each second with the
window of K consecutive seconds' snippets centred on it. `--annotate=out.mp4` (or .gif)
writes the video with the top 3 classes of each second drawn on its frames.

The run's config is `WORKDIR/config.json` unless `--config` is given; the class names
come from `WORKDIR/class_names.json` (written when the run started) or `--class_names`
(a JSON list). A `--checkpoint` step directory or `tsn-jax-export` output without
`--workdir` and `--config` gives both itself. The model is compiled once and the
views are scored in batches of `eval.batch_size` rows.
"""

from __future__ import annotations

import csv
import os
import sys
from typing import Any

from absl import app, flags, logging
from ml_collections import config_flags

from input_pipeline.datasets.video_decode import VideoReader
from tsn_jax import annotation, inference, pretrained, reports, runner, runs

FLAGS = flags.FLAGS


def _define_flags() -> None:
    """Defined when run as a script only, so that tests can import this module next to
    other tools that define flags of the same names."""
    flags.DEFINE_string("workdir", None, "The run's workdir (config.json, checkpoints).")
    config_flags.DEFINE_config_file("config", None, "Config file instead of config.json.")
    flags.DEFINE_string("checkpoint", None, "Checkpoint step directory (default: newest).")
    flags.DEFINE_string("class_names", None, "JSON list of class names (default: workdir's).")
    flags.DEFINE_integer("top", 5, "How many classes to print.")
    flags.DEFINE_string("timeline", None, "PNG path: per-second class probabilities.")
    flags.DEFINE_string(
        "annotate", None, "MP4 or GIF path: the video with its top classes per second."
    )
    flags.DEFINE_string("output", None, "JSON (or .csv) path: every file's top classes.")


def predict_files(
    paths: list[str],
    *,
    workdir: str | None,
    config=None,
    checkpoint: str | None = None,
    class_names: str | None = None,
    top: int = 5,
    timeline: str | None = None,
    output: str | None = None,
    annotate: str | None = None,
) -> list[dict[str, Any]]:
    """Prints the top classes of each file; returns them, the scores and view logits.

    A file that cannot be read is reported on stderr and the others go on: its result
    is {'path', 'error'}. `output` (a .json or .csv path) also writes every file's
    top classes (and per-second probabilities with `timeline` or `annotate`) or error.
    `timeline` (PNG) plots the per-second probabilities of the top classes; `annotate`
    (.mp4 or .gif) writes the video with its top 3 classes of each second drawn on it.
    With several files, their outputs are numbered (timeline_0.png, ...).
    """
    if config is None and not workdir and checkpoint:
        # A step directory or an export describes itself.
        config, names = runs.describe(checkpoint)
        names = runs.load_class_names(None, class_names) if class_names else names
    else:
        config = runs.load_config(workdir, config)
        names = runs.load_class_names(workdir, class_names)
    if checkpoint:
        config.eval.checkpoint = checkpoint
    variables = pretrained.load_checkpoint(runner.checkpoint_path(config, workdir or "."))
    predictor = inference.Predictor(config, names, variables)
    results = []
    for path in paths:
        try:
            video = predictor.read(path)  # stored once, for the scores and the timeline
        except ValueError as error:
            print(f"{path}: skipped: {error}", file=sys.stderr)
            results.append({"path": path, "error": str(error)})
            continue
        scores, view_logits = predictor.scores(video)
        best = inference.top_classes(scores, predictor.class_names, top)
        print(f"{path}: {len(view_logits)} view{'s' if len(view_logits) != 1 else ''}")
        for name, prob in best:
            print(f"  {prob:7.2%}  {name}")
        result = {"path": path, "top": best, "scores": scores, "view_logits": view_logits}
        if timeline or annotate:
            probs = predictor.per_second(video)
            result["per_second"] = probs
            print(f"  {len(probs)} second{'s' * (len(probs) != 1)} scored one by one")
        if timeline:
            out = _numbered(timeline, len(results), len(paths))
            title = f"{os.path.basename(path)}: class probabilities per second"
            annotation.plot_timeline(probs, predictor.class_names, [n for n, _ in best], out, title)
            print(f"  timeline: {out}")
        if annotate:
            out = _numbered(annotate, len(results), len(paths))
            with VideoReader(path, None) as reader:
                frames = annotation.annotate(reader, reader.fps, probs, predictor.class_names)
                count = annotation.write_video(out, frames, reader.fps)
            print(f"  annotated video ({count} frames): {out}")
        results.append(result)
    if output:
        write_results(results, output)
        print(f"wrote {output}")
    return results


def _numbered(path: str, index: int, count: int) -> str:
    """`path` itself for one file; path_<index> before the extension for several."""
    if count == 1:
        return path
    stem, ext = os.path.splitext(path)
    return f"{stem}_{index}{ext}"


def write_results(results: list[dict[str, Any]], path: str) -> None:
    """Each file's top classes and probabilities (or its error) as JSON, or as CSV rows
    (path, rank, class, probability, error) when `path` ends with .csv."""
    rows = [
        {
            "path": r["path"],
            "top": [{"class": name, "probability": float(p)} for name, p in r.get("top", [])],
            **({"per_second": r["per_second"]} if "per_second" in r else {}),
            **({"error": r["error"]} if "error" in r else {}),
        }
        for r in results
    ]
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    if not path.endswith(".csv"):
        reports.write_json(path, rows)
        return
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["path", "rank", "class", "probability", "error"])
        for row in rows:
            if "error" in row:
                writer.writerow([row["path"], "", "", "", row["error"]])
            for rank, entry in enumerate(row["top"], start=1):
                writer.writerow([row["path"], rank, entry["class"], entry["probability"], ""])


def main(argv: list[str]) -> None:
    import tensorflow as tf

    tf.config.set_visible_devices([], "GPU")
    logging.set_verbosity(logging.WARNING)  # Orbax's and TFDS's INFO lines drown the answer
    if len(argv) < 2:
        raise app.UsageError("give at least one video file")
    try:
        results = _predict_from_flags(argv[1:])
    except (ValueError, FileNotFoundError) as error:
        sys.exit(f"error: {error}")
    failed = [r["path"] for r in results if "error" in r]
    if failed:  # The exit status says so, for scripts.
        sys.exit(f"error: {len(failed)} of {len(results)} files could not be read: {failed}")


def _predict_from_flags(paths: list[str]) -> list[dict[str, Any]]:
    return predict_files(
        paths,
        workdir=FLAGS.workdir,
        config=FLAGS.config,
        checkpoint=FLAGS.checkpoint,
        class_names=FLAGS.class_names,
        top=FLAGS.top,
        timeline=FLAGS.timeline,
        output=FLAGS.output,
        annotate=FLAGS.annotate,
    )


def run() -> None:
    """The `tsn-jax-predict` console entry point."""
    _define_flags()
    app.run(main)


if __name__ == "__main__":
    run()
