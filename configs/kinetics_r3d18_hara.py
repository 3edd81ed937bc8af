"""3D ResNet-18 trained from scratch on Kinetics-400 (Hara et al., CVPR 2018).

Hara, Kataoka and Satoh, "Can Spatiotemporal 3D CNNs Retrace the History of 2D CNNs and
ImageNet?" (CVPR 2018; code kenshohara/3D-ResNets-PyTorch): the 3D ResNet-18 of their
models/resnet.py (`resnet3d_18`: 7x7x7 conv1 with temporal stride 1, 3x3x3 basic blocks,
type-A shortcuts, no dropout) on 16-frame 112x112 clips, trained from scratch.

Published: 54.2% top-1 on the Kinetics-400 validation set for ResNet-18 (CVPR 2018,
Table 3) -- from memory, NOT checked against the paper's text (only abstracts could be
retrieved while writing this file).

Recipe, from the code of the time (the CVPR 2018 arXiv version, Nov. 2017; commit d755343,
Jan. 2018, opts.py and main.py), the paper's text as we recall it where the code is silent:
- frames extracted with the height at 240 (utils/video_jpg_kinetics.py, `scale=-1:240`);
- one training clip of 16 consecutive frames at a random position, looped when the video
  is shorter (TemporalRandomCrop / LoopPadding; `short_video='loop'`);
- multi-scale corner cropping (`train_crop` default 'corner', MultiScaleCornerCrop): a
  square of side `scale x short side` with scale in {1, 2^-1/4, 2^-1/2, 2^-3/4, 1/2}
  (`n_scales` 5, `scale_step` 0.84089641525), at one of the 4 corners or the centre, no
  aspect jitter (`max_distort=0`), resized to 112; horizontal flip;
- inputs in [0, 255] minus the ActivityNet mean (114.7748, 107.7354, 99.4750), no division
  (`norm_value` 1, `mean_dataset` 'activitynet', mean subtraction only);
- SGD, momentum 0.9, weight decay 1e-3 on every parameter (`model.parameters()`), rate 0.1,
  divided by 10 when the validation loss plateaus: ReduceLROnPlateau(patience 10) stepped
  on the validation loss after every epoch, 200 epochs (`n_epochs`);
- validation on `n_val_samples` 3 clips of 16 frames per video, centre crops;
- batch 128 (opts.py default and the README's training command; a batch of 256 is sometimes
  quoted for these papers but could not be verified here).

Here:
- Reduce-on-plateau: `schedule='plateau'`, the rate x0.1 (`plateau_factor`) after more
  than 10 evaluations (`plateau_patience`) without a lower evaluation loss, with an
  evaluation every epoch. `eval_every_steps` counts steps: 1875 = 240,000 // 128, about one
  epoch of Kinetics-400 (the clips you can still download vary; the first log line says
  "N steps (M per epoch)", set `--config.eval_every_steps=M`). The evaluation uses 3
  evenly spaced clips per video (`eval_num_segments=3`, logits averaged; theirs averages
  the loss over the 3 clips).
- Dampening: their SGD used dampening = momentum = 0.9 (main.py of the first commit,
  a4cf3de; the `--dampening` option added in Dec. 2017 kept 0.9 as default until Oct.
  2018). PyTorch then accumulates buf = 0.9 buf + 0.1 (g + wd p), so a rate of 0.1 with
  dampening 0.9 takes the same steps as a rate of 0.01 without it (after the first step).
  optax has no dampening: learning_rate = 0.01 here is their 0.1 (reduce-on-plateau scales
  both alike).
- Without per-epoch evaluations (cheaper): the multi-step schedule the repository later made
  its default, x0.1 at epochs 50, 100 and 150 of 200 (opts.py `--multistep_milestones 50
  100 150`): `--config.optimizer.schedule=step --config.eval_every_steps=0`
  (`lr_decay_epochs` is set below).

Type-A shortcuts: their `downsample_basic_block` concatenates `out.data`, i.e. no gradient
through the shortcut; `stop_gradient_shortcut=True` reproduces that.

Testing (their test.py): every video split into non-overlapping 16-frame windows, each
window's centre 112x112 crop after resizing the short side to 112, class probabilities
averaged over the windows. The training run's evaluations (validation for the plateau
schedule and the final one) use the 3 clips above; the paper's test is an evaluation of
the finished run with `data.eval_sampling='windows'` (the last window loop-padded within
itself, as their LoopPadding) and `eval.fusion='prob'` (softmax per window, mean):

  python main.py --config=configs/kinetics_r3d18_hara.py --workdir=runs/k400_r3d18 \\
    --config.dataset.video_dir=/data/kinetics400
  python main.py --config=configs/kinetics_r3d18_hara.py --workdir=runs/k400_r3d18 \\
    --config.dataset.video_dir=/data/kinetics400 --mode=eval \\
    --config.data.eval_sampling=windows --config.eval.fusion=prob \\
    --config.eval.output_dir=runs/k400_r3d18/windows

(A 10 s Kinetics clip at 25-30 fps holds 15-19 windows of 16 frames.)

Initialization: none (trained from scratch, `init_from=''`). Kinetics data: the annotation
CSVs and the clips under `video_dir` (README, "Preparing datasets", `name='kinetics'`).
"""

import ml_collections

from configs import default


# Published: 54.2% top-1, ResNet-18, Kinetics-400 val (CVPR 2018 Table 3, from memory).
def get_config() -> ml_collections.ConfigDict:
    """Hara et al.'s 3D ResNet-18 from scratch on Kinetics-400."""
    config = default.get_config()

    config.dataset.name = "kinetics"
    config.dataset.short_side = 240
    config.dataset.size = ()
    config.dataset.train_split = "train"
    config.dataset.eval_split = "validation"

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
    config.model.dropout_rate = 0.0  # their ResNet has no dropout
    config.model.consensus = "avg"

    config.init_from = ""  # from scratch
    config.partial_bn = "off"
    config.trainable_from = ""

    config.batch_size = 128
    config.eval_batch_size = 32
    config.num_epochs = 200.0
    config.optimizer.learning_rate = 0.01  # their 0.1 with SGD dampening 0.9
    config.optimizer.lr_base_batch_size = 0
    config.optimizer.schedule = "plateau"  # on the evaluation loss, every epoch
    config.optimizer.plateau_factor = 0.1
    config.optimizer.plateau_patience = 10
    config.optimizer.warmup_epochs = 0.0
    config.optimizer.momentum = 0.9
    config.optimizer.weight_decay = 1e-3
    config.optimizer.clip_grad_norm = 0.0
    config.optimizer.lr_decay_epochs = (50.0, 100.0, 150.0)  # schedule='step' only
    config.optimizer.lr_decay_factor = 0.1
    config.optimizer.lr_multipliers = ()
    config.optimizer.weight_decay_multipliers = (".*=1",)  # every parameter, as theirs
    config.optimizer.label_smoothing = 0.0

    config.log_every_steps = 100
    config.eval_every_steps = 1875  # ~ one epoch: 240,000 clips // 128
    config.checkpoint_every_steps = 1875
    return config
