"""Trains and evaluates a model: `python main.py --config=configs/default.py --workdir=DIR`.

The same program as `tsn-jax-train` (flags and behaviour: tsn_jax/cli/train.py).
"""

from tsn_jax.cli.train import run

if __name__ == "__main__":
    run()
