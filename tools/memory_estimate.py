"""Estimates the per-device batch that fits in a given device memory, without a device.

    python -m tools.memory_estimate --config=configs/kinetics_i3d.py:r50 --memory_gb=80
    python -m tools.memory_estimate --config=configs/kinetics_i3d.py:r50 \
        --config.data.frames_per_snippet=64 --config.model.dtype=bfloat16

Traces (never runs) the config's model on abstract inputs with `jax.eval_shape`:

* training: the residuals the backward pass keeps (the leaves of `jax.vjp`'s closure)
  for 1 and 2 clips give the bytes per clip; add the float32 parameters, their gradients
  and the SGD momentum (3 copies; the state is donated, so no fourth);
* evaluation: the peak of the values alive at once when the forward pass of one view
  row runs its operations in order (`sequential_peak_bytes`), parameters included.

Convolutions are traced as XLA convolutions (what GPUs and TPUs run). A fraction of the
memory (`--headroom`, 10%) is left for convolution workspaces, XLA's
temporaries and fragmentation. These are estimates from shapes, not measurements: check
them on the device with `tools/benchmark.py`, which prints the peak memory.
"""

import numpy as np
from absl import app, flags
from ml_collections import config_flags

FLAGS = flags.FLAGS


def _define_flags() -> None:
    """Command-line flags, defined only when run as a script (tests import this module
    next to other tools that define flags of the same names)."""
    config_flags.DEFINE_config_file("config", None, "Training config.", lock_config=True)
    flags.DEFINE_float("memory_gb", 80.0, "Device memory, GB (1e9 bytes).")
    flags.DEFINE_float("headroom", 0.1, "Share of the memory kept free for workspaces.")
    flags.DEFINE_integer("num_classes", 400, "Classes of the classifier.")
    flags.mark_flags_as_required(["config"])


def _bytes(tree) -> int:
    import jax

    return sum(leaf.size * leaf.dtype.itemsize for leaf in jax.tree.leaves(tree))


def residual_bytes(model, variables, input_shape) -> int:
    """Bytes the backward pass of a training step keeps for inputs of `input_shape`."""
    import jax
    import jax.numpy as jnp

    def keep(variables):
        def loss(params):
            logits, _ = model.apply(
                {**variables, "params": params},
                jnp.zeros(input_shape, jnp.float32),
                train=True,
                rngs={"dropout": jax.random.key(0)},
                mutable=["batch_stats"],
            )
            return jnp.sum(logits)

        return jax.vjp(loss, variables["params"])[1]

    return _bytes(jax.eval_shape(keep, variables))


def _sub_jaxprs(eqn):
    for value in eqn.params.values():
        for item in value if isinstance(value, (list, tuple)) else (value,):
            if hasattr(item, "eqns"):
                yield item
            elif hasattr(item, "jaxpr") and hasattr(item.jaxpr, "eqns"):
                yield item.jaxpr


def _var_bytes(var) -> int:
    """Bytes of a jaxpr variable's value; 0 for literals (constants folded into the op)."""
    from jax.extend.core import Literal

    aval = getattr(var, "aval", None)
    if isinstance(var, Literal) or not hasattr(aval, "shape"):
        return 0
    return int(np.prod(aval.shape, dtype=np.int64)) * aval.dtype.itemsize


def sequential_peak_bytes(jaxpr) -> int:
    """Peak bytes of live values when `jaxpr`'s equations run one after another.

    A value is live from the equation that makes it to its last use (inputs and outputs
    all along); an equation holding a sub-program (jit, checkpoint, custom rules) adds
    that program's own peak above its inputs.
    """
    last_use: dict = {}
    for i, eqn in enumerate(jaxpr.eqns):
        for var in eqn.invars:
            if _var_bytes(var):
                last_use[var] = i
    kept = {var for var in jaxpr.outvars if _var_bytes(var)}
    live = sum(_var_bytes(v) for v in [*jaxpr.invars, *jaxpr.constvars])
    peak = live
    for i, eqn in enumerate(jaxpr.eqns):
        inner = max(
            (
                sequential_peak_bytes(sub) - sum(map(_var_bytes, sub.invars))
                for sub in _sub_jaxprs(eqn)
            ),
            default=0,
        )
        made = sum(map(_var_bytes, eqn.outvars))
        peak = max(peak, live + max(made, inner))
        live += made
        for var in {v for v in eqn.invars if _var_bytes(v)}:
            if last_use[var] == i and var not in kept:
                live -= _var_bytes(var)
    return peak


def forward_peak_bytes(model, variables, input_shape) -> int:
    """Peak live bytes of an evaluation forward pass (train=False) on `input_shape`."""
    import jax

    def forward(variables, x):
        return model.apply(variables, x, train=False)

    x = jax.ShapeDtypeStruct(input_shape, np.float32)
    return sequential_peak_bytes(jax.make_jaxpr(forward)(variables, x).jaxpr)


def estimate(config, num_classes: int) -> dict:
    """Per-clip and fixed bytes of training and evaluation for `config`."""
    import jax

    from tsn_jax import spec
    from tsn_jax.models import create_model, example_inputs

    model = create_model(config.model, num_classes, config.data.num_segments)
    sample = spec.sample_shape(config.data)  # (K, T, S, S, C) of one training clip
    variables = jax.eval_shape(
        lambda: model.init(jax.random.key(0), example_inputs((1, *sample)), train=False)
    )
    one, two = (residual_bytes(model, variables, (n, *sample)) for n in (1, 2))
    eval_segments = config.eval.num_segments or config.data.num_segments
    row = (1, eval_segments, *sample[1:])
    if getattr(model.backbone, "mixes_segments", False) and eval_segments != sample[0]:
        row = (1, *sample)  # K is fixed by the temporal module
    eval_model = create_model(config.model, num_classes, row[1])
    params = _bytes(variables["params"])
    return {
        "params": params,
        "fixed": 3 * params + _bytes(variables.get("batch_stats", {})) + (2 * one - two),
        "per_clip": two - one,
        "per_eval_row": forward_peak_bytes(eval_model, variables, row),
        "clip_shape": sample,
        "row_shape": row[1:],
    }


def main(argv):
    del argv
    from tsn_jax.models import lowerings

    config = FLAGS.config
    # The convolutions as GPUs and TPUs run them, not the CPU's im2col lowering (whose
    # patch matrices would dominate the count).
    with lowerings.conv_implementation("xla"):
        result = estimate(config, FLAGS.num_classes)
    usable = FLAGS.memory_gb * 1e9 * (1 - FLAGS.headroom)
    train_batch = int((usable - result["fixed"]) // result["per_clip"])
    eval_rows = int((usable - result["params"]) // (result["per_eval_row"] - result["params"]))
    gb = 1e9
    print(
        f"model {config.model.backbone} {config.model.dtype}"
        f"{' remat' if config.model.remat else ''}: parameters {result['params'] / gb:.2f} GB"
    )
    print(
        f"training clip {tuple(result['clip_shape'])}: {result['per_clip'] / gb:.2f} GB per "
        f"clip, fixed {result['fixed'] / gb:.2f} GB -> at most {train_batch} clips per device "
        f"in {FLAGS.memory_gb:g} GB ({FLAGS.headroom:.0%} kept free)"
    )
    print(
        f"evaluation row {tuple(result['row_shape'])}: peak {result['per_eval_row'] / gb:.2f} "
        f"GB for one row -> about {eval_rows} rows per device"
    )


if __name__ == "__main__":
    _define_flags()
    app.run(main)
