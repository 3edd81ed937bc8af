"""STAN, frame + flow streams (early fusion), UCF101 split 1 (Li et al., IEEE TMM 2019).

"Unified Spatio-Temporal Attention Networks for Action Recognition in Videos" (Dong Li,
Ting Yao, Ling-Yu Duan, Tao Mei, Yong Rui; IEEE Transactions on Multimedia 21(2), 2019;
full text in shared/papers/stan_li_tmm2019.txt). The model (tsn_jax/models/stan.py):
per segment, a frame stream (VGG-16 on one RGB frame) and a flow stream (VGG-16 on 10
stacked TV-L1 flow fields, 20 channels) each put conv6 (3x3, stride 1, 1024 filters) on
their 7x7x512 pool5 map and pool its 49 local descriptors with a spatial AttCell
(Eqs. 1-5); the two 1024-d segment vectors are concatenated (Eq. 6, 2048-d), an LSTM
with 1024 hidden units runs over the segments, the temporal AttCell scores its outputs
(Eq. 7) and pools the concatenated segment vectors (Eq. 8), then dropout and the
softmax classifier. The clip stream (C3D on 16 frames) of the three-stream model is
added from the command line (below).

Published (UCF101 top-1; test: 25 uniformly sampled frames / flow stacks / clips per
video, Sec. V-A, each through 10 crops, corners and centre with their flips, scores
averaged over the crops, Sec. V-E):

- Table IV (mean over the three splits): STAN frame 82.8%, optical flow 88.2%, frame +
  flow (this config) 92.8%, frame + flow + clip 93.6%. Table VII repeats 92.8% for
  frame + flow on pool5 (K = 7).
- Split 1 (this config's split): Table II, frame + flow, STAN early fusion 91.6%, late
  fusion 91.2%; Table III, three streams, early 93.2%, late 92.7%; Table I, single
  streams, STAN frame 81.5%, flow 86.6%, clip 85.0%. Sec. V-B says its runs use a linear
  SVM as the classifier and does not say how many crops Tables I-III test, so compare a
  run of this config (softmax classifier, 10 crops) with Table IV first.

Recipe, Sec. IV ("Implementations") unless marked:

- streams: VGG-16 pretrained on ImageNet for frame and flow; C3D pretrained on Sports-1M
  (16 consecutive frames) for clip; 224x224 inputs, pool5 7x7x512 in all three streams
  (C3D with Caffe's pooling rule, see tsn_jax/models/c3d.py); 10 consecutive TV-L1 flow
  fields discretized to [0, 255] by a linear transform;
- conv6 with 1,024 filters, an LSTM with 1,024 hidden states (trained by BPTT), every
  layer above pool5 trained from scratch, dropout before the softmax layer; the network is
  trained end to end (Sec. IV: "trained in an end-to-end manner"), so the backbones are
  fine-tuned too, at the same rate (the paper names no per-layer rates);
- SGD with momentum 0.9, mini-batch 128, learning rate 1e-3 divided by 10 every 4,000
  iterations, 15,000 iterations in all;
- T = 25 segments ("we ... set the number T to 25", Sec. V-F), in training (Algorithm 1)
  and in testing.

Iterations -> this trainer's epochs: UCF101 split 1 has 9537 training videos and the runner
drops the last partial batch, so an epoch is 9537 // 128 = 74 steps; the decays at 4,000,
8,000 and 12,000 iterations are at 4000 / 74 = 54.05, 108.11 and 162.16 epochs (exactly
those steps), and `num_train_steps=15000` stops at 15,000.

Not stated in the paper (our choices, marked as such): the dropout rate (0.5); weight
decay (5e-4 on kernels, VGG-16's and TSN's value) and no gradient clipping; the training
augmentation (TSN's: 340x256 frames, multi-scale corner crops to 224, horizontal flip
with the x flow negated); the flow input scale (the pipeline's default flow_mean/std,
which puts the [0, 255] planes on the scale of the RGB input the converted torchvision
VGG-16 expects); how the 20-channel first layer of the flow VGG-16 is initialized (TSN's
cross-modality initialization, tsn_jax/pretrained.py); ReLU after conv6 and the
late-fusion weights (tsn_jax/models/stan.py).

  tsn-jax-convert --arch vgg16 --checkpoint vgg16-397923af.pth \\
    --output /ckpt/vgg16_flax
  python main.py --config=configs/ucf101_stan_rgb_flow.py --workdir=runs/ucf101_stan \\
    --config.dataset.video_dir=/data/UCF101 \\
    --config.init.stan_streams='("frame=/ckpt/vgg16_flax", "flow=/ckpt/vgg16_flax")'

Three streams (Table III / the 93.6% of Table IV): add
`--config.data.extra_modalities='("flow:10", "rgb:16")'
--config.model.stan.streams='("frame", "flow", "clip")'
--config.model.stan.stream_inputs='("inputs", "inputs_flow", "inputs_rgb")'`, the
Sports-1M C3D converted to `/ckpt/c3d_flax` (`--arch mmaction2_c3d` on mmaction2's
Sports-1M C3D, README "Importing weights") and `clip=/ckpt/c3d_flax` in
`init.stan_streams` (the three-stream model's shapes, attention maps and fusions are
tested in tests/test_stan.py, its initialization from VGG-16 and C3D in
tests/test_pretrained.py). The clip stream reads the same 224-pixel crops as the others
(C3D was trained on 112-pixel crops; Sec. IV feeds it 224x224 frames) and, as one RGB
normalization serves every RGB stream of a batch, the frame stream's ImageNet mean/std
rather than the mean mmaction2's C3D was trained with. Late fusion (one LSTM, temporal
attention and classifier per stream, weighted sum of scores, Tables II-III "LF"):
`--config.model.stan.fusion=late`.
"""

