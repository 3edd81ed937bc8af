"""The neutral base of every config: each key a config has, with neutral values.

Recipes (one file per published setting) and the demo (`default.py`) start from
`get_config()` and set what their paper or purpose says. Configs are loaded locked
(`ml_collections.config_flags`): a key that is not here is an error, and
`tsn_jax.config_checks.validate_config` checks the values when a config is loaded.
"""

import ml_collections


def get_config() -> ml_collections.ConfigDict:
    """Every key a config has, at neutral values; recipes set what their paper says."""
    config = ml_collections.ConfigDict()
    config.seed = 0

    # Where the videos come from (input_pipeline.datasets.get_builder).
    config.dataset = ml_collections.ConfigDict()
    # synthetic_actions (the demo: configs/default.py) | synthetic_actions_untrimmed
    # (configs/tsn_untrimmed_demo.py) | ucf101 | hmdb51 | kinetics | sthsth | rawframes
    # (tsn_jax.spec.DATASETS); a recipe must name one.
    config.dataset.name = ""
    config.dataset.data_dir = ""  # TFDS data dir; '' = $TFDS_DATA_DIR or ~/tensorflow_datasets
    config.dataset.video_dir = ""  # '' = <data_dir>/<name>_videos/<render> (the demos)
    config.dataset.split_index = 1
    config.dataset.short_side = 256  # stored frames' shorter side (None: as decoded)
    config.dataset.size = ()  # or (height, width) of every stored frame, e.g. TSN's (256, 340)
    config.dataset.fps = 0  # 0: every frame; > 0: subsample videos to this rate (untrimmed)
    config.dataset.flow_method = ""  # '' | tvl1 | farneback | dis: also store optical flow
    config.dataset.flow_types = ("flow",)  # flow and/or warp (TSN's warped flow)
    config.dataset.train_split = "train"
    config.dataset.eval_split = "test"

    # How samples are drawn and augmented (input_pipeline.pipeline).
    config.data = ml_collections.ConfigDict()
    # rgb | rgb_diff (T differences of T + 1 frames) | flow | warped_flow
    config.data.modality = "rgb"
    config.data.extra_modalities = ()  # more streams of the same snippets, e.g. ("flow:5",)
    config.data.num_segments = 3  # K
    config.data.snippet_stride = 0  # 0: TSN segments; > 0: regular sampling at this stride
    config.data.frames_per_snippet = 1  # T
    config.data.frame_interval = 1  # frames between a snippet's frames (dense 3D clips: 2, 8)
    config.data.temporal_scales = ()  # training: tau x one of these (Hara: 3, 2, 1, 1/2, 1/3)
    # Indices past the end of a short video: clamp (to N - 1) | repeat_last (the clip's last
    # in-video frame, mmaction2) | loop (modulo N, Hara, mmaction2's default).
    config.data.short_video = "clamp"
    # Where clips go: tsn (K equal segments; tests at their centres) | mmaction2 (its
    # SampleFrames: for T > 1 test clips spread from frame 0 to the last start).
    config.data.clip_sampling = "tsn"
    config.data.crop_size = 224
    # multiscale (TSN, Hara) | random_resized | random (C3D) | centre (multi-scale size, centred)
    config.data.train_crop = "multiscale"
    config.data.scales = (1.0, 0.875, 0.75, 0.66)
    config.data.max_distort = 1
    # corners (4 + centre, TSN code's quarter grid) | exact_corners | more_fixed (13) | random
    config.data.crop_positions = "corners"
    config.data.flip = True
    # '' | the name of one of Hara et al.'s five augmentation configurations, whose values
    # train_crop, scales, max_distort, crop_positions, temporal_scales must then hold
    # (tsn_jax.spec.AUGMENTATIONS; configs/kinetics_r3d18_hara.py:<name>).
    config.data.augmentation = ""
    config.data.rgb_diff_keep_rgb = False  # rgb_diff: the first frame kept before the differences
    config.data.mean = (123.675, 116.28, 103.53)  # ImageNet RGB mean on [0, 255]
    config.data.std = (58.395, 57.12, 57.375)
    # Flow planes (127.5 = no motion): tsn-pytorch's flow scale, the RGB stds' mean.
    config.data.flow_mean = (127.5, 127.5)
    config.data.flow_std = (57.375, 57.375)
    config.data.shuffle_buffer_size = 512

    # The network (tsn_jax.models.create_model).
    config.model = ml_collections.ConfigDict()
    config.model.architecture = "tsn"  # tsn | stan (Li et al.; its streams pick their backbones)
    config.model.backbone = "resnet50"
    config.model.base_width = 64  # the published width; every layer scales with it / 64
    config.model.backbone_options = ml_collections.ConfigDict()  # the backbone's keywords
    config.model.dropout_rate = 0.5
    config.model.consensus = "avg"  # avg | max | topk | weighted | attention (TSN TPAMI 3.3)
    config.model.consensus_k = 3  # k of the top-k consensus
    config.model.segments_as_clip = False  # 3D: the K snippets as one clip (Chen's uniform)
    config.model.dtype = "float32"  # | bfloat16: computation; params, BN stats, loss float32
    config.model.remat = False  # recompute each residual block in the backward pass
    # STAN (architecture='stan'): streams frame (VGG-16, RGB), flow (VGG-16, 10 fields) and
    # clip (C3D, 16 frames), each reading a batch key (data.modality -> 'inputs', each
    # data.extra_modalities entry -> 'inputs_<modality>').
    config.model.stan = ml_collections.ConfigDict()
    config.model.stan.streams = ("frame", "flow")
    config.model.stan.stream_inputs = ("inputs", "inputs_flow")
    config.model.stan.fusion = "early"  # early (concatenate, one LSTM) | late (per stream)
    config.model.stan.late_weights = ()  # late fusion: score weight per stream (default equal)
    config.model.stan.conv6_features = 1024
    config.model.stan.lstm_features = 1024
    # The clip stream's C3D pools with Caffe's ceil rule: pool5 7x7 at 224 (STAN Sec. IV);
    # False: mmaction2's padded pooling (8x8), the same weights.
    config.model.stan.clip_caffe_pooling = True
    # True: frame and flow streams are VGG-16 with BatchNorm (torchvision's vgg16_bn), not
    # in the paper; for training from scratch, as the look_inside notebook does.
    config.model.stan.vgg_batch_norm = False

    # Pretrained initialization (tsn_jax.pretrained).
    config.init = ml_collections.ConfigDict()
    # An Orbax checkpoint written by tsn-jax-convert or a tsn-jax run (a step, or a
    # workdir: its newest step), for a TSN's backbone; '' = train from scratch.
    config.init.checkpoint = ""
    # What follows the backbone (fc, learned consensus) in a tsn-jax checkpoint: keep
    # (copied when the class count is the same) | new (freshly initialized: fine-tuning
    # on other classes of the same count, as Hara et al.'s new classifier).
    config.init.classifier = "keep"
    config.init.inflation = "average"  # 2D -> 3D kernels: average (I3D) | center
    # STAN: one pretrained checkpoint per stream, 'stream=path' (ImageNet VGG-16 for frame
    # and flow, Sports-1M C3D for clip, converted by tsn-jax-convert).
    config.init.stan_streams = ()
    # Fine-tuning (tsn_jax.finetune): partial BN (TSN) and frozen early stages (Hara et al.).
    config.partial_bn = "off"  # off | frozen (TSN code: stats, scale, bias) | stats_only (paper)
    config.trainable_from = ""  # '' | first backbone module trained, e.g. layer4, Mixed_5b
    # Frozen stages' BatchNorm: fixed (running averages, untouched: Hara et al.'s text) |
    # batch (batch statistics, running averages updated: Hara et al.'s code).
    config.frozen_batch_norm = "fixed"

    # Optimization (tsn_jax.optim).
    config.batch_size = 256  # global, over all devices and processes
    # > 1: the batch runs as this many micro-batches, one update (memory / this).
    config.gradient_accumulation_steps = 1
    config.num_epochs = 50.0
    config.num_train_steps = -1  # > 0 overrides num_epochs
    config.optimizer = ml_collections.ConfigDict()
    config.optimizer.learning_rate = 0.01
    config.optimizer.lr_base_batch_size = 0  # > 0: rate x batch_size / this (linear scaling)
    config.optimizer.schedule = "step"  # step | cosine | plateau (on the eval loss, Hara)
    config.optimizer.plateau_factor = 0.1  # plateau: rate x this after ...
    config.optimizer.plateau_patience = 10  # ... more evaluations than this without improvement
    config.optimizer.warmup_epochs = 0.0  # linear warmup from 0
    config.optimizer.momentum = 0.9
    config.optimizer.weight_decay = 5e-4
    config.optimizer.clip_grad_norm = 40.0  # TSN RGB; 0 disables
    config.optimizer.lr_decay_epochs = (35.0, 45.0)  # step schedule: x decay at each
    config.optimizer.lr_decay_factor = 0.1
    # Parameter groups: 'regex=factor' on paths like 'fc/kernel' (first match wins).
    config.optimizer.lr_multipliers = ()  # TSM: ("^fc/kernel=5", "^fc/bias=10")
    config.optimizer.weight_decay_multipliers = ()  # default: kernels 1, everything else 0
    config.optimizer.label_smoothing = 0.0
    # Linear-weighting consensus: network and segment weights updated on alternate steps
    # (TSN TPAMI Sec. 3.3) | joint (both every step).
    config.optimizer.consensus_update = "alternate"

    # Evaluation: every key of the test protocol (input_pipeline's test views,
    # tsn_jax.scoring's fusion; `main.py --mode=eval`).
    config.eval = ml_collections.ConfigDict()
    config.eval.num_segments = 0  # K in evaluation (TSN: 25); 0 = num_segments
    # Short side before the test crops; 0: crops of the full short side, resized (Hara).
    config.eval.resize_short = 256
    config.eval.crops = "centre"  # centre | three (3D) | ten (TSN: 5 crops + flips)
    # Test clips: segments (eval.num_segments snippets or clips, uniform) | windows (every
    # non-overlapping T-frame window, Hara) | per_second (untrimmed: a snippet a second).
    config.eval.sampling = "segments"
    config.eval.snippets_per_second = 1.0
    config.eval.twice_sample = False  # mmaction2: also clips at the segment starts (2 views)
    config.eval.batch_size = 40  # test views per evaluation step (all devices of a process)
    config.eval.checkpoint = ""  # '' = the newest checkpoint in the workdir
    config.eval.output_dir = ""  # eval_metrics.json, scores.npz, confusion.*; '' = workdir
    config.eval.fusion = "score"  # views fused by mean logit (TSN) | prob (softmax, Hara)
    config.eval.aggregate = "mean"  # mean | mtwi (per_second sampling, TSN untrimmed)
    config.eval.mtwi_window_lengths = (1, 2, 4, 8, 16)  # seconds
    config.eval.mtwi_top_k = 0  # 0: k = max(15, ceil(windows / 4)), at most the windows
    # paper (TPAMI Sec. 4.2: floor(M / 0.8 l) windows) | tsn_code (the public code's)
    config.eval.mtwi_rule = "paper"

    # Bookkeeping.
    config.log_every_steps = 20
    config.eval_every_steps = 0  # 0 = only at the end
    config.checkpoint_every_steps = 1000
    config.keep_checkpoints = 3
    config.prefetch_to_device = 2  # batches copied to the devices ahead of the step
    return config
