"""Tests for input_pipeline.datasets.annotations: the split lists of each dataset format."""

import json

import pytest

from input_pipeline.datasets import annotations


def pairs(entries):
    return {split: [(e.relpath, e.label) for e in items] for split, items in entries.items()}


def write_kinetics(root, csv_dir, test_labelled):
    csv_dir.mkdir(parents=True, exist_ok=True)
    header = "label,youtube_id,time_start,time_end,split\n"
    (csv_dir / "train.csv").write_text(
        header
        + "riding a bike,abc,10,20,train\n"
        + "abseiling,def,0,10,train\n"
        + '"dancing, ballet",ghi,1.0,11.0,train\n'  # a quoted label with a comma
    )
    (csv_dir / "validate.csv").write_text(header + "abseiling,xyz,30,40,val\n")
    if test_labelled:
        (csv_dir / "test.csv").write_text(header + "riding a bike,tst,5,15,test\n")
    else:
        (csv_dir / "test.csv").write_text("youtube_id,time_start,time_end,split\ntst,5,15,test\n")
    # Clips as the downloaders leave them: class folders with .mp4, or flat with .mkv.
    (root / "train" / "riding a bike").mkdir(parents=True)
    (root / "train" / "riding a bike" / "abc_000010_000020.mp4").write_bytes(b"x")
    (root / "train" / "ghi_000001_000011.mkv").write_bytes(b"x")
    (root / "val").mkdir()
    (root / "val" / "xyz_000030_000040.mp4").write_bytes(b"x")


@pytest.mark.parametrize("in_annotations, test_labelled", [(True, False), (False, True)])
def test_kinetics_csv(tmp_path, in_annotations, test_labelled):
    csv_dir = tmp_path / "annotations" if in_annotations else tmp_path
    write_kinetics(tmp_path, csv_dir, test_labelled)
    names, entries = annotations.read_layout(str(tmp_path), 1, "kinetics")
    assert names == ["abseiling", "dancing, ballet", "riding a bike"]
    expected = {
        "train": [
            ("train/riding a bike/abc_000010_000020.mp4", 2),
            # Listed but not downloaded: kept under a nominal path, reported at build time.
            ("train/def_000000_000010.mp4", 0),
            ("train/ghi_000001_000011.mkv", 1),
        ],
        "validation": [("val/xyz_000030_000040.mp4", 0)],
    }
    if test_labelled:
        expected["test"] = [("test/tst_000005_000015.mp4", 2)]
    assert pairs(entries) == expected


def test_kinetics_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="train.csv"):
        annotations.read_layout(str(tmp_path), 1, "kinetics")
    write_kinetics(tmp_path, tmp_path, test_labelled=True)
    (tmp_path / "validate.csv").write_text(
        "label,youtube_id,time_start,time_end,split\nflying,q,0,10,val\n"
    )
    with pytest.raises(ValueError, match="'flying' is not a known class"):
        annotations.read_layout(str(tmp_path), 1, "kinetics")
    (tmp_path / "validate.csv").write_text("label,youtube_id\nabseiling,q\n")
    with pytest.raises(ValueError, match="missing column"):
        annotations.read_layout(str(tmp_path), 1, "kinetics")
    with pytest.raises(ValueError, match="one split"):
        annotations.read_layout(str(tmp_path), 2, "kinetics")


def test_something_something_json(tmp_path):
    labels = {"Pushing something from left to right": "1", "Holding something": "0"}
    (tmp_path / "labels").mkdir()
    (tmp_path / "labels" / "labels.json").write_text(json.dumps(labels))
    train = [
        {
            "id": "12",
            "label": "pushing a cup",
            "template": "Pushing [something] from left to right",
        },
        {"id": "7", "label": "holding pen", "template": "Holding [something]"},
    ]
    (tmp_path / "labels" / "train.json").write_text(json.dumps(train))
    validation = [{"id": "3", "template": "Holding [something]", "placeholders": ["x"]}]
    (tmp_path / "labels" / "validation.json").write_text(json.dumps(validation))
    videos = tmp_path / "20bn-something-something-v2"
    videos.mkdir()
    for video_id in ("12", "7", "3"):
        (videos / f"{video_id}.webm").write_bytes(b"x")
    names, entries = annotations.read_layout(str(tmp_path), 1, "sthsth")
    assert names == ["Holding something", "Pushing something from left to right"]
    assert pairs(entries) == {
        "train": [
            ("20bn-something-something-v2/12.webm", 1),
            ("20bn-something-something-v2/7.webm", 0),
        ],
        "validation": [("20bn-something-something-v2/3.webm", 0)],
    }
    (tmp_path / "labels" / "validation.json").write_text(json.dumps([{"id": "3"}]))
    with pytest.raises(ValueError, match="'id' and 'template'"):
        annotations.read_layout(str(tmp_path), 1, "sthsth")


def test_unknown_format():
    with pytest.raises(ValueError, match="ucf101, hmdb51, kinetics, sthsth|list_format"):
        annotations.read_layout("/nowhere", 1, "youtube8m")
