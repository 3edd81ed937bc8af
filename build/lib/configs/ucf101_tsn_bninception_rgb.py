"""TSN, RGB stream, BN-Inception, UCF101 split 1 (Wang et al., ECCV 2016 / TPAMI 2018).

The spatial network of "Temporal Segment Networks: Towards Good Practices for Deep Action
Recognition" (ECCV 2016; journal version "Temporal Segment Networks for Action Recognition
in Videos", TPAMI 2018): K = 3 segments of one RGB frame, a shared BN-Inception, average
consensus of the snippet scores, cross-entropy on the video-level score.

Published: 86.5% (RGB stream, TSN with K = 3 segments, average consensus, mean over the
three UCF101 splits; TPAMI 2018 Table 4, row K = 3, and Table 3, "Segment based sampling
(TSN)"). The papers' split-1 TSN figures (ECCV 2016 Tables 4-5) are not legible in the
paper text at hand, so none is quoted. Split 1 without TSN (one snippet), with the same
good practices: 84.5% (TPAMI Table 1, "+ Partial BN with dropout"). Reproduction by another
source: 86.4% "Avg. Acc." on split 1, open-mmlab/mmaction MODEL_ZOO.md (UCF-101 split-1
table, configs/ucf101/tsn_rgb_bninception.py).

Recipe: ECCV 2016 Sec. 4.1 (Datasets and Implementation Details): mini-batch SGD, batch
256, momentum 0.9, ImageNet initialization, learning rate 0.001 divided by 10 every 2,000
iterations, stop at 4,500 iterations; Sec. 3.1: K = 3; Sec. 3.2: partial BN, dropout 0.8
for the spatial network, corner cropping and scale jittering, horizontal flips. What the
papers do not give comes from the public Caffe solver (yjxiong/temporal-segment-networks,
models/ucf101/tsn_bn_inception_rgb_solver.prototxt before commit c0249f1 "adapt to Caffe
fix", Sept. 2016: base_lr 0.001, stepsize 2000, max_iter 4500, momentum 0.9, weight_decay
5e-4, clip_gradients 40) and its train_val prototxt (per-layer lr_mult / decay_mult):

- ImageNet BN-Inception, partial BN as the papers word it (ECCV Sec. 3.2, TPAMI Sec. 3.4:
  the mean and variance of every BatchNorm layer but the first are frozen:
  `partial_bn='stats_only'`; tsn-pytorch's `partialBN`, which also freezes their scale and
  shift, is `--config.partial_bn=frozen`), dropout 0.8 before the new classifier;
- 3 segments, one frame each, frames stored at 340x256 (`dataset.size`), corner cropping
  (4 corners + centre) with the paper's scale jittering: crop width and height each drawn
  from {256, 224, 192, 168} (`scales` = those over 256, `max_distort=3`: any pair), resized
  to 224, horizontal flip;
- per-layer rates of the Caffe prototxt (not in the papers): biases x2 with no weight
  decay, BatchNorm x1 with no decay, kernels x1 with decay 5e-4 (`lr_multipliers` below,
  `weight_decay_multipliers` default); gradient norm clipped at 40 (solver, not in the
  papers);
- learning rate 0.001, x0.1 every 2000 iterations, stop at 4500 iterations.

Iterations -> epochs (this trainer counts epochs): UCF101 split 1 has 9537 training videos;
tsn_jax/runner.py drops the last partial batch, so an epoch is 9537 // 256 = 37 steps. Decays at
2000 and 4000 iterations = 2000 / 37 = 54.05 and 4000 / 37 = 108.11 epochs; the end at
4500 iterations = 4500 / 37 = 121.62 epochs (exactly 4500 steps). Counted in passes over
the data (9537 / 256 = 37.25 iterations each) that is 53.7, 107.4 and 120.8 passes.

Other published schedules (none the default here):
- TPAMI 2018 Sec. 5.2: batch 128, 0.001 divided by 10 every 1,500 iterations, stop at
  3,500 (also the Caffe solver after the fix of Sept. 2016): `--config.batch_size=128
  --config.num_epochs=47.297 --config.optimizer.lr_decay_epochs='(20.27, 40.54)'` (74
  steps an epoch); K = 7, the TPAMI setting after Table 4 (Sec. 5.4):
  `--config.data.num_segments=7`;
- the epoch schedule of tsn-pytorch (README: batch 128, lr_steps 30 60, 80 epochs) and of
  mmaction (batch 256, same epochs): `--config.num_epochs=80
  --config.optimizer.lr_decay_epochs='(30.0, 60.0)'`;
- the public code's augmentation (the Caffe layer's `max_distort: 1`, `more_fix_crop:
  true`; tsn-pytorch's and mmaction2's MultiScaleCrop): `--config.data.max_distort=1
  --config.data.scales='(1.0, 0.875, 0.75, 0.66)' --config.data.crop_positions=more_fixed`.

Testing (tools/eval_net.py of the same repository): 25 frames evenly spaced, each through
10 crops (4 corners + centre of the 340x256 frame, and their mirrors), class scores
averaged over crops and frames before the softmax; it reports the mean class accuracy
(`mean_class_accuracy` in metrics.json). Here: `eval.num_segments=25` snippets at the
segment centres, each through `eval.crops='ten'`, logits averaged (training uses the 3
segments of `data.num_segments`; with average consensus the weights do not depend on K):

  python main.py --config=configs/ucf101_tsn_bninception_rgb.py --workdir=runs/ucf101_rgb \\
    --config.dataset.video_dir=/data/UCF101 --config.init.checkpoint=/ckpt/bninception_flax

Initialization: convert the ImageNet BN-Inception of Cadene's `pretrainedmodels`
(http://data.lip6.fr/cadene/pretrainedmodels/bn_inception-52deb4733.pth, a PyTorch port of
the Caffe ImageNet model) with `tsn-jax-convert --arch bninception
--checkpoint bn_inception-52deb4733.pth --bgr_to_rgb --output /ckpt/bninception_flax` and pass
`--config.init.checkpoint=/ckpt/bninception_flax`. Left '' here so that the file runs anywhere.
Channel order: the Caffe model (and pretrainedmodels' port, `input_space='BGR'`) expects
BGR frames in [0, 255] minus a per-channel mean, std 1; this pipeline decodes RGB, so
`--bgr_to_rgb` reverses the input channels of the first convolution at conversion
(`convert_torch.bgr_to_rgb`: the same outputs on RGB frames as the original on BGR), and
the Caffe mean (B, G, R) = (104, 117, 123) is given in RGB order with std 1.

What differs from the papers, and why:
- weight decay, gradient clipping and per-layer rates: not in the papers, taken from the
  Caffe solver and prototxt (above);
- test snippets sit at segment centres, eval_net.py's at frames 1 + i * ((L - 1) // 24)
  (the papers: "25 RGB frames" without positions);
- the ECCV text gives the spatial stream dropout 0.8 and the temporal 0.7; the TPAMI text
  one ratio, 0.8, for both.
"""

