"""Tests for input_pipeline.datasets.video_decode."""

import struct

import av
import numpy as np
import pytest

from input_pipeline.datasets.video_decode import (
    VideoDecodeError,
    VideoReader,
    decode_video,
    kept_frame_indices,
    resized_shape,
)


def write_video(path, frames, fps=12, codec="libx264", pix_fmt="yuv420p", frame_format="rgb24"):
    """Writes [T, H, W, 3] (or [T, H, W] for gray) uint8 frames with PyAV."""
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.height, stream.width = frames.shape[1:3]
        stream.pix_fmt = pix_fmt
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format=frame_format)):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def solid_frames(num_frames, height, width, rgb):
    return np.broadcast_to(np.array(rgb, np.uint8), (num_frames, height, width, 3)).copy()


@pytest.mark.parametrize(
    "size, short_side, expected",
    [
        ((240, 320), 80, (80, 107)),  # 106.67 rounds to 107
        ((320, 240), 80, (107, 80)),  # portrait
        ((4, 7), 2, (2, 4)),  # 3.5: halves round up, not to even
        ((48, 64), None, (48, 64)),
        ((30, 30), 60, (60, 60)),  # upscaling is allowed
    ],
)
def test_resized_shape(size, short_side, expected):
    assert resized_shape(*size, short_side) == expected


def test_decodes_every_frame_resized_in_rgb(tmp_path):
    path = tmp_path / "red.mp4"
    write_video(path, solid_frames(7, 48, 64, (220, 30, 30)), fps=12)
    frames, fps = decode_video(str(path), short_side=24)
    assert frames.shape == (7, 24, 32, 3)
    assert frames.dtype == np.uint8
    assert fps == pytest.approx(12.0)
    # RGB order, not BGR: red stays red through yuv420p.
    mean = frames.reshape(-1, 3).mean(0)
    assert mean[0] > 180 and mean[1] < 70 and mean[2] < 70


def test_portrait_and_original_size(tmp_path):
    path = tmp_path / "portrait.avi"
    write_video(path, solid_frames(5, 64, 48, (0, 0, 200)), fps=25, codec="mpeg4")
    frames, fps = decode_video(str(path), short_side=36)
    assert frames.shape == (5, 48, 36, 3)
    assert fps == pytest.approx(25.0)
    frames, _ = decode_video(str(path), short_side=None)
    assert frames.shape == (5, 64, 48, 3)


def test_frames_keep_their_order(tmp_path):
    path = tmp_path / "ramp.mp4"
    levels = np.linspace(20, 230, 9).astype(np.uint8)
    write_video(path, np.stack([solid_frames(1, 32, 32, (v, v, v))[0] for v in levels]))
    frames, _ = decode_video(str(path), short_side=16)
    assert len(frames) == len(levels)
    np.testing.assert_allclose(frames.mean(axis=(1, 2, 3)), levels, atol=6)


def test_grayscale_source_gives_three_channels(tmp_path):
    path = tmp_path / "gray.avi"
    gray = np.stack([np.full((32, 48), 40 * i, np.uint8) for i in range(5)])
    write_video(path, gray, codec="ffv1", pix_fmt="gray", frame_format="gray")
    frames, _ = decode_video(str(path), short_side=16)
    assert frames.shape == (5, 16, 24, 3)
    np.testing.assert_array_equal(frames[..., 0], frames[..., 1])
    np.testing.assert_array_equal(frames[..., 0], frames[..., 2])
    np.testing.assert_allclose(frames.mean(axis=(1, 2, 3)), 40 * np.arange(5), atol=2)


def test_corrupt_file_raises(tmp_path):
    path = tmp_path / "corrupt.mp4"
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, np.uint8).tobytes())
    with pytest.raises(VideoDecodeError):
        decode_video(str(path), short_side=32)


def test_truncated_header_raises(tmp_path):
    good = tmp_path / "good.mp4"
    write_video(good, solid_frames(5, 32, 32, (10, 200, 10)))
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes(good.read_bytes()[:100])
    with pytest.raises(VideoDecodeError):
        decode_video(str(truncated), short_side=32)


def test_zero_length_file_raises(tmp_path):
    path = tmp_path / "empty.avi"
    path.write_bytes(b"")
    with pytest.raises(VideoDecodeError, match="empty"):
        decode_video(str(path), short_side=32)


def test_missing_file_raises(tmp_path):
    with pytest.raises(VideoDecodeError, match="does not exist"):
        decode_video(str(tmp_path / "nope.mp4"), short_side=32)


