"""Facts that the data side and the model side both read; no jax and no TensorFlow.

`input_pipeline` (tf.data), the models, the config checks and the tools import
this module for what they must agree on: which modalities exist and what a
sample of each looks like (the batch contract of DESIGN.md), how many test views
a protocol gives and in which order, and the allowed values of every enumerated
setting. Nothing here computes on tensors.
"""

import ml_collections

# --- Modalities (TSN, ECCV 2016 Sec. 3.2) ---------------------------------------------

MODALITIES = ("rgb", "rgb_diff", "flow", "warped_flow")
# The dataset features a modality's frames are stored in (datasets.building.frame_features).
_FEATURES = {
    "rgb": ("video",),
    "rgb_diff": ("video",),
    "flow": ("flow_x", "flow_y"),
    "warped_flow": ("warp_x", "warp_y"),
}


def check_modality(modality: str) -> None:
    """Raises ValueError for an unknown modality."""
    if modality not in MODALITIES:
        raise ValueError(f"unknown modality {modality!r}; known: {MODALITIES}")


def is_flow(modality: str) -> bool:
    """Whether `modality` is made of flow planes (C = 2, x inverted on flips)."""
    check_modality(modality)
    return modality in ("flow", "warped_flow")


def features(modality: str) -> tuple[str, ...]:
    """The dataset features a modality is read from, e.g. ('flow_x', 'flow_y')."""
    check_modality(modality)
    return _FEATURES[modality]


def channels_per_frame(modality: str) -> int:
    """C of the batch contract: 3 for RGB frames and their differences, 2 for flow."""
    return 2 if is_flow(modality) else 3


def frames_to_sample(modality: str, frames_per_snippet: int) -> int:
    """Frames read per snippet to give T = `frames_per_snippet` inputs of `modality`.

    RGB difference needs T + 1 consecutive frames for T differences.
    """
    check_modality(modality)
    return frames_per_snippet + 1 if modality == "rgb_diff" else frames_per_snippet


def input_frames(modality: str, frames_per_snippet: int, keep_rgb: bool = False) -> int:
    """T of a modality's inputs: `frames_per_snippet`, plus 1 for RGB difference with keep_rgb."""
    check_modality(modality)
    return frames_per_snippet + (modality == "rgb_diff" and keep_rgb)


def normalization(
    data_config: ml_collections.ConfigDict, modality: str
) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """(mean, std) per channel a modality is normalized with: data.mean/std for the RGB
    kinds, data.flow_mean/flow_std for flow; checked to have one value per channel."""
    if is_flow(modality):
        mean, std, keys = data_config.flow_mean, data_config.flow_std, "flow_mean/flow_std"
    else:
        mean, std, keys = data_config.mean, data_config.std, "mean/std"
    channels = channels_per_frame(modality)
    if len(mean) != channels or len(std) != channels:
        raise ValueError(f"data.{keys} need {channels} values for {modality!r}")
    return tuple(mean), tuple(std)


def parse_extra_modality(spec: str, default_frames: int) -> tuple[str, int]:
    """An entry of `data.extra_modalities`: 'flow:5' -> ('flow', 5); 'flow' -> ('flow', T)."""
    name, _, frames = spec.partition(":")
    check_modality(name)
    if frames and (not frames.isdigit() or int(frames) < 1):
        raise ValueError(f"data.extra_modalities: {spec!r} must be 'name' or 'name:T' with T >= 1")
    return name, int(frames) if frames else default_frames


# --- Sample shapes (the batch contract) ------------------------------------------------


def sample_shape(data_config: ml_collections.ConfigDict) -> tuple[int, int, int, int, int]:
    """(K, T, S, S, C) of one sample's 'inputs' in one view.

    K = `num_segments`, T = frames per snippet as the model sees them, S = `crop_size`,
    C = channels of one frame of `modality`.
    """
    size = data_config.crop_size
    frames = input_frames(
        data_config.modality, data_config.frames_per_snippet, data_config.rgb_diff_keep_rgb
    )
    channels = channels_per_frame(data_config.modality)
    return (data_config.num_segments, frames, size, size, channels)


def sample_shapes(data_config: ml_collections.ConfigDict) -> dict[str, tuple[int, ...]]:
    """{'inputs': `sample_shape`, 'inputs_<modality>': (K, T', S, S, C') per extra modality}."""
    shapes = {"inputs": sample_shape(data_config)}
    size = data_config.crop_size
    for entry in data_config.extra_modalities:
        name, frames = parse_extra_modality(entry, data_config.frames_per_snippet)
        frames = input_frames(name, frames, data_config.rgb_diff_keep_rgb)
        shapes[f"inputs_{name}"] = (
            data_config.num_segments,
            frames,
            size,
            size,
            channels_per_frame(name),
        )
    return shapes


# --- Test views --------------------------------------------------------------------------

# Spatial views per temporal view: the centre crop; three crops along the long side;
# TSN's 4 corners + centre and their mirror images.
EVAL_CROPS = {"centre": 1, "three": 3, "ten": 10}

