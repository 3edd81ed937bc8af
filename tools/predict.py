"""Classifies video files with a trained run, using the run's own test protocol.

    python tools/predict.py VIDEO.mp4 [MORE.mkv ...] --workdir=runs/default
    python tools/predict.py VIDEO.mp4 --workdir=runs/x --timeline=timeline.png
    python tools/predict.py VIDEO.mp4 --config=configs/kinetics_i3d.py \\
        --checkpoint=/ckpt/run/checkpoints/1000 --class_names=classes.json

Each file (anything PyAV decodes) is stored as the run's dataset stores its videos
(`dataset.short_side` / `size`, `fps`, optical flow when the model reads it), then goes
through the evaluation transform of the config (`data.eval_sampling`, segments, crops)
and the same fusion as `main.py --mode=eval` (tsn_jax/scoring.py), so a file of the
test split gets the scores its evaluation gave it. The top-k classes are printed with
their probabilities (softmax of the fused scores).

`--timeline=out.png` also scores one centre-cropped snippet a second over the whole
video and plots the per-second probabilities of the top classes: useful for long,
untrimmed videos. It needs a model that scores single snippets (not TSM/TAM, whose
temporal modules mix a fixed number of segments).

The run's config is `WORKDIR/config.json` unless `--config` is given; the class names
come from `WORKDIR/class_names.json` (written when the run started) or `--class_names`
(a JSON list). The model is compiled once and the views are scored in batches of
`eval_batch_size` rows.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

from absl import app, flags, logging
from ml_collections import config_flags

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

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


def _tuples(value: Any) -> Any:
    """JSON lists back to the tuples the config code expects."""
    if isinstance(value, dict):
        return {k: _tuples(v) for k, v in value.items()}
    if isinstance(value, list):
        return tuple(_tuples(v) for v in value)
    return value


def load_config(workdir: str | None, config=None):
    """The run's config: `config` if given, else WORKDIR/config.json."""
    import ml_collections

    if config is not None:
        return config
    if not workdir:
        raise ValueError("give --workdir (a run with config.json) or --config")
    path = os.path.join(workdir, "config.json")
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path} does not exist: is {workdir} a tsn-jax run?")
    with open(path) as f:
        return ml_collections.ConfigDict(_tuples(json.load(f)))


def load_class_names(workdir: str | None, path: str | None) -> tuple[str, ...]:
    from tsn_jax.runner import CLASS_NAMES_FILE

    path = path or (os.path.join(workdir, CLASS_NAMES_FILE) if workdir else None)
    if not path or not os.path.exists(path):
        raise FileNotFoundError(
            f"no class names at {path}: pass --class_names=FILE (a JSON list of names)"
        )
    with open(path) as f:
        return tuple(json.load(f))


def video_example(path: str, config) -> dict[str, Any]:
    """The file as a dataset example: JPEG frames (and flow planes) as tf tensors.

    Raises:
      ValueError: the file cannot be decoded (the decoder's reason included).
    """
    import tensorflow as tf

    from input_pipeline import datasets
    from input_pipeline.datasets.video_decode import VideoDecodeError
    from input_pipeline.datasets.video_folder import encode_video_file
    from tsn_jax import spec

    storage = datasets.storage_options(config.dataset)
    if storage["flow_method"] == "stored":
        raise ValueError(
            "the run read flow stored in raw-frame folders (flow_method='stored'); give "
            "--config with dataset.flow_method set to tvl1, farneback or dis to compute it"
        )
    names = [config.data.modality]
    names += [spec.parse_extra_modality(s, 1)[0] for s in config.data.extra_modalities]
    if not any(spec.is_flow(m) for m in names):
        storage.update(flow_method=None, flow_types=())
    try:
        planes, fps = encode_video_file(path, **storage)
    except VideoDecodeError as error:
        raise ValueError(f"cannot read {path}: {error}") from error
    if not planes["video"]:
        raise ValueError(f"{path} has no video frames")
    example = {key: tf.constant(value, tf.string) for key, value in planes.items()}
    example["fps"] = tf.constant(fps, tf.float32)
    example["num_frames"] = tf.constant(len(planes["video"]), tf.int32)
    example["label"] = tf.constant(0, tf.int64)
    example["video_id"] = tf.constant(os.path.basename(path))
    return example


