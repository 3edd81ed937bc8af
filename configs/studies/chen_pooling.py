"""Chen et al.: temporal pooling, which hurts temporal models and helps TSN; Phi and Psi.

Chen, Panda, Ramakrishnan, Feris, Cohn, Oliva and Fan, "Deep Analysis of CNN-based
Spatio-temporal Representations for Action Recognition", CVPR 2021, Sec. 6.1 ("Temporal
Pooling", Fig. 6: the accuracy gain of each model with temporal pooling over the same model
without) and Sec. 6.3, Table 7 (Phi, and Psi^ta and Psi^{ta+tp}: the temporal improvement
over TSN without temporal pooling of each model without and with it), on InceptionV1
and ResNet18. Uniform sampling, one test clip (Sec. 5, 6.1); the video-level test (3
crops x 2 clips, Sec. 6.2) is reported beside it. The paper's findings: temporal pooling
hurts every model except TSN, which gains on Mini-SSV2 (more than 20 points) and loses a
little on Mini-Kinetics; Psi^{ta+tp} is below Psi^ta for every model, and negative on
Mini-Kinetics; Phi is near 1 on Mini-Kinetics and near 0.5 on Mini-SSV2.

On the demo data (`_chen_demo.chen_config`), scaled to fit 45 minutes on 2 CPU cores:
- the demo's appearance classes stand for Mini-Kinetics and its order classes for
  Mini-SSV2 (one render holds both; the paper's figures are printed by class group in
  the Phi / Psi table; Fig. 6 is only plotted);
- 4 frames, standing for the paper's 8 (it trains 8 to 64); temporal pooling halves
  the frames after layer1-3 of the 2D ResNet-18 or after the first three spatial pools
  of the 2D InceptionV1 (max over 3 segments, stride 2), by the temporal strides of
  layers 2-4 (I3D-ResNet18) or of conv1 and the 4a and 5a pools (I3D-InceptionV1,
  DeepMind's layout; Chen et al.'s code strides three max pools instead): 4 frames
  become 1 in every model;
- networks at a quarter of their width, trained from scratch, 32 epochs, 48 x 48 crops;
  the 2D InceptionV1 under He's initialization (`_chen_demo.GOOGLENET_INIT`: under
  torchvision's it learned little from scratch), and I3D-InceptionV1's
  BatchNorm at PyTorch's momentum 0.1 as in Chen et al.'s code (`I3D_BN_MOMENTUM`:
  DeepMind's 0.001 leaves the running averages near their start after 480 steps); TSM
  only on ResNet-18 (the paper has no TSM-InceptionV1);
- one seed unless `--seeds` says otherwise.
"""

import itertools

from configs.studies import _chen_demo
from tsn_jax.studies import Cell, Contribution, Finding, Study, notes_from

FRAMES = 4
ARCHITECTURES = {"InceptionV1": ("TSN", "I3D", "TAM"), "ResNet18": ("TSN", "I3D", "TAM", "TSM")}
POOLING = {False: "w/o temporal pooling", True: "with temporal pooling (-tp)"}
SHORT = {"InceptionV1": "inc", "ResNet18": "r18"}


def column(backbone: str, architecture: str) -> str:
    return f"{backbone}: {architecture}"


def row(pool: bool, evaluation: str) -> str:
    return f"{POOLING[pool]}, {_chen_demo.TESTS[evaluation]}"


def get_study() -> Study:
    """Fig. 6 as runs (7 models, each with and without temporal pooling) and Table 7's
    Phi, Psi^ta and Psi^{ta+tp}, all over TSN without temporal pooling (clip level)."""
    runs, cells = {}, {}
    for pool, (backbone, archs) in itertools.product(POOLING, ARCHITECTURES.items()):
        for arch in archs:
            name = f"{arch.lower()}_{SHORT[backbone]}{'_tp' if pool else ''}"
            runs[name] = {
                **_chen_demo.model_overrides(arch, backbone, temporal_pool=pool),
                "data.num_segments": FRAMES,
            }
            for evaluation in _chen_demo.TESTS:
                cells[(row(pool, evaluation), column(backbone, arch))] = Cell(
                    (name,), evaluation=evaluation
                )
    tsn = row(False, "")
    contributions = tuple(
        Contribution(
            arch,
            measure,
            tuple(
                ((tsn, column(b, "TSN")), (row(pool, ""), column(b, arch)))
                for b, archs in ARCHITECTURES.items()
                if arch in archs
            ),
            _chen_demo.TABLE_7.get((arch, measure), {}),
        )  # fmt: skip
        for measure, pool in (("ta", False), ("ta+tp", True))
        for arch in ("I3D", "TAM", "TSM")
    )
    findings = tuple(
        Finding(
            f"{b}: temporal pooling hurts {arch}",
            (tsn, column(b, arch)),
            (row(True, ""), column(b, arch)),
        )  # fmt: skip
        for b, archs in ARCHITECTURES.items()
        for arch in archs
        if arch != "TSN"
    ) + tuple(
        Finding(
            f"{b}: temporal pooling helps TSN on the order classes (Mini-SSV2)",
            (row(True, ""), column(b, "TSN")),
            (tsn, column(b, "TSN")),
            "order",
        )  # fmt: skip
        for b in ARCHITECTURES
    )
    return Study(
        name="chen_pooling",
        title="Chen et al.: the effect of temporal pooling (CVPR 2021 Fig. 6, Table 7) on the "
        "demo videos",
        citation="Chen et al., CVPR 2021, Sec. 6.1 and 6.3, Fig. 6 and Table 7 (Eq. 1)",
        base_config=_chen_demo.chen_config,
        runs=runs,
        rows=tuple(row(p, e) for p in POOLING for e in _chen_demo.TESTS),
        columns=tuple(column(b, a) for b, archs in ARCHITECTURES.items() for a in archs),
        cells=cells,
        findings=findings,
        notes=notes_from(__doc__),
        contributions=contributions,
        evaluations={"video": _chen_demo.VIDEO_LEVEL},
    )
