"""TSN, optical-flow stream, BN-Inception, UCF101 split 1 (Wang et al., ECCV 2016 / TPAMI 2018).

The temporal network of "Temporal Segment Networks: Towards Good Practices for Deep Action
Recognition" (ECCV 2016; TPAMI 2018): K = 3 segments, each a stack of 5 consecutive TV-L1
flow fields (10 channels: x and y), a shared BN-Inception whose first convolution is
initialized from the RGB ImageNet model by averaging its kernel over the colour channels
and replicating it over the 10 inputs (cross-modality pre-training), average consensus.

Published: 89.8% (optical-flow stream, TSN with K = 3, average consensus, mean over the
three UCF101 splits; TPAMI 2018 Table 4, row K = 3, and Table 3, "Segment based sampling
(TSN)"). The split-1 TSN figures of ECCV 2016 Tables 4-5 are not legible in the paper text
at hand. Split 1 without TSN: 87.2% (TPAMI Table 1, "+ Partial BN with dropout"). Another
source: 87.7% "Avg. Acc." (TV-L1, split 1) in open-mmlab/mmaction MODEL_ZOO.md
(configs/ucf101/tsn_flow_bninception.py).

Recipe: ECCV 2016 Sec. 4.1: batch 256, momentum 0.9, learning rate 0.005 divided by 10
after 12,000 and 18,000 iterations, stop at 20,000; TV-L1 flow; Sec. 3.2: cross-modality
pre-training (flow discretized to 0..255 by a linear map, the first kernel averaged over
RGB and replicated over the flow channels), partial BN, dropout 0.7 for the temporal
network, corner cropping and scale jittering on 340x256 flow fields. What the papers do not
give comes from the public Caffe solver (yjxiong/temporal-segment-networks,
models/ucf101/tsn_bn_inception_flow_solver.prototxt before commit c0249f1, Sept. 2016:
base_lr 0.005, multistep 12000 / 18000, max_iter 20000, momentum 0.9, weight_decay 5e-4,
clip_gradients 20) and its prototxts:

- flow computed at build time with TV-L1 (`dataset.flow_method='tvl1'`) on the 340x256
  frames and quantized as TSN's extractor does (bound 20, 0..255);
- 5 flow fields per snippet (`frames_per_snippet=5`; TPAMI Sec. 3.2: "5 frames for Optical
  Flow");
- corner cropping with the paper's scale jittering, crop width and height each from
  {256, 224, 192, 168} (`max_distort=3`), resized to 224, flip (x flow negated on flipped
  samples);
- input = plane - 128, no division (prototxt `mean_value: 128`; tsn-pytorch
  `input_mean=[128]`, `input_std=[1]`);
- dropout 0.7 (ECCV Sec. 3.2), partial BN as the papers word it (statistics of every
  BatchNorm but the first frozen: `partial_bn='stats_only'`; tsn-pytorch's, with scale
  and shift frozen too: `--config.partial_bn=frozen`), the gradient norm clipped at 20
  (solver);
- per-layer rates of the prototxt (not in the papers): the first convolution x5 (kernel)
  and x10 (bias), BatchNorm x1, other biases x2 without decay; weight decay 5e-4 on kernels;
- learning rate 0.005, x0.1 after 12000 and 18000 iterations, stop at 20000.

Iterations -> epochs: UCF101 split 1 has 9537 training videos, an epoch of tsn_jax/runner.py is
9537 // 256 = 37 steps (last partial batch dropped). 12000 / 37 = 324.32 and
18000 / 37 = 486.49 epochs for the decays, 20000 / 37 = 540.54 epochs (exactly 20000 steps)
for the end. In passes over the data (37.25 iterations each): 322.1, 483.2 and 536.9.

Other schedules (not the default): TPAMI 2018 Sec. 5.2 keeps 0.005, 12,000 / 18,000 and
20,000 iterations but with batch 128 (`--config.batch_size=128 --config.num_epochs=270.27
--config.optimizer.lr_decay_epochs='(162.16, 243.24)'`, 74 steps an epoch) and K = 7
(`--config.data.num_segments=7`); the Caffe solver after its fix uses batch 128, steps
10000 / 16000, max 18000 (`--config.batch_size=128 --config.num_epochs=243.243
--config.optimizer.lr_decay_epochs='(135.135, 216.216)'`); the epoch schedule of mmaction
(batch 256, lr 0.005) and tsn-pytorch (README: batch 128, lr 0.001, clip 20): decays at
epochs 190 and 300, 340 epochs (`--config.num_epochs=340
--config.optimizer.lr_decay_epochs='(190.0, 300.0)'`). The public code's augmentation
(the flow prototxt's `scale_ratios` (1, .875, .75) with `max_distort: 1` and
`more_fix_crop`): `--config.data.scales='(1.0, 0.875, 0.75)' --config.data.max_distort=1
--config.data.crop_positions=more_fixed`.

Testing (tools/eval_net.py): 25 flow stacks, 10 crops each (corners, centre, mirrors with x
flow inverted), scores averaged before the softmax, mean class accuracy reported. Here:
`eval.num_segments=25` stacks at the segment centres x `eval.crops='ten'` (mirrored
views negate x), logits averaged; training uses 3 segments:

  python main.py --config=configs/ucf101_tsn_bninception_flow.py --workdir=runs/ucf101_flow \\
    --config.dataset.video_dir=/data/UCF101 --config.init.checkpoint=/ckpt/bninception_flax

Flow extracted ahead of time (tsn-jax-extract-flow into raw-frame folders) works too:
`--config.dataset.name=rawframes --config.dataset.flow_method=stored` (README, "Preparing
datasets"). TV-L1 at build time is slow on CPUs (385 ms per 340x256 pair measured on 2
cores).

Initialization: the RGB ImageNet BN-Inception, converted once with `python
tsn-jax-convert --arch bninception --checkpoint bn_inception-52deb4733.pth
--output /ckpt/bninception_flax` (pretrainedmodels' port of the Caffe model) and passed as
`--config.init.checkpoint=/ckpt/bninception_flax`; tsn_jax/pretrained.py turns its 3-channel
first kernel into the 10-channel one (cross-modality pre-training) when it loads it.

What differs from the papers, and why:
- our TV-L1 is OpenCV's (opencv-contrib) on the stored 340x256 frames, TSN's the dense_flow
  tool's (GPU TV-L1); the quantization is the same;
- weight decay, gradient clipping and per-layer rates are the Caffe solver's (the papers
  give none);
- dropout 0.7 is the ECCV text's; the TPAMI text gives 0.8 for both streams
  (`--config.model.dropout_rate=0.8`);
- test snippets at segment centres instead of eval_net.py's ticks from frame 1.
"""

