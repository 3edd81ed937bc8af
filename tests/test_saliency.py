"""tsn_jax.saliency: Grad-CAM of our models, checked against the class activation map."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from tests.helpers import run_once, tiny_config
from tsn_jax import saliency
from tsn_jax.models import create_model


class ConvRelu(nn.Module):
    @nn.compact
    def __call__(self, x):
        return nn.relu(nn.Conv(6, (3, 3), padding="SAME", name="conv")(x))


class GapLinear(nn.Module):
    """conv + relu -> global average pooling -> linear, on [B, K, T, H, W, C] (K = T = 1)."""

    @nn.compact
    def __call__(self, x, train=False):
        x = ConvRelu(name="features")(x.reshape(-1, *x.shape[3:]))  # [B, 8, 8, 6]
        return nn.Dense(4, name="fc")(jnp.mean(x, axis=(1, 2)))


def test_grad_cam_is_the_class_activation_map_for_pooling_and_one_linear_layer():
    """Selvaraju et al.: with GAP + linear, alpha_c = W_c,k / (h w), so the map is
    relu(sum_c W_c,k A_c) up to that factor (Zhou et al.'s CAM); checked at 8 x 8 input."""
    model = GapLinear()
    clips = np.random.default_rng(0).normal(size=(2, 1, 1, 8, 8, 3)).astype(np.float32)
    variables = model.init(jax.random.key(0), clips)
    maps, classes, layer = saliency.grad_cam(model, variables, clips, class_index=[1, 3])
    assert layer == "features" and list(classes) == [1, 3]
    features = ConvRelu().apply(
        {"params": variables["params"]["features"]}, clips.reshape(2, 8, 8, 3)
    )
    kernel = np.asarray(variables["params"]["fc"]["kernel"])
    cam = np.maximum(np.einsum("bhwc,cb->bhw", np.asarray(features), kernel[:, [1, 3]]), 0)
    cam = cam / cam.max(axis=(1, 2), keepdims=True)
    assert maps.shape == (2, 1, 1, 8, 8)
    np.testing.assert_allclose(maps[:, 0, 0], cam, rtol=1e-5, atol=1e-6)


@pytest.mark.slow
@pytest.mark.parametrize("temporal", ["none", "tsm"])
def test_grad_cam_of_a_tsn_resnet_gives_a_map_per_frame(temporal):
    config = tiny_config("/unused")
    config.model.backbone_options = {} if temporal == "none" else {"temporal_module": "tsm"}
    config.data.crop_size = 64
    model = create_model(config.model, 5, config.data.num_segments)
    clips = np.random.default_rng(1).normal(size=(2, 3, 1, 64, 64, 3)).astype(np.float32)
    variables = run_once(lambda x: model.init(jax.random.key(0), x, train=False), clips)
    maps, classes, layer = saliency.grad_cam(model, variables, clips)
    # The finest late map: the 2 x 2 output of the last residual block at 64 x 64 input.
    layers = dict(saliency.feature_maps(model, variables, clips))
    assert layer == "backbone/layer4_1" and layers[layer][1:3] == (2, 2)
    logits = np.asarray(model.apply(variables, clips, train=False))
    assert list(classes) == list(np.argmax(logits, axis=-1))
    assert maps.shape == (2, 3, 1, 64, 64) and maps.min() >= 0.0
    assert np.allclose(maps.max(axis=(1, 2, 3, 4)), 1.0)
    # A named earlier layer: a finer map.
    finer, _, _ = saliency.grad_cam(model, variables, clips, layer="backbone/layer3_1")
    assert finer.shape == maps.shape
    with pytest.raises(ValueError, match="no feature map at 'backbone/nope'"):
        saliency.grad_cam(model, variables, clips, layer="backbone/nope")
