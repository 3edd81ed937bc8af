"""Decoding the sampled frames of one modality into snippets.

Frames are stored JPEG-encoded, one string per frame, and read with
`tfds.decode.SkipDecoding()`; gathering the sampled strings before decoding
means a 25-snippet test sample of a 300-frame video decodes 25 JPEGs, not 300
(the DMVR approach).
"""

import tensorflow as tf

# Modalities of TSN (RGB, RGB difference, optical flow, warped flow); only RGB
# frames are stored by the current dataset builders, which RGB difference is
# computed from.
IMPLEMENTED_MODALITIES = ("rgb", "rgb_diff")
PLANNED_MODALITIES = ("flow", "warped_flow")


def channels_per_frame(modality: str) -> int:
    """C of the batch contract for a modality (3 for RGB frames and their differences)."""
    check_modality(modality)
    return 3


def frames_to_sample(modality: str, frames_per_snippet: int) -> int:
    """Frames read per snippet to give T = `frames_per_snippet` inputs of `modality`.

    RGB difference needs T + 1 consecutive frames for T differences.
    """
    check_modality(modality)
    return frames_per_snippet + 1 if modality == "rgb_diff" else frames_per_snippet


def rgb_difference(snippets: tf.Tensor) -> tf.Tensor:
    """TSN's RGB difference (Wang et al., ECCV 2016, Sec. 3.2): consecutive frames subtracted.

    Computed on normalized frames, as the TSN code does on its network input: the
    mean cancels and the differences stay divided by the std.

    Args:
      snippets: [K, T + 1, H, W, 3] float32, T + 1 consecutive frames per snippet.

    Returns:
      [K, T, H, W, 3]: frame t + 1 minus frame t.
    """
    return snippets[:, 1:] - snippets[:, :-1]


def check_modality(modality: str) -> None:
    """Raises ValueError for an unknown or not yet implemented modality."""
    if modality in PLANNED_MODALITIES:
        raise ValueError(
            f"modality {modality!r} is not implemented yet (it needs optical flow "
            f"extraction); implemented: {IMPLEMENTED_MODALITIES}"
        )
    if modality not in IMPLEMENTED_MODALITIES:
        raise ValueError(
            f"unknown modality {modality!r}; known: {IMPLEMENTED_MODALITIES + PLANNED_MODALITIES}"
        )


def decode_frames(encoded_frames: tf.Tensor, indices: tf.Tensor) -> tf.Tensor:
    """Decodes only the frames at `indices`.

    Args:
      encoded_frames: [L] tf.string, one JPEG per frame of the video.
      indices: [N] int32 frame indices (repeats allowed).

    Returns:
      [N, H, W, 3] uint8 frames, in the order of `indices`.
    """
    sampled = tf.gather(encoded_frames, indices)
    return tf.map_fn(
        lambda jpeg: tf.io.decode_jpeg(jpeg, channels=3),
        sampled,
        fn_output_signature=tf.TensorSpec([None, None, 3], tf.uint8),
    )
