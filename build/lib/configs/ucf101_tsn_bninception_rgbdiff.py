"""TSN, RGB-difference stream, BN-Inception, UCF101 split 1 (Wang et al., ECCV 2016 / TPAMI 2018).

The cheap motion stream of "Temporal Segment Networks" (ECCV 2016; TPAMI 2018): each snippet
is a stack of the differences of consecutive RGB frames, fed to a BN-Inception whose first
convolution is initialized from the RGB ImageNet model (kernel averaged over colour and
replicated over the 15 input channels); average consensus over the segments.

Published: 87.7% (RGB difference alone, TSN, mean over the three UCF101 splits; TPAMI 2018
Table 2, "RGB Diff.", TSN "Yes"; Sec. 5.3: those TSN runs use 7 segments), 84.2% without
TSN, and 91.0% for RGB + RGB difference with TSN (the same table; a two-stream fusion of
two runs, tsn-jax-fuse). The ECCV 2016 exploration study reports 87.3% for RGB
image + RGB difference on split 1 without TSN (the text on its Table 2, whose other
figures are not legible in the text at hand).

Recipe: the papers give no separate schedule for RGB difference (TPAMI Sec. 3.2: a snippet
of 5 frames for RGB difference; Sec. 3.4: cross-modality initialization, partial BN,
dropout, corner cropping and scale jittering for every modality) and the public Caffe
repository has no solver for it; the schedule follows tsn-pytorch's README command for
RGB-diff models (yjxiong/tsn-pytorch, "For RGB-diff models": `--num_segments 7 --gd 40
--lr 0.001 --lr_steps 80 160 --epochs 180 -b 128 --dropout 0.8`) and its code:

- `new_length` 5 (models.py: 5 for every non-RGB modality); dataset.py reads new_length + 1
  = 6 consecutive frames for RGBDiff and models.py `_get_diff` stacks the 5 differences:
  `frames_per_snippet=5` here (T differences of T + 1 frames);
- raw differences of [0, 255] pixels (main.py uses `IdentityTransform` instead of the
  normalization for RGBDiff): std 1 here, the mean cancels in a difference;
- the papers' scale jittering (crop width and height each from {256, 224, 192, 168},
  `max_distort=3`) on corner positions, flip; tsn-pytorch's (models.py `get_augmentation`
  for RGBDiff: scales (1, .875, .75), aspect jitter 1) is `--config.data.scales='(1.0,
  0.875, 0.75)' --config.data.max_distort=1`;
- the papers' partial BN (`partial_bn='stats_only'`: statistics of every BatchNorm but the
  first frozen); tsn-pytorch's `partialBN` also freezes their scale and shift
  (`--config.partial_bn=frozen`); dropout 0.8;
- per-layer rates of `get_optim_policies`: biases x2 without decay, BatchNorm x1 without
  decay (the first convolution gets x5/x10 only for Flow);
- batch 128, lr 0.001, x0.1 at epochs 80 and 160, 180 epochs, gradient norm clipped at 40;
- 7 segments (the README's RGB-diff command; its RGB and Flow commands use 3). For 3:
  `--config.data.num_segments=3`.

Testing: tsn-pytorch's test_models.py, 25 segments x 10 crops (mean class accuracy). Here
`eval.num_segments=25` x `eval.crops='ten'`; training uses 7 segments:

  python main.py --config=configs/ucf101_tsn_bninception_rgbdiff.py --workdir=runs/ucf_rgbdiff \\
    --config.dataset.video_dir=/data/UCF101 --config.init.checkpoint=/ckpt/bninception_flax

Initialization: `tsn-jax-convert --arch bninception --checkpoint
bn_inception-52deb4733.pth --output /ckpt/bninception_flax` (Cadene's pretrainedmodels port
of the Caffe ImageNet model), then `--config.init.checkpoint=/ckpt/bninception_flax`; the
cross-modality initialization of the 15-channel first convolution happens when it loads.

What differs from the references: the batch (128), schedule, weight decay and gradient
clipping are tsn-pytorch's, not the papers' (which give none for this stream); the batch
of 128 videos is one epoch of 9537 // 128 = 74 steps here (tsn_jax/runner.py drops the last
partial batch); the frames are those of the other TSN configs, 340x256 (tsn-pytorch reads
whatever its frame folders hold); test snippets at segment centres (test_models.py: the
same centres, `_get_test_indices`).
"""

import ml_collections

from configs import base


# Published: 87.7% (TPAMI 2018 Table 2, TSN, 3 splits); RGB + RGB diff 91.0% (same table).
def get_config() -> ml_collections.ConfigDict:
    """TSN RGB difference, BN-Inception, UCF101 split 1, tsn-pytorch's schedule."""
    config = base.get_config()

    config.dataset.name = "ucf101"
    config.dataset.size = (256, 340)  # (height, width): TSN's 340x256 frames
    config.dataset.eval_split = "test"

    config.data.modality = "rgb_diff"
    config.data.rgb_diff_keep_rgb = False
    config.data.num_segments = 7
    config.eval.num_segments = 25  # TSN tests on 25 snippets
    config.data.frames_per_snippet = 5  # 5 differences of 6 consecutive frames
    config.data.crop_size = 224
    config.data.train_crop = "multiscale"
    # The paper's scale jittering: width and height each of 256, 224, 192, 168 (any pair).
    config.data.scales = (1.0, 0.875, 0.75, 0.65625)
    config.data.max_distort = 3
    config.data.crop_positions = "corners"
    config.data.flip = True
    config.eval.resize_short = 256
    config.eval.crops = "ten"
    # Differences of raw [0, 255] values: the mean cancels, no division.
    config.data.mean = (123.0, 117.0, 104.0)
    config.data.std = (1.0, 1.0, 1.0)

    config.model.backbone = "bninception"
    config.model.base_width = 64
    config.model.backbone_options = ml_collections.ConfigDict()
    config.model.dropout_rate = 0.8
    config.model.consensus = "avg"

    config.init.checkpoint = ""  # the converted RGB ImageNet BN-Inception, see the docstring
    config.partial_bn = "stats_only"  # the papers' partial BN; tsn-pytorch: frozen

    config.batch_size = 128
    config.eval.batch_size = 8
    config.num_epochs = 180.0
    config.optimizer.learning_rate = 0.001
    config.optimizer.lr_base_batch_size = 0
    config.optimizer.schedule = "step"
    config.optimizer.warmup_epochs = 0.0
    config.optimizer.momentum = 0.9
    config.optimizer.weight_decay = 5e-4
    config.optimizer.clip_grad_norm = 40.0
    config.optimizer.lr_decay_epochs = (80.0, 160.0)
    config.optimizer.lr_decay_factor = 0.1
    config.optimizer.lr_multipliers = ("_bn/=1", "bias$=2")
    config.optimizer.weight_decay_multipliers = ()  # kernels 1, biases and BatchNorm 0
    config.optimizer.label_smoothing = 0.0

    config.log_every_steps = 20
    config.checkpoint_every_steps = 1000
    return config
