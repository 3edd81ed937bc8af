"""Fine-tuning Hara et al.'s Kinetics 3D ResNet-18 on UCF101 split 1, conv5_x and fc only.

Hara, Kataoka and Satoh, "Can Spatiotemporal 3D CNNs Retrace the History of 2D CNNs and
ImageNet?" (CVPR 2018; code kenshohara/3D-ResNets-PyTorch): the 3D ResNet-18 trained on
Kinetics (configs/kinetics_r3d18_hara.py, or their released resnet-18-kinetics.pth) is
fine-tuned on UCF101 with every layer before conv5_x frozen (`--ft_begin_index 4`: only
`layer4` and `fc` train; `trainable_from='layer4'` here).

Published: 84.4% top-1 on UCF101 for ResNet-18, averaged over the three splits (CVPR 2018,
Table 4, fine-tuned from Kinetics) -- from memory, NOT checked against the paper's text
(only abstracts could be retrieved while writing this file). This config trains split 1
(`--config.dataset.split_index=2` / `3` for the others).

Recipe:
- data and augmentation as for Kinetics (their main.py uses the same transforms for every
  dataset): frames with the height at 240 (utils/video_jpg_ucf101_hmdb51.py), 16
  consecutive frames at a random position, looped for short videos, multi-scale corner
  crops with scales 2^(-k/4), k = 0..4, no aspect jitter, 112x112, flip, ActivityNet mean
  subtracted on [0, 255];
- frozen: conv1, bn1, layer1-3 (their get_fine_tuning_parameters gives those parameters
  lr 0), trained: layer4 and a new 101-way fc; no dropout. The frozen BatchNorm layers
  normalize with their Kinetics running averages and keep them (the paper: earlier layers
  untouched). Their code leaves the network in training mode, so there those layers use
  batch statistics and update their running averages: `--config.frozen_batch_norm=batch`;
- optimizer: the paper's text, as we recall it (Sec. 4, training): "when performing fine
  tuning, we start from a learning rate of 0.001 and assign a weight decay of 1e-5",
  SGD momentum 0.9, rate divided by 10 when the validation loss plateaus. NOT verified
  here. Their SGD used dampening 0.9 at the time (main.py; see
  configs/kinetics_r3d18_hara.py), so 0.001 there is 0.0001 here.
- The repository's README fine-tuning command of the time (`--n_finetune_classes 101
  --pretrain_path models/resnet-34-kinetics.pth --ft_begin_index 4 --model resnet
  --model_depth 34 --resnet_shortcut A --batch_size 128`, shown for ResNet-34) leaves the
  optimizer at opts.py's defaults instead: rate 0.1 with dampening 0.9 (0.01 here), weight
  decay 1e-3: `--config.optimizer.learning_rate=0.01 --config.optimizer.weight_decay=1e-3`.
- batch 128 (the README command).
- Reduce-on-plateau as their main.py (ReduceLROnPlateau, patience 10, on the validation
  loss after every epoch): `schedule='plateau'`, x0.1 after more than 10 evaluations
  without a lower loss, an evaluation every epoch (`eval_every_steps=74`: UCF101 split 1
  has 9537 training videos, 9537 // 128 = 74 steps an epoch in train.py) on 3 clips per
  test video (`eval_num_segments=3`, their `n_val_samples`; their validation set for
  UCF101 is the test list). 200 epochs is opts.py's `n_epochs` default; the paper does not
  give the epoch count. Without per-epoch evaluations: `--config.optimizer.schedule=step
  --config.eval_every_steps=0`, x0.1 at epochs 50, 100 and 150 (the repository's later
  multi-step default).

Differences from their code: their frozen layers still update their BatchNorm running
statistics (the model stays in train mode, only the rates are 0); here frozen stages
normalize with their running averages, so nothing of them changes (tsn_jax/finetune.py).

Testing as in the Kinetics config: their test averages non-overlapping 16-frame windows,
which the evaluation here does not do; the closest is more evenly spaced clips in an
evaluation-only second run on the finished workdir (it restores the last checkpoint,
trains no step and evaluates):

  python main.py --config=configs/ucf101_r3d18_finetune_hara.py --workdir=runs/ucf_r3d18 \\
    --config.dataset.video_dir=/data/UCF101 --config.init_from=/ckpt/r3d18_kinetics_flax
  python main.py --config=configs/ucf101_r3d18_finetune_hara.py --workdir=runs/ucf_r3d18 \\
    --config.dataset.video_dir=/data/UCF101 --config.data.eval_num_segments=10

Initialization: their Kinetics model, converted with `python
tools/convert_torch_checkpoint.py --arch resnet3d_18 --checkpoint resnet-18-kinetics.pth
--output /ckpt/r3d18_kinetics_flax` (its `module.` prefix is dropped; the 400-way fc is
replaced by a new 101-way one), or a run of configs/kinetics_r3d18_hara.py
(`<workdir>/checkpoints/<step>/default`); pass it as `--config.init_from`.
"""

