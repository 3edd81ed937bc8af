"""Chen et al.: TSN, I3D, Conv., TAM and TSM under uniform sampling, two frame counts.

Chen, Panda, Ramakrishnan, Feris, Cohn, Oliva and Fan, "Deep Analysis of CNN-based
Spatio-temporal Representations for Action Recognition", CVPR 2021, Sec. 6.3, Table 5
(temporal aggregation without temporal pooling, f = 8 and 16 frames, Mini-SSV2 and
Mini-Kinetics) and Table 7 (the spatial contribution Phi and temporal improvement
Psi^ta of Eq. 1 over TSN, averaged over backbones and frame counts). Every model takes
K frames by uniform sampling (one frame from each of K equal segments) and is tested on
one clip (Sec. 5, 6.1); the video-level test (3 crops x 2 clips, Sec. 6.2) is reported
beside it. The paper's findings: on Mini-SSV2 every temporal model beats TSN by 19-33
points; on Mini-Kinetics they are between 2.3 points below and 3.9 above it (TAM and TSM
on ResNet50: 2.0-3.9 above), which the paper still reads as temporal modelling being
needed; TAM and TSM beat I3D and the 1D convolution ("Conv.") under uniform sampling;
and Phi is near 1 on Mini-Kinetics (0.96-0.97) but near 0.5 on Mini-SSV2, where Psi^ta
is 0.45-0.47.

On the demo data (`_chen_demo.chen_config`), scaled to fit 45 minutes on 2 CPU cores:
- the demo's appearance classes stand for Mini-Kinetics and its order classes (left vs
  right, grow vs shrink, A-then-B vs B-then-A) for Mini-SSV2: one render holds both, so
  the table's top-1 mixes them, and the paper's figures (per dataset) are printed only
  in the Phi / Psi table, by class group;
- 4 and 8 frames stand for the paper's 8 and 16 (the demo videos have 6-40 frames, 23 on
  average);
- one backbone, ResNet-18, for ResNet50 (the paper's Table 5 has InceptionV1 and
  ResNet50, its Fig. 4 and Table 7 ResNet18 too); `chen_aggregation_inception.py` and
  `chen_pooling.py` hold Table 5's InceptionV1 columns (8 and 4 frames: both backbones in
  one study would take it past 45 minutes); "Conv." is Chen et al.'s S3D-ResNet18
  (`s3d_resnet18`); Table 5's NLN column is `chen_aggregation_nonlocal.py`'s;
- networks at a quarter of their width, trained from scratch (the paper inflates or
  starts from ImageNet weights and trains 8-frame models first, Sec. 5), 32 epochs,
  48 x 48 crops; I3D-ResNet18 is their code's layout (`i3d_resnet18`);
- one seed unless `--seeds` says otherwise.
"""

from configs.studies import _chen_demo
from tsn_jax.studies import Study


def get_study() -> Study:
    """Table 5 on ResNet-18 (2 frame counts x 5 models), Table 7's Phi and Psi^ta."""
    return _chen_demo.aggregation_study(
        "chen_aggregation", "ResNet18", ("TSN", "I3D", "Conv.", "TAM", "TSM"), (4, 8), __doc__
    )
