"""Tests for the VideoFolder TFDS builder and input_pipeline.datasets.get_builder."""

import json
import logging
import os
import shutil

import av
import ml_collections
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds
from PIL import Image

from input_pipeline import datasets
from input_pipeline.datasets import VideoFolder, VideoFolderConfig, annotations, synthetic_actions

CLASSES = ("Apple", "Banana", "Cherry")
# (relative path, class, frames, codec): a mix of containers and codecs.
TRAIN = (
    ("Apple/v_Apple_g01_c01.avi", "Apple", 5, "mpeg4"),
    ("Apple/v_Apple_g02_c01.mp4", "Apple", 9, "libx264"),
    ("Banana/v_Banana_g01_c01.mp4", "Banana", 7, "libx264"),
    ("Cherry/v_Cherry_g01_c01.mp4", "Cherry", 4, "libx264"),
)
TEST = (
    ("Apple/v_Apple_g03_c01.mp4", "Apple", 3, "libx264"),
    ("Banana/v_Banana_g02_c01.avi", "Banana", 6, "mpeg4"),
    ("Cherry/v_Cherry_g02_c01.mp4", "Cherry", 8, "libx264"),
)
# Listed in trainlist01.txt but unusable, each for its own reason.
BAD = (
    "Cherry/v_corrupt.mp4",
    "Banana/v_empty.avi",
    "Apple/v_missing.mp4",
    "Apple/v_audio_only.mp4",
)
COLOURS = {"Apple": (200, 30, 30), "Banana": (220, 210, 40), "Cherry": (40, 40, 200)}


def write_video(path, num_frames, codec, rgb, width=64, height=48):
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream(codec, rate=10)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for _ in range(num_frames):
            frame = np.broadcast_to(np.array(rgb, np.uint8), (height, width, 3)).copy()
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def write_audio_only(path):
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("aac", rate=16000)
        frame = av.AudioFrame.from_ndarray(
            np.zeros((1, 2048), np.float32), format="fltp", layout="mono"
        )
        frame.sample_rate = 16000
        for packet in list(stream.encode(frame)) + list(stream.encode()):
            container.mux(packet)


def make_folder(root):
    """A 3-class folder in the UCF101 layout, with four bad entries in the train list."""
    for name in CLASSES:
        os.makedirs(root / name)
    for relpath, name, num_frames, codec in TRAIN + TEST:
        write_video(root / relpath, num_frames, codec, COLOURS[name])
    (root / BAD[0]).write_bytes(np.random.default_rng(0).integers(0, 256, 3000, np.uint8).tobytes())
    (root / BAD[1]).write_bytes(b"")
    write_audio_only(root / BAD[3])
    (root / "classInd.txt").write_text("".join(f"{i + 1} {c}\n" for i, c in enumerate(CLASSES)))
    train_lines = [f"{p} {CLASSES.index(c) + 1}" for p, c, _, _ in TRAIN]
    # Bad entries go between good ones: the build must carry on after them.
    train_lines[2:2] = [f"{p} {CLASSES.index(p.split('/')[0]) + 1}" for p in BAD]
    (root / "trainlist01.txt").write_text("\n".join(train_lines) + "\n")
    # Test lists carry no label: it comes from the folder.
    (root / "testlist01.txt").write_text("".join(f"{p}\n" for p, _, _, _ in TEST))
    return root


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """(builder, captured log text) of the folder above, built once for this module."""
    root = make_folder(tmp_path_factory.mktemp("videos"))
    builder = VideoFolder(
        config=VideoFolderConfig(name="fruit_s24", video_dir=str(root), short_side=24),
        data_dir=str(tmp_path_factory.mktemp("tfds")),
    )
    records = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = lambda record: records.append(record.getMessage())
    absl_logger = logging.getLogger("absl")
    absl_logger.addHandler(handler)
    try:
        builder.download_and_prepare()
    finally:
        absl_logger.removeHandler(handler)
    return builder, "\n".join(records)


def read_split(builder, split):
    ds = builder.as_dataset(split, decoders={"video": tfds.decode.SkipDecoding()})
    return {ex["video_id"].decode(): ex for ex in tfds.as_numpy(ds)}


def test_splits_labels_and_metadata(built):
    builder, _ = built
    assert builder.info.features["label"].names == list(CLASSES)
    for split, entries in (("train", TRAIN), ("test", TEST)):
        examples = read_split(builder, split)
        assert sorted(examples) == sorted(p for p, _, _, _ in entries)
        for relpath, name, num_frames, _ in entries:
            ex = examples[relpath]
            assert ex["label"] == CLASSES.index(name)
            assert ex["num_frames"] == num_frames
            assert ex["fps"] == pytest.approx(10.0)


