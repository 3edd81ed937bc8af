"""Where a model looks: Grad-CAM maps of a class over the frames of a clip.

Grad-CAM (Selvaraju et al., ICCV 2017) weights the channels of a convolutional feature map
A [h, w, C] by the spatial mean of the class score's gradient, alpha_c = mean(dy/dA_c),
and keeps the positive part of their sum, relu(sum_c alpha_c A_c), upsampled to the
frame. For a network that ends in global average pooling and one linear layer this is
the class activation map of Zhou et al. (CVPR 2016) divided by h * w.

Any model of `tsn_jax.models` works without a change to its code: the feature map is
taken at the output of a module call (by default the last one that still has a spatial
map larger than 1 x 1), and its gradient through a zero perturbation added there
(`flax.linen.intercept_methods`). TSN and TSM backbones give one map per frame; 3D
backbones one per remaining time step of their feature map.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from tsn_jax.models import lowerings


def _outermost_calls(on_return):
    """An interceptor calling on_return(path, output) once per module call: for the
    outermost of nested calls of one module (a subclass calling its parent's __call__)."""
    depth: dict[tuple[str, ...], int] = {}

    def interceptor(next_fun, args, kwargs, context):
        path = tuple(context.module.path)
        if context.method_name != "__call__":
            return next_fun(*args, **kwargs)
        depth[path] = depth.get(path, 0) + 1
        try:
            out = next_fun(*args, **kwargs)
        finally:
            depth[path] -= 1
        return on_return(path, out) if depth[path] == 0 else out

    return interceptor


def feature_maps(
    model: nn.Module, variables: Mapping[str, Any], inputs: Any
) -> list[tuple[str, tuple[int, ...]]]:
    """[(module path 'backbone/layer4_1', output shape)] of every module call with a
    spatial output ([N, h, w, C] or [N, t, h, w, C]), in the order the calls return."""
    found = []

    def record(path, out):
        if hasattr(out, "ndim") and out.ndim in (4, 5):
            found.append(("/".join(path), tuple(out.shape)))
        return out

    with nn.intercept_methods(_outermost_calls(record)):
        jax.eval_shape(lambda x: model.apply(variables, x, train=False), inputs)
    return found


def default_layer(maps: list[tuple[str, tuple[int, ...]]]) -> str:
    """The last feature map with more than 1 x 1 positions (the finest late map)."""
    for path, shape in reversed(maps):
        if shape[-3] * shape[-2] > 1:
            return path
    raise ValueError("the model has no spatial feature map larger than 1 x 1")


def grad_cam(
    model: nn.Module,
    variables: Mapping[str, Any],
    clips: np.ndarray,
    class_index: np.ndarray | None = None,
    layer: str | None = None,
) -> tuple[np.ndarray, np.ndarray, str]:
    """Grad-CAM maps of `class_index` (default: each clip's top class) for clips
    [B, K, T, H, W, C].

    Args:
      model, variables: a model of `create_model` and its {'params', 'batch_stats'}.
      clips: normalized inputs as the model takes them.
      class_index: [B] the class of each clip's map; None: the predicted class.
      layer: the module whose output is the feature map ('backbone/layer3_1'); None:
        `default_layer`.

    Returns:
      (maps [B, K, T', H, W] float32 in [0, 1], each divided by its clip's maximum
      (all zeros where the class has no positive evidence); T' = T for 2D backbones,
      the feature map's time steps for 3D ones), the classes [B], the layer used.
    """
    clips = jnp.asarray(clips, jnp.float32)
    batch, segments, height, width = clips.shape[0], clips.shape[1], *clips.shape[3:5]
    with lowerings.conv_implementation("xla"):
        maps = feature_maps(model, variables, clips)
        layer = layer or default_layer(maps)
        shapes = dict(maps)
        if layer not in shapes:
            raise ValueError(f"no feature map at {layer!r}; the model's: {[p for p, _ in maps]}")
        shape = shapes[layer]

        def logits_with(delta):
            captured = {}

            def perturb(path, out):
                if "/".join(path) == layer:
                    captured["map"] = out
                    return out + delta
                return out

            with nn.intercept_methods(_outermost_calls(perturb)):
                logits = model.apply(variables, clips, train=False)
            return logits, captured["map"]

        def score(delta):
            logits, activations = logits_with(delta)
            # argmax has no gradient: the predicted class is only picked here.
            classes = (
                jnp.argmax(logits, axis=-1) if class_index is None else jnp.asarray(class_index)
            )
            picked = jnp.take_along_axis(logits, classes[:, None], axis=-1)
            return jnp.sum(picked), (classes, activations)

        zero = jnp.zeros(shape, jnp.float32)
        gradient_of = jax.jit(jax.grad(score, has_aux=True))
        gradients, (classes, activations) = gradient_of(zero)
    spatial = (-3, -2)
    alpha = jnp.mean(gradients, axis=spatial, keepdims=True)  # [N, (t,) 1, 1, C]
    cam = jax.nn.relu(jnp.sum(alpha * activations, axis=-1))  # [N, (t,) h, w]
    cam = cam.reshape(batch, segments, -1, *cam.shape[-2:])  # [B, K, T', h, w]
    cam = jax.image.resize(cam, (*cam.shape[:3], height, width), "linear")
    peak = jnp.max(cam, axis=(1, 2, 3, 4), keepdims=True)
    cam = jnp.where(peak > 0, cam / jnp.where(peak > 0, peak, 1.0), 0.0)
    return np.asarray(cam, np.float32), np.asarray(classes), layer
