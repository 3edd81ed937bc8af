"""tsn-jax: Temporal Segment Networks and the video ConvNets around them, in JAX.

`tsn_jax.load_run(path)` loads a trained run (`tsn_jax.runs`). Importing the package
loads nothing else: `tsn_jax.spec` stays free of jax for the data side.
"""


def __getattr__(name: str):
    if name == "load_run":
        from tsn_jax.runs import load_run

        return load_run
    raise AttributeError(f"module 'tsn_jax' has no attribute {name!r}")
