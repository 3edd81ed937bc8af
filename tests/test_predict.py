"""tsn-jax-predict: any video file through a run's test protocol, the per-second timeline."""

import json
import math
import os
import subprocess
import sys

import jax
import numpy as np
import orbax.checkpoint as ocp
import pytest

from tests.helpers import ROOT, demo_videos, tiny_config
from tsn_jax import annotation
from tsn_jax.cli import predict
from tsn_jax.models import create_model

pytestmark = pytest.mark.slow  # end-to-end runs: `pytest -m 'not slow'` skips them

CLASSES = [f"class_{i}" for i in range(10)]


@pytest.fixture
def tsn_run(tiny_data_dir, tmp_path):
    """A plain TSN run (random weights): config.json, class_names.json, a checkpoint."""
    config = tiny_config(tiny_data_dir)
    config.model.backbone_options = {}
    config.eval.crops = "three"
    workdir = tmp_path / "run"
    workdir.mkdir()
    (workdir / "config.json").write_text(config.to_json_best_effort())
    (workdir / "class_names.json").write_text(json.dumps(CLASSES))
    model = create_model(config.model, len(CLASSES), config.data.num_segments)
    variables = model.init(jax.random.key(0), np.zeros((1, 3, 1, 32, 32, 3)), train=False)
    with ocp.StandardCheckpointer() as checkpointer:
        checkpointer.save(str(tmp_path / "weights"), variables)
    return workdir, str(tmp_path / "weights"), model, variables


def test_predict_prints_the_top_classes_and_plots_a_timeline(tsn_run, tiny_data_dir, tmp_path):
    workdir, weights, model, variables = tsn_run
    videos = demo_videos(tiny_data_dir)
    video = os.path.join(videos, "Grow", "v_Grow_test_000.mp4")
    timeline = str(tmp_path / "timeline.png")
    annotated = str(tmp_path / "annotated.mp4")
    [result] = predict.predict_files(
        [video], workdir=str(workdir), checkpoint=weights, timeline=timeline, annotate=annotated
    )
    # 3 views (three crops) of 3 segments, their logits averaged.
    assert result["view_logits"].shape == (3, 10)
    np.testing.assert_allclose(result["scores"], result["view_logits"].mean(0), rtol=1e-6)
    probs = np.exp(result["scores"]) / np.exp(result["scores"]).sum()
    names = [name for name, _ in result["top"]]
    assert names == [CLASSES[i] for i in np.argsort(-probs)[:5]]
    np.testing.assert_allclose([p for _, p in result["top"]], np.sort(probs)[::-1][:5], rtol=1e-5)
    # One snippet a second (the centre crop) over the whole video, a distribution each.
    from input_pipeline.datasets.video_decode import VideoReader

    with VideoReader(video, 40) as reader:
        frames, fps = list(reader), reader.fps
    seconds = math.ceil(len(frames) / fps)
    assert result["per_second"].shape == (seconds, 10)
    np.testing.assert_allclose(result["per_second"].sum(-1), 1.0, rtol=1e-5)
    assert os.path.getsize(timeline) > 1000
    # The annotated video: every frame, enlarged so that the captions fit, a black band
    # with the second and its top classes at the top.
    with VideoReader(annotated, None) as reader:
        annotated_frames = list(reader)
    assert len(annotated_frames) == len(frames)
    height, width = annotated_frames[0].shape[:2]
    assert width >= annotation.MIN_WIDTH and width % 2 == 0 and height % 2 == 0
    assert annotated_frames[0][:40, :].mean() < annotated_frames[0][60:, :].mean()


def test_an_unreadable_file_is_reported_and_the_others_scored(tsn_run, tmp_path, tiny_data_dir):
    workdir, weights, _, _ = tsn_run
    bad = tmp_path / "clip.mp4"
    bad.write_bytes(b"not a video")
    good = os.path.join(demo_videos(tiny_data_dir), "Grow", "v_Grow_test_000.mp4")
    for output in (str(tmp_path / "out.json"), str(tmp_path / "out.csv")):
        results = predict.predict_files(
            [str(bad), good], workdir=str(workdir), checkpoint=weights, top=2, output=output
        )
        # The unreadable file is reported and the next one is still scored.
        assert results[0]["path"] == str(bad) and "cannot read" in results[0]["error"]
        assert "clip.mp4" in results[0]["error"] and len(results[1]["top"]) == 2
    rows = json.loads(open(tmp_path / "out.json").read())
    assert rows[0] == {"path": str(bad), "top": [], "error": results[0]["error"]}
    assert [entry["class"] for entry in rows[1]["top"]] == [n for n, _ in results[1]["top"]]
    lines = open(tmp_path / "out.csv").read().splitlines()
    assert lines[0] == "path,rank,class,probability,error" and len(lines) == 4
    # The program's exit status says that a file could not be read.
    command = [sys.executable, "-m", "tsn_jax.cli.predict", str(bad), good]
    command += [f"--workdir={workdir}", f"--checkpoint={weights}"]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 1, result.stderr[-2000:]
    assert result.stderr.strip().splitlines()[-1] == (
        f"error: 1 of 2 files could not be read: ['{bad}']"
    )
    assert f"{good}: 3 views" in result.stdout
    with pytest.raises(FileNotFoundError, match="config.json"):
        predict.predict_files([str(bad)], workdir=str(tmp_path / "nowhere"))


def test_sliding_windows_centre_k_snippets_on_each_second():
    from tsn_jax.inference import sliding_windows

    snippets = np.arange(5)[:, None, None] * np.ones((5, 1, 2))  # second s holds value s
    windows = sliding_windows(snippets, 3)
    assert windows.shape == (5, 3, 2)
    np.testing.assert_array_equal(
        windows[:, :, 0], [[0, 0, 1], [0, 1, 2], [1, 2, 3], [2, 3, 4], [3, 4, 4]]
    )
    np.testing.assert_array_equal(sliding_windows(snippets, 4)[0, :, 0], [0, 0, 0, 1])


def test_each_frame_carries_the_captions_of_its_second(tmp_path):
    probs = np.array([[0.1, 0.7, 0.2], [0.5, 0.2, 0.3]])
    assert annotation.captions(probs[0], ("a", "b", "c"), 2) == ["b 70.0%", "c 20.0%"]
    frames = [np.full((8, 10, 3), 200, np.uint8)] * 5
    out = list(annotation.annotate(frames, 2.0, probs, ("a", "b", "c"), top=1))
    # 10 px wide -> enlarged 48x to 480; 2 fps: frames 0-1 are second 0, 2-3 second 1,
    # and frame 4, past the scored seconds, shows the last one.
    assert [frame.shape for frame in out] == [(384, 480, 3)] * 5
    assert np.array_equal(out[0], out[1]) and np.array_equal(out[2], out[3])
    assert np.array_equal(out[3], out[4]) and not np.array_equal(out[1], out[2])
    assert (out[0][200:] == 200).all()  # below the caption band the frame is untouched
    assert annotation.write_video(str(tmp_path / "a.gif"), out, 2.0) == 5
    assert annotation.write_video(str(tmp_path / "a.mp4"), out, 2.0) == 5
