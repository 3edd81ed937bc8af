"""Which frames to read: TSN segments, regular strides, dense clips, as TensorFlow ops.

Every function here maps a video length (a scalar int32 tensor) to a vector of
frame indices, so the pipeline can gather and decode only those frames.

TSN (Wang et al., ECCV 2016, Sec. 3.1; TPAMI 2018, Sec. 3.2) divides a video into
K segments of equal duration and takes one snippet of T consecutive frames from
each: at a random position inside the segment when training, at the centre of
the segment when testing.

Segment boundaries are real numbers (segment k covers [k*L/K, (k+1)*L/K) of the
L admissible snippet starts), as the paper's "segments of equal durations"
reads. The public tsn-pytorch code uses integer segment lengths and falls back
to sorted random starts (training) when a video has fewer frames than K*T; both
agree whenever L is a multiple of K. For videos shorter than K snippets the
real-valued segments repeat starts in temporal order instead of sorting random
draws, which keeps the snippet order meaningful for order-sensitive models.

Dense clips for 3D networks are the same scheme with a frame interval tau: a
snippet is T frames tau apart (a clip spanning (T - 1) * tau + 1 frames, e.g.
I3D-R50's 32x2 or SlowFast's 8x8), K = 1 for one random clip per video in
training and K = M clips at the centres of M segments in testing.

`clip_sampling='mmaction2'` instead places clips as mmaction2 1.2's
`SampleFrames` does (`mmaction/datasets/transforms/loading.py`, run side by side
in tests/test_mmaction_parity_data.py; `mmaction2_test_starts`,
`mmaction2_train_starts`). Its test snippets for T = 1 are the segment centres
above (and its `twice_sample` set the segment starts), but computed in float64,
which puts an integer centre (start) a frame early for 4.4% (0.4%) of the
(N <= 400, M <= 30) pairs; the 'tsn' rule computes them exactly. For T > 1 the rules differ:
mmaction2 spreads M clips from frame 0 to the last admissible start N - span,
both ends included, rounding half to even (a single clip at (N - span) // 2, a
frame before our centre when N - span + 1 is even). In training it treats a clip
as T * tau frames long (tau - 1 more than it reads) and uses integer segment
lengths as tsn-pytorch does: for K = 1 a uniform start in [0, N - T * tau]
instead of our [0, N - span].

Hara et al.'s multi-scale temporal crop scales tau per training sample (fractional
intervals resample by nearest neighbour), and regular sampling (`regular_starts`)
spaces the K snippets a fixed stride apart, the baseline TSN compares with.

Whole-video test views give a number of snippets that depends on the video's
length: one snippet per second for untrimmed video (`per_second_starts`, TSN's
M-TWI input) and Hara et al.'s consecutive 16-frame windows
(`window_frame_indices`).

Indices past the end of a short video (`snippet_frame_indices`): 'clamp' reads
the video's last frame (tsn-pytorch), 'repeat_last' the clip's last frame inside
the video (mmaction2's `out_of_bound_opt='repeat_last'`; the same as 'clamp' for
tau = 1), 'loop' wraps to the first frame (Hara et al.'s loop padding, mmaction2's
default `out_of_bound_opt='loop'`, both a modulo N).
"""

from collections.abc import Sequence

import tensorflow as tf

from tsn_jax.spec import CLIP_SAMPLINGS, SHORT_VIDEO_MODES


def _step(frame_interval: float | tf.Tensor) -> tf.Tensor:
    """The distance between a snippet's frames as a float32 scalar, checked when static."""
    if isinstance(frame_interval, int | float) and frame_interval <= 0:
        raise ValueError(f"frame_interval must be > 0, got {frame_interval}")
    return tf.cast(frame_interval, tf.float32)


def _offsets(frames_per_snippet: int, frame_interval: float | tf.Tensor) -> tf.Tensor:
    """[T] int32 frame offsets inside a snippet: floor(t * interval).

    An integer interval tau gives 0, tau, 2 tau, ...; a fractional one resamples by
    nearest neighbour (Hara et al.'s temporal scales: 1/2 repeats every frame twice).
    """
    t = tf.range(frames_per_snippet, dtype=tf.float32)
    return tf.cast(tf.floor(t * _step(frame_interval)), tf.int32)


