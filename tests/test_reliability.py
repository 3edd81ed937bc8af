"""What a bad video, bad setting, diverged run or damaged checkpoint does to a user's run.

Each test reproduces one failure a hard user met (issue: Reliability) and checks what
the user now sees: the exact line, what was kept, what was never written.
"""

import glob
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time

import av
import ml_collections
import numpy as np
import pytest

from configs import default
from input_pipeline import datasets
from input_pipeline.datasets.video_decode import VideoDecodeError, VideoReader
from tests.helpers import ROOT, save_run, tiny_config
from tsn_jax import checkpoints, file_lock, reports, runner
from tsn_jax.config_checks import config_warnings, frame_count_warning, validate_config
from tsn_jax.errors import CheckpointError, ConfigError, TrainingDiverged, WorkdirInUse


def _write(path, frames, fps=10, codec="libx264", container_format=None):
    """Writes [T, H, W, 3] uint8 frames; every frame must have the stream's size."""
    with av.open(str(path), mode="w", format=container_format) as container:
        stream = container.add_stream(codec, rate=fps)
        stream.height, stream.width = frames.shape[1:3]
        stream.pix_fmt = "yuv420p"
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def _noise(num_frames, height, width, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (num_frames, height, width, 3), np.uint8)


def _size_switching_ts(path):
    """An MPEG-TS stream whose resolution changes part way: two streams back to back,
    64x48 then 96x96, as a broadcast recording that switches size."""
    first, second = path.with_suffix(".a.ts"), path.with_suffix(".b.ts")
    _write(first, _noise(6, 48, 64), codec="mpeg2video", container_format="mpegts")
    _write(second, _noise(6, 96, 96, 1), codec="mpeg2video", container_format="mpegts")
    path.write_bytes(first.read_bytes() + second.read_bytes())
    first.unlink()
    second.unlink()


def _truncated(path, container_format, codec, num_frames=60):
    """The first half of a `num_frames`-frame file, as a copy cut off mid-transfer."""
    whole = path.with_name("whole_" + path.name)
    _write(whole, _noise(num_frames, 48, 64), codec=codec, container_format=container_format)
    data = whole.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    whole.unlink()


# --- 1. Videos ---------------------------------------------------------------------------


def test_a_stream_that_changes_resolution_gives_frames_of_one_size(tmp_path):
    path = tmp_path / "switch.ts"
    _size_switching_ts(path)
    with VideoReader(str(path), 24) as video:
        frames = list(video)
    # 64x48 at short side 24 is 32x24; the 96x96 part is resized to it, not to 24x24.
    assert len(frames) > 6 and {f.shape for f in frames} == {(24, 32, 3)}
    assert len(video.notes) == 1
    assert "the resolution changes at frame" in video.notes[0]
    assert "to 96x96; resized to the first frames' 32x24" in video.notes[0]


@pytest.mark.parametrize(
    "name, container_format, codec",
    [("cut.mkv", "matroska", "libx264"), ("cut.avi", "avi", "mpeg4")],
)
def test_a_file_that_decodes_only_partly_is_noted_with_the_frames_kept(
    tmp_path, name, container_format, codec
):
    path = tmp_path / name
    _truncated(path, container_format, codec)
    with VideoReader(str(path), 24) as video:
        kept = len(list(video))
    assert 0 < kept < 60
    assert video.notes == [f"the file ends after {kept} frames of the 60 its container declares"]


def test_a_whole_file_has_no_note(tmp_path):
    path = tmp_path / "whole.mkv"
    _write(path, _noise(30, 48, 64), container_format="matroska")
    with VideoReader(str(path), 24) as video:
        assert len(list(video)) == 30
    assert video.notes == []


def test_a_directory_named_like_a_video_is_called_a_directory(tmp_path):
    (tmp_path / "clip.mp4").mkdir()
    with pytest.raises(VideoDecodeError, match="is a directory, not a video file"):
        VideoReader(str(tmp_path / "clip.mp4"), 24)


