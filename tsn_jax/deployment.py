"""A trained model as a file other runtimes load: StableHLO, TensorFlow SavedModel, ONNX.

Every format holds the inference function of a run, `clips -> logits`, with its weights,
for any batch size (ONNX: the batch size it was exported for):

  input  'clips': [B, K, T, S, S, C] float32, normalized test views as the run's
         pipeline makes them (`input_pipeline.clip_views`; K snippets of T frames, S the
         crop size, C = 3 for RGB and RGB difference, 2 for flow);
  output 'logits': [B, N] float32, one row per view, before the softmax; fuse a video's
         views as `tsn_jax.scoring.aggregate_views` does (the mean, for TSN).

`input_signature` gives the shapes of a run; `export` writes them with a
`signature.json` that says the same. The convolutions are traced with XLA's own
lowering (`lowerings.conv_implementation('xla')`), not the CPU-only im2col, so an
artifact is the same program on any device.

  stablehlo    `jax.export` serialized (`model.stablehlo`): `load_stablehlo(path)(clips)`
               in any JAX, on CPU, GPU or TPU; the batch dimension is symbolic.
  saved_model  `jax2tf` in a `tf.Module` (`saved_model/`, signature 'serving_default',
               input 'clips'), the weights as TensorFlow variables: TF Serving, TF
               Lite converters, `tf.saved_model.load`.
  onnx         `jax2onnx` (`model.onnx`, input 'clips', output 'logits', a fixed batch
               size): ONNX Runtime and other ONNX runtimes. Needs the optional
               packages (docs/deployment.md).

Models that take several streams (STAN, `data.extra_modalities`) are exported to
StableHLO and SavedModel with one input per stream (the 'inputs*' names). ONNX export
is implemented for the 2D networks (TSN, TSM, TAM on 2D backbones); jax2onnx 0.17.1
has no channels-last 3D convolution, so the 3D networks raise NotImplementedError there.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import flax.linen as nn
import jax
import ml_collections
import numpy as np

from tsn_jax import reports, spec
from tsn_jax.models import lowerings

FORMATS = ("stablehlo", "saved_model", "onnx")
FILES = {"stablehlo": "model.stablehlo", "saved_model": "saved_model", "onnx": "model.onnx"}
SIGNATURE_FILE = "signature.json"


def input_signature(
    model: nn.Module, data_config: ml_collections.ConfigDict
) -> dict[str, tuple[int, ...]]:
    """{input name: [K, T, S, S, C]} of one view; the batch dimension comes first.

    One input 'clips' for a single-stream model; one per stream ('inputs',
    'inputs_<modality>') for a model that takes several (STAN).
    """
    if getattr(model, "takes_streams", False):
        return dict(spec.sample_shapes(data_config))
    return {"clips": tuple(spec.sample_shape(data_config))}


def _weights(variables: Mapping[str, Any]) -> dict[str, Any]:
    """What inference reads of a run's variables: parameters and BatchNorm statistics."""
    return {k: variables[k] for k in ("params", "batch_stats") if k in variables}


def inference_function(model: nn.Module, variables: Mapping[str, Any]) -> Callable:
    """`clips -> logits` with the weights fixed (test mode: BatchNorm running averages)."""
    variables = _weights(variables)

    def logits(clips):
        return model.apply(variables, clips, train=False)

    return logits


def _example(signature: Mapping[str, tuple[int, ...]], batch: Any, takes_streams: bool):
    shapes = {
        name: jax.ShapeDtypeStruct((batch, *shape), np.float32) for name, shape in signature.items()
    }
    return shapes if takes_streams else shapes["clips"]


def export_stablehlo(model: nn.Module, variables: Mapping[str, Any], data_config, path: str) -> str:
    """Writes the serialized `jax.export` artifact to `path`, batch dimension symbolic."""
    batch = jax.export.symbolic_shape("B")[0]
    signature = input_signature(model, data_config)
    with lowerings.conv_implementation("xla"):
        exported = jax.export.export(jax.jit(inference_function(model, variables)))(
            _example(signature, batch, getattr(model, "takes_streams", False))
        )
    with open(path, "wb") as f:
        f.write(exported.serialize())
    return path


def load_stablehlo(path: str) -> Callable:
    """The `clips -> logits` function of a `model.stablehlo` file (any batch size)."""
    with open(path, "rb") as f:
        exported = jax.export.deserialize(bytearray(f.read()))
    return exported.call


