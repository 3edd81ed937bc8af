"""checkpoints.check_fits: a checkpoint of another model config is one clear error."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import pytest

from tsn_jax import checkpoints


class _Net(nn.Module):
    width: int

    @nn.compact
    def __call__(self, x, train: bool = False):
        return nn.Dense(3, name="fc")(nn.Dense(self.width, name="hidden")(x))


def test_a_checkpoint_of_another_width_names_the_differing_tensors():
    x = jnp.zeros((1, 4))
    narrow = jax.eval_shape(lambda: _Net(8).init(jax.random.key(0), x))
    checkpoints.check_fits(_Net(8), narrow, x, "/ckpt/8")  # the same config fits
    with pytest.raises(ValueError) as error:
        checkpoints.check_fits(_Net(16), narrow, x, "/ckpt/8")
    message = str(error.value)
    assert "the checkpoint /ckpt/8 does not fit config.model" in message
    assert "['params']['hidden']['kernel']: checkpoint (4, 8), model (4, 16)" in message
    assert "['params']['fc']['kernel']: checkpoint (8, 3), model (16, 3)" in message
