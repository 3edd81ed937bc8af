"""Trains and evaluates a model: `tsn-jax-train --config=configs/default.py --workdir=DIR`
(or `python main.py ...`, the same program).

`--mode=eval` (or `tsn-jax-eval`) only evaluates: the config's test protocol on the
newest checkpoint in the workdir (or `--config.eval.checkpoint=PATH`), writing
eval_metrics.json, scores.npz and the confusion matrix (tsn_jax/runner.py).

Multi-process runs (a GPU cluster, a TPU pod slice) start the same command on every
host with `--coordinator_address=HOST:PORT --num_processes=N --process_id=I`, or
`--distributed` where JAX reads the cluster from the environment (TPU pods, SLURM);
see the README (Multi-host training).

Any config field can be overridden on the command line, e.g.
`--config.batch_size=16 --config.model.backbone=resnet50`; a mistyped key is
an error.
"""

from absl import app, flags, logging
from ml_collections import config_flags

from tsn_jax.cli import console

FLAGS = flags.FLAGS


def _define_flags(mode: str) -> None:
    """Defined by the entry points only, so that importing this module defines no flags."""
    flags.DEFINE_string("workdir", None, "Directory for checkpoints, logs and metrics.json.")
    flags.DEFINE_enum("mode", mode, ["train", "eval"], "train (and evaluate) | eval only.")
    flags.DEFINE_string(
        "coordinator_address", None, "Multi-process: HOST:PORT of process 0's coordinator."
    )
    flags.DEFINE_integer("num_processes", None, "Multi-process: number of processes.")
    flags.DEFINE_integer("process_id", None, "Multi-process: this process, 0..num_processes-1.")
    flags.DEFINE_list("local_device_ids", None, "Multi-process: local devices of this process.")
    flags.DEFINE_bool(
        "distributed",
        False,
        "Multi-process with the cluster read from the environment (TPU, SLURM).",
    )
    config_flags.DEFINE_config_file(
        "config", None, "Training configuration file.", lock_config=True
    )
    flags.DEFINE_bool("verbose", False, "Also print the libraries' INFO lines and warnings.")
    flags.mark_flags_as_required(["config", "workdir"])


def main(argv):
    from tsn_jax.errors import TsnJaxError

    try:
        _main(argv)
    except TsnJaxError as error:
        # The message says what is wrong and what to do: a traceback adds nothing.
        raise SystemExit(f"error: {error}") from None


def _main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    from tsn_jax.errors import ConfigError

    console.setup(FLAGS.verbose)
    try:
        config = FLAGS.config
        config.keys()  # a file that failed to load raises on first use
    except OSError as error:
        reason = str(error).strip().splitlines()[-1].strip()  # the OS's own words
        raise ConfigError(f"cannot load --config: {reason}") from None

    import jax

    from tsn_jax import distributed, reports, runner

    # Before anything touches a device: JAX fixes its backends on first use.
    distributed.initialize(
        FLAGS.coordinator_address,
        FLAGS.num_processes,
        FLAGS.process_id,
        None if FLAGS.local_device_ids is None else [int(i) for i in FLAGS.local_device_ids],
        auto_detect=FLAGS.distributed,
    )
    from tsn_jax.config_checks import validate_config

    validate_config(config)
    logging.info(
        "JAX process %d of %d, devices: %s", jax.process_index(), jax.process_count(), jax.devices()
    )
    if FLAGS.mode == "eval":
        summary = runner.evaluate(config, FLAGS.workdir)
        keys = ("top1", "top5", "mean_class_accuracy", "clip_top1", "mAP", "num_eval_videos")
        title = f"Evaluation of {summary['checkpoint']}: "
    else:
        summary = runner.train_and_evaluate(config, FLAGS.workdir)
        keys = ("step", "top1", "top5", "mean_class_accuracy", "num_eval_videos")
        title = "Final evaluation: "
    if jax.process_index() == 0:  # every process holds the same gathered summary
        print(title + reports.format_metrics(summary, keys))
        for group, acc in summary["group_accuracy"].items():
            print(f"  {group} classes: {reports.format_number(acc)}")


def run() -> None:
    """The `tsn-jax-train` console entry point (and `python main.py`)."""
    _define_flags("train")
    app.run(main, flags_parser=console.parse_flags)


def run_eval() -> None:
    """The `tsn-jax-eval` console entry point: `--mode=eval` by default."""
    _define_flags("eval")
    app.run(main, flags_parser=console.parse_flags)


if __name__ == "__main__":
    run()
