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
training and K = M evenly spaced clips (centre of each of M segments) in testing.
The test clips are exactly mmaction2's `SampleFrames(clip_len=T,
frame_interval=tau, num_clips=M, test_mode=True)`; its training clips use integer
segment lengths as tsn-pytorch does (identical when the admissible starts divide
by K, and for K = 1 the same uniform start in [0, L - span]).

Hara et al.'s multi-scale temporal crop scales tau per training sample (fractional
intervals resample by nearest neighbour), and regular sampling (`regular_starts`)
spaces the K snippets a fixed stride apart, the baseline TSN compares with.

Whole-video test views give a number of snippets that depends on the video's
length: one snippet per second for untrimmed video (`per_second_starts`, TSN's
M-TWI input) and Hara et al.'s consecutive 16-frame windows
(`window_frame_indices`).

Short videos: 'clamp' repeats the last frame (tsn-pytorch, mmaction2), 'loop'
wraps to the first (Hara et al.'s loop padding), see `snippet_frame_indices`.
"""

from collections.abc import Sequence

import tensorflow as tf

SHORT_VIDEO_MODES = ("clamp", "loop")


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
      short_video: what to do with indices past the end of a video shorter than
        a snippet: 'clamp' repeats the last frame (tsn-pytorch, mmaction2), 'loop'
        wraps around to the first frame (Hara et al.'s loop padding).
      frame_interval: tau, frames between two frames of a snippet (1: consecutive;
        fractional: nearest-neighbour resampling, see `_offsets`).

    Returns:
      [K * T] int32 indices, snippet-major (snippet 0's T frames first).
    """
    if short_video not in SHORT_VIDEO_MODES:
        raise ValueError(f"short_video must be one of {SHORT_VIDEO_MODES}, got {short_video!r}")
    offsets = _offsets(frames_per_snippet, frame_interval)
    indices = tf.reshape(starts[:, None] + offsets[None, :], [-1])
    if short_video == "clamp":
        return tf.minimum(indices, num_frames - 1)
    return tf.math.floormod(indices, num_frames)


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
    segment_position: float = 0.5,
) -> tf.Tensor:
    """Snippet start at the same place of each of K equal segments (TSN testing).

    With K = 25 this is the paper's 25 evenly spaced test snippets; with a frame
    interval, mmaction2's evenly spaced test clips. `segment_position` 0.5 takes
    the centre of each segment (TSN, mmaction2); 0.0 its first admissible start,
    the second set of clips of mmaction2's `twice_sample`.

    Returns:
      [K] int32 starts.
    """
    if not 0.0 <= segment_position < 1.0:
        raise ValueError(f"segment_position must be in [0, 1), got {segment_position}")
    starts = _num_starts(num_frames, frames_per_snippet, frame_interval)
    num_starts = tf.cast(starts, tf.float32)
    segment = num_starts / num_segments
    k = tf.range(num_segments, dtype=tf.float32)
    return tf.cast(tf.floor((k + segment_position) * segment), tf.int32)


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
    segment_position: float = 0.5,
) -> tf.Tensor:
    """Frame indices of the K snippets (or dense clips) of a sample.

    Args:
      num_frames: scalar int32, frames in the video (> 0).
      num_segments: K.
      frames_per_snippet: T.
      training: random start inside each segment if True, centre otherwise.
      short_video: 'clamp' or 'loop', see `snippet_frame_indices`.
      seed: [2] stateless seed, required when training.
      frame_interval: tau, frames between two frames of a snippet (1 for TSN).
      temporal_scales: training only: each sample multiplies tau by one of these,
        drawn uniformly (Hara et al.'s multi-scale temporal crop, (3, 2, 1, 1/2,
        1/3): a window of 3T frames subsampled to T, ..., T/3 frames each repeated
        3 times); empty: tau as it is. Evaluation always uses tau.
      snippet_stride: 0 for TSN's segments; > 0 for regular sampling, the K snippets
        this many frames apart (`regular_starts`).
      segment_position: evaluation only: where in each segment a snippet starts
        (`tsn_eval_starts`; 0.5 = centre).

    Returns:
      [K * T] int32 frame indices in [0, num_frames), snippet-major.
    """
    num_frames = tf.convert_to_tensor(num_frames, tf.int32)
    step = _step(frame_interval)
    if training:
        if seed is None:
            raise ValueError("training sampling needs a seed")
        if temporal_scales:
            # A separate stream for the scale; without scales the seed is used as it
            # always was, so existing sample streams do not change.
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
    elif snippet_stride:
        if segment_position != 0.5:
            raise ValueError("regular sampling has no segments: segment_position must be 0.5")
        starts = regular_starts(
            num_frames, num_segments, frames_per_snippet, snippet_stride, step, None
        )
    else:
        starts = tsn_eval_starts(
            num_frames, num_segments, frames_per_snippet, step, segment_position
        )
    return snippet_frame_indices(starts, frames_per_snippet, num_frames, short_video, step)