def test_frames_are_jpeg_strings_decodable_one_by_one(built):
    builder, _ = built
    ds = builder.as_dataset("test", decoders={"video": tfds.decode.SkipDecoding()})
    for ex in ds:
        video = ex["video"]
        assert video.dtype == tf.string and video.shape.rank == 1
        assert video.shape[0] == int(ex["num_frames"])
        # Decode only one sampled frame, as the pipeline does.
        frame = tf.io.decode_jpeg(video[video.shape[0] // 2]).numpy()
        assert frame.shape == (24, 32, 3)  # short side 24, aspect 4:3 kept
        name = CLASSES[int(ex["label"])]
        np.testing.assert_allclose(frame.reshape(-1, 3).mean(0), COLOURS[name], atol=25)
    # The default decoder gives the full uint8 video.
    ex = next(iter(builder.as_dataset("train")))
    assert ex["video"].dtype == tf.uint8 and ex["video"].shape[1:] == (24, 32, 3)


def test_bad_videos_are_skipped_and_reported(built):
    builder, log = built
    skipped = dict(builder.skipped_videos["train"])
    assert sorted(skipped) == sorted(BAD)
    assert "empty" in skipped["Banana/v_empty.avi"]
    assert "does not exist" in skipped["Apple/v_missing.mp4"]
    assert "no video stream" in skipped["Apple/v_audio_only.mp4"]
    assert builder.skipped_videos["test"] == []
    assert "skipped 4 of 8 videos" in log
    for relpath in BAD:
        assert relpath in log


def test_prepared_dataset_loads_without_its_videos(built):
    builder, _ = built
    again = VideoFolder(
        config=VideoFolderConfig(name="fruit_s24", video_dir="/does/not/exist", short_side=24),
        data_dir=builder.data_dir_root,
    )
    assert again.info.features["label"].names == list(CLASSES)
    assert again.info.splits["test"].num_examples == len(TEST)


def test_missing_folder_says_how_to_prepare(tmp_path):
    config = VideoFolderConfig(name="x", video_dir=str(tmp_path / "nope"))
    with pytest.raises(FileNotFoundError, match="does not exist") as error:
        VideoFolder(config=config, data_dir=str(tmp_path / "tfds"))
    assert "classInd.txt" in str(error.value)
    assert "synthetic_actions.render_dataset" in str(error.value)


def test_missing_lists_are_named(tmp_path):
    (tmp_path / "v").mkdir()
    (tmp_path / "v" / "classInd.txt").write_text("1 A\n")
    (tmp_path / "v" / "trainlist02.txt").write_text("A/a.avi 1\n")
    config = VideoFolderConfig(name="x", video_dir=str(tmp_path / "v"), split_index=2)
    # Only the missing file is named as missing, followed by the layout hint.
    with pytest.raises(FileNotFoundError, match=r"^testlist02.txt not found in "):
        VideoFolder(config=config, data_dir=str(tmp_path / "tfds"))


def dataset_config(**overrides):
    config = ml_collections.ConfigDict(
        dict(
            name="synthetic_actions",
            data_dir="",
            video_dir="",
            split_index=1,
            short_side=24,
            size=(),
            fps=0,
            flow_method="",
            flow_types=("flow",),
            num_train_per_class=1,
            num_test_per_class=1,
            seed=0,
        )
    )
    config.update(overrides)
    return config


def test_get_builder_rejects_unknown_names():
    with pytest.raises(
        ValueError, match="synthetic_actions, synthetic_actions_untrimmed, video_folder"
    ):
        datasets.get_builder(dataset_config(name="ucf"))


def test_get_builder_video_folder_needs_a_dir():
    with pytest.raises(ValueError, match="--config.dataset.video_dir"):
        datasets.get_builder(dataset_config(name="video_folder"))


def test_get_builder_video_folder(built, tmp_path):
    builder, _ = built
    video_dir = builder.builder_config.video_dir
    config = dataset_config(name="video_folder", video_dir=video_dir, data_dir=str(tmp_path))
    prepared = datasets.get_builder(config)
    name = prepared.builder_config.name
    assert name.startswith(os.path.basename(video_dir).replace("-", "_") + "_split1_s24_")
    assert prepared.info.splits["test"].num_examples == len(TEST)
    # A content setting changes the config name: a stale build is never reused.
    other = datasets._config_name_for_folder(video_dir, 1, "s32")
    assert other != name


def test_get_builder_synthetic_actions(tmp_path):
    builder = datasets.get_builder(dataset_config(data_dir=str(tmp_path)))
    version = synthetic_actions.RENDER_VERSION
    assert builder.builder_config.name == f"synthetic_actions_v{version}_s24_n1x1_seed0"
    assert builder.info.splits["train"].num_examples == 10
    assert builder.info.splits["test"].num_examples == 10
    videos = tmp_path / "synthetic_actions_videos" / "n1x1_seed0"
    assert os.path.isfile(videos / "classInd.txt")
    # Another render into the same data dir gets its own folder: the first one's videos
    # (which a build, predict or a notebook may read) are not replaced.
    before = sorted(p.name for p in videos.glob("*/*.mp4"))
    other = datasets.get_builder(dataset_config(data_dir=str(tmp_path), num_train_per_class=2))
    assert other.info.splits["train"].num_examples == 20
    assert sorted(p.name for p in videos.glob("*/*.mp4")) == before
    assert len(list((tmp_path / "synthetic_actions_videos" / "n2x1_seed0").glob("*/*.mp4"))) == 30
    # A second call reuses the build; it does not even need the videos.
    shutil.rmtree(tmp_path / "synthetic_actions_videos")
    again = datasets.get_builder(dataset_config(data_dir=str(tmp_path)))
    assert again.data_dir == builder.data_dir
    assert again.info.features["label"].names == list(synthetic_actions.CLASS_NAMES)
    assert not os.path.exists(tmp_path / "synthetic_actions_videos")


# ------------------------------------------------------------------------------- HMDB51


def make_hmdb51_folder(root, in_subdir):
    """Two classes in the HMDB51 layout; split 2 marks differently from split 1."""
    marks = {  # video -> (class, mark in split 1, mark in split 2)
        "brush_hair/a.avi": ("brush_hair", "1", "2"),
        "brush_hair/b.avi": ("brush_hair", "2", "1"),
        "brush_hair/c.avi": ("brush_hair", "0", "1"),
        "cartwheel/d.avi": ("cartwheel", "1", "1"),
        "cartwheel/e.avi": ("cartwheel", "2", "0"),
    }
    lists = root / "testTrainMulti_7030_splits" if in_subdir else root
    os.makedirs(lists, exist_ok=True)
    for name in ("brush_hair", "cartwheel"):
        os.makedirs(root / name)
    for relpath, (name, _, _) in marks.items():
        write_video(
            root / relpath, 3, "mpeg4", COLOURS["Apple" if name == "cartwheel" else "Banana"]
        )
    for split in (1, 2):
        for name in ("cartwheel", "brush_hair"):
            lines = [f"{p.split('/')[1]} {m[split]}" for p, m in marks.items() if m[0] == name]
            (lists / f"{name}_test_split{split}.txt").write_text(" \n".join(lines) + " \n")
    return root


@pytest.mark.parametrize("in_subdir", [True, False])
def test_hmdb51_split_files(tmp_path, in_subdir):
    root = make_hmdb51_folder(tmp_path / "hmdb", in_subdir)
    names, entries = annotations.read_hmdb51_splits(str(root), 1)
    assert names == ["brush_hair", "cartwheel"]  # sorted, whatever the listing order
    as_pairs = {k: [(e.relpath, e.label) for e in v] for k, v in entries.items()}
    assert as_pairs == {
        "train": [("brush_hair/a.avi", 0), ("cartwheel/d.avi", 1)],
        "test": [("brush_hair/b.avi", 0), ("cartwheel/e.avi", 1)],
    }
    _, split2 = annotations.read_hmdb51_splits(str(root), 2)
    assert [e.relpath for e in split2["train"]] == [
        "brush_hair/b.avi", "brush_hair/c.avi", "cartwheel/d.avi"
    ]  # fmt: skip
    with pytest.raises(FileNotFoundError, match="_test_split3.txt"):
        annotations.read_hmdb51_splits(str(root), 3)


def test_get_builder_hmdb51(tmp_path):
    root = make_hmdb51_folder(tmp_path / "hmdb", in_subdir=True)
    config = dataset_config(
        name="hmdb51", video_dir=str(root), data_dir=str(tmp_path / "tfds"), split_index=2
    )
    builder = datasets.get_builder(config)
    assert builder.builder_config.name.startswith("hmdb51_hmdb_split2_")
    assert builder.info.features["label"].names == ["brush_hair", "cartwheel"]
    train = read_split(builder, "train")
    assert sorted(train) == ["brush_hair/b.avi", "brush_hair/c.avi", "cartwheel/d.avi"]
    assert [int(train[k]["label"]) for k in sorted(train)] == [0, 0, 1]
    assert sorted(read_split(builder, "test")) == ["brush_hair/a.avi"]


def write_moving_video(path, num_frames, fps=10, width=64, height=48):
    """A textured square moving right by 2 px a frame over a gray background."""
    rng = np.random.default_rng(0)
    texture = rng.integers(0, 256, (16, 16, 3), np.uint8)
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for t in range(num_frames):
            frame = np.full((height, width, 3), 128, np.uint8)
            frame[16:32, 8 + 2 * t : 24 + 2 * t] = texture
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def test_get_builder_kinetics_with_flow_fixed_size_and_fps(tmp_path):
    root = tmp_path / "kinetics"
    (root / "train" / "abseiling").mkdir(parents=True)
    (root / "val").mkdir()
    write_moving_video(root / "train" / "abseiling" / "aaa_000000_000010.mp4", 12)
    write_moving_video(root / "val" / "bbb_000005_000015.mp4", 8)
    header = "label,youtube_id,time_start,time_end,split\n"
    # ccc was never downloaded: it must be reported, not end the build.
    (root / "train.csv").write_text(header + "abseiling,aaa,0,10,train\nabseiling,ccc,0,10,train\n")
    (root / "validate.csv").write_text(header + "abseiling,bbb,5,15,val\n")
    config = dataset_config(
        name="kinetics",
        video_dir=str(root),
        data_dir=str(tmp_path / "tfds"),
        size=(24, 40),
        fps=5,
        flow_method="farneback",
        flow_types=("flow", "warp"),
    )
    builder = datasets.get_builder(config)
    assert "_24x40_fps5_farneback_flow_warp_" in builder.builder_config.name
    assert set(builder.info.splits) == {"train", "validation"}
    assert builder.skipped_videos["train"] == [
        ("train/ccc_000000_000010.mp4", f"file does not exist: {root}/train/ccc_000000_000010.mp4")
    ]
    skip = {
        k: tfds.decode.SkipDecoding() for k in ("video", "flow_x", "flow_y", "warp_x", "warp_y")
    }
    (example,) = tfds.as_numpy(builder.as_dataset("train", decoders=skip))
    # 12 frames at 10 fps subsampled to 5 fps: frames 0, 2, ..., 10.
    assert example["num_frames"] == 6 and len(example["video"]) == 6
    assert example["fps"] == 5.0
    assert tf.io.decode_jpeg(example["video"][0]).shape == (24, 40, 3)
    for key in ("flow_x", "flow_y", "warp_x", "warp_y"):
        assert len(example[key]) == 5
        assert tf.io.decode_jpeg(example[key][0]).shape == (24, 40, 1)
    # The square moves right (4 px a kept frame, 2.5 px at this width): flow_x above
    # the zero level 127.5 where it is, about zero elsewhere.
    flow_x = tf.io.decode_jpeg(example["flow_x"][2]).numpy()[..., 0].astype(float)
    assert flow_x[9:18, 8:22].mean() > 135
    assert abs(flow_x[:, -8:].mean() - 127.5) < 3


def write_rawframes(root, folder, num_frames, value, size=(24, 32)):
    """One mmaction2 raw-frame folder: img_ frames of `value`, flow planes 100 (x) / 200 (y)."""
    path = root / "rawframes" / folder
    path.mkdir(parents=True)
    for i in range(1, num_frames + 1):
        Image.fromarray(np.full(size + (3,), value, np.uint8)).save(path / f"img_{i:05d}.jpg")
        if i < num_frames:
            Image.fromarray(np.full(size, 100, np.uint8)).save(path / f"flow_x_{i:05d}.jpg")
            Image.fromarray(np.full(size, 200, np.uint8)).save(path / f"flow_y_{i:05d}.jpg")


@pytest.mark.parametrize("short_side", [None, 12])
def test_get_builder_rawframes_with_stored_flow(tmp_path, short_side):
    write_rawframes(tmp_path, "Apple/v_1", 5, 40)
    write_rawframes(tmp_path, "Banana/v_2", 12, 220)
    write_rawframes(tmp_path, "Apple/v_3", 3, 90)
    (tmp_path / "rawframes" / "Banana" / "v_empty").mkdir()
    # mmaction2's names; lists of split 2 and a label map next to them.
    (tmp_path / "ucf_train_split_1_rawframes.txt").write_text(
        "Apple/v_1 5 0\nBanana/v_2 12 1\nBanana/v_empty 7 1\n"
    )
    (tmp_path / "ucf_val_split_1_rawframes.txt").write_text("Apple/v_3 3 0\n")
    (tmp_path / "ucf_train_split_2_rawframes.txt").write_text("Apple/v_3 3 0\n")
    (tmp_path / "label_map.txt").write_text("Apple\nBanana\n")
    config = dataset_config(
        name="rawframes",
        video_dir=str(tmp_path / "rawframes"),
        data_dir=str(tmp_path / "tfds"),
        short_side=short_side,
        flow_method="stored",
    )
    builder = datasets.get_builder(config)
    assert builder.info.features["label"].names == ["Apple", "Banana"]
    assert set(builder.info.splits) == {"train", "validation"}
    assert [p for p, _ in builder.skipped_videos["train"]] == ["Banana/v_empty"]
    skip = {k: tfds.decode.SkipDecoding() for k in ("video", "flow_x", "flow_y")}
    train = {
        ex["video_id"].decode(): ex
        for ex in tfds.as_numpy(builder.as_dataset("train", decoders=skip))
    }
    assert sorted(train) == ["Apple/v_1", "Banana/v_2"]
    banana = train["Banana/v_2"]
    assert (banana["label"], banana["num_frames"], len(banana["flow_x"])) == (1, 12, 11)
    frame = tf.io.decode_jpeg(banana["video"][0]).numpy()
    assert frame.shape == ((12, 16, 3) if short_side else (24, 32, 3))
    assert abs(frame.mean() - 220) < 3
    source = tmp_path / "rawframes" / "Banana" / "v_2" / "img_00001.jpg"
    # Already at the stored size: the very bytes of the file, not re-encoded.
    assert (banana["video"][0] == source.read_bytes()) == (short_side is None)
    x = tf.io.decode_jpeg(banana["flow_x"][3]).numpy()
    y = tf.io.decode_jpeg(banana["flow_y"][3]).numpy()
    assert x.shape[-1] == 1 and abs(x.mean() - 100) < 3 and abs(y.mean() - 200) < 3


def test_rawframes_lists_missing(tmp_path):
    (tmp_path / "frames").mkdir()
    # Its own data_dir: the build lock is taken before the lists are read, and the default
    # (~/tensorflow_datasets) would keep one lock file per test run.
    config = dataset_config(
        name="rawframes", video_dir=str(tmp_path / "frames"), data_dir=str(tmp_path / "tfds")
    )
    with pytest.raises(FileNotFoundError, match="rawframes.txt"):
        datasets.get_builder(config)


def test_get_builder_something_something_webm(tmp_path):
    root = tmp_path / "ssv2"
    videos = root / "20bn-something-something-v2"
    videos.mkdir(parents=True)
    for video_id, rgb, codec in (
        ("11", (200, 30, 30), "libvpx-vp9"),
        ("12", (30, 30, 200), "libvpx"),
    ):
        with av.open(str(videos / f"{video_id}.webm"), mode="w") as container:
            stream = container.add_stream(codec, rate=12)
            stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
            frame = np.broadcast_to(np.array(rgb, np.uint8), (48, 64, 3)).copy()
            for _ in range(6):
                for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                    container.mux(packet)
            for packet in stream.encode():
                container.mux(packet)
    labels = {"Holding something": "0", "Pushing something from left to right": "1"}
    (root / "something-something-v2-labels.json").write_text(json.dumps(labels))
    train = [{"id": "11", "template": "Pushing [something] from left to right"}]
    (root / "something-something-v2-train.json").write_text(json.dumps(train))
    validation = [{"id": "12", "template": "Holding [something]"}]
    (root / "something-something-v2-validation.json").write_text(json.dumps(validation))
    config = dataset_config(name="sthsth", video_dir=str(root), data_dir=str(tmp_path / "tfds"))
    builder = datasets.get_builder(config)
    assert builder.info.features["label"].names == list(labels)
    (example,) = read_split(builder, "train").values()
    assert (example["label"], example["num_frames"]) == (1, 6)
    assert example["video_id"] == b"20bn-something-something-v2/11.webm"
    frame = tf.io.decode_jpeg(example["video"][0]).numpy()
    assert frame.shape == (24, 32, 3) and frame[..., 0].mean() > 170
    (example,) = read_split(builder, "validation").values()
    assert example["label"] == 0
