r"""Extracts RGB frames and optical flow from videos into mmaction2's raw-frame layout.

    tsn-jax-extract-flow --video_dir=UCF101 --out_dir=ucf101_rawframes \
        --method=dis --size=256,340 --flow_types=flow,warp --num_workers=8

Writes mmaction2's raw-frame folders (`input_pipeline.datasets.frame_folder.extract_all`:
img_*, flow_x/y_*, warp_x/y_*, .done). A video whose folder has `.done` is skipped, so
an interrupted run resumes; change a setting (size, method, bound) only together with a
new --out_dir. Unreadable videos are reported and skipped; the exit status is 1 only
when every video failed. Progress is logged per video and, inside each video, per frame
pair (TV-L1 can take seconds a pair on real footage; DIS is the fast choice).

`--size=HEIGHT,WIDTH` is in the order of the configs' `dataset.size` (TSN's 340x256
frames are `--size=256,340`).
"""

from __future__ import annotations

import os

from absl import app, flags, logging

from input_pipeline.datasets.frame_folder import Options, extract_all, find_videos, read_list
from input_pipeline.datasets.optical_flow import (
    DEFAULT_BOUND,
    FLOW_KINDS,
    FLOW_METHODS,
    make_flow_fn,
)

_VIDEO_DIR = flags.DEFINE_string("video_dir", None, "Folder of the videos (searched recursively).")
_OUT_DIR = flags.DEFINE_string("out_dir", None, "Folder to write the raw frames to.")
_LIST = flags.DEFINE_string(
    "list",
    None,
    "Optional text file of videos to extract, one per line: a path relative to "
    "--video_dir in the first column (UCF101 / mmaction2 split lists; other "
    "columns ignored). Default: every video file under --video_dir.",
)
_METHOD = flags.DEFINE_enum("method", "tvl1", FLOW_METHODS, "Optical flow estimator.")
_FLOW_TYPES = flags.DEFINE_list(
    "flow_types", ["flow"], "Comma-separated flows to write: flow (flow_x/y), warp (warp_x/y)."
)
flags.register_validator(
    "flow_types",
    lambda kinds: bool(kinds) and set(kinds) <= set(FLOW_KINDS),
    message=f"--flow_types must be a non-empty list of {', '.join(FLOW_KINDS)}",
)
_BOUND = flags.DEFINE_float("bound", DEFAULT_BOUND, "Flow clipping bound in pixels (TSN: 20).")
_SHORT_SIDE = flags.DEFINE_integer(
    "short_side", None, "Resize so the shorter side has this length (aspect kept)."
)
_SIZE = flags.DEFINE_string(
    "size",
    None,
    "Fixed HEIGHT,WIDTH of every frame, the order of dataset.size: 256,340 for TSN's "
    "340x256 frames (aspect not kept).",
)
_FPS = flags.DEFINE_float("fps", None, "Subsample every video to this frame rate.")
_JPEG_QUALITY = flags.DEFINE_integer("jpeg_quality", 95, "JPEG quality (OpenCV's default).")
_NUM_WORKERS = flags.DEFINE_integer(
    "num_workers", None, "Parallel processes (default: the number of CPUs); 1 runs in-process."
)
_LOG_EVERY_S = flags.DEFINE_float("log_every_s", 10.0, "Seconds between progress lines.")


def parse_size(text: str) -> tuple[int, int]:
    """ "256,340" (HEIGHT,WIDTH, as the configs' dataset.size) -> (256, 340)."""
    if "x" in text.lower():
        raise ValueError(
            f"size is HEIGHT,WIDTH as dataset.size (TSN's 340x256 frames: 256,340), got {text!r}"
        )
    try:
        height, width = (int(part) for part in text.split(","))
    except ValueError:
        raise ValueError(f"size must look like 256,340 (HEIGHT,WIDTH), got {text!r}") from None
    if width <= 0 or height <= 0:
        raise ValueError(f"size must be positive, got {text!r}")
    return height, width


def options_from_flags() -> Options:
    """The Options the command-line flags ask for (app.UsageError on a bad combination)."""
    if _SIZE.value and _SHORT_SIDE.value:
        raise app.UsageError("give --size or --short_side, not both")
    try:
        size = parse_size(_SIZE.value) if _SIZE.value else None
        # Fail now, not once per video, e.g. for tvl1 without opencv-contrib.
        make_flow_fn(_METHOD.value)
    except (ValueError, ImportError) as e:
        raise app.UsageError(str(e)) from e
    return Options(
        video_dir=_VIDEO_DIR.value,
        out_dir=_OUT_DIR.value,
        method=_METHOD.value,
        flow_types=tuple(dict.fromkeys(_FLOW_TYPES.value)),
        bound=_BOUND.value,
        short_side=_SHORT_SIDE.value,
        size=size,
        fps=_FPS.value,
        jpeg_quality=_JPEG_QUALITY.value,
    )


def main(argv: list[str]) -> int:
    """Extracts every listed video; exit status 1 only if there were videos and all failed."""
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    options = options_from_flags()
    relpaths = read_list(_LIST.value) if _LIST.value else find_videos(options.video_dir)
    if not relpaths:
        logging.error("no videos found (under %s, list %s)", options.video_dir, _LIST.value)
        return 1
    num_workers = _NUM_WORKERS.value or os.cpu_count() or 1
    summary = extract_all(relpaths, options, num_workers, _LOG_EVERY_S.value)
    logging.info(
        "extracted %d, already done %d, failed %d of %d videos",
        summary.extracted,
        summary.skipped,
        len(summary.failed),
        len(relpaths),
    )
    for relpath, reason in summary.failed:
        logging.warning("failed: %s: %s", relpath, reason)
    return 1 if len(summary.failed) == len(relpaths) else 0


def run() -> None:
    """The `tsn-jax-extract-flow` console entry point."""
    # Here, not at import: a test importing this module may parse flags without them.
    flags.mark_flags_as_required(["video_dir", "out_dir"])
    app.run(main)


if __name__ == "__main__":
    run()