def _folder(root, extra_train=()):
    """A two-class UCF101-layout folder: 2 train and 1 test video per class, plus
    `extra_train` ((relative path, writer)) listed in the train list."""
    classes = ("Apple", "Banana")
    for name in classes:
        os.makedirs(root / name, exist_ok=True)
    train, test = [], []
    for i, name in enumerate(classes):
        for g in range(3):
            relpath = f"{name}/v_{name}_g{g:02d}.mp4"
            _write(root / relpath, _noise(8, 48, 64, seed=10 * i + g))
            (train if g < 2 else test).append(relpath)
    for relpath, write in extra_train:
        write(root / relpath)
        train.append(relpath)
    (root / "classInd.txt").write_text("1 Apple\n2 Banana\n")
    (root / "trainlist01.txt").write_text(
        "".join(f"{p} {classes.index(p.split('/')[0]) + 1}\n" for p in train)
    )
    (root / "testlist01.txt").write_text("".join(f"{p}\n" for p in test))
    return root


def _dataset_config(video_dir, data_dir):
    config = default.get_config().dataset
    config.name, config.video_dir, config.data_dir = "ucf101", str(video_dir), str(data_dir)
    config.short_side = 24
    return config


class _Log(logging.Handler):
    """Collects absl's warning lines while installed (a context manager)."""

    def __init__(self):
        super().__init__(logging.WARNING)
        self.lines = []

    def emit(self, record):
        self.lines.append(record.getMessage())

    def __enter__(self):
        logging.getLogger("absl").addHandler(self)
        return self

    def __exit__(self, *exc):
        logging.getLogger("absl").removeHandler(self)

    def text(self):
        return "\n".join(self.lines)


def test_the_build_stores_one_frame_size_and_reports_partly_decoded_videos(tmp_path):
    extra = (
        ("Apple/v_switch.ts", _size_switching_ts),
        ("Banana/v_cut.avi", lambda p: _truncated(p, "avi", "mpeg4")),
    )
    root = _folder(tmp_path / "videos", extra)
    with _Log() as log:
        builder = datasets.get_builder(_dataset_config(root, tmp_path / "tfds"))
    noted = dict(builder.noted_videos["train"])
    assert sorted(noted) == ["Apple/v_switch.ts", "Banana/v_cut.avi"]
    assert "resolution changes" in noted["Apple/v_switch.ts"]
    assert "of the 60 its container declares" in noted["Banana/v_cut.avi"]
    assert "train split: built with a note 2 of 6 videos: Apple/v_switch.ts (" in log.text()
    ds = builder.as_dataset("train")
    sizes = {tuple(ex["video"].shape[1:]) for ex in ds}
    # One size per video: stacking the decoded frames (tf.map_fn in the evaluation) works.
    assert sizes == {(24, 32, 3)}


def test_a_build_removes_what_an_interrupted_build_left(tmp_path):
    root = _folder(tmp_path / "videos")
    config = _dataset_config(root, tmp_path / "tfds")
    # Where TFDS writes a build before renaming it; a SIGKILL leaves it behind.
    name = datasets._config_name_for_folder(str(root), 1, "s24")
    leftover = tmp_path / "tfds" / "video_folder" / name / "incomplete.ABC123_1.0.0"
    leftover.mkdir(parents=True)
    (leftover / "video_folder-train.tfrecord-00000-of-00001").write_bytes(b"half")
    with _Log() as log:
        builder = datasets.get_builder(config)
    assert not leftover.exists()
    assert f"Removing {leftover}, left by an interrupted build" in log.text()
    assert builder.info.splits["train"].num_examples == 4


_BUILD = """
import sys
from configs import default
from input_pipeline import datasets
config = default.get_config().dataset
config.name, config.video_dir, config.data_dir = "ucf101", sys.argv[1], sys.argv[2]
config.short_side = 24
builder = datasets.get_builder(config)
print(builder.info.splits["train"].num_examples)
"""


