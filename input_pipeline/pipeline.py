"""The input pipeline: parse -> sample -> decode -> transform -> batch.

Reads a prepared TFDS video dataset (frames JPEG-encoded, read with
`SkipDecoding`) and yields numpy batches in the batch contract of DESIGN.md:

  train: {'inputs': [B, K, T, H, W, C] float32, 'label': [B] int32}
  eval:  rows of test views (`create_view_dataset`): the same keys for R views plus
         'video_index': [R] int32 (position in the evaluated split, -1 for padding
         rows) and 'video_id'; a video's views are consecutive rows, crop-major.

B is the per-process batch. Each process reads its own contiguous part of a
split (`tfds.even_splits`), so no jax import is needed here.

Randomness is stateless: every training sample's sampling, crop and flip derive
from (seed, position of the sample in the training stream), and the stream is
a seeded shuffle, so step s of a resumed run sees exactly the samples of step s
of an uninterrupted run (`start_step` skips encoded records before decoding).
"""

import dataclasses
from collections.abc import Iterator

import ml_collections
import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

from input_pipeline import modalities, sampling, transforms
from input_pipeline.datasets import synthetic_actions
from tsn_jax import spec


@dataclasses.dataclass(frozen=True)
class DatasetInfo:
    """What the trainer needs to know about a prepared dataset."""

    class_names: tuple[str, ...]
    num_train_examples: int
    num_eval_examples: int
    # Named groups of classes whose accuracy is reported separately (the demo
    # data's appearance-only vs order-only classes); empty for real datasets.
    class_groups: dict[str, tuple[str, ...]]

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


def get_dataset_info(builder: tfds.core.DatasetBuilder, config: ml_collections.ConfigDict):
    """DatasetInfo of a prepared builder for the splits named in config.dataset."""
    class_names = tuple(builder.info.features["label"].names)
    groups = {}
    if config.dataset.name in spec.DEMO_DATASETS:
        groups = {
            "appearance": synthetic_actions.APPEARANCE_CLASSES,
            "order": synthetic_actions.ORDER_CLASSES,
        }
    return DatasetInfo(
        class_names=class_names,
        num_train_examples=builder.info.splits[config.dataset.train_split].num_examples,
        num_eval_examples=builder.info.splits[config.dataset.eval_split].num_examples,
        class_groups=groups,
    )


def stored_frame_counts(
    builder: tfds.core.DatasetBuilder, split: str, limit: int = 256
) -> list[int]:
    """'num_frames' of the first `limit` videos of a split (their frames are not decoded)."""
    skip = {name: tfds.decode.SkipDecoding() for name in builder.info.features if name != "label"}
    ds = builder.as_dataset(split, decoders=skip).take(limit)
    return [int(n) for n in ds.map(lambda example: example["num_frames"]).as_numpy_iterator()]


def whole_video_indices(
    num_frames: tf.Tensor,
    fps: tf.Tensor | None,
    *,
    frames_per_snippet: int,
    data_config: ml_collections.ConfigDict,
    eval_config: ml_collections.ConfigDict,
) -> tf.Tensor:
    """[N * T] frame indices of the views of a whole-video test (`eval.sampling`).

    'windows': consecutive non-overlapping windows of T frames covering the video, the
    last one loop padded within itself (Hara et al.); 'per_second': a snippet every
    1 / `eval.snippets_per_second` seconds (TSN's untrimmed testing, TPAMI Sec. 4.2),
    read with `frame_interval` and `short_video` as in training. N varies per video.
    """
    if eval_config.sampling == "windows":
        if data_config.frame_interval != 1:
            raise ValueError(
                "eval.sampling='windows' reads consecutive frames; frame_interval="
                f"{data_config.frame_interval} is not implemented for it"
            )
        return tf.reshape(sampling.window_frame_indices(num_frames, frames_per_snippet), [-1])
    if eval_config.sampling != "per_second":
        raise ValueError(f"unknown eval.sampling {eval_config.sampling!r}")
    if fps is None:
        raise ValueError("eval.sampling='per_second' needs the dataset's 'fps' feature")
    starts = sampling.per_second_starts(num_frames, fps, eval_config.snippets_per_second)
    return sampling.snippet_frame_indices(
        starts,
        frames_per_snippet,
        num_frames,
        data_config.short_video,
        frame_interval=data_config.frame_interval,
    )


