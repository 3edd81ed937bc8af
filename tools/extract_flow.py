r"""Extracts RGB frames and optical flow from videos into mmaction2's raw-frame layout.

    python tools/extract_flow.py --video_dir=UCF101 --out_dir=ucf101_rawframes \
        --method=tvl1 --size=340x256 --flow_types=flow,warp --num_workers=8

For every video `<video_dir>/<relpath>` it writes, in `<out_dir>/<relpath without
extension>/`:
  img_00001.jpg ...     the T decoded RGB frames (1-based, 5 digits)
  flow_x_00001.jpg ...  flow_y_00001.jpg ...   T-1 grayscale planes of the flow
                        frame t -> t+1, quantized with --bound (TSN: 20 px) by
                        `optical_flow.quantize_flow` (with --flow_types=...,flow)
  warp_x_00001.jpg ...  warp_y_00001.jpg ...   the same for TSN's warped flow
                        (with --flow_types=...,warp)
  .done                 written last; holds the frame count T

A video whose folder has `.done` is skipped, so an interrupted run resumes where
it stopped; a folder without it is cleaned and redone. Change a setting (size,
method, bound) only together with a new --out_dir. Unreadable videos are
reported and skipped; the exit status is 1 only when every video failed.

Frames are decoded (`video_decode.VideoReader`), written and fed to the flow
estimator one at a time, so a long video never sits in memory. Workers are
spawned, not forked: importing the decoder imports TensorFlow (through
`input_pipeline.datasets`), which must not be forked.
"""

from __future__ import annotations

import dataclasses
import glob
import multiprocessing
import os
import sys
from collections.abc import Iterable

import cv2
import numpy as np
from absl import app, flags, logging

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from input_pipeline.datasets.annotations import VIDEO_EXTENSIONS  # noqa: E402
from input_pipeline.datasets.optical_flow import (  # noqa: E402
    DEFAULT_BOUND,
    FLOW_KINDS,
    FLOW_METHODS,
    FlowStream,
    make_flow_fn,
)
from input_pipeline.datasets.progress import Progress  # noqa: E402
from input_pipeline.datasets.video_decode import VideoDecodeError, VideoReader  # noqa: E402

DONE_MARKER = ".done"
# Every file this tool writes in a video's folder (for cleaning a half-written one).
_OUTPUT_PATTERNS = ("img_*.jpg", "flow_[xy]_*.jpg", "warp_[xy]_*.jpg", DONE_MARKER)

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
    "size", None, "Fixed WIDTHxHEIGHT of every frame, e.g. 340x256 as TSN (aspect not kept)."
)
_FPS = flags.DEFINE_float("fps", None, "Subsample every video to this frame rate.")
_JPEG_QUALITY = flags.DEFINE_integer("jpeg_quality", 95, "JPEG quality (OpenCV's default).")
_NUM_WORKERS = flags.DEFINE_integer(
    "num_workers", None, "Parallel processes (default: the number of CPUs); 1 runs in-process."
)
_LOG_EVERY_S = flags.DEFINE_float("log_every_s", 10.0, "Seconds between progress lines.")


@dataclasses.dataclass(frozen=True)
class Options:
    """What to extract and how; picklable, so spawned workers get it whole.

    Attributes:
      video_dir: root of the videos; relpaths are relative to it.
      out_dir: root of the raw-frame folders.
      method: one of FLOW_METHODS.
      flow_types: non-empty subset of FLOW_KINDS.
      bound: flow clipping bound in pixels.
      short_side: shorter side of the frames, or None.
      size: (height, width) of the frames, or None (not together with short_side).
      fps: target frame rate, or None for every frame.
      jpeg_quality: 0-100.
    """

    video_dir: str
    out_dir: str
    method: str = "tvl1"
    flow_types: tuple[str, ...] = ("flow",)
    bound: float = DEFAULT_BOUND
    short_side: int | None = None
    size: tuple[int, int] | None = None
    fps: float | None = None
    jpeg_quality: int = 95


@dataclasses.dataclass
class Summary:
    """What a run did: counts, and (relpath, reason) for each video that failed."""

    extracted: int = 0
    skipped: int = 0
    failed: list[tuple[str, str]] = dataclasses.field(default_factory=list)


def parse_size(text: str) -> tuple[int, int]:
    """ "340x256" (WIDTHxHEIGHT, as TSN writes it) -> (256, 340), (height, width)."""
    try:
        width, height = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise ValueError(f"size must look like 340x256 (WIDTHxHEIGHT), got {text!r}") from None
    if width <= 0 or height <= 0:
        raise ValueError(f"size must be positive, got {text!r}")
    return height, width


def find_videos(video_dir: str) -> list[str]:
    """Relative paths of every file under `video_dir` with a VIDEO_EXTENSIONS suffix, sorted."""
    found = []
    for root, _, files in os.walk(video_dir):
        for name in files:
            if name.lower().endswith(VIDEO_EXTENSIONS):
                found.append(os.path.relpath(os.path.join(root, name), video_dir))
    return sorted(found)


def read_list(list_path: str) -> list[str]:
    """The first column of each non-empty line of a split list, duplicates dropped, in order."""
    with open(list_path) as f:
        relpaths = [line.split()[0] for line in f if line.strip()]
    return list(dict.fromkeys(relpaths))


def output_folder(out_dir: str, relpath: str) -> str:
    """`<out_dir>/<relpath without its extension>`: where one video's frames go."""
    return os.path.join(out_dir, os.path.splitext(relpath)[0])


def is_done(folder: str) -> bool:
    """Whether a video's folder was completely written (its `.done` marker exists)."""
    return os.path.isfile(os.path.join(folder, DONE_MARKER))


