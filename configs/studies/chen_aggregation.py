"""Chen et al.: temporal aggregation (TSN, TSM, TAM, I3D) under uniform sampling, Phi / Psi.

Chen, Panda, Ramakrishnan, Feris, Cohn, Oliva and Fan, "Deep Analysis of CNN-based
Spatio-temporal Representations for Action Recognition", CVPR 2021, Sec. 6.3, Table 5
(temporal aggregation without temporal pooling, InceptionV1 and ResNet50, f = 8 and 16
frames, Mini-SSV2 and Mini-Kinetics) and Table 7 (the spatial contribution Phi and
temporal improvement Psi^ta of Eq. 1 over TSN, averaged over backbones and frame
counts). Every model takes K frames by uniform sampling (one frame from each of K equal
segments) and is tested on one clip (Sec. 5, 6.1). The paper's findings: temporal
modelling is needed even on Mini-Kinetics (every temporal model beats TSN there, by
little), TAM (and TSM) beat I3D under uniform sampling, and Phi is near 1 on
Mini-Kinetics (0.96-0.97) but near 0.5 on Mini-SSV2, where Psi^ta is 0.45-0.47.

On the demo data (`_chen_demo.chen_config`), scaled to fit 45 minutes on 2 CPU cores:
- the demo's appearance classes stand for Mini-Kinetics and its order classes (left vs
  right, grow vs shrink, A-then-B vs B-then-A) for Mini-SSV2: one render holds both, so
  the table's top-1 mixes them, and the paper's figures (per dataset) are printed only
  in the Phi / Psi table, by class group;
- 4 and 8 frames stand for the paper's 8 and 16 (the demo videos have 6-40 frames, 23 on
  average);
- ResNet-18 stands for the paper's ResNet50 of Table 5 (ResNet18 is the third backbone of
  its Fig. 4 and Table 7); TSM only on ResNet-18, as Table 5 (no TSM-InceptionV1);
- networks at an eighth of their width (base_width 8), trained from scratch (the paper
  inflates or starts from ImageNet weights and trains 8-frame models first, Sec. 5), 30
  epochs, 48 x 48 crops;
- I3D-InceptionV1 is DeepMind's layout (`tsn_jax.models.i3d`) with every temporal stride
  at 1; Chen et al.'s code strides three max pools instead of conv1 (the same 8x when on,
  none here); I3D-ResNet18 is their code's layout (`i3d_resnet18`);
- one seed unless `--seeds` says otherwise.
"""

import itertools

from configs.studies import _chen_demo
from tsn_jax.studies import Cell, Contribution, Finding, Study, notes_from

# Demo frames -> the paper's frame count it stands for.
FRAMES = {4: 8, 8: 16}
ARCHITECTURES = {"InceptionV1": ("TSN", "I3D", "TAM"), "ResNet18": ("TSN", "I3D", "TAM", "TSM")}
# Table 7 (Phi, Psi^ta) by class group: Mini-Kinetics for appearance, Mini-SSV2 for order.
PAPER = {
    "I3D": {"appearance": (0.97, 0.06), "order": (0.53, 0.46)},
    "TAM": {"appearance": (0.96, 0.09), "order": (0.52, 0.47)},
}
SHORT = {"InceptionV1": "inc", "ResNet18": "r18"}


def column(backbone: str, architecture: str) -> str:
    """Table 5's column: the backbone and its temporal aggregation ('None' is TSN)."""
    return f"{backbone}: {'None' if architecture == 'TSN' else architecture}"


def get_study() -> Study:
    """Table 5 as runs (2 frame counts x 7 models), and Table 7's Phi and Psi^ta."""
    runs, cells = {}, {}
    rows = tuple(f"f={f} (paper {p})" for f, p in FRAMES.items())
    columns = tuple(column(b, a) for b, archs in ARCHITECTURES.items() for a in archs)
    for (frames, row), (backbone, archs) in itertools.product(
        zip(FRAMES, rows, strict=True), ARCHITECTURES.items()
    ):
        for arch in archs:
            name = f"{arch.lower()}_{SHORT[backbone]}_f{frames}"
            runs[name] = {
                **_chen_demo.model_overrides(arch, backbone, temporal_pool=False),
                "data.num_segments": frames,
            }
            cells[(row, column(backbone, arch))] = Cell((name,))
    contributions = tuple(
        Contribution(
            arch,
            "ta",
            tuple(
                ((row, column(b, "TSN")), (row, column(b, arch)))
                for row in rows
                for b, archs in ARCHITECTURES.items()
                if arch in archs
            ),
            PAPER.get(arch, {}),
        )  # fmt: skip
        for arch in ("I3D", "TAM", "TSM")
    )
    longest = rows[-1]
    findings = tuple(
        Finding(
            text.format(backbone=b),
            (longest, column(b, better)),
            (longest, column(b, worse)),
            metric,
        )  # fmt: skip
        for b, archs in ARCHITECTURES.items()
        for text, better, worse, metric in (
            ("{backbone}: TAM beats TSN on the order classes (Mini-SSV2)", "TAM", "TSN", "order"),
            ("{backbone}: I3D beats TSN on the order classes (Mini-SSV2)", "I3D", "TSN", "order"),
            ("{backbone}: TAM beats I3D under uniform sampling", "TAM", "I3D", "top1"),
            (
                "{backbone}: TAM beats TSN on the appearance classes (Mini-Kinetics)",
                "TAM",
                "TSN",
                "appearance",
            ),
        )  # fmt: skip
        if better in archs
    )
    return Study(
        name="chen_aggregation",
        title="Chen et al.: temporal aggregation under uniform sampling (CVPR 2021 Table 5, "
        "Table 7) on the demo videos",
        citation="Chen et al., CVPR 2021, Sec. 6.3, Table 5 and Table 7 (Eq. 1)",
        base_config=_chen_demo.chen_config,
        runs=runs,
        rows=rows,
        columns=columns,
        cells=cells,
        findings=findings,
        notes=notes_from(__doc__),
        contributions=contributions,
    )
