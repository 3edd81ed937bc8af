"""A TFDS builder for a folder of videos plus split lists, in the UCF101 layout.

    <video_dir>/classInd.txt        "1 ApplyEyeMakeup"          (1-based, one class a line)
    <video_dir>/trainlist01.txt     "ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi 1"
    <video_dir>/testlist01.txt      "ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01.avi"
    <video_dir>/<ClassName>/<video>.avi|.mp4|...

The text files may also sit in `<video_dir>/ucfTrainTestlist/`, where the
UCF101 split archive puts them. The builder knows nothing else about the data:
real UCF101, HMDB51 converted to these lists, or the rendered demo data all
go through the same code.

Every video is decoded once with PyAV, resized to a short side, and stored as
one JPEG per frame, so that training reads the frames with
`tfds.decode.SkipDecoding()` as a [T] string tensor and decodes only the
frames it samples.
"""

from __future__ import annotations

import collections
import concurrent.futures
import dataclasses
import io
import os
from collections.abc import Callable, Iterable, Iterator

import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds
from absl import logging
from PIL import Image

from input_pipeline.datasets.video_decode import VideoDecodeError, decode_video

# Where the UCF101 split archive puts classInd.txt and the split lists.
_LISTS_SUBDIR = "ucfTrainTestlist"
# Decoding threads, and how many videos may be decoded ahead of the writer:
# bounds memory to a handful of decoded videos.
_NUM_WORKERS = 2
_MAX_PENDING = 4

PREPARATION_HINT = """\
Expected a folder in the UCF101 layout:
  <video_dir>/classInd.txt          lines "1 ClassName" (1-based)
  <video_dir>/trainlist{NN}.txt       lines "ClassName/video.avi 1" (label optional)
  <video_dir>/testlist{NN}.txt        lines "ClassName/video.avi"
  <video_dir>/<ClassName>/<video>.avi (or .mp4, any format FFmpeg reads)
The three text files may also be in <video_dir>/ucfTrainTestlist/. For UCF101,
extract UCF101.rar and UCF101TrainTestSplits-RecognitionTask.zip into the same
folder. The embedded demo data is rendered in this layout by
input_pipeline.datasets.synthetic_actions.render_dataset(out_dir)."""


@dataclasses.dataclass(kw_only=True)
class VideoFolderConfig(tfds.core.BuilderConfig):
    """Which folder, which split lists, and how frames are stored.

    Attributes:
      video_dir: root of the UCF101-layout folder.
      split_index: NN of trainlistNN.txt / testlistNN.txt (UCF101 has 1..3).
      short_side: frames are resized so that their shorter side has this many
        pixels (aspect ratio kept); None keeps the decoded size.
      jpeg_quality: JPEG quality (1..95) of the stored frames.
      list_format: 'ucf101' (classInd.txt, trainlistNN.txt, testlistNN.txt) or
        'hmdb51' (per-class <class>_test_splitN.txt with 1/2/0 marks).
    """

    video_dir: str
    split_index: int = 1
    short_side: int | None = 128
    jpeg_quality: int = 90
    list_format: str = "ucf101"


@dataclasses.dataclass(frozen=True)
class ListEntry:
    """One line of a split list: a video path relative to the root, and its label if given."""

    relpath: str
    label: int | None  # 0-based; None when the line has no label (test lists).


