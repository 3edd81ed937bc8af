"""tsn-jax-extract-flow writes mmaction2 raw frames; progress.py formats its progress line."""

import logging as std_logging
import os
import subprocess
import sys

import av
import cv2
import numpy as np
import pytest
from absl import app, flags
from absl.testing import flagsaver

from input_pipeline.datasets import frame_folder
from tsn_jax import progress

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HEIGHT, WIDTH, NUM_FRAMES = 48, 64, 8
GOOD = ("classA/v_one.mp4", "v_two.mp4")


@pytest.fixture(scope="module")
def tool():
    from tsn_jax.cli import extract_flow

    return extract_flow


def write_panning_video(path, seed):
    """NUM_FRAMES frames of HEIGHT x WIDTH noise panning 1 px left per frame (H.264)."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (HEIGHT // 4, (WIDTH + NUM_FRAMES) // 4, 3), dtype=np.uint8)
    # Upsampled noise: blobs of ~4 px that survive compression and that flow can track.
    scene = cv2.resize(small, (WIDTH + NUM_FRAMES, HEIGHT), interpolation=cv2.INTER_CUBIC)
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=12)
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        for t in range(NUM_FRAMES):
            frame = np.ascontiguousarray(scene[:, t : t + WIDTH])
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())


@pytest.fixture(scope="module")
def video_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("videos")
    for seed, relpath in enumerate(GOOD):
        (root / relpath).parent.mkdir(parents=True, exist_ok=True)
        write_panning_video(root / relpath, seed)
    (root / "bad.mp4").write_bytes(np.random.default_rng(9).bytes(4096))
    (root / "notes.txt").write_text("not a video")
    return root


def run_main(tool, **flag_values):
    """The tool's main() in this process, with these flags given as on a command line.

    Only these flags are parsed (and validated): a full FLAGS(argv) would also
    enforce flags that other modules imported by the test session mark required.
    """
    if not flags.FLAGS.is_parsed():
        flags.FLAGS.mark_as_parsed()  # pytest parses no absl command line; defaults stand
    with flagsaver.as_parsed(**flag_values):
        return tool.main(["extract_flow"])


def folder_files(folder):
    return sorted(name for name in os.listdir(folder))


def check_output(folder, kinds=("flow",), height=HEIGHT, width=WIDTH):
    names = folder_files(folder)
    assert names.count(".done") == 1
    assert open(os.path.join(folder, ".done")).read().strip() == str(NUM_FRAMES)
    images = [n for n in names if n.startswith("img_")]
    assert images == [f"img_{t:05d}.jpg" for t in range(1, NUM_FRAMES + 1)]
    assert cv2.imread(os.path.join(folder, images[0])).shape == (height, width, 3)
    for kind in kinds:
        for axis in "xy":
            planes = [n for n in names if n.startswith(f"{kind}_{axis}_")]
            assert planes == [f"{kind}_{axis}_{t:05d}.jpg" for t in range(1, NUM_FRAMES)]
            plane = cv2.imread(os.path.join(folder, planes[0]), cv2.IMREAD_UNCHANGED)
            assert plane.shape == (height, width) and plane.dtype == np.uint8
    assert len(names) == 1 + NUM_FRAMES + 2 * len(kinds) * (NUM_FRAMES - 1)


def test_extracts_frames_and_flow_skips_bad_and_done(tool, video_dir, tmp_path):
    out = tmp_path / "out"
    flag_values = dict(video_dir=str(video_dir), out_dir=str(out), method="dis", num_workers="1")
    assert run_main(tool, **flag_values) == 0
    for relpath in GOOD:
        check_output(frame_folder.output_folder(str(out), relpath))
    assert not (out / "bad").exists()  # nothing left of the unreadable video
    # The pan (1 px left per frame) is in the planes: x at quantize(-1) = 121, y at 128.
    x = cv2.imread(str(out / "v_two" / "flow_x_00003.jpg"), cv2.IMREAD_UNCHANGED)
    y = cv2.imread(str(out / "v_two" / "flow_y_00003.jpg"), cv2.IMREAD_UNCHANGED)
    assert abs(x[8:-8, 8:-8].mean() - 121) < 2 and abs(y[8:-8, 8:-8].mean() - 128) < 2

    done = out / "v_two" / ".done"
    mtime = done.stat().st_mtime_ns
    options = frame_folder.Options(video_dir=str(video_dir), out_dir=str(out), method="dis")
    summary = frame_folder.extract_all(frame_folder.find_videos(str(video_dir)), options)
    assert (summary.extracted, summary.skipped) == (0, 2)
    assert [relpath for relpath, _ in summary.failed] == ["bad.mp4"]
    assert "media file" in summary.failed[0][1]
    assert done.stat().st_mtime_ns == mtime


def test_half_written_folder_is_redone(tool, video_dir, tmp_path):
    folder = tmp_path / "v_two"
    folder.mkdir()
    (folder / "img_00099.jpg").write_bytes(b"stale")
    (folder / "flow_x_00042.jpg").write_bytes(b"stale")
    options = frame_folder.Options(
        video_dir=str(video_dir), out_dir=str(tmp_path), method="farneback"
    )
    summary = frame_folder.extract_all(["v_two.mp4"], options)
    assert (summary.extracted, summary.skipped, summary.failed) == (1, 0, [])
    check_output(str(folder))


def test_list_size_and_warped_flow(tool, video_dir, tmp_path):
    split = tmp_path / "trainlist01.txt"
    split.write_text("v_two.mp4 2\n\nclassA/v_one.mp4 1 extra\n")
    out = tmp_path / "out"
    flag_values = dict(
        video_dir=str(video_dir),
        out_dir=str(out),
        list=str(split),
        method="farneback",
        flow_types="flow,warp",
        size="40,56",
        num_workers="1",
    )
    assert run_main(tool, **flag_values) == 0
    assert sorted(os.listdir(out)) == ["classA", "v_two"]
    for relpath in GOOD:
        check_output(frame_folder.output_folder(str(out), relpath), ("flow", "warp"), 40, 56)
    # The pan is camera motion: the warped flow removes it, the flow keeps it.
    x = cv2.imread(str(out / "v_two" / "flow_x_00003.jpg"), cv2.IMREAD_UNCHANGED)
    warp_x = cv2.imread(str(out / "v_two" / "warp_x_00003.jpg"), cv2.IMREAD_UNCHANGED)
    assert abs(warp_x[8:-8, 8:-8].mean() - 127.5) < 1 < abs(x[8:-8, 8:-8].mean() - 127.5)


def test_exit_status_is_1_when_every_video_fails(tool, video_dir, tmp_path):
    split = tmp_path / "list.txt"
    split.write_text("bad.mp4\nmissing.avi\n")
    flag_values = dict(video_dir=str(video_dir), out_dir=str(tmp_path / "out"), list=str(split))
    assert run_main(tool, **flag_values, method="dis", num_workers="1") == 1


def test_paths_that_would_write_outside_out_dir_or_collide_are_refused(tool, tmp_path):
    options = frame_folder.Options(video_dir=str(tmp_path), out_dir=str(tmp_path / "out"))
    with pytest.raises(ValueError, match="same folder"):
        frame_folder.extract_all(["a/x.mp4", "a/x.avi"], options)
    for relpath in ("/data/x.mp4", "../x.mp4", "a/../../x.mp4"):
        with pytest.raises(ValueError, match="relative"):
            frame_folder.extract_all([relpath], options)


def test_bad_flag_combinations_are_usage_errors(tool, video_dir, tmp_path):
    common = dict(video_dir=str(video_dir), out_dir=str(tmp_path))
    with pytest.raises(app.UsageError, match="not both"):
        run_main(tool, **common, size="256,340", short_side="256")
    with pytest.raises(app.UsageError, match="HEIGHT,WIDTH"):
        run_main(tool, **common, size="340")
    with pytest.raises(flags.IllegalFlagValueError, match="flow_types"):
        run_main(tool, **common, flow_types="flow,optical")
    assert not os.listdir(tmp_path)


def test_tvl1_without_contrib_is_refused_before_any_video(tool, video_dir, tmp_path, monkeypatch):
    monkeypatch.delattr(cv2, "optflow", raising=False)
    with pytest.raises(app.UsageError, match="opencv-contrib-python-headless"):
        run_main(tool, video_dir=str(video_dir), out_dir=str(tmp_path), method="tvl1")
    assert not os.listdir(tmp_path)


def test_parse_size_reads_height_then_width_as_the_configs(tool):
    assert tool.parse_size("256,340") == (256, 340)
    for bad in ("340", "340,", "0,256", "a,b"):
        with pytest.raises(ValueError, match="size"):
            tool.parse_size(bad)
    with pytest.raises(ValueError, match="TSN's 340x256 frames: 256,340"):
        tool.parse_size("340x256")


def test_find_videos_and_read_list(video_dir, tmp_path):
    assert frame_folder.find_videos(str(video_dir)) == ["bad.mp4", "classA/v_one.mp4", "v_two.mp4"]
    split = tmp_path / "list.txt"
    split.write_text("b.avi 3\na.avi\n\nb.avi 3\n")
    assert frame_folder.read_list(str(split)) == ["b.avi", "a.avi"]


@pytest.mark.slow
def test_spawned_workers(video_dir, tmp_path):
    out = tmp_path / "out"
    command = [sys.executable, "-m", "tsn_jax.cli.extract_flow", f"--video_dir={video_dir}"]
    command += [f"--out_dir={out}"]
    command += ["--method=dis", "--num_workers=2", "--log_every_s=0"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert "extracted 2, already done 0, failed 1 of 3 videos" in result.stderr
    assert "3/3 videos" in result.stderr
    for relpath in GOOD:
        folder = out / os.path.splitext(relpath)[0]
        assert (folder / ".done").read_text().strip() == str(NUM_FRAMES)


def test_format_progress():
    assert progress.format_progress(37, 400, 14.8) == "37/400 videos, 2.5 videos/s, ETA 0:02:25"
    assert progress.format_progress(0, 10, 5.0, "clips") == "0/10 clips, 0 clips/s, ETA ?"
    assert progress.format_progress(1, 1000, 10.0) == "1/1000 videos, 0.1 videos/s, ETA 2:46:30"
    assert progress.format_progress(5, 5, 2.0) == "5/5 videos, 2.5 videos/s, ETA 0:00:00"


def test_progress_logs_every_interval_and_at_the_end():
    now = [100.0]
    bar = progress.Progress(4, log_every_s=10.0, clock=lambda: now[0])
    now[0] = 105.0
    assert bar.update() is None  # 5 s since the start: too soon
    now[0] = 112.0
    assert bar.update() == "2/4 videos, 0.167 videos/s, ETA 0:00:12"
    now[0] = 113.0
    assert bar.update() is None
    now[0] = 120.0
    assert bar.update() == "4/4 videos, 0.2 videos/s, ETA 0:00:00"  # the last one always logs
    assert bar.summary() == "4 videos in 0:00:20 (0.2 videos/s)"


def test_training_progress_leaves_compilation_and_evaluations_out_of_the_rate():
    now = [0.0]
    report = progress.StepProgress(750, first_step=1, clock=lambda: now[0])
    now[0] = 30.0  # 50 steps, the first one compiling for most of it
    assert report.steps_per_second(50) is None
    assert report.line(50) == "step 50/750 (6.7%), first 50 steps in 0:00:30 (with compilation)"
    now[0] = 40.0
    with report.paused():  # an evaluation
        now[0] = 100.0
    now[0] = 110.0  # 50 more steps in 20 s of training
    assert report.steps_per_second(100) == 2.5
    assert report.line(100) == "step 100/750 (13.3%), 2.5 steps/s, ETA 0:04:20"
    resumed = progress.StepProgress(750, first_step=701, clock=lambda: now[0])
    assert resumed.line(701) == "step 701/750 (93.5%), first 1 step in 0:00:00 (with compilation)"


def test_each_video_logs_its_frame_pairs_against_the_declared_count(video_dir, tmp_path, caplog):
    options = frame_folder.Options(video_dir=str(video_dir), out_dir=str(tmp_path), method="dis")
    # absl's logger has its own level, which another test in this process may have raised.
    with caplog.at_level(std_logging.INFO, logger="absl"):
        frames = frame_folder.extract_video("classA/v_one.mp4", options, log_every_s=0)
    assert frames == NUM_FRAMES
    lines = [r.getMessage() for r in caplog.records if "frame pairs" in r.getMessage()]
    pairs = NUM_FRAMES - 1
    assert len(lines) == pairs
    assert lines[0].startswith(f"classA/v_one.mp4: 1/{pairs} frame pairs, ")
    assert lines[-1].startswith(f"classA/v_one.mp4: {pairs}/{pairs} frame pairs, ")
    assert lines[-1].endswith("ETA 0:00:00")


def test_a_progress_line_without_a_known_total_has_no_eta():
    line = progress.format_progress(12, None, 4.0, "frame pairs", label="a.mp4")
    assert line == "a.mp4: 12 frame pairs, 3 frame pairs/s"
