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
- one backbone, ResNet-18 (the paper's Table 5 has InceptionV1 and ResNet50, its Fig. 4
  and Table 7 ResNet18 too); "Conv." is Chen et al.'s S3D-ResNet18 (`s3d_resnet18`);
  Table 5's NLN column is not run; `chen_pooling.py` has both InceptionV1 and ResNet-18, at 4
  frames (an I3D-InceptionV1 at 8 frames alone takes a third of the 45 minutes);
- networks at a quarter of their width, trained from scratch (the paper inflates or
  starts from ImageNet weights and trains 8-frame models first, Sec. 5), 32 epochs,
  48 x 48 crops; I3D-ResNet18 is their code's layout (`i3d_resnet18`);
- one seed unless `--seeds` says otherwise.
"""

from configs.studies import _chen_demo
from tsn_jax.studies import Cell, Contribution, Finding, Study, notes_from

# Demo frames -> the paper's frame count it stands for.
FRAMES = {4: 8, 8: 16}
BACKBONE = "ResNet18"
ARCHITECTURES = ("TSN", "I3D", "Conv.", "TAM", "TSM")
# Run names (a file-system-safe spelling of each architecture).
SHORT = {"TSN": "tsn", "I3D": "i3d", "Conv.": "conv", "TAM": "tam", "TSM": "tsm"}
# Table 7 (Phi, Psi^ta) by class group: Mini-Kinetics for appearance, Mini-SSV2 for order.
PAPER = {
    "I3D": {"appearance": (0.97, 0.06), "order": (0.53, 0.46)},
    "TAM": {"appearance": (0.96, 0.09), "order": (0.52, 0.47)},
}
TESTS = {"": "clip", "video": "video, 3 crops x 2 clips"}


def column(architecture: str) -> str:
    """Table 5's column: the temporal aggregation ('None' is TSN)."""
    return f"{BACKBONE}: {'None' if architecture == 'TSN' else architecture}"


def row(frames: int, evaluation: str) -> str:
    return f"f={frames} (paper {FRAMES[frames]}), {TESTS[evaluation]}"


def get_study() -> Study:
    """Table 5 as runs (2 frame counts x 5 models), and Table 7's Phi and Psi^ta."""
    runs, cells = {}, {}
    for frames in FRAMES:
        for arch in ARCHITECTURES:
            name = f"{SHORT[arch]}_f{frames}"
            runs[name] = {
                **_chen_demo.model_overrides(arch, BACKBONE, temporal_pool=False),
                "data.num_segments": frames,
            }
            for evaluation in TESTS:
                cells[(row(frames, evaluation), column(arch))] = Cell(
                    (name,), evaluation=evaluation
                )
    contributions = tuple(
        Contribution(
            arch,
            "ta",
            tuple(((row(f, ""), column("TSN")), (row(f, ""), column(arch))) for f in FRAMES),
            PAPER.get(arch, {}),
        )
        for arch in ("I3D", "Conv.", "TAM", "TSM")
    )
    longest = row(max(FRAMES), "")
    findings = tuple(
        Finding(text, (longest, column(better)), (longest, column(worse)), metric)
        for text, better, worse, metric in (
            ("TAM beats TSN on the order classes (Mini-SSV2)", "TAM", "TSN", "order"),
            ("TSM beats TSN on the order classes (Mini-SSV2)", "TSM", "TSN", "order"),
            ("I3D beats TSN on the order classes (Mini-SSV2)", "I3D", "TSN", "order"),
            ("Conv. beats TSN on the order classes (Mini-SSV2)", "Conv.", "TSN", "order"),
            ("TAM beats TSN on the appearance classes (Mini-Kinetics)", "TAM", "TSN", "appearance"),
            ("TAM beats I3D under uniform sampling", "TAM", "I3D", "top1"),
            ("TSM beats I3D under uniform sampling", "TSM", "I3D", "top1"),
            ("TAM beats Conv. under uniform sampling", "TAM", "Conv.", "top1"),
            ("TSM beats Conv. under uniform sampling", "TSM", "Conv.", "top1"),
        )  # fmt: skip
    )
    return Study(
        name="chen_aggregation",
        title="Chen et al.: temporal aggregation under uniform sampling (CVPR 2021 Table 5, "
        "Table 7) on the demo videos",
        citation="Chen et al., CVPR 2021, Sec. 6.3, Table 5 and Table 7 (Eq. 1)",
        base_config=_chen_demo.chen_config,
        runs=runs,
        rows=tuple(row(f, e) for f in FRAMES for e in TESTS),
        columns=tuple(column(a) for a in ARCHITECTURES),
        cells=cells,
        findings=findings,
        notes=notes_from(__doc__),
        contributions=contributions,
        evaluations={"video": _chen_demo.VIDEO_LEVEL},
    )
