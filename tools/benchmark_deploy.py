r"""CPU inference of the exported model against JAX and PyTorch, in one run.

    python -m tools.benchmark_deploy --model=tsn_r50 --batch_size=1 --steps=5
    python -m tools.benchmark_deploy --model=tsn_r50 --width=8 --crop_size=64 --steps=2  # smoke

Builds a benchmark model (`tools.benchmark.MODELS`) in PyTorch (`tools/torch_models.py`)
and converts its weights into ours, so every runtime computes the same function, then
exports it (`tsn_jax.deployment`) and times the forward pass of one batch of test views
[B, K, T, S, S, C] on this machine's CPU:

  jax (auto)       our model jitted, convolutions lowered as training does on a CPU
                   (im2col for 2D, `tsn_jax.models.lowerings`);
  jax (xla)        our model jitted with XLA's own convolutions, as the exports hold it;
  stablehlo        `model.stablehlo` deserialized and called;
  saved_model      the SavedModel's serving signature, in TensorFlow;
  onnx             `model.onnx` in ONNX Runtime (2D models only; the batch it was
                   exported for);
  torch eager      the PyTorch twin in eval mode under `torch.no_grad()`.

Each line gives the median of `--steps` timed calls after `--warmup`, clips/s, the ratio
to PyTorch eager (above 1: faster) and the largest difference of its logits from JAX's.
"""

from __future__ import annotations

import argparse
import datetime
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from typing import Any

from tools import benchmark
from tsn_jax import host


def _timed(call: Callable[[], Any], warmup: int, steps: int) -> float:
    """Median seconds of `steps` calls after `warmup` untimed ones."""
    return statistics.median(benchmark.time_calls(call, warmup, steps))


def run(
    model_name: str,
    *,
    batch_size: int = 1,
    width: int = 64,
    crop_size: int = 0,
    num_classes: int = 400,
    steps: int = 5,
    warmup: int = 2,
    seed: int = 0,
) -> dict[str, dict[str, float]]:
    """Exports, checks and times; prints the table; returns {runtime: {'seconds',
    'clips_per_s', 'max_diff'}}."""
    import jax
    import numpy as np
    import onnxruntime
    import tensorflow as tf
    import torch

    from tools import torch_models
    from tsn_jax import deployment
    from tsn_jax.models import create_model, lowerings

    config = benchmark.get_config(model_name, width, "float32", crop_size)
    shape = benchmark.input_shape(config, batch_size)
    model = create_model(config.model, num_classes, config.data.num_segments)
    torch.manual_seed(seed)
    torch_model, is_3d = benchmark.torch_tsn(config, num_classes)
    torch_models.randomize_batch_norm(torch_model)  # so that converting them matters
    torch_model.eval()
    variables = benchmark.convert_weights(torch_model, model, (1, *shape[1:]))
    clips = np.random.default_rng(seed).normal(size=shape).astype(np.float32)
    print(
        f"tools/benchmark_deploy.py --model={model_name}: "
        f"{benchmark.MODELS[model_name].description}; input {list(shape)}, base width {width}"
    )
    print(
        f"{datetime.date.today()}, {host.machine_description()}; jax "
        f"{jax.__version__}, tensorflow {tf.__version__}, onnxruntime "
        f"{onnxruntime.__version__}, torch {torch.__version__}, python {platform.python_version()}"
    )

    exports = tempfile.TemporaryDirectory(prefix="benchmark_deploy_")
    runtimes: dict[str, Callable[[], Any]] = {}
    for lowering in ("auto", "xla"):
        with lowerings.conv_implementation(lowering):
            apply = jax.jit(lambda x: model.apply(variables, x, train=False))
            apply(clips).block_until_ready()  # traced and compiled inside the block
        runtimes[f"jax ({lowering})"] = lambda apply=apply: np.asarray(apply(clips))

    directory = exports.name
    formats = ("stablehlo", "saved_model") if is_3d else deployment.FORMATS
    start = time.perf_counter()
    written = deployment.export(
        model,
        variables,
        config,
        [str(i) for i in range(num_classes)],
        directory,
        formats,
        onnx_batch_size=batch_size,
    )
    print(f"exported {', '.join(formats)} in {time.perf_counter() - start:.1f} s")

    stablehlo = jax.jit(deployment.load_stablehlo(written["stablehlo"]))
    runtimes["stablehlo"] = lambda: np.asarray(stablehlo(clips))
    serve = tf.saved_model.load(written["saved_model"]).signatures["serving_default"]
    tf_clips = tf.constant(clips)
    runtimes["saved_model"] = lambda: serve(clips=tf_clips)["logits"].numpy()
    if "onnx" in written:
        session = onnxruntime.InferenceSession(written["onnx"], providers=["CPUExecutionProvider"])
        runtimes["onnx"] = lambda: session.run(["logits"], {"clips": clips})[0]
    torch_clips = torch_models.tsn_inputs(clips, is_3d)

    def torch_eager():
        with torch.no_grad():
            return torch_model(torch_clips).numpy()

    runtimes["torch eager"] = torch_eager

    reference = runtimes["jax (xla)"]()
    results = {}
    for name, call in runtimes.items():
        seconds = _timed(call, warmup, steps)
        results[name] = {
            "seconds": seconds,
            "clips_per_s": batch_size / seconds,
            "max_diff": float(np.abs(call() - reference).max()),
        }
    eager = results["torch eager"]["seconds"]
    scale = float(np.abs(reference).max())
    print(f"{'runtime':<14}{'ms/batch':>10}{'clips/s':>10}{'vs torch':>10}  max |logit - jax|")
    for name, r in results.items():
        print(
            f"{name:<14}{1000 * r['seconds']:>10.1f}{r['clips_per_s']:>10.3g}"
            f"{eager / r['seconds']:>9.2f}x  {r['max_diff']:.2g} (logits up to {scale:.2g})"
        )
    exports.cleanup()
    return results


def main(argv: list[str] | None = None) -> dict[str, dict[str, float]]:
    """Parses `argv` (without the program name) and runs the benchmark."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default="tsn_r50", choices=sorted(benchmark.MODELS))
    parser.add_argument("--batch_size", type=int, default=1, help="clips (test views) per call")
    parser.add_argument("--width", type=int, default=64, help="base width (64 = published)")
    parser.add_argument("--crop_size", type=int, default=0, help="crop side (0 = the recipe's)")
    parser.add_argument("--num_classes", type=int, default=400)
    parser.add_argument("--steps", type=int, default=5, help="timed calls (median reported)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed calls before them")
    parser.add_argument("--seed", type=int, default=0, help="seed of the weights and inputs")
    args = parser.parse_args(argv)
    import tensorflow as tf

    tf.config.set_visible_devices([], "GPU")
    options = vars(args)
    return run(options.pop("model"), **options)


if __name__ == "__main__":
    main()