def _num_starts(
    num_frames: tf.Tensor, frames_per_snippet: int, frame_interval: float | tf.Tensor
) -> tf.Tensor:
    """Number of admissible snippet starts (at least 1, for videos shorter than a snippet)."""
    span = _offsets(frames_per_snippet, frame_interval)[-1] + 1
    return tf.maximum(num_frames - span + 1, 1)


def snippet_frame_indices(
    starts: tf.Tensor,
    frames_per_snippet: int,
    num_frames: tf.Tensor,
    short_video: str,
    frame_interval: float | tf.Tensor = 1,
) -> tf.Tensor:
    """Expands snippet starts into the frame indices of every snippet.

    Args:
      starts: [K] int32 first frame of each snippet.
      frames_per_snippet: T, frames per snippet.
      num_frames: scalar int32, frames in the video (> 0).
      short_video: what an index past the end of the video becomes: 'clamp' the
        video's last frame N - 1 (tsn-pytorch); 'repeat_last' the last index of
        the same snippet that is inside the video, frame 0 if none is
        (mmaction2's `out_of_bound_opt='repeat_last'`); 'loop' the index modulo
        N (Hara et al.'s loop padding, mmaction2's `out_of_bound_opt='loop'`).
      frame_interval: tau, frames between two frames of a snippet (1: consecutive;
        fractional: nearest-neighbour resampling, see `_offsets`).

    Returns:
      [K * T] int32 indices, snippet-major (snippet 0's T frames first).
    """
    if short_video not in SHORT_VIDEO_MODES:
        raise ValueError(f"short_video must be one of {SHORT_VIDEO_MODES}, got {short_video!r}")
    offsets = _offsets(frames_per_snippet, frame_interval)
    indices = starts[:, None] + offsets[None, :]  # [K, T]
    if short_video == "clamp":
        indices = tf.minimum(indices, num_frames - 1)
    elif short_video == "repeat_last":
        inside = indices < num_frames
        last = tf.reduce_max(tf.where(inside, indices, 0), axis=1, keepdims=True)
        indices = tf.where(inside, indices, last)
    else:
        indices = tf.math.floormod(indices, num_frames)
    return tf.reshape(indices, [-1])


def tsn_train_starts(
    num_frames: tf.Tensor,
    num_segments: int,
    frames_per_snippet: int,
    seed: tf.Tensor,
    frame_interval: float | tf.Tensor = 1,
) -> tf.Tensor:
    """Random snippet start inside each of K equal segments (TSN training).

    Args:
      num_frames: scalar int32, frames in the video (> 0).
      num_segments: K.
      frames_per_snippet: T.
      seed: [2] int32/int64 stateless random seed.
      frame_interval: tau, frames between two frames of a snippet.

    Returns:
      [K] int32 non-decreasing starts, start k in segment k.
    """
    starts = _num_starts(num_frames, frames_per_snippet, frame_interval)
    num_starts = tf.cast(starts, tf.float32)
    segment = num_starts / num_segments
    u = tf.random.stateless_uniform([num_segments], seed=seed, minval=0.0, maxval=1.0)
    k = tf.range(num_segments, dtype=tf.float32)
    starts = tf.cast(tf.floor((k + u) * segment), tf.int32)
    # floor((k+u)*seg) < num_starts holds mathematically; guard float rounding.
    return tf.minimum(starts, tf.cast(num_starts, tf.int32) - 1)


