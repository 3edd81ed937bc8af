"""Decoding only the sampled frames, sample shapes, eval padding."""

import numpy as np
import pytest
import tensorflow as tf

from configs import default
from input_pipeline import modalities, pipeline, sampling
from tsn_jax import spec


def _jpegs(num_frames, height=40, width=56):
    """Frames whose pixel values encode their index, JPEG-encoded."""
    frames = [np.full((height, width, 3), 8 * i, np.uint8) for i in range(num_frames)]
    return [tf.io.encode_jpeg(f, quality=95).numpy() for f in frames]


def test_only_sampled_frames_are_decoded():
    encoded = _jpegs(6)
    # Frames that are not sampled are not JPEGs at all: decoding one would fail.
    broken = [encoded[i] if i in (1, 4) else b"not a jpeg" for i in range(6)]
    example = {"video": tf.constant(broken)}
    frames = modalities.decode_frames(example, "rgb", tf.constant([4, 1, 4])).numpy()
    assert frames.shape == (3, 40, 56, 3)
    np.testing.assert_allclose(frames[:, 0, 0, 0], [32, 8, 32], atol=2)
    with pytest.raises(tf.errors.InvalidArgumentError):
        modalities.decode_frames(example, "rgb", tf.constant([0]))


def test_rgb_difference_subtracts_consecutive_frames():
    frames = np.array([1.0, 4.0, 9.0, 2.0, 3.0, 5.0], np.float32).reshape(2, 3, 1, 1, 1)
    diff = modalities.rgb_difference(tf.constant(np.broadcast_to(frames, (2, 3, 1, 1, 3))))
    np.testing.assert_array_equal(diff.numpy()[..., 0].reshape(2, 2), [[3, 5], [1, 2]])
    assert spec.frames_to_sample("rgb_diff", 5) == 6
    assert spec.frames_to_sample("rgb", 5) == 5


@pytest.mark.parametrize("training", [True, False])
def test_preprocess_example_rgb_diff(training):
    config = _config(k=3, t=2)
    config.data.modality = "rgb_diff"
    config.data.std = (2.0, 2.0, 2.0)
    example = {"video": tf.constant(_jpegs(30)), "label": tf.constant(3, tf.int64)}
    seed = tf.constant([1, 2], tf.int64) if training else None
    sample = pipeline.preprocess_example(
        example, data_config=config.data, training=training, seed=seed, eval_config=config.eval
    )
    inputs = sample["inputs"].numpy()
    assert inputs.shape == (3, 2, 32, 32, 3)
    # Consecutive frames differ by 8 grey levels; normalized by std 2 that is 4.
    np.testing.assert_allclose(inputs[:, :, 16, 16, :], 4.0, atol=1.0)


def test_unknown_modality_and_missing_flow_raise_clear_errors():
    with pytest.raises(ValueError, match="unknown modality"):
        spec.check_modality("depth")
    with pytest.raises(ValueError, match="flow_method"):
        modalities.num_frames({"video": tf.constant(_jpegs(2))}, "flow")


def _planes(values, height=32, width=32):
    """One-channel JPEG planes; `values` per plane is a scalar or a [H, W] array."""
    planes = [np.broadcast_to(np.asarray(v, np.uint8), (height, width))[..., None] for v in values]
    return [tf.io.encode_jpeg(p, quality=100).numpy() for p in planes]


def test_decode_flow_stacks_x_and_y():
    example = {
        "flow_x": tf.constant(_planes([10, 60, 110])),
        "flow_y": tf.constant(_planes([200, 150, 100])),
    }
    flows = modalities.decode_frames(example, "flow", tf.constant([2, 0])).numpy()
    assert flows.shape == (2, 32, 32, 2)
    np.testing.assert_allclose(flows[:, 0, 0], [[110, 100], [10, 200]], atol=1)
    assert spec.channels_per_frame("warped_flow") == 2


