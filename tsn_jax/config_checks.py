"""Checks of a training config that ml_collections' type locking cannot express.

A wrong value fails here, at load time, with the key in the message, instead
of deep inside tf.data or XLA, and before any dataset is rendered or built or
anything is written to the workdir. `config_warnings` lists settings that are
allowed but probably not meant.
"""

import ml_collections

from tsn_jax import checkpoints, spec
from tsn_jax.errors import ConfigError
from tsn_jax.finetune import FROZEN_BATCH_NORM_MODES, PARTIAL_BN_MODES
from tsn_jax.inflate import INFLATION_METHODS
from tsn_jax.models import create_model
from tsn_jax.optim import CONSENSUS_UPDATES, SCHEDULES

_POSITIVE_INTS = (
    "data.num_segments",
    "data.frames_per_snippet",
    "data.frame_interval",
    "data.crop_size",
    "data.shuffle_buffer_size",
    "batch_size",
    "eval.batch_size",
    "log_every_steps",
    "checkpoint_every_steps",
    "keep_checkpoints",
    "gradient_accumulation_steps",
)
_NON_NEGATIVE_INTS = (
    "data.max_distort",
    "data.snippet_stride",
    "eval.num_segments",
    "eval.resize_short",
    "eval_every_steps",
    "prefetch_to_device",
)


def _get(config: ml_collections.ConfigDict, dotted: str):
    value = config
    for part in dotted.split("."):
        value = value[part]
    return value


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def validate_config(config: ml_collections.ConfigDict) -> None:
    """Raises ConfigError (a ValueError) naming the first key whose value is not allowed,
    or CheckpointError for a checkpoint path that does not hold a checkpoint."""
    try:
        _validate(config)
    except ConfigError:
        raise
    except ValueError as error:
        raise ConfigError(str(error)) from error
    _check_checkpoint_paths(config)


def _validate(config: ml_collections.ConfigDict) -> None:
    for key in _POSITIVE_INTS:
        value = _get(config, key)
        if not _is_int(value) or value <= 0:
            raise ValueError(f"config.{key} must be a positive integer, got {value!r}")
    for key in _NON_NEGATIVE_INTS:
        value = _get(config, key)
        if not _is_int(value) or value < 0:
            raise ValueError(f"config.{key} must be a non-negative integer, got {value!r}")
    _check_choices(config)
    scales = tuple(config.data.scales)
    if not scales or not all(0.0 < s <= 1.0 for s in scales):
        raise ValueError(f"config.data.scales must be fractions in (0, 1], got {scales!r}")
    if 0 < config.eval.resize_short < config.data.crop_size:
        raise ValueError(
            "config.eval.resize_short must be 0 or >= config.data.crop_size, got "
            f"{config.eval.resize_short} < {config.data.crop_size}"
        )
    _check_augmentation(config.data)
    _check_sampling(config.data)
    if len(config.data.mean) != len(config.data.std):
        raise ValueError("config.data.mean and config.data.std must have the same length")
    _check_modalities_are_stored(config)
    if not config.optimizer.learning_rate > 0:
        raise ValueError(
            f"config.optimizer.learning_rate must be > 0, got {config.optimizer.learning_rate}"
        )
    if config.num_train_steps <= 0 and config.num_epochs <= 0:
        raise ValueError("set config.num_epochs > 0 or config.num_train_steps > 0")
    smoothing, warmup = config.optimizer.label_smoothing, config.optimizer.warmup_epochs
    if not 0.0 <= smoothing < 1.0:
        raise ValueError(f"config.optimizer.label_smoothing must be in [0, 1), got {smoothing}")
    if warmup < 0:
        raise ValueError(f"config.optimizer.warmup_epochs must be >= 0, got {warmup}")
    if config.optimizer.schedule == "plateau" and not config.eval_every_steps:
        raise ValueError(
            "config.optimizer.schedule='plateau' reduces the rate on the evaluation loss: "
            "set config.eval_every_steps (e.g. one epoch of steps)"
        )
    if config.optimizer.consensus_update not in CONSENSUS_UPDATES:
        raise ValueError(
            f"config.optimizer.consensus_update must be one of {CONSENSUS_UPDATES}, "
            f"got {config.optimizer.consensus_update!r}"
        )
    if config.init.classifier not in spec.INIT_CLASSIFIERS:
        raise ValueError(
            f"config.init.classifier must be one of {spec.INIT_CLASSIFIERS}, "
            f"got {config.init.classifier!r}"
        )
    if config.init.inflation not in INFLATION_METHODS:
        raise ValueError(
            f"config.init.inflation must be one of {INFLATION_METHODS}, "
            f"got {config.init.inflation!r}"
        )
    _check_evaluation(config)
    # The model is built (not initialized: no arrays) so that an unknown architecture,
    # backbone, backbone option, dtype or consensus fails here, before any dataset work.
    try:
        create_model(config.model, num_classes=2, num_segments=config.data.num_segments)
    except ValueError as error:
        raise ValueError(f"config.model: {error}") from error
    if not 0.0 <= config.model.dropout_rate < 1.0:
        raise ValueError(
            f"config.model.dropout_rate must be in [0, 1), got {config.model.dropout_rate}"
        )


