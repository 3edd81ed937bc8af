"""BN-Inception, VGG-16 and C3D: reference naming, shapes and behaviour (no torch needed).

Naming is checked at full width by tracing only (``jax.eval_shape``): every Flax variable,
mapped by ``convert_torch.torch_key`` to a torch key and shape, must reproduce the
reference ``state_dict`` exactly. Shapes, input sizes, BN-Inception's train mode and the
TSN wrapper are traced too. The only forward pass run here is a tiny VGG's (dropout):
XLA's CPU compilation of a whole BN-Inception takes 10-40 s (in train mode most), so each
model runs once, at full width against PyTorch, in
test_torch_parity_bninception_vgg_c3d.py.
"""

from __future__ import annotations

import flax
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from tests.layout_utils import layout_digest, torch_layout
from tsn_jax import convert_torch, models
from tsn_jax.models import bninception, c3d, lowerings, vgg

# sha256 of "\n".join(sorted(f"{key} {shape}")) over a reference state_dict, without
# num_batches_tracked: pretrainedmodels' BNInception(num_classes=1000) (its source run
# once, with torch), torchvision 0.29's vgg16() and vgg16_bn().
PRETRAINEDMODELS_BNINCEPTION = (
    416,
    "45f53ba00a58e430268d0d2076958ccb4ddd558ff6a727b36684757b42e1fa80",
)
TORCHVISION_VGG16 = (32, "ba63c2556d912509cba94697742dd762a05c284047650150bab0c2ddc806bb59")
TORCHVISION_VGG16_BN = (84, "d8308b804a50efac3fab3ae9ebd8f1abc646d831f4ec2c40d7d98c0ca5c1b9f2")

# mmaction2's C3D backbone state_dict (16x112x112 clips), plus this model's fc8 (in
# mmaction2 the head's cls_head.fc_cls).
MMACTION2_C3D = [
    (f"conv{name}.conv.{leaf}", (cout, cin, 3, 3, 3) if leaf == "weight" else (cout,))
    for name, cin, cout in [
        ("1a", 3, 64),
        ("2a", 64, 128),
        ("3a", 128, 256),
        ("3b", 256, 256),
        ("4a", 256, 512),
        ("4b", 512, 512),
        ("5a", 512, 512),
        ("5b", 512, 512),
    ]
    for leaf in ("weight", "bias")
] + [
    ("fc6.weight", (4096, 8192)),
    ("fc6.bias", (4096,)),
    ("fc7.weight", (4096, 4096)),
    ("fc7.bias", (4096,)),
    ("fc8.weight", (487, 4096)),
    ("fc8.bias", (487,)),
]


def abstract(model, shape, **kwargs):
    return jax.eval_shape(
        lambda: model.init(jax.random.key(0), jnp.zeros(shape), train=False, **kwargs)
    )


def random_inputs(shape, seed=0):
    return jnp.asarray(np.random.default_rng(seed).standard_normal(shape, np.float32))


def numpy_variables(model, shape, seed=0):
    """Variables of the model's structure with numpy-drawn values (an eager init of a deep
    model compiles every op separately): He-normal convolutions, unit-scale dense layers,
    non-trivial BatchNorm parameters and statistics."""
    rng = np.random.default_rng(seed)
    values = {}
    for path, leaf in flax.traverse_util.flatten_dict(abstract(model, shape)).items():
        name, shape = path[-1], leaf.shape
        if name == "kernel" and len(shape) > 2:
            value = rng.normal(0.0, np.sqrt(2.0 / (np.prod(shape[:-2]) * shape[-1])), shape)
        elif name == "kernel":
            value = rng.normal(0.0, 1.0 / np.sqrt(shape[0]), shape)
        elif name in ("scale", "var"):
            value = rng.uniform(0.5, 1.5, shape)
        else:
            value = rng.normal(0.0, 0.1, shape)
        values[path] = jnp.asarray(value, jnp.float32)
    return flax.traverse_util.unflatten_dict(values)


# --------------------------------------------------------------------------- naming


def test_torch_key_naming_options():
    key = convert_torch.torch_key
    path = ("inception_3a_double_3x3_1", "kernel")
    # The generic rule reads the trailing _1 as a container index ...
    assert key("params", path) == "inception_3a_double_3x3.1.weight"
    # ... which BN-Inception's layout turns off, and renames override either way.
    assert key("params", path, index_suffixes=False) == "inception_3a_double_3x3_1.weight"
    renames = {"fc": "last_linear", "head_0": "cls_head.fc_cls"}
    assert key("params", ("fc", "bias"), False, renames) == "last_linear.bias"
    assert key("params", ("head_0", "kernel"), True, renames) == "cls_head.fc_cls.weight"
    assert key("batch_stats", ("layer1_0", "bn1", "var"), True, renames) == (
        "layer1.0.bn1.running_var"
    )


