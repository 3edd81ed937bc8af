"""3D ResNet-18 trained from scratch on Kinetics-400 (Hara et al., ICPR 2018).

Hara, Kataoka and Satoh, "Towards Good Practice for Action Recognition with
Spatiotemporal 3D Convolutions" (ICPR 2018; /work/shared/papers/hara_3d_good_practice.txt;
code kenshohara/3D-ResNets-PyTorch): the 3D ResNet-18 of Table I trained from scratch on
Kinetics with each of five data augmentation configurations (Sec. IV-A, Fig. 1).

Published, Table II (ResNet-18, Kinetics validation set, top-1 / top-5 / their average):

  variant (`--config=configs/kinetics_r3d18_hara.py:<variant>`)   top-1  top-5  average
  spatial_center                                                  52.3   76.9   64.6
  spatial_random                                                  55.3   78.9   67.1
  multiscale_spatial_random (the default, the paper's best)       57.0   80.3   68.7
  multiscale_spatial_corner                                       53.2   77.2   65.2
  multiscale_spatiotemporal_random                                56.2   79.6   67.9

Each variant sets `data.augmentation` to its name and the keys that implement it
(tsn_jax/spec.py `AUGMENTATIONS`; a mismatch is an error at load time):
- spatial_center: the centre square of the short side (`train_crop='centre'`,
  `scales=(1.0,)`);
- spatial_random: the short-side square at a uniformly random position
  (`train_crop='multiscale'`, `scales=(1.0,)`, `crop_positions='random'`);
- multiscale_spatial_random: a square of side s x short side, s uniform in {1, 2^-1/4,
  2^-1/2, 2^-3/4, 1/2}, at a uniformly random position (`scales` those five);
- multiscale_spatial_corner: the same sides at one of the 4 corners or the centre
  (`crop_positions='exact_corners'`: the corners touch the frame's edges, unlike TSN's
  quarter grid `'corners'`);
- multiscale_spatiotemporal_random: multiscale_spatial_random, and a window of s_t x 16
  frames, s_t uniform in {3, 2, 1, 1/2, 1/3}, resampled to 16 frames by nearest neighbour
  (`temporal_scales`: frame t of the clip is floor(t x s_t) frames after its start).
Every crop is square (`max_distort=0`) and resized to 112; one 16-frame clip per video
at a uniformly random start (Sec. III-B1), looped when the video is shorter
(`short_video='loop'`); horizontal flip with probability 1/2; inputs in [0, 255] minus
the Kinetics mean, divided by the Kinetics standard deviation (Sec. III-B1; the values
are not in the paper: their code's mean.py of the time, commit 2dc675d, "Kinetics (10
videos for each class)").

Recipe (Sec. III-B1): SGD with momentum 0.9, weight decay 1e-3, batch 128, learning rate
0.03 divided by 10 "after the validation loss does not improve during 10 epochs", 250
epochs, cross-entropy. Here:
- reduce-on-plateau: `schedule='plateau'`, factor 0.1, `plateau_patience=10` as PyTorch's
  ReduceLROnPlateau(patience=10) of their main.py counts (the rate drops at the 11th
  evaluation without a lower loss; PyTorch documents its patience as "the number of
  allowed epochs with no improvement", the paper's phrase); `plateau_patience=9` drops
  at the 10th. An evaluation every epoch: `eval_every_steps=1875` = 240,000 // 128 (the
  paper's "about 240,000" training videos; the clips you can still download vary: the
  first log line says "N steps (M per epoch)", set `--config.eval_every_steps=M`).
- weight decay on every parameter (`weight_decay_multipliers=('.*=1',)`), as PyTorch's
  SGD `weight_decay` of their code; the paper does not say.
- Their code of the time (main.py, opts.py of Jan. 2018) ran SGD with dampening 0.9 by
  default (until Oct. 2018): PyTorch then accumulates buf = 0.9 buf + 0.1 g, so the
  paper's 0.03 took the steps of 0.003 without dampening. optax has no dampening; the
  paper's text is the default here, their code's steps are
  `--config.optimizer.learning_rate=0.003` (the paper does not say which it used).
- Videos stored with the short side at 240 (`dataset.short_side=240`); the paper resized
  the height to 240 (Sec. V-A), the same for landscape videos.

Architecture (Table I, Sec. III-A): `resnet3d_18`, conv1 7x7x7 stride 1 (T) 2 (XY), 3x3x3
max pool stride 2, BasicBlocks x [2, 2, 2, 2], stride 2 in T and XY at conv3_1, conv4_1,
conv5_1, identity shortcuts with zero padding (type A), global average pool, fc; every
convolution followed by BatchNorm and ReLU; no dropout. The type-A shortcut passes
gradients as He et al.'s; their code detaches it (`out.data`):
`--config.model.backbone_options.stop_gradient_shortcut=True`.

Test (Sec. III-B2), used by every evaluation of the run: each video split into
non-overlapping 16-frame windows (`eval.sampling='windows'`; the last window loop
padded within itself, as their LoopPadding), each window the centre square of the full
short side resized to 112 (`eval.resize_short=0`), the windows' softmax
probabilities averaged (`eval.fusion='prob'`). Their test code instead resized the short
side to 112 and cropped the centre 112 x 112 (`--config.eval.resize_short=112`: the
same region up to rounding). The per-epoch validation loss of the schedule is the loss
of these fused video scores (the paper does not say how its validation loss is taken; a
Kinetics video has 15-19 windows, so a validation pass costs about half a training
epoch; their code validated on 3 clips a video:
`--config.eval.sampling=segments --config.eval.num_segments=3`).

  python main.py --config=configs/kinetics_r3d18_hara.py --workdir=runs/k400_r3d18 \\
    --config.dataset.video_dir=/data/kinetics400
  python main.py --config=configs/kinetics_r3d18_hara.py:spatial_center \\
    --workdir=runs/k400_r3d18_center --config.dataset.video_dir=/data/kinetics400

Initialization: none (trained from scratch, `init.checkpoint=''`). Kinetics data: the annotation
CSVs and the clips under `video_dir` (README, "Preparing datasets", `name='kinetics'`).
"""

