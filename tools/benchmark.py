r"""Times training and inference of a published model: `python -m tools.benchmark --model=tsn_r50`.

Builds the model of a recipe (configs/*.py) with `tsn_jax.models.create_model` and its
SGD optimizer with `tsn_jax.optim.create_optimizer`, exactly as training does, and times
the real update step (`tsn_jax.train_step.compile_train_step`: forward, loss, backward, SGD,
BatchNorm statistics) and the forward pass (`train=False`) on random inputs of the
recipe's shape. It prints:

* compile time of the train step and of the inference function (trace + XLA, apart);
* the median time of `--steps` train steps after `--warmup` (each waited for with
  `jax.block_until_ready`), clips/s and frames/s; the same for inference;
* FLOPs per step as XLA's cost analysis of the compiled program counts them, the
  achieved FLOP/s and the model FLOPs utilization (MFU) against the device's peak
  (`PEAK_TFLOPS`; `--peak_tflops` for another device; n/a on a CPU);
* peak device memory (`memory_stats()['peak_bytes_in_use']`), or the process's maximum
  resident set on devices without memory statistics (CPU), labelled host memory.

`--compare_torch` builds the same network in PyTorch (`tools/torch_models.py`: torchvision's
ResNet-50 and R(2+1)D-18, TSM bottlenecks, pretrainedmodels' BN-Inception, mmaction2's
I3D-ResNet-50, in a TSN wrapper), converts its weights into ours with
`tsn_jax.convert_torch`, checks once that both give the same logits (and stops if not),
then times PyTorch training steps (forward, cross-entropy, backward, SGD) and inference
(eval mode, no_grad), eagerly and with `torch.compile`, and prints JAX / PyTorch ratios.

    python -m tools.benchmark --model=tsn_r50 --batch_size=1 --steps=5 --compare_torch
    python -m tools.benchmark --model=i3d_r50 --batch_size=8 --dtype=bfloat16   # a GPU
    python -m tools.benchmark --model=tsm_r50 --width=8 --crop_size=64 --steps=2  # smoke

Models (`MODELS`): tsn_r50 (TSN ResNet-50, 8 segments x 1 frame, 224), tsm_r50 (the same
with TSM in every bottleneck), tsn_bninception_rgb (3 segments, 224), tsn_bninception_flow
(3 segments x 5 flow fields = 10 input channels), i3d_r50 (one 32-frame clip, 224, Chen et
al.'s I3D-ResNet-50) and r2plus1d_18 (one 16-frame clip, 112). Every BatchNorm trains
(partial BN off, as in the PyTorch steps), so both frameworks do the same work.
"""

from __future__ import annotations

import dataclasses
import datetime
import functools
import importlib
import os
import resource
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from typing import Any

from absl import app, flags

from tsn_jax import host
from tsn_jax.spec import channels_per_frame, sample_shape

# --------------------------------------------------------------------------- models


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """A benchmark model: a recipe config and the input it trains on.

    Attributes:
      description: what it is, for the header.
      recipe: configs/<recipe>.py, with ':variant' passed to its `get_config`.
      backbone: override of the recipe's backbone ('' keeps it).
      backbone_options: override of the recipe's backbone options (None keeps them).
    """

    description: str
    recipe: str
    backbone: str = ""
    backbone_options: dict[str, Any] | None = None


MODELS: dict[str, ModelSpec] = {
    "tsn_r50": ModelSpec("TSN ResNet-50, 8 segments x 1 RGB frame", "kinetics_tsn_r50"),
    "tsm_r50": ModelSpec("TSM ResNet-50 (TSM in every bottleneck), 8 segments", "ssv2_tsm_r50"),
    "tsn_bninception_rgb": ModelSpec(
        "TSN BN-Inception, 3 segments x 1 RGB frame", "ucf101_tsn_bninception_rgb"
    ),
    "tsn_bninception_flow": ModelSpec(
        "TSN BN-Inception, 3 segments x 5 flow fields (10 channels)",
        "ucf101_tsn_bninception_flow",
    ),
    "i3d_r50": ModelSpec("I3D-ResNet-50 (Chen et al.), one 32-frame clip", "kinetics_i3d:r50"),
    "r2plus1d_18": ModelSpec(
        "R(2+1)D-18 (torchvision), one 16-frame clip",
        "kinetics_r3d18_hara",
        backbone="r2plus1d_18",
        backbone_options={},
    ),
}

