"""Dense optical flow between video frames, quantized to uint8 planes as TSN stores them.

Used at dataset-build time (tsn-jax-extract-flow): the training pipeline reads
the JPEG x/y planes written from `quantize_flow`, never a float flow field.
Pure numpy/OpenCV: no TensorFlow, no JAX.

Three estimators, all from OpenCV:
  * "tvl1": TV-L1 (Zach et al. 2007; Sanchez et al. 2013), what TSN (Wang et al.
    2016) extracts with denseflow. Needs `opencv-contrib-python-headless`
    (`cv2.optflow`). Slow: about 0.4 s per 340x256 pair on 2 cores.
  * "farneback": Farneback 2003 polynomial expansion, in every OpenCV build
    (about 15 ms per pair).
  * "dis": Dense Inverse Search (Kroeger et al. 2016), medium preset, the
    fastest (about 6 ms per pair).

Flow convention (OpenCV's): flow[y, x] = (dx, dy) such that
prev[y, x] ~ next[y + dy, x + dx]; x to the right, y downwards.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence

import cv2
import numpy as np

FLOW_METHODS: tuple[str, ...] = ("tvl1", "farneback", "dis")
# What can be extracted per frame pair: the plain flow and TSN's warped flow.
FLOW_KINDS: tuple[str, ...] = ("flow", "warp")

# TSN quantizes flow clipped to +-20 pixels per frame (denseflow's `-b 20`).
DEFAULT_BOUND = 20.0

FlowFn = Callable[[np.ndarray, np.ndarray], np.ndarray]


def make_flow_fn(method: str) -> FlowFn:
    """Builds a flow estimator; make one per video (the TV-L1 object is costly to create).

    Args:
      method: one of FLOW_METHODS. "tvl1" uses OpenCV's defaults (tau 0.25,
        lambda 0.15, 5 scales, 5 warps, epsilon 0.01), as TSN's denseflow does;
        "farneback" the customary (0.5, 3, 15, 3, 5, 1.2, 0) parameters
        (pyramid scale, levels, window, iterations, poly_n, poly_sigma, flags);
        "dis" the MEDIUM preset.

    Returns:
      fn(prev_gray, next_gray) -> flow: both frames uint8 [H, W], the flow
      float32 [H, W, 2] (dx, dy) from prev to next.

    Raises:
      ValueError: unknown method.
      ImportError: "tvl1" with an OpenCV build that lacks the contrib modules.
    """
    if method == "tvl1":
        if not hasattr(cv2, "optflow"):
            raise ImportError(
                "TV-L1 optical flow needs OpenCV's contrib modules (cv2.optflow): "
                "pip install opencv-contrib-python-headless (after pip uninstall "
                "opencv-python-headless: both provide cv2), or use method 'farneback' or 'dis'."
            )
        calc = cv2.optflow.DualTVL1OpticalFlow_create().calc
    elif method == "farneback":
        calc = _farneback
    elif method == "dis":
        calc = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM).calc
    else:
        raise ValueError(f"unknown flow method {method!r}; known: {', '.join(FLOW_METHODS)}")

    def flow_fn(prev: np.ndarray, next_: np.ndarray) -> np.ndarray:
        # DIS asserts contiguous inputs; crops and channel slices are views that are not.
        return calc(np.ascontiguousarray(prev), np.ascontiguousarray(next_), None)

    return flow_fn


def _farneback(prev: np.ndarray, next_: np.ndarray, flow: np.ndarray | None) -> np.ndarray:
    """Farneback flow with the customary parameters, called like OpenCV's `calc(I0, I1, flow)`."""
    return cv2.calcOpticalFlowFarneback(prev, next_, flow, 0.5, 3, 15, 3, 5, 1.2, 0)


