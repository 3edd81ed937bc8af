"""Split lists of the video datasets users bring: which video is in which split, with which label.

Every reader maps a dataset root to `(class_names, {split: [ListEntry]})`, a
video's path relative to the root plus its 0-based label, so the builders know
nothing about a dataset's own file formats:

  ucf101    classInd.txt + trainlistNN.txt / testlistNN.txt         splits train, test
  hmdb51    <class>_test_splitN.txt with 1/2/0 marks per video       splits train, test
  kinetics  train.csv / validate.csv (label,youtube_id,time_start,   splits train, validation
            time_end,split) and clips named <id>_<start>_<end>.mp4   (and test when labelled)
  sthsth    Something-Something v2: labels.json, train.json,        splits train, validation
            validation.json and numbered <id>.webm clips
  rawframes mmaction2's extracted frames: a folder per video of        splits train and
            img_00001.jpg (flow_x_00001.jpg, ...), lists of             validation or test
            "<folder> <num_frames> <label>"
"""

from __future__ import annotations

import csv
import dataclasses
import json
import os
from collections.abc import Callable

# Where the UCF101 split archive puts classInd.txt and the split lists.
_LISTS_SUBDIR = "ucfTrainTestlist"
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


# File name extensions a video may have; Kinetics and Something-Something
# clips are found by stem, whatever their container.
VIDEO_EXTENSIONS = (
    ".mp4", ".avi", ".mkv", ".webm", ".mov", ".m4v", ".mpg", ".mpeg", ".flv", ".wmv", ".3gp",
    ".ogv",
)  # fmt: skip


def index_videos(video_dir: str) -> dict[str, str]:
    """Every video file under `video_dir` by stem: {stem: '/'-separated path relative to it}.

    Kinetics downloaders put clips in class folders or flat split folders, with
    .mp4 or .mkv; looking them up by stem makes every such layout work. When two
    files share a stem, the first in sorted order wins.
    """
    index: dict[str, str] = {}
    for root, dirs, files in os.walk(video_dir):
        dirs.sort()
        for name in sorted(files):
            stem, ext = os.path.splitext(name)
            if ext.lower() in VIDEO_EXTENSIONS:
                relpath = os.path.relpath(os.path.join(root, name), video_dir)
                index.setdefault(stem, relpath.replace(os.sep, "/"))
    return index


def _find_file(video_dir: str, subdirs: tuple[str, ...], names: tuple[str, ...]) -> str | None:
    """The first of `names` found in video_dir or one of its `subdirs`, else None."""
    for subdir in ("",) + subdirs:
        for name in names:
            path = os.path.join(video_dir, subdir, name)
            if os.path.isfile(path):
                return path
    return None


KINETICS_PREPARATION_HINT = """\
Expected a Kinetics-style folder:
  <video_dir>/train.csv, validate.csv (or val.csv), optionally test.csv, also
      accepted in <video_dir>/annotations/; columns label,youtube_id,time_start,time_end,split
  the clips anywhere under <video_dir>, named <youtube_id>_<time_start:06d>_<time_end:06d>.mp4
      (or .mkv/.webm), as the ActivityNet downloader and the CVDF archives name them
Clips that are listed but missing (removed from YouTube) are reported and skipped."""

_KINETICS_CSVS = {
    "train": ("train.csv",),
    "validation": ("validate.csv", "val.csv", "validation.csv"),
    "test": ("test.csv",),
}


def kinetics_clip_stem(youtube_id: str, time_start: str, time_end: str) -> str:
    """'<id>_<start:06d>_<end:06d>', the name every Kinetics downloader gives a clip."""
    return f"{youtube_id}_{int(float(time_start)):06d}_{int(float(time_end)):06d}"


def _read_kinetics_csv(path: str) -> list[tuple[str, str | None]]:
    """(clip stem, label name or None) for each row of a Kinetics annotation CSV."""
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        columns = set(reader.fieldnames or ())
        missing = {"youtube_id", "time_start", "time_end"} - columns
        if missing:
            raise ValueError(
                f"{path}: missing column(s) {sorted(missing)}; found {sorted(columns)}"
            )
        rows = []
        for row in reader:
            stem = kinetics_clip_stem(row["youtube_id"], row["time_start"], row["time_end"])
            rows.append((stem, row.get("label") or None))
    return rows