def modality_inputs(
    example: dict[str, tf.Tensor],
    modality: str,
    frames_per_snippet: int,
    *,
    data_config: ml_collections.ConfigDict,
    eval_config: ml_collections.ConfigDict | None,
    training: bool,
    sample_seed: tf.Tensor | None,
    transform_seed: tf.Tensor | None,
) -> tf.Tensor:
    """sample -> decode -> transform of one modality of one video.

    The seeds, not the modality, decide the random choices: two modalities of
    a sample given the same seeds get snippets at the same relative positions
    of their segments and the same crop box and flip.

    Returns:
      [K, T, S, S, C] float32 normalized (for 'rgb_diff' the T differences of
      T + 1 frames; for flow x negated on flipped samples); in evaluation with
      several views (`num_eval_views` > 1) [V, K, T, S, S, C].
    """
    num_segments = data_config.num_segments
    if not training and eval_config.num_segments:
        # TSN tests on 25 snippets of a network trained on 3 (average consensus).
        num_segments = eval_config.num_segments
    frames_read = spec.frames_to_sample(modality, frames_per_snippet)
    num_frames = modalities.num_frames(example, modality)
    flow = spec.is_flow(modality)

    eval_sampling = "segments" if training else eval_config.sampling
    if eval_sampling != "segments":
        # Whole-video testing: every window / every second is a view of one snippet.
        num_segments = 1

    def indices(second_set: bool = False) -> tf.Tensor:
        if eval_sampling != "segments":
            return whole_video_indices(
                num_frames,
                example.get("fps"),
                frames_per_snippet=frames_read,
                data_config=data_config,
                eval_config=eval_config,
            )
        return sampling.tsn_frame_indices(
            num_frames,
            num_segments=num_segments,
            frames_per_snippet=frames_read,
            training=training,
            short_video=data_config.short_video,
            seed=sample_seed,
            frame_interval=data_config.frame_interval,
            temporal_scales=tuple(data_config.temporal_scales),
            snippet_stride=data_config.snippet_stride,
            second_set=second_set,
            clip_sampling=data_config.clip_sampling,
        )

    if training:
        frames = transforms.train_transform(
            modalities.decode_frames(example, modality, indices()),
            crop_size=data_config.crop_size,
            scales=tuple(data_config.scales),
            max_distort=data_config.max_distort,
            crop_positions=data_config.crop_positions,
            flip=data_config.flip,
            seed=transform_seed,
            train_crop=data_config.train_crop,
            flow=flow,
        )[None]
    else:
        # Test views: the clips of data.clip_sampling (with twice_sample a second set,
        # see sampling.tsn_frame_indices), each seen through every crop of eval.crops.
        twice = eval_config.twice_sample and eval_sampling == "segments"
        sets = (False, True) if twice else (False,)
        frames = tf.concat(
            [
                transforms.eval_transform(
                    modalities.decode_frames(example, modality, indices(second_set)),
                    resize_short=eval_config.resize_short,
                    crop_size=data_config.crop_size,
                    crops=eval_config.crops,
                    flow=flow,
                )
                for second_set in sets
            ],
            axis=0,
        )
    # frames: [V, K * T, S, S, C]
    frames = transforms.normalize(frames, *spec.normalization(data_config, modality))
    size = data_config.crop_size
    channels = spec.channels_per_frame(modality)
    inputs = tf.reshape(frames, [-1, num_segments, frames_read, size, size, channels])
    if modality == "rgb_diff":
        inputs = modalities.rgb_difference(inputs, data_config.rgb_diff_keep_rgb)
    if eval_sampling != "segments":
        return inputs  # [crops * N, 1, T, S, S, C], crop-major
    return inputs[0] if training or inputs.shape[0] == 1 else inputs


