"""The tiny demo config of the tests, importable without conftest's device settings
(tests/distributed_worker.py runs in processes of its own)."""

from configs import default


def tiny_config(data_dir: str):
    """The default config scaled down to seconds: 2+1 videos per class, 32x32 crops."""
    config = default.get_config()
    config.dataset.data_dir = data_dir
    config.dataset.short_side = 40
    config.dataset.num_train_per_class = 2
    config.dataset.num_test_per_class = 1
    config.data.crop_size = 32
    config.data.eval_resize_short = 36
    config.data.shuffle_buffer_size = 16
    config.model.base_width = 8
    config.batch_size = 8
    config.eval_batch_size = 8
    config.num_train_steps = 4
    config.log_every_steps = 2
    config.checkpoint_every_steps = 2
    return config
