r"""Parameter counts and forward FLOPs of every backbone, for the README's model zoo.

    python -m tools.model_zoo_table                  # every backbone
    python -m tools.model_zoo_table --only=resnet50,i3d

Each backbone is built with its classifier (1000 ImageNet or 400 Kinetics classes, as the
published figures count it) and traced at its standard input, one clip or image. FLOPs
come from XLA's cost analysis of the lowered forward pass (nothing is run); XLA counts a
multiply-add as 2 FLOPs, so the table also gives multiply-adds (GMACs), the unit that
torchvision and most papers call "GFLOPs".
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from absl import app, flags

from tsn_jax.models import BACKBONES

_ONLY = flags.DEFINE_list("only", [], "Backbones to measure (default: all).")

# Standard input per backbone (without the batch axis, channels last) and the class count
# of its usual pretrained classifier.
IMAGE_224 = ((224, 224, 3), 1000)
CLIP_16x112 = ((16, 112, 112, 3), 400)
STANDARD_INPUTS = {
    "resnet18": IMAGE_224,
    "resnet34": IMAGE_224,
    "resnet50": IMAGE_224,
    "resnet101": IMAGE_224,
    "resnet152": IMAGE_224,
    "bninception": IMAGE_224,
    "googlenet": IMAGE_224,
    "inception_v3": ((299, 299, 3), 1000),
    "vgg16": IMAGE_224,
    "vgg16_bn": IMAGE_224,
    "c3d": ((16, 112, 112, 3), 487),  # Sports-1M
    "r3d_18": CLIP_16x112,
    "mc3_18": CLIP_16x112,
    "r2plus1d_18": CLIP_16x112,
    "resnet3d_10": CLIP_16x112,
    "resnet3d_18": CLIP_16x112,
    "resnet3d_34": CLIP_16x112,
    "resnet3d_50": CLIP_16x112,
    "s3d": ((16, 224, 224, 3), 400),
    "i3d": ((64, 224, 224, 3), 400),
    "i3d_resnet18": ((32, 224, 224, 3), 400),
    "s3d_resnet18": ((32, 224, 224, 3), 400),
    "i3d_resnet50": ((32, 224, 224, 3), 400),
    "i3d_resnet101": ((32, 224, 224, 3), 400),
}


def measure(name: str) -> tuple[int, float]:
    """(parameter count, forward GFLOPs as XLA counts them) of one backbone."""
    shape, num_classes = STANDARD_INPUTS[name]
    model = BACKBONES[name](num_classes=num_classes)
    x = jax.ShapeDtypeStruct((1, *shape), jnp.float32)
    variables = jax.eval_shape(lambda x: model.init(jax.random.key(0), x, train=False), x)
    params = sum(math.prod(leaf.shape) for leaf in jax.tree.leaves(variables["params"]))
    lowered = jax.jit(lambda v, x: model.apply(v, x, train=False)).lower(variables, x)
    cost = lowered.cost_analysis()
    cost = cost[0] if isinstance(cost, list) else cost
    return params, float(cost["flops"]) / 1e9


def main(argv: list[str]) -> None:
    del argv
    names = _ONLY.value or [n for n in STANDARD_INPUTS if n in BACKBONES]
    unknown = [n for n in names if n not in STANDARD_INPUTS or n not in BACKBONES]
    if unknown:
        raise app.UsageError(f"no standard input for {unknown}; known: {list(STANDARD_INPUTS)}")
    print("| backbone | input | params (M) | GFLOPs (XLA) | GMACs |")
    print("|---|---|---|---|---|")
    for name in names:
        params, gflops = measure(name)
        shape = "x".join(map(str, STANDARD_INPUTS[name][0][:-1]))
        print(f"| {name} | {shape} | {params / 1e6:.2f} | {gflops:.2f} | {gflops / 2:.2f} |")


if __name__ == "__main__":
    app.run(main)