import ml_collections

from configs import base

# UCF101 split 1 and the paper's batch: 9537 // 128 = 74 steps an epoch in tsn_jax/runner.py.
_TRAIN_VIDEOS = 9537
_BATCH_SIZE = 128
_STEPS_PER_EPOCH = _TRAIN_VIDEOS // _BATCH_SIZE


# Published: 92.8% frame+flow, 93.6% +clip (Table IV, 3 splits); split 1 91.6% (Table II).
def get_config() -> ml_collections.ConfigDict:
    """STAN on UCF101 split 1, frame + flow streams, early fusion, Sec. IV recipe."""
    config = base.get_config()

    config.dataset.name = "ucf101"
    config.dataset.size = (256, 340)  # (height, width): TSN's 340x256 frames (ours)
    config.dataset.flow_method = "tvl1"
    config.dataset.flow_types = ("flow",)
    config.dataset.eval_split = "test"

    config.data.modality = "rgb"
    config.data.frames_per_snippet = 1
    config.data.extra_modalities = ("flow:10",)
    config.data.num_segments = 25  # T, Sec. V-F
    config.eval.num_segments = 25  # Sec. V-A
    config.data.crop_size = 224
    config.data.train_crop = "multiscale"  # augmentation: TSN's (ours)
    config.data.scales = (1.0, 0.875, 0.75, 0.66)
    config.data.max_distort = 1
    config.data.crop_positions = "corners"
    config.data.flip = True
    config.eval.resize_short = 256
    config.eval.crops = "ten"  # Sec. V-E

    config.model.architecture = "stan"
    config.model.base_width = 64
    config.model.dropout_rate = 0.5  # rate not given (Sec. IV names the layer)
    config.model.stan.streams = ("frame", "flow")
    config.model.stan.stream_inputs = ("inputs", "inputs_flow")
    config.model.stan.fusion = "early"
    config.model.stan.conv6_features = 1024
    config.model.stan.lstm_features = 1024
    config.init.stan_streams = ()  # ('frame=/ckpt/vgg16_flax', 'flow=...'), see above

    config.batch_size = _BATCH_SIZE
    config.eval.batch_size = 10  # views (rows of 25 segments): one video's 10 crops a step
    config.num_train_steps = 15000
    config.num_epochs = 15000 / _STEPS_PER_EPOCH  # 202.7 epochs (num_train_steps rules)
    config.optimizer.learning_rate = 1e-3
    config.optimizer.lr_base_batch_size = 0
    config.optimizer.schedule = "step"
    config.optimizer.lr_decay_epochs = tuple(n / _STEPS_PER_EPOCH for n in (4000, 8000, 12000))
    config.optimizer.lr_decay_factor = 0.1
    config.optimizer.warmup_epochs = 0.0
    config.optimizer.momentum = 0.9
    config.optimizer.weight_decay = 5e-4  # not given in the paper (ours)
    config.optimizer.clip_grad_norm = 0.0  # none mentioned
    config.optimizer.lr_multipliers = ()
    config.optimizer.label_smoothing = 0.0

    config.log_every_steps = 20
    config.checkpoint_every_steps = 1000
    return config
