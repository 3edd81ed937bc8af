"""Helpers the tests share: tiny configs, variables drawn with numpy, reference key
layouts, one-off compilation and saved checkpoints.

Importable without conftest's device settings (tests/distributed_worker.py runs in
processes of its own).
"""

import os
import pathlib
import re
import shlex

import flax
import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp

from configs import default
from tsn_jax import pretrained
from tsn_jax.models import lowerings, resnet

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def tiny_config(data_dir: str):
    """The default config scaled down to seconds: 2+1 videos per class, 32x32 crops."""
    config = default.get_config()
    config.dataset.data_dir = data_dir
    config.dataset.short_side = 40
    config.dataset.num_train_per_class = 2
    config.dataset.num_test_per_class = 1
    config.data.crop_size = 32
    config.eval.resize_short = 36
    config.data.shuffle_buffer_size = 16
    config.model.base_width = 8
    config.batch_size = 8
    config.eval.batch_size = 8
    config.num_train_steps = 4
    config.log_every_steps = 2
    config.checkpoint_every_steps = 2
    return config


def demo_videos(data_dir: str) -> str:
    """The folder the tiny demo videos of `tiny_config(data_dir)` are rendered in."""
    from input_pipeline import datasets

    return datasets.demo_video_dir(tiny_config(data_dir).dataset)


def abstract_init(model, x_shape):
    """Variables' shapes without running anything (train is static, so not traced)."""
    return jax.eval_shape(lambda: model.init(jax.random.key(0), jnp.zeros(x_shape), train=False))


def random_inputs(shape, seed: int = 0) -> jax.Array:
    return jnp.asarray(np.random.default_rng(seed).standard_normal(shape, np.float32))


def numpy_variables(abstract_variables, seed: int = 0):
    """Random values for a variable tree of ShapeDtypeStructs, drawn with numpy.

    Convolutions get He-normal weights; BatchNorm gets non-trivial affine parameters and
    running statistics (so eval mode is not a no-op); dense layers get unit-scale weights
    and biases, so that logits are O(1) and the comparisons in the tests can fail (TSN's
    N(0, 0.001^2) classifier would make every logit ~1e-3 and any allclose pass).
    """
    rng = np.random.default_rng(seed)
    flat = flax.traverse_util.flatten_dict(abstract_variables)
    values = {}
    for path, leaf in flat.items():
        shape, name = leaf.shape, path[-1]
        if name == "kernel" and len(shape) == 4:
            h, w, _, o = shape
            value = rng.normal(0.0, np.sqrt(2.0 / (h * w * o)), shape)
        elif name == "kernel":
            value = rng.normal(0.0, 1.0 / np.sqrt(shape[0]), shape) * 3.0
        elif name in ("scale", "var"):
            value = rng.uniform(0.5, 1.5, shape)
        elif path[-2] == "fc":  # fc bias
            value = rng.normal(0.0, 1.0, shape)
        else:  # BN bias and mean
            value = rng.normal(0.0, 0.1, shape)
        values[path] = jnp.asarray(value, leaf.dtype)
    return flax.traverse_util.unflatten_dict(values)


def torchvision_resnet_keys(block: str, layers, num_classes: int = 1000):
    """(key, shape) of a torchvision ResNet state_dict, written the way torchvision builds it.

    Checked against the hard-coded resnet18 list and the resnet50 hash above, so that it
    can stand for torchvision's layout of the other depths.
    """
    keys = []

    def conv(prefix, cout, cin, k):
        keys.append((f"{prefix}.weight", (cout, cin, k, k)))

    def bn(prefix, c):
        keys.extend(
            [
                (f"{prefix}.weight", (c,)),
                (f"{prefix}.bias", (c,)),
                (f"{prefix}.running_mean", (c,)),
                (f"{prefix}.running_var", (c,)),
                (f"{prefix}.num_batches_tracked", ()),
            ]
        )

    expansion = 1 if block == "basic" else 4
    conv("conv1", 64, 3, 7)
    bn("bn1", 64)
    inplanes = 64
    for i, n in enumerate(layers):
        planes = 64 * 2**i
        for j in range(n):
            p = f"layer{i + 1}.{j}"
            stride = 2 if i > 0 and j == 0 else 1
            if block == "basic":
                conv(f"{p}.conv1", planes, inplanes, 3)
                bn(f"{p}.bn1", planes)
                conv(f"{p}.conv2", planes, planes, 3)
                bn(f"{p}.bn2", planes)
            else:
                conv(f"{p}.conv1", planes, inplanes, 1)
                bn(f"{p}.bn1", planes)
                conv(f"{p}.conv2", planes, planes, 3)
                bn(f"{p}.bn2", planes)
                conv(f"{p}.conv3", planes * 4, planes, 1)
                bn(f"{p}.bn3", planes * 4)
            if stride != 1 or inplanes != planes * expansion:
                conv(f"{p}.downsample.0", planes * expansion, inplanes, 1)
                bn(f"{p}.downsample.1", planes * expansion)
            inplanes = planes * expansion
    keys.append(("fc.weight", (num_classes, 512 * expansion)))
    keys.append(("fc.bias", (num_classes,)))
    return keys