@pytest.mark.slow
def test_two_processes_building_one_dataset_both_get_it(tmp_path):
    root = _folder(tmp_path / "videos")
    data_dir = tmp_path / "tfds"
    name = datasets._config_name_for_folder(str(root), 1, "s24")
    (data_dir / "video_folder").mkdir(parents=True)
    lock = str(data_dir / "video_folder" / f"{name}.lock")
    command = [sys.executable, "-c", _BUILD, str(root), str(data_dir)]
    # Both start while the build is held (as by a third build), so they meet at the lock.
    with file_lock.exclusive(lock, wait=False, what="the build"):
        runs = [
            subprocess.Popen(
                command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
            )
            for _ in range(2)
        ]
        deadline = time.monotonic() + 120
        while not all(_waits(run.pid, lock) for run in runs) and time.monotonic() < deadline:
            time.sleep(0.5)
        time.sleep(1.0)  # from opening the lock file to blocking on it
    outputs = [run.communicate(timeout=300) for run in runs]
    for run, (out, err) in zip(runs, outputs, strict=True):
        assert run.returncode == 0, err[-2000:]
        assert out.strip().splitlines()[-1] == "4"
        assert f"Waiting for host {os.uname().nodename} pid {os.getpid()}" in err
    assert not glob.glob(str(data_dir / "video_folder" / "*" / "incomplete.*"))


def _waits(pid: int, lock: str) -> bool:
    """Whether process `pid` has the lock file open (it is then blocked in flock)."""
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except FileNotFoundError:
        return False
    for fd in fds:
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}") == lock:
                return True
        except OSError:
            continue
    return False


# --- 2. Diverged runs ---------------------------------------------------------------------


def test_json_files_are_strict_json_with_null_for_non_finite_numbers(tmp_path):
    path = str(tmp_path / "metrics.json")
    reports.write_json(path, {"loss": float("nan"), "top1": np.float32(0.5), "x": [np.inf, 1]})
    text = open(path).read()
    assert "NaN" not in text and "Infinity" not in text
    # Python's parser accepts bare NaN; a strict reader (parse_constant) must not see any.
    loaded = json.loads(text, parse_constant=lambda name: pytest.fail(f"bare {name}"))
    assert loaded == {"loss": None, "top1": 0.5, "x": [None, 1]}


@pytest.mark.slow
def test_a_diverging_run_stops_at_the_first_bad_step_and_keeps_the_good_checkpoint(
    tiny_data_dir, tmp_path, one_device
):
    workdir = str(tmp_path / "run")
    config = tiny_config(tiny_data_dir)
    config.num_train_steps = 2
    runner.train_and_evaluate(config, workdir)  # a good checkpoint at step 2
    good = checkpoints.create_manager(
        os.path.join(workdir, "checkpoints"), save_every_steps=1, keep=3
    )
    assert good.all_steps() == [2]
    before = open(os.path.join(workdir, "metrics.json")).read()

    config.num_train_steps = 6
    config.optimizer.learning_rate = 1e30  # the same optimizer otherwise: the state fits
    with pytest.raises(TrainingDiverged) as error:
        runner.train_and_evaluate(config, workdir)
    message = str(error.value)
    assert message.startswith("training diverged at step ")
    step = int(message.split("step ")[1].split(":")[0])
    assert 3 <= step <= 6
    assert "stopped without saving, the newest checkpoint is step 2" in message
    assert message.endswith(
        "Lower config.optimizer.learning_rate (now 1e+30) or "
        "config.optimizer.clip_grad_norm (now 40.0; 0 is off)"
    )
    videos = message.split("(batch of videos ")[1].split(")")[0].split(", ")
    assert len(videos) == config.batch_size and all(v.endswith(".mp4") for v in videos)
    good.reload()
    assert good.all_steps() == [2]  # no non-finite state was saved
    assert open(os.path.join(workdir, "metrics.json")).read() == before
    assert open(os.path.join(workdir, runner.LOCK_FILE)).read() == ""  # released


def test_a_state_is_finite_only_when_every_float_is():
    from tsn_jax import train_step

    good = {"w": np.ones((2, 3), np.float32), "step": np.int32(7)}
    assert bool(train_step.is_finite(good))
    for bad in (np.inf, -np.inf, np.nan):
        w = np.ones((2, 3), np.float32)
        w[1, 2] = bad  # one number of one array: a huge rate can overflow a single weight
        assert not bool(train_step.is_finite({**good, "w": w}))


