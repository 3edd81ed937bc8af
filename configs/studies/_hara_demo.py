"""What the Hara et al. studies share: their 3D ResNet-18 recipe on the demo videos.

Not a study itself (the leading underscore keeps it out of the shipped list).
"""

import ml_collections

from configs import default
from configs.kinetics_r3d18_hara import hara_data

# Demo-sized clips: 8 frames (the demo videos have 6-40, 23 on average) of 48 x 48.
FRAMES = 8


def hara_config(augmentation: str = "multiscale_spatial_random") -> ml_collections.ConfigDict:
    """Hara et al.'s sampling, augmentation, test and network (`hara_data`) on the demo
    render (`default.py`'s: frames with the short side at 80), scaled to 2 CPU cores:
    8-frame clips of 48 x 48, an eighth-width 3D ResNet-18 (base_width 8) whose conv1
    is 3x7x7 (Table I: 7x7x7, over clips of 16 frames), 40 epochs of 32 videos a step on
    the demo's learning rate, divided by 10 at epochs 28 and 36 (the demo's schedule
    shortened), no flipping (a flipped MoveLeft video is a MoveRight one), evaluated
    once at the end."""
    config = hara_data(default.get_config(), augmentation, "studies/hara_augmentation")
    config.data.frames_per_snippet = FRAMES
    config.data.crop_size = 48
    config.data.flip = False
    config.model.base_width = 8
    config.model.backbone_options.conv1_t_size = 3
    demo = default.get_config()
    config.batch_size = demo.batch_size
    config.eval.batch_size = demo.eval.batch_size
    config.num_epochs = 40.0
    config.optimizer.schedule = demo.optimizer.schedule
    config.optimizer.learning_rate = demo.optimizer.learning_rate
    config.optimizer.lr_decay_epochs = (28.0, 36.0)
    config.eval_every_steps = 0
    config.checkpoint_every_steps = 1000
    return config