# Peak dense (no sparsity) tensor throughput per device, TFLOP/s, from the vendors' specs:
# NVIDIA H100 SXM5 / H200 SXM datasheets: BF16 1979 and TF32 989 "with sparsity", half that
# dense (FP32 without tensor cores: 67); H100 PCIe: BF16 1513 / TF32 756 with sparsity.
# NVIDIA A100 datasheet (SXM and PCIe): BF16 312, TF32 156 dense (FP32 19.5).
# Google Cloud TPU docs, peak compute per chip (bf16): v4 275, v5e 197, v5p 459, v6e 918.
# The float32 column is what XLA's default precision runs float32 convolutions and matmuls
# at: TF32 tensor cores on these GPUs, bf16 passes on TPUs (jax.default_matmul_precision).
# Matched in order against the lower-cased `device_kind` (e.g. 'nvidia h100 80gb hbm3',
# 'tpu v5 lite'): (substring, name, bfloat16, float32).
PEAK_TFLOPS: tuple[tuple[str, str, float, float], ...] = (
    ("h100 pcie", "NVIDIA H100 PCIe", 756.0, 378.0),
    ("h100", "NVIDIA H100 SXM", 989.4, 494.7),
    ("h200", "NVIDIA H200 SXM", 989.4, 494.7),
    ("a100", "NVIDIA A100", 312.0, 156.0),
    ("tpu v4", "TPU v4", 275.0, 275.0),
    ("tpu v5 lite", "TPU v5e", 197.0, 197.0),
    ("tpu v5e", "TPU v5e", 197.0, 197.0),
    ("tpu v5p", "TPU v5p", 459.0, 459.0),
    ("tpu v5", "TPU v5p", 459.0, 459.0),
    ("tpu v6 lite", "TPU v6e", 918.0, 918.0),
    ("tpu v6e", "TPU v6e", 918.0, 918.0),
)


def peak_flops(device_kind: str, dtype: str, override_tflops: float = 0.0):
    """(peak FLOP/s of one device, where the figure comes from); (None, why) if unknown."""
    if override_tflops > 0:
        return override_tflops * 1e12, "--peak_tflops"
    kind = device_kind.lower()
    for key, name, bf16, fp32 in PEAK_TFLOPS:
        if key in kind:
            tflops = bf16 if dtype == "bfloat16" else fp32
            return tflops * 1e12, f"{name} {dtype} {tflops:g} TFLOP/s"
    return None, f"unknown peak for {device_kind!r}: pass --peak_tflops"


def flops_of(program) -> float | None:
    """FLOPs of a lowered (or compiled) program by XLA's cost analysis (a dict, or a list
    of one per program in some JAX versions); None when nothing is counted."""
    cost = program.cost_analysis()
    if isinstance(cost, (list, tuple)):
        cost = cost[0] if cost else None
    if not cost:
        return None
    flops = cost.get("flops")
    return float(flops) if flops and flops > 0 else None


def get_config(name: str, width: int, dtype: str, crop_size: int):
    """The recipe's config for benchmark model `name`, with the benchmark's overrides."""
    import ml_collections

    spec = MODELS[name]
    module, _, variant = spec.recipe.partition(":")
    recipe = importlib.import_module(f"configs.{module}")
    config = recipe.get_config(variant) if variant else recipe.get_config()
    if spec.backbone:
        config.model.backbone = spec.backbone
    if spec.backbone_options is not None:
        config.model.backbone_options = ml_collections.ConfigDict(spec.backbone_options)
    config.model.base_width = width
    config.model.dtype = dtype
    if crop_size:
        config.data.crop_size = crop_size
    config.partial_bn = "off"  # every BatchNorm trains, as in the PyTorch step
    config.init.checkpoint = ""
    return config


def input_shape(config, batch_size: int) -> tuple[int, ...]:
    """[B, K, T, S, S, C] of a training batch."""
    return (batch_size, *sample_shape(config.data))