def preprocess_example(
    example: dict[str, tf.Tensor],
    *,
    data_config: ml_collections.ConfigDict,
    training: bool,
    seed: tf.Tensor | None = None,
    eval_config: ml_collections.ConfigDict | None = None,
) -> dict[str, tf.Tensor]:
    """One video -> one sample of K snippets, of one or several modalities.

    Args:
      example: {'video': [L] tf.string JPEG frames, 'flow_x', ... when stored,
        'label': int64 scalar, ...}.
      data_config: config.data.
      training: random sampling and augmentation if True, deterministic otherwise.
      seed: [2] stateless seed of this sample (training only).
      eval_config: config.eval, the test views (evaluation only).

    Returns:
      {'inputs': [K, T, S, S, C] float32 of data.modality, 'label': int32
      scalar} plus 'inputs_<modality>' [K, T', S, S, C'] for each of
      data.extra_modalities ('flow:5' = 5 flow fields per snippet), sampled and
      cropped with the same random state (two-stream fusion, STAN).
    """
    if training:
        sample_seed, transform_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
    elif eval_config is None:
        raise ValueError("evaluation samples need eval_config (config.eval: the test views)")
    else:
        sample_seed = transform_seed = None
    streams = [("inputs", data_config.modality, data_config.frames_per_snippet)]
    for entry in data_config.extra_modalities:
        name, frames = spec.parse_extra_modality(entry, data_config.frames_per_snippet)
        streams.append((f"inputs_{name}", name, frames))
    sample = {
        key: modality_inputs(
            example,
            modality,
            frames,
            data_config=data_config,
            eval_config=eval_config,
            training=training,
            sample_seed=sample_seed,
            transform_seed=transform_seed,
        )
        for key, modality, frames in streams
    }
    sample["label"] = tf.cast(example["label"], tf.int32)
    return sample


def process_split(split: str, process_index: int, process_count: int) -> str:
    """The part of `split` read by one process (contiguous, sizes differ by at most 1)."""
    if process_count == 1:
        return split
    return tfds.even_splits(split, n=process_count)[process_index]


def _read(builder: tfds.core.DatasetBuilder, split: str, shuffle_seed: int | None):
    read_config = tfds.ReadConfig(
        shuffle_seed=shuffle_seed,
        shuffle_reshuffle_each_iteration=True,
        interleave_cycle_length=4,
    )
    return builder.as_dataset(
        split=split,
        shuffle_files=shuffle_seed is not None,
        # Every frame feature (video, flow_x, ...) stays a vector of JPEG strings.
        decoders={
            name: tfds.decode.SkipDecoding()
            for name, feature in builder.info.features.items()
            if isinstance(feature, tfds.features.Video)
        },
        read_config=read_config,
    )


def _options() -> tf.data.Options:
    options = tf.data.Options()
    options.deterministic = True
    return options


