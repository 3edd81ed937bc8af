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

from tsn_jax.spec import features, is_flow


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
