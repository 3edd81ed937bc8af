"""PyTorch `state_dict` -> Flax variables, by renaming and transposing.

The models of tsn-jax name their parameters after the reference PyTorch
layouts (torchvision for ResNet), so a conversion is mechanical:

* a Flax path `layer1_0/downsample_0/kernel` is the torch key
  `layer1.0.downsample.0.weight` (a `_N` suffix of a module name is the
  `.N` index of a torch container);
* conv kernels are OIHW in torch and HWIO here, dense kernels [out, in] in
  torch and [in, out] here;
* BatchNorm `scale`/`bias` are torch's `weight`/`bias`, and the `mean`/`var`
  batch statistics are `running_mean`/`running_var` (torch's
  `num_batches_tracked` has no counterpart and is dropped).

The expected keys come from the Flax model itself (`jax.eval_shape` of its
init), so a checkpoint with a missing, unexpected or wrongly shaped tensor is
an error that lists them. This module takes numpy arrays and never imports
torch.
"""

import dataclasses
import re
from collections.abc import Callable, Mapping
from typing import Any

import flax
import jax
import numpy as np

_FLAX_TO_TORCH_LEAF = {
    ("params", "kernel"): "weight",
    ("params", "scale"): "weight",
    ("params", "bias"): "bias",
    ("batch_stats", "mean"): "running_mean",
    ("batch_stats", "var"): "running_var",
}
# torch buffers with no Flax counterpart.
_IGNORED_TORCH_SUFFIXES = ("num_batches_tracked",)


def torch_key(collection: str, path: tuple[str, ...]) -> str:
    """The torch `state_dict` key of a Flax variable.

    Args:
      collection: 'params' or 'batch_stats'.
      path: module names then the leaf name, e.g. ('layer1_0', 'bn1', 'scale').

    Returns:
      e.g. 'layer1.0.bn1.weight'.
    """
    *modules, leaf = path
    if (collection, leaf) not in _FLAX_TO_TORCH_LEAF:
        raise ValueError(f"no torch counterpart for {collection}/{'/'.join(path)}")
    names = [re.sub(r"_(\d+)$", r".\1", name) for name in modules]
    return ".".join(names + [_FLAX_TO_TORCH_LEAF[(collection, leaf)]])


def torch_to_flax_array(value: np.ndarray, flax_shape: tuple[int, ...]) -> np.ndarray:
    """Transposes a torch tensor into the layout of a Flax leaf of `flax_shape`.

    Conv weights O, I, *window -> *window, I, O (OIHW -> HWIO, OIDHW -> DHWIO), dense
    weights [out, in] -> [in, out], vectors unchanged.
    """
    value = np.asarray(value, np.float32)
    if value.ndim >= 3:
        value = value.transpose(*range(2, value.ndim), 1, 0)
    elif value.ndim == 2:
        value = value.T
    if value.shape != tuple(flax_shape):
        raise ValueError(f"shape {value.shape} after transposing, expected {tuple(flax_shape)}")
    return value


def convert_state_dict(
    state_dict: Mapping[str, np.ndarray], abstract_variables: Mapping[str, Any], prefix: str = ""
) -> dict[str, Any]:
    """Fills the variables of a Flax model from a torch `state_dict`.

    Args:
      state_dict: torch key -> numpy array (e.g. `{k: v.numpy() for k, v in
        model.state_dict().items()}`).
      abstract_variables: the Flax variables to fill, e.g.
        `jax.eval_shape(model.init, rng, x, train=False)`; only shapes are used.
      prefix: prepended to every torch key (e.g. 'backbone.' for a wrapped model).

    Returns:
      {'params': ..., 'batch_stats': ...} with float32 numpy leaves.

    Raises:
      ValueError: listing every missing key, unexpected key and shape mismatch.
    """
    flat = flax.traverse_util.flatten_dict(flax.core.unfreeze(abstract_variables))
    out, missing, mismatched, used = {}, [], [], set()
    for (collection, *path), leaf in flat.items():
        key = prefix + torch_key(collection, tuple(path))
        if key not in state_dict:
            missing.append(key)
            continue
        used.add(key)
        try:
            out[(collection, *path)] = torch_to_flax_array(state_dict[key], leaf.shape)
        except ValueError as error:
            mismatched.append(f"{key}: {error}")
    unexpected = sorted(
        k for k in state_dict if k not in used and not k.endswith(_IGNORED_TORCH_SUFFIXES)
    )
    problems = []
    if missing:
        problems.append(f"missing keys: {sorted(missing)}")
    if unexpected:
        problems.append(f"unexpected keys: {unexpected}")
    if mismatched:
        problems.append(f"shape mismatches: {mismatched}")
    if problems:
        raise ValueError("the state_dict does not match the model; " + "; ".join(problems))
    return flax.traverse_util.unflatten_dict(out)


def abstract_variables(model: flax.linen.Module, input_shape: tuple[int, ...]) -> Any:
    """Shapes of a model's variables for an input of `input_shape`, without computing them."""
    return jax.eval_shape(
        lambda: model.init(jax.random.key(0), np.zeros(input_shape, np.float32), train=False)
    )


@dataclasses.dataclass(frozen=True)
class TorchArchitecture:
    """How to rebuild a torchvision (or mmaction2) classifier from its `state_dict`.

    Attributes:
      constructor: tsn-jax constructor of the same architecture, called with
        `num_classes=N`.
      classifier_weight: torch key of the classifier weight; its first dimension is N.
      example_shape: an input shape (channels last) the model accepts, for tracing shapes.
    """

    constructor: Callable[..., Any]
    classifier_weight: str
    example_shape: tuple[int, ...]


def _architectures() -> dict[str, TorchArchitecture]:
    from tsn_jax.models import resnet

    image = (1, 64, 64, 3)
    return {
        "resnet18": TorchArchitecture(resnet.resnet18, "fc.weight", image),
        "resnet34": TorchArchitecture(resnet.resnet34, "fc.weight", image),
        "resnet50": TorchArchitecture(resnet.resnet50, "fc.weight", image),
        "resnet101": TorchArchitecture(resnet.resnet101, "fc.weight", image),
        "resnet152": TorchArchitecture(resnet.resnet152, "fc.weight", image),
    }


def supported_architectures() -> list[str]:
    """Names accepted by `convert_torchvision`."""
    return sorted(_architectures())


def convert_torchvision(arch: str, state_dict: Mapping[str, np.ndarray]) -> dict[str, Any]:
    """Converts a torchvision classification `state_dict` (e.g. ImageNet weights).

    Args:
      arch: one of `supported_architectures()`, e.g. 'resnet50'.
      state_dict: torch key -> numpy array; the class count is read from the classifier.

    Returns:
      {'params', 'batch_stats'} of the tsn-jax model of that name built with
      `num_classes=N`, which gives the torch model's logits on channels-last inputs.
    """
    architectures = _architectures()
    if arch not in architectures:
        raise ValueError(f"unsupported architecture {arch!r}; supported: {sorted(architectures)}")
    spec = architectures[arch]
    if spec.classifier_weight not in state_dict:
        raise ValueError(
            f"the state_dict has no {spec.classifier_weight!r}: not a torchvision {arch}"
        )
    num_classes = int(np.shape(state_dict[spec.classifier_weight])[0])
    model = spec.constructor(num_classes=num_classes)
    return convert_state_dict(state_dict, abstract_variables(model, spec.example_shape))