import ml_collections

from configs import base

# UCF101 split 1 and the paper's batch: 9537 // 256 = 37 steps an epoch in tsn_jax/runner.py.
_TRAIN_VIDEOS = 9537
_BATCH_SIZE = 256
_STEPS_PER_EPOCH = _TRAIN_VIDEOS // _BATCH_SIZE


# Published: 89.8% (TPAMI 2018 Table 4, K = 3, 3 splits); mmaction MODEL_ZOO: 87.7% (split 1).
def get_config() -> ml_collections.ConfigDict:
    """TSN optical flow, BN-Inception, UCF101 split 1, ECCV 2016 schedule."""
    config = base.get_config()

    config.dataset.name = "ucf101"
    config.dataset.size = (256, 340)  # (height, width): TSN's 340x256 frames
    config.dataset.flow_method = "tvl1"
    config.dataset.flow_types = ("flow",)
    config.dataset.eval_split = "test"

    config.data.modality = "flow"
    config.data.num_segments = 3
    config.eval.num_segments = 25  # TSN tests on 25 snippets
    config.data.frames_per_snippet = 5  # 5 x/y fields = 10 input channels
    config.data.crop_size = 224
    config.data.train_crop = "multiscale"
    # The paper's scale jittering: width and height each of 256, 224, 192, 168 (any pair).
    config.data.scales = (1.0, 0.875, 0.75, 0.65625)
    config.data.max_distort = 3
    config.data.crop_positions = "corners"
    config.data.flip = True
    config.eval.resize_short = 256
    config.eval.crops = "ten"
    config.data.flow_mean = (128.0, 128.0)
    config.data.flow_std = (1.0, 1.0)

    config.model.backbone = "bninception"
    config.model.base_width = 64
    config.model.backbone_options = ml_collections.ConfigDict()
    config.model.dropout_rate = 0.7
    config.model.consensus = "avg"

    config.init.checkpoint = ""  # the converted RGB ImageNet BN-Inception, see the docstring
    config.partial_bn = "stats_only"  # the papers' partial BN; tsn-pytorch: frozen

    config.batch_size = _BATCH_SIZE
    config.eval.batch_size = 8
    config.num_epochs = 20000 / _STEPS_PER_EPOCH  # 540.54 epochs = 20000 iterations
    config.optimizer.learning_rate = 0.005
    config.optimizer.lr_base_batch_size = 0
    config.optimizer.schedule = "step"
    config.optimizer.warmup_epochs = 0.0
    config.optimizer.momentum = 0.9
    config.optimizer.weight_decay = 5e-4
    config.optimizer.clip_grad_norm = 20.0
    config.optimizer.lr_decay_epochs = (12000 / _STEPS_PER_EPOCH, 18000 / _STEPS_PER_EPOCH)
    config.optimizer.lr_decay_factor = 0.1
    # Caffe lr_mult: first convolution 5 / 10, BatchNorm 1, other biases 2, kernels 1.
    config.optimizer.lr_multipliers = (
        "^backbone/conv1_7x7_s2/kernel=5",
        "^backbone/conv1_7x7_s2/bias=10",
        "_bn/=1",
        "bias$=2",
    )
    config.optimizer.weight_decay_multipliers = ()  # kernels 1, biases and BatchNorm 0
    config.optimizer.label_smoothing = 0.0

    config.log_every_steps = 20
    config.checkpoint_every_steps = 1000
    return config
