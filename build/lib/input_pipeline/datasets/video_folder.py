"""A TFDS builder for a folder of video files plus a dataset's split lists.

The split lists are read by `annotations` (UCF101, HMDB51, Kinetics CSVs,
Something-Something JSON); this builder knows nothing else about the data:
real datasets and the rendered demo data go through the same code.

Every video is decoded once with PyAV, frame by frame, resized (a short side
or a fixed size such as TSN's 340x256), optionally subsampled in time, and
stored as one JPEG per frame, so that training reads the frames with
`tfds.decode.SkipDecoding()` as a [T] string tensor and decodes only the
frames it samples. With `flow_method` set, optical flow between consecutive
frames is computed at the same time and stored next to the frames as x/y JPEG
planes ('flow_x', 'flow_y' and, for warped flow, 'warp_x', 'warp_y').
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

from input_pipeline.datasets import building, frame_folder, optical_flow
from input_pipeline.datasets.annotations import LIST_FORMATS, ListEntry, entry_label, read_layout
from input_pipeline.datasets.video_decode import VideoReader


@dataclasses.dataclass(kw_only=True)
class VideoFolderConfig(tfds.core.BuilderConfig):
    """Which folder, which split lists, and how frames are stored.

    Attributes:
      video_dir: root of the dataset folder.
      split_index: which official split (UCF101, HMDB51 have 1..3; others 1).
      short_side: frames are resized so that their shorter side has this many
        pixels (aspect ratio kept); None keeps the decoded size.
      size: (height, width) of every stored frame instead of `short_side`
        (TSN: (256, 340)); None uses `short_side`.
      target_fps: subsample each video to this frame rate (1 or 10 for long
        untrimmed videos); None keeps every frame.
      jpeg_quality: JPEG quality (1..95) of the stored frames.
      list_format: one of annotations.LIST_FORMATS.
      flow_method: None (frames only) or one of optical_flow.FLOW_METHODS
        ('tvl1', 'farneback', 'dis') to compute and store flow planes too; for
        'rawframes' folders also 'stored': copy the flow planes found there.
      flow_types: which flows with `flow_method`: ('flow',), ('warp',) (TSN's
        warped flow) or both.
    """

    video_dir: str
    split_index: int = 1
    short_side: int | None = 128
    size: tuple[int, int] | None = None
    target_fps: float | None = None
    jpeg_quality: int = 90
    list_format: str = "ucf101"
    flow_method: str | None = None
    flow_types: tuple[str, ...] = ("flow",)

    def stored_flow_types(self) -> tuple[str, ...]:
        """The flow types stored in the dataset: `flow_types` when a method is set, else none."""
        return tuple(self.flow_types) if self.flow_method else ()


class VideoFolder(tfds.core.GeneratorBasedBuilder):
    """Video files plus split lists; frames (and optionally flow) stored as JPEG."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Initial release."}

    def __init__(self, *, config: VideoFolderConfig, **kwargs):
        if not isinstance(config, VideoFolderConfig):
            raise TypeError(f"config must be a VideoFolderConfig, got {type(config).__name__}")
        if config.list_format not in LIST_FORMATS:
            raise ValueError(
                f"list_format must be one of {LIST_FORMATS}, got {config.list_format!r}"
            )
        methods = (None, *optical_flow.FLOW_METHODS)
        if config.list_format == "rawframes":
            methods += ("stored",)
            if config.target_fps:
                raise ValueError("target_fps needs a video's frame rate; raw frames have none")
        if config.flow_method not in methods:
            raise ValueError(
                f"flow_method must be one of {methods} for {config.list_format!r},"
                f" got {config.flow_method!r}"
            )
        unknown = set(config.flow_types) - set(optical_flow.FLOW_KINDS)
        if unknown or not config.flow_types:
            raise ValueError(
                f"flow_types must be some of {optical_flow.FLOW_KINDS}, got {config.flow_types}"
            )
        # Per split, the (relative path, reason) of each video left out, and the
        # (relative path, note) of each built with a note (e.g. only partly decoded).
        self.skipped_videos: dict[str, list[tuple[str, str]]] = {}
        self.noted_videos: dict[str, list[tuple[str, str]]] = {}
        super().__init__(config=config, **kwargs)

    @property
    def _config(self) -> VideoFolderConfig:
        return self.builder_config

    def _info(self) -> tfds.core.DatasetInfo:
        config = self._config
        try:
            class_names, _ = read_layout(config.video_dir, config.split_index, config.list_format)
        except FileNotFoundError:
            # A prepared dataset does not need its source videos: the class
            # names are then restored from the files TFDS wrote.
            if not tf.io.gfile.exists(os.path.join(self.data_dir, "dataset_info.json")):
                raise
            class_names = None
        frames = f"size {config.size}" if config.size else f"short side {config.short_side}"
        return tfds.core.DatasetInfo(
            builder=self,
            description=(
                f"Videos from {config.video_dir} ({config.list_format} split"
                f" {config.split_index}), {frames}, fps {config.target_fps or 'as recorded'},"
                f" JPEG quality {config.jpeg_quality}, flow {config.flow_method}"
                f" {config.stored_flow_types()}."
            ),
            features=tfds.features.FeaturesDict(
                {
                    **building.frame_features(config.stored_flow_types()),
                    "label": tfds.features.ClassLabel(names=class_names),
                    "video_id": tfds.features.Text(),
                    "fps": np.float32,
                    "num_frames": np.int32,
                }
            ),
            supervised_keys=("video", "label"),
        )

    def _split_generators(self, dl_manager: tfds.download.DownloadManager):
        del dl_manager  # Nothing to download: the videos are local.
        config = self._config
        class_names, entries = read_layout(config.video_dir, config.split_index, config.list_format)
        return {
            split: self._generate_examples(split, split_entries, class_names)
            for split, split_entries in entries.items()
        }

    def _encode_video(
        self, entry: ListEntry, class_names: list[str]
    ) -> tuple[dict[str, object], list[str]]:
        """Decodes and JPEG-encodes one listed video (and its flow) into a TFDS example.

        Returns:
          (the example, the decoder's notes on it: see `VideoReader.notes`).

        Raises:
          VideoDecodeError or ValueError: the video cannot be used.
        """
        config = self._config
        label = entry_label(entry, class_names)
        path = os.path.join(config.video_dir, *entry.relpath.split("/"))
        if config.list_format == "rawframes":
            planes = self._encode_frame_folder(path)
            fps, notes = 0.0, []  # A folder of frames does not say its rate.
        else:
            planes, fps, notes = self._encode_video_file(path)
        example = {
            **planes,
            "label": label,
            "video_id": entry.relpath,
            "fps": np.float32(fps),
            "num_frames": np.int32(len(planes["video"])),
        }
        return example, notes

    def _encode_frame_folder(self, path: str) -> dict[str, list[bytes]]:
        """{'video': JPEGs, '<type>_x': ...} of a raw-frame folder (flow stored or computed)."""
        config = self._config
        short_side = None if config.size else config.short_side
        stored = config.stored_flow_types() if config.flow_method == "stored" else ()
        paths = frame_folder.frame_folder_paths(path, stored)
        if config.flow_method in (None, "stored"):
            return {
                key: frame_folder.stored_jpegs(
                    files,
                    short_side,
                    config.size,
                    config.jpeg_quality,
                    "RGB" if key == "video" else "L",
                )
                for key, files in paths.items()
            }
        rgb: list[bytes] = []

        def frames():
            for frame in frame_folder.iter_rgb_frames(paths["video"], short_side, config.size):
                rgb.append(building.encode_jpeg(frame, config.jpeg_quality))
                yield frame

        flows = building.encode_flows(
            frames(), config.flow_method, config.stored_flow_types(), config.jpeg_quality
        )
        return {"video": rgb, **flows}

    def _encode_video_file(self, path: str) -> tuple[dict[str, list[bytes]], float, list[str]]:
        config = self._config
        return encode_video_file(
            path,
            short_side=None if config.size else config.short_side,
            size=config.size,
            target_fps=config.target_fps,
            flow_method=config.flow_method,
            flow_types=config.stored_flow_types(),
            jpeg_quality=config.jpeg_quality,
        )

    def _generate_examples(self, split: str, entries: list[ListEntry], class_names: list[str]):
        """Yields (video_id, example) for every usable video of a split's entries.

        A video that is missing, unreadable or unlabelled is skipped with a
        warning; `skipped_videos[split]` and the log list them with the reason.
        One built with a note (partly decoded, resolution changed) is listed in
        `noted_videos[split]` and the split's summary line.
        """
        skipped: list[tuple[str, str]] = []
        noted: list[tuple[str, str]] = []
        self.skipped_videos[split], self.noted_videos[split] = skipped, noted
        by_path: dict[str, ListEntry] = {}
        for entry in entries:
            by_path.setdefault(entry.relpath, entry)
        yield from building.generate_examples(
            split,
            [entry.relpath for entry in entries],
            lambda relpath: self._encode_video(by_path[relpath], class_names),
            skipped,
            noted,
        )


def encode_video_file(
    path: str,
    *,
    short_side: int | None,
    size: tuple[int, int] | None = None,
    target_fps: float | None = None,
    flow_method: str | None = None,
    flow_types: tuple[str, ...] = (),
    jpeg_quality: int = 90,
) -> tuple[dict[str, list[bytes]], float, list[str]]:
    """({'video': JPEGs, '<type>_x'/'_y': flow planes}, fps, notes) of a video file.

    Decoded frame by frame (never all frames in memory), resized to `short_side` or
    `size`, subsampled to `target_fps`, JPEG-encoded, with optical flow when
    `flow_method` is set: what a dataset build stores, and what `tsn-jax-predict`
    feeds the test pipeline for any file. `notes` are the decoder's one-line
    remarks on a file it could only partly use (`VideoReader.notes`).

    Raises:
      VideoDecodeError: the file cannot be decoded.
    """
    with VideoReader(path, short_side, size=size, target_fps=target_fps) as video:
        rgb: list[bytes] = []

        def frames():
            for frame in video:
                rgb.append(building.encode_jpeg(frame, jpeg_quality))
                yield frame

        flows = building.encode_flows(frames(), flow_method, flow_types, jpeg_quality)
        return {"video": rgb, **flows}, video.fps, video.notes