def find_list_files(video_dir: str, split_index: int) -> dict[str, str]:
    """Locates classInd.txt and the split lists of `split_index`.

    Args:
      video_dir: dataset root.
      split_index: NN of trainlistNN.txt / testlistNN.txt.

    Returns:
      {'classInd': path, 'train': path, 'test': path}.

    Raises:
      FileNotFoundError: the folder or any of the three files is missing; the
        message names them and explains the expected layout.
    """
    hint = PREPARATION_HINT.replace("{NN}", f"{split_index:02d}")
    if not os.path.isdir(video_dir):
        raise FileNotFoundError(f"Video folder {video_dir!r} does not exist.\n{hint}")
    wanted = {
        "classInd": "classInd.txt",
        "train": f"trainlist{split_index:02d}.txt",
        "test": f"testlist{split_index:02d}.txt",
    }
    found, missing = {}, []
    for key, filename in wanted.items():
        candidates = [
            os.path.join(video_dir, filename),
            os.path.join(video_dir, _LISTS_SUBDIR, filename),
        ]
        path = next((p for p in candidates if os.path.isfile(p)), None)
        if path is None:
            missing.append(filename)
        else:
            found[key] = path
    if missing:
        raise FileNotFoundError(f"{', '.join(missing)} not found in {video_dir!r}.\n{hint}")
    return found


def read_class_index(path: str) -> list[str]:
    """Reads classInd.txt ("1 ClassName" a line, 1-based).

    Returns:
      Class names ordered by their index: label i (0-based) is names[i].

    Raises:
      ValueError: malformed lines, or indices that are not exactly 1..N.
    """
    by_index = {}
    with open(path) as f:
        for line_number, line in enumerate(f, 1):
            if not line.strip():
                continue
            parts = line.split()
            if len(parts) != 2 or not parts[0].isdigit():
                raise ValueError(f'{path}:{line_number}: expected "<index> <ClassName>": {line!r}')
            by_index[int(parts[0])] = parts[1]
    if sorted(by_index) != list(range(1, len(by_index) + 1)):
        raise ValueError(f"{path}: class indices must be 1..N, got {sorted(by_index)}")
    return [by_index[i] for i in range(1, len(by_index) + 1)]


def read_split_list(path: str) -> list[ListEntry]:
    """Reads a split list: "Class/video.avi [label]" a line, labels 1-based.

    Returns:
      The entries in file order, labels converted to 0-based.
    """
    entries = []
    with open(path) as f:
        for line_number, line in enumerate(f, 1):
            parts = line.split()
            if not parts:
                continue
            if len(parts) > 2 or (len(parts) == 2 and not parts[1].isdigit()):
                raise ValueError(f'{path}:{line_number}: expected "<path> [label]": {line!r}')
            # Lists written on Windows may use backslashes.
            relpath = parts[0].replace("\\", "/")
            entries.append(ListEntry(relpath, int(parts[1]) - 1 if len(parts) == 2 else None))
    return entries


def entry_label(entry: ListEntry, class_names: list[str]) -> int:
    """The 0-based label of a list entry: the one written, else its folder's class.

    Raises:
      ValueError: the label is out of range, or the folder names no class.
    """
    if entry.label is not None:
        if not 0 <= entry.label < len(class_names):
            raise ValueError(f"label {entry.label + 1} is not in 1..{len(class_names)}")
        return entry.label
    folder = entry.relpath.split("/")[0]
    # Case-insensitive fallback: UCF101 itself spells some names two ways
    # (HandstandPushups vs HandStandPushups).
    lowered = [name.lower() for name in class_names]
    if folder.lower() in lowered:
        return lowered.index(folder.lower())
    raise ValueError(f"folder {folder!r} is not a class in classInd.txt")


LIST_FORMATS = ("ucf101", "hmdb51")
# Where the HMDB51 split archive (test_train_splits.rar) puts its lists.
_HMDB51_LISTS_SUBDIR = "testTrainMulti_7030_splits"

HMDB51_PREPARATION_HINT = """\
Expected a folder in the HMDB51 layout:
  <video_dir>/<class>/<video>.avi               (hmdb51_org.rar, one .rar per class)
  <video_dir>/<class>_test_split{N}.txt           lines "<video>.avi 1" (1 train, 2 test,
                                                  0 unused), one file per class
The split files may also be in <video_dir>/testTrainMulti_7030_splits/ (from
test_train_splits.rar). Classes are numbered in sorted order of their names."""