# Enumerated settings and their allowed values (tsn_jax.spec).
_CHOICES = (
    ("dataset.name", spec.DATASETS),
    ("data.modality", spec.MODALITIES),
    ("data.clip_sampling", spec.CLIP_SAMPLINGS),
    ("data.short_video", spec.SHORT_VIDEO_MODES),
    ("data.train_crop", spec.TRAIN_CROPS),
    ("data.crop_positions", spec.CROP_POSITIONS),
    ("eval.crops", tuple(spec.EVAL_CROPS)),
    ("eval.sampling", spec.EVAL_SAMPLINGS),
    ("eval.fusion", spec.FUSIONS),
    ("eval.aggregate", spec.AGGREGATES),
    ("eval.mtwi_rule", spec.MTWI_RULES),
    ("optimizer.schedule", SCHEDULES),
    ("partial_bn", PARTIAL_BN_MODES),
    ("frozen_batch_norm", FROZEN_BATCH_NORM_MODES),
)


def _check_choices(config: ml_collections.ConfigDict) -> None:
    for key, allowed in _CHOICES:
        if _get(config, key) not in allowed:
            raise ValueError(f"config.{key} must be one of {allowed}, got {_get(config, key)!r}")


def _check_evaluation(config: ml_collections.ConfigDict) -> None:
    if config.eval.sampling == "windows" and config.data.frame_interval != 1:
        raise ValueError(
            "config.eval.sampling='windows' reads consecutive frames: config.data."
            f"frame_interval={config.data.frame_interval} is not implemented for it"
        )
    if config.eval.aggregate == "mtwi" and config.eval.sampling != "per_second":
        raise ValueError(
            "config.eval.aggregate='mtwi' pools per-second snippet scores: set "
            "config.eval.sampling='per_second'"
        )
    if config.eval.snippets_per_second <= 0:
        raise ValueError("config.eval.snippets_per_second must be > 0")
    if config.eval.mtwi_top_k < 0 or not all(n > 0 for n in config.eval.mtwi_window_lengths):
        raise ValueError("config.eval.mtwi_top_k must be >= 0 and the window lengths > 0")
    rate = config.eval.snippets_per_second
    if config.eval.aggregate == "mtwi" and rate != int(rate):
        raise ValueError(
            "config.eval.aggregate='mtwi' needs a whole number of snippets a second "
            f"(windows are whole seconds), got config.eval.snippets_per_second={rate}"
        )