# --------------------------------------------------------------------------- PyTorch models


def torch_tsn(config, num_classes: int):
    """The PyTorch `TSN` of the config's model (tools/torch_models.py) and whether its
    backbone is 3D. Its `state_dict` converts into our variables (`convert_weights`)."""
    from tools import torch_models

    model = config.model
    options = dict(model.backbone_options or {})
    width, name = model.base_width, model.backbone
    k, t = config.data.num_segments, config.data.frames_per_snippet
    if name == "resnet50":
        if options.get("temporal_module") not in (None, "tsm") or options.get("shift_inplace"):
            raise ValueError(f"no PyTorch reference for resnet50 with {options}")
        tsm = options.get("temporal_module") == "tsm"
        backbone = torch_models.resnet50(
            None,
            width,
            num_segments=k if tsm else None,
            shift_fraction=options.get("shift_fraction", 0.125),
        )
        is_3d = False
    elif name == "bninception":
        channels = channels_per_frame(config.data.modality)
        backbone = torch_models.TorchBNInception(None, in_channels=t * channels, base_width=width)
        is_3d = False
    elif name == "i3d_resnet50":
        from tsn_jax.models import i3d_resnet

        default = i3d_resnet.i3d_resnet50()
        backbone = torch_models.MMResNet(
            width,
            inflate=options.get("inflate", default.inflate),
            style=options.get("inflate_style", default.inflate_style),
            conv1_kernel=tuple(options.get("conv1_kernel", default.conv1_kernel)),
            conv1_stride_t=options.get("conv1_stride_t", default.conv1_stride_t),
            pool1_stride_t=options.get("pool1_stride_t", default.pool1_stride_t),
            with_pool2=options.get("with_pool2", default.with_pool2),
            temporal_strides=tuple(options.get("temporal_strides", default.temporal_strides)),
        )
        is_3d = True
    elif name == "r2plus1d_18":
        backbone = torch_models.r2plus1d_18(None, width)
        is_3d = True
    else:
        raise ValueError(f"no PyTorch reference for backbone {name!r}")
    tsn = torch_models.TSN(backbone, backbone.num_features, num_classes, model.dropout_rate)
    return tsn, is_3d


def convert_weights(torch_model, model, shape) -> dict[str, Any]:
    """Our `{'params', 'batch_stats'}` holding `torch_model`'s weights (`convert_torch`)."""
    from tools import torch_models
    from tsn_jax import convert_torch

    abstract = convert_torch.abstract_variables(model, shape)
    # BN-Inception's Caffe layer names end in digits that are not container indices.
    index_suffixes = model.backbone.__class__.__name__ != "BNInception"
    return convert_torch.convert_state_dict(
        torch_models.state_dict_numpy(torch_model), abstract, index_suffixes=index_suffixes
    )


# --------------------------------------------------------------------------- timing


def time_calls(step: Callable[[], Any], warmup: int, steps: int) -> list[float]:
    """Seconds of each of `steps` calls of `step` (which waits for its result) after
    `warmup` untimed ones."""
    for _ in range(warmup):
        step()
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return times


