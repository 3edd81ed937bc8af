"""Trains and evaluates a model: `python main.py --config=configs/default.py --workdir=DIR`.

`--mode=eval` only evaluates: the config's test protocol on the newest checkpoint in
the workdir (or `--config.eval.checkpoint=PATH`), writing eval_metrics.json,
scores.npz and the confusion matrix (tsn_jax/runner.py).

Multi-process runs (a GPU cluster, a TPU pod slice) start the same command on every
host with `--coordinator_address=HOST:PORT --num_processes=N --process_id=I`, or
`--distributed` where JAX reads the cluster from the environment (TPU pods, SLURM);
see the README (Multi-host training).

Any config field can be overridden on the command line, e.g.
`--config.batch_size=16 --config.model.backbone=resnet50`; a mistyped key is
an error.
"""

from tsn_jax.cli.train import run

if __name__ == "__main__":
    run()
