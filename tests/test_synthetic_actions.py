"""Tests for input_pipeline.datasets.synthetic_actions."""

import functools
import json
import os

import numpy as np
import pytest

from input_pipeline.datasets import synthetic_actions as sa
from input_pipeline.datasets.video_decode import decode_video

W, H = 64, 48


def tracks(class_name, num_videos, seed=0):
    """Object tracks of `num_videos` random videos: a list of lists of (shape, x, y, r)."""
    out = []
    for i in range(num_videos):
        rng = np.random.default_rng([seed, i])
        num_frames = int(rng.integers(sa.MIN_FRAMES, sa.MAX_FRAMES + 1))
        out.append(sa.object_track(class_name, rng, num_frames, 128, 96))
    return out


def test_class_groups():
    assert len(sa.CLASS_NAMES) == 10 == len(set(sa.CLASS_NAMES))
    assert set(sa.APPEARANCE_CLASSES) | set(sa.ORDER_CLASSES) == set(sa.CLASS_NAMES)
    assert not set(sa.APPEARANCE_CLASSES) & set(sa.ORDER_CLASSES)
    assert {c for pair in sa.ORDER_PAIRS for c in pair} == set(sa.ORDER_CLASSES)


def test_appearance_classes_have_their_own_shape():
    shapes = {c: {s for t in tracks(c, 5) for s, *_ in t} for c in sa.CLASS_NAMES}
    for c in sa.APPEARANCE_CLASSES:
        assert len(shapes[c]) == 1
        others = set().union(*(shapes[o] for o in sa.CLASS_NAMES if o != c))
        assert not shapes[c] & others, c
    # Inside an order pair both classes show exactly the same shapes.
    for a, b in sa.ORDER_PAIRS:
        assert shapes[a] == shapes[b]


def test_left_right_differ_in_direction_only():
    # Different seeds: equal seeds would give exact reversals (checked below).
    left, right = tracks("MoveLeft", 300, seed=0), tracks("MoveRight", 300, seed=1)
    x_left = np.concatenate([[x for _, x, _, _ in t] for t in left])
    x_right = np.concatenate([[x for _, x, _, _ in t] for t in right])
    # The single-frame position distribution is the same ...
    assert abs(x_left.mean() - x_right.mean()) < 4.0
    np.testing.assert_allclose(
        np.percentile(x_left, [10, 50, 90]), np.percentile(x_right, [10, 50, 90]), atol=6.0
    )
    # ... the direction is not, in every single video.
    assert all(t[-1][1] < t[0][1] for t in left)
    assert all(t[-1][1] > t[0][1] for t in right)
    # Equal generators give exactly time-reversed positions.
    rng_a, rng_b = np.random.default_rng(7), np.random.default_rng(7)
    a = [x for _, x, _, _ in sa.object_track("MoveLeft", rng_a, 12, 128, 96)]
    b = [x for _, x, _, _ in sa.object_track("MoveRight", rng_b, 12, 128, 96)]
    np.testing.assert_allclose(a, b[::-1])


def test_grow_shrink_differ_in_direction_only():
    grow, shrink = tracks("Grow", 300, seed=0), tracks("Shrink", 300, seed=1)
    r_grow = np.concatenate([[r for *_, r in t] for t in grow])
    r_shrink = np.concatenate([[r for *_, r in t] for t in shrink])
    assert abs(r_grow.mean() - r_shrink.mean()) < 0.5
    np.testing.assert_allclose(
        np.percentile(r_grow, [10, 50, 90]), np.percentile(r_shrink, [10, 50, 90]), atol=1.0
    )
    assert all(t[-1][3] > t[0][3] for t in grow)
    assert all(t[-1][3] < t[0][3] for t in shrink)


def test_order_pair_shows_each_shape_alone_equally_often():
    first, second = sa.ORDER_PAIRS[-1]
    for class_name, lead in ((first, "diamond"), (second, "hourglass")):
        ts = tracks(class_name, 300)
        frac_diamond = np.mean([s == "diamond" for t in ts for s, *_ in t])
        assert abs(frac_diamond - 0.5) < 0.03, class_name
        for t in ts:
            names = [s for s, *_ in t]
            assert names[0] == lead and names[-1] != lead
            # One switch only: each shape alone for one phase.
            assert sum(a != b for a, b in zip(names, names[1:], strict=False)) == 1