# --- 3. Checkpoints -----------------------------------------------------------------------


def _saved_steps(directory, steps=(1, 2, 3), width=3):
    manager = checkpoints.create_manager(directory, save_every_steps=1, keep=5)
    for step in steps:
        state = {"step": step, "params": {"w": np.full((4, width), step, np.float32)}}
        manager.save(step, args=checkpoints.save_args(state))
    manager.wait_until_finished()
    return manager


def _state(width=3):
    return {"step": 0, "params": {"w": np.zeros((4, width), np.float32)}}


@pytest.mark.parametrize("damage", ["truncate", "delete", "manifest"])
def test_a_damaged_newest_checkpoint_falls_back_to_the_newest_that_restores(tmp_path, damage):
    directory = str(tmp_path / "checkpoints")
    _saved_steps(directory).close()
    files = glob.glob(f"{directory}/3/default/**/d/*", recursive=True)
    for path in files:
        if damage == "truncate":
            open(path, "r+b").truncate(10)
        else:
            os.remove(path)
    if damage == "manifest":
        os.remove(f"{directory}/3/default/_METADATA")
    lines = []
    manager = checkpoints.create_manager(directory, save_every_steps=1, keep=5)
    restored = checkpoints.restore_latest(manager, _state(), log=lines.append)
    assert restored["step"] == 2 and (restored["params"]["w"] == 2).all()
    assert len(lines) == 1 and "\n" not in lines[0]
    assert lines[0].startswith(f"The checkpoint {directory}/3 cannot be restored (")
    assert lines[0].endswith("); trying an older one")
    # Set aside, so that saving step 3 again does not collide with it.
    assert sorted(os.listdir(directory)) == ["1", "2", "3.damaged"]
    manager.save(3, args=checkpoints.save_args(restored))
    manager.wait_until_finished()
    assert manager.all_steps() == [1, 2, 3]
    manager.close()


def test_a_workdir_of_another_model_is_one_line_naming_the_tensors_and_the_key(tmp_path):
    directory = str(tmp_path / "checkpoints")
    manager = _saved_steps(directory, steps=(1,), width=3)
    with pytest.raises(CheckpointError) as error:
        checkpoints.restore_latest(manager, _state(width=5))
    message = str(error.value)
    assert "\n" not in message
    assert message.startswith(f"the checkpoint {directory}/1 does not fit the config (config.model")
    assert "['params']['w']: checkpoint (4, 3), model (4, 5)" in message
    assert manager.all_steps() == [1]  # a misfit is not damage: nothing set aside


def _files(directory) -> dict[str, tuple[int, int]]:
    """Every file under `directory` with its size and modification time."""
    return {
        os.path.join(root, name): (os.stat(os.path.join(root, name)).st_size,
                                   os.stat(os.path.join(root, name)).st_mtime_ns)
        for root, _, names in os.walk(directory) for name in names
    }  # fmt: skip