import ml_collections

from configs import base
from tsn_jax.spec import AUGMENTATIONS

VARIANTS = tuple(AUGMENTATIONS)
# Their code's mean.py (commit 2dc675d): Kinetics mean and standard deviation on [0, 255].
KINETICS_MEAN = (110.63666788, 103.16065604, 96.29023126)
KINETICS_STD = (38.7568578, 37.88248729, 40.02898126)


def hara_data(
    config: ml_collections.ConfigDict, augmentation: str, variants_of: str
) -> ml_collections.ConfigDict:
    """Hara et al.'s sampling, augmentation, normalization and test (ICPR 2018, Sec. III-B).

    Shared by this config and configs/ucf101_r3d18_finetune_hara.py (`variants_of`
    names the config file in the error for an unknown `augmentation`).
    """
    if augmentation not in AUGMENTATIONS:
        raise ValueError(f"configs/{variants_of}.py: variant must be one of {VARIANTS}")
    data = config.data
    test = config.eval
    data.modality = "rgb"
    data.num_segments = 1
    test.num_segments = 0
    data.frames_per_snippet = 16
    data.frame_interval = 1
    data.short_video = "loop"
    data.crop_size = 112
    data.crop_positions = "random"
    data.update(AUGMENTATIONS[augmentation])
    data.augmentation = augmentation
    data.flip = True
    test.sampling = "windows"
    test.resize_short = 0  # the centre square of the short side, resized to 112
    test.crops = "centre"
    data.mean = KINETICS_MEAN
    data.std = KINETICS_STD
    config.eval.fusion = "prob"

    config.model.backbone = "resnet3d_18"
    config.model.base_width = 64
    options = ml_collections.ConfigDict()
    options.shortcut_type = "A"
    options.stop_gradient_shortcut = False  # He et al.'s type A; their code: True
    config.model.backbone_options = options
    config.model.dropout_rate = 0.0
    config.model.consensus = "avg"

    config.batch_size = 128
    config.eval.batch_size = 32
    config.optimizer.lr_base_batch_size = 0
    config.optimizer.schedule = "plateau"  # on the validation loss, every epoch
    config.optimizer.plateau_factor = 0.1
    config.optimizer.plateau_patience = 10
    config.optimizer.warmup_epochs = 0.0
    config.optimizer.momentum = 0.9
    config.optimizer.weight_decay = 1e-3
    config.optimizer.clip_grad_norm = 0.0
    config.optimizer.lr_multipliers = ()
    config.optimizer.weight_decay_multipliers = (".*=1",)  # every parameter, as theirs
    config.optimizer.label_smoothing = 0.0
    return config


# Published: 57.0% top-1, 80.3% top-5, ResNet-18, multiscale_spatial_random, Kinetics
# validation (ICPR 2018, Table II; the other variants in the docstring).
def get_config(augmentation: str = "multiscale_spatial_random") -> ml_collections.ConfigDict:
    """Hara et al.'s 3D ResNet-18 from scratch on Kinetics-400; variant: the augmentation."""
    config = hara_data(base.get_config(), augmentation, "kinetics_r3d18_hara")

    config.dataset.name = "kinetics"
    config.dataset.short_side = 240
    config.dataset.size = ()
    config.dataset.train_split = "train"
    config.dataset.eval_split = "validation"

    config.init.checkpoint = ""  # from scratch
    config.partial_bn = "off"
    config.trainable_from = ""

    config.num_epochs = 250.0
    config.optimizer.learning_rate = 0.03

    config.log_every_steps = 100
    config.eval_every_steps = 1875  # ~ one epoch: 240,000 clips // 128
    config.checkpoint_every_steps = 1875
    return config