def test_render_video_shape_and_determinism():
    a = sa.render_video("StarDrift", np.random.default_rng(3), W, H)
    b = sa.render_video("StarDrift", np.random.default_rng(3), W, H)
    c = sa.render_video("StarDrift", np.random.default_rng(4), W, H)
    assert a.dtype == np.uint8 and a.shape[1:] == (H, W, 3)
    assert sa.MIN_FRAMES <= len(a) <= sa.MAX_FRAMES
    np.testing.assert_array_equal(a, b)
    assert a.shape != c.shape or not np.array_equal(a, c)


def read_lines(path):
    with open(path) as f:
        return f.read().splitlines()


def test_render_dataset_writes_ucf101_layout(tmp_path):
    out = sa.render_dataset(
        str(tmp_path / "d"), num_train_per_class=2, num_test_per_class=1, width=W, height=H
    )
    assert out == str(tmp_path / "d")
    assert read_lines(os.path.join(out, "classInd.txt")) == [
        f"{i + 1} {c}" for i, c in enumerate(sa.CLASS_NAMES)
    ]
    train = read_lines(os.path.join(out, "trainlist01.txt"))
    test = read_lines(os.path.join(out, "testlist01.txt"))
    assert len(train) == 20 and len(test) == 10
    assert train[3] == "SquareDrift/v_SquareDrift_train_001.mp4 2"
    assert test[9] == "HourglassThenDiamond/v_HourglassThenDiamond_test_000.mp4"
    for line in train + test:
        assert os.path.isfile(os.path.join(out, line.split()[0]))
    frames, fps = decode_video(os.path.join(out, test[0]), short_side=None)
    assert frames.shape[1:] == (H, W, 3) and fps == 12.0
    assert sa.MIN_FRAMES <= len(frames) <= sa.MAX_FRAMES
    with open(os.path.join(out, sa.MARKER_FILE)) as f:
        assert json.load(f)["num_train_per_class"] == 2


def test_render_dataset_is_deterministic_and_cached(tmp_path):
    kwargs = dict(num_train_per_class=1, num_test_per_class=0, width=W, height=H)
    a = sa.render_dataset(str(tmp_path / "a"), seed=5, num_workers=2, **kwargs)
    b = sa.render_dataset(str(tmp_path / "b"), seed=5, num_workers=1, **kwargs)
    c = sa.render_dataset(str(tmp_path / "c"), seed=6, **kwargs)
    video = "Grow/v_Grow_train_000.mp4"
    fa, _ = decode_video(os.path.join(a, video), None)
    fb, _ = decode_video(os.path.join(b, video), None)
    fc, _ = decode_video(os.path.join(c, video), None)
    np.testing.assert_array_equal(fa, fb)
    assert fa.shape != fc.shape or not np.array_equal(fa, fc)

    # Same parameters: nothing is re-rendered.
    mtime = os.path.getmtime(os.path.join(a, video))
    sa.render_dataset(a, seed=5, **kwargs)
    assert os.path.getmtime(os.path.join(a, video)) == mtime


def test_render_dataset_rerenders_on_new_parameters(tmp_path):
    out = str(tmp_path / "d")
    kwargs = dict(num_test_per_class=0, width=W, height=H)
    sa.render_dataset(out, num_train_per_class=2, **kwargs)
    sa.render_dataset(out, num_train_per_class=1, **kwargs)
    # Stale videos of the earlier render are gone, the lists match the new one.
    assert sorted(os.listdir(os.path.join(out, "Grow"))) == ["v_Grow_train_000.mp4"]
    assert len(read_lines(os.path.join(out, "trainlist01.txt"))) == 10

    # An interrupted render (no marker) is redone.
    os.remove(os.path.join(out, sa.MARKER_FILE))
    os.remove(os.path.join(out, "Grow", "v_Grow_train_000.mp4"))
    sa.render_dataset(out, num_train_per_class=1, **kwargs)
    assert os.path.isfile(os.path.join(out, "Grow", "v_Grow_train_000.mp4"))


def test_render_dataset_rejects_odd_sizes(tmp_path):
    with pytest.raises(ValueError, match="even"):
        sa.render_dataset(str(tmp_path), width=63, height=48)