def test_a_workdir_resumes_only_under_the_config_it_was_trained_with(
    tiny_data_dir, tmp_path, caplog
):
    """Settings that still fit the tensors but change what is trained are refused before
    anything but the lock is written; a longer run, other logging, evaluation or
    data-folder settings resume, other optimizer settings with a warning (refused where
    the caller wants the run exactly as it started, as a study does), and a finished run
    only evaluates, so anything goes there."""
    workdir, config, _ = save_run(tmp_path / "run", tiny_data_dir, 5, ("a", "b", "c"))
    changed = config.copy_and_resolve_references()
    changed.num_train_steps = 10
    changed.data.num_segments = 2
    changed.seed = 7
    before = _files(workdir)
    with pytest.raises(ConfigError) as error:
        runner.train_and_evaluate(changed, str(workdir))
    assert str(error.value) == (
        f"{workdir} holds a run trained to step 5 with another config (data.num_segments: "
        f"trained with {config.data.num_segments}, now 2; seed: trained with {config.seed}, "
        "now 7): resume it with the config it was trained with (config.json there), or "
        "train in a new workdir"
    )
    lock = os.path.join(workdir, runner.LOCK_FILE)  # every run leaves its (empty) lock
    assert {k: v for k, v in _files(workdir).items() if k != lock} == before
    runner.check_resumable(changed, str(workdir), num_train_steps=5)  # finished: evaluates

    longer = config.copy_and_resolve_references()
    longer.num_train_steps = 40
    longer.log_every_steps = 1
    longer.checkpoint_every_steps = 10
    longer.eval.batch_size = 4
    longer.dataset.data_dir = str(tmp_path / "elsewhere")
    longer.optimizer.learning_rate = 0.5
    with caplog.at_level(logging.WARNING, logger="absl"):
        runner.check_resumable(longer, str(workdir))
    assert (
        f"Resuming {workdir} from step 5 with other optimizer settings: "
        f"optimizer.learning_rate: trained with {config.optimizer.learning_rate}, now 0.5"
    ) in caplog.text
    with pytest.raises(ConfigError, match=r"another config \(optimizer.learning_rate"):
        runner.check_resumable(longer, str(workdir), optimizer_may_change=False)
    runner.check_resumable(changed, str(tmp_path / "new"))  # nothing trained there yet


def test_the_workdir_is_refused_while_another_run_holds_it(tiny_data_dir, tmp_path):
    workdir = tmp_path / "run"
    workdir.mkdir()
    lock = str(workdir / runner.LOCK_FILE)
    with file_lock.exclusive(lock, wait=False, what="the workdir"):
        with pytest.raises(WorkdirInUse) as error:
            runner.train_and_evaluate(tiny_config(tiny_data_dir), str(workdir))
    assert f"is in use by host {os.uname().nodename} pid {os.getpid()}" in str(error.value)
    assert "give this one another --workdir" in str(error.value)
    assert sorted(os.listdir(workdir)) == [runner.LOCK_FILE]  # nothing else written


_HOLD = """
import sys, time
from tsn_jax import file_lock
with file_lock.exclusive(sys.argv[1], wait=False, what="the workdir"):
    print("locked", flush=True)
    time.sleep(600)
"""


def test_a_lock_left_by_a_killed_run_is_taken_over(tmp_path):
    lock = str(tmp_path / "run.lock")
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLD, lock], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout.readline().strip() == "locked"
    with pytest.raises(WorkdirInUse, match=f"pid {holder.pid}"):
        with file_lock.exclusive(lock, wait=False, what="the workdir"):
            pass
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    lines = []
    with file_lock.exclusive(lock, wait=False, what="the workdir", log=lines.append):
        assert open(lock).read().strip() == f"host {os.uname().nodename} pid {os.getpid()}"
    assert lines == [
        f"Taking over the lock on the workdir left by host {os.uname().nodename} pid "
        f"{holder.pid}, which is no longer running"
    ]
    assert open(lock).read() == ""  # released in order: nothing to take over next time


def test_a_waiting_lock_goes_on_when_the_holder_finishes(tmp_path):
    lock, lines, order = str(tmp_path / "build.lock"), [], []

    def second():
        with file_lock.exclusive(lock, wait=True, what="the build", log=lines.append):
            order.append("second")

    with file_lock.exclusive(lock, wait=True, what="the build"):
        thread = threading.Thread(target=second)
        thread.start()
        time.sleep(0.5)
        order.append("first done")
    thread.join(timeout=10)
    assert order == ["first done", "second"]
    assert lines == [
        f"Waiting for host {os.uname().nodename} pid {os.getpid()}, which holds "
        f"the build (lock file {lock})"
    ]


# --- 4. Settings --------------------------------------------------------------------------


def _bad(key, value):
    def change(config):
        section, _, name = key.rpartition(".")
        target = config
        for part in filter(None, section.split(".")):
            target = target[part]
        target[name] = value

    return change