def read_hmdb51_splits(video_dir: str, split_index: int) -> tuple[list[str], dict]:
    """Reads HMDB51's per-class split files for split `split_index` (1..3).

    Each `<class>_test_split<N>.txt` lists that class's videos with a mark: 1 for
    training, 2 for testing, 0 for neither (the official 70/30 splits).

    Returns:
      (class names sorted, {'train': [ListEntry], 'test': [ListEntry]}), labels
      0-based in that order, paths `<class>/<video>`.

    Raises:
      FileNotFoundError: the folder or the split files are missing (with the layout).
      ValueError: a malformed line.
    """
    hint = HMDB51_PREPARATION_HINT.replace("{N}", str(split_index))
    if not os.path.isdir(video_dir):
        raise FileNotFoundError(f"Video folder {video_dir!r} does not exist.\n{hint}")
    suffix = f"_test_split{split_index}.txt"
    lists_dir = next(
        (
            d
            for d in (os.path.join(video_dir, _HMDB51_LISTS_SUBDIR), video_dir)
            if os.path.isdir(d) and any(f.endswith(suffix) for f in os.listdir(d))
        ),
        None,
    )
    if lists_dir is None:
        raise FileNotFoundError(f"no *{suffix} files in {video_dir!r}.\n{hint}")
    files = sorted(f for f in os.listdir(lists_dir) if f.endswith(suffix))
    class_names = [f[: -len(suffix)] for f in files]
    entries: dict[str, list[ListEntry]] = {"train": [], "test": []}
    for label, (name, filename) in enumerate(zip(class_names, files, strict=True)):
        path = os.path.join(lists_dir, filename)
        with open(path) as f:
            for line_number, line in enumerate(f, 1):
                parts = line.split()
                if not parts:
                    continue
                if len(parts) != 2 or parts[1] not in ("0", "1", "2"):
                    raise ValueError(f'{path}:{line_number}: expected "<video> <0|1|2>": {line!r}')
                if parts[1] != "0":
                    split = "train" if parts[1] == "1" else "test"
                    entries[split].append(ListEntry(f"{name}/{parts[0]}", label))
    return class_names, entries


def read_layout(video_dir: str, split_index: int, list_format: str) -> tuple[list[str], dict]:
    """Class names and the train/test entries of a video folder in `list_format`.

    Returns:
      (class names, {'train': [ListEntry], 'test': [ListEntry]}).
    """
    if list_format == "hmdb51":
        return read_hmdb51_splits(video_dir, split_index)
    if list_format != "ucf101":
        raise ValueError(f"list_format must be one of {LIST_FORMATS}, got {list_format!r}")
    files = find_list_files(video_dir, split_index)
    class_names = read_class_index(files["classInd"])
    return class_names, {split: read_split_list(files[split]) for split in ("train", "test")}


def encode_jpeg_frames(frames: np.ndarray, quality: int) -> list[bytes]:
    """Encodes [T, H, W, 3] uint8 frames to a list of T JPEG byte strings."""
    encoded = []
    for frame in frames:
        buffer = io.BytesIO()
        Image.fromarray(frame).save(buffer, format="JPEG", quality=quality)
        encoded.append(buffer.getvalue())
    return encoded


def _ordered_map(
    fn: Callable[[ListEntry], object],
    items: Iterable[ListEntry],
    num_workers: int,
    max_pending: int,
) -> Iterator[tuple[ListEntry, object]]:
    """Yields (item, fn(item)) in input order, computing up to `max_pending` ahead in threads.

    Threads, because forking a process that has TensorFlow loaded is unsafe;
    PyAV's decoder and PIL's JPEG encoder release the GIL for much of their
    work. Input order keeps the build deterministic; the window bounds memory.
    """
    with concurrent.futures.ThreadPoolExecutor(num_workers) as pool:
        pending = collections.deque()
        for item in items:
            pending.append((item, pool.submit(fn, item)))
            if len(pending) >= max_pending:
                item, future = pending.popleft()
                yield item, future.result()
        while pending:
            item, future = pending.popleft()
            yield item, future.result()