PIERGIAJ_MIXED = [
    ("Mixed_3b", 192, [64, 96, 128, 16, 32, 32]),
    ("Mixed_3c", 256, [128, 128, 192, 32, 96, 64]),
    ("Mixed_4b", 128 + 192 + 96 + 64, [192, 96, 208, 16, 48, 64]),
    ("Mixed_4c", 192 + 208 + 48 + 64, [160, 112, 224, 24, 64, 64]),
    ("Mixed_4d", 160 + 224 + 64 + 64, [128, 128, 256, 24, 64, 64]),
    ("Mixed_4e", 128 + 256 + 64 + 64, [112, 144, 288, 32, 64, 64]),
    ("Mixed_4f", 112 + 288 + 64 + 64, [256, 160, 320, 32, 128, 128]),
    ("Mixed_5b", 256 + 320 + 128 + 128, [256, 160, 320, 32, 128, 128]),
    ("Mixed_5c", 256 + 320 + 128 + 128, [384, 192, 384, 48, 128, 128]),
]


def piergiaj_i3d_keys(num_classes: int = 400, in_channels: int = 3):
    """(key, shape) of piergiaj's InceptionI3d state_dict, in its order (logits first)."""
    keys = []

    def unit(prefix, cin, cout, k, bn=True, bias=False):
        keys.append((f"{prefix}.conv3d.weight", (cout, cin, k, k, k)))
        if bias:
            keys.append((f"{prefix}.conv3d.bias", (cout,)))
        if bn:
            for leaf in ("weight", "bias", "running_mean", "running_var"):
                keys.append((f"{prefix}.bn.{leaf}", (cout,)))
            keys.append((f"{prefix}.bn.num_batches_tracked", ()))

    unit("logits", 1024, num_classes, 1, bn=False, bias=True)
    unit("Conv3d_1a_7x7", in_channels, 64, 7)
    unit("Conv3d_2b_1x1", 64, 64, 1)
    unit("Conv3d_2c_3x3", 64, 192, 3)
    for name, cin, w in PIERGIAJ_MIXED:
        unit(f"{name}.b0", cin, w[0], 1)
        unit(f"{name}.b1a", cin, w[1], 1)
        unit(f"{name}.b1b", w[1], w[2], 3)
        unit(f"{name}.b2a", cin, w[3], 1)
        unit(f"{name}.b2b", w[3], w[4], 3)
        unit(f"{name}.b3b", cin, w[5], 1)
    return keys


def run_once(fn, *args):
    """``jax.jit(fn)(*args)`` as numpy arrays (the same tree), compiled for a one-off run:
    XLA's own convolutions (im2col compiles slowly) and no backend optimizations (10 s
    -> 4 s for a tiny I3D; a tiny GoogLeNet run op by op takes 5x longer still)."""
    with lowerings.conv_implementation("xla"):
        lowered = jax.jit(fn).lower(*args)
    out = lowered.compile({"xla_backend_optimization_level": 0})(*args)
    return jax.tree.map(np.asarray, out)


def save_tree(path, tree):
    """`tree` as an Orbax checkpoint at `path`, the way the convert tool saves one."""
    checkpointer = ocp.StandardCheckpointer()
    checkpointer.save(path, tree)
    checkpointer.wait_until_finished()


def classifier_checkpoint(tmp_path, arch="resnet18", num_classes=7):
    """A converted ImageNet-style classifier saved like tsn-jax-convert."""
    model = getattr(resnet, arch)(num_classes=num_classes, base_width=8)
    variables = numpy_variables(abstract_init(model, (1, 32, 32, 3)), seed=1)
    save_tree(tmp_path / arch, variables)
    return variables, pretrained.load_checkpoint(str(tmp_path / arch))


def documented_commands() -> list[tuple[str, list[str]]]:
    """(page, argv) of every command in the README's and the docs' bash blocks."""
    root = pathlib.Path(ROOT)
    found = []
    for page in [root / "README.md", *sorted((root / "docs").glob("*.md"))]:
        for block in re.findall(r"```bash\n(.*?)```", page.read_text(), flags=re.S):
            lines = block.replace("\\\n", " ").splitlines()
            for line in (line.split(" #")[0] for line in lines if not line.startswith("#")):
                argv = []
                for token in [*shlex.split(line), "&&"]:
                    if token != "&&":
                        argv.append(token)
                    elif argv:
                        found.append((page.name, argv))
                        argv = []
    return found


def save_run(workdir: pathlib.Path, data_dir: str, step: int, class_names):
    """A workdir as training leaves it: config.json, class_names.json, and step `step`
    with both items (a tiny TSN-ResNet of random weights). Returns (workdir, config,
    variables)."""
    import json

    from tsn_jax import checkpoints, runs
    from tsn_jax.models import create_model

    config = tiny_config(data_dir)
    config.model.backbone_options = {}
    model = create_model(config.model, len(class_names), config.data.num_segments)
    variables = jax.jit(lambda x: model.init(jax.random.key(0), x, train=False))(
        np.zeros((1, 3, 1, 32, 32, 3), np.float32)
    )
    workdir.mkdir(parents=True)
    (workdir / runs.CONFIG_FILE).write_text(config.to_json_best_effort())
    (workdir / runs.CLASS_NAMES_FILE).write_text(json.dumps(list(class_names)))
    manager = checkpoints.create_manager(str(workdir / "checkpoints"), save_every_steps=1, keep=2)
    state = {"step": step, **variables}
    manager.save(step, args=checkpoints.save_args(state, runs.run_info(config, class_names)))
    manager.wait_until_finished()
    manager.close()
    return workdir, config, variables
