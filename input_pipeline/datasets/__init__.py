"""TFDS video datasets: the rendered demo data and any UCF101-layout folder.

`get_builder(config.dataset)` is the one entry point the trainer needs: it
returns a prepared `tfds.core.DatasetBuilder`, building it on first use.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import io
import os
import re
import shutil
from collections.abc import Callable
from typing import Any

import ml_collections
import tensorflow_datasets as tfds
from absl import logging

from input_pipeline.datasets import synthetic_actions
from input_pipeline.datasets.video_folder import VideoFolder, VideoFolderConfig
from tsn_jax import file_lock, spec

__all__ = [
    "VideoFolder",
    "VideoFolderConfig",
    "demo_video_dir",
    "get_builder",
    "storage_options",
]

# dataset.name -> the split-list format of its folder (annotations.LIST_READERS).
FOLDER_FORMATS = {
    "video_folder": "ucf101",
    "ucf101": "ucf101",
    "hmdb51": "hmdb51",
    "kinetics": "kinetics",
    "sthsth": "sthsth",
    "rawframes": "rawframes",
}


def _default_data_dir() -> str:
    """The TFDS data dir used when none is given: $TFDS_DATA_DIR or ~/tensorflow_datasets."""
    return os.path.expanduser(os.environ.get("TFDS_DATA_DIR") or tfds.core.constants.DATA_DIR)


def _short_side_tag(short_side: int | None) -> str:
    return "sfull" if short_side is None else f"s{short_side}"


def _content_tag(
    short_side: int | None,
    size: tuple[int, int] | None,
    target_fps: float | None,
    flow_method: str | None,
    flow_types: tuple[str, ...],
) -> str:
    """A readable tag of how frames are stored, e.g. 's256', '256x340_fps10_tvl1_flow_warp'."""
    tag = f"{size[0]}x{size[1]}" if size else _short_side_tag(short_side)
    if target_fps:
        tag += f"_fps{target_fps:g}".replace(".", "p")
    if flow_method:
        tag += f"_{flow_method}_{'_'.join(flow_types)}"
    return tag


def _config_name_for_folder(video_dir: str, split_index: int, content_tag: str) -> str:
    """A builder config name that differs for every folder and every content setting.

    The folder's base name keeps it readable; a hash of the absolute path
    keeps two folders both called "UCF101" from sharing a build.
    """
    path = os.path.abspath(os.path.expanduser(video_dir)).rstrip(os.sep)
    base = re.sub(r"[^A-Za-z0-9_]+", "_", os.path.basename(path)).strip("_") or "videos"
    digest = hashlib.sha1(path.encode()).hexdigest()[:8]
    return f"{base}_split{split_index}_{content_tag}_{digest}"


def demo_video_dir(dataset_config: ml_collections.ConfigDict) -> str:
    """Where the demo videos of `dataset_config` are rendered: `dataset.video_dir`, or
    `<data_dir>/<dataset name>_videos/n<train>x<test>_seed<seed>`, a folder per render,
    so that rendering another size never replaces the videos another build was made from."""
    if dataset_config.video_dir:
        return dataset_config.video_dir
    data_dir = dataset_config.data_dir or _default_data_dir()
    render = (
        f"n{int(dataset_config.num_train_per_class)}x{int(dataset_config.num_test_per_class)}"
        f"_seed{int(dataset_config.seed)}"
    )
    return os.path.join(data_dir, f"{dataset_config.name}_videos", render)


def storage_options(dataset_config: ml_collections.ConfigDict) -> dict[str, Any]:
    """How a dataset stores each video, as `video_folder.encode_video_file` arguments.

    {'short_side' (None with a fixed size), 'size' ((height, width) or None),
    'target_fps' (None: every frame), 'flow_method' (None: no flow), 'flow_types'
    (the stored flow types, () without flow)}.
    """
    size = tuple(int(n) for n in dataset_config.size) or None
    if size is not None and len(size) != 2:
        raise ValueError(f"dataset.size must be () or (height, width), got {size}")
    flow_method = dataset_config.flow_method or None
    return {
        "short_side": None if size else dataset_config.short_side,
        "size": size,
        "target_fps": float(dataset_config.fps) or None,
        "flow_method": flow_method,
        "flow_types": tuple(dataset_config.flow_types) if flow_method else (),
    }


def get_builder(dataset_config: ml_collections.ConfigDict) -> tfds.core.DatasetBuilder:
    """Returns a prepared TFDS builder for `dataset_config`, preparing it if needed.

    Args:
      dataset_config: fields
        name: 'synthetic_actions' (render the demo videos, then build them),
          'synthetic_actions_untrimmed' (the same with untrimmed videos of 20 to 40 s
          holding one action instance each, `synthetic_actions.render_untrimmed_video`;
          where the instances are: annotations.json in the video folder), or
          a folder at `video_dir` with the split lists of 'ucf101' (also
          'video_folder'), 'hmdb51', 'kinetics' or 'sthsth' (Something-Something
          v2), or 'rawframes' (mmaction2's folders of extracted frames and flow);
          see input_pipeline.datasets.annotations for each layout.
        data_dir: TFDS data dir; '' means TFDS's default.
        video_dir: the videos; for a demo '' means a folder per render under
          <data_dir>/<name>_videos (`demo_video_dir`).
        split_index: NN of trainlistNN.txt / testlistNN.txt (N of HMDB51's splits).
        short_side: stored frames' shorter side in pixels (None keeps the size).
        size: () or (height, width) of every stored frame instead (TSN: (256, 340)).
        fps: 0 keeps every frame; > 0 subsamples each video to this frame rate.
        flow_method: '' (frames only) or 'tvl1' | 'farneback' | 'dis': also
          store optical flow, of the types in `flow_types` ('flow', 'warp');
          for rawframes 'stored' copies the flow planes of the folders.
        num_train_per_class, num_test_per_class, seed: the demos only.

    Returns:
      A `VideoFolder` builder whose splits are on disk: 'train' and 'test' for
      UCF101, HMDB51 and the demo; 'train' and 'validation' for Kinetics and
      Something-Something.

    Raises:
      ValueError: unknown name, or video_folder without a video_dir.
      FileNotFoundError: the video folder is missing or incomplete.
    """
    name = dataset_config.name
    if name not in spec.DATASETS:
        raise ValueError(f"Unknown dataset name {name!r}; known names: {', '.join(spec.DATASETS)}.")
    data_dir = dataset_config.data_dir or _default_data_dir()
    split_index = int(dataset_config.split_index)
    storage = storage_options(dataset_config)
    short_side, size = dataset_config.short_side, storage["size"]
    target_fps, flow_method = storage["target_fps"], storage["flow_method"]
    flow_types = tuple(dataset_config.flow_types)
    content_tag = _content_tag(short_side, size, target_fps, flow_method, flow_types)

    demo = name in spec.DEMO_DATASETS
    if demo:
        missing = [key for key in spec.DEMO_DATASET_KEYS if key not in dataset_config]
        if missing:
            raise ValueError(
                f"the demo dataset needs dataset.{', dataset.'.join(missing)}: start from "
                "configs/default.py (its dataset section), not from a recipe's"
            )
        num_train = int(dataset_config.num_train_per_class)
        num_test = int(dataset_config.num_test_per_class)
        seed = int(dataset_config.seed)
        video_dir = demo_video_dir(dataset_config)
        config_name = (
            f"{name}_v{synthetic_actions.RENDER_VERSION}_{content_tag}"
            f"_n{num_train}x{num_test}_seed{seed}"
        )
        if split_index != 1:
            raise ValueError(f"{name} has only split 1, got split_index={split_index}.")
        description = "Embedded demo videos rendered by synthetic_actions.render_dataset."
        list_format = "ucf101"
    else:
        video_dir = dataset_config.video_dir
        if not video_dir:
            raise ValueError(
                f"dataset.name={name!r} needs the folder of videos: set "
                "--config.dataset.video_dir=/path/to/videos (the videos plus the dataset's "
                "split lists; the README's 'Preparing datasets' shows each layout)."
            )
        list_format = FOLDER_FORMATS[name]
        config_name = _config_name_for_folder(video_dir, split_index, content_tag)
        if list_format != "ucf101":
            config_name = f"{list_format}_{config_name}"
        description = f"{list_format} layout video folder {video_dir}."

    def make_builder() -> VideoFolder:
        config = VideoFolderConfig(
            name=config_name,
            description=description,
            video_dir=video_dir,
            split_index=split_index,
            short_side=None if size else short_side,
            size=size,
            target_fps=target_fps,
            list_format=list_format,
            flow_method=flow_method,
            flow_types=flow_types,
        )
        return VideoFolder(config=config, data_dir=data_dir)

    # One process builds a dataset at a time; another one waits and reuses the result.
    lock_dir = os.path.join(data_dir, VideoFolder.name)
    if "://" not in lock_dir:
        os.makedirs(lock_dir, exist_ok=True)
    with file_lock.exclusive(
        os.path.join(lock_dir, f"{config_name}.lock"),
        wait=True,
        what=f"the build of {config_name} in {data_dir}",
        log=logging.warning,
    ):
        if demo:
            # A prepared build needs no videos (they may have been deleted since).
            # Otherwise render first, a no-op when they are there: the builder
            # reads classInd.txt.
            if not _is_prepared(make_builder):
                synthetic_actions.render_dataset(
                    video_dir,
                    num_train_per_class=num_train,
                    num_test_per_class=num_test,
                    seed=seed,
                    untrimmed=name == "synthetic_actions_untrimmed",
                )
        builder = make_builder()
        if not builder.is_prepared() and "://" not in data_dir:
            _remove_interrupted_builds(builder)
        if not builder.is_prepared():
            # TFDS prints "Downloading and preparing dataset" although nothing downloads:
            # the build's own lines (per split, with progress) say what happens.
            logging.info("Building %s (once: later runs read it)", builder.data_dir)
            with contextlib.redirect_stdout(io.StringIO()):
                builder.download_and_prepare()
            logging.info("Built %s", builder.data_dir)
    return builder


def _remove_interrupted_builds(builder: tfds.core.DatasetBuilder) -> None:
    """Deletes the `incomplete.*` folders that a killed build of `builder` left behind
    (TFDS removes its own only when the build ends with an exception)."""
    version_dir = builder.data_dir
    pattern = os.path.join(
        glob.escape(os.path.dirname(version_dir)),
        f"{tfds.core.constants.INCOMPLETE_PREFIX}*_{os.path.basename(version_dir)}",
    )
    for folder in glob.glob(pattern):
        logging.warning("Removing %s, left by an interrupted build", folder)
        shutil.rmtree(folder)


def _is_prepared(make_builder: Callable[[], tfds.core.DatasetBuilder]) -> bool:
    """Whether the builder `make_builder()` would return is already prepared.

    False also when it cannot even be constructed (its source folder is missing
    and nothing was built).
    """
    try:
        return make_builder().is_prepared()
    except FileNotFoundError:
        return False