# Grid points of the corner crop, in quarters of the free space (x, y): TSN
# (ECCV 2016, Sec. 3.2) crops "from the corners or the center of the images".
CORNER_AND_CENTRE_POSITIONS = ((0, 0), (4, 0), (0, 4), (4, 4), (2, 2))
# tsn-pytorch's `more_fix_crop` adds the edge midpoints and the four quarter points.
MORE_FIXED_POSITIONS = CORNER_AND_CENTRE_POSITIONS + (
    (0, 2),
    (4, 2),
    (2, 4),
    (2, 0),
    (1, 1),
    (3, 1),
    (1, 3),
    (3, 3),
)


def num_eval_views(eval_config: ml_collections.ConfigDict) -> int:
    """V, test views per video of a 'segments' test: spatial crops x (2 with twice_sample).

    The views of a video are crop-major: all temporal views of crop 0, then of crop 1, ...
    (also for the whole-video tests, whose number of temporal views varies per video).
    """
    return EVAL_CROPS[eval_config.crops] * (2 if eval_config.twice_sample else 1)


# --- Allowed values of the enumerated settings ------------------------------------------

# The rendered demo datasets: trimmed clips, and untrimmed videos of 20 to 40 s.
DEMO_DATASETS = ("synthetic_actions", "synthetic_actions_untrimmed")
# dataset.name: a demo, or a folder of videos (or extracted frames) with split lists.
DATASETS = (
    *DEMO_DATASETS,
    "video_folder",
    "ucf101",
    "hmdb51",
    "kinetics",
    "sthsth",
    "rawframes",
)
# The demo renderer's own keys, which only configs/default.py's dataset section has.
DEMO_DATASET_KEYS = ("num_train_per_class", "num_test_per_class", "seed")
CLIP_SAMPLINGS = ("tsn", "mmaction2")  # data.clip_sampling
SHORT_VIDEO_MODES = ("clamp", "repeat_last", "loop")  # data.short_video
TRAIN_CROPS = ("multiscale", "random_resized", "random", "centre")  # data.train_crop
CROP_POSITIONS = ("corners", "exact_corners", "more_fixed", "random")  # data.crop_positions
EVAL_SAMPLINGS = ("segments", "windows", "per_second")  # eval.sampling
INIT_CLASSIFIERS = ("keep", "new")  # init.classifier
FUSIONS = ("score", "prob")  # eval.fusion: mean logit (TSN) | mean probability
AGGREGATES = ("mean", "mtwi")  # eval.aggregate
MTWI_RULES = ("paper", "tsn_code")  # eval.mtwi_rule (TSN TPAMI Sec. 4.2 | the public code)

# Hara et al. (ICPR 2018), Sec. IV-A: the spatial scales 2^(-k/4), k = 0..4, of the short
# side, and the temporal scales of the multi-scale temporal crop.
HARA_SCALES = (1.0, 2**-0.25, 2**-0.5, 2**-0.75, 0.5)
HARA_TEMPORAL_SCALES = (3.0, 2.0, 1.0, 0.5, 1 / 3)

# Hara et al.'s five data augmentation configurations (ICPR 2018, Sec. IV-A, Fig. 1),
# as the values of the `config.data` keys that draw a training sample. Every one takes
# a 16-frame clip at a uniformly random temporal position (looped when the video is
# shorter, Sec. III-B1), a square crop (aspect ratio 1) resized to 112 and a flip.
AUGMENTATIONS = {
    # The centre square of the short side ("maximum scale"): only flip and the
    # random temporal position vary.
    "spatial_center": dict(
        train_crop="centre", scales=(1.0,), max_distort=0, temporal_scales=()
    ),
    # The short-side square at a uniformly random position inside the frame.
    "spatial_random": dict(
        train_crop="multiscale", scales=(1.0,), max_distort=0, crop_positions="random",
        temporal_scales=(),
    ),
    # Side 2^(-k/4) x short side, k uniform in 0..4, at a uniformly random position.
    "multiscale_spatial_random": dict(
        train_crop="multiscale", scales=HARA_SCALES, max_distort=0, crop_positions="random",
        temporal_scales=(),
    ),
    # The same sides at one of the 4 corners (flush with the edges) or the centre
    # (Wang et al.'s corner crop).
    "multiscale_spatial_corner": dict(
        train_crop="multiscale", scales=HARA_SCALES, max_distort=0,
        crop_positions="exact_corners", temporal_scales=(),
    ),
    # Multi-scale spatial random, and a window of s_t x 16 frames, s_t uniform in
    # {3, 2, 1, 1/2, 1/3}, resampled to 16 frames by nearest neighbour.
    "multiscale_spatiotemporal_random": dict(
        train_crop="multiscale", scales=HARA_SCALES, max_distort=0, crop_positions="random",
        temporal_scales=HARA_TEMPORAL_SCALES,
    ),
}  # fmt: skip