def views(example: dict[str, Any], config) -> dict[str, Any]:
    """{'inputs*': [V, K, T, S, S, C]} test views of an example under `config`."""
    from input_pipeline import pipeline

    sample = pipeline.preprocess_example(example, data_config=config.data, training=False)
    inputs = {k: v.numpy() for k, v in sample.items() if k.startswith("inputs")}
    if inputs["inputs"].ndim == 5:
        inputs = {k: v[None] for k, v in inputs.items()}
    return inputs


def score_rows(apply, inputs: dict[str, Any], batch_size: int):
    """[V, N] logits of V view rows, scored `batch_size` rows at a time (last one padded)."""
    import numpy as np

    total = len(inputs["inputs"])
    out = []
    for start in range(0, total, batch_size):
        chunk = {k: v[start : start + batch_size] for k, v in inputs.items()}
        rows = len(chunk["inputs"])
        chunk = {
            k: np.concatenate([v, np.zeros((batch_size - rows, *v.shape[1:]), v.dtype)])
            for k, v in chunk.items()
        }
        out.append(np.asarray(apply(chunk))[:rows])
    return np.concatenate(out)


class Predictor:
    """A trained run ready to score files: config, class names, compiled model."""

    def __init__(self, config, class_names: tuple[str, ...], checkpoint_dir: str):
        from tsn_jax import pretrained, scoring
        from tsn_jax.models import create_model

        self.config = config
        self.class_names = class_names
        self.model = create_model(config.model, len(class_names), config.data.num_segments)
        self.variables = pretrained.load_checkpoint(checkpoint_dir)
        self.apply = scoring.compile_apply(self.model, self.variables)
        self.batch_size = config.eval_batch_size

    def scores(self, example: dict[str, Any]):
        """(video scores [N], view logits [V, N]) under the config's test protocol."""
        from tsn_jax import scoring

        view_logits = score_rows(self.apply, views(example, self.config), self.batch_size)
        return scoring.aggregate_views(view_logits, self.config), view_logits

    def per_second(self, example: dict[str, Any]):
        """[S, N] class probabilities of one centre-cropped snippet a second."""
        import numpy as np

        config = self.config.copy_and_resolve_references()
        config.data.eval_sampling = "per_second"
        config.data.eval_crops = "centre"
        try:
            logits = score_rows(self.apply, views(example, config), self.batch_size)
        except ValueError as error:
            raise ValueError(
                f"--timeline scores single snippets, which this model cannot: {error}"
            ) from error
        shifted = logits - logits.max(axis=-1, keepdims=True)
        probs = np.exp(shifted)
        return probs / probs.sum(axis=-1, keepdims=True)


def top_classes(scores, class_names: tuple[str, ...], k: int) -> list[tuple[str, float]]:
    """The k best (name, probability) pairs of video scores [N] (softmax)."""
    import numpy as np

    probs = np.exp(scores - np.max(scores))
    probs = probs / probs.sum()
    order = np.argsort(-probs, kind="stable")[:k]
    return [(class_names[i], float(probs[i])) for i in order]


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

    config = load_config(workdir, config)
    if checkpoint:
        config.eval.checkpoint = checkpoint
    predictor = Predictor(
        config,
        load_class_names(workdir, class_names),
        runner.checkpoint_path(config, workdir or "."),
    )
    results = []
    for path in paths:
        example = video_example(path, config)
        scores, view_logits = predictor.scores(example)
        best = top_classes(scores, predictor.class_names, top)
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


if __name__ == "__main__":
    _define_flags()
    app.run(main)
