"""Times a test protocol per video: `python -m tools.benchmark_eval --backbone=bninception`.

Builds (once) a small demo test split, then runs the evaluation of tsn_jax/scoring.py
(view rows -> compiled forward pass -> fusion) with a randomly initialized network of
the published width on every test video, and prints the seconds per video and the
snippets per second. Weights do not change the time,
so no checkpoint is needed; compilation is timed apart. The default is TSN's test: 25
snippets x 10 crops of 224 pixels (250 snippets per video), BN-Inception, RGB.

    python -m tools.benchmark_eval --backbone=bninception --segments=25 --crops=ten
    python -m tools.benchmark_eval --backbone=resnet50 --segments=8 --crops=three
"""

import os
import time

from absl import app, flags

FLAGS = flags.FLAGS
flags.DEFINE_string("backbone", "bninception", "TSN backbone (config.model.backbone).")
flags.DEFINE_integer("segments", 25, "Test snippets per video (eval.num_segments).")
flags.DEFINE_enum("crops", "ten", ["centre", "three", "ten"], "eval.crops.")
flags.DEFINE_integer("crop_size", 224, "Crop side.")
flags.DEFINE_integer("rows", 10, "Views per step (eval.batch_size).")
flags.DEFINE_integer("videos_per_class", 1, "Test videos per demo class (10 classes).")
flags.DEFINE_string("data_dir", "", "TFDS data dir for the demo build ('' = default).")


def main(argv):
    del argv
    import jax
    import numpy as np

    from configs import default
    from input_pipeline import datasets, pipeline
    from tsn_jax import scoring
    from tsn_jax.models import create_model, input_shape_of

    config = default.get_config()
    config.dataset.data_dir = FLAGS.data_dir
    config.dataset.num_train_per_class = 1
    config.dataset.num_test_per_class = FLAGS.videos_per_class
    config.model.backbone = FLAGS.backbone
    config.model.base_width = 64
    config.model.backbone_options = {}
    config.eval.num_segments = FLAGS.segments
    config.eval.crops = FLAGS.crops
    config.data.crop_size = FLAGS.crop_size
    config.eval.resize_short = FLAGS.crop_size * 256 // 224
    config.eval.batch_size = FLAGS.rows
    builder = datasets.get_builder(config.dataset)
    info = pipeline.get_dataset_info(builder, config)
    model = create_model(config.model, info.num_classes, config.data.num_segments)
    shape = input_shape_of(model, config.data)
    variables = jax.jit(lambda: model.init(jax.random.key(0), np.zeros(shape), train=False))()

    apply = scoring.compile_apply(model, variables)
    rows = config.eval.batch_size
    start = time.perf_counter()
    np.asarray(apply({"inputs": np.zeros((rows, *shape[1:]), np.float32)}))
    compile_seconds = time.perf_counter() - start

    start = time.perf_counter()
    batches = pipeline.create_view_dataset(builder, config, batch_size=rows)
    scores = scoring.score_videos(apply, batches, config, info.num_eval_examples)
    seconds = time.perf_counter() - start
    videos = len(scores.video_ids)
    snippets = int(scores.num_views.sum()) * FLAGS.segments
    print(
        f"{FLAGS.backbone}, {FLAGS.segments} snippets x {FLAGS.crops} crops of "
        f"{FLAGS.crop_size}px, {rows} views per step, {jax.device_count()} "
        f"{jax.devices()[0].platform} device(s), {os.cpu_count()} CPU cores"
    )
    print(f"compile: {compile_seconds:.1f} s")
    print(
        f"{videos} videos in {seconds:.1f} s: {seconds / videos:.2f} s per video, "
        f"{snippets / seconds:.1f} snippets/s (decoding, transforms and fusion included)"
    )


if __name__ == "__main__":
    app.run(main)