def tsn_eval_starts(
    num_frames: tf.Tensor,
    num_segments: int,
    frames_per_snippet: int,
    frame_interval: float | tf.Tensor = 1,
    at_start: bool = False,
) -> tf.Tensor:
    """Snippet start at the centre of each of K equal segments (TSN testing).

    With K = 25 this is the paper's 25 test snippets (TPAMI 2018, Sec. 4.1) from
    the K equal segments of Sec. 3.2: start k = floor((k + 1/2) * L / K) over the
    L = N - span + 1 admissible starts, in exact integer arithmetic. `at_start`
    takes each segment's first admissible start, floor(k * L / K), instead (the
    second set of test views with `twice_sample`).

    Returns:
      [K] int32 starts.
    """
    num_starts = tf.cast(_num_starts(num_frames, frames_per_snippet, frame_interval), tf.int64)
    halves = 2 * tf.range(num_segments, dtype=tf.int64) + (0 if at_start else 1)
    return tf.cast(halves * num_starts // (2 * num_segments), tf.int32)


def mmaction2_test_starts(
    num_frames: tf.Tensor,
    num_clips: int,
    frames_per_snippet: int,
    frame_interval: int = 1,
    second_set: bool = False,
) -> tf.Tensor:
    """Test clip starts of mmaction2 1.2's `SampleFrames(test_mode=True)`.

    For T = 1 (its "2D" branch) these are TSN's segment centres (`tsn_eval_starts`;
    with `second_set`, the segment starts of `twice_sample`) computed in float64 as
    int(k * N / M + N / M / 2) (and int(k * N / M)), which now and then lands just
    below an integer centre (start): 4.4% (0.4%) of the (N <= 400, M <= 30) pairs.

    For T > 1 (its "3D" branch), with span = (T - 1) * tau + 1 and
    D = max(N - span, 0): clip k starts at round(k * D / (M - 1)), k = 0..M-1,
    rounding half to even (numpy's `round`), so the first clip starts at frame 0
    and the last at D; a single clip starts at D // 2. `twice_sample` asks
    mmaction2 for 2M clips with the same spacing, so its second set (`second_set`)
    continues past the video, k = M..2M-1, and is wrapped or repeated by
    `out_of_bound_opt`; mmaction2 fails with M = 1 there, and so does this
    function. (TSN instead centres each clip in one of M equal segments,
    `tsn_eval_starts`.)

    Args:
      num_frames: scalar int32, frames in the video (> 0).
      num_clips: M.
      frames_per_snippet: T.
      frame_interval: tau, a positive integer.
      second_set: the second M clips of `twice_sample`.

    Returns:
      [M] int32 starts (past the end of the video for T > 1 with `second_set`).
    """
    num_frames = tf.convert_to_tensor(num_frames, tf.int32)
    if frames_per_snippet == 1:
        # mmaction2's float64 arithmetic, whose rounding puts an integer centre a
        # frame early now and then (N = 6, M = 7: snippet 3 at frame 2, not 3).
        segment = tf.cast(num_frames, tf.float64) / float(num_clips)
        starts = tf.range(num_clips, dtype=tf.float64) * segment
        return tf.cast(starts if second_set else starts + segment / 2.0, tf.int32)
    if not isinstance(frame_interval, int):
        raise ValueError(f"mmaction2 clips need an integer frame_interval, got {frame_interval}")
    span = (frames_per_snippet - 1) * frame_interval + 1
    last_start = tf.maximum(num_frames - span, 0)
    if num_clips == 1:
        if second_set:
            raise ValueError("mmaction2's twice_sample of dense clips needs more than one clip")
        return last_start[None] // 2
    between = tf.cast(last_start, tf.float64) / float(num_clips - 1)
    first = num_clips if second_set else 0
    k = tf.range(first, first + num_clips, dtype=tf.float64)
    return tf.cast(tf.round(k * between), tf.int32)


def mmaction2_train_starts(
    num_frames: tf.Tensor,
    num_clips: int,
    frames_per_snippet: int,
    seed: tf.Tensor,
    frame_interval: int = 1,
) -> tf.Tensor:
    """Training clip starts drawn as mmaction2 1.2's `SampleFrames` (test_mode False).

    mmaction2 counts a clip as T * tau frames here (tau - 1 more than it reads), so
    with L = N - T * tau + 1 and an integer segment length s = L // K: if s > 0, clip
    k starts at k * s plus a uniform draw in [0, s) (tsn-pytorch's rule: for K = 1
    any start in [0, N - T * tau]); otherwise, if N > max(K, T * tau), K sorted
    uniform draws in [0, L); otherwise, if s == 0, round(k * L / K); otherwise 0.
    The draws come from `seed`, not numpy's generator: the same distribution, not
    the same numbers.

    Returns:
      [K] int32 starts.
    """
    if not isinstance(frame_interval, int):
        raise ValueError(f"mmaction2 clips need an integer frame_interval, got {frame_interval}")
    num_frames = tf.convert_to_tensor(num_frames, tf.int32)
    clip_frames = frames_per_snippet * frame_interval
    num_starts = num_frames - clip_frames + 1  # L, may be <= 0
    segment = num_starts // num_clips  # floor division, as Python's //
    k = tf.range(num_clips, dtype=tf.int32)
    seed_a, seed_b = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
    in_segment = k * segment + tf.random.stateless_uniform(
        [num_clips], seed_a, 0, tf.maximum(segment, 1), dtype=tf.int32
    )
    sorted_draws = tf.sort(
        tf.random.stateless_uniform(
            [num_clips], seed_b, 0, tf.maximum(num_starts, 1), dtype=tf.int32
        )
    )
    spread = tf.cast(
        tf.round(tf.cast(k, tf.float64) * (tf.cast(num_starts, tf.float64) / num_clips)),
        tf.int32,
    )
    return tf.where(
        segment > 0,
        in_segment,
        tf.where(
            num_frames > max(num_clips, clip_frames),
            sorted_draws,
            tf.where(segment == 0, spread, tf.zeros_like(k)),
        ),
    )


def regular_starts(
    num_frames: tf.Tensor,
    num_snippets: int,
    frames_per_snippet: int,
    snippet_stride: int,
    frame_interval: float | tf.Tensor,
    seed: tf.Tensor | None,
) -> tf.Tensor:
    """Starts of K snippets a fixed `snippet_stride` apart (regular sampling).

    The baseline that TSN's segment-based sampling is compared with (TPAMI 2018,
    Sec. 5.2): K snippets at a fixed stride, the group at a uniformly random
    position when training (`seed` given), centred in the video when testing
    (`seed` None). A group longer than the video starts at frame 0.

    Returns:
      [K] int32 starts.
    """
    if snippet_stride < 1:
        raise ValueError(f"snippet_stride must be >= 1, got {snippet_stride}")
    snippet_span = _offsets(frames_per_snippet, frame_interval)[-1] + 1
    span = (num_snippets - 1) * snippet_stride + snippet_span
    num_starts = tf.maximum(num_frames - span + 1, 1)
    if seed is None:
        first = (num_starts - 1) // 2
    else:
        first = tf.random.stateless_uniform([], seed, 0, num_starts, dtype=tf.int32)
    return first + tf.range(num_snippets, dtype=tf.int32) * snippet_stride


def per_second_starts(
    num_frames: tf.Tensor, fps: float | tf.Tensor, snippets_per_second: float = 1.0
) -> tf.Tensor:
    """Starts of snippets at a fixed rate over a whole video (untrimmed testing).

    TSN's untrimmed evaluation (TPAMI 2018, Sec. 4.2) scores one snippet per
    second over the video, then pools the scores with M-TWI. Snippet i starts at
    floor(i * fps / snippets_per_second); a video shorter than the period gets
    one snippet at frame 0.

    Args:
      num_frames: scalar int32, frames in the video (> 0).
      fps: frame rate of the stored frames (> 0).
      snippets_per_second: sampling rate.

    Returns:
      [N] int32 starts, N = ceil(num_frames * snippets_per_second / fps).
    """
    period = tf.cast(fps, tf.float32) / snippets_per_second
    tf.debugging.assert_positive(period, "per-second sampling needs the video's frame rate")
    count = tf.maximum(tf.cast(tf.math.ceil(tf.cast(num_frames, tf.float32) / period), tf.int32), 1)
    starts = tf.cast(tf.floor(tf.range(count, dtype=tf.float32) * period), tf.int32)
    return tf.minimum(starts, tf.cast(num_frames, tf.int32) - 1)


def window_frame_indices(
    num_frames: tf.Tensor, window: int, stride: int | None = None
) -> tf.Tensor:
    """Frame indices of consecutive windows covering a video (Hara et al.'s test clips).

    Hara et al. test on non-overlapping 16-frame windows (stride = window) and
    average the clip scores. A window running past the end is loop padded
    within itself, as their `LoopPadding` does: its own frames repeated in order
    (frames 32..39 of a 40-frame video give 32..39, 32..39).

    Args:
      num_frames: scalar int32, frames in the video (> 0).
      window: frames per window (T).
      stride: frames between window starts (default: `window`, no overlap).

    Returns:
      [N, window] int32 indices, N = ceil(num_frames / stride) windows.
    """
    stride = window if stride is None else stride
    if window < 1 or stride < 1:
        raise ValueError(f"window and stride must be >= 1, got {window}, {stride}")
    num_frames = tf.maximum(tf.convert_to_tensor(num_frames, tf.int32), 1)
    starts = tf.range(0, num_frames, stride, dtype=tf.int32)
    available = tf.minimum(num_frames - starts, window)
    offsets = tf.range(window, dtype=tf.int32)
    return starts[:, None] + tf.math.floormod(offsets[None, :], available[:, None])


def tsn_frame_indices(
    num_frames: tf.Tensor,
    *,
    num_segments: int,
    frames_per_snippet: int,
    training: bool,
    short_video: str = "clamp",
    seed: tf.Tensor | None = None,
    frame_interval: int = 1,
    temporal_scales: Sequence[float] = (),
    snippet_stride: int = 0,
    second_set: bool = False,
    clip_sampling: str = "tsn",
) -> tf.Tensor:
    """Frame indices of the K snippets (or dense clips) of a sample.

    Args:
      num_frames: scalar int32, frames in the video (> 0).
      num_segments: K.
      frames_per_snippet: T.
      training: random start inside each segment if True, centre otherwise.
      short_video: 'clamp', 'repeat_last' or 'loop', see `snippet_frame_indices`.
      seed: [2] stateless seed, required when training.
      frame_interval: tau, frames between two frames of a snippet (1 for TSN).
      temporal_scales: training only: each sample multiplies tau by one of these,
        drawn uniformly (Hara et al.'s multi-scale temporal crop, (3, 2, 1, 1/2,
        1/3): a window of 3T frames subsampled to T, ..., T/3 frames each repeated
        3 times); empty: tau as it is. Evaluation always uses tau.
      snippet_stride: 0 for TSN's segments; > 0 for regular sampling, the K snippets
        this many frames apart (`regular_starts`).
      second_set: evaluation only: the second set of test views of `twice_sample`
        (segment starts instead of centres; see `mmaction2_test_starts` for
        mmaction2's).
      clip_sampling: 'tsn' (`tsn_train_starts`, `tsn_eval_starts`) or 'mmaction2'
        (`mmaction2_train_starts`, `mmaction2_test_starts`).

    Returns:
      [K * T] int32 frame indices in [0, num_frames), snippet-major.
    """
    if clip_sampling not in CLIP_SAMPLINGS:
        raise ValueError(f"clip_sampling must be one of {CLIP_SAMPLINGS}, got {clip_sampling!r}")
    mmaction2 = clip_sampling == "mmaction2"
    if mmaction2 and (temporal_scales or snippet_stride):
        raise ValueError(
            "clip_sampling='mmaction2' is implemented for TSN segments without temporal "
            "scales: set snippet_stride=0 and temporal_scales=()"
        )
    num_frames = tf.convert_to_tensor(num_frames, tf.int32)
    step = _step(frame_interval)
    if training:
        if seed is None:
            raise ValueError("training sampling needs a seed")
        if mmaction2:
            starts = mmaction2_train_starts(
                num_frames, num_segments, frames_per_snippet, seed, frame_interval
            )
        else:
            if temporal_scales:
                # A separate stream for the scale; without scales the seed is used as
                # it always was, so existing sample streams do not change.
                seed, scale_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
                scales = tf.constant(temporal_scales, tf.float32)
                pick = tf.random.stateless_uniform(
                    [], scale_seed, 0, len(temporal_scales), dtype=tf.int32
                )
                step = step * scales[pick]
            if snippet_stride:
                starts = regular_starts(
                    num_frames, num_segments, frames_per_snippet, snippet_stride, step, seed
                )
            else:
                starts = tsn_train_starts(num_frames, num_segments, frames_per_snippet, seed, step)
    elif mmaction2:
        starts = mmaction2_test_starts(
            num_frames, num_segments, frames_per_snippet, frame_interval, second_set
        )
    elif snippet_stride:
        if second_set:
            raise ValueError("regular sampling has no segments: twice_sample is not defined")
        starts = regular_starts(
            num_frames, num_segments, frames_per_snippet, snippet_stride, step, None
        )
    else:
        starts = tsn_eval_starts(num_frames, num_segments, frames_per_snippet, step, second_set)
    return snippet_frame_indices(starts, frames_per_snippet, num_frames, short_video, step)