def _cpu_seconds() -> tuple[float, float, float] | None:
    """(wall clock, CPU seconds busy on the whole machine, CPU seconds of this process), or
    None without Linux's /proc/stat."""
    try:
        with open("/proc/stat") as f:
            ticks = [int(v) for v in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    # user, nice, system, idle, iowait, irq, softirq, steal: everything but idle and iowait.
    busy = sum(ticks[:3]) + sum(ticks[5:8])
    own = os.times()
    return time.perf_counter(), busy / os.sysconf("SC_CLK_TCK"), own.user + own.system


class OtherLoad:
    """Measures how many CPU cores other processes kept busy during a `with` block.

    Timings on a shared machine are only as good as the machine is idle: a figure here
    well above 0 (of `os.cpu_count()` cores) says the timings of that block are noisy.
    `cores` is None where /proc/stat is missing.
    """

    def __enter__(self) -> OtherLoad:
        self._start = _cpu_seconds()
        self.cores = None
        return self

    def __exit__(self, *exc) -> None:
        end = _cpu_seconds()
        if self._start and end and end[0] > self._start[0]:
            wall, busy, own = (b - a for a, b in zip(self._start, end, strict=True))
            self.cores = max(0.0, (busy - own) / wall)


def host_max_rss_bytes() -> int:
    """This process's maximum resident set so far (Linux reports KiB, macOS bytes)."""
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss if sys.platform == "darwin" else rss * 1024


def peak_memory(device) -> tuple[float, str]:
    """(bytes, label): the device's peak memory in use, else the host's max RSS."""
    stats = None
    try:
        stats = device.memory_stats()
    except Exception:  # noqa: BLE001 - a backend without the call
        stats = None
    if stats and "peak_bytes_in_use" in stats:
        return float(stats["peak_bytes_in_use"]), f"device peak ({device.platform})"
    return float(host_max_rss_bytes()), "host memory (process max RSS)"


# --------------------------------------------------------------------------- the run


@dataclasses.dataclass
class Options:
    """The flags, as a value (tests call `run` with one)."""

    model: str = "tsn_r50"
    batch_size: int = 1
    dtype: str = "float32"
    steps: int = 5
    warmup: int = 2
    width: int = 64
    crop_size: int = 0
    num_classes: int = 400
    conv: str = "auto"
    peak_tflops: float = 0.0
    compare_torch: bool = False
    torch_compile: bool = True
    torch_compile_cache: bool = False
    torch_threads: int = 0
    logit_tolerance: float = 1e-3
    seed: int = 0


@dataclasses.dataclass
class Timing:
    """One framework's figures (None where not measured)."""

    train_s: float | None = None
    infer_s: float | None = None
    compile_train_s: float | None = None
    compile_infer_s: float | None = None
    other_cores: float | None = None  # other processes' load while timing (OtherLoad)
    device_memory: float | None = None  # peak accelerator memory in bytes (None on a CPU)
    error: str = ""


def _median(times: list[float]) -> float:
    return statistics.median(times)


def _rate(count: float, seconds: float | None) -> str:
    return "-" if not seconds else f"{count / seconds:.3g}"


def run(options: Options) -> dict[str, Any]:
    """Builds, checks and times; prints the tables; returns the figures."""
    import jax
    import numpy as np
    from jax.sharding import NamedSharding
    from jax.sharding import PartitionSpec as P

    from tsn_jax import optim, train_step
    from tsn_jax.models import create_model, lowerings

    if options.model not in MODELS:
        raise ValueError(f"unknown model {options.model!r}; known: {sorted(MODELS)}")
    config = get_config(options.model, options.width, options.dtype, options.crop_size)
    shape = input_shape(config, options.batch_size)
    b, k, t = shape[:3]
    frames_per_clip = k * t
    mesh = train_step.create_mesh()
    devices = mesh.devices.size
    if options.batch_size % devices:
        raise ValueError(f"--batch_size={options.batch_size} is not divisible by {devices} devices")
    device = mesh.devices.flat[0]
    conv = functools.partial(lowerings.conv_implementation, options.conv)

    model = create_model(config.model, options.num_classes, k)
    schedule = optim.create_learning_rate_schedule(config, steps_per_epoch=100)
    tx = optim.create_optimizer(config, schedule)
    replicated = NamedSharding(mesh, P())
    rng = np.random.default_rng(options.seed)
    batch = {
        "inputs": rng.normal(size=shape).astype(np.float32),
        "label": rng.integers(0, options.num_classes, size=(b,)).astype(np.int32),
    }

    print(
        f"tools/benchmark.py --model={options.model}: {MODELS[options.model].description}; "
        f"recipe configs/{MODELS[options.model].recipe.split(':')[0]}.py"
    )
    print(
        f"input [B, K, T, H, W, C] = {list(shape)}: {b} clip(s) of {frames_per_clip} frames "
        f"per step; base width {options.width}, {options.dtype}, {options.num_classes} classes"
    )
    print(
        f"{datetime.date.today()}, jax {jax.__version__}, {devices} x {device.device_kind} "
        f"({device.platform}); host {host.machine_description()}; "
        f"conv lowering '{options.conv}'"
    )

    # The 'rbg' generator for the random weights: XLA compiles threefry's initializers of a
    # hundred parameter arrays in ~10 s on a CPU, rbg's in ~3 s; the weights' values do not
    # change the timings (the train step's dropout keeps the default generator).
    with conv():
        state = jax.jit(
            functools.partial(train_step.initial_state, model, tx, input_shape=(1, *shape[1:])),
            out_shardings=replicated,
        )(jax.random.key(options.seed, impl="rbg"))

    # --- PyTorch reference with the same weights --------------------------------
    torch_model = torch_inputs = None
    if options.compare_torch:
        import torch

        from tools import torch_models

        if options.torch_threads:
            torch.set_num_threads(options.torch_threads)
        torch.manual_seed(options.seed)
        torch_model, is_3d = torch_tsn(config, options.num_classes)
        torch_models.randomize_batch_norm(torch_model)  # so that converting them matters
        variables = convert_weights(torch_model, model, (1, *shape[1:]))
        state = state.replace(
            params=jax.device_put(variables["params"], replicated),
            batch_stats=jax.device_put(variables["batch_stats"], replicated),
        )
        torch_inputs = torch_models.tsn_inputs(batch["inputs"], is_3d)

    sharded = train_step.shard_batch(batch, mesh)
    dropout_rng = jax.device_put(jax.random.key(options.seed + 1), replicated)

    # --- JAX: compile ------------------------------------------------------------
    p_train = train_step.compile_train_step(model, tx, schedule, mesh)

    def forward(variables, inputs):
        return model.apply(variables, inputs, train=False)

    p_infer = jax.jit(forward, in_shardings=(replicated, NamedSharding(mesh, P("data"))))
    lower_s = {}

    flops = {}

    def compile_timed(name, jitted, *args):
        start = time.perf_counter()
        with conv():
            lowered = jitted.lower(*args)
        lower_s[name] = time.perf_counter() - start
        # Counted on the program before the backend rewrites it: on GPUs XLA turns
        # convolutions into cuDNN custom calls, whose FLOPs the compiled program's
        # cost analysis leaves out (it counted 230 of the ~12,600 GFLOP of a TSN-R50
        # step on an H200).
        flops[name] = flops_of(lowered)
        compiled = lowered.compile()
        return compiled, time.perf_counter() - start

    compiled_train, compile_train_s = compile_timed("train", p_train, state, sharded, dropout_rng)
    compiled_infer, compile_infer_s = compile_timed(
        "infer", p_infer, state.variables(), sharded["inputs"]
    )
    train_flops, infer_flops = flops["train"], flops["infer"]

    # --- one check that both frameworks compute the same logits -------------------
    logit_diff = None
    if options.compare_torch:
        import torch

        check_infer = compiled_infer
        if options.dtype != "float32" or device.platform != "cpu":
            # The float32 network with the same weights, in full float32 precision (XLA's
            # default on GPUs and TPUs rounds convolution inputs to TF32 or bfloat16).
            config32 = config.copy_and_resolve_references()
            config32.model.dtype = "float32"
            model32 = create_model(config32.model, options.num_classes, k)
            with conv(), jax.default_matmul_precision("float32"):
                check_infer = (
                    jax.jit(lambda v, x: model32.apply(v, x, train=False))
                    .lower(state.variables(), sharded["inputs"])
                    .compile()
                )
        ours = np.asarray(check_infer(state.variables(), sharded["inputs"]))
        torch_model.eval()
        with torch.no_grad():
            theirs = torch_model(torch_inputs).numpy()
        logit_diff = float(np.abs(ours - theirs).max())
        scale = float(np.abs(theirs).max())
        tolerance = options.logit_tolerance * scale
        print(
            f"PyTorch {torch.__version__} ({torch.get_num_threads()} threads), same weights: "
            f"max |logit difference| {logit_diff:.2e} (max |logit| {scale:.3g}, tolerance "
            f"{tolerance:.2e}, float32)"
        )
        if not logit_diff <= tolerance:
            raise SystemExit(
                f"FAILED: the PyTorch and JAX {options.model} logits differ by {logit_diff:.3e} "
                f"> {tolerance:.3e}: not the same network; no timing is meaningful"
            )

    # --- JAX: time ----------------------------------------------------------------
    holder = {"state": state}

    def jax_train_step():
        holder["state"], holder["metrics"] = compiled_train(holder["state"], sharded, dropout_rng)
        jax.block_until_ready(holder)
        holder.setdefault("first_loss", holder["metrics"]["loss"])

    with OtherLoad() as load, warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*donated buffers.*")
        train_times = time_calls(jax_train_step, options.warmup, options.steps)
        variables = holder["state"].variables()
        infer_times = time_calls(
            lambda: jax.block_until_ready(compiled_infer(variables, sharded["inputs"])),
            options.warmup,
            options.steps,
        )
    memory, memory_label = peak_memory(device)
    ours = Timing(
        _median(train_times), _median(infer_times), compile_train_s, compile_infer_s, load.cores
    )
    if not memory_label.startswith("host"):
        ours.device_memory = memory
    first_loss = float(holder.get("first_loss", float("nan")))
    loss = float(holder["metrics"]["loss"]) if "metrics" in holder else float("nan")

    peak, peak_source = peak_flops(device.device_kind, options.dtype, options.peak_tflops)
    peak_total = peak * devices if peak else None

    def flops_line(label, flops, seconds):
        if flops is None:
            return f"  {label}: XLA reports no FLOP count on {device.platform}"
        achieved = flops * devices / seconds
        mfu = f"MFU {100 * achieved / peak_total:.1f}%" if peak_total else "MFU n/a"
        return (
            f"  {label}: {flops / 1e9:.2f} GFLOP per device (XLA), "
            f"{achieved / 1e9:.1f} GFLOP/s achieved, {mfu} ({peak_source})"
        )

    print("JAX")
    print(
        f"  compile: train step {compile_train_s:.1f} s (trace + lower {lower_s['train']:.1f} s), "
        f"inference {compile_infer_s:.1f} s (trace + lower {lower_s['infer']:.1f} s)"
    )
    print(
        f"  train step: {1e3 * ours.train_s:.1f} ms median of {options.steps} "
        f"(min {1e3 * min(train_times):.1f}, max {1e3 * max(train_times):.1f}): "
        f"{_rate(b, ours.train_s)} clips/s, {_rate(b * frames_per_clip, ours.train_s)} frames/s"
    )
    print(
        f"  inference: {1e3 * ours.infer_s:.1f} ms median of {options.steps} "
        f"(min {1e3 * min(infer_times):.1f}, max {1e3 * max(infer_times):.1f}): "
        f"{_rate(b, ours.infer_s)} clips/s, {_rate(b * frames_per_clip, ours.infer_s)} frames/s"
    )
    print(flops_line("train step FLOPs", train_flops, ours.train_s))
    print(flops_line("inference FLOPs", infer_flops, ours.infer_s))
    print(
        f"  peak memory: {memory / 2**30:.2f} GiB, {memory_label}; loss {first_loss:.4g} at "
        f"the first step, {loss:.4g} at the last (the same batch every step)"
    )
    if load.cores is not None:
        print(
            f"  other processes kept {load.cores:.2f} of {os.cpu_count()} cores busy while "
            "timing (0 = an idle machine; more = noisy figures)"
        )

    results = {
        "jax": ours,
        "train_flops": train_flops,
        "infer_flops": infer_flops,
        "memory_bytes": memory,
        "memory_label": memory_label,
        "logit_diff": logit_diff,
        "loss": loss,
        "frames_per_clip": frames_per_clip,
    }
    if options.compare_torch:
        results.update(time_torch(torch_model, torch_inputs, batch, config, options))
        print_comparison(results, b, frames_per_clip)
    return results


def channels_last(torch_model):
    """The model with channels-last weights (`channels_last_3d` for 3D convolutions), so
    that cuDNN keeps every activation channels-last, the layout its tensor-core kernels
    read without transposes."""
    import torch

    is_3d = any(p.dim() == 5 for p in torch_model.parameters())
    return torch_model.to(memory_format=torch.channels_last_3d if is_3d else torch.channels_last)


def time_torch(torch_model, inputs, batch, config, options: Options) -> dict[str, Timing]:
    """PyTorch train steps and inference, eager and with `torch.compile`."""
    import torch
    import torch.nn.functional as F

    cuda = torch.cuda.is_available()
    device = torch.device("cuda" if cuda else "cpu")
    torch_model = torch_model.to(device)
    if cuda:
        # PyTorch as its GPU recipes run it: cuDNN autotuning, TF32 for float32 (what XLA
        # uses on these GPUs by default) and channels-last activations.
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        torch_model = channels_last(torch_model)
    inputs = inputs.to(device)
    labels = torch.from_numpy(batch["label"]).long().to(device)
    autocast = functools.partial(
        torch.autocast,
        device_type=device.type,
        dtype=torch.bfloat16,
        enabled=options.dtype == "bfloat16",
    )
    opt = config.optimizer
    # Decay on kernels (ndim > 1), as the recipes' default weight_decay_multipliers.
    decay = [p for p in torch_model.parameters() if p.ndim > 1]
    no_decay = [p for p in torch_model.parameters() if p.ndim <= 1]
    optimizer = torch.optim.SGD(
        [
            {"params": decay, "weight_decay": opt.weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        ],
        lr=opt.learning_rate,
        momentum=opt.momentum,
    )

    def sync():
        if cuda:
            torch.cuda.synchronize()

    def train_step(module):
        def step():
            with autocast():
                loss = F.cross_entropy(module(inputs).float(), labels)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if opt.clip_grad_norm > 0:
                torch.nn.utils.clip_grad_norm_(torch_model.parameters(), opt.clip_grad_norm)
            optimizer.step()
            sync()

        return step

    def infer_step(module):
        def step():
            with torch.no_grad(), autocast():
                module(inputs)
            sync()

        return step

    def measure(module, compiled: bool) -> Timing:
        timing = Timing()
        load = OtherLoad()
        if cuda:
            torch.cuda.reset_peak_memory_stats()
        try:
            torch_model.train()
            step = train_step(module)
            if compiled:  # the first call compiles (forward and backward graphs)
                start = time.perf_counter()
                step()
                timing.compile_train_s = time.perf_counter() - start
            with load:
                timing.train_s = _median(time_calls(step, options.warmup, options.steps))
            other = load.cores
            torch_model.eval()
            step = infer_step(module)
            if compiled:
                start = time.perf_counter()
                step()
                timing.compile_infer_s = time.perf_counter() - start
            with load:
                timing.infer_s = _median(time_calls(step, options.warmup, options.steps))
            if other is not None and load.cores is not None:
                timing.other_cores = (other + load.cores) / 2
            if cuda:
                timing.device_memory = float(torch.cuda.max_memory_allocated())
        except Exception as error:  # noqa: BLE001 - report, keep the other figures
            timing.error = f"{type(error).__name__}: {str(error).strip().splitlines()[0][:300]}"
        return timing

    results = {"torch_eager": measure(torch_model, compiled=False)}
    if options.torch_compile:
        if not options.torch_compile_cache:
            # A cold compile, as JAX's here (no persistent cache): Inductor would otherwise
            # reuse the graphs and kernels of an earlier run of the same shapes.
            import torch._inductor.config

            torch._inductor.config.force_disable_caches = True
        try:
            compiled = torch.compile(torch_model)
        except Exception as error:  # noqa: BLE001
            results["torch_compile"] = Timing(error=f"{type(error).__name__}: {error}")
        else:
            results["torch_compile"] = measure(compiled, compiled=True)
    return results


def _cores(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _gib(value: float | None) -> str:
    return "-" if value is None else f"{value / 2**30:.2f}"


def print_comparison(results: dict[str, Any], clips: int, frames_per_clip: int) -> None:
    """The table of JAX and PyTorch figures with JAX / PyTorch speed ratios."""
    ours: Timing = results["jax"]
    columns = [("JAX", ours), ("torch eager", results["torch_eager"])]
    if "torch_compile" in results:
        columns.append(("torch.compile", results["torch_compile"]))
    for name, timing in columns[1:]:
        if timing.error:
            print(f"{name} FAILED: {timing.error}")

    def seconds(value):
        return "-" if value is None else f"{value:.1f}"

    def ratio(mine, theirs):
        # Speed ratio: JAX throughput / PyTorch throughput (> 1: JAX is faster).
        return "-" if not mine or not theirs else f"{theirs / mine:.2f}"

    header = [name for name, _ in columns] + [f"JAX / {name}" for name, _ in columns[1:]]
    print(f"| {clips} clip(s) per step | " + " | ".join(header) + " |")
    print("|---" * (len(header) + 1) + "|")
    rows = [
        ("train clips/s", lambda t: _rate(clips, t.train_s), "train_s"),
        ("train frames/s", lambda t: _rate(clips * frames_per_clip, t.train_s), "train_s"),
        ("inference clips/s", lambda t: _rate(clips, t.infer_s), "infer_s"),
        ("inference frames/s", lambda t: _rate(clips * frames_per_clip, t.infer_s), "infer_s"),
        ("compile train (s)", lambda t: seconds(t.compile_train_s), None),
        ("compile inference (s)", lambda t: seconds(t.compile_infer_s), None),
        ("other processes' load (cores)", lambda t: _cores(t.other_cores), None),
    ]
    if ours.device_memory is not None:
        rows.append(("peak device memory (GiB)", lambda t: _gib(t.device_memory), None))
    for label, cell, key in rows:
        cells = [cell(timing) for _, timing in columns]
        if key:
            cells += [ratio(getattr(ours, key), getattr(t, key)) for _, t in columns[1:]]
        else:
            cells += ["-"] * (len(columns) - 1)
        print(f"| {label} | " + " | ".join(cells) + " |")
    print("(JAX / torch: JAX throughput over PyTorch's, > 1 when JAX is faster)")


# --------------------------------------------------------------------------- flags

FLAGS = flags.FLAGS
flags.DEFINE_enum("model", "tsn_r50", sorted(MODELS), "Benchmark model.")
flags.DEFINE_integer("batch_size", 1, "Clips per step (global; a multiple of the devices).")
flags.DEFINE_enum("dtype", "float32", ["float32", "bfloat16"], "config.model.dtype.")
flags.DEFINE_integer("steps", 5, "Timed steps (the median is reported).")
flags.DEFINE_integer("warmup", 2, "Untimed steps before them.")
flags.DEFINE_integer("width", 64, "config.model.base_width (64 = published).")
flags.DEFINE_integer("crop_size", 0, "Crop side (0 = the recipe's: 224, or 112 for R(2+1)D).")
flags.DEFINE_integer("num_classes", 400, "Classes of the classifier.")
flags.DEFINE_enum(
    "conv",
    "auto",
    ["auto", "xla", "im2col", "polyphase"],  # lowerings.CONV_IMPLEMENTATIONS (jax not imported yet)
    "Convolution lowering (layers.Conv): auto = on CPU im2col for 1D/2D kernels and "
    "polyphase (XLA's convolution, polyphase gradients of strided ones) for 3D; xla on "
    "GPU/TPU.",
)
flags.DEFINE_float("peak_tflops", 0.0, "Peak TFLOP/s of one device for the MFU (0 = table).")
flags.DEFINE_bool("compare_torch", False, "Check and time the same network in PyTorch.")
flags.DEFINE_bool("torch_compile", True, "With --compare_torch, also time torch.compile.")
flags.DEFINE_bool(
    "torch_compile_cache",
    False,
    "Let torch.compile reuse Inductor's on-disk caches (default: a cold compile, timed).",
)
flags.DEFINE_integer("torch_threads", 0, "torch.set_num_threads (0 = PyTorch's default).")
flags.DEFINE_float(
    "logit_tolerance", 1e-3, "Largest accepted logit difference, relative to max |logit|."
)
flags.DEFINE_integer("seed", 0, "Seed of the weights and inputs.")


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments {argv[1:]}")
    if FLAGS.compare_torch:
        # On a GPU JAX would take 75% of its memory at start, leaving PyTorch too little.
        os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    run(Options(**{f.name: FLAGS[f.name].value for f in dataclasses.fields(Options)}))


if __name__ == "__main__":
    app.run(main)
