"""tools/benchmark.py: the PyTorch twins of its models, its FLOP count, its main path.

Tiny widths and crops: what is checked is that the networks are the same (logits with
converted weights), that the FLOPs it reports are XLA's count of the network, and that a
run goes through; never how fast anything is.
"""

import functools

import jax
import numpy as np
import pytest

from tools import benchmark
from tsn_jax.models import create_model, lowerings

torch = pytest.importorskip("torch")

from tools import torch_models  # noqa: E402


def _logits_pair(name, width, crop, batch_size=1, seed=0):
    """(our logits, PyTorch's) for benchmark model `name`, the same weights in both."""
    config = benchmark.get_config(name, width, "float32", crop)
    shape = benchmark.input_shape(config, batch_size)
    model = create_model(config.model, 5, shape[1])
    torch.manual_seed(seed)
    reference, is_3d = benchmark.torch_tsn(config, 5)
    torch_models.randomize_batch_norm(reference)
    with torch.no_grad():
        reference.fc.weight.mul_(20.0)  # O(1) logits: the relative check below is meaningful
    variables = benchmark.convert_weights(reference, model, shape)
    x = np.random.default_rng(seed).normal(size=shape).astype(np.float32)
    with lowerings.conv_implementation("xla"):  # compiles several times faster than im2col
        ours = jax.jit(functools.partial(model.apply, train=False))(variables, x)
    with torch.no_grad():
        theirs = reference.eval()(torch_models.tsn_inputs(x, is_3d)).numpy()
    return np.asarray(ours), theirs


# One per family: 2D ResNet, the same with TSM (shift across the 8 segments), BN-Inception on
# 10 stacked flow channels, the inflated 3D ResNet; the (2+1)D video ResNet is checked by the
# run of the main path below (its --compare_torch check).
@pytest.mark.parametrize(
    "name,crop",
    [
        ("tsn_r50", 40),
        ("tsm_r50", 40),
        ("tsn_bninception_flow", 32),
        ("i3d_r50", 32),
    ],
)
@pytest.mark.slow
def test_torch_twin_gives_our_logits(name, crop):
    ours, theirs = _logits_pair(name, width=8, crop=crop, batch_size=2)
    assert ours.shape == theirs.shape == (2, 5)
    scale = np.abs(theirs).max()
    assert scale > 0.1
    np.testing.assert_allclose(ours / scale, theirs / scale, atol=1e-4)


@pytest.mark.parametrize("name", ["tsn_r50", "i3d_r50"])
def test_channels_last_keeps_the_logits_and_changes_the_weight_layout(name):
    # What the benchmark does to the PyTorch model on a GPU, checked on the CPU.
    config = benchmark.get_config(name, 8, "float32", 32)
    torch.manual_seed(0)
    model, is_3d = benchmark.torch_tsn(config, 5)
    x = torch_models.tsn_inputs(
        np.random.default_rng(0).normal(size=benchmark.input_shape(config, 2)).astype("f"),
        is_3d,
    )
    with torch.no_grad():
        expected = model.eval()(x)
        model = benchmark.channels_last(model)
        got = model(x)
    layout = torch.channels_last_3d if is_3d else torch.channels_last
    convs = [p for p in model.parameters() if p.dim() >= 4]
    assert convs and all(p.is_contiguous(memory_format=layout) for p in convs)
    assert not all(p.is_contiguous() for p in convs)
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5)


def test_tsm_twin_would_fail_without_the_shift():
    # The same TSM network without its shift gives other logits: the parity above sees TSM.
    config = benchmark.get_config("tsm_r50", 8, "float32", 40)
    shape = benchmark.input_shape(config, 1)
    torch.manual_seed(0)
    reference, _ = benchmark.torch_tsn(config, 5)
    x = torch_models.tsn_inputs(np.random.default_rng(0).normal(size=shape).astype("f4"), False)
    with torch.no_grad():
        shifted = reference.eval()(x)
        for module in reference.modules():
            if isinstance(module, torch_models.tsm_bottleneck_class()):
                module.shift_fraction = 0.0
        unshifted = reference(x)
    assert not torch.allclose(shifted, unshifted, atol=1e-6)


def test_tsm_twin_has_torchvision_resnet50_keys_at_full_width():
    torchvision = torch_models.import_torchvision()
    with torch.device("meta"):
        tsm = torch_models.resnet50(num_classes=1000, num_segments=8)
        reference = torchvision.models.resnet50()
    shapes = {k: tuple(v.shape) for k, v in tsm.state_dict().items()}
    assert shapes == {k: tuple(v.shape) for k, v in reference.state_dict().items()}


def test_temporal_shift_moves_one_eighth_each_way():
    # 2 videos x 3 segments, 16 channels: channels 0-1 come from the next segment, 2-3 from
    # the previous one, zeros at the ends, the rest unchanged.
    x = torch.arange(2 * 3 * 16, dtype=torch.float32).view(6, 16, 1, 1)
    y = torch_models.temporal_shift(x, 3).view(2, 3, 16)
    v = x.view(2, 3, 16)
    torch.testing.assert_close(y[:, :2, :2], v[:, 1:, :2])
    torch.testing.assert_close(y[:, 1:, 2:4], v[:, :2, 2:4])
    assert not y[:, 2, :2].any() and not y[:, 0, 2:4].any()
    torch.testing.assert_close(y[..., 4:], v[..., 4:])


