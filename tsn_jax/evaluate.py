"""Test protocols: every view of every video scored, fused per video, reported.

One path serves every protocol of the papers, during training and in `--mode=eval`:

  views (input_pipeline.pipeline.create_view_dataset: rows of test views)
    -> view scores (one compiled forward pass per batch of rows)
    -> per video: fuse the views (`fuse_views`: 'score' = mean logits before the
       softmax, TSN; 'prob' = mean softmax probabilities, Hara et al.), or for
       per-second snippets of untrimmed videos M-TWI (TSN TPAMI Sec. 4.2)
    -> metrics (top-1/5, mean class accuracy, mAP, clip-level accuracy) and files.

Protocols (`config.data`):

* TSN: `eval_num_segments=25` snippets x `eval_crops='ten'` (corners, centre and their
  mirrors, x flow negated): 10 views of 25 snippets each, fused by their mean logit;
* 3D: M clips x 3 crops (`eval_num_segments=M`, `eval_crops='three'`, uniform clip
  placement; `eval_twice_sample` adds clips at the segment starts);
* Hara et al.: `eval_sampling='windows'`: every non-overlapping T-frame window, centre
  crop, `eval.fusion='prob'` (softmax per clip, mean over the video);
* untrimmed: `eval_sampling='per_second'` + `eval.aggregate='mtwi'`.

Views are rows of a batch: `eval_batch_size` views per step whatever V is, so the 250
views of a TSN test never sit in device memory at once, and the rows are sharded over
the devices. Each process scores its own part of the split; the per-video results are
gathered at the end, so every video of the split is scored exactly once.

Clip-level accuracy (Chen et al.'s "clip" numbers) counts each view as a sample;
video-level accuracy scores the fused views.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import os
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from absl import logging
from jax.experimental import multihost_utils
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from tsn_jax import metrics, score_files, untrimmed
from tsn_jax.models import model_inputs

__all__ = [
    "AGGREGATES",
    "aggregate_views",
    "EVAL_SAMPLINGS",
    "FUSIONS",
    "VideoScores",
    "evaluate",
    "fuse_views",
    "protocol",
    "run",
    "score_videos",
    "summarize",
    "write_outputs",
]

EVAL_SAMPLINGS = ("segments", "windows", "per_second")  # config.data.eval_sampling
FUSIONS = score_files.FUSION_MODES  # config.eval.fusion
AGGREGATES = ("mean", "mtwi")


def fuse_views(view_logits: np.ndarray, fusion: str = "score") -> np.ndarray:
    """Video scores from view scores: ``[..., V, N] -> [..., N]``, views weighted alike.

    'score': the mean of the logits (TSN fuses its crops before the softmax);
    'prob': the log of the mean softmax probability (Hara et al. average the clips'
    softmax outputs; the log keeps the result a score whose softmax is that mean).
    The same fusion as of streams (`score_files.fuse`), over the view axis.
    """
    if fusion not in FUSIONS:
        raise ValueError(f"eval.fusion must be one of {FUSIONS}, got {fusion!r}")
    views = list(np.moveaxis(np.asarray(view_logits), -2, 0))
    return score_files.fuse(views, [1.0] * len(views), fusion)


def protocol(config: ml_collections.ConfigDict) -> dict[str, Any]:
    """The test protocol a config asks for, as it is written to eval_metrics.json."""
    data = config.data
    sampling = data.eval_sampling
    out = {
        "sampling": sampling,
        "crops": data.eval_crops,
        "crop_size": data.crop_size,
        "resize_short": data.eval_resize_short,
        "fusion": config.eval.fusion,
        "aggregate": config.eval.aggregate,
    }
    if sampling == "segments":
        out["segments"] = data.eval_num_segments or data.num_segments
        out["twice_sample"] = bool(data.eval_twice_sample)
    else:
        out["frames_per_view"] = data.frames_per_snippet
    if sampling == "per_second":
        out["snippets_per_second"] = data.eval_snippets_per_second
    if config.eval.aggregate == "mtwi":
        out["mtwi_window_lengths"] = list(config.eval.mtwi_window_lengths)
        out["mtwi_top_k"] = config.eval.mtwi_top_k or "max(15, ceil(windows / 4))"
    return out


@dataclasses.dataclass(frozen=True)
class VideoScores:
    """Scores of every video of a split, in split order.

    video_ids: [Nv] str; labels: [Nv] int; logits: [Nv, N] fused video scores;
    view_logits: [Nv, V, N] when every video has V views, else None;
    clip_hits, clip_count: top-1 hits and views over all videos (clip accuracy);
    num_views: [Nv] views per video.
    """

    video_ids: tuple[str, ...]
    labels: np.ndarray
    logits: np.ndarray
    view_logits: np.ndarray | None
    clip_hits: int
    clip_count: int
    num_views: np.ndarray


def aggregate_views(views: np.ndarray, config: ml_collections.ConfigDict) -> np.ndarray:
    """[V, N] view logits of one video -> [N] video scores (`eval.fusion`, `eval.aggregate`)."""
    if config.eval.aggregate == "mean":
        return fuse_views(views, config.eval.fusion)
    # M-TWI: views are crop-major [crops, snippets]. TPAMI Sec. 4.2 scores one snippet a
    # second and says nothing of crops, so the crops of each snippet are fused first, by
    # `eval.fusion` like any other views.
    crops = {"centre": 1, "three": 3, "ten": 10}[config.data.eval_crops]
    per_snippet = fuse_views(
        np.swapaxes(views.reshape(crops, -1, views.shape[-1]), 0, 1), config.eval.fusion
    )
    return untrimmed.mtwi(
        per_snippet,
        window_lengths=tuple(config.eval.mtwi_window_lengths),
        top_k=config.eval.mtwi_top_k or None,
        rule=config.eval.mtwi_rule,
        snippets_per_second=int(config.data.eval_snippets_per_second),
    ).astype(np.float32)


def _local_mesh() -> Mesh:
    return Mesh(np.asarray(jax.local_devices()), ("data",))


def score_videos(
    apply_fn: Callable[[Mapping[str, jax.Array]], jax.Array],
    batches: Iterable[Mapping[str, np.ndarray]],
    config: ml_collections.ConfigDict,
    num_videos: int,
) -> VideoScores:
    """Scores the view rows of `create_view_dataset` and fuses them per video.

    Args:
      apply_fn: a batch of rows (its 'inputs*' [R, K, T, S, S, C]) -> [R, N] logits
        (`compile_apply`).
      batches: this process's view rows (padding rows have video_index -1).
      config: the full config (eval.fusion, eval.aggregate, data.eval_crops).
      num_videos: videos in the whole split (every process's part).

    Returns:
      The scores of all `num_videos` videos, gathered from every process.

    Raises:
      ValueError: when a video of the split was not scored (or scored twice).
    """
    views: dict[int, list[np.ndarray]] = {}
    labels: dict[int, int] = {}
    ids: dict[int, str] = {}
    for batch in batches:
        video_ids = batch.pop("video_id")
        logits = np.asarray(apply_fn(batch))
        for row in np.flatnonzero(batch["video_index"] >= 0):
            index = int(batch["video_index"][row])
            views.setdefault(index, []).append(logits[row])
            labels[index] = int(batch["label"][row])
            ids[index] = bytes(video_ids[row]).decode("utf-8")

    local = sorted(views)
    fused = [aggregate_views(np.stack(views[i]), config) for i in local]
    fused = np.stack(fused) if fused else None  # None: this process had no video
    counts = np.asarray([len(views[i]) for i in local], np.int32)
    hits = sum(int(np.sum(np.argmax(np.stack(views[i]), -1) == labels[i])) for i in local)
    gathered = _gather(
        local,
        fused,
        counts,
        [labels[i] for i in local],
        [ids[i] for i in local],
        [np.stack(views[i]) for i in local],
        hits,
    )
    indices, fused, counts, label_arr, id_list, view_arr, hits = gathered
    if sorted(indices.tolist()) != list(range(num_videos)):
        missing = sorted(set(range(num_videos)) - set(indices.tolist()))
        raise ValueError(
            f"the evaluation scored {len(indices)} of {num_videos} videos "
            f"(missing positions {missing[:10]})"
        )
    order = np.argsort(indices)
    return VideoScores(
        video_ids=tuple(id_list[i] for i in order),
        labels=label_arr[order],
        logits=fused[order],
        view_logits=None if view_arr is None else view_arr[order],
        clip_hits=hits,
        clip_count=int(counts.sum()),
        num_views=counts[order],
    )


def _allgather(tree):
    """`process_allgather` (a new leading axis of processes); for one process the same
    shapes without copying through a device (per-view logits can be a GB)."""
    if jax.process_count() == 1:
        return jax.tree.map(lambda a: np.asarray(a)[None], tree)
    return multihost_utils.process_allgather(tree)


def _gather(indices, fused, counts, labels, ids, views, hits):
    """Concatenates the per-process results on every process.

    `views` is this process's list of [V_i, N] view logits; the gathered per-view scores
    are one [Nv, V, N] array when every video of the split has the same V, else None.
    Processes hold different numbers of videos and views, so each part is padded to the
    largest before they are gathered.
    """
    indices = np.asarray(indices, np.int32)
    labels = np.asarray(labels, np.int32)
    local_classes = 0 if fused is None else fused.shape[-1]
    local_views = int(counts.max()) if len(counts) else 0
    size, num_classes, max_views = (
        int(v)
        for v in np.max(
            _allgather(np.asarray([len(indices), local_classes, local_views])).reshape(-1, 3),
            axis=0,
        )
    )

    def pad(x, fill, shape):
        out = np.full((size, *shape), fill, dtype=x.dtype if x is not None else np.float32)
        if x is not None and len(x):
            out[: len(x)] = x
        return out

    view_arr = np.zeros((size, max_views, num_classes), np.float32)
    for row, v in enumerate(views):
        view_arr[row, : len(v)] = v
    encoded = np.zeros((size, 256), np.uint8)
    for row, name in enumerate(ids):
        raw = name.encode("utf-8")[:256]
        encoded[row, : len(raw)] = np.frombuffer(raw, np.uint8)
    parts = _allgather(
        {
            "index": pad(indices, -1, ()),
            "fused": pad(fused, 0.0, (num_classes,)),
            "count": pad(counts, 0, ()),
            "label": pad(labels, 0, ()),
            "id": encoded,
            "views": view_arr,
            "hits": np.asarray(hits),
        }
    )
    valid = parts["index"].reshape(-1) >= 0
    names = [bytes(row).rstrip(b"\0").decode("utf-8") for row in parts["id"].reshape(-1, 256)]
    all_counts = parts["count"].reshape(-1)[valid]
    same_views = len(set(all_counts.tolist())) == 1
    return (
        parts["index"].reshape(-1)[valid],
        parts["fused"].reshape(-1, num_classes)[valid],
        all_counts,
        parts["label"].reshape(-1)[valid],
        [n for n, v in zip(names, valid, strict=True) if v],
        parts["views"].reshape(-1, max_views, num_classes)[valid] if same_views else None,
        int(np.sum(parts["hits"])),
    )


def summarize(
    scores: VideoScores,
    class_names: tuple[str, ...],
    class_groups: Mapping[str, tuple[str, ...]] | None = None,
) -> dict[str, Any]:
    """Video- and clip-level metrics of `scores` (`metrics.summarize` keys, plus 'mAP',
    'clip_top1' and views per video)."""
    sums = metrics.eval_sums(
        jnp.asarray(scores.logits), jnp.asarray(scores.labels), jnp.ones(len(scores.labels))
    )
    summary = metrics.summarize(jax.tree.map(np.asarray, sums), class_names, class_groups)
    finite = bool(np.all(np.isfinite(scores.logits)))  # a diverged run is still reported
    summary["mAP"] = (
        float(untrimmed.mean_average_precision(scores.logits, scores.labels)["mAP"])
        if finite
        else None
    )
    summary["clip_top1"] = scores.clip_hits / max(scores.clip_count, 1)
    summary["views_per_video"] = {
        "min": int(scores.num_views.min()),
        "max": int(scores.num_views.max()),
        "mean": float(scores.num_views.mean()),
    }
    return summary


def confusion_matrix(labels: np.ndarray, logits: np.ndarray, num_classes: int) -> np.ndarray:
    """[N, N] int counts: row = true class, column = predicted (top-1) class."""
    matrix = np.zeros((num_classes, num_classes), np.int64)
    np.add.at(matrix, (labels, np.argmax(logits, axis=-1)), 1)
    return matrix


def _plot_confusion(matrix: np.ndarray, class_names: tuple[str, ...], path: str) -> None:
    # matplotlib's object API: pyplot's global backend (a notebook's) stays untouched.
    from matplotlib.figure import Figure

    n = len(class_names)
    rows = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    size = min(4 + 0.25 * n, 40)
    fig = Figure(figsize=(size, size))
    ax = fig.subplots()
    ax.imshow(rows, cmap="Blues", vmin=0.0, vmax=1.0)
    ax.set_xticks(range(n), class_names, rotation=90, fontsize=8)
    ax.set_yticks(range(n), class_names, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title("confusion (each row normalized)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def write_outputs(
    out_dir: str,
    scores: VideoScores,
    summary: Mapping[str, Any],
    class_names: tuple[str, ...],
    protocol_info: Mapping[str, Any],
) -> None:
    """eval_metrics.json, scores.npz, confusion.csv and confusion.png in `out_dir`."""
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "eval_metrics.json"), "w") as f:
        json.dump(
            {**summary, "num_videos": len(scores.video_ids), "protocol": dict(protocol_info)},
            f,
            indent=2,
        )
    score_files.save_scores(
        os.path.join(out_dir, "scores.npz"),
        scores.video_ids,
        scores.labels,
        scores.logits,
        class_names,
        view_logits=scores.view_logits,
        protocol=dict(protocol_info),
    )
    matrix = confusion_matrix(scores.labels, scores.logits, len(class_names))
    with open(os.path.join(out_dir, "confusion.csv"), "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["true \\ predicted", *class_names])
        for name, row in zip(class_names, matrix, strict=True):
            writer.writerow([name, *row.tolist()])
    _plot_confusion(matrix, class_names, os.path.join(out_dir, "confusion.png"))


def compile_apply(model: nn.Module, variables: Mapping[str, Any]) -> Callable:
    """A jitted ``batch -> [R, N]`` logits on this process's devices, rows sharded.

    `variables` ({'params', 'batch_stats'}, possibly global replicated arrays) are
    copied to every local device once.
    """
    mesh = _local_mesh()
    replicated = NamedSharding(mesh, P())
    rows = NamedSharding(mesh, P("data"))
    local = jax.tree.map(
        lambda x: x.addressable_data(0) if isinstance(x, jax.Array) else x, dict(variables)
    )
    local = jax.device_put(local, replicated)

    @jax.jit
    def apply(variables, batch):
        return model.apply(variables, model_inputs(model, batch), train=False)

    def run(batch: Mapping[str, np.ndarray]) -> jax.Array:
        inputs = {k: v for k, v in batch.items() if k.startswith("inputs")}
        return apply(local, jax.device_put(inputs, rows))

    return run


def evaluate(
    model: nn.Module,
    variables: Mapping[str, Any],
    builder,
    config: ml_collections.ConfigDict,
    info,
) -> tuple[VideoScores, dict[str, Any]]:
    """Runs the config's test protocol on the evaluation split.

    Args:
      model: the network (TSN or STAN).
      variables: its {'params', 'batch_stats'}.
      builder: the prepared TFDS builder; info: `pipeline.get_dataset_info`.
      config: the full config.

    Returns:
      (the per-video scores, the metrics summary).
    """
    from input_pipeline import pipeline

    if config.eval_batch_size % jax.local_device_count():
        raise ValueError(
            f"config.eval_batch_size={config.eval_batch_size} must be divisible by the "
            f"{jax.local_device_count()} local devices"
        )
    batches = pipeline.create_view_dataset(
        builder,
        config,
        batch_size=config.eval_batch_size,
        process_index=jax.process_index(),
        process_count=jax.process_count(),
    )
    scores = score_videos(compile_apply(model, variables), batches, config, info.num_eval_examples)
    logging.info("Scored %d videos, %d views", len(scores.video_ids), int(scores.num_views.sum()))
    return scores, summarize(scores, info.class_names, info.class_groups)


def checkpoint_path(config: ml_collections.ConfigDict, workdir: str) -> str:
    """The variables to evaluate: `config.eval.checkpoint`, or the workdir's newest step.

    Accepts a step directory (`.../checkpoints/STEP`) or its `default` item directory.
    """
    from tsn_jax import checkpoints

    path = config.eval.checkpoint
    if not path:
        directory = os.path.join(os.path.abspath(workdir), "checkpoints")
        step = None
        if os.path.isdir(directory):
            manager = checkpoints.create_manager(directory, save_every_steps=1, keep=1)
            step = manager.latest_step()
            manager.close()
        if step is None:
            raise FileNotFoundError(
                f"no checkpoint in {directory}: train first (python main.py --config=... "
                f"--workdir={workdir}) or set --config.eval.checkpoint=PATH"
            )
        path = os.path.join(directory, str(step))
    if os.path.isdir(os.path.join(path, "default")):
        path = os.path.join(path, "default")
    if not os.path.isdir(path):
        raise FileNotFoundError(f"config.eval.checkpoint: no checkpoint directory at {path}")
    return path


def _check_structure(model: nn.Module, variables: Mapping[str, Any], input_shape, path: str):
    """A clear error when the checkpoint was trained with another model config."""
    expected = jax.eval_shape(lambda: model.init(jax.random.key(0), input_shape, train=False))
    expected = {c: expected.get(c, {}) for c in ("params", "batch_stats")}
    shapes = jax.tree_util.tree_flatten_with_path
    want = {jax.tree_util.keystr(k): v.shape for k, v in shapes(expected)[0]}
    have = {jax.tree_util.keystr(k): np.shape(v) for k, v in shapes(dict(variables))[0]}
    problems = sorted(set(want) ^ set(have)) + sorted(
        f"{k}: checkpoint {have[k]}, model {want[k]}"
        for k in set(want) & set(have)
        if tuple(have[k]) != tuple(want[k])
    )
    if problems:
        raise ValueError(
            f"the checkpoint {path} does not fit config.model (evaluate with the config it "
            f"was trained with); differences: {problems[:10]}"
        )


def run(config: ml_collections.ConfigDict, workdir: str) -> dict[str, Any]:
    """`main.py --mode=eval`: the config's test protocol on a trained checkpoint.

    Writes eval_metrics.json, scores.npz, confusion.csv and confusion.png to
    `config.eval.output_dir` (default: the workdir) and returns the metrics.
    """
    from input_pipeline import datasets, pipeline
    from tsn_jax import pretrained
    from tsn_jax.config_checks import validate_config
    from tsn_jax.models import create_model, example_inputs
    from tsn_jax.train import model_input_shape

    validate_config(config)
    path = checkpoint_path(config, workdir)
    builder = datasets.get_builder(config.dataset)
    info = pipeline.get_dataset_info(builder, config)
    model = create_model(config.model, info.num_classes, config.data.num_segments)
    variables = pretrained.load_checkpoint(path)
    _check_structure(model, variables, example_inputs(model_input_shape(model, config.data)), path)
    logging.info("Evaluating %s with %s", path, protocol(config))
    scores, summary = evaluate(model, variables, builder, config, info)
    summary["checkpoint"] = path
    if jax.process_index() == 0:
        write_outputs(
            config.eval.output_dir or workdir, scores, summary, info.class_names, protocol(config)
        )
    return summary