def _remove_outputs(folder: str) -> None:
    """Deletes this tool's files in `folder` (not the folder: another video's may be inside)."""
    for pattern in _OUTPUT_PATTERNS:
        for path in glob.glob(os.path.join(glob.escape(folder), pattern)):
            os.remove(path)


def _write_jpeg(path: str, image: np.ndarray, quality: int) -> None:
    """Writes a uint8 [H, W] gray or [H, W, 3] BGR image; OSError if OpenCV can't."""
    if not cv2.imwrite(path, np.ascontiguousarray(image), [cv2.IMWRITE_JPEG_QUALITY, quality]):
        raise OSError(f"cannot write {path}")


def extract_video(relpath: str, options: Options) -> int:
    """Writes one video's frames and flows (see the module docstring) and its `.done`.

    Frames stream from the decoder: each is written and pushed to the flow
    estimator as it comes, so memory holds two frames whatever the length.

    Args:
      relpath: the video's path relative to options.video_dir.
      options: what to extract.

    Returns:
      T, the number of frames written (T-1 flows of each type).

    Raises:
      VideoDecodeError: the video is unreadable (its partial output is removed).
      OSError, cv2.error: writing or flow estimation failed (likewise).
    """
    folder = output_folder(options.out_dir, relpath)
    path = os.path.join(options.video_dir, relpath)
    with VideoReader(path, options.short_side, size=options.size, target_fps=options.fps) as video:
        os.makedirs(folder, exist_ok=True)
        _remove_outputs(folder)
        stream = FlowStream(options.method, options.flow_types, bound=options.bound)
        count = 0
        try:
            for count, frame in enumerate(video, start=1):
                bgr = cv2.cvtColor(frame, cv2.COLOR_RGB2BGR)
                _write_jpeg(os.path.join(folder, f"img_{count:05d}.jpg"), bgr, options.jpeg_quality)
                # Flow count-1 goes from frame count-1 to this one.
                for kind, planes in (stream.push(frame) or {}).items():
                    for axis, name in enumerate(("x", "y")):
                        flow_path = os.path.join(folder, f"{kind}_{name}_{count - 1:05d}.jpg")
                        _write_jpeg(flow_path, planes[..., axis], options.jpeg_quality)
        except BaseException:
            # Also on Ctrl-C: no half-written folder is left to look complete.
            _remove_outputs(folder)
            if not os.listdir(folder):
                os.rmdir(folder)
            raise
    with open(os.path.join(folder, DONE_MARKER), "w") as f:
        f.write(f"{count}\n")
    return count


def _extract_or_report(task: tuple[str, Options]) -> tuple[str, str | None]:
    """Worker body: (relpath, None) on success, (relpath, reason) on failure.

    Catches every Exception: one odd video (a codec OpenCV chokes on, a frame
    size TV-L1 rejects) must not end a run over thousands; a bug shows up as
    every video failing, which makes the exit status 1.
    """
    relpath, options = task
    try:
        extract_video(relpath, options)
    except VideoDecodeError as e:
        return relpath, str(e)
    except Exception as e:
        return relpath, f"{type(e).__name__}: {e}"
    return relpath, None


def _init_worker() -> None:
    # One OpenCV thread per process: N workers each starting N threads would oversubscribe.
    cv2.setNumThreads(1)


def extract_all(
    relpaths: list[str], options: Options, num_workers: int = 1, log_every_s: float = 10.0
) -> Summary:
    """Extracts every video not done yet, in `num_workers` spawned processes (1: in-process).

    Args:
      relpaths: videos relative to options.video_dir.
      options: what to extract.
      num_workers: processes; 1 runs here, without multiprocessing.
      log_every_s: seconds between progress lines.

    Returns:
      The Summary; failures are also logged as they happen.

    Raises:
      ValueError: a path is absolute or leaves video_dir (its output would land
        outside out_dir), or two videos would share an output folder (same
        path but extension).
    """
    folders: dict[str, str] = {}
    for relpath in relpaths:
        if os.path.isabs(relpath) or os.path.normpath(relpath).split(os.sep)[0] == "..":
            raise ValueError(f"video paths must be relative to video_dir, got {relpath}")
        other = folders.setdefault(output_folder(options.out_dir, relpath), relpath)
        if other != relpath:
            raise ValueError(f"{other} and {relpath} would be written to the same folder")
    summary = Summary()
    todo = [r for r in relpaths if not is_done(output_folder(options.out_dir, r))]
    summary.skipped = len(relpaths) - len(todo)
    if summary.skipped:
        logging.info("%d of %d videos already extracted: skipped", summary.skipped, len(relpaths))
    progress = Progress(len(todo), unit="videos", log_every_s=log_every_s)
    tasks = [(relpath, options) for relpath in todo]
    if num_workers <= 1 or len(todo) <= 1:
        results = map(_extract_or_report, tasks)
        _collect(results, summary, progress)
    else:
        context = multiprocessing.get_context("spawn")
        with context.Pool(min(num_workers, len(todo)), initializer=_init_worker) as pool:
            _collect(pool.imap_unordered(_extract_or_report, tasks), summary, progress)
    logging.info("%s", progress.summary())
    return summary


def _collect(
    results: Iterable[tuple[str, str | None]], summary: Summary, progress: Progress
) -> None:
    """Tallies (relpath, reason-or-None) results into `summary` as they arrive."""
    for relpath, reason in results:
        if reason is None:
            summary.extracted += 1
        else:
            summary.failed.append((relpath, reason))
            logging.warning("skipped %s: %s", relpath, reason)
        progress.update()


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


if __name__ == "__main__":
    # Here, not at import: a test importing this module may parse flags without them.
    flags.mark_flags_as_required(["video_dir", "out_dir"])
    app.run(main)