import ml_collections

from configs import base

# UCF101 split 1 and the paper's batch: 9537 // 256 = 37 steps an epoch in tsn_jax/runner.py.
_TRAIN_VIDEOS = 9537
_BATCH_SIZE = 256
_STEPS_PER_EPOCH = _TRAIN_VIDEOS // _BATCH_SIZE


# Published: 86.5% (TPAMI 2018 Table 4, K = 3, 3 splits); mmaction MODEL_ZOO: 86.4% (split 1).
def get_config() -> ml_collections.ConfigDict:
    """TSN RGB, BN-Inception, UCF101 split 1, ECCV 2016 schedule."""
    config = base.get_config()

    config.dataset.name = "ucf101"
    config.dataset.size = (256, 340)  # (height, width): TSN's 340x256 frames
    config.dataset.eval_split = "test"

    config.data.modality = "rgb"
    config.data.num_segments = 3
    config.eval.num_segments = 25  # TSN tests on 25 snippets
    config.data.frames_per_snippet = 1
    config.data.crop_size = 224
    config.data.train_crop = "multiscale"
    # The paper's scale jittering: width and height each of 256, 224, 192, 168 (any pair).
    config.data.scales = (1.0, 0.875, 0.75, 0.65625)
    config.data.max_distort = 3
    config.data.crop_positions = "corners"
    config.data.flip = True
    config.eval.resize_short = 256  # frames are already 256 high: crops of the frame
    config.eval.crops = "ten"
    # Caffe's mean (B, G, R) = (104, 117, 123), here in RGB order; no division.
    config.data.mean = (123.0, 117.0, 104.0)
    config.data.std = (1.0, 1.0, 1.0)

    config.model.backbone = "bninception"
    config.model.base_width = 64
    config.model.backbone_options = ml_collections.ConfigDict()
    config.model.dropout_rate = 0.8
    config.model.consensus = "avg"

    config.init.checkpoint = ""  # the converted ImageNet BN-Inception, see the docstring
    config.partial_bn = "stats_only"  # the papers' partial BN; tsn-pytorch: frozen

    config.batch_size = _BATCH_SIZE
    config.eval.batch_size = 8  # 8 videos x 25 snippets x 10 crops per evaluation step
    config.num_epochs = 4500 / _STEPS_PER_EPOCH  # 121.62 epochs = 4500 iterations
    config.optimizer.learning_rate = 0.001
    config.optimizer.lr_base_batch_size = 0
    config.optimizer.schedule = "step"
    config.optimizer.warmup_epochs = 0.0
    config.optimizer.momentum = 0.9
    config.optimizer.weight_decay = 5e-4
    config.optimizer.clip_grad_norm = 40.0
    config.optimizer.lr_decay_epochs = (2000 / _STEPS_PER_EPOCH, 4000 / _STEPS_PER_EPOCH)
    config.optimizer.lr_decay_factor = 0.1
    # Caffe lr_mult: BatchNorm 1, every other bias (convolutions, fc) 2, kernels 1.
    config.optimizer.lr_multipliers = ("_bn/=1", "bias$=2")
    config.optimizer.weight_decay_multipliers = ()  # kernels 1, biases and BatchNorm 0
    config.optimizer.label_smoothing = 0.0

    config.log_every_steps = 20
    config.checkpoint_every_steps = 500
    return config