def _painted_frames(monkeypatch, render):
    """Runs `render()` and returns its result and the frame indices the class object was
    painted on (class objects are the only shapes drawn with an outline)."""
    frames_of = []
    background = sa._background
    paint = sa._paint

    def recording_background(*args):
        frames_of.append(background(*args))
        return frames_of[-1]

    painted = set()

    def recording_paint(canvas, sdf, cx, cy, extent, fill, outline=None, outline_width=1.5):
        if outline is not None:
            base = frames_of[-1]
            offset = canvas.__array_interface__["data"][0] - base.__array_interface__["data"][0]
            painted.add(offset // base[0].nbytes)
        paint(canvas, sdf, cx, cy, extent, fill, outline, outline_width)

    monkeypatch.setattr(sa, "_background", recording_background)
    monkeypatch.setattr(sa, "_paint", recording_paint)
    return render(), painted


@pytest.mark.parametrize("class_name", ["CircleDrift", "MoveLeft", "HourglassThenDiamond"])
def test_untrimmed_video_holds_one_instance_and_background_around_it(monkeypatch, class_name):
    fps = 4
    for index in range(3):
        (frames, (start, end)), painted = _painted_frames(
            monkeypatch,
            functools.partial(
                sa.render_untrimmed_video, class_name, np.random.default_rng([7, index]), W, H, fps
            ),
        )
        seconds = len(frames) / fps
        assert frames.shape[1:] == (H, W, 3) and frames.dtype == np.uint8
        assert seconds == int(seconds)
        assert sa.UNTRIMMED_SECONDS[0] <= seconds <= sa.UNTRIMMED_SECONDS[1]
        low, high = sa.UNTRIMMED_ACTION_FRACTION
        assert low * len(frames) <= end - start <= high * len(frames)
        assert 0 <= start < end <= len(frames)
        # The class object is in exactly the instance's frames; the rest is background.
        assert painted == set(range(start, end))
    again, _ = sa.render_untrimmed_video(class_name, np.random.default_rng([7, 2]), W, H, fps)
    np.testing.assert_array_equal(again, frames)


def test_trimmed_video_shows_the_class_object_in_every_frame(monkeypatch):
    frames, painted = _painted_frames(
        monkeypatch, lambda: sa.render_video("Grow", np.random.default_rng(5), W, H)
    )
    assert painted == set(range(len(frames)))


def test_render_untrimmed_dataset_writes_where_each_instance_is(tmp_path):
    out = sa.render_dataset(
        str(tmp_path / "u"), num_train_per_class=1, num_test_per_class=1, width=W, height=H,
        untrimmed=True,
    )  # fmt: skip
    with open(os.path.join(out, sa.UNTRIMMED_ANNOTATIONS)) as f:
        annotations = json.load(f)
    assert annotations["fps"] == sa.UNTRIMMED_FPS
    database = annotations["database"]
    listed = [line.split()[0] for name in ("trainlist01.txt", "testlist01.txt")
              for line in read_lines(os.path.join(out, name))]  # fmt: skip
    assert sorted(database) == sorted(listed) and len(listed) == 20
    entry = database["MoveRight/v_MoveRight_test_000.mp4"]
    assert entry["subset"] == "test" and entry["annotations"][0]["label"] == "MoveRight"
    # The same video as render_untrimmed_video draws from this video's own generator.
    label = sa.CLASS_NAMES.index("MoveRight")
    expected, (start, end) = sa.render_untrimmed_video(
        "MoveRight", np.random.default_rng([0, 1, label, 0, 1]), W, H, sa.UNTRIMMED_FPS
    )
    assert entry["annotations"][0]["segment"] == [start / 4, end / 4]
    assert entry["duration"] == len(expected) / 4
    frames, fps = decode_video(os.path.join(out, "MoveRight/v_MoveRight_test_000.mp4"), None)
    assert fps == sa.UNTRIMMED_FPS and len(frames) == len(expected)
    # A trimmed render in the same folder replaces the videos and drops the instance list.
    sa.render_dataset(out, num_train_per_class=1, num_test_per_class=1, width=W, height=H)
    assert not os.path.exists(os.path.join(out, sa.UNTRIMMED_ANNOTATIONS))
