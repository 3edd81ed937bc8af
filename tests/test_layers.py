"""Shared layers: both conv lowerings agree, pooling and init follow PyTorch."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from tsn_jax.models import batch_norm, layers, lowerings


@pytest.mark.parametrize(
    "size,kernel,stride,padding",
    [
        ((9, 10), (3, 3), (1, 1), (1, 1)),
        ((9, 10), (3, 3), (2, 2), (1, 1)),
        ((10, 11), (7, 7), (2, 2), (3, 3)),
        ((8, 9), (1, 1), (2, 2), (0, 0)),
        ((2, 3), (3, 3), (1, 1), (1, 1)),
        ((9,), (3,), (2,), (1,)),
        ((4, 7, 6), (3, 7, 7), (1, 2, 2), (1, 3, 3)),
        ((5, 6, 6), (3, 1, 1), (2, 1, 1), (1, 0, 0)),
        ((7, 9, 8), (3, 3, 3), (2, 2, 2), (1, 1, 1)),
        ((6, 7, 7), (1, 1, 1), (2, 2, 2), (0, 0, 0)),
        ((8,), (4,), (3,), (2,)),
    ],
)
def test_lowerings_match_xla_convolution_and_its_gradients(size, kernel, stride, padding):
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.normal(size=(2, *size, 3)), jnp.float32)
    w = jnp.asarray(rng.normal(size=(*kernel, 3, 4)), jnp.float32)

    def loss(conv):
        return lambda x, w: jnp.sum(jnp.sin(conv(x, w, stride, padding)))

    reference = lowerings.conv_xla(x, w, stride, padding)
    reference_grads = jax.grad(loss(lowerings.conv_xla), argnums=(0, 1))(x, w)
    candidates = [lowerings.conv_phases, lowerings.conv_polyphase]
    if np.prod(kernel) <= 49:  # im2col of a 3x7x7 kernel takes ~20 s to compile
        candidates.append(lowerings.conv_im2col)
    for conv in candidates:
        y = conv(x, w, stride, padding)
        assert y.shape == reference.shape
        np.testing.assert_allclose(y, reference, rtol=1e-5, atol=2e-5, err_msg=conv.__name__)
        grads = jax.grad(loss(conv), argnums=(0, 1))(x, w)
        for u, v in zip(grads, reference_grads, strict=True):
            np.testing.assert_allclose(u, v, rtol=1e-4, atol=1e-4, err_msg=conv.__name__)


def _dilated_input_convolutions(fn, *args) -> int:
    """Convolutions with a dilated input (lhs_dilation > 1) in the jaxpr of fn(*args)."""
    found = 0

    def visit(jaxpr):
        nonlocal found
        for eqn in jaxpr.eqns:
            if eqn.primitive.name == "conv_general_dilated":
                found += max(eqn.params["lhs_dilation"]) > 1
            for value in eqn.params.values():
                for sub in value if isinstance(value, (list, tuple)) else (value,):
                    if isinstance(sub, jax.extend.core.ClosedJaxpr):
                        visit(sub.jaxpr)
                    elif isinstance(sub, jax.extend.core.Jaxpr):
                        visit(sub)

    # A fresh function: make_jaxpr caches traces per function, and the lowering is chosen
    # while tracing.
    visit(jax.make_jaxpr(lambda *a: fn(*a))(*args).jaxpr)
    return found


def test_polyphase_gradient_has_no_input_dilated_convolution():
    x = jnp.ones((1, 4, 9, 9, 3))
    w = jnp.ones((3, 3, 3, 3, 4))

    def grad(conv):
        return jax.grad(lambda x, w: jnp.sum(conv(x, w, (1, 2, 2), (1, 1, 1)) ** 2), (0, 1))

    assert _dilated_input_convolutions(grad(lowerings.conv_xla), x, w) == 1
    assert _dilated_input_convolutions(grad(lowerings.conv_polyphase), x, w) == 0


def test_conv_module_has_one_channels_last_kernel_and_checks_its_implementation():
    x = jnp.ones((1, 6, 6, 3))
    module = layers.Conv(5, 3, strides=2, padding=1, implementation="xla")
    variables = module.init(jax.random.key(0), x)
    assert jax.tree.map(jnp.shape, variables) == {"params": {"kernel": (3, 3, 3, 5)}}
    im2col = layers.Conv(5, 3, strides=2, padding=1, implementation="im2col")
    np.testing.assert_allclose(
        module.apply(variables, x), im2col.apply(variables, x), rtol=1e-5, atol=1e-5
    )
    with pytest.raises(ValueError, match="unknown conv implementation"):
        layers.Conv(5, 3, implementation="cudnn").init(jax.random.key(0), x)


def test_conv_3d_with_per_axis_kernel_and_bias():
    x = jnp.ones((2, 4, 6, 6, 3))
    module = layers.Conv(5, (3, 1, 1), strides=(2, 1, 1), padding=(1, 0, 0), use_bias=True)
    variables = module.init(jax.random.key(0), x)
    shapes = jax.tree.map(jnp.shape, variables)["params"]
    assert shapes == {"kernel": (3, 1, 1, 3, 5), "bias": (5,)}
    variables = jax.tree.map(jnp.ones_like, variables)
    y = module.apply(variables, x)
    assert y.shape == (2, 2, 6, 6, 5)
    # Output frame 0 sees input frames -1 (zero padding), 0 and 1: 2 taps x 3 channels + bias.
    np.testing.assert_allclose(y[0, 0, 0, 0], np.full(5, 2 * 3 + 1.0))


def test_depthwise_conv_keeps_channels_apart():
    x = jnp.asarray(np.random.default_rng(0).normal(size=(1, 5, 4)), jnp.float32)
    module = layers.Conv(4, 3, padding=1, feature_group_count=4)
    variables = module.init(jax.random.key(0), x)
    assert variables["params"]["kernel"].shape == (3, 1, 4)
    y = module.apply(variables, x)
    kernel = variables["params"]["kernel"][:, 0, :]  # [3, C]
    padded = jnp.pad(x, ((0, 0), (1, 1), (0, 0)))
    expected = sum(padded[:, i : i + 5] * kernel[i] for i in range(3))
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="groups"):
        layers.Conv(4, 3, feature_group_count=3).init(jax.random.key(0), x)


@pytest.mark.parametrize(
    "size,window,stride,padding,expected_size",
    [
        (112, 3, 2, 0, 56),  # GoogLeNet: floor would give 55
        (57, 3, 2, 0, 28),  # ceil((57 - 3) / 2) + 1 = 28, no window starts in padding
        (7, 3, 2, 1, 4),
        (6, 2, 2, 1, 4),  # the 5th window would start in the right padding: dropped
    ],
)
def test_max_pool_ceil_mode_output_size_follows_pytorch(
    size, window, stride, padding, expected_size
):
    x = jnp.asarray(np.random.default_rng(0).normal(size=(1, size, size, 2)), jnp.float32)
    y = layers.max_pool(x, window, stride, padding, ceil_mode=True)
    assert y.shape == (1, expected_size, expected_size, 2)


def test_max_pool_ceil_mode_values():
    x = jnp.arange(5.0).reshape(1, 5, 1)
    np.testing.assert_array_equal(layers.max_pool(x, 2, 2, ceil_mode=True)[0, :, 0], [1, 3, 4])
    np.testing.assert_array_equal(layers.max_pool(x, 2, 2)[0, :, 0], [1, 3])


def test_dense_uses_pytorch_default_bounds():
    module = layers.dense(300, 400, jnp.float32, "fc")
    params = module.init(jax.random.key(0), jnp.ones((1, 400)))["params"]
    bound = 1 / np.sqrt(400)
    for leaf in (params["kernel"], params["bias"]):
        assert np.abs(leaf).max() <= bound
        assert np.abs(leaf).max() > 0.9 * bound


def test_auto_lowering_on_cpu_takes_the_polyphase_gradient_for_strided_3d_kernels():
    assert jax.default_backend() == "cpu"
    x = jnp.ones((1, 4, 9, 9, 3))
    conv = layers.Conv(4, 3, strides=(1, 2, 2), padding=1)
    variables = conv.init(jax.random.key(0), x)

    def grad(x, variables):  # the input gradient too, as for any layer but the first
        return jax.grad(lambda x, v: jnp.sum(conv.apply(v, x) ** 2), (0, 1))(x, variables)

    assert _dilated_input_convolutions(grad, x, variables) == 0
    with lowerings.conv_implementation("xla"):
        assert _dilated_input_convolutions(grad, x, variables) == 1
    with lowerings.conv_implementation("polyphase"):
        polyphase = grad(x, variables)
    with lowerings.conv_implementation("xla"):
        xla = grad(x, variables)
    np.testing.assert_allclose(polyphase[0], xla[0], rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(
        polyphase[1]["params"]["kernel"], xla[1]["params"]["kernel"], rtol=1e-5, atol=1e-4
    )


def _residual_bytes(fn, *args) -> int:
    """Bytes the backward pass of fn keeps (the leaves of its `jax.vjp` closure)."""
    _, vjp = jax.vjp(fn, *args)
    return sum(leaf.nbytes for leaf in jax.tree.leaves(vjp) if hasattr(leaf, "nbytes"))


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.bfloat16])
def test_training_batch_norm_is_flax_batch_norm_with_fewer_residual_bytes(dtype):
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.normal(2.0, 3.0, size=(4, 3, 5, 5, 16)), dtype)
    ours = batch_norm.batch_norm(True, dtype, "bn")
    flax_bn = nn.BatchNorm(use_running_average=False, momentum=0.9, epsilon=1e-5, dtype=dtype)
    variables = flax_bn.init(jax.random.key(0), x)
    assert jax.tree.map(jnp.shape, ours.init(jax.random.key(0), x)) == jax.tree.map(
        jnp.shape, variables
    )
    variables = {
        "params": {"scale": 1.0 + jnp.arange(16.0) / 8, "bias": jnp.arange(16.0) / 4},
        "batch_stats": variables["batch_stats"],
    }
    weights = jnp.asarray(rng.normal(size=x.shape), jnp.float32)

    def loss(module):
        def fn(params, x):
            y, updates = module.apply({**variables, "params": params}, x, mutable=["batch_stats"])
            return jnp.sum(y.astype(jnp.float32) * weights), updates

        return fn

    (value, stats), grads = jax.value_and_grad(loss(ours), (0, 1), has_aux=True)(
        variables["params"], x
    )
    (value_ref, stats_ref), grads_ref = jax.value_and_grad(loss(flax_bn), (0, 1), has_aux=True)(
        variables["params"], x
    )
    # The same forward arithmetic: the loss and the running averages are bit-equal.
    assert float(value) == float(value_ref)
    for a, b in zip(jax.tree.leaves(stats), jax.tree.leaves(stats_ref), strict=True):
        np.testing.assert_array_equal(a, b)
    tol = 1e-4 if dtype == jnp.float32 else 2e-2
    for a, b in zip(jax.tree.leaves(grads), jax.tree.leaves(grads_ref), strict=True):
        assert a.dtype == b.dtype
        scale = float(jnp.max(jnp.abs(b.astype(jnp.float32))))
        np.testing.assert_allclose(
            np.asarray(a, np.float32), np.asarray(b, np.float32), atol=tol * scale
        )

    def forward(module):
        return lambda x: module.apply(variables, x, mutable=["batch_stats"])[0]

    kept, kept_ref = _residual_bytes(forward(ours), x), _residual_bytes(forward(flax_bn), x)
    assert kept < x.nbytes + 1024  # the input, and per-channel vectors
    assert kept_ref >= (2 if dtype == jnp.float32 else 4) * x.nbytes


def test_training_batch_norm_gradient_through_its_returned_statistics():
    # batch_norm_train's mean and variance outputs carry gradients too (the running
    # averages never do in training, but the function is differentiable as a whole).
    x = jnp.asarray(np.random.default_rng(1).normal(size=(6, 5, 3)), jnp.float32)
    scale, bias = jnp.asarray([1.0, 2.0, 0.5]), jnp.asarray([0.0, 1.0, -1.0])

    def stats_loss(x):
        _, mean, var = batch_norm.batch_norm_train(x, scale, bias, 1e-5, jnp.float32)
        return jnp.sum(mean * jnp.arange(1.0, 4.0)) + jnp.sum(var * jnp.arange(4.0, 7.0))

    def reference(x):
        mean = x.mean((0, 1))
        var = jnp.square(x - mean).mean((0, 1))
        return jnp.sum(mean * jnp.arange(1.0, 4.0)) + jnp.sum(var * jnp.arange(4.0, 7.0))

    np.testing.assert_allclose(jax.grad(stats_loss)(x), jax.grad(reference)(x), atol=1e-5)


def test_training_batch_norm_names_the_layouts_it_does_not_support():
    x = jnp.ones((2, 4, 3))
    for options in ({"use_bias": False}, {"axis": 1}, {"axis_name": "batch"}):
        with pytest.raises(NotImplementedError, match="features last, scale and bias"):
            batch_norm.BatchNorm(train=True, **options).init(jax.random.key(0), x)
    batch_norm.BatchNorm(train=False, use_bias=False).init(jax.random.key(0), x)  # Flax's eval
