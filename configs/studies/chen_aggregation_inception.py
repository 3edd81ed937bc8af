"""Chen et al.: TSN, I3D and TAM on InceptionV1 under uniform sampling, at 8 frames.

Chen, Panda, Ramakrishnan, Feris, Cohn, Oliva and Fan, "Deep Analysis of CNN-based
Spatio-temporal Representations for Action Recognition", CVPR 2021, Sec. 6.3, Table 5's
InceptionV1 columns (temporal aggregation without temporal pooling, f = 8 and 16 frames,
Mini-SSV2 and Mini-Kinetics) and Table 7 (the spatial contribution Phi and temporal
improvement Psi^ta of Eq. 1 over TSN, averaged over backbones and frame counts). Every
model takes K frames by uniform sampling (one frame from each of K equal segments) and
is tested on one clip (Sec. 5, 6.1); the video-level test (3 crops x 2 clips, Sec. 6.2)
is reported beside it. The paper's InceptionV1 figures: on Mini-SSV2 TSN ("None") scores
33.1 / 34.7 (f = 8 / 16), I3D 56.4 / 61.8 and TAM 59.7 / 63.9, so both beat TSN by
23.3-29.2 points and TAM beats I3D by 2.1-3.3; on Mini-Kinetics TSN scores 70.4 / 70.5,
I3D 68.1 / 70.9 and TAM 68.8 at f = 8; Phi is near 1 on Mini-Kinetics and near 0.5 on
Mini-SSV2.

On the demo data (`_chen_demo.chen_config`), scaled to fit 45 minutes on 2 CPU cores:
- as in `chen_aggregation.py` (Table 5 on ResNet-18), the demo's appearance classes
  stand for Mini-Kinetics and its order classes for Mini-SSV2, whose figures are printed
  by class group in the Phi / Psi table, and 8 frames for the paper's 16;
- the paper's f = 8 is the demo's 4 frames, whose InceptionV1 runs are `chen_pooling.py`'s
  without temporal pooling (Fig. 6): the two studies together hold Table 5's InceptionV1
  columns at both frame counts (I3D-InceptionV1 trained for 8 min 43 s at 4 frames in
  `chen_pooling` (seed 2) and 15 min 42 s at 8 here (seed 2); this study's seed 0: 23 min 15 s);
- the 2D InceptionV1 is torchvision's GoogLeNet under He's initialization
  (`_chen_demo.GOOGLENET_INIT`), I3D-InceptionV1 DeepMind's layout with BatchNorm at
  PyTorch's momentum 0.1 (`_chen_demo.I3D_BN_MOMENTUM`); from scratch the GoogLeNet can
  sit at chance for 100-300 steps, for as long as the draw decides (docs/studies.md), so
  one seed says little here;
- Table 5's "Conv." column (on InceptionV1, Xie et al.'s S3D, `s3d`) is not run: a
  second 3D InceptionV1 does not fit the 45 minutes beside I3D, and Chen et al.'s
  S3D-ResNet18 did not train from scratch in this recipe (`chen_aggregation.py`);
- networks at a quarter of their width, trained from scratch (the paper inflates or
  starts from ImageNet weights and trains 8-frame models first, Sec. 5), 32 epochs,
  48 x 48 crops;
- one seed unless `--seeds` says otherwise.
"""

from configs.studies import _chen_demo
from tsn_jax.studies import Study


def get_study() -> Study:
    """Table 5 on InceptionV1 (8 frames x 3 models), Table 7's Phi and Psi^ta."""
    return _chen_demo.aggregation_study(
        "chen_aggregation_inception", "InceptionV1", ("TSN", "I3D", "TAM"), (8,), __doc__
    )
