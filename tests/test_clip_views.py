"""input_pipeline.clip_views (numpy) gives the pipeline's test views bit for bit.

Both sides get the same decoded frames: the pipeline reads JPEG strings and decodes the
sampled ones with TensorFlow; clip_views gets every frame decoded by the same decoder.
"""

import numpy as np
import pytest
import tensorflow as tf

from configs import default
from input_pipeline import clip_views, pipeline, transforms


def _config(**overrides):
    config = default.get_config()
    config.data.num_segments = 3
    config.data.frames_per_snippet = 1
    config.data.crop_size = 24
    config.eval.resize_short = 28
    config.eval.crops = "centre"
    for key, value in overrides.items():
        section, name = key.split("__")
        setattr(config[section], name, value)
    return config


def _video(num_frames, height, width, channels, seed):
    """Smooth random frames (JPEG keeps their detail) with an index-dependent offset."""
    rng = np.random.default_rng(seed)
    noise = rng.integers(0, 256, (num_frames, height, width, channels))
    smooth = np.cumsum(np.cumsum(noise, axis=1), axis=2) // (height * width // 4)
    return (smooth + 7 * np.arange(num_frames)[:, None, None, None]) % 256


def _example(num_frames, height, width, flow_frames=None):
    rgb = _video(num_frames, height, width, 3, 0).astype(np.uint8)
    example = {"video": [tf.io.encode_jpeg(f, quality=90).numpy() for f in rgb]}
    if flow_frames:
        for seed, name in enumerate(("flow_x", "flow_y", "warp_x", "warp_y"), 1):
            planes = _video(flow_frames, height, width, 1, seed).astype(np.uint8)
            example[name] = [tf.io.encode_jpeg(p, quality=90).numpy() for p in planes]
    decoded = {
        name: np.stack([tf.io.decode_jpeg(jpeg).numpy() for jpeg in jpegs])
        for name, jpegs in example.items()
    }
    example = {name: tf.constant(jpegs) for name, jpegs in example.items()}
    example.update(fps=tf.constant(6.0), label=tf.constant(0, tf.int64))
    return example, decoded


PROTOCOLS = {
    "tsn_centre": {},
    "tsn_25x10": dict(eval__num_segments=25, eval__crops="ten"),
    "three_crops_at_full_short_side": dict(eval__crops="three", eval__resize_short=0),
    "ten_crops_resized_each": dict(eval__crops="ten", eval__resize_short=0),
    "twice_sample": dict(eval__twice_sample=True, eval__crops="three"),
    "dense_clips_interval_2_loop": dict(
        data__num_segments=2,
        data__frames_per_snippet=8,
        data__frame_interval=2,
        data__short_video="loop",
    ),
    "mmaction2_dense_twice_repeat_last": dict(
        data__clip_sampling="mmaction2",
        data__num_segments=3,
        data__frames_per_snippet=4,
        data__frame_interval=3,
        data__short_video="repeat_last",
        eval__twice_sample=True,
    ),
    "mmaction2_tsn": dict(data__clip_sampling="mmaction2", eval__num_segments=7),
    "regular_stride": dict(data__snippet_stride=3, data__num_segments=4),
    "rgb_diff_keep_rgb": dict(
        data__modality="rgb_diff", data__frames_per_snippet=2, data__rgb_diff_keep_rgb=True
    ),
    "flow_ten_crops": dict(data__modality="flow", data__frames_per_snippet=3, eval__crops="ten"),
    "rgb_with_warped_flow_stream": dict(
        data__extra_modalities=("warped_flow:2",), eval__crops="ten"
    ),
    "per_second": dict(eval__sampling="per_second", eval__snippets_per_second=2.0),
    "windows": dict(data__frames_per_snippet=4, eval__sampling="windows", eval__crops="three"),
}


@pytest.mark.parametrize("size", [(30, 44), (47, 33)], ids=["landscape", "portrait"])
@pytest.mark.parametrize("num_frames", [5, 23])
@pytest.mark.parametrize("name", sorted(PROTOCOLS))
def test_clip_views_equal_the_pipelines_test_views_bit_for_bit(name, num_frames, size):
    config = _config(**PROTOCOLS[name])
    example, decoded = _example(num_frames, *size, flow_frames=num_frames - 1)
    expected = pipeline.preprocess_example(
        example, data_config=config.data, training=False, eval_config=config.eval
    )
    got = clip_views.clip_views(clip_views.VideoFrames(decoded, fps=6.0), config)
    assert sorted(got) == sorted(k for k in expected if k.startswith("inputs"))
    for key, views in got.items():
        want = expected[key].numpy()
        want = want if want.ndim == 6 else want[None]
        assert views.dtype == np.float32
        assert views.shape == want.shape, key
        assert np.array_equal(views, want), (key, np.abs(views - want).max())


@pytest.mark.parametrize(
    "shape, size",
    [((2, 48, 64, 3), (112, 149)), ((1, 240, 320, 3), (256, 341)), ((3, 100, 80, 1), (56, 45))],
)
def test_resize_is_tensorflows_antialiased_bilinear_resize(shape, size):
    frames = np.random.default_rng(1).integers(0, 256, shape).astype(np.uint8)
    want = transforms.resize(tf.constant(frames), *size).numpy()
    assert np.array_equal(clip_views.resize(frames, *size), want)


def test_missing_planes_are_named():
    config = _config(data__modality="flow")
    with pytest.raises(ValueError, match=r"\['flow_x', 'flow_y'\] frames, which were not given"):
        clip_views.clip_views(clip_views.VideoFrames({"video": np.zeros((4, 8, 8, 3))}), config)


def test_per_second_needs_the_frame_rate():
    config = _config(eval__sampling="per_second")
    with pytest.raises(ValueError, match="frame rate"):
        clip_views.clip_views(clip_views.VideoFrames({"video": np.zeros((4, 30, 30, 3))}), config)


def test_clip_views_import_no_tensorflow():
    import subprocess
    import sys

    code = (
        "import sys, input_pipeline.clip_views; "
        "print('tensorflow' in sys.modules, 'jax' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