def _check_modalities_are_stored(config: ml_collections.ConfigDict) -> None:
    """A flow modality needs its flow planes in the dataset (computed at build time)."""
    data, dataset = config.data, config.dataset
    names = [data.modality]
    names += [spec.parse_extra_modality(s, 1)[0] for s in data.extra_modalities]
    for name in names:
        if not spec.is_flow(name):
            continue
        kind = spec.features(name)[0].removesuffix("_x")  # the stored flow type: flow | warp
        if not dataset.flow_method:
            raise ValueError(
                f"the modality {name!r} reads optical flow, but config.dataset.flow_method "
                "is '': set it to tvl1, farneback or dis (the build computes and stores the "
                "flow), or 'stored' for rawframes folders that hold it"
            )
        if kind not in dataset.flow_types:
            raise ValueError(
                f"the modality {name!r} reads {kind!r} planes: add {kind!r} to "
                f"config.dataset.flow_types, got {tuple(dataset.flow_types)}"
            )


def _check_checkpoint_paths(config: ml_collections.ConfigDict) -> None:
    """Every checkpoint a config names exists and is an Orbax checkpoint."""
    if config.init.checkpoint:
        checkpoints.resolve(config.init.checkpoint, "config.init.checkpoint")
    if config.eval.checkpoint:
        checkpoints.resolve(config.eval.checkpoint, "config.eval.checkpoint")
    for entry in config.init.stan_streams:
        _, _, path = entry.partition("=")
        if path:
            checkpoints.resolve(path, f"config.init.stan_streams ({entry})")


def config_warnings(config: ml_collections.ConfigDict) -> list[str]:
    """One line for each allowed setting that is probably a mistake (before any data work).

    Today: a training crop larger than the stored frames (every crop is then upsampled).
    """
    warnings = []
    stored = tuple(config.dataset.size) or (config.dataset.short_side,)
    if stored[0] is not None and config.data.crop_size > min(stored):
        key = "size" if tuple(config.dataset.size) else "short_side"
        warnings.append(
            f"config.data.crop_size={config.data.crop_size} is larger than the stored frames "
            f"(config.dataset.{key}={config.dataset[key]}): every crop is upsampled"
        )
    return warnings


def frame_count_warning(
    data: ml_collections.ConfigDict, frame_counts: list[int], split: str
) -> str | None:
    """A line when a training sample spans more frames than most videos of `split` have.

    Args:
      data: the config's data section.
      frame_counts: stored frames of (a sample of) the split's videos.

    Returns:
      The warning, or None when the median video is long enough.
    """
    if not frame_counts:
        return None
    span = data.num_segments * spec.frames_to_sample(data.modality, data.frames_per_snippet)
    span *= data.frame_interval
    median = sorted(frame_counts)[len(frame_counts) // 2]
    if median >= span:
        return None
    return (
        f"a training sample spans {span} frames (config.data.num_segments="
        f"{data.num_segments} x frames_per_snippet x frame_interval) but the median {split} "
        f"video has {median} (of {len(frame_counts)} read): frames repeat "
        f"(config.data.short_video={data.short_video!r})"
    )


def _check_sampling(data: ml_collections.ConfigDict) -> None:
    """Combinations of the frame sampling keys that input_pipeline.sampling does not take."""
    if data.clip_sampling == "mmaction2" and (data.temporal_scales or data.snippet_stride):
        raise ValueError(
            "config.data.clip_sampling='mmaction2' is implemented for segments without "
            "temporal scales: set data.temporal_scales=() and data.snippet_stride=0"
        )


def _check_augmentation(data: ml_collections.ConfigDict) -> None:
    """A named augmentation (Hara et al.'s) must agree with the keys that implement it."""
    name = data.augmentation
    if not name:
        return
    if name not in spec.AUGMENTATIONS:
        raise ValueError(
            f"config.data.augmentation must be '' or one of {tuple(spec.AUGMENTATIONS)}"
        )
    for key, value in spec.AUGMENTATIONS[name].items():
        if isinstance(value, tuple):
            matches = len(data[key]) == len(value) and all(
                abs(a - b) < 1e-6 for a, b in zip(data[key], value, strict=True)
            )
        else:
            matches = data[key] == value
        if not matches:
            raise ValueError(
                f"config.data.augmentation={name!r} needs config.data.{key}={value!r}, got "
                f"{data[key]!r}: select it with the config's variant (e.g. "
                f"--config=configs/kinetics_r3d18_hara.py:{name}), or set augmentation='' "
                "to choose the crop keys freely"
            )