def _resnet50_multiply_adds(width, size, frames, classes):
    """Multiply-adds of TSN-R50's convolutions and fc, every kernel tap counted (also those
    on zero padding), for `frames` frames of size x size: the count by hand."""

    def out(n, kernel, stride, pad):
        return (n + 2 * pad - kernel) // stride + 1

    h = out(size, 7, 2, 3)
    macs = h * h * 7 * 7 * 3 * width
    h = out(h, 3, 2, 1)  # max pool
    channels = width
    for stage, blocks in enumerate((3, 4, 6, 3)):
        planes = width * 2**stage
        for block in range(blocks):
            stride = 2 if stage > 0 and block == 0 else 1
            h2 = out(h, 3, stride, 1)
            macs += h * h * channels * planes  # conv1, 1x1
            macs += h2 * h2 * 9 * planes * planes  # conv2, 3x3
            macs += h2 * h2 * planes * 4 * planes  # conv3, 1x1
            if stride != 1 or channels != 4 * planes:
                macs += h2 * h2 * channels * 4 * planes  # downsample, 1x1
            h, channels = h2, 4 * planes
    return frames * (macs + channels * classes)


def test_flop_count_matches_the_count_by_hand():
    # im2col (the CPU lowering) multiplies every tap, padding included, so XLA's count of the
    # forward pass is 2 x the multiply-adds by hand plus BatchNorm, ReLU, pooling and the
    # residual additions: 2.3% more at full width.
    config = benchmark.get_config("tsn_r50", 64, "float32", 32)
    model = create_model(config.model, 400, 8)
    x = jax.ShapeDtypeStruct((1, 8, 1, 32, 32, 3), np.float32)
    variables = jax.eval_shape(functools.partial(model.init, train=False), jax.random.key(0), x)
    with lowerings.conv_implementation("im2col"):
        compiled = jax.jit(functools.partial(model.apply, train=False)).lower(variables, x)
        compiled = compiled.compile()
    by_hand = 2 * _resnet50_multiply_adds(64, 32, 8, 400)
    assert 1.0 <= benchmark.flops_of(compiled) / by_hand <= 1.04


def test_flops_of_reads_a_dict_or_a_list():
    class Compiled:
        def __init__(self, cost):
            self.cost = cost

        def cost_analysis(self):
            return self.cost

    assert benchmark.flops_of(Compiled({"flops": 8.0})) == 8.0
    assert benchmark.flops_of(Compiled([{"flops": 6.0}])) == 6.0
    assert benchmark.flops_of(Compiled([])) is None
    assert benchmark.flops_of(Compiled({"flops": -1.0})) is None


def test_peak_table():
    peak, source = benchmark.peak_flops("NVIDIA H100 80GB HBM3", "bfloat16")
    assert peak == 989.4e12 and "H100 SXM" in source
    assert benchmark.peak_flops("NVIDIA H100 PCIe", "float32")[0] == 378e12
    assert benchmark.peak_flops("TPU v5 lite", "bfloat16")[0] == 197e12
    assert benchmark.peak_flops("cpu", "float32")[0] is None
    assert benchmark.peak_flops("cpu", "float32", override_tflops=2.0)[0] == 2e12


@pytest.mark.slow
def test_main_path_runs_one_step_and_compares_with_torch(one_device, capsys):
    options = benchmark.Options(
        model="r2plus1d_18",
        width=8,
        crop_size=32,
        steps=1,
        warmup=0,
        conv="xla",
        compare_torch=True,
        torch_compile=False,
        peak_tflops=1.0,
    )
    results = benchmark.run(options)
    printed = capsys.readouterr().out
    assert results["logit_diff"] < 1e-4
    assert np.isfinite(results["loss"])
    assert results["train_flops"] > results["infer_flops"] > 0
    assert results["frames_per_clip"] == 16
    assert results["torch_eager"].train_s > 0 and not results["torch_eager"].error
    assert "MFU" in printed and "| train clips/s |" in printed and "host memory" in printed


@pytest.mark.slow  # the benchmark program: exports and times four runtimes
@pytest.mark.parametrize("model, onnx", [("tsn_r50", True), ("r2plus1d_18", False)])
def test_deployment_benchmark_times_every_runtime_on_the_same_weights(model, onnx, capsys):
    """tools/benchmark_deploy.py: each runtime's logits are JAX's (the converted PyTorch
    weights in every format); ONNX only for the 2D model."""
    pytest.importorskip("onnxruntime")
    pytest.importorskip("jax2onnx")
    from tools import benchmark_deploy

    argv = [f"--model={model}", "--width=8", "--crop_size=32", "--steps=1", "--warmup=0"]
    results = benchmark_deploy.main(argv)
    expected = ["jax (auto)", "jax (xla)", "stablehlo", "saved_model"]
    expected += ["onnx"] * onnx + ["torch eager"]
    assert list(results) == expected
    for name, figures in results.items():
        assert figures["max_diff"] < 1e-4, name
        assert figures["clips_per_s"] > 0
    printed = capsys.readouterr().out
    assert "vs torch" in printed and "torch eager" in printed