def read_kinetics(video_dir: str, split_index: int) -> tuple[list[str], dict]:
    """Reads Kinetics-400/600/700 CSVs; classes are the train labels in sorted order.

    Sorted label names is the class numbering of the released label maps (and of
    mmaction2's). The test CSV becomes a split only when it has labels.

    Raises:
      FileNotFoundError: the folder or train.csv / validate.csv are missing.
      ValueError: a malformed CSV, a validation label absent from training.
    """
    if split_index != 1:
        raise ValueError(f"Kinetics has one split; got split_index={split_index}")
    if not os.path.isdir(video_dir):
        raise FileNotFoundError(
            f"Video folder {video_dir!r} does not exist.\n{KINETICS_PREPARATION_HINT}"
        )
    paths = {
        split: _find_file(video_dir, ("annotations",), names)
        for split, names in _KINETICS_CSVS.items()
    }
    for split in ("train", "validation"):
        if paths[split] is None:
            raise FileNotFoundError(
                f"{' or '.join(_KINETICS_CSVS[split])} not found in {video_dir!r}.\n"
                + KINETICS_PREPARATION_HINT
            )
    rows = {split: _read_kinetics_csv(path) for split, path in paths.items() if path}
    if "test" in rows and any(label is None for _, label in rows["test"]):
        del rows["test"]  # Kinetics-400's test labels were never released.
    class_names = sorted({label for _, label in rows["train"] if label is not None})
    return class_names, _entries_by_stem(video_dir, rows, class_names)


def _entries_by_stem(
    video_dir: str, rows: dict[str, list[tuple[str, str | None]]], class_names: list[str]
) -> dict[str, list[ListEntry]]:
    """ListEntries of (stem, label name) rows, each stem looked up among the files on disk.

    A stem with no file keeps the path '<split>/<stem>.mp4', which the build
    then reports as missing, so the report lists every listed clip not found.
    """
    files = index_videos(video_dir)
    label_of = {name: i for i, name in enumerate(class_names)}
    entries: dict[str, list[ListEntry]] = {}
    for split, split_rows in rows.items():
        entries[split] = []
        for stem, label in split_rows:
            if label is None or label not in label_of:
                raise ValueError(f"{split} clip {stem}: label {label!r} is not a known class")
            relpath = files.get(stem, f"{split}/{stem}.mp4")
            entries[split].append(ListEntry(relpath, label_of[label]))
    return entries


STHSTH_PREPARATION_HINT = """\
Expected a Something-Something v2 folder:
  <video_dir>/something-something-v2-labels.json (or labels.json)   {"template": "index"}
  <video_dir>/something-something-v2-train.json (or train.json)     [{"id", "template", ...}]
  <video_dir>/something-something-v2-validation.json (or validation.json)
      (the JSON files may also be in <video_dir>/labels/ or <video_dir>/annotations/)
  the clips anywhere under <video_dir>, named <id>.webm (20bn-something-something-v2/)."""


def _sthsth_template(item: dict) -> str:
    """The class name of an annotation: its template without the [ ] placeholder marks."""
    return item["template"].replace("[", "").replace("]", "")


def read_sthsth(video_dir: str, split_index: int) -> tuple[list[str], dict]:
    """Reads Something-Something v2's JSON label lists (174 classes).

    Returns:
      Classes ordered by the indices of the labels file; splits 'train' and
      'validation' (the test list has no labels).
    """
    if split_index != 1:
        raise ValueError(f"Something-Something has one split; got split_index={split_index}")
    if not os.path.isdir(video_dir):
        raise FileNotFoundError(
            f"Video folder {video_dir!r} does not exist.\n{STHSTH_PREPARATION_HINT}"
        )
    subdirs = ("labels", "annotations")
    wanted = {"labels": "labels", "train": "train", "validation": "validation"}
    paths = {}
    for key, name in wanted.items():
        path = _find_file(
            video_dir, subdirs, (f"something-something-v2-{name}.json", f"{name}.json")
        )
        if path is None:
            raise FileNotFoundError(
                f"{name}.json not found in {video_dir!r}.\n{STHSTH_PREPARATION_HINT}"
            )
        paths[key] = path
    with open(paths["labels"]) as f:
        index_of = {name: int(index) for name, index in json.load(f).items()}
    if sorted(index_of.values()) != list(range(len(index_of))):
        raise ValueError(f"{paths['labels']}: label indices must be 0..N-1")
    class_names = sorted(index_of, key=index_of.get)
    rows = {}
    for split in ("train", "validation"):
        with open(paths[split]) as f:
            items = json.load(f)
        try:
            rows[split] = [(str(item["id"]), _sthsth_template(item)) for item in items]
        except (KeyError, TypeError) as e:
            raise ValueError(f"{paths[split]}: every item needs 'id' and 'template': {e}") from e
    return class_names, _entries_by_stem(video_dir, rows, class_names)


RAWFRAMES_PREPARATION_HINT = """\
Expected mmaction2's raw-frame layout (tsn-jax-extract-flow writes it too):
  <video_dir>/<video folder>/img_00001.jpg, ...
      (optionally flow_x_00001.jpg, flow_y_00001.jpg, ..., warp_x_00001.jpg, ...)
  list files in <video_dir> or its parent, e.g. ucf101_train_split_1_rawframes.txt and
      ucf101_val_split_1_rawframes.txt, kinetics400_train_list_rawframes.txt: lines
      "<video folder relative to video_dir> <num_frames> <label 0-based>"
  class names (optional): classInd.txt ("1 Name") or a *label_map*.txt (one name a line)."""


