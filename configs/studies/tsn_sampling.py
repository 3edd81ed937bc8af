"""TSN sampling: segment-based sampling vs regular (fixed-stride) sampling.

Wang et al., "Temporal Segment Networks for Action Recognition in Videos", TPAMI 2018,
Sec. 5.4 ("Study on segment based sampling"), Table 3: 3 snippets a video, either one
per segment (TSN) or T snippets at a fixed stride tau; spatial (RGB, one frame), temporal
(optical flow, 5 stacked fields) and their two-stream fusion; the rest of the recipe
unchanged. The paper's finding: a longer stride helps regular sampling (92.1% -> 93.7%
two-stream from tau = 1 to 20), and segment sampling beats every stride (94.2%).

On the demo data (`configs/tsn_rgb_demo.py`: plain TSN, ResNet-18 from scratch, average
consensus), scaled to fit 45 minutes on 2 CPU cores:
- strides 1, 2 and 6 stand for the paper's 1, 5 and 20: the demo videos have 6-40 frames
  (23 on average) where UCF101's have about 186, so 3 snippets at the paper's stride 20
  would span more than most demo videos; the paper's strides 10 and 15 are left out (a
  flow run takes 6.5 minutes here, and all five strides would not fit in 45 minutes);
- a quarter-width network (base_width 16), the demo's 50 epochs (a trial at 20 epochs
  ended at 34% training accuracy: far from fitted);
- Farneback flow instead of TV-L1 (the same stored planes, 1/27 of the time, README);
- two-stream: RGB and flow scores averaged 1:1 (Table 4's UCF101 weights, same section).
Both are tested as they train, 3 snippets a video, centre crop: regular sampling at its
stride, the group centred in the video; segment sampling at the 3 segment centres (the
paper tests 25 snippets and 10 crops). Stride 1 is the one dense clip (3 consecutive
frames).
"""

import functools

from configs.studies import _tsn_demo
from tsn_jax.studies import Cell, Finding, Study, notes_from

# Demo stride -> the paper's stride it stands for (Table 3's rows).
STRIDES = {1: 1, 2: 5, 6: 20}
# Table 3 (UCF101, three splits): spatial, temporal, two-stream, for the strides used here.
PAPER = {
    1: (0.843, 0.856, 0.921),
    5: (0.849, 0.867, 0.932),
    20: (0.853, 0.866, 0.937),
    "tsn": (0.865, 0.898, 0.942),
}
COLUMNS = ("Spatial", "Temporal", "Two-Stream")
STREAMS = {
    "rgb": {},
    "flow": _tsn_demo.FLOW,
}


def get_study() -> Study:
    """Table 3 as runs: 2 streams x (segments + 3 strides), fused per row."""
    runs, cells, rows = {}, {}, []
    sampling = [(f"stride{s}", f"Regular sampling (stride {s}; paper {p})", {
        "data.snippet_stride": s}, PAPER[p]) for s, p in STRIDES.items()]  # fmt: skip
    sampling.append(("segments", "Segment based sampling (TSN)", {}, PAPER["tsn"]))
    for key, row, overrides, paper in sampling:
        rows.append(row)
        for stream, stream_overrides in STREAMS.items():
            runs[f"{stream}_{key}"] = {**stream_overrides, **overrides}
        cells[(row, "Spatial")] = Cell((f"rgb_{key}",), paper=paper[0])
        cells[(row, "Temporal")] = Cell((f"flow_{key}",), paper=paper[1])
        cells[(row, "Two-Stream")] = Cell((f"rgb_{key}", f"flow_{key}"), (1.0, 1.0), paper[2])
    tsn, stride1, widest = rows[-1], rows[0], rows[-2]
    findings = tuple(
        Finding(text, (better, column), (worse, column))
        for column in COLUMNS
        for text, better, worse in (
            (f"{column}: segment sampling beats regular sampling at stride 1", tsn, stride1),
            (f"{column}: segment sampling beats the widest regular stride", tsn, widest),
            (f"{column}: a wider stride beats stride 1", widest, stride1),
        )
    )
    return Study(
        name="tsn_sampling",
        title="TSN: segment based vs regular sampling (TPAMI 2018 Table 3) on the demo videos",
        citation="Wang et al., TPAMI 2018, Sec. 5.4, Table 3",
        base_config=functools.partial(_tsn_demo.tsn_config, ("flow",)),
        runs=runs,
        rows=tuple(rows),
        columns=COLUMNS,
        cells=cells,
        findings=findings,
        notes=notes_from(__doc__),
    )
