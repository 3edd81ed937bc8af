r"""Throughput of the training input pipeline: decode only the sampled frames vs decode all.

    python -m tools.benchmark_input                        # synthetic 10 s, 30 fps, 340x256 videos
    python -m tools.benchmark_input --modalities=rgb,flow --segments=8 --threads=1,2

Each video is stored as the datasets store it (one JPEG per frame; flow as x/y
one-channel JPEG planes) and run through the pipeline's own training transform
(`pipeline.preprocess_example`: TSN sampling, multi-scale crop, flip, normalize).
The 'decode all' column is the same sample plus the decoding of every stored frame
of the video, what loaders that decode whole videos and then sample pay. Figures
are clips per second for a tf.data map over the videos with `threads` worker
threads; divide by the threads for clips/s per CPU core.
"""

from __future__ import annotations

import os
import time

import numpy as np
import tensorflow as tf
from absl import app, flags

from configs import default
from input_pipeline import modalities, pipeline
from tsn_jax import spec

_MODALITIES = flags.DEFINE_list("modalities", ["rgb", "rgb_diff", "flow"], "Modalities to time.")
_SEGMENTS = flags.DEFINE_integer("segments", 8, "K, snippets per clip.")
_THREADS = flags.DEFINE_list("threads", ["1", "2"], "tf.data thread counts to time.")
_VIDEOS = flags.DEFINE_integer("videos", 4, "Distinct synthetic videos (repeated).")
_SECONDS = flags.DEFINE_float("seconds", 10.0, "Length of each synthetic video.")
_FPS = flags.DEFINE_integer("fps", 30, "Frame rate of the synthetic videos.")
_SIZE = flags.DEFINE_list("size", ["256", "340"], "Stored frame height,width.")
_CLIPS = flags.DEFINE_integer("clips", 64, "Clips timed per measurement (after a warm-up).")

# Frames per snippet per modality, as TSN samples them (RGB 1, RGB difference 5
# differences of 6 frames, flow 5 x/y fields).
_FRAMES_PER_SNIPPET = {"rgb": 1, "rgb_diff": 5, "flow": 5, "warped_flow": 5}


def synthetic_video(rng: np.random.Generator, num_frames: int, height: int, width: int):
    """JPEG features of a textured video panning by 2 px a frame: 'video' and flow planes."""
    texture = rng.integers(0, 256, (height, width + 2 * num_frames, 3), np.uint8)
    frames, flow_x, flow_y = [], [], []
    for t in range(num_frames):
        frame = texture[:, 2 * t : 2 * t + width]
        frames.append(tf.io.encode_jpeg(frame, quality=90).numpy())
        # Flow-like planes: smooth, mostly mid-grey, as real quantized flow is.
        plane = (127 + 20 * np.sin(np.arange(width) / 17.0 + t))[None, :, None]
        plane = np.broadcast_to(plane, (height, width, 1)).astype(np.uint8)
        flow_x.append(tf.io.encode_jpeg(plane, quality=90).numpy())
        flow_y.append(tf.io.encode_jpeg(plane[:, ::-1], quality=90).numpy())
    return {
        "video": frames,
        "flow_x": flow_x[:-1],
        "flow_y": flow_y[:-1],
        "warp_x": flow_x[:-1],
        "warp_y": flow_y[:-1],
    }


def decode_everything(example: dict[str, tf.Tensor], modality: str) -> tf.Tensor:
    """The slow path's extra work: every stored frame of `modality` decoded.

    Returns a scalar that depends on every decoded frame, so that the graph
    cannot prune the decoding; added (times 0) to the sample.
    """
    indices = tf.range(modalities.num_frames(example, modality))
    frames = modalities.decode_frames(example, modality, indices)
    return 0.0 * tf.cast(tf.reduce_max(frames), tf.float32)


def time_pipeline(videos, data_config, threads: int, decode_all: bool, clips: int) -> float:
    """Clips per second of the training transform over `videos` with `threads` threads."""
    ds = tf.data.Dataset.from_generator(
        lambda: iter(videos),
        output_signature={
            name: tf.TensorSpec([None], tf.string)
            for name in ("video", "flow_x", "flow_y", "warp_x", "warp_y")
        },
    )
    ds = ds.cache().repeat().enumerate()

    def process(position, example):
        example = dict(example, label=tf.constant(0, tf.int64))
        seed = tf.stack([tf.constant(0, tf.int64), position])
        inputs = pipeline.preprocess_example(
            example, data_config=data_config, training=True, seed=seed
        )["inputs"]
        if decode_all:
            inputs += decode_everything(example, data_config.modality)
        return inputs

    ds = ds.map(process, num_parallel_calls=threads, deterministic=False)
    options = tf.data.Options()
    options.threading.private_threadpool_size = threads
    options.threading.max_intra_op_parallelism = 1
    iterator = iter(ds.with_options(options).prefetch(threads))
    for _ in range(max(4, threads * 2)):  # warm-up: tracing, cache fill
        next(iterator)
    start = time.perf_counter()
    for _ in range(clips):
        next(iterator)
    return clips / (time.perf_counter() - start)


def main(argv: list[str]) -> None:
    del argv
    tf.config.set_visible_devices([], "GPU")
    height, width = (int(v) for v in _SIZE.value)
    num_frames = int(round(_SECONDS.value * _FPS.value))
    rng = np.random.default_rng(0)
    videos = [synthetic_video(rng, num_frames, height, width) for _ in range(_VIDEOS.value)]
    print(
        f"{_VIDEOS.value} videos of {num_frames} frames ({_SECONDS.value:g} s at {_FPS.value} fps),"
        f" {width}x{height}, K={_SEGMENTS.value}, training transform to 224x224;"
        f" {os.cpu_count()} CPUs"
    )
    print("| modality | T | threads | decode sampled (clips/s) | decode all (clips/s) | speed-up |")
    print("|---|---|---|---|---|---|")
    for modality in _MODALITIES.value:
        spec.check_modality(modality)
        config = default.get_config().data
        config.modality = modality
        config.num_segments = _SEGMENTS.value
        config.frames_per_snippet = _FRAMES_PER_SNIPPET[modality]
        config.crop_size = 224
        config.flip = True
        for threads in (int(t) for t in _THREADS.value):
            sampled = time_pipeline(videos, config, threads, False, _CLIPS.value)
            everything = time_pipeline(videos, config, threads, True, max(4, _CLIPS.value // 16))
            print(
                f"| {modality} | {config.frames_per_snippet} | {threads} | {sampled:.1f} |"
                f" {everything:.2f} | {sampled / everything:.0f}x |",
                flush=True,
            )


if __name__ == "__main__":
    app.run(main)
