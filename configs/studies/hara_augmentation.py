"""Hara et al.: five data augmentation configurations for a 3D ResNet-18 from scratch.

Hara, Kataoka and Satoh, "Towards Good Practice for Action Recognition with
Spatiotemporal 3D Convolutions", ICPR 2018, Sec. IV-A and V-B, Table II: the 3D
ResNet-18 of Table I trained from scratch on Kinetics with each configuration and
tested on its validation set. The paper's findings: spatial random cropping beats the
centre crop (55.3% vs 52.3% top-1), multi-scale cropping helps further (57.0%), corner
cropping (53.2%) and multi-scale temporal cropping (56.2%) do worse than multi-scale
spatial random cropping.

On the demo data (500 training and 100 test videos of 10 classes), scaled to fit 45
minutes on 2 CPU cores (`configs/studies/_hara_demo.py`):
- 8-frame clips of 48 x 48 (the paper: 16 of 112 x 112) from frames with the short side
  at 80; the multi-scale spatiotemporal configuration draws windows of s_t x 8 frames;
- an eighth-width network (base_width 8) whose conv1 is 3x7x7, not 7x7x7: over 8-frame
  clips a 7-frame kernel spans nearly the whole clip, and on this machine it made a
  step 1.7x slower (0.95 against 1.6 steps a second, measured 2026-12-04);
- 40 epochs at batch 32 and learning rate 0.01, divided by 10 at epochs 28 and 36 (the
  paper: 250 epochs at batch 128 from 0.03, divided by 10 when the validation loss
  stops improving for 10 epochs, which needs an evaluation every epoch); at 50 epochs
  the five runs would take about 47 minutes here;
- no horizontal flipping: a flipped MoveLeft video is a MoveRight one;
- the test as the paper's: every non-overlapping 8-frame window, the centre square of
  the short side, softmax probabilities averaged.
"""

from configs.studies import _hara_demo
from tsn_jax.spec import AUGMENTATIONS
from tsn_jax.studies import Cell, Finding, Study, notes_from

# Table II, top-1 on the Kinetics validation set.
PAPER = {
    "spatial_center": 0.523,
    "spatial_random": 0.553,
    "multiscale_spatial_random": 0.570,
    "multiscale_spatial_corner": 0.532,
    "multiscale_spatiotemporal_random": 0.562,
}
ROWS = {
    "spatial_center": "Spatial center",
    "spatial_random": "Spatial random",
    "multiscale_spatial_random": "Multi-scale spatial random",
    "multiscale_spatial_corner": "Multi-scale spatial corner",
    "multiscale_spatiotemporal_random": "Multi-scale spatiotemporal random",
}
COLUMN = "Top-1"


def get_study() -> Study:
    """Table II as runs: one per augmentation configuration (`spec.AUGMENTATIONS`)."""
    runs = {
        name: {
            "data.augmentation": name,
            **{f"data.{k}": v for k, v in AUGMENTATIONS[name].items()},
        }
        for name in ROWS
    }
    cells = {(ROWS[name], COLUMN): Cell((name,), paper=PAPER[name]) for name in ROWS}
    best = (ROWS["multiscale_spatial_random"], COLUMN)
    findings = (
        Finding("Spatial random cropping beats the centre crop",
                (ROWS["spatial_random"], COLUMN), (ROWS["spatial_center"], COLUMN)),
        Finding("Multi-scale spatial random cropping beats single-scale random cropping",
                best, (ROWS["spatial_random"], COLUMN)),
        Finding("Multi-scale random positions beat the corners and centre",
                best, (ROWS["multiscale_spatial_corner"], COLUMN)),
        Finding("Multi-scale temporal cropping does not help multi-scale spatial cropping",
                best, (ROWS["multiscale_spatiotemporal_random"], COLUMN)),
    )  # fmt: skip
    return Study(
        name="hara_augmentation",
        title="3D ResNet-18 from scratch: data augmentation (Hara et al. Table II), demo videos",
        citation="Hara et al., ICPR 2018, Sec. IV-A and V-B, Table II",
        base_config=_hara_demo.hara_config,
        runs=runs,
        rows=tuple(ROWS.values()),
        columns=(COLUMN,),
        cells=cells,
        findings=findings,
        notes=notes_from(__doc__),
    )