def format_skipped(skipped: list[tuple[str, str]], total: int) -> str:
    """One line for the log: "skipped 2 of 400 videos: a.mp4 (reason), ..."."""
    details = ", ".join(f"{path} ({reason})" for path, reason in skipped)
    return f"skipped {len(skipped)} of {total} videos: {details}"


class VideoFolder(tfds.core.GeneratorBasedBuilder):
    """Videos in class folders with UCF101-style split lists; frames stored as JPEG."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Initial release."}

    def __init__(self, *, config: VideoFolderConfig, **kwargs):
        if not isinstance(config, VideoFolderConfig):
            raise TypeError(f"config must be a VideoFolderConfig, got {type(config).__name__}")
        # Per split, the (relative path, reason) of each video left out.
        self.skipped_videos: dict[str, list[tuple[str, str]]] = {}
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
        return tfds.core.DatasetInfo(
            builder=self,
            description=(
                f"Videos from {config.video_dir} ({config.list_format} split"
                f" {config.split_index}),"
                f" short side {config.short_side}, JPEG quality {config.jpeg_quality}."
            ),
            features=tfds.features.FeaturesDict(
                {
                    "video": tfds.features.Video(
                        shape=(None, None, None, 3), encoding_format="jpeg"
                    ),
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
            split: self._generate_examples(split, entries[split], class_names)
            for split in ("train", "test")
        }

    def _encode_video(self, entry: ListEntry, class_names: list[str]) -> dict[str, object]:
        """Decodes and JPEG-encodes one listed video into a TFDS example.

        Raises:
          VideoDecodeError or ValueError: the video cannot be used.
        """
        label = entry_label(entry, class_names)
        path = os.path.join(self._config.video_dir, *entry.relpath.split("/"))
        frames, fps = decode_video(path, self._config.short_side)
        return {
            "video": encode_jpeg_frames(frames, self._config.jpeg_quality),
            "label": label,
            "video_id": entry.relpath,
            "fps": np.float32(fps),
            "num_frames": np.int32(len(frames)),
        }

    def _generate_examples(self, split: str, entries: list[ListEntry], class_names: list[str]):
        """Yields (video_id, example) for every usable video of a split's entries.

        A video that is missing, unreadable or unlabelled is skipped with a
        warning; a summary of the skipped videos is logged when the split ends.
        """
        skipped: list[tuple[str, str]] = []
        self.skipped_videos[split] = skipped
        seen: set[str] = set()
        unique = []
        for entry in entries:
            if entry.relpath in seen:
                # TFDS refuses duplicated keys; the first occurrence wins.
                skipped.append((entry.relpath, f"listed twice in the {split} list"))
            else:
                seen.add(entry.relpath)
                unique.append(entry)

        def encode(entry: ListEntry) -> dict[str, object] | Exception:
            try:
                return self._encode_video(entry, class_names)
            except (VideoDecodeError, ValueError) as e:
                return e
            except Exception as e:
                # Whatever else one odd file raises, it must not end the build.
                return RuntimeError(f"{type(e).__name__}: {e}")

        num_built = 0
        for entry, result in _ordered_map(encode, unique, _NUM_WORKERS, _MAX_PENDING):
            if isinstance(result, Exception):
                logging.warning("Skipping video %s: %s", entry.relpath, result)
                skipped.append((entry.relpath, str(result)))
                continue
            num_built += 1
            yield entry.relpath, result

        if skipped:
            logging.warning("%s split: %s", split, format_skipped(skipped, len(entries)))
        else:
            logging.info("%s split: built all %d videos.", split, len(entries))
        if entries and not num_built:
            raise ValueError(
                f"None of the {len(entries)} videos of the {split} split could be used: "
                + format_skipped(skipped[:5], len(entries))
            )