def to_gray(frame: np.ndarray) -> np.ndarray:
    """An RGB frame [H, W, 3] uint8 as luma [H, W] uint8; a [H, W] frame is returned as is."""
    if frame.ndim == 2:
        return frame
    if frame.ndim != 3 or frame.shape[-1] != 3:
        raise ValueError(f"expected a [H, W, 3] RGB or [H, W] gray frame, got {frame.shape}")
    return cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_RGB2GRAY)


def quantize_flow(flow: np.ndarray, bound: float = DEFAULT_BOUND) -> np.ndarray:
    """Maps flow in pixels onto uint8: clip to [-bound, bound], then linearly onto [0, 255].

    v = round((x + bound) * 255 / (2 * bound)): -bound -> 0, 0 -> 128, +bound -> 255.
    This is the formula of TSN's dense_flow (`CAST` in yjxiong/dense_flow
    common.cpp, kept by open-mmlab/denseflow), so stored planes are
    interchangeable with TSN's. Only exact rounding ties differ: OpenCV's
    cvRound rounds them to even, we round them away from the centre 127.5.

    Why: the centre of the scale is 127.5, so `255 - v` stores exactly the
    negated value (`dequantize_flow(255 - v) == -dequantize_flow(v)`), which is
    how the training pipeline inverts flow-x under a horizontal flip; and with
    ties rounded away from the centre, `255 - quantize(x) == quantize(-x)` for
    every x except x == 0 exactly (0 maps to 128, -0 would need 127.5). A
    mapping centred on 128, such as x -> 128 + x * 128 / bound, is off by one
    level (bound/128 pixels) under that inversion. (mmcv's `quantize_flow` is
    different again: it floors into 255 bins.)

    Args:
      flow: float array of any shape, in pixels (usually [..., 2]).
      bound: the clipping magnitude in pixels, > 0.

    Returns:
      uint8 array of the same shape.
    """
    if bound <= 0:
        raise ValueError(f"bound must be positive, got {bound}")
    # float64 keeps x and -x bit-for-bit symmetric through the scaling.
    s = np.clip(np.asarray(flow, np.float64), -bound, bound) * (127.5 / bound)
    # Nearest integer to 127.5 + s with ties away from 127.5: 128 + floor(s) for
    # s >= 0, its mirror image 127 - floor(-s) below.
    q = np.where(s >= 0, 128.0 + np.floor(s), 127.0 - np.floor(-s))
    return q.astype(np.uint8)


def dequantize_flow(quantized: np.ndarray, bound: float = DEFAULT_BOUND) -> np.ndarray:
    """The inverse of `quantize_flow`: uint8 levels back to pixels.

    Args:
      quantized: integer array (uint8 levels 0..255) of any shape.
      bound: the bound it was quantized with.

    Returns:
      float32 array of the same shape, x = (v - 127.5) * 2 * bound / 255, so 0 ->
      -bound, 255 -> +bound, and levels v and 255 - v give exactly opposite values.
      The error against the original (unclipped-range) flow is at most
      bound / 255 pixels.
    """
    return ((np.asarray(quantized, np.float32) - 127.5) * np.float32(2 * bound / 255)).astype(
        np.float32
    )