def test_bninception_matches_pretrainedmodels_layout_and_converts():
    variables = abstract(bninception.bninception(), (1, 224, 224, 3))
    shapes = torch_layout(variables, index_suffixes=False, renames={"fc": "last_linear"})
    assert layout_digest(shapes) == PRETRAINEDMODELS_BNINCEPTION
    assert shapes["inception_3a_double_3x3_1.weight"] == (96, 64, 3, 3)
    assert shapes["inception_3c_3x3.weight"] == (160, 128, 3, 3)
    assert shapes["inception_5b_pool_proj_bn.running_mean"] == (128,)
    assert shapes["last_linear.weight"] == (1000, 1024)
    # Pass-through blocks have no 1x1 branch and no pool projection.
    assert "inception_4e_1x1.weight" not in shapes and "inception_4e_pool_proj.bias" not in shapes

    # The registered converter reads that layout (here: zeros in torch's shapes).
    state_dict = {k: np.zeros(s, np.float32) for k, s in shapes.items()}
    state_dict["conv1_7x7_s2_bn.num_batches_tracked"] = np.array(0)
    converted = convert_torch.convert_torchvision("bninception", state_dict)
    assert converted["params"]["fc"]["kernel"].shape == (1024, 1000)
    assert converted["params"]["inception_3a_double_3x3_1"]["kernel"].shape == (3, 3, 64, 96)


@pytest.mark.parametrize(
    "constructor,digest,last_conv",
    [(vgg.vgg16, TORCHVISION_VGG16, 28), (vgg.vgg16_bn, TORCHVISION_VGG16_BN, 40)],
)
def test_vgg_matches_torchvision_layout(constructor, digest, last_conv):
    variables = abstract(constructor(), (1, 32, 32, 3))
    shapes = torch_layout(variables)
    assert layout_digest(shapes) == digest
    assert shapes["classifier.0.weight"] == (4096, 512 * 7 * 7)
    assert shapes["classifier.6.weight"] == (1000, 4096)
    assert shapes[f"features.{last_conv}.weight"] == (512, 512, 3, 3)


def test_c3d_matches_mmaction2_layout_and_converts():
    variables = abstract(c3d.c3d(), (1, 16, 112, 112, 3))
    assert sorted(torch_layout(variables).items()) == sorted(MMACTION2_C3D)
    assert "batch_stats" not in variables

    # An mmaction2 recognizer checkpoint: backbone.* and the head's cls_head.fc_cls.
    state_dict = {f"backbone.{k}": np.zeros(s, np.float32) for k, s in MMACTION2_C3D}
    state_dict["cls_head.fc_cls.weight"] = state_dict.pop("backbone.fc8.weight")[:101]
    state_dict["cls_head.fc_cls.bias"] = state_dict.pop("backbone.fc8.bias")[:101]
    converted = convert_torch.convert_torchvision("mmaction2_c3d", state_dict)
    assert converted["params"]["fc8"]["kernel"].shape == (4096, 101)
    assert converted["params"]["conv1a"]["conv"]["kernel"].shape == (3, 3, 3, 3, 64)


# --------------------------------------------------------------------------- shapes


def output_shape(model, shape, **kwargs):
    """Output shape of a model's init on a zero input of `shape`, traced only."""
    init = model.init_with_output
    out = jax.eval_shape(lambda: init(jax.random.key(0), jnp.zeros(shape), train=False, **kwargs))
    return out[0].shape


def test_bninception_input_sizes_and_train_mode():
    model = bninception.bninception(num_classes=None, base_width=8)
    assert model.num_features == 128 and bninception.bninception().num_features == 1024
    # The map entering inception_3c must be a multiple of 4: 31 -> 16 -> 8 -> 4 (and
    # 64 -> 8). The input is flow-like: 5 stacked x/y frames folded into 10 channels.
    x = jnp.zeros((2, 31, 64, 10))
    out, variables = jax.eval_shape(
        lambda: model.init_with_output(jax.random.key(0), x, train=False)
    )
    assert out.shape == (2, 128)
    assert variables["params"]["conv1_7x7_s2"]["kernel"].shape == (7, 7, 10, 8)
    with pytest.raises(ValueError, match="inception_4e needs an even input map"):
        output_shape(model, (1, 112, 112, 3))  # 3c sees 14, 4e 7.

    out, state = jax.eval_shape(
        lambda v: model.apply(v, x, train=True, mutable=["batch_stats"]), variables
    )
    assert out.shape == (2, 128)
    assert jax.tree.map(lambda a: a.shape, state) == jax.tree.map(
        lambda a: a.shape, {"batch_stats": variables["batch_stats"]}
    )


