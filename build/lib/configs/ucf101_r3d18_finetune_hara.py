"""Fine-tuning Hara et al.'s Kinetics 3D ResNet-18 on UCF-101 split 1 from conv5_x upward.

Hara, Kataoka and Satoh, "Towards Good Practice for Action Recognition with
Spatiotemporal 3D Convolutions" (ICPR 2018; /work/shared/papers/hara_3d_good_practice.txt;
code kenshohara/3D-ResNets-PyTorch): the Kinetics-pretrained 3D ResNet-18 (Table I;
configs/kinetics_r3d18_hara.py) fine-tuned on UCF-101 (Sec. V-A) with the same data
augmentation configurations, test and normalization as on Kinetics (see that config:
`hara_data`), and conv1 .. conv4_x frozen (Sec. IV-B, Fig. 2).

Published, Table III (top-1, fine-tuning of *all* layers, `--config.trainable_from=conv1`):

  variant (`--config=configs/ucf101_r3d18_finetune_hara.py:<variant>`)
                                     UCF-101 splits 1 2 3, average    HMDB-51 splits 1 2 3, average
  spatial_center                     82.4 82.9 81.8 82.4 +- 0.4       54.8 53.3 51.8 53.3 +- 1.2
  spatial_random                     84.5 85.4 84.5 84.8 +- 0.4       56.6 54.2 55.2 55.3 +- 1.0
  multiscale_spatial_random (dflt)   85.0 83.8 84.9 84.6 +- 0.5       57.5 55.2 55.7 56.1 +- 1.0
  multiscale_spatial_corner          84.2 83.9 82.5 83.5 +- 0.7       56.3 52.1 54.6 54.3 +- 1.7
  multiscale_spatiotemporal_random   84.4 83.2 83.1 83.6 +- 0.6       54.8 55.0 51.2 53.7 +- 1.8

Fine-tuning extents (Fig. 2, ">convX": every layer above conv X trained): fine-tuning the
layers above conv4, i.e. conv5_x and fc (`trainable_from='conv5_x'`, the default here),
"achieved the best performance on both UCF-101 and HMDB-51 except for split 1 of
HMDB-51" (Sec. V-B). Fig. 2's accuracies are only plotted, not in the text, so this
default has no published figure we could check; the table above is for all layers.
Other extents: `--config.trainable_from=conv2_x` (">conv1") .. `fc` (">conv5"), `conv1`
("All"); tsn_jax/finetune.py maps the paper's names to ours (conv5_x = layer4_*). The
frozen layers' BatchNorm layers normalize with their Kinetics running averages and keep
them (`frozen_batch_norm='fixed'`; the paper: earlier layers frozen). Their code left
the network in training mode, so there those layers used batch statistics and updated
their running averages: `--config.frozen_batch_norm=batch`.

This config trains split 1 (`--config.dataset.split_index=2` / `3` for the others);
HMDB-51: `--config.dataset.name=hmdb51` (Sec. V-A: both fine-tuned alike).

Recipe (Sec. III-B1): as from scratch, but the learning rate starts at 0.0003 (their
code's SGD dampening 0.9: `--config.optimizer.learning_rate=0.00003`, see the Kinetics
config) and is divided by 10 by the same reduce-on-plateau procedure (factor 0.1,
patience 10, on the validation loss after every epoch), 100 epochs; SGD momentum 0.9,
weight decay 1e-3 on every parameter, batch 128. An epoch: `eval_every_steps=74`
(UCF-101 split 1 has 9537 training videos, 9537 // 128 = 74 steps). The validation set
is the split's test list (the paper does not name one for UCF-101; their code's
`validation` subset of the UCF-101 annotation is the test list). Frames with the height
at 240 (Sec. V-A; `dataset.short_side=240`).

Test (Sec. III-B2): every non-overlapping 16-frame window, the centre square of the
short side resized to 112, softmax probabilities averaged (as the Kinetics config).

  python main.py --config=configs/ucf101_r3d18_finetune_hara.py --workdir=runs/ucf_r3d18 \\
    --config.dataset.video_dir=/data/UCF101 --config.init.checkpoint=/ckpt/r3d18_kinetics_flax

Initialization: a run of configs/kinetics_r3d18_hara.py (`<workdir>/checkpoints/<step>/
default`), or their released Kinetics ResNet-18 converted with `python
tsn-jax-convert --arch resnet3d_18 --checkpoint resnet-18-kinetics.pth
--output /ckpt/r3d18_kinetics_flax` (its `module.` prefix is dropped; the 400-way fc is
replaced by a new 101-way one; their released model is the CVPR 2018 paper's, trained
with other settings); pass it as `--config.init.checkpoint`.
"""

import ml_collections

from configs import base
from configs.kinetics_r3d18_hara import hara_data


# Published: 85.0% top-1, UCF-101 split 1 (84.6% over 3 splits), multiscale_spatial_random,
# all layers fine-tuned (ICPR 2018, Table III); conv5_x + fc: Fig. 2, not in the text.
def get_config(augmentation: str = "multiscale_spatial_random") -> ml_collections.ConfigDict:
    """Hara et al.'s Kinetics 3D ResNet-18, fine-tuned on UCF-101 from conv5_x up."""
    config = hara_data(base.get_config(), augmentation, "ucf101_r3d18_finetune_hara")

    config.dataset.name = "ucf101"
    config.dataset.split_index = 1
    config.dataset.short_side = 240
    config.dataset.size = ()
    config.dataset.train_split = "train"
    config.dataset.eval_split = "test"

    config.init.checkpoint = ""  # the Kinetics 3D ResNet-18, see the docstring
    config.partial_bn = "off"
    config.trainable_from = "conv5_x"  # the paper's ">conv4": conv5_x and fc
    config.frozen_batch_norm = "fixed"

    config.num_epochs = 100.0
    config.optimizer.learning_rate = 3e-4

    config.log_every_steps = 20
    config.eval_every_steps = 74  # one epoch: 9537 // 128
    config.checkpoint_every_steps = 74
    return config