def export_saved_model(
    model: nn.Module, variables: Mapping[str, Any], data_config, path: str
) -> str:
    """Writes a TensorFlow SavedModel to the directory `path` (signature 'serving_default':
    {'clips': [None, K, T, S, S, C]} -> {'logits': [None, N]})."""
    import tensorflow as tf
    from jax.experimental import jax2tf

    signature = input_signature(model, data_config)
    takes_streams = getattr(model, "takes_streams", False)
    weights = _weights(variables)

    def apply(weights, clips):
        return model.apply(weights, clips, train=False)

    polymorphic = {name: "(b, ...)" for name in signature} if takes_streams else "(b, ...)"
    with lowerings.conv_implementation("xla"):
        converted = jax2tf.convert(
            apply, polymorphic_shapes=[None, polymorphic], with_gradient=False
        )
        module = tf.Module()
        module.weights = tf.nest.map_structure(
            lambda x: tf.Variable(np.asarray(x), trainable=False), weights
        )
        specs = {
            name: tf.TensorSpec([None, *shape], tf.float32, name=name)
            for name, shape in signature.items()
        }

        @tf.function(autograph=False, input_signature=[specs if takes_streams else specs["clips"]])
        def serve(clips):
            return {"logits": converted(module.weights, clips)}

        module.serve = serve
        tf.saved_model.save(module, path, signatures={"serving_default": serve})
    return path


def export_onnx(
    model: nn.Module, variables: Mapping[str, Any], data_config, path: str, batch_size: int = 1
) -> str:
    """Writes `model.onnx` (input 'clips' [B, K, T, S, S, C], output 'logits' [B, N]) for
    a fixed batch B = `batch_size`: the models fold the K segments into the batch
    (reshapes to B * K), which jax2onnx 0.17.1 cannot write with a symbolic B.

    Raises:
      NotImplementedError: a model that takes several streams, or has 3D convolutions.
      ImportError: jax2onnx is not installed (`pip install -e ".[onnx]"`).
    """
    if getattr(model, "takes_streams", False):
        raise NotImplementedError(
            "ONNX export of a model with several input streams (STAN) is not implemented; "
            "export it to stablehlo or saved_model"
        )
    try:
        import jax2onnx
        from jax2onnx.converter import ir_optimizations
    except ImportError as error:
        raise ImportError(
            "ONNX export needs jax2onnx: pip install -e '.[onnx]' (docs/deployment.md)"
        ) from error
    [(name, shape)] = input_signature(model, data_config).items()
    # jax2onnx 0.17.1's graph pass 'remove_redundant_transpose_pairs' breaks the residual
    # additions of channels-last networks (ONNX Runtime rejects the graph: 'Incompatible
    # dimensions' at an Add of TSN-ResNet; without that one pass the logits match). ONNX
    # Runtime removes redundant transposes itself, so the export skips the pass.
    passes = ir_optimizations._OPTIMIZER_PASSES
    ir_optimizations._OPTIMIZER_PASSES = tuple(
        p for p in passes if p.name not in _BROKEN_ONNX_PASSES
    )
    try:
        with lowerings.conv_implementation("xla"):
            jax2onnx.to_onnx(
                inference_function(model, variables),
                [(batch_size, *shape)],
                input_names=[name],
                output_names=["logits"],
                model_name="tsn_jax",
                return_mode="file",
                output_path=path,
            )
    except NotImplementedError as error:
        if "conv layouts" not in str(error):
            raise
        raise NotImplementedError(
            "ONNX export of 3D convolutions is not implemented: jax2onnx 0.17.1 converts "
            "2D channels-last convolutions only; export this model to stablehlo or "
            "saved_model"
        ) from error
    finally:
        ir_optimizations._OPTIMIZER_PASSES = passes
    return path


_BROKEN_ONNX_PASSES = ("remove_redundant_transpose_pairs",)

_EXPORTERS = {
    "stablehlo": export_stablehlo,
    "saved_model": export_saved_model,
    "onnx": export_onnx,
}


def export(
    model: nn.Module,
    variables: Mapping[str, Any],
    config: ml_collections.ConfigDict,
    class_names: Sequence[str],
    output: str,
    formats: Sequence[str],
    onnx_batch_size: int = 1,
) -> dict[str, str]:
    """Writes each of `formats` into the directory `output`, and `signature.json`.

    Returns:
      {format: path written}.
    """
    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        raise ValueError(f"unknown export format(s) {unknown}; known: {FORMATS}")
    os.makedirs(output, exist_ok=True)
    signature = input_signature(model, config.data)
    mean, std = spec.normalization(config.data, config.data.modality)
    written = {}
    for name in formats:
        path = os.path.join(output, FILES[name])
        options = {"batch_size": onnx_batch_size} if name == "onnx" else {}
        written[name] = _EXPORTERS[name](model, variables, config.data, path, **options)
    reports.write_json(
        os.path.join(output, SIGNATURE_FILE),
        {
            "inputs": {name: ["batch", *shape] for name, shape in signature.items()},
            "onnx_batch_size": onnx_batch_size if "onnx" in formats else None,
            "outputs": {"logits": ["batch", len(class_names)]},
            "class_names": list(class_names),
            "modality": config.data.modality,
            "normalization": {"mean": list(mean), "std": list(std)},
            "test_protocol": {
                "num_segments": config.eval.num_segments or config.data.num_segments,
                "crops": config.eval.crops,
                "resize_short": config.eval.resize_short,
                "fusion": config.eval.fusion,
            },
            "files": {name: os.path.basename(path) for name, path in written.items()},
        },
    )
    return written