@pytest.mark.parametrize(
    "change, message",
    [
        (_bad("model.backbone", "resnet5"), "config.model: Unknown backbone 'resnet5'"),
        (_bad("model.consensus", "median"), "config.model: Unknown consensus 'median'"),
        (_bad("model.dtype", "float8"), "config.model: "),
        (_bad("optimizer.schedule", "cos"), "config.optimizer.schedule must be one of"),
        (_bad("eval.crops", "five"), "config.eval.crops must be one of"),
        (_bad("data.train_crop", "corner"), "config.data.train_crop must be one of"),
        (_bad("data.modality", "depth"), "config.data.modality must be one of"),
        (_bad("data.modality", "flow"), "reads optical flow, but config.dataset.flow_method"),
        (
            lambda c: (
                _bad("data.modality", "warped_flow")(c),
                _bad("dataset.flow_method", "dis")(c),
            ),
            "the modality 'warped_flow' reads 'warp' planes: add 'warp' to config.dataset",
        ),
        (_bad("optimizer.learning_rate", 0.0), "config.optimizer.learning_rate must be > 0"),
        (_bad("optimizer.learning_rate", -0.1), "config.optimizer.learning_rate must be > 0"),
        (_bad("init.checkpoint", "no/such/run"), "config.init.checkpoint: no checkpoint at"),
        (_bad("init.checkpoint", "."), "config.init.checkpoint: . is not an Orbax checkpoint"),
        (_bad("eval.checkpoint", "/nope"), "config.eval.checkpoint: no checkpoint at /nope"),
    ],
)
def test_a_bad_setting_fails_before_any_dataset_work_or_workdir_write(tmp_path, change, message):
    config = tiny_config(str(tmp_path / "tfds"))
    change(config)
    with pytest.raises((ConfigError, CheckpointError)) as error:
        runner.train_and_evaluate(config, str(tmp_path / "run"))
    assert message in str(error.value)
    assert not (tmp_path / "tfds").exists() and not (tmp_path / "run").exists()


def test_a_step_directory_without_default_is_a_checkpoint_path(tmp_path):
    directory = str(tmp_path / "run" / "checkpoints")
    _saved_steps(directory, steps=(7,)).close()
    os.chdir(tmp_path)
    for given in ("run/checkpoints/7", "run/checkpoints/7/default"):
        assert checkpoints.resolve(given, "config.init.checkpoint") == f"{directory}/7/default"


def test_warnings_name_the_numbers_of_a_crop_larger_than_the_frames_and_short_videos():
    config = default.get_config()
    config.dataset.short_side, config.data.crop_size = 128, 224
    assert config_warnings(config) == [
        "config.data.crop_size=224 is larger than the stored frames "
        "(config.dataset.short_side=128): every crop is upsampled"
    ]
    config.data.crop_size = 112
    assert config_warnings(config) == []
    data = ml_collections.ConfigDict(
        {
            "num_segments": 8,
            "frames_per_snippet": 1,
            "frame_interval": 1,
            "modality": "rgb",
            "short_video": "clamp",
        }
    )
    assert frame_count_warning(data, [20, 6, 5, 30], "train") is None  # median 20 >= 8
    assert frame_count_warning(data, [5, 6, 7, 30, 4], "train") == (
        "a training sample spans 8 frames (config.data.num_segments=8 x frames_per_snippet x "
        "frame_interval) but the median train video has 6 (of 5 read): frames repeat "
        "(config.data.short_video='clamp')"
    )


@pytest.mark.slow
def test_the_program_prints_a_bad_setting_in_one_line(tmp_path):
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=1")
    result = subprocess.run(
        [
            sys.executable,
            "main.py",
            "--config=configs/default.py",
            f"--workdir={tmp_path}/run",
            "--config.optimizer.learning_rate=0",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        "error: config.optimizer.learning_rate must be > 0, got 0.0"
    )
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "run").exists()


def test_validate_config_raises_config_errors_that_are_value_errors():
    config = default.get_config()
    config.data.num_segments = 0
    with pytest.raises(ConfigError, match="config.data.num_segments must be a positive integer"):
        validate_config(config)
    assert issubclass(ConfigError, ValueError)
