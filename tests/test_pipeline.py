"""Decoding only the sampled frames, sample shapes, eval padding."""

import numpy as np
import pytest
import tensorflow as tf

from configs import default
from input_pipeline import modalities, pipeline


def _jpegs(num_frames, height=40, width=56):
    """Frames whose pixel values encode their index, JPEG-encoded."""
    frames = [np.full((height, width, 3), 8 * i, np.uint8) for i in range(num_frames)]
    return [tf.io.encode_jpeg(f, quality=95).numpy() for f in frames]


def test_only_sampled_frames_are_decoded():
    encoded = _jpegs(6)
    # Frames that are not sampled are not JPEGs at all: decoding one would fail.
    broken = [encoded[i] if i in (1, 4) else b"not a jpeg" for i in range(6)]
    frames = modalities.decode_frames(tf.constant(broken), tf.constant([4, 1, 4])).numpy()
    assert frames.shape == (3, 40, 56, 3)
    np.testing.assert_allclose(frames[:, 0, 0, 0], [32, 8, 32], atol=2)
    with pytest.raises(tf.errors.InvalidArgumentError):
        modalities.decode_frames(tf.constant(broken), tf.constant([0]))


def test_rgb_difference_subtracts_consecutive_frames():
    frames = np.array([1.0, 4.0, 9.0, 2.0, 3.0, 5.0], np.float32).reshape(2, 3, 1, 1, 1)
    diff = modalities.rgb_difference(tf.constant(np.broadcast_to(frames, (2, 3, 1, 1, 3))))
    np.testing.assert_array_equal(diff.numpy()[..., 0].reshape(2, 2), [[3, 5], [1, 2]])
    assert modalities.frames_to_sample("rgb_diff", 5) == 6
    assert modalities.frames_to_sample("rgb", 5) == 5


@pytest.mark.parametrize("training", [True, False])
def test_preprocess_example_rgb_diff(training):
    config = _config(k=3, t=2)
    config.data.modality = "rgb_diff"
    config.data.std = (2.0, 2.0, 2.0)
    example = {"video": tf.constant(_jpegs(30)), "label": tf.constant(3, tf.int64)}
    seed = tf.constant([1, 2], tf.int64) if training else None
    sample = pipeline.preprocess_example(
        example, data_config=config.data, training=training, seed=seed
    )
    inputs = sample["inputs"].numpy()
    assert inputs.shape == (3, 2, 32, 32, 3)
    # Consecutive frames differ by 8 grey levels; normalized by std 2 that is 4.
    np.testing.assert_allclose(inputs[:, :, 16, 16, :], 4.0, atol=1.0)


def test_planned_modalities_raise_a_clear_error():
    with pytest.raises(ValueError, match="not implemented"):
        modalities.check_modality("flow")
    with pytest.raises(ValueError, match="unknown modality"):
        modalities.check_modality("depth")


def _config(k=3, t=2, crop=32, interval=1):
    config = default.get_config()
    config.data.num_segments = k
    config.data.frames_per_snippet = t
    config.data.frame_interval = interval
    config.data.crop_size = crop
    config.data.eval_resize_short = crop + 4
    config.data.mean = (0.0, 0.0, 0.0)
    config.data.std = (1.0, 1.0, 1.0)
    return config


@pytest.mark.parametrize("training", [True, False])
def test_preprocess_example_shapes_and_values(training):
    config = _config()
    example = {"video": tf.constant(_jpegs(30)), "label": tf.constant(7, tf.int64)}
    seed = tf.constant([1, 2], tf.int64) if training else None
    sample = pipeline.preprocess_example(
        example, data_config=config.data, training=training, seed=seed
    )
    inputs = sample["inputs"].numpy()
    assert inputs.shape == (3, 2, 32, 32, 3) and inputs.dtype == np.float32
    assert sample["label"].dtype == tf.int32 and int(sample["label"]) == 7
    if not training:
        # Centres of 3 segments of 29 starts: 4, 14, 24; snippets of 2 frames.
        values = inputs[:, :, 16, 16, 0] / 8
        np.testing.assert_allclose(values, [[4, 5], [14, 15], [24, 25]], atol=0.3)


def test_preprocess_example_reads_dense_clips_with_a_frame_interval():
    config = _config(k=2, t=3, interval=4)
    example = {"video": tf.constant(_jpegs(30)), "label": tf.constant(1, tf.int64)}
    inputs = pipeline.preprocess_example(example, data_config=config.data, training=False)
    inputs = inputs["inputs"].numpy()
    assert inputs.shape == (2, 3, 32, 32, 3)
    # Span 9, 22 starts, segments of 11: clip starts 5 and 16, frames 4 apart.
    values = inputs[:, :, 16, 16, 0] / 8
    np.testing.assert_allclose(values, [[5, 9, 13], [16, 20, 24]], atol=0.3)


def test_pad_batch_masks_padding_rows():
    batch = {
        "inputs": np.ones((3, 1, 1, 2, 2, 3), np.float32),
        "label": np.array([4, 5, 6], np.int32),
        "mask": np.ones(3, np.float32),
        "video_index": np.array([10, 11, 12], np.int32),
    }
    padded = pipeline.pad_batch(batch, 5)
    np.testing.assert_array_equal(padded["mask"], [1, 1, 1, 0, 0])
    np.testing.assert_array_equal(padded["video_index"], [10, 11, 12, -1, -1])
    np.testing.assert_array_equal(padded["label"], [4, 5, 6, 0, 0])
    assert padded["inputs"].shape == (5, 1, 1, 2, 2, 3) and not padded["inputs"][3:].any()
    empty = pipeline.pad_batch(batch, 5, empty=True)
    assert not empty["mask"].any() and (empty["video_index"] == -1).all()
