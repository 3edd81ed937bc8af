"""One process of a multi-process run, for tests/test_distributed.py.

    python tests/distributed_worker.py --out=DIR --checkpoint_dir=SHARED_DIR \
        --data_dir=TFDS_DIR [--num_processes=2 --process_id=I --port=P]

Joins the run through `tsn_jax.distributed.initialize` (as main.py does), trains a small
conv net with BatchNorm for a few steps on a fixed global batch of which this process
feeds its rows (`train_step.prefetch_to_device` -> `make_array_from_process_local_data`),
saves and restores the state with Orbax (every process joins), then evaluates the demo
test split (each process scores its part, the videos are gathered). Process 0 writes
`result.npz`: the parameters and batch statistics after training, and the evaluation's
video ids, labels, fused and per-view logits. `run` is also called in the test's own process on
a 2-device mesh: the one-process reference.
"""

import argparse
import os

STEPS = 3
GLOBAL_BATCH = 8


def global_batches(num_classes: int):
    """The same STEPS global batches in every process: [8, 3, 1, 32, 32, 3] frames."""
    import numpy as np

    rng = np.random.default_rng(0)
    for _ in range(STEPS):
        yield {
            "inputs": rng.normal(size=(GLOBAL_BATCH, 3, 1, 32, 32, 3)).astype(np.float32),
            "label": rng.integers(0, num_classes, GLOBAL_BATCH).astype(np.int32),
        }


def small_net(num_classes: int):
    """Conv -> BatchNorm -> ReLU -> mean over space and snippets -> Dense: a network with
    batch statistics that compiles in a second (the machinery is under test, not a model)."""
    import flax.linen as nn

    class SmallNet(nn.Module):
        @nn.compact
        def __call__(self, x, train: bool):  # [B, K, T, H, W, C] -> [B, num_classes]
            batch = x.shape[0]
            x = nn.Conv(8, (3, 3), strides=2)(x.reshape((-1,) + x.shape[-3:]))
            x = nn.BatchNorm(use_running_average=not train)(x)
            x = nn.relu(x).mean(axis=(1, 2)).reshape(batch, -1, 8).mean(1)
            return nn.Dense(num_classes)(x)

    return SmallNet()


def run(out: str, checkpoint_dir: str, data_dir: str, mesh) -> None:
    """Trains, checkpoints and evaluates on `mesh`; process 0 writes out/result.npz."""
    import flax
    import jax
    import numpy as np
    from jax.sharding import NamedSharding
    from jax.sharding import PartitionSpec as P

    from input_pipeline import datasets, pipeline
    from tests.helpers import tiny_config
    from tsn_jax import checkpoints, optim, runner, train_step

    config = tiny_config(data_dir)
    builder = datasets.get_builder(config.dataset)
    info = pipeline.get_dataset_info(builder, config)
    model = small_net(info.num_classes)
    schedule = optim.create_learning_rate_schedule(config, steps_per_epoch=10)
    tx = optim.create_optimizer(config, schedule)
    replicated = NamedSharding(mesh, P())
    init = jax.jit(
        lambda rng: train_step.initial_state(model, tx, rng, (1, 3, 1, 32, 32, 3)),
        out_shardings=replicated,
    )
    state = init(jax.random.key(0))
    p_train = train_step.compile_train_step(model, tx, schedule, mesh)

    rows = GLOBAL_BATCH // jax.process_count()
    mine = slice(jax.process_index() * rows, (jax.process_index() + 1) * rows)
    local = ({k: v[mine] for k, v in b.items()} for b in global_batches(info.num_classes))
    rng = jax.jit(lambda: jax.random.key(1), out_shardings=replicated)()
    for batch in train_step.prefetch_to_device(local, mesh, size=2):
        state, _ = p_train(state, batch, rng)

    manager = checkpoints.create_manager(checkpoint_dir, save_every_steps=1, keep=1)
    manager.save(STEPS, args=checkpoints.save_args(state))
    manager.wait_until_finished()
    restored = checkpoints.restore_latest(manager, init(jax.random.key(2)))
    manager.close()
    ours = flax.serialization.to_state_dict(state)
    theirs = flax.serialization.to_state_dict(restored)
    for a, b in zip(jax.tree.leaves(ours), jax.tree.leaves(theirs), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))

    config.eval.crops = "three"  # 3 views a video, so per-view logits are gathered
    scores, summary = runner.evaluate_split(model, state.variables(), builder, config, info)
    if jax.process_index() == 0:
        flat = jax.tree_util.tree_flatten_with_path(jax.device_get(state.variables()))[0]
        os.makedirs(out, exist_ok=True)
        np.savez(
            os.path.join(out, "result.npz"),
            **{f"var{jax.tree_util.keystr(path)}": value for path, value in flat},
            eval_ids=np.asarray(scores.video_ids),
            eval_labels=scores.labels,
            eval_logits=scores.logits,
            eval_view_logits=scores.view_logits,
            eval_top1=summary["top1"],
            devices=mesh.size,
            processes=jax.process_count(),
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    parser.add_argument("--checkpoint_dir", required=True)  # the same for every process
    parser.add_argument("--data_dir", required=True)
    parser.add_argument("--num_processes", type=int, default=1)
    parser.add_argument("--process_id", type=int, default=0)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()

    from tsn_jax import distributed

    distributed.initialize(f"127.0.0.1:{args.port}", args.num_processes, args.process_id)
    import jax

    from tsn_jax import train_step

    run(args.out, args.checkpoint_dir, args.data_dir, train_step.create_mesh())
    jax.distributed.shutdown()


if __name__ == "__main__":
    main()