def create_train_dataset(
    builder: tfds.core.DatasetBuilder,
    config: ml_collections.ConfigDict,
    *,
    local_batch_size: int,
    process_index: int = 0,
    process_count: int = 1,
    start_step: int = 0,
) -> tf.data.Dataset:
    """Endless, shuffled, augmented training batches of this process.

    Args:
      builder: a prepared video dataset builder.
      config: the full config (uses config.dataset, config.data, config.seed).
      local_batch_size: batch size of this process.
      process_index, process_count: this process and how many read the split.
      start_step: steps already trained; the stream resumes after them.

    Returns:
      tf.data.Dataset of {'inputs': [B, K, T, S, S, C], 'label': [B], 'video_id': [B]
      strings (for messages only: the train step does not read them)}.
    """
    data_seed = config.seed + 1000 * process_index
    split = process_split(config.dataset.train_split, process_index, process_count)
    ds = _read(builder, split, shuffle_seed=data_seed)
    ds = ds.repeat()
    ds = ds.shuffle(config.data.shuffle_buffer_size, seed=data_seed)
    ds = ds.enumerate()
    # Skipping happens on encoded records, before any JPEG is decoded.
    ds = ds.skip(start_step * local_batch_size)

    def _process(position, example):
        seed = tf.stack([tf.constant(data_seed, tf.int64), position])
        sample = preprocess_example(example, data_config=config.data, training=True, seed=seed)
        return {**sample, "video_id": example["video_id"]}

    ds = ds.map(_process, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    ds = ds.batch(local_batch_size, drop_remainder=True)
    ds = ds.prefetch(tf.data.AUTOTUNE)
    return ds.with_options(_options())


def create_view_dataset(
    builder: tfds.core.DatasetBuilder,
    config: ml_collections.ConfigDict,
    *,
    batch_size: int,
    process_index: int = 0,
    process_count: int = 1,
) -> Iterator[dict[str, np.ndarray]]:
    """Every test view of this process's part of the evaluation split, in batches of rows.

    Each video yields its V views (the crops and clip sets of `eval.crops` /
    `eval.twice_sample` over K segments, or with `eval.sampling` 'windows' /
    'per_second' one view per window / snippet and crop, V varying per video); the views
    of all videos are cut into rows of `batch_size`, so a video's 250 TSN views never
    need to be on a device at once and one compiled step serves any V.

    Yields:
      numpy batches of exactly `batch_size` rows: 'inputs' (and 'inputs_<modality>')
      [R, K, T, S, S, C] float32, 'label' [R] int32, 'video_index' [R] int32 (position
      in the whole split; -1 for padding rows) and 'video_id' [R] bytes. A video's
      views are consecutive rows in the order of `tsn_jax.spec.num_eval_views`.
    """
    split_name = config.dataset.eval_split
    split = process_split(split_name, process_index, process_count)
    offset = sum(
        builder.info.splits[process_split(split_name, i, process_count)].num_examples
        for i in range(process_index)
    )
    ds = _read(builder, split, shuffle_seed=None).enumerate()

    def _views(position, example):
        sample = preprocess_example(
            example, data_config=config.data, training=False, eval_config=config.eval
        )
        inputs = {k: v for k, v in sample.items() if k.startswith("inputs")}
        if inputs["inputs"].shape.rank == 5:  # one view: [K, T, S, S, C]
            inputs = {k: v[None] for k, v in inputs.items()}
        num_views = tf.shape(inputs["inputs"])[0]
        rows = {
            **inputs,
            "label": tf.fill([num_views], sample["label"]),
            "video_index": tf.fill([num_views], tf.cast(position, tf.int32) + offset),
            "video_id": tf.fill([num_views], example["video_id"]),
        }
        return tf.data.Dataset.from_tensor_slices(rows)

    ds = ds.interleave(
        _views, cycle_length=1, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True
    )
    ds = ds.batch(batch_size, drop_remainder=False)
    ds = ds.prefetch(tf.data.AUTOTUNE).with_options(_options())
    for batch in tfds.as_numpy(ds):
        yield pad_batch(batch, batch_size)


def pad_batch(batch: dict[str, np.ndarray], batch_size: int) -> dict[str, np.ndarray]:
    """Pads a batch to batch_size rows: zeros (empty strings), label 0, video_index -1."""
    rows = len(batch["video_index"])
    padded = {}
    for key, value in batch.items():
        out = np.zeros((batch_size,) + value.shape[1:], value.dtype)
        out[:rows] = value[:rows]
        padded[key] = out
    padded["video_index"][rows:] = -1
    return padded
