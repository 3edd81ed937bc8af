"""Hara et al.: how many layers of a pretrained 3D ResNet-18 to fine-tune on a small set.

Hara, Kataoka and Satoh, "Towards Good Practice for Action Recognition with
Spatiotemporal 3D Convolutions", ICPR 2018, Sec. IV-B and V-B, Fig. 2: the 3D
ResNet-18 pretrained on Kinetics (multi-scale spatial random cropping), fine-tuned on
UCF-101 and HMDB-51 with the layers up to conv X frozen (">convX": every layer above
conv X trained; "All": the whole network), a new classifier, a learning rate a
hundredth of the from-scratch one. The paper's finding: fine-tuning the layers above
conv4 (conv5_x and fc) is the best on both datasets except HMDB-51 split 1, better
than fine-tuning all layers. Fig. 2's accuracies are only plotted, not printed, so
the table has no paper figures.

On the demo data, scaled to fit 45 minutes on 2 CPU cores (`configs/studies/
_hara_demo.py`: 8-frame clips of 48 x 48, an eighth-width network with a 3x7x7 conv1):
- Kinetics is a disjoint render of the same 10 classes (`dataset.seed=1`, 50 training
  videos a class), trained as `hara_augmentation`'s multi-scale spatial random run (40
  epochs);
- UCF-101 is the demo render's first 10 training videos a class (`dataset.seed=0`,
  100 videos; its 100 test videos are the other studies'), where a 3D ResNet-18 has
  much more capacity than data, as on UCF-101 in the paper;
- a new classifier (`init.classifier='new'`: the pretrained one already knows these
  classes, unlike Kinetics' for UCF-101's), 100 epochs as the paper's fine-tuning, at
  batch 32 and a learning rate of 0.001, a tenth of the from-scratch one (the paper: a
  hundredth, reduced on plateaus of the validation loss, over 100 epochs of 9.5k
  videos; here 300 steps), divided by 10 at epochs 70 and 90;
- the frozen layers' BatchNorm layers keep their pretrained running averages
  (`frozen_batch_norm='fixed'`, the paper's "frozen");
- one more row, the same network trained from scratch on the small set with the
  from-scratch rate, shows what the pretraining is worth.
"""

import functools

from configs.studies import _hara_demo
from tsn_jax.studies import Cell, Finding, FromRun, Study, notes_from

COLUMN = "Top-1"
# Fig. 2's x axis -> config.trainable_from (tsn_jax/finetune.py: the paper's stage names).
EXTENTS = {
    "All": "conv1",
    ">conv1": "conv2_x",
    ">conv2": "conv3_x",
    ">conv3": "conv4_x",
    ">conv4": "conv5_x",
    ">conv5": "fc",
}
# The small target set: the demo render's first 10 training videos a class.
SMALL = {"dataset.seed": 0, "dataset.num_train_per_class": 10}
FINE_TUNE = {
    **SMALL,
    "init.classifier": "new",
    "num_epochs": 100.0,
    "optimizer.learning_rate": 0.001,
    "optimizer.lr_decay_epochs": (70.0, 90.0),
}


def get_study() -> Study:
    """Fig. 2 as runs: a pretraining run, one fine-tuning run per extent, and the
    network trained from scratch on the small set."""
    runs = {"pretrain": {"dataset.seed": 1}}
    for first in EXTENTS.values():
        runs[f"finetune_{first}"] = {
            **FINE_TUNE, "init.checkpoint": FromRun("pretrain"), "trainable_from": first,
        }  # fmt: skip
    runs["scratch"] = {**SMALL, "num_epochs": 100.0, "optimizer.lr_decay_epochs": (70.0, 90.0)}
    rows = {f"Fine-tuned {label}": f"finetune_{first}" for label, first in EXTENTS.items()}
    rows["From scratch (no pretraining)"] = "scratch"
    cells = {(row, COLUMN): Cell((run,)) for row, run in rows.items()}
    best = ("Fine-tuned >conv4", COLUMN)
    findings = (
        Finding("Fine-tuning above conv4 beats fine-tuning all layers",
                best, ("Fine-tuned All", COLUMN)),
        Finding("Fine-tuning above conv4 beats training the classifier alone (>conv5)",
                best, ("Fine-tuned >conv5", COLUMN)),
        Finding("Fine-tuning above conv4 beats training from scratch on the small set",
                best, ("From scratch (no pretraining)", COLUMN)),
    )  # fmt: skip
    return Study(
        name="hara_finetuning",
        title="3D ResNet-18: fine-tuned layers (Hara et al. Fig. 2), demo videos",
        citation="Hara et al., ICPR 2018, Sec. IV-B and V-B, Fig. 2",
        base_config=functools.partial(_hara_demo.hara_config, "multiscale_spatial_random"),
        runs=runs,
        rows=tuple(rows),
        columns=(COLUMN,),
        cells=cells,
        findings=findings,
        notes=notes_from(__doc__),
    )