import ml_collections

from configs import default


# Published: 84.4% top-1, ResNet-18, UCF101 3-split mean (CVPR 2018 Table 4, from memory).
def get_config() -> ml_collections.ConfigDict:
    """Hara et al.'s Kinetics 3D ResNet-18, fine-tuned on UCF101 from conv5_x up."""
    config = default.get_config()

    config.dataset.name = "ucf101"
    config.dataset.split_index = 1
    config.dataset.short_side = 240
    config.dataset.size = ()
    config.dataset.train_split = "train"
    config.dataset.eval_split = "test"

    config.data.modality = "rgb"
    config.data.num_segments = 1
    config.data.eval_num_segments = 3  # their validation: 3 clips per video
    config.data.frames_per_snippet = 16
    config.data.frame_interval = 1
    config.data.temporal_scales = ()
    config.data.short_video = "loop"
    config.data.crop_size = 112
    config.data.train_crop = "multiscale"
    config.data.scales = (1.0, 2**-0.25, 2**-0.5, 2**-0.75, 0.5)
    config.data.max_distort = 0
    config.data.crop_positions = "corners"
    config.data.flip = True
    config.data.eval_resize_short = 112
    config.data.eval_crops = "centre"
    config.data.mean = (114.7748, 107.7354, 99.4750)  # ActivityNet mean, on [0, 255]
    config.data.std = (1.0, 1.0, 1.0)

    config.model.backbone = "resnet3d_18"
    config.model.base_width = 64
    options = ml_collections.ConfigDict()
    options.shortcut_type = "A"
    options.stop_gradient_shortcut = True
    config.model.backbone_options = options
    config.model.dropout_rate = 0.0
    config.model.consensus = "avg"

    config.init_from = ""  # the converted Kinetics 3D ResNet-18, see the docstring
    config.partial_bn = "off"
    config.trainable_from = "layer4"  # conv5_x and fc

    config.batch_size = 128
    config.eval_batch_size = 32
    config.num_epochs = 200.0
    config.optimizer.learning_rate = 1e-4  # the paper's 0.001 with SGD dampening 0.9
    config.optimizer.lr_base_batch_size = 0
    config.optimizer.schedule = "plateau"  # on the evaluation loss, every epoch
    config.optimizer.plateau_factor = 0.1
    config.optimizer.plateau_patience = 10
    config.optimizer.warmup_epochs = 0.0
    config.optimizer.momentum = 0.9
    config.optimizer.weight_decay = 1e-5
    config.optimizer.clip_grad_norm = 0.0
    config.optimizer.lr_decay_epochs = (50.0, 100.0, 150.0)  # schedule='step' only
    config.optimizer.lr_decay_factor = 0.1
    config.optimizer.lr_multipliers = ()
    config.optimizer.weight_decay_multipliers = (".*=1",)  # every parameter, as theirs
    config.optimizer.label_smoothing = 0.0

    config.log_every_steps = 20
    config.eval_every_steps = 74  # one epoch: 9537 // 128
    config.checkpoint_every_steps = 74
    return config