def test_feature_maps_and_features():
    model = vgg.vgg16(num_classes=None)
    assert model.num_features == 4096
    variables = abstract(model, (1, 224, 224, 3))
    assert set(variables["params"]) == {f"features_{i}" for i in vgg16_conv_indices()} | {
        "classifier_0",
        "classifier_3",
    }

    assert output_shape(model, (2, 224, 224, 3)) == (2, 4096)
    assert output_shape(model, (2, 224, 224, 3), return_feature_map=True) == (2, 7, 7, 512)

    model = c3d.c3d(num_classes=None)
    variables = abstract(model, (1, 16, 112, 112, 3))
    assert set(variables["params"]) == {
        f"conv{n}" for n in ("1a", "2a", "3a", "3b", "4a", "4b", "5a", "5b")
    } | {"fc6", "fc7"}
    assert output_shape(model, (2, 16, 112, 112, 3)) == (2, 4096)
    assert output_shape(model, (2, 16, 112, 112, 3), return_feature_map=True) == (2, 1, 4, 4, 512)


def vgg16_conv_indices():
    # conv, ReLU per convolution and one max pool per stage, in nn.Sequential order.
    index, out = 0, []
    for n in (2, 2, 3, 3, 3):
        for _ in range(n):
            out.append(index)
            index += 2
        index += 1
    return out


def test_c3d_pool5_variants():
    def pool5(shape, **kwargs):
        model = c3d.c3d(num_classes=None, base_width=8, **kwargs)
        return output_shape(model, shape, return_feature_map=True)

    # 112 -> 7 at pool4; both give 4x4 (fc6's 8192 inputs), with different windows.
    assert pool5((1, 16, 112, 112, 3)) == pool5((1, 16, 112, 112, 3), caffe_pooling=True)
    assert pool5((1, 16, 112, 112, 3)) == (1, 1, 4, 4, 64)
    # 32 -> 2 at pool4: mmaction2's padding keeps 2 windows, Caffe's ceil rule one.
    assert pool5((1, 16, 32, 32, 3)) == (1, 1, 2, 2, 64)
    assert pool5((1, 16, 32, 32, 3), caffe_pooling=True) == (1, 1, 1, 1, 64)
    # 224 -> 14 at pool4: STAN's clip stream (Li et al. Sec. IV) states a 7x7x512 pool5,
    # which is Caffe's rule; mmaction2's padding gives 8x8.
    assert pool5((1, 16, 224, 224, 3), caffe_pooling=True) == (1, 1, 7, 7, 64)
    assert pool5((1, 16, 224, 224, 3)) == (1, 1, 8, 8, 64)


@pytest.mark.parametrize(
    "backbone,inputs",
    [
        ("bninception", (2, 3, 1, 64, 64, 3)),
        ("vgg16", (2, 3, 5, 32, 32, 2)),
        ("c3d", (2, 1, 16, 32, 32, 3)),
    ],
)
def test_tsn_on_each_backbone(backbone, inputs):
    config = ml_collections.ConfigDict({"backbone": backbone, "base_width": 8})
    model = models.create_model(config, num_classes=5, num_segments=inputs[1])
    variables = abstract(model, inputs)
    assert variables["params"]["fc"]["kernel"].shape == (model.backbone.num_features, 5)
    logits = jax.eval_shape(lambda v: model.apply(v, jnp.zeros(inputs), train=False), variables)
    assert logits.shape == (2, 5)


# --------------------------------------------------------------------------- behaviour


def test_vgg_dropout_only_in_train():
    # C3D's fc6/fc7 dropout is the same code; its forward pass runs in the parity tests.
    model = vgg.vgg16(num_classes=5, base_width=8)
    x = random_inputs((2, 32, 32, 3))
    variables = numpy_variables(model, x.shape)

    @jax.jit
    def run(variables, x):
        rngs = {"dropout": jax.random.key(0)}
        return model.apply(variables, x, train=False), model.apply(variables, x, True, rngs=rngs)

    with lowerings.conv_implementation("xla"):  # compiles 3-4x faster than im2col on CPU
        logits, train = run(variables, x)
    assert logits.shape == (2, 5) and float(jnp.abs(logits).max()) > 0.1
    # Without BatchNorm, train and eval differ only by dropout.
    assert float(jnp.abs(train - logits).max()) > 1e-2
    with pytest.raises(flax.errors.InvalidRngError):
        jax.eval_shape(lambda: model.apply(variables, x, train=True))