def test_audio_only_file_raises(tmp_path):
    path = tmp_path / "audio.mp4"
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("aac", rate=16000)
        samples = np.zeros((1, 4096), np.float32)
        frame = av.AudioFrame.from_ndarray(samples, format="fltp", layout="mono")
        frame.sample_rate = 16000
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    with pytest.raises(VideoDecodeError, match="no video stream"):
        decode_video(str(path), short_side=32)


def test_fixed_size_ignores_aspect_ratio(tmp_path):
    path = tmp_path / "wide.mp4"
    write_video(path, solid_frames(3, 48, 64, (0, 200, 0)))
    frames, _ = decode_video(str(path), None, size=(26, 34))
    assert frames.shape == (3, 26, 34, 3)
    with pytest.raises(ValueError, match="not both"):
        decode_video(str(path), 24, size=(26, 34))


@pytest.mark.parametrize(
    "num_frames, source, target, expected",
    [
        (10, 30.0, 10.0, [0, 3, 6, 9]),
        (61, 30.0, 1.0, [0, 30, 60]),
        (8, 25.0, 10.0, [0, 3, 5]),  # 0.4 per frame: the count steps up at 0, 3 (1.2), 5 (2.0)
        (4, 25.0, 30.0, [0, 1, 2, 3]),  # never upsampled
        (4, 25.0, None, [0, 1, 2, 3]),
        (4, 0.0, 10.0, [0, 1, 2, 3]),  # unknown source rate: every frame
    ],
)
def test_kept_frame_indices(num_frames, source, target, expected):
    np.testing.assert_array_equal(kept_frame_indices(num_frames, source, target), expected)


def test_target_fps_keeps_the_subsampled_frames(tmp_path):
    path = tmp_path / "ramp.mp4"
    levels = np.linspace(10, 240, 12).astype(np.uint8)
    write_video(path, np.stack([solid_frames(1, 32, 32, (v, v, v))[0] for v in levels]), fps=12)
    frames, fps = decode_video(str(path), None, target_fps=4)
    assert fps == 4.0
    np.testing.assert_allclose(frames.mean(axis=(1, 2, 3)), levels[[0, 3, 6, 9]], atol=6)


def test_reader_streams_frames_one_at_a_time(tmp_path):
    path = tmp_path / "ramp.mp4"
    levels = np.array([30, 130, 230], np.uint8)
    write_video(path, np.stack([solid_frames(1, 32, 32, (v, v, v))[0] for v in levels]), fps=12)
    with VideoReader(str(path), 16) as video:
        means = [(frame.shape, frame.mean()) for frame in video]
        assert video.fps == pytest.approx(12.0)
    assert [shape for shape, _ in means] == [(16, 16, 3)] * 3
    np.testing.assert_allclose([m for _, m in means], levels, atol=6)


def _set_rotation(path, degrees_clockwise):
    """Rewrites the mp4 track header's display matrix (what phones write) in place."""
    data = bytearray(path.read_bytes())
    identity = struct.pack(">9i", 0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000)
    start = data.find(identity)
    assert start > 0, "no identity display matrix in the file"
    one = {90: (0, 0x10000, -0x10000, 0), 180: (-0x10000, 0, 0, -0x10000)}[degrees_clockwise]
    a, b, c, d = one
    data[start : start + 36] = struct.pack(">9i", a, b, 0, c, d, 0, 0, 0, 0x40000000)
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("degrees", [90, 180])
def test_rotated_video_is_turned_upright(tmp_path, degrees):
    path = tmp_path / "phone.mp4"
    frames = solid_frames(3, 48, 64, (0, 0, 0))
    frames[:, :, :16] = 255  # a white band on the left, as stored
    write_video(path, frames)
    _set_rotation(path, degrees)
    decoded, _ = decode_video(str(path), None)
    if degrees == 90:
        # Turned a quarter clockwise, as players show it: the left band is on top.
        assert decoded.shape == (3, 64, 48, 3)
        assert decoded[:, :12].mean() > 230 and decoded[:, 20:].mean() < 25
        resized, _ = decode_video(str(path), 24)
        assert resized.shape == (3, 32, 24, 3)
    else:
        assert decoded.shape == (3, 48, 64, 3)
        assert decoded[:, :, -12:].mean() > 230 and decoded[:, :, :-20].mean() < 25


def test_odd_sized_video(tmp_path):
    path = tmp_path / "odd.avi"
    write_video(path, solid_frames(3, 37, 51, (200, 100, 0)), codec="mpeg4")
    frames, _ = decode_video(str(path), None)
    assert frames.shape == (3, 37, 51, 3)
