"""Decoding the sampled frames of one modality into snippets.

Frames are stored JPEG-encoded, one string per frame, and read with
`tfds.decode.SkipDecoding()`; gathering the sampled strings before decoding
means a 25-snippet test sample of a 300-frame video decodes 25 JPEGs, not 300
(the DMVR approach).

Modalities of TSN (Wang et al., ECCV 2016, Sec. 3.2):
  rgb          one RGB frame per time step (C = 3), from the 'video' feature;
  rgb_diff     differences of consecutive RGB frames (C = 3), T + 1 frames read;
  flow         optical flow x/y planes (C = 2), from 'flow_x' / 'flow_y';
  warped_flow  flow with the camera motion cancelled, from 'warp_x' / 'warp_y'.
Flow planes hold flow quantized to [0, 255] (bound 20, 127.5 = no motion), so a
horizontal flip negates x as 255 - x (`invert_flow_x`).
"""

import tensorflow as tf

MODALITIES = ("rgb", "rgb_diff", "flow", "warped_flow")
# The features a modality's frames are stored in (see datasets.building.frame_features).
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


def rgb_difference(snippets: tf.Tensor, keep_rgb: bool = False) -> tf.Tensor:
    """TSN's RGB difference (Wang et al., ECCV 2016, Sec. 3.2): consecutive frames subtracted.

    Computed on normalized frames, as the TSN code does on its network input: the
    mean cancels and the differences stay divided by the std.

    Args:
      snippets: [..., T + 1, H, W, 3] float32, T + 1 consecutive frames per snippet.
      keep_rgb: put the first frame itself before the differences (tsn-pytorch's
        `keep_rgb`, RGB appearance and motion in one input).

    Returns:
      [..., T, H, W, 3]: frame t + 1 minus frame t ([..., T + 1, H, W, 3] with
      the first frame in front when `keep_rgb`).
    """
    differences = snippets[..., 1:, :, :, :] - snippets[..., :-1, :, :, :]
    if keep_rgb:
        return tf.concat([snippets[..., :1, :, :, :], differences], axis=-4)
    return differences


def input_frames(modality: str, frames_per_snippet: int, keep_rgb: bool = False) -> int:
    """T of a modality's inputs: `frames_per_snippet`, plus 1 for RGB difference with keep_rgb."""
    check_modality(modality)
    return frames_per_snippet + (modality == "rgb_diff" and keep_rgb)


def invert_flow_x(frames: tf.Tensor) -> tf.Tensor:
    """Negates the x component of quantized flow [..., 2] in [0, 255]: x -> 255 - x.

    What a horizontal flip does to motion: leftward becomes rightward. Exact for
    flow quantized symmetrically around 127.5 (datasets.optical_flow.quantize_flow).
    """
    frames = tf.cast(frames, tf.float32)
    return tf.concat([255.0 - frames[..., :1], frames[..., 1:]], axis=-1)


def _stored(example: dict[str, tf.Tensor], modality: str) -> tuple[str, ...]:
    """The features of `modality`, checked to be in the example."""
    names = features(modality)
    missing = [name for name in names if name not in example]
    if missing:
        raise ValueError(
            f"modality {modality!r} reads the {missing} feature(s), which this dataset does not "
            "store: build it with flow (dataset.flow_method = 'tvl1' | 'farneback' | 'dis', "
            "dataset.flow_types with 'warp' for warped_flow; 'stored' for rawframes)"
        )
    return names


def num_frames(example: dict[str, tf.Tensor], modality: str) -> tf.Tensor:
    """Scalar int32: how many frames (or flow fields) of `modality` a video has."""
    return tf.shape(example[_stored(example, modality)[0]])[0]


def decode_frames(example: dict[str, tf.Tensor], modality: str, indices: tf.Tensor) -> tf.Tensor:
    """Decodes only the frames of `modality` at `indices`.

    Args:
      example: the video's features, each [L] tf.string, one JPEG per frame.
      modality: one of MODALITIES.
      indices: [N] int32 frame indices (repeats allowed).

    Returns:
      [N, H, W, C] uint8 frames in the order of `indices` (C = 3, or 2 for flow: x, y).
    """
    planes = []
    for feature in _stored(example, modality):
        sampled = tf.gather(example[feature], indices)
        channels = 1 if is_flow(modality) else 3
        planes.append(
            tf.map_fn(
                lambda jpeg, c=channels: tf.io.decode_jpeg(jpeg, channels=c),
                sampled,
                fn_output_signature=tf.TensorSpec([None, None, channels], tf.uint8),
            )
        )
    return planes[0] if len(planes) == 1 else tf.concat(planes, axis=-1)
