"""The README's main job: TSN with temporal shift (TSM) on the embedded demo videos.

Renders the `synthetic_actions` demo videos on first use, builds them as a TFDS
dataset and trains TSN (Wang et al., ECCV 2016: 3 segments of one RGB frame, a shared
2D ResNet-18, average consensus of the snippet logits) whose residual blocks shift 1/8
of their channels one segment forward and 1/8 backward (TSM, Lin et al., ICCV 2019),
so that the network sees the order of the segments.

The demo's order classes (left vs right, grow vs shrink, A-then-B vs B-then-A) need
that: plain TSN (`tsn_rgb_demo.py`) averages per-frame scores and stays near chance on
them. Horizontal flipping is off: a flipped MoveLeft video is a MoveRight one (TSM's
Something-Something recipe turns flipping off for the same reason).

Deviations from the paper's ImageNet-pretrained recipe, for a 2-core CPU budget
of 15 minutes: small frames (short side 80, crops of 64), a half-width
ResNet-18 (base_width 32) trained from scratch for 50 epochs, dropout 0.5
instead of 0.8 (0.8 is for fine-tuning a pretrained network and slows learning
from scratch), and a learning rate of 0.01 (TSN fine-tunes RGB from 0.001).
Measured: see the README (Result of the main job).
"""

import ml_collections

from configs import base


def get_config() -> ml_collections.ConfigDict:
    """The demo job: `base.get_config()` with the demo dataset, small frames and network."""
    config = base.get_config()
    config.dataset.name = "synthetic_actions"
    config.dataset.short_side = 80
    # The demo renderer's own keys (synthetic_actions only): videos per class and seed.
    config.dataset.num_train_per_class = 50
    config.dataset.num_test_per_class = 10
    config.dataset.seed = 0
    config.data.crop_size = 64
    config.eval.resize_short = 73  # 64 * 256 / 224
    config.data.flip = False  # a flipped MoveLeft is a MoveRight
    config.model.backbone = "resnet18"
    config.model.base_width = 32  # half-width ResNet-18: 3x faster on 2 CPU cores
    config.model.backbone_options = ml_collections.ConfigDict({"temporal_module": "tsm"})
    config.batch_size = 32
    config.checkpoint_every_steps = 100
    config.eval_every_steps = 150  # every 10 epochs: a test curve in TensorBoard
    return config
