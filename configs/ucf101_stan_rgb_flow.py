"""STAN, frame + flow streams (early fusion), UCF101 split 1 (Li et al., IEEE TMM 2019).

"Unified Spatio-Temporal Attention Networks for Action Recognition in Videos" (Dong Li,
Ting Yao, Ling-Yu Duan, Tao Mei, Yong Rui; IEEE Transactions on Multimedia 21(2), 2019).
The model (tsn_jax/models/stan.py): per segment, a frame stream (VGG-16 on one RGB
frame) and a flow stream (VGG-16 on 10 stacked TV-L1 flow fields, 20 channels) each put
a 3x3, 1024-channel conv6 on their pool5 map and pool its 7x7 local descriptors with a
spatial attention cell; the two 1024-d segment vectors are concatenated, an LSTM with
1024 hidden units runs over the segments, a temporal attention cell pools its outputs,
then dropout and the classifier. The clip stream (C3D on 16 frames) of the paper's full
model is added from the command line (below).

Published: NOT retrieved. Neither the paper's text nor its tables (the UCF101 / HMDB51
results by stream and fusion, and the comparison Table with the state of the art) could
be read while writing this file, so no accuracy is quoted here; look it up in the paper
before comparing. No public implementation of STAN was found either.

For the same reason, the training hyperparameters below are NOT the paper's: they are
our choice, taken from TSN's published UCF101 recipes for the same input types (TSN,
Wang et al.: 340x256 frames, multi-scale corner crops to 224, flip with x flow negated,
5 / 10 flow fields, SGD with momentum 0.9, weight decay 5e-4, gradient clipping) with
the hyperparameters a recurrent head over segments needs:

- K = 8 segments: TSN's 3 would give the LSTM and the temporal attention 3 steps;
- 10 flow fields per segment (the stream the issue and the paper describe: "10 stacked
  fields"), quantized TV-L1 as TSN stores it, normalized as tsn-pytorch's VGG flow
  input (mean 128, std 1 on the 0..255 planes);
- lr 0.001 (TSN's RGB fine-tuning rate), x0.1 at epochs 30 and 60, 80 epochs, batch 64,
  clip the gradient norm at 40, dropout 0.5 before the classifier;
- the two VGG-16 streams start from ImageNet (`model.stan.init_from`, the flow stream's
  first kernel by TSN's cross-modality initialization), conv6, attention and LSTM from
  scratch; the LSTM, attention cells and classifier learn at 10x the backbone's rate
  (`lr_multipliers`), as fine-tuning a pretrained trunk under a new head usually does.

Testing: 25 segments (the LSTM runs over any count) x 10 crops (corners + centre and
mirrors, x flow negated), logits averaged before the softmax.

  python tools/convert_torch_checkpoint.py --arch vgg16 --checkpoint vgg16-397923af.pth \\
    --output /ckpt/vgg16_flax
  python main.py --config=configs/ucf101_stan_rgb_flow.py --workdir=runs/ucf101_stan \\
    --config.dataset.video_dir=/data/UCF101 \\
    --config.model.stan.init_from='("frame=/ckpt/vgg16_flax", "flow=/ckpt/vgg16_flax")'

Three streams: add `--config.data.extra_modalities='("flow:10", "rgb:16")'
--config.model.stan.streams='("frame", "flow", "clip")'
--config.model.stan.stream_inputs='("inputs", "inputs_flow", "inputs_rgb")'`, the
Sports-1M C3D converted to `/ckpt/c3d_flax` (`--arch mmaction2_c3d` on mmaction2's
Sports-1M C3D, README "Importing weights")
and `clip=/ckpt/c3d_flax` in `model.stan.init_from` (the three-stream model's shapes,
attention maps and fusions are tested in tests/test_stan.py, its initialization from
VGG-16 and C3D in tests/test_pretrained.py). The clip stream reads the same
224-pixel crops as the others (C3D's pool5 is then 7x7, not the 4x4 of its 112-pixel
inputs), since a batch has one crop size. Late fusion (one LSTM, temporal attention and
classifier per stream, weighted sum of scores): `--config.model.stan.fusion=late`.
"""

import ml_collections

from configs import default


# Published: not retrieved (see the docstring); hyperparameters are ours, not the paper's.
def get_config() -> ml_collections.ConfigDict:
    """STAN on UCF101 split 1, frame + flow streams, early fusion."""
    config = default.get_config()

    config.dataset.name = "ucf101"
    config.dataset.size = (256, 340)  # (height, width): TSN's 340x256 frames
    config.dataset.flow_method = "tvl1"
    config.dataset.flow_types = ("flow",)
    config.dataset.eval_split = "test"

    config.data.modality = "rgb"
    config.data.frames_per_snippet = 1
    config.data.extra_modalities = ("flow:10",)
    config.data.num_segments = 8
    config.data.eval_num_segments = 25
    config.data.crop_size = 224
    config.data.train_crop = "multiscale"
    config.data.scales = (1.0, 0.875, 0.75, 0.66)
    config.data.max_distort = 1
    config.data.crop_positions = "corners"
    config.data.flip = True
    config.data.eval_resize_short = 256
    config.data.eval_crops = "ten"
    config.data.flow_mean = (128.0, 128.0)
    config.data.flow_std = (1.0, 1.0)

    config.model.architecture = "stan"
    config.model.base_width = 64
    config.model.dropout_rate = 0.5
    config.model.stan.streams = ("frame", "flow")
    config.model.stan.stream_inputs = ("inputs", "inputs_flow")
    config.model.stan.fusion = "early"
    config.model.stan.conv6_features = 1024
    config.model.stan.lstm_features = 1024
    config.model.stan.init_from = ()  # ('frame=/ckpt/vgg16_flax', 'flow=...'), see above

    config.batch_size = 64
    config.eval_batch_size = 4
    config.num_epochs = 80
    config.optimizer.learning_rate = 0.001
    config.optimizer.lr_base_batch_size = 0
    config.optimizer.schedule = "step"
    config.optimizer.lr_decay_epochs = (30.0, 60.0)
    config.optimizer.lr_decay_factor = 0.1
    config.optimizer.warmup_epochs = 0.0
    config.optimizer.momentum = 0.9
    config.optimizer.weight_decay = 5e-4
    config.optimizer.clip_grad_norm = 40.0
    config.optimizer.lr_multipliers = ("lstm_cell/=10", "attention/=10", "^fc/=10")
    config.optimizer.label_smoothing = 0.0

    config.log_every_steps = 20
    config.checkpoint_every_steps = 1000
    return config
