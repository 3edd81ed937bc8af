"""Classifies video files with a trained run, using the run's own test protocol.

    tsn-jax-predict VIDEO.mp4 [MORE.mkv ...] --workdir=runs/default
    tsn-jax-predict VIDEO.mp4 --workdir=runs/x --timeline=timeline.png
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
untrimmed videos. It needs a model that scores single snippets (not TSM/TAM, whose
temporal modules mix a fixed number of segments).

The run's config is `WORKDIR/config.json` unless `--config` is given; the class names
come from `WORKDIR/class_names.json` (written when the run started) or `--class_names`
(a JSON list). A `--checkpoint` step directory or `tsn-jax-export` output without
`--workdir` and `--config` gives both itself. The model is compiled once and the
views are scored in batches of `eval.batch_size` rows.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from absl import app, flags, logging
from ml_collections import config_flags

from tsn_jax import inference, runs

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


def plot_timeline(probs, class_names: tuple[str, ...], classes: list[str], path: str) -> None:
    """Per-second probabilities [S, N] of `classes` over time, saved as a PNG."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 4))
    ax = fig.subplots()
    for name in classes:
        ax.plot(range(len(probs)), probs[:, class_names.index(name)], label=name)
    ax.set_xlabel("second")
    ax.set_ylabel("probability")
    ax.set_ylim(0.0, 1.0)
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def predict_files(
    paths: list[str],
    *,
    workdir: str | None,
    config=None,
    checkpoint: str | None = None,
    class_names: str | None = None,
    top: int = 5,
    timeline: str | None = None,
) -> list[dict[str, Any]]:
    """Prints the top classes of each file; returns them, the scores and view logits."""
    from tsn_jax import runner

    if config is None and not workdir and checkpoint:
        # A step directory or an export describes itself.
        config, names = runs.describe(checkpoint)
        names = runs.load_class_names(None, class_names) if class_names else names
    else:
        config = runs.load_config(workdir, config)
        names = runs.load_class_names(workdir, class_names)
    if checkpoint:
        config.eval.checkpoint = checkpoint
    predictor = inference.Predictor(config, names, runner.checkpoint_path(config, workdir or "."))
    results = []
    for path in paths:
        example = inference.video_example(path, config)
        scores, view_logits = predictor.scores(example)
        best = inference.top_classes(scores, predictor.class_names, top)
        print(f"{path}: {len(view_logits)} views")
        for name, prob in best:
            print(f"  {prob:7.2%}  {name}")
        result = {"path": path, "top": best, "scores": scores, "view_logits": view_logits}
        if timeline:
            stem, ext = os.path.splitext(timeline)
            out = timeline if len(paths) == 1 else f"{stem}_{len(results)}{ext or '.png'}"
            probs = predictor.per_second(example)
            plot_timeline(probs, predictor.class_names, [n for n, _ in best], out)
            print(f"  timeline of {len(probs)} seconds: {out}")
            result["per_second"] = probs
        results.append(result)
    return results


def main(argv: list[str]) -> None:
    import tensorflow as tf

    tf.config.set_visible_devices([], "GPU")
    logging.set_verbosity(logging.WARNING)  # Orbax's and TFDS's INFO lines drown the answer
    if len(argv) < 2:
        raise app.UsageError("give at least one video file")
    try:
        _predict_from_flags(argv[1:])
    except (ValueError, FileNotFoundError) as error:
        sys.exit(f"error: {error}")


def _predict_from_flags(paths: list[str]) -> None:
    predict_files(
        paths,
        workdir=FLAGS.workdir,
        config=FLAGS.config,
        checkpoint=FLAGS.checkpoint,
        class_names=FLAGS.class_names,
        top=FLAGS.top,
        timeline=FLAGS.timeline,
    )


def run() -> None:
    """The `tsn-jax-predict` console entry point."""
    _define_flags()
    app.run(main)


if __name__ == "__main__":
    run()
