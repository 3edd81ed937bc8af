"""Initializing 3D (and multi-channel) networks from 2D ImageNet networks.

* ``inflate_kernel`` -- I3D's inflation (Carreira & Zisserman 2017, Sec. 2.2): a 2D kernel
  [kh, kw, I, O] becomes [t, kh, kw, I, O] by repeating it t times and dividing by t, so
  that on a "boring" video of one repeated frame the 3D filter responds as the 2D one
  does on the frame; or the 'center' variant (the 2D kernel on the middle frame, zeros
  elsewhere), under which every convolution acts on each frame alone (temporal pools
  still mix frames). (Chen et al.'s public code repeats without dividing by t.)
* name maps for the two published cases, which `pretrained.init_backbone` follows when
  it fills a 3D model from a 2D one: a torchvision ResNet into ``i3d_resnet``
  (mmaction2's names, ``I3D_RESNET_FROM_RESNET``) and a torchvision GoogLeNet into
  DeepMind's I3D (``I3D_FROM_GOOGLENET``).
* ``cross_modality_kernel`` -- TSN's cross-modality initialization (Wang et al., ECCV 2016,
  Sec. 3.2): the first convolution's RGB weights averaged over the colour channels and
  replicated over the channels of a flow (2L) or RGB-difference (3L) input.

On the boring-video property. With 'average' inflation it holds exactly for every
position whose temporal window lies inside the clip; the zero padding of temporal
convolutions (I3D-ResNet's 3x1x1 and 5x7x7, I3D's 'SAME' convolutions) sees fewer real
frames at the clip's ends, so a whole inflated network's pooled features on a boring clip
differ from the 2D network's unless the clip is long enough for the ends to be negligible.
With 'center' inflation they are equal for any clip length. Both hold for an I3D-ResNet
from a ResNet, whose 2D layers it keeps; DeepMind's I3D differs from torchvision's GoogLeNet
beyond inflation ('SAME' padding, no ceil-mode pooling), so GoogLeNet weights are an
initialization of it, not an equivalent.

Functions take and return numpy arrays (float32) and never import torch.
"""

from __future__ import annotations

import numpy as np

from tsn_jax.convert_torch import MMACTION2_RESNET_TO_TORCHVISION, KeyRules
from tsn_jax.models.i3d import MIXED_BLOCKS

__all__ = [
    "I3D_FROM_GOOGLENET",
    "I3D_RESNET_FROM_RESNET",
    "INFLATION_METHODS",
    "cross_modality_kernel",
    "inflate_kernel",
]

INFLATION_METHODS = ("average", "center")

# Name maps: `convert_torch.rename_key` rules from a 3D model's keys to the keys of the 2D
# model it is inflated from, keys as `convert_torch.torch_key` writes a Flax path
# (`layer1_0/conv1/conv/kernel` is `layer1.0.conv1.conv.weight`).

# i3d_resnet (mmaction2's ConvModule names) from a torchvision-named ResNet (``resnet``).
I3D_RESNET_FROM_RESNET: KeyRules = MMACTION2_RESNET_TO_TORCHVISION

# DeepMind's I3D from torchvision's GoogLeNet: Conv3d_1a_7x7 / 2b_1x1 / 2c_3x3 are conv1 /
# conv2 / conv3; Mixed_3b, 3c, 4b .. 4f, 5b, 5c are inception3a, 3b, 4a .. 4e, 5a, 5b
# (`i3d.MIXED_BLOCKS`); the branches' units are branch1, branch2.0 / .1, branch3.0 / .1 and
# branch4.1 (torchvision's 3x3 Branch_2 convolution, like I3D's, is not the paper's 5x5);
# conv_3d / batch_norm are conv / bn. `torch_key` writes the Flax module `Branch_1` as
# `Branch.1`.
I3D_FROM_GOOGLENET: KeyRules = (
    (r"^Conv3d_1a_7x7\.", "conv1."),
    (r"^Conv3d_2b_1x1\.", "conv2."),
    (r"^Conv3d_2c_3x3\.", "conv3."),
    *((rf"^{mixed}\.", f"{name}.") for mixed, (name, _) in MIXED_BLOCKS.items()),
    (r"\.Branch\.0\.Conv3d_0a_1x1\.", ".branch1."),
    (r"\.Branch\.1\.Conv3d_0a_1x1\.", ".branch2.0."),
    (r"\.Branch\.1\.Conv3d_0b_3x3\.", ".branch2.1."),
    (r"\.Branch\.2\.Conv3d_0a_1x1\.", ".branch3.0."),
    # Conv3d_0a_3x3 in Mixed_5b (DeepMind's name).
    (r"\.Branch\.2\.Conv3d_0[ab]_3x3\.", ".branch3.1."),
    (r"\.Branch\.3\.Conv3d_0b_1x1\.", ".branch4.1."),
    (r"\.conv_3d\.", ".conv."),
    (r"\.batch_norm\.", ".bn."),
)


def inflate_kernel(kernel_2d: np.ndarray, time: int, method: str = "average") -> np.ndarray:
    """Inflates a channels-last 2D convolution kernel along a new leading time axis.

    Args:
      kernel_2d: [kh, kw, I, O].
      time: temporal extent t of the 3D kernel (>= 1).
      method: 'average' -- the kernel repeated t times and divided by t (the I3D paper);
        'center' -- the kernel at index ``t // 2`` (the middle for odd t), zeros elsewhere.

    Returns:
      [t, kh, kw, I, O] float32.
    """
    kernel_2d = np.asarray(kernel_2d, np.float32)
    if time < 1:
        raise ValueError(f"time must be >= 1, got {time}")
    if method == "average":
        return np.repeat(kernel_2d[None], time, axis=0) / np.float32(time)
    if method == "center":
        kernel = np.zeros((time, *kernel_2d.shape), np.float32)
        kernel[time // 2] = kernel_2d
        return kernel
    raise ValueError(f"unknown inflation method {method!r}; known: {INFLATION_METHODS}")


def cross_modality_kernel(kernel: np.ndarray, in_channels: int) -> np.ndarray:
    """TSN's cross-modality initialization of a first convolution.

    The weights are averaged over the input (colour) channels and the average is
    replicated ``in_channels`` times (2L for L stacked flow x/y fields, 3L for L RGB
    differences), as in the TSN code (``mean(dim=1, keepdim=True).expand(...)``).

    Args:
      kernel: channels-last [kh, kw, C, O] or [t, kh, kw, C, O] (C = 3 for ImageNet).
      in_channels: input channels of the new modality.

    Returns:
      The kernel with ``in_channels`` input channels, float32.
    """
    mean = np.mean(np.asarray(kernel, np.float32), axis=-2, keepdims=True)
    return np.repeat(mean, in_channels, axis=-2)
