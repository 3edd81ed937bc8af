"""input_pipeline/datasets/optical_flow.py: estimators, TSN quantization, warped flow."""

import cv2
import numpy as np
import pytest

from input_pipeline.datasets import optical_flow

HAS_CONTRIB = hasattr(cv2, "optflow")
METHODS = [
    pytest.param(
        m,
        marks=pytest.mark.skipif(
            m == "tvl1" and not HAS_CONTRIB, reason="needs opencv-contrib-python-headless"
        ),
    )
    for m in optical_flow.FLOW_METHODS
]
HEIGHT, WIDTH = 48, 64


def texture(seed: int, height: int, width: int, sigma: float = 2.0) -> np.ndarray:
    """Smoothed uniform noise stretched to 0..255: texture every flow method can track."""
    noise = np.random.default_rng(seed).uniform(0, 255, (height, width)).astype(np.float32)
    smooth = cv2.GaussianBlur(noise, (0, 0), sigma)
    return cv2.normalize(smooth, None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)


def translated_pair(dx: int, dy: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two HEIGHT x WIDTH crops of one texture, the second showing it moved by (dx, dy)."""
    big = texture(seed, HEIGHT + 40, WIDTH + 40)
    y0 = x0 = 20
    prev = big[y0 : y0 + HEIGHT, x0 : x0 + WIDTH]
    # next[y, x] = prev[y - dy, x - dx]: the content moved by +(dx, dy).
    next_ = big[y0 - dy : y0 - dy + HEIGHT, x0 - dx : x0 - dx + WIDTH]
    return prev, next_


def interior(field: np.ndarray, margin: int = 8) -> np.ndarray:
    return field[margin:-margin, margin:-margin]


@pytest.mark.parametrize("method", METHODS)
def test_each_method_recovers_a_translation(method):
    prev, next_ = translated_pair(3, -2)
    flow = optical_flow.make_flow_fn(method)(prev, next_)
    assert flow.shape == (HEIGHT, WIDTH, 2)
    assert flow.dtype == np.float32
    np.testing.assert_allclose(interior(flow).reshape(-1, 2).mean(0), [3.0, -2.0], atol=0.5)


def test_estimators_accept_non_contiguous_views():
    prev, next_ = translated_pair(1, 1)
    rgb = np.stack([prev, next_, prev], axis=-1)  # rgb[..., 0] is a strided view
    flow = optical_flow.make_flow_fn("dis")(rgb[..., 0], rgb[..., 1])
    assert flow.shape == (HEIGHT, WIDTH, 2)


def test_unknown_method_lists_the_known_ones():
    with pytest.raises(ValueError, match="tvl1, farneback, dis"):
        optical_flow.make_flow_fn("brox")


def test_tvl1_without_contrib_says_what_to_install(monkeypatch):
    monkeypatch.delattr(cv2, "optflow", raising=False)
    with pytest.raises(ImportError, match="pip install opencv-contrib-python-headless"):
        optical_flow.make_flow_fn("tvl1")


def test_quantize_exact_values():
    values = np.array([-20.0, 0.0, 20.0, 100.0, -100.0, 10.0, -10.0])
    np.testing.assert_array_equal(
        optical_flow.quantize_flow(values, bound=20.0), [0, 128, 255, 255, 0, 191, 64]
    )
    assert optical_flow.quantize_flow(values).dtype == np.uint8


def test_quantize_matches_tsn_dense_flow_away_from_ties():
    # dense_flow's CAST: v > H ? 255 : v < L ? 0 : cvRound(255 * (v - L) / (H - L)).
    x = np.random.default_rng(0).uniform(-30, 30, 10_000)
    tsn = np.where(x > 20, 255, np.where(x < -20, 0, np.rint(255 * (x + 20) / 40)))
    np.testing.assert_array_equal(optical_flow.quantize_flow(x, 20.0), tsn)


def test_flip_identity_of_the_quantized_values():
    # A grid that includes exact rounding ties ((k + 0.5) levels) and the clip points.
    x = np.concatenate([np.linspace(-25, 25, 2001), (np.arange(255) + 0.5) * 40 / 255 - 20])
    x = x[x != 0]
    q = optical_flow.quantize_flow(x).astype(int)
    np.testing.assert_array_equal(255 - q, optical_flow.quantize_flow(-x))
    # 0 sits on the scale's centre 127.5: the one value the identity cannot hold for.
    assert optical_flow.quantize_flow(np.array([0.0]))[0] == 128


def test_dequantize_inverts_and_flips_exactly():
    levels = np.arange(256, dtype=np.uint8)
    values = optical_flow.dequantize_flow(levels, bound=20.0)
    assert values.dtype == np.float32
    assert values[0] == -20.0 and values[255] == 20.0
    np.testing.assert_array_equal(optical_flow.dequantize_flow(255 - levels), -values)
    np.testing.assert_array_equal(optical_flow.quantize_flow(values), levels)
    x = np.linspace(-20, 20, 1001)
    error = optical_flow.dequantize_flow(optical_flow.quantize_flow(x)) - x
    assert np.abs(error).max() <= 20 / 255 + 1e-6


def test_quantize_rejects_a_non_positive_bound():
    with pytest.raises(ValueError, match="bound"):
        optical_flow.quantize_flow(np.zeros(3), bound=0)


@pytest.mark.parametrize("method", METHODS)
def test_warped_flow_cancels_camera_translation(method):
    prev, next_ = translated_pair(3, -2)
    flow_fn = optical_flow.make_flow_fn(method)
    raw = flow_fn(prev, next_)
    warped = optical_flow.warped_flow(prev, next_, flow_fn)
    assert warped.shape == (HEIGHT, WIDTH, 2)
    assert np.abs(interior(raw)).mean() > 2.0
    assert np.abs(interior(warped)).mean() < 0.1


@pytest.mark.parametrize("method", METHODS)
def test_warped_flow_keeps_motion_relative_to_the_camera(method):
    # The square moves by (1, 1) in the image, by (-2, 3) relative to the background.
    camera, relative, side = (3, -2), (-2, 3), 16
    prev, next_ = (a.copy() for a in translated_pair(*camera))
    square = texture(1, side, side, sigma=1.5)
    y, x = 16, 20
    prev[y : y + side, x : x + side] = square
    ny, nx = y + camera[1] + relative[1], x + camera[0] + relative[0]
    next_[ny : ny + side, nx : nx + side] = square
    flow_fn = optical_flow.make_flow_fn(method)
    warped = optical_flow.warped_flow(np.stack([prev] * 3, -1), next_, flow_fn)  # RGB prev
    inside = warped[y + 4 : y + side - 4, x + 4 : x + side - 4].reshape(-1, 2).mean(0)
    np.testing.assert_allclose(inside, relative, atol=0.75)
    background = np.ones((HEIGHT, WIDTH), bool)
    background[min(y, ny) - 4 : max(y, ny) + side + 4, min(x, nx) - 4 : max(x, nx) + side + 4] = (
        False
    )
    assert np.abs(interior(np.where(background[..., None], warped, 0))).mean() < 0.3


def test_homography_falls_back_to_identity():
    rng = np.random.default_rng(0)
    # Incoherent motion: RANSAC finds no model that a quarter of the points agree with.
    random_flow = rng.uniform(-10, 10, (HEIGHT, WIDTH, 2)).astype(np.float32)
    np.testing.assert_array_equal(optical_flow.camera_homography(random_flow), np.eye(3))
    # Too small for 4 grid points.
    np.testing.assert_array_equal(
        optical_flow.camera_homography(np.ones((8, 8, 2), np.float32)), np.eye(3)
    )
    # A coherent translation is found.
    shift = np.broadcast_to(np.float32([3, -2]), (HEIGHT, WIDTH, 2))
    np.testing.assert_allclose(
        optical_flow.camera_homography(shift), [[1, 0, 3], [0, 1, -2], [0, 0, 1]], atol=1e-6
    )


def test_warped_flow_with_identity_homography_is_the_plain_flow():
    calls = []

    def incoherent_flow(prev, next_):
        calls.append(1)
        return np.random.default_rng(0).uniform(-10, 10, (*prev.shape, 2)).astype(np.float32)

    prev, next_ = translated_pair(1, 0)
    flow = incoherent_flow(prev, next_)
    out = optical_flow.warped_flow(prev, next_, incoherent_flow, flow=flow)
    np.testing.assert_array_equal(out, flow)
    assert len(calls) == 1  # the given flow was used, nothing recomputed


def moving_video(num_frames: int) -> np.ndarray:
    """[T, H, W, 3] RGB frames of a texture panning 1 px left per frame."""
    big = np.stack([texture(s, HEIGHT, WIDTH + num_frames) for s in range(3)], -1)
    return np.stack([big[:, t : t + WIDTH] for t in range(num_frames)])


def test_video_flow_shapes_and_values():
    frames = moving_video(4)
    flows = optical_flow.video_flow(frames, "farneback")
    assert flows.shape == (3, HEIGHT, WIDTH, 2) and flows.dtype == np.uint8
    # Content moves 1 px left: x plane at quantize(-1) = 121, y plane at 128.
    np.testing.assert_allclose(flows[:, 8:-8, 8:-8, 0].mean(), 121, atol=1)
    np.testing.assert_allclose(flows[:, 8:-8, 8:-8, 1].mean(), 128, atol=1)


@pytest.mark.parametrize("num_frames", [0, 1])
def test_video_flow_of_fewer_than_two_frames_is_empty(num_frames):
    frames = np.zeros((num_frames, HEIGHT, WIDTH, 3), np.uint8)
    flows = optical_flow.video_flow(frames, "dis")
    assert flows.shape == (0, HEIGHT, WIDTH, 2) and flows.dtype == np.uint8


def test_streaming_matches_the_whole_video():
    frames = moving_video(4)
    streamed = list(optical_flow.iter_video_flow((f for f in frames), "farneback", warped=True))
    np.testing.assert_array_equal(
        np.stack(streamed), optical_flow.video_flow(frames, "farneback", warped=True)
    )
    both = list(optical_flow.iter_video_flows(frames, "farneback", ("flow", "warp")))
    np.testing.assert_array_equal(
        np.stack([f["flow"] for f in both]), optical_flow.video_flow(frames, "farneback")
    )
    np.testing.assert_array_equal(np.stack([f["warp"] for f in both]), np.stack(streamed))


def test_flow_stream_pushes():
    stream = optical_flow.FlowStream("dis", ("warp",))
    frames = moving_video(2)
    assert stream.push(frames[0]) is None
    out = stream.push(frames[1])
    assert set(out) == {"warp"} and out["warp"].shape == (HEIGHT, WIDTH, 2)
    with pytest.raises(ValueError, match="subset"):
        optical_flow.FlowStream("dis", ("flow", "optical"))
