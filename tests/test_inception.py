"""GoogLeNet and Inception-v3: torchvision names and shapes, tiny-width shapes, aux heads,
transform_input, and the converter's optional aux keys (no torch needed).

Everything at full width and every network-sized forward is traced only (``jax.eval_shape``);
the numerics against torchvision are in ``test_torch_parity_inception.py``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from tests.layout_utils import layout_digest, torch_layout
from tsn_jax import convert_torch, models
from tsn_jax.models import googlenet, inception_v3, layers

NUM_CLASSES = 5

# sha256 of the sorted "key shape" lines of torchvision 0.29's
# `googlenet(aux_logits=True).state_dict()` / `inception_v3(aux_logits=True).state_dict()`
# without `num_batches_tracked` (305 and 484 keys); see `layout_utils.torch_layout`.
TORCHVISION_SHA256 = {
    "googlenet": (305, "732f27ed6f1a18eda1c22e0f67b2dc6832fdcd8352f9483439a99814da87c64b"),
    "inception_v3": (484, "b57ada785681682bed3afcf96d787e5a9894824f9ab7987a492112c4e876858f"),
}
# torchvision's layouts need `_N` read as an index in GoogLeNet (`branch2.1`) and not in
# Inception-v3 (`branch5x5_1`).
INDEX_SUFFIXES = {"googlenet": True, "inception_v3": False}
# The smallest inputs: any size for GoogLeNet's eval, 75 for Inception-v3, and 299 for its
# aux head.
GOOGLENET_SHAPE = (2, 32, 32, 3)
INCEPTION_SHAPE = (2, 75, 75, 3)
INCEPTION_AUX_SHAPE = (2, 299, 299, 3)
CONSTRUCTORS = {"googlenet": googlenet.googlenet, "inception_v3": inception_v3.inception_v3}


def trace(model, shape, train=False):
    """Abstract variables and output of an init (one trace; ``train`` picks the mode)."""
    out, variables = jax.eval_shape(
        lambda: model.init_with_output(
            {"params": jax.random.key(0), "dropout": jax.random.key(1)},
            jnp.zeros(shape),
            train=train,
        )
    )
    return variables, out


def n_params(params) -> int:
    return sum(int(np.prod(x.shape)) for x in jax.tree.leaves(params))


@pytest.fixture(scope="module")
def full_width():
    """Abstract variables of both models at full width with their aux heads."""
    return {
        "googlenet": trace(googlenet.googlenet(aux_logits=True), GOOGLENET_SHAPE)[0],
        "inception_v3": trace(inception_v3.inception_v3(aux_logits=True), INCEPTION_AUX_SHAPE)[0],
    }


# --------------------------------------------------------------------------- names, shapes


@pytest.mark.parametrize("arch", ["googlenet", "inception_v3"])
def test_names_and_shapes_match_torchvision(full_width, arch):
    layout = torch_layout(full_width[arch], index_suffixes=INDEX_SUFFIXES[arch])
    assert layout_digest(layout) == TORCHVISION_SHA256[arch]


def test_spot_check_torchvision_names(full_width):
    layout = torch_layout(full_width["googlenet"], index_suffixes=True)
    assert layout["conv1.conv.weight"] == (64, 3, 7, 7)
    assert layout["inception3a.branch3.1.conv.weight"] == (32, 16, 3, 3)
    assert layout["inception5b.branch4.1.bn.running_var"] == (128,)
    assert layout["aux2.fc1.weight"] == (1024, 2048)
    assert layout["fc.weight"] == (1000, 1024)
    layout = torch_layout(full_width["inception_v3"], index_suffixes=False)
    assert layout["Conv2d_1a_3x3.conv.weight"] == (32, 3, 3, 3)
    assert layout["Mixed_6b.branch7x7dbl_2.conv.weight"] == (128, 128, 7, 1)
    assert layout["Mixed_7c.branch3x3dbl_3a.conv.weight"] == (384, 384, 1, 3)
    assert layout["AuxLogits.conv1.conv.weight"] == (768, 128, 5, 5)
    assert layout["fc.weight"] == (1000, 2048)


def test_parameter_counts_match_torchvision(full_width):
    # torchvision's published num_params: GoogLeNet without aux heads, Inception-v3 with.
    params = full_width["googlenet"]["params"]
    assert n_params({k: v for k, v in params.items() if not k.startswith("aux")}) == 6624904
    assert n_params(full_width["inception_v3"]["params"]) == 27161264


# --------------------------------------------------------------------------- tiny widths


@pytest.mark.parametrize(
    "arch,shape,features",
    [("googlenet", GOOGLENET_SHAPE, 128), ("inception_v3", INCEPTION_SHAPE, 256)],
)
def test_tiny_width_features(arch, shape, features):
    model = CONSTRUCTORS[arch](num_classes=None, base_width=8)
    assert not model.is_3d
    assert model.num_features == features
    assert CONSTRUCTORS[arch]().num_features == features * 8
    # Without the classifier: pooled features, for any channel count (stacked flow: 10).
    variables, out = trace(model, (*shape[:3], 10))
    assert out.shape == (2, features)
    assert variables["params"]["Conv2d_1a_3x3" if arch == "inception_v3" else "conv1"]
    assert "fc" not in variables["params"]


def test_tsn_on_googlenet_with_the_paper_branch3():
    config = {"backbone": "googlenet", "base_width": 8, "backbone_options": {"branch3_kernel": 5}}
    model = models.create_model(
        ml_collections.ConfigDict(config), num_classes=NUM_CLASSES, num_segments=3
    )
    assert isinstance(model.backbone, googlenet.GoogLeNet)
    assert models.BACKBONES["inception_v3"] is inception_v3.inception_v3
    variables, out = trace(model, (2, 3, 1, 32, 32, 3))
    assert out.shape == (2, NUM_CLASSES)
    branch3 = variables["params"]["backbone"]["inception3a"]["branch3_1"]["conv"]["kernel"]
    assert branch3.shape == (5, 5, 2, 4)
    with pytest.raises(ValueError, match="branch3_kernel"):
        trace(googlenet.googlenet(branch3_kernel=7), GOOGLENET_SHAPE)


# --------------------------------------------------------------------------- aux heads


@pytest.mark.parametrize(
    "arch,shape,aux_names,outputs",
    [
        ("googlenet", GOOGLENET_SHAPE, {"aux1", "aux2"}, googlenet.GoogLeNetOutputs),
        ("inception_v3", INCEPTION_AUX_SHAPE, {"AuxLogits"}, inception_v3.InceptionOutputs),
    ],
)
def test_aux_outputs_only_in_train(arch, shape, aux_names, outputs):
    model = CONSTRUCTORS[arch](num_classes=NUM_CLASSES, base_width=8, aux_logits=True)
    # Initialized in eval mode, the aux heads still get their parameters (for conversion),
    # and the output is the main logits.
    variables, logits = trace(model, shape)
    assert aux_names <= set(variables["params"])
    assert logits.shape == (2, NUM_CLASSES)
    _, out = trace(model, shape, train=True)
    assert isinstance(out, outputs)
    assert [x.shape for x in out] == [(2, NUM_CLASSES)] * len(outputs._fields)
    with pytest.raises(ValueError, match="aux_logits needs num_classes"):
        trace(model.clone(num_classes=None), shape)


def test_googlenet_aux_head_widths():
    model = googlenet.InceptionAux(NUM_CLASSES, conv_features=16, hidden_features=128)
    variables, out = trace(model, (2, 9, 9, 64))
    assert out.shape == (2, NUM_CLASSES)
    assert variables["params"]["fc1"]["kernel"].shape == (16 * 4 * 4, 128)


# --------------------------------------------------------------------------- small pieces


def test_transform_input_maps_imagenet_to_inception_normalization():
    pixels = np.random.default_rng(0).uniform(size=(2, 4, 4, 3)).astype(np.float32)
    mean, std = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])
    out = googlenet.transform_input(jnp.asarray((pixels - mean) / std, jnp.float32))
    np.testing.assert_allclose(out, (pixels - 0.5) / 0.5, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="3 RGB channels"):
        googlenet.transform_input(jnp.zeros((1, 4, 4, 10)))
    # The models apply it first (numerically checked against torchvision in the parity test).
    with pytest.raises(ValueError, match="3 RGB channels"):
        trace(inception_v3.inception_v3(base_width=8, transform_input=True), (1, 75, 75, 2))


@pytest.mark.parametrize("size,out", [((14, 9), 4), ((3, 2), 4)])
def test_adaptive_avg_pool_matches_torch_bins(size, out):
    # 14 -> 4 and 9 -> 4: overlapping windows of unequal counts; 3 -> 4: repeated cells.
    x = np.random.default_rng(0).normal(size=(2, *size, 3)).astype(np.float32)
    expected = np.zeros((2, out, out, 3), np.float32)
    (h, w), ceil = size, lambda a, b: -(-a // b)
    for i in range(out):
        for j in range(out):
            # torch: start = floor(i * n / o), end = ceil((i + 1) * n / o).
            rows = slice(i * h // out, ceil((i + 1) * h, out))
            cols = slice(j * w // out, ceil((j + 1) * w, out))
            expected[:, i, j] = x[:, rows, cols].mean(axis=(1, 2))
    np.testing.assert_allclose(layers.adaptive_avg_pool(x, out), expected, rtol=1e-5, atol=1e-6)


# --------------------------------------------------------------------------- conversion


def random_state_dict(variables, index_suffixes: bool = True) -> dict[str, np.ndarray]:
    """A torch-style state_dict with random values for the variables' layout."""
    rng = np.random.default_rng(0)
    layout = torch_layout(variables, index_suffixes=index_suffixes)
    return {key: rng.normal(size=shape).astype(np.float32) for key, shape in layout.items()}


