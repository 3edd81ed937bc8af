"""Both lowerings of Conv2D compute the same convolution."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from tsn_jax.models import layers


@pytest.mark.parametrize(
    "size,kernel,stride,padding",
    [(9, 3, 1, 1), (9, 3, 2, 1), (10, 7, 2, 3), (8, 1, 2, 0), (2, 3, 1, 1), (5, 1, 1, 0)],
)
def test_im2col_matches_xla_convolution_and_its_gradients(size, kernel, stride, padding):
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.normal(size=(2, size, size + 1, 3)), jnp.float32)
    w = jnp.asarray(rng.normal(size=(kernel, kernel, 3, 4)), jnp.float32)
    a = layers.conv2d_im2col(x, w, stride, padding)
    b = layers.conv2d_xla(x, w, stride, padding)
    assert a.shape == b.shape
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)

    def loss(conv):
        return lambda x, w: jnp.sum(jnp.sin(conv(x, w, stride, padding)))

    ga = jax.grad(loss(layers.conv2d_im2col), argnums=(0, 1))(x, w)
    gb = jax.grad(loss(layers.conv2d_xla), argnums=(0, 1))(x, w)
    for u, v in zip(ga, gb, strict=True):
        np.testing.assert_allclose(u, v, rtol=1e-4, atol=1e-4)


def test_conv2d_module_has_one_hwio_kernel_and_checks_its_implementation():
    x = jnp.ones((1, 6, 6, 3))
    module = layers.Conv2D(5, 3, stride=2, padding=1, implementation="xla")
    variables = module.init(jax.random.key(0), x)
    assert jax.tree.map(jnp.shape, variables) == {"params": {"kernel": (3, 3, 3, 5)}}
    im2col = layers.Conv2D(5, 3, stride=2, padding=1, implementation="im2col")
    np.testing.assert_allclose(
        module.apply(variables, x), im2col.apply(variables, x), rtol=1e-5, atol=1e-5
    )
    with pytest.raises(ValueError, match="unknown conv implementation"):
        layers.Conv2D(5, 3, implementation="cudnn").init(jax.random.key(0), x)
