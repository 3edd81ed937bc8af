"""Converted torchvision GoogLeNet / Inception-v3 weights give torchvision's outputs.

Skipped without torch. Full width (the converter needs torchvision's shapes) at the
smallest inputs: 32x32 for GoogLeNet (its three ceil-mode pools all round up there) and
75x75 for Inception-v3; the aux heads are compared on their own at their input sizes.
"""

import functools

import flax
import jax
import numpy as np
import pytest

from tsn_jax import convert_torch
from tsn_jax.models import googlenet, inception_v3, lowerings

torch = pytest.importorskip("torch")

from tests.torch_utils import (  # noqa: E402
    assert_logits_close,
    import_torchvision,
    randomize_batch_norm,
)

NUM_CLASSES = 10
INPUT_SIZE = {"googlenet": 32, "inception_v3": 75}
AUX_PREFIXES = {"googlenet": ("aux1", "aux2"), "inception_v3": ("AuxLogits",)}
CONSTRUCTORS = {"googlenet": googlenet.googlenet, "inception_v3": inception_v3.inception_v3}
# GoogLeNet is compared with transform_input on (torchvision's setting for its weights).
OPTIONS = {"googlenet": {"transform_input": True}, "inception_v3": {}}


@functools.cache
def torchvision_model(arch: str):
    """A torchvision model with aux heads, random weights and BN statistics, in eval mode."""
    torchvision = import_torchvision()
    torch.manual_seed(0)
    model = getattr(torchvision.models, arch)(
        num_classes=NUM_CLASSES, aux_logits=True, init_weights=False, **OPTIONS[arch]
    ).eval()
    randomize_batch_norm(model)
    # In eval mode BN does not renormalize, so torchvision's fixed-std init (0.01 / 0.1)
    # would shrink or blow up the activations layer after layer (logits ~0.1 or ~1e8);
    # He-normal convolutions and 1/sqrt(fan_in) linear layers keep the logits O(1).
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.Conv2d | torch.nn.Linear):
                fan_in = module.weight[0].numel()
                gain = 2.0 if isinstance(module, torch.nn.Conv2d) else 1.0
                module.weight.normal_(0.0, (gain / fan_in) ** 0.5)
    return model


def numpy_state_dict(model) -> dict[str, np.ndarray]:
    return {k: v.numpy() for k, v in model.state_dict().items()}


@functools.cache
def converted_with_aux(arch: str):
    """torchvision's weights (aux keys included) converted for our model with aux heads.

    The conversion requires every torch key and shape, so this also checks the layout.
    """
    state = numpy_state_dict(torchvision_model(arch))
    return convert_torch.convert_torchvision(arch, state, aux_logits=True, **OPTIONS[arch])


def run_jitted(fn, *args) -> np.ndarray:
    """``jax.jit(fn)(*args)``, compiled fast for a one-off run: XLA's own convolutions (the
    im2col lowering compiles slowly) and no backend optimizations, 18 s -> 2 s for the
    full-width Inception-v3 on a loaded 2-core CPU."""
    with lowerings.conv_implementation("xla"):
        lowered = jax.jit(fn).lower(*args)
    return np.asarray(lowered.compile({"xla_backend_optimization_level": 0})(*args))


@pytest.mark.parametrize("arch", ["googlenet", "inception_v3"])
@pytest.mark.slow
def test_logits_match_with_and_without_aux_keys(arch):
    model = torchvision_model(arch)
    size = INPUT_SIZE[arch]
    x = np.random.default_rng(0).normal(size=(2, 3, size, size)).astype(np.float32)
    with torch.no_grad():
        expected = model(torch.from_numpy(x)).numpy()

    # Without aux keys: the state_dict of torchvision's model built with aux_logits=False.
    aux = AUX_PREFIXES[arch]
    state = {k: v for k, v in numpy_state_dict(model).items() if not k.startswith(aux)}
    variables = convert_torch.convert_torchvision(arch, state, **OPTIONS[arch])
    # With them (as in torchvision's pretrained files), converted for a model with aux
    # heads: the same variables plus the heads' (which an eval pass ignores, so the logits
    # are the same). Dropping them for a model without heads: see test_inception.py.
    flat = flax.traverse_util.flatten_dict(converted_with_aux(arch))
    assert {path[1] for path in flat} >= set(aux)
    rest = flax.traverse_util.unflatten_dict({p: v for p, v in flat.items() if p[1] not in aux})
    jax.tree.map(np.testing.assert_array_equal, rest, variables)

    ours = CONSTRUCTORS[arch](num_classes=NUM_CLASSES, **OPTIONS[arch])
    apply = functools.partial(ours.apply, train=False)
    logits = run_jitted(apply, variables, x.transpose(0, 2, 3, 1))
    assert_logits_close(logits, expected)


@pytest.mark.parametrize(
    "arch,head,ours,shape",
    [
        # 9x9 -> 4x4: the adaptive pool's overlapping windows (14x14 at 224x224 input).
        ("googlenet", "aux1", googlenet.InceptionAux(NUM_CLASSES), (2, 512, 9, 9)),
        # Mixed_6e's output at 299x299.
        (
            "inception_v3",
            "AuxLogits",
            inception_v3.InceptionAux(num_classes=NUM_CLASSES),
            (2, 768, 17, 17),
        ),
    ],
)
def test_aux_heads_match(arch, head, ours, shape):
    model = torchvision_model(arch)
    x = np.random.default_rng(1).normal(size=shape).astype(np.float32)
    with torch.no_grad():
        expected = getattr(model, head)(torch.from_numpy(x)).numpy()
    variables = {collection: tree[head] for collection, tree in converted_with_aux(arch).items()}
    out = run_jitted(functools.partial(ours.apply, train=False), variables, x.transpose(0, 2, 3, 1))
    assert_logits_close(out, expected)