def _half_plane(left, right, height=32, width=32):
    plane = np.full((height, width), right, np.uint8)
    plane[:, : width // 2] = left
    return plane


def test_flip_inverts_flow_x_with_the_rgb_crop():
    """RGB and flow of one sample: the same flip; the flipped flow's x is 255 - x."""
    config = _config(k=2, t=1, crop=32)
    config.data.scales = (1.0,)
    config.data.flip = True
    config.data.extra_modalities = ("flow:3",)
    config.data.flow_mean, config.data.flow_std = (0.0, 0.0), (1.0, 1.0)
    rgb = np.stack([_half_plane(0, 250)] * 3, -1)
    example = {
        "video": tf.constant([tf.io.encode_jpeg(rgb, quality=100).numpy()] * 12),
        "flow_x": tf.constant(_planes([100] * 11)),
        "flow_y": tf.constant(_planes([_half_plane(50, 200)] * 11)),
        "label": tf.constant(0, tf.int64),
    }
    flipped_count = 0
    for i in range(12):
        seed = tf.constant([3, i], tf.int64)
        sample = pipeline.preprocess_example(
            example, data_config=config.data, training=True, seed=seed
        )
        flow = sample["inputs_flow"].numpy()
        assert sample["inputs"].shape == (2, 1, 32, 32, 3) and flow.shape == (2, 3, 32, 32, 2)
        rgb_flipped = sample["inputs"].numpy()[0, 0, 16, 2, 0] > 125
        flow_flipped = flow[0, 0, 16, 2, 1] > 125
        assert rgb_flipped == flow_flipped  # one coin for both modalities
        np.testing.assert_allclose(flow[..., 0], 155 if flow_flipped else 100, atol=1.5)
        flipped_count += bool(rgb_flipped)
    assert 0 < flipped_count < 12


def _config(k=3, t=2, crop=32, interval=1):
    config = default.get_config()
    config.data.num_segments = k
    config.data.frames_per_snippet = t
    config.data.frame_interval = interval
    config.data.crop_size = crop
    config.eval.resize_short = crop + 4
    config.data.mean = (0.0, 0.0, 0.0)
    config.data.std = (1.0, 1.0, 1.0)
    return config


@pytest.mark.parametrize("training", [True, False])
def test_preprocess_example_shapes_and_values(training):
    config = _config()
    example = {"video": tf.constant(_jpegs(30)), "label": tf.constant(7, tf.int64)}
    seed = tf.constant([1, 2], tf.int64) if training else None
    sample = pipeline.preprocess_example(
        example, data_config=config.data, training=training, seed=seed, eval_config=config.eval
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
    inputs = pipeline.preprocess_example(
        example, data_config=config.data, training=False, eval_config=config.eval
    )
    inputs = inputs["inputs"].numpy()
    assert inputs.shape == (2, 3, 32, 32, 3)
    # Span 9, 22 starts, segments of 11: clip starts 5 and 16, frames 4 apart.
    values = inputs[:, :, 16, 16, 0] / 8
    np.testing.assert_allclose(values, [[5, 9, 13], [16, 20, 24]], atol=0.3)


def test_pad_batch_masks_padding_rows():
    batch = {
        "inputs": np.ones((3, 1, 1, 2, 2, 3), np.float32),
        "label": np.array([4, 5, 6], np.int32),
        "video_index": np.array([10, 11, 12], np.int32),
    }
    padded = pipeline.pad_batch(batch, 5)
    np.testing.assert_array_equal(padded["video_index"], [10, 11, 12, -1, -1])
    np.testing.assert_array_equal(padded["label"], [4, 5, 6, 0, 0])
    assert padded["inputs"].shape == (5, 1, 1, 2, 2, 3) and not padded["inputs"][3:].any()


def test_eval_views_ten_crops_twice_sampled():
    config = _config(k=3, t=1, crop=32)
    config.eval.resize_short = 40
    config.eval.crops = "ten"
    config.eval.twice_sample = True
    assert spec.num_eval_views(config.eval) == 20
    example = {"video": tf.constant(_jpegs(30)), "label": tf.constant(1, tf.int64)}
    inputs = pipeline.preprocess_example(
        example, data_config=config.data, training=False, eval_config=config.eval
    )["inputs"].numpy()
    assert inputs.shape == (20, 3, 1, 32, 32, 3)
    # Frame i has grey level 8 i: centres 5, 15, 25 in views 0-9, starts 0, 10, 20 in 10-19.
    np.testing.assert_allclose(inputs[:10, :, 0, 16, 16, 0], [[40, 120, 200]] * 10, atol=2)
    np.testing.assert_allclose(inputs[10:, :, 0, 16, 16, 0], [[0, 80, 160]] * 10, atol=2)


def test_rgb_diff_keep_rgb_puts_the_frame_before_the_differences():
    config = _config(k=2, t=2)
    config.data.modality = "rgb_diff"
    config.data.rgb_diff_keep_rgb = True
    assert spec.sample_shape(config.data) == (2, 3, 32, 32, 3)
    example = {"video": tf.constant(_jpegs(30)), "label": tf.constant(0, tf.int64)}
    inputs = pipeline.preprocess_example(
        example, data_config=config.data, training=False, eval_config=config.eval
    )["inputs"].numpy()
    assert inputs.shape == (2, 3, 32, 32, 3)
    # Snippets of 3 frames start at floor((k + .5) * 28 / 2) = 7, 21: grey 56 and 168.
    np.testing.assert_allclose(inputs[:, 0, 16, 16, 0], [56, 168], atol=2)
    np.testing.assert_allclose(inputs[:, 1:, 16, 16, 0], 8.0, atol=1.5)


def test_rgb_and_flow_of_a_sample_get_the_same_crop_and_flip():
    config = _config(k=2, t=1, crop=32)
    config.data.flip = True
    config.data.scales = (1.0, 0.875, 0.75, 0.66)
    config.data.extra_modalities = ("flow",)
    config.data.flow_mean, config.data.flow_std = (0.0, 0.0), (1.0, 1.0)
    rng = np.random.default_rng(5)
    texture = rng.integers(0, 256, (6, 12), dtype=np.uint8).repeat(8, 0).repeat(6, 1)  # 48x72
    example = {
        "video": tf.constant(
            [tf.io.encode_jpeg(np.stack([texture] * 3, -1), quality=100).numpy()] * 9
        ),
        "flow_x": tf.constant(_planes([100] * 8, 48, 72)),
        "flow_y": tf.constant(_planes([texture] * 8, 48, 72)),
        "label": tf.constant(0, tf.int64),
    }
    differences = []
    for i in range(10):
        sample = pipeline.preprocess_example(
            example, data_config=config.data, training=True, seed=tf.constant([9, i], tf.int64)
        )
        rgb, flow = sample["inputs"].numpy()[..., 0], sample["inputs_flow"].numpy()[..., 1]
        differences.append(np.abs(rgb - flow).mean())
        # A different crop (or flip) of this texture would differ by tens of grey levels.
        assert differences[-1] < 3, differences


def test_eval_num_segments_tests_on_more_snippets_than_training():
    config = _config(k=3, t=1)
    config.eval.num_segments = 5
    example = {"video": tf.constant(_jpegs(30)), "label": tf.constant(0, tf.int64)}
    test = pipeline.preprocess_example(
        example, data_config=config.data, training=False, eval_config=config.eval
    )
    # Centres of 5 segments of 30 frames: 3, 9, 15, 21, 27 (grey level 8 per frame).
    np.testing.assert_allclose(
        test["inputs"].numpy()[:, 0, 16, 16, 0], [24, 72, 120, 168, 216], atol=2
    )
    seed = tf.constant([0, 1], tf.int64)
    sample = pipeline.preprocess_example(example, data_config=config.data, training=True, seed=seed)
    assert sample["inputs"].shape[0] == 3


def _grey_jpegs(num_frames, step, height=40, width=56):
    """Frames of grey level step x index, JPEG-encoded."""
    frames = [np.full((height, width, 3), step * i, np.uint8) for i in range(num_frames)]
    return [tf.io.encode_jpeg(f, quality=95).numpy() for f in frames]


def _hara(variant):
    from configs import kinetics_r3d18_hara

    return kinetics_r3d18_hara.get_config(variant)


@pytest.mark.parametrize("num_frames", [50, 10])
def test_hara_temporal_crops_are_the_paper_windows_exactly(num_frames):
    """Hara et al. (ICPR 2018) Sec. III-B1 and IV-A: the 16 frame indices of a training clip.

    A uniformly random start; multi-scale spatiotemporal random: a window of s_t x 16 frames,
    s_t in {3, 2, 1, 1/2, 1/3}, frame t of the clip its floor(t x s_t)-th (nearest
    neighbour); a video shorter than the window looped (indices modulo its length).
    """
    seeds = tf.stack([tf.range(6000, dtype=tf.int64), tf.fill([6000], tf.constant(7, tf.int64))], 1)
    t = np.arange(16)
    for variant in ("multiscale_spatial_random", "multiscale_spatiotemporal_random"):
        data = _hara(variant).data
        clip = dict(
            num_segments=data.num_segments,
            frames_per_snippet=data.frames_per_snippet,
            training=True,
            short_video=data.short_video,
            frame_interval=data.frame_interval,
            temporal_scales=tuple(data.temporal_scales),
        )
        draw = tf.function(
            lambda s, clip=clip: tf.map_fn(
                lambda seed: sampling.tsn_frame_indices(tf.constant(num_frames), seed=seed, **clip),
                s,
                fn_output_signature=tf.int32,
            )
        )
        observed = {tuple(v) for v in draw(seeds).numpy().tolist()}
        expected = set()
        for scale in data.temporal_scales or (1.0,):
            offsets = np.floor(t * scale + 1e-6).astype(int)
            for start in range(max(num_frames - offsets[-1], 1)):
                expected.add(tuple(((start + offsets) % num_frames).tolist()))
        assert observed == expected, variant
    # 50 frames: 5 + 20 + 35 + 43 + 45 windows of scales 3, 2, 1, 1/2, 1/3.
    assert num_frames != 50 or len(expected) == 148


def test_hara_sample_and_test_views_through_the_pipeline():
    """A spatial center training clip of a 10-frame video, and the windows test (Sec. III-B)."""
    config = _hara("spatial_center")
    mean, std = np.array(config.data.mean), np.array(config.data.std)
    example = {"video": tf.constant(_grey_jpegs(10, 20)), "label": tf.constant(2, tf.int64)}
    seed = tf.constant([3, 4], tf.int64)
    sample = pipeline.preprocess_example(example, data_config=config.data, training=True, seed=seed)
    inputs = sample["inputs"].numpy()
    assert inputs.shape == (1, 16, 112, 112, 3)
    # One clip from frame 0, looped: 0..9, 0..5; Kinetics mean and std.
    looped = 20.0 * np.array(list(range(10)) + list(range(6)))
    grey = np.repeat(looped[:, None], 3, axis=1)  # every channel
    np.testing.assert_allclose(inputs[0, :, 56, 56] * std + mean, grey, atol=2)

    example = {"video": tf.constant(_grey_jpegs(40, 6)), "label": tf.constant(2, tf.int64)}
    views = pipeline.preprocess_example(
        example, data_config=config.data, training=False, eval_config=config.eval
    )
    views = views["inputs"].numpy()
    # Windows 0-15, 16-31 and 32-39 looped within itself; the short-side centre square.
    assert views.shape == (3, 1, 16, 112, 112, 3)
    windows = np.array([list(range(16)), list(range(16, 32)), list(range(32, 40)) * 2])
    np.testing.assert_allclose(views[:, 0, :, 56, 56, 0] * std[0] + mean[0], 6.0 * windows, atol=2)


def test_a_named_augmentation_must_match_its_keys():
    from tsn_jax.config_checks import validate_config

    config = _hara("multiscale_spatial_corner")
    validate_config(config)
    config.data.crop_positions = "random"
    with pytest.raises(ValueError, match="needs config.data.crop_positions='exact_corners'"):
        validate_config(config)
    config.data.augmentation = ""  # the keys alone decide
    validate_config(config)
    config.data.augmentation = "corner"
    with pytest.raises(ValueError, match="spatial_center"):
        validate_config(config)
