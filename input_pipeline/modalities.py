"""Decoding the sampled frames of one modality into snippets.

Frames are stored JPEG-encoded, one string per frame, and read with
`tfds.decode.SkipDecoding()`; gathering the sampled strings before decoding
means a 25-snippet test sample of a 300-frame video decodes 25 JPEGs, not 300
(the DMVR approach).
"""

import tensorflow as tf

# Modalities of TSN (RGB, RGB difference, optical flow, warped flow); only RGB
# frames are stored by the current dataset builders.
IMPLEMENTED_MODALITIES = ("rgb",)
PLANNED_MODALITIES = ("rgb_diff", "flow", "warped_flow")


def channels_per_frame(modality: str) -> int:
    """C of the batch contract for a modality (3 for RGB frames)."""
    check_modality(modality)
    return 3


def check_modality(modality: str) -> None:
    """Raises ValueError for an unknown or not yet implemented modality."""
    if modality in PLANNED_MODALITIES:
        raise ValueError(
            f"modality {modality!r} is not implemented yet (it needs flow/RGB-difference "
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