def _grid_correspondences(flow: np.ndarray, step: int) -> tuple[np.ndarray, np.ndarray]:
    """Points every `step` pixels and where `flow` moves them: two float32 [N, 2] (x, y) arrays."""
    height, width = flow.shape[:2]
    ys, xs = np.mgrid[step // 2 : height : step, step // 2 : width : step]
    ys, xs = ys.ravel(), xs.ravel()
    src = np.stack([xs, ys], axis=1).astype(np.float32)
    return src, src + flow[ys, xs].astype(np.float32)


def camera_homography(flow: np.ndarray, grid_step: int = 8) -> np.ndarray:
    """The homography of the dominant (camera) motion, fitted to a flow field with RANSAC.

    Follows improved dense trajectories (Wang & Schmid, ICCV 2013), as TSN's
    warped flow does, with two simplifications: correspondences come from the
    flow on a regular grid only (iDT adds SURF matches), and humans are not
    masked out (iDT removes matches inside a human detector's boxes), so a
    large moving person can bias the estimate towards their own motion.

    Args:
      flow: float [H, W, 2] flow from prev to next.
      grid_step: spacing in pixels of the grid of correspondences.

    Returns:
      float64 [3, 3] H mapping prev (x, y, 1) to next. The identity when it
      cannot be trusted: fewer than 4 grid points, RANSAC failing (None or
      non-finite), or under a quarter of the points being inliers (iDT's
      guard, which asks for 25 inliers out of more than 50 matches). Nothing is
      logged: this happens on every frame of a textureless shot.
    """
    src, dst = _grid_correspondences(flow, grid_step)
    if len(src) >= 4:
        # 1 px reprojection threshold, as iDT and TSN's denseflow.
        homography, inliers = cv2.findHomography(src, dst, cv2.RANSAC, 1.0)
        if (
            homography is not None
            and np.all(np.isfinite(homography))
            and int(inliers.sum()) * 4 >= len(src)
        ):
            return homography
    return np.eye(3)


def warped_flow(
    prev: np.ndarray,
    next_: np.ndarray,
    flow_fn: FlowFn,
    *,
    flow: np.ndarray | None = None,
    grid_step: int = 8,
) -> np.ndarray:
    """TSN's warped optical flow: flow after cancelling the camera motion.

    Wang et al., "Temporal Segment Networks", ECCV 2016, after improved dense
    trajectories (Wang & Schmid 2013): estimate the camera homography from the
    flow prev -> next (`camera_homography`), warp next back onto prev with it,
    and compute the flow again between prev and the warped next. Pixels whose
    source falls outside next take prev's value (as iDT's MyWarpPerspective),
    so the frame border shows no spurious motion.

    Args:
      prev: uint8 [H, W, 3] RGB or [H, W] gray frame.
      next_: the following frame, same size and kind.
      flow_fn: from `make_flow_fn`.
      flow: the flow prev -> next if already computed (saves one estimation).
      grid_step: spacing of the correspondences for the homography.

    Returns:
      float32 [H, W, 2] flow from prev to the camera-compensated next. When the
      homography falls back to the identity, this is the plain flow.
    """
    prev_gray, next_gray = to_gray(prev), to_gray(next_)
    if flow is None:
        flow = flow_fn(prev_gray, next_gray)
    homography = camera_homography(flow, grid_step)
    if np.array_equal(homography, np.eye(3)):
        return flow
    height, width = prev_gray.shape
    # WARP_INVERSE_MAP: warped(p) = next(H p), i.e. next pulled back into prev's frame.
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    warped = cv2.warpPerspective(next_gray, homography, (width, height), flags=flags)
    inside = cv2.warpPerspective(
        np.full_like(next_gray, 255), homography, (width, height), flags=flags
    )
    warped = np.where(inside == 255, warped, prev_gray)
    return flow_fn(prev_gray, warped)


class FlowStream:
    """Quantized flows of a video fed one frame at a time (two frames in memory).

    Push-style, for a decoder callback such as `decode_video(..., map_frame=...)`:
      stream = FlowStream("tvl1", ("flow", "warp"))
      for frame in frames:
          flows = stream.push(frame)  # None for the first frame
    """

    def __init__(
        self,
        method: str,
        kinds: Sequence[str] = ("flow",),
        *,
        bound: float = DEFAULT_BOUND,
        grid_step: int = 8,
    ):
        """Builds the estimator once for the whole video.

        Args:
          method: one of FLOW_METHODS.
          kinds: which of FLOW_KINDS to compute: "flow" (plain) and/or "warp"
            (`warped_flow`; asking for both estimates the plain flow once).
          bound: clipping bound of `quantize_flow`.
          grid_step: grid spacing for the warped flow's homography.
        """
        unknown = sorted(set(kinds) - set(FLOW_KINDS))
        if unknown or not kinds:
            raise ValueError(f"kinds must be a non-empty subset of {FLOW_KINDS}, got {list(kinds)}")
        self.kinds = tuple(kinds)
        self.bound = bound
        self.grid_step = grid_step
        self._flow_fn = make_flow_fn(method)
        self._prev: np.ndarray | None = None

    def push(self, frame: np.ndarray) -> dict[str, np.ndarray] | None:
        """Takes the next frame; returns the flows from the previous one.

        Args:
          frame: uint8 [H, W, 3] RGB or [H, W] gray, the size of the previous ones.

        Returns:
          None for the first frame, else {kind: uint8 [H, W, 2]} for each kind
          (x plane, y plane), the quantized flow previous frame -> this one.
        """
        gray = to_gray(np.asarray(frame))
        prev, self._prev = self._prev, gray
        if prev is None:
            return None
        flow = self._flow_fn(prev, gray)
        out = {}
        if "flow" in self.kinds:
            out["flow"] = quantize_flow(flow, self.bound)
        if "warp" in self.kinds:
            warp = warped_flow(prev, gray, self._flow_fn, flow=flow, grid_step=self.grid_step)
            out["warp"] = quantize_flow(warp, self.bound)
        return out


def iter_video_flows(
    frames: Iterable[np.ndarray],
    method: str,
    kinds: Sequence[str] = ("flow",),
    *,
    bound: float = DEFAULT_BOUND,
    grid_step: int = 8,
) -> Iterator[dict[str, np.ndarray]]:
    """Quantized flows between consecutive frames, two frames in memory at a time.

    Args:
      frames: uint8 RGB frames [H, W, 3] (or gray [H, W]), any iterable: an
        array [T, H, W, 3] or a generator reading a long video lazily.
      method, kinds, bound, grid_step: as for `FlowStream`.

    Yields:
      For frames t-1 and t (t = 1..T-1), {kind: uint8 [H, W, 2]} for each kind.
      Nothing for fewer than 2 frames.
    """
    stream = FlowStream(method, kinds, bound=bound, grid_step=grid_step)
    for frame in frames:
        flows = stream.push(frame)
        if flows is not None:
            yield flows


def iter_video_flow(
    frames: Iterable[np.ndarray],
    method: str,
    *,
    warped: bool = False,
    bound: float = DEFAULT_BOUND,
) -> Iterator[np.ndarray]:
    """Like `iter_video_flows` for one kind: yields uint8 [H, W, 2] per consecutive pair.

    Args:
      frames: uint8 RGB [H, W, 3] (or gray [H, W]) frames, any iterable.
      method: one of FLOW_METHODS.
      warped: TSN's warped flow instead of the plain flow.
      bound: clipping bound of `quantize_flow`.
    """
    kind = "warp" if warped else "flow"
    for flows in iter_video_flows(frames, method, (kind,), bound=bound):
        yield flows[kind]


def video_flow(
    frames: np.ndarray,
    method: str,
    *,
    warped: bool = False,
    bound: float = DEFAULT_BOUND,
) -> np.ndarray:
    """Quantized flow between each pair of consecutive frames of a decoded video.

    Args:
      frames: uint8 [T, H, W, 3] RGB.
      method: one of FLOW_METHODS.
      warped: TSN's warped flow (camera motion cancelled) instead of the plain flow.
      bound: clipping bound of `quantize_flow`.

    Returns:
      uint8 [T-1, H, W, 2] (x plane, y plane), flow t-1 -> t at index t-1. A
      video of fewer than 2 frames has no pair: the result is [0, H, W, 2].
    """
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"expected frames [T, H, W, 3], got {frames.shape}")
    flows = list(iter_video_flow(frames, method, warped=warped, bound=bound))
    if not flows:
        return np.zeros((0, *frames.shape[1:3], 2), np.uint8)
    return np.stack(flows)
