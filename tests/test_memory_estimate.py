"""tools/memory_estimate.py: the liveness count behind its evaluation figures."""

import jax
import jax.numpy as jnp

from tools import memory_estimate

KB4 = 1000 * 4  # one float32 array of 1000 values


def test_sequential_peak_counts_values_alive_together():
    def chain(x):  # each value dies as the next is made: two alive at a time
        return ((x * 2.0) + 1.0) * 3.0

    def fork(x):  # y and z both need x: x, y, z alive together
        y = x * 2.0
        z = x + 1.0
        return y * z

    x = jnp.ones(1000, jnp.float32)
    assert memory_estimate.sequential_peak_bytes(jax.make_jaxpr(chain)(x).jaxpr) == 2 * KB4
    assert memory_estimate.sequential_peak_bytes(jax.make_jaxpr(fork)(x).jaxpr) == 3 * KB4


def test_sequential_peak_looks_inside_sub_programs():
    def inner(x):
        return jnp.sin(x) * jnp.cos(x)  # sin, cos and x alive: 3 arrays

    def outer(x):
        return jax.jit(inner)(x)

    x = jnp.ones(1000, jnp.float32)
    assert memory_estimate.sequential_peak_bytes(jax.make_jaxpr(outer)(x).jaxpr) == 3 * KB4
