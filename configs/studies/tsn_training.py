"""TSN training strategies: pre-training, cross-modality pre-training, partial BN with dropout.

Wang et al., "Temporal Segment Networks for Action Recognition in Videos", TPAMI 2018,
Sec. 3.4 and 5.3 ("Different learning strategy"), Table 1: two-stream ConvNets without
TSN (one snippet a video) on UCF101 split 1, trained from scratch, with the spatial
stream pre-trained on ImageNet, then also with the temporal stream initialized from the
same RGB model (cross-modality pre-training: the first layer's kernel averaged over the
colour channels and replicated over the flow channels), then also with partial BN (the
mean and variance of every BatchNorm but the first frozen) and an extra dropout before
the classifier. The paper's findings: from scratch the spatial stream overfits (48.7%),
pre-training it helps most (84.1%), cross-modality pre-training lifts the temporal
stream (81.7% -> 86.6%) and the fusion (90.0% -> 91.5%), partial BN with dropout adds a
little to both (87.2%, 92.0%).

On the demo data (`configs/tsn_rgb_demo.py`'s plain TSN, ResNet-18, at quarter width),
scaled to fit 45 minutes on 2 CPU cores:
- ImageNet is a disjoint render of the demo's 10 classes (`dataset.seed=1`, 50 training
  videos a class), learned by the demo's RGB TSN (3 segments, dropout 0.5) for its 50
  epochs; its classifier is not kept (`init.classifier='new'`), as ImageNet's 1000-way
  one is not. The pretraining is not "without TSN": one frame a video with dropout 0.5
  does not learn this render reliably in 50 epochs (measured on the development
  machine: 18-21% test top-1 over 3 seeds, 12% training accuracy at step 300; such a
  run learns or stalls as the seed and the CPU's kernels decide, docs/studies.md), and
  a stand-in for ImageNet has to be a network that learned something;
- UCF101 is the demo render's first 10 training videos a class (`dataset.seed=0`, 100
  videos; its 100 test videos are the other studies'), small enough to overfit, as
  UCF101's 9.5k videos are for a from-scratch network;
- every stream trains 100 epochs (300 steps of 32 videos), divided by 10 at epochs 70
  and 90: pre-trained spatial streams from 0.001 and cross-modality temporal streams
  from 0.005 (Sec. 5.2's rates for UCF101), streams from scratch from the demo's 0.01;
- one snippet a video in training and test (Table 1 is "without TSN"): one RGB frame,
  or 5 stacked Farneback flow fields (not TV-L1) for the temporal stream;
- partial BN is the paper's (`partial_bn='stats_only'`: every BatchNorm's statistics
  but the first frozen, its scale and shift trained, Sec. 3.4); dropout 0.8 (spatial)
  and 0.7 (temporal) as the ECCV 2016 paper's Sec. 3.2 (TPAMI Sec. 3.4 gives 0.8 for
  both), none in the rows before;
- two-stream: the streams' scores averaged 1:1 (Table 4's UCF101 weights); the corner
  cropping row (the last of Table 1) is left out.
"""

import functools

from configs.studies import _tsn_demo
from tsn_jax.studies import Cell, Finding, FromRun, Study, notes_from

# The small target set and the training of every stream on it (no TSN: one snippet).
SMALL = {
    "dataset.seed": 0,
    "dataset.num_train_per_class": 10,
    "data.num_segments": 1,
    "num_epochs": 100.0,
    "optimizer.lr_decay_epochs": (70.0, 90.0),
    "model.dropout_rate": 0.0,
}
PRETRAINED = {"init.checkpoint": FromRun("pretrain_rgb"), "init.classifier": "new"}
PARTIAL_BN = {"partial_bn": "stats_only"}
RUNS = {
    "pretrain_rgb": {"dataset.seed": 1},
    "rgb_scratch": SMALL,
    "rgb_pretrained": {**SMALL, **PRETRAINED, "optimizer.learning_rate": 0.001},
    "rgb_partial_bn": {**SMALL, **PRETRAINED, **PARTIAL_BN, "optimizer.learning_rate": 0.001,
                       "model.dropout_rate": 0.8},
    "flow_scratch": {**SMALL, **_tsn_demo.FLOW},
    "flow_cross_modality": {**SMALL, **_tsn_demo.FLOW, **PRETRAINED,
                            "optimizer.learning_rate": 0.005},
    "flow_partial_bn": {**SMALL, **_tsn_demo.FLOW, **PRETRAINED, **PARTIAL_BN,
                        "optimizer.learning_rate": 0.005, "model.dropout_rate": 0.7},
}  # fmt: skip
COLUMNS = ("Spatial", "Temporal", "Two-Stream")
# Table 1's rows: (spatial run, temporal run, the paper's spatial / temporal / two-stream).
ROWS = {
    "From scratch": ("rgb_scratch", "flow_scratch", (0.487, 0.817, 0.829)),
    "Pre-train spatial": ("rgb_pretrained", "flow_scratch", (0.841, 0.817, 0.900)),
    "+ Cross modality pre-training": (
        "rgb_pretrained", "flow_cross_modality", (0.841, 0.866, 0.915)),
    "+ Partial BN with dropout": ("rgb_partial_bn", "flow_partial_bn", (0.845, 0.872, 0.920)),
}  # fmt: skip


def get_study() -> Study:
    """Table 1 as runs: an RGB pre-training run, then 3 spatial and 3 temporal streams on
    the small set, fused per row."""
    cells = {}
    for row, (spatial, temporal, paper) in ROWS.items():
        cells[(row, "Spatial")] = Cell((spatial,), paper=paper[0])
        cells[(row, "Temporal")] = Cell((temporal,), paper=paper[1])
        cells[(row, "Two-Stream")] = Cell((spatial, temporal), (1.0, 1.0), paper[2])
    scratch, spatial, cross, partial = ROWS
    claims = (  # (text, better row, worse row, column)
        ("Pre-training the spatial stream beats training it from scratch",
         spatial, scratch, "Spatial"),
        ("Cross-modality pre-training beats a temporal stream from scratch",
         cross, spatial, "Temporal"),
        ("Cross-modality pre-training improves the two-stream fusion",
         cross, spatial, "Two-Stream"),
        *((f"Partial BN with dropout improves the {stream}", partial, cross, column)
          for stream, column in (("spatial stream", "Spatial"), ("temporal stream", "Temporal"),
                                 ("two-stream fusion", "Two-Stream"))),
    )  # fmt: skip
    findings = tuple(Finding(text, (better, column), (worse, column))
                     for text, better, worse, column in claims)  # fmt: skip
    return Study(
        name="tsn_training",
        title="TSN: training strategies (TPAMI 2018 Table 1) on the demo videos",
        citation="Wang et al., TPAMI 2018, Sec. 3.4 and 5.3, Table 1",
        base_config=functools.partial(_tsn_demo.tsn_config, ("flow",)),
        runs=RUNS,
        rows=tuple(ROWS),
        columns=COLUMNS,
        cells=cells,
        findings=findings,
        notes=notes_from(__doc__),
    )
