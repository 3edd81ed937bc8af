"""TFDS video datasets: the rendered demo data and any UCF101-layout folder.

`get_builder(config.dataset)` is the one entry point the trainer needs: it
returns a prepared `tfds.core.DatasetBuilder`, building it on first use.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable

import ml_collections
import tensorflow_datasets as tfds

from input_pipeline.datasets import synthetic_actions
from input_pipeline.datasets.video_folder import VideoFolder, VideoFolderConfig

__all__ = ["KNOWN_DATASETS", "VideoFolder", "VideoFolderConfig", "get_builder"]

KNOWN_DATASETS: tuple[str, ...] = ("synthetic_actions", "video_folder", "hmdb51")


def _default_data_dir() -> str:
    """The TFDS data dir used when none is given: $TFDS_DATA_DIR or ~/tensorflow_datasets."""
    return os.path.expanduser(os.environ.get("TFDS_DATA_DIR") or tfds.core.constants.DATA_DIR)


def _short_side_tag(short_side: int | None) -> str:
    return "sfull" if short_side is None else f"s{short_side}"


def _config_name_for_folder(video_dir: str, split_index: int, short_side: int | None) -> str:
    """A builder config name that differs for every folder and every content setting.

    The folder's base name keeps it readable; a hash of the absolute path
    keeps two folders both called "UCF101" from sharing a build.
    """
    path = os.path.abspath(os.path.expanduser(video_dir)).rstrip(os.sep)
    base = re.sub(r"[^A-Za-z0-9_]+", "_", os.path.basename(path)).strip("_") or "videos"
    digest = hashlib.sha1(path.encode()).hexdigest()[:8]
    return f"{base}_split{split_index}_{_short_side_tag(short_side)}_{digest}"


def get_builder(dataset_config: ml_collections.ConfigDict) -> tfds.core.DatasetBuilder:
    """Returns a prepared TFDS builder for `dataset_config`, preparing it if needed.

    Args:
      dataset_config: fields
        name: 'synthetic_actions' (render the demo videos, then build them),
          'video_folder' (a UCF101-layout folder at `video_dir`) or 'hmdb51'
          (an HMDB51-layout folder: class folders and per-class split files).
        data_dir: TFDS data dir; '' means TFDS's default.
        video_dir: the videos; for synthetic_actions '' means
          <data_dir>/synthetic_actions_videos.
        split_index: NN of trainlistNN.txt / testlistNN.txt (N of HMDB51's splits).
        short_side: stored frames' shorter side in pixels (None keeps the size).
        num_train_per_class, num_test_per_class, seed: synthetic_actions only.

    Returns:
      A `VideoFolder` builder whose 'train' and 'test' splits are on disk.

    Raises:
      ValueError: unknown name, or video_folder without a video_dir.
      FileNotFoundError: the video folder is missing or incomplete.
    """
    name = dataset_config.name
    if name not in KNOWN_DATASETS:
        raise ValueError(
            f"Unknown dataset name {name!r}; known names: {', '.join(KNOWN_DATASETS)}."
        )
    data_dir = dataset_config.data_dir or _default_data_dir()
    split_index = int(dataset_config.split_index)
    short_side = dataset_config.short_side

    if name == "synthetic_actions":
        num_train = int(dataset_config.num_train_per_class)
        num_test = int(dataset_config.num_test_per_class)
        seed = int(dataset_config.seed)
        video_dir = dataset_config.video_dir or os.path.join(data_dir, "synthetic_actions_videos")
        config_name = (
            f"synthetic_actions_v{synthetic_actions.RENDER_VERSION}_{_short_side_tag(short_side)}"
            f"_n{num_train}x{num_test}_seed{seed}"
        )
        if split_index != 1:
            raise ValueError(f"synthetic_actions has only split 1, got split_index={split_index}.")
        description = "Embedded demo videos rendered by synthetic_actions.render_dataset."
        list_format = "ucf101"
    else:
        video_dir = dataset_config.video_dir
        if not video_dir:
            raise ValueError(
                f"dataset.name={name!r} needs the folder of videos: set "
                "--config.dataset.video_dir=/path/to/videos (class folders plus the split "
                "lists of UCF101, or HMDB51's per-class split files for 'hmdb51')."
            )
        list_format = "hmdb51" if name == "hmdb51" else "ucf101"
        config_name = _config_name_for_folder(video_dir, split_index, short_side)
        if list_format != "ucf101":
            config_name = f"{list_format}_{config_name}"
        description = f"{list_format} layout video folder {video_dir}."

    def make_builder() -> VideoFolder:
        config = VideoFolderConfig(
            name=config_name,
            description=description,
            video_dir=video_dir,
            split_index=split_index,
            short_side=short_side,
            list_format=list_format,
        )
        return VideoFolder(config=config, data_dir=data_dir)

    if name == "synthetic_actions":
        # A prepared build needs no videos (the folder is shared by every
        # count and seed, so it may hold another render by now). Otherwise
        # render first, a no-op when they are there: the builder reads classInd.txt.
        if not _is_prepared(make_builder):
            synthetic_actions.render_dataset(
                video_dir, num_train_per_class=num_train, num_test_per_class=num_test, seed=seed
            )
    builder = make_builder()
    builder.download_and_prepare()  # A no-op when the dataset is already prepared.
    return builder


def _is_prepared(make_builder: Callable[[], tfds.core.DatasetBuilder]) -> bool:
    """Whether the builder `make_builder()` would return is already prepared.

    False also when it cannot even be constructed (its source folder is missing
    and nothing was built).
    """
    try:
        return make_builder().is_prepared()
    except FileNotFoundError:
        return False
