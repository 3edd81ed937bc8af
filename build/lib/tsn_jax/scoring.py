"""Test protocols: every view of every video scored and fused per video.

One path serves every protocol of the papers, during training and in `--mode=eval`
(`tsn_jax.runner` feeds it; `tsn_jax.reports` writes what it gives):

  views (input_pipeline.pipeline.create_view_dataset: rows of test views)
    -> view scores (one compiled forward pass per batch of rows)
    -> per video: fuse the views (`fuse_views`: 'score' = mean logits before the
       softmax, TSN; 'prob' = mean softmax probabilities, Hara et al.), or for
       per-second snippets of untrimmed videos M-TWI (TSN TPAMI Sec. 4.2)
    -> metrics (top-1/5, mean class accuracy, mAP, clip-level accuracy) and files.

Protocols (`config.data`):

* TSN: `eval.num_segments=25` snippets x `eval.crops='ten'` (corners, centre and their
  mirrors, x flow negated): 10 views of 25 snippets each, fused by their mean logit;
* 3D: M clips x 3 crops (`eval.num_segments=M`, `eval.crops='three'`, uniform clip
  placement; `eval.twice_sample` adds clips at the segment starts);
* Hara et al.: `eval.sampling='windows'`: every non-overlapping T-frame window, centre
  crop, `eval.fusion='prob'` (softmax per clip, mean over the video);
* untrimmed: `eval.sampling='per_second'` + `eval.aggregate='mtwi'`.

Views are rows of a batch: `eval.batch_size` views per step whatever V is, so the 250
views of a TSN test never sit in device memory at once, and the rows are sharded over
the devices. Each process scores its own part of the split; the per-video results are
gathered at the end, so every video of the split is scored exactly once.

Clip-level accuracy (Chen et al.'s "clip" numbers) counts each view as a sample;
video-level accuracy scores the fused views.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import flax.linen as nn
import jax
import ml_collections
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from tsn_jax import score_files, spec, untrimmed
from tsn_jax.models import model_inputs


def fuse_views(view_logits: np.ndarray, fusion: str = "score") -> np.ndarray:
    """Video scores from view scores: ``[..., V, N] -> [..., N]``, views weighted alike.

    'score': the mean of the logits (TSN fuses its crops before the softmax);
    'prob': the log of the mean softmax probability (Hara et al. average the clips'
    softmax outputs; the log keeps the result a score whose softmax is that mean).
    The same fusion as of streams (`score_files.fuse`), over the view axis.
    """
    if fusion not in spec.FUSIONS:
        raise ValueError(f"eval.fusion must be one of {spec.FUSIONS}, got {fusion!r}")
    views = list(np.moveaxis(np.asarray(view_logits), -2, 0))
    return score_files.fuse(views, [1.0] * len(views), fusion)


def protocol(config: ml_collections.ConfigDict) -> dict[str, Any]:
    """The test protocol a config asks for, as it is written to eval_metrics.json."""
    data = config.data
    test = config.eval
    sampling = test.sampling
    out = {
        "sampling": sampling,
        "crops": test.crops,
        "crop_size": data.crop_size,
        "resize_short": test.resize_short,
        "fusion": config.eval.fusion,
        "aggregate": config.eval.aggregate,
    }
    if sampling == "segments":
        out["segments"] = test.num_segments or data.num_segments
        out["twice_sample"] = bool(test.twice_sample)
    else:
        out["frames_per_view"] = data.frames_per_snippet
    if sampling == "per_second":
        out["snippets_per_second"] = test.snippets_per_second
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
    crops = spec.EVAL_CROPS[config.eval.crops]
    per_snippet = fuse_views(
        np.swapaxes(views.reshape(crops, -1, views.shape[-1]), 0, 1), config.eval.fusion
    )
    return untrimmed.mtwi(
        per_snippet,
        window_lengths=tuple(config.eval.mtwi_window_lengths),
        top_k=config.eval.mtwi_top_k or None,
        rule=config.eval.mtwi_rule,
        snippets_per_second=int(config.eval.snippets_per_second),
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
      config: the full config (eval.fusion, eval.aggregate, test.crops).
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