def test_convert_drops_or_requires_the_aux_keys():
    model = googlenet.googlenet(num_classes=NUM_CLASSES, base_width=8, aux_logits=True)
    state = random_state_dict(convert_torch.abstract_variables(model, GOOGLENET_SHAPE))
    state["aux1.conv.bn.num_batches_tracked"] = np.array(0)

    # Built without aux heads (the default): the aux keys are dropped.
    plain = convert_torch.convert_torchvision("googlenet", state, base_width=8)
    assert not {"aux1", "aux2"} & set(plain["params"])
    np.testing.assert_array_equal(plain["params"]["fc"]["kernel"], state["fc.weight"].T)
    # Built with them: they are converted ...
    aux = convert_torch.convert_torchvision("googlenet", state, base_width=8, aux_logits=True)
    np.testing.assert_array_equal(aux["params"]["aux2"]["fc2"]["bias"], state["aux2.fc2.bias"])
    for collection in ("params", "batch_stats"):
        rest = {k: v for k, v in aux[collection].items() if k not in ("aux1", "aux2")}
        jax.tree.map(np.testing.assert_array_equal, rest, plain[collection])
    # ... and required.
    without = {k: v for k, v in state.items() if not k.startswith("aux")}
    with pytest.raises(ValueError, match="missing keys.*aux1.conv.conv.weight"):
        convert_torch.convert_torchvision("googlenet", without, base_width=8, aux_logits=True)
