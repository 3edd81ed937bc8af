"""Chen et al.: the non-local column of Table 5 (TSN, TAM and TSN with non-local blocks).

Chen, Panda, Ramakrishnan, Feris, Cohn, Oliva and Fan, "Deep Analysis of CNN-based
Spatio-temporal Representations for Action Recognition", CVPR 2021, Sec. 6.3, Table 5's
NLN column (TSN-ResNet50 with Wang et al.'s non-local blocks in stages 2 and 3, no
temporal pooling, f = 8 and 16 frames) and Table 7's Phi and Psi^ta of Eq. 1 over TSN.
Uniform sampling, one test clip (Sec. 5, 6.1); the video-level test (3 crops x 2 clips,
Sec. 6.2) is reported beside it. The paper's ResNet50 figures (f = 8 / 16): on Mini-SSV2
TSN ("None") 33.9 / 35.3, NLN 53.0 / 55.0 and TAM 65.4 / 68.6; on Mini-Kinetics TSN
72.1 / 72.5, NLN 73.7 / 74.5 and TAM 74.1 / 76.4. Its reading: TAM and TSM beat the NLN
module, which "does not perform as expected on Mini-SSV2", possibly because it matches
spatial features between frames, which are weak there.

On the demo data (`_chen_demo.chen_config`), scaled to fit 45 minutes on 2 CPU cores:
- a study of its own beside `chen_aggregation.py` (Table 5 on ResNet-18), which with two
  more runs a seed would pass 45 minutes; its TSN and TAM runs are that study's under
  the same configs, trained again here so that each finding pairs runs of one study;
- non-local blocks after the first residual block of layer2 and of layer3 of the
  quarter-width ResNet-18 (`_chen_demo.NON_LOCAL`: every other block, as mmaction2's
  non-local ResNet-50 configs place 2 in layer2 and 3 in layer3), embedded Gaussian with
  phi and g max-pooled 2x2 and unscaled dot products as those configs;
- the demo's appearance classes stand for Mini-Kinetics and its order classes for
  Mini-SSV2 (their figures by class group are in the Phi / Psi table), 4 and 8 frames for
  the paper's 8 and 16;
- networks trained from scratch (the paper starts from ImageNet weights, Sec. 5), 32
  epochs, 48 x 48 crops;
- one seed unless `--seeds` says otherwise.
"""

from configs.studies import _chen_demo
from tsn_jax.studies import Study


def get_study() -> Study:
    """Table 5's NLN column on ResNet-18 with TSN and TAM (2 frame counts x 3 models),
    Table 7's Phi and Psi^ta."""
    return _chen_demo.aggregation_study(
        "chen_aggregation_nonlocal", "ResNet18", ("TSN", "TAM", "NLN"), (4, 8), __doc__
    )