def find_rawframe_lists(video_dir: str, split_index: int) -> dict[str, str]:
    """The train and evaluation lists of mmaction2's raw frames, by split name.

    Looks in `video_dir` and its parent for '*rawframes.txt' files whose name
    says 'train', and 'val' or 'test'; when names carry 'split_N', only split
    `split_index`'s. The evaluation split is called 'validation' or 'test' after
    its file name.

    Raises:
      FileNotFoundError: no such train list or evaluation list (with the layout).
    """
    found: dict[str, str] = {}
    for folder in (video_dir, os.path.dirname(os.path.abspath(video_dir))):
        if not os.path.isdir(folder):
            continue
        for name in sorted(os.listdir(folder)):
            lower = name.lower()
            if not lower.endswith("rawframes.txt"):
                continue
            if "split_" in lower and f"split_{split_index}_" not in lower:
                continue
            split = next(
                (s for key, s in (("train", "train"), ("val", "validation"), ("test", "test"))
                 if key in lower),
                None,
            )  # fmt: skip
            if split is not None:
                found.setdefault(split, os.path.join(folder, name))
        if "train" in found:
            break
    if "train" not in found or len(found) < 2:
        raise FileNotFoundError(
            f"no train and val/test *rawframes.txt lists for split {split_index} in "
            f"{video_dir!r} or its parent.\n{RAWFRAMES_PREPARATION_HINT}"
        )
    return found


def _rawframes_class_names(lists_dir: str, num_classes: int) -> list[str]:
    """Class names from classInd.txt or a *label_map*.txt next to the lists, else class_<i>."""
    names: list[str] = []
    class_index = os.path.join(lists_dir, "classInd.txt")
    label_maps = sorted(f for f in os.listdir(lists_dir) if "label_map" in f and f.endswith(".txt"))
    if os.path.isfile(class_index):
        names = read_class_index(class_index)
    elif label_maps:
        with open(os.path.join(lists_dir, label_maps[0])) as f:
            names = [line.strip() for line in f if line.strip()]
    if not names:
        return [f"class_{i}" for i in range(num_classes)]
    if len(names) < num_classes:
        raise ValueError(
            f"{len(names)} class names in {lists_dir} but labels up to {num_classes - 1}"
        )
    return names


def read_rawframes(video_dir: str, split_index: int) -> tuple[list[str], dict]:
    """Reads mmaction2's raw-frame lists ("<folder> <num_frames> <label>" a line).

    The frame count of a line is not used: the builder counts the files.
    """
    if not os.path.isdir(video_dir):
        raise FileNotFoundError(
            f"Frame folder {video_dir!r} does not exist.\n{RAWFRAMES_PREPARATION_HINT}"
        )
    lists = find_rawframe_lists(video_dir, split_index)
    entries: dict[str, list[ListEntry]] = {}
    for split, path in lists.items():
        entries[split] = []
        with open(path) as f:
            for line_number, line in enumerate(f, 1):
                parts = line.split()
                if not parts:
                    continue
                if len(parts) != 3 or not parts[1].isdigit() or not parts[2].isdigit():
                    raise ValueError(
                        f'{path}:{line_number}: expected "<folder> <num_frames> <label>": {line!r}'
                    )
                entries[split].append(ListEntry(parts[0].replace("\\", "/"), int(parts[2])))
    num_classes = 1 + max(e.label for split in entries.values() for e in split)
    class_names = _rawframes_class_names(os.path.dirname(lists["train"]), num_classes)
    return class_names, entries


def read_ucf101(video_dir: str, split_index: int) -> tuple[list[str], dict]:
    """Reads UCF101's classInd.txt and trainlistNN.txt / testlistNN.txt; splits train, test."""
    files = find_list_files(video_dir, split_index)
    class_names = read_class_index(files["classInd"])
    return class_names, {split: read_split_list(files[split]) for split in ("train", "test")}


LIST_READERS: dict[str, Callable[[str, int], tuple[list[str], dict]]] = {
    "ucf101": read_ucf101,
    "hmdb51": read_hmdb51_splits,
    "kinetics": read_kinetics,
    "sthsth": read_sthsth,
    "rawframes": read_rawframes,
}
LIST_FORMATS = tuple(LIST_READERS)


def read_layout(video_dir: str, split_index: int, list_format: str) -> tuple[list[str], dict]:
    """Class names and the entries of every split of a dataset root in `list_format`.

    Returns:
      (class names, {split name: [ListEntry]}).
    """
    if list_format not in LIST_READERS:
        raise ValueError(f"list_format must be one of {LIST_FORMATS}, got {list_format!r}")
    return LIST_READERS[list_format](video_dir, split_index)
