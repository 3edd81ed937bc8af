"""Writes and reads videos stored as folders of JPEG frames (mmaction2's raw-frame layout).

    <folder>/img_00001.jpg ...       RGB frames, numbered from 1
    <folder>/flow_x_00001.jpg ...    flow planes (denseflow / `extract_all`), and
    <folder>/flow_y_00001.jpg ...    warp_x_ / warp_y_ for warped flow

Reading: frames already at the wanted size are copied byte for byte (no
re-encoding); others are decoded, resized and encoded again, one at a time.

Writing (`extract_all`, the `tsn-jax-extract-flow` program): for every video
`<video_dir>/<relpath>`, in `<out_dir>/<relpath without extension>/`:
  img_00001.jpg ...     the T decoded RGB frames (1-based, 5 digits)
  flow_x_00001.jpg ...  flow_y_00001.jpg ...   T-1 grayscale planes of the flow
                        frame t -> t+1, quantized with `bound` (TSN: 20 px) by
                        `optical_flow.quantize_flow` (flow_types with 'flow')
  warp_x_00001.jpg ...  warp_y_00001.jpg ...   the same for TSN's warped flow
                        (flow_types with 'warp')
  .done                 written last; holds the frame count T
A video whose folder has `.done` is skipped, so an interrupted run resumes where
it stopped; a folder without it is cleaned and redone. Frames are decoded
(`video_decode.VideoReader`), written and fed to the flow estimator one at a
time, so a long video never sits in memory. Workers are spawned, not forked:
the decoder's package imports TensorFlow, which must not be forked.
"""

from __future__ import annotations

import dataclasses
import glob
import multiprocessing
import os
import re
from collections.abc import Iterable, Iterator

import cv2
import numpy as np
from absl import logging
from PIL import Image

from input_pipeline.datasets.annotations import VIDEO_EXTENSIONS
from input_pipeline.datasets.building import encode_jpeg
from input_pipeline.datasets.optical_flow import DEFAULT_BOUND, FlowStream
from input_pipeline.datasets.video_decode import (
    VideoDecodeError,
    VideoReader,
    output_shape,
)
from tsn_jax.progress import Progress


def numbered_files(folder: str, prefix: str) -> list[str]:
    """Paths of '<prefix>NNNNN.jpg' in `folder`, in frame-number order (any digit count)."""
    pattern = re.compile(re.escape(prefix) + r"(\d+)\.jpe?g$", re.IGNORECASE)
    numbered = []
    for name in os.listdir(folder):
        match = pattern.match(name)
        if match:
            numbered.append((int(match.group(1)), name))
    return [os.path.join(folder, name) for _, name in sorted(numbered)]


def _resized(image: Image.Image, short_side: int | None, size: tuple[int, int] | None):
    """`image` at the stored size, or None when it already has it."""
    height, width = output_shape(image.height, image.width, short_side, size)
    if (height, width) == (image.height, image.width):
        return None
    # BOX averages source pixels when shrinking (no aliasing); BICUBIC when growing.
    shrinking = height * width < image.height * image.width
    return image.resize((width, height), Image.Resampling.BOX if shrinking else Image.BICUBIC)


def stored_jpegs(
    paths: list[str], short_side: int | None, size: tuple[int, int] | None, quality: int, mode: str
) -> list[bytes]:
    """JPEG bytes of each file, resized and re-encoded only where the size differs.

    Args:
      mode: 'RGB' for frames, 'L' for flow planes.

    Raises:
      VideoDecodeError: a file is not a readable image.
    """
    encoded = []
    for path in paths:
        try:
            with Image.open(path) as image:
                image.load()
                resized = _resized(image, short_side, size)
                if resized is None and image.mode == mode and image.format == "JPEG":
                    with open(path, "rb") as f:
                        encoded.append(f.read())
                    continue
                converted = (resized or image).convert(mode)
        except OSError as e:
            raise VideoDecodeError(f"unreadable frame {os.path.basename(path)}: {e}") from e
        encoded.append(encode_jpeg(np.asarray(converted), quality))
    return encoded


def iter_rgb_frames(
    paths: list[str], short_side: int | None, size: tuple[int, int] | None
) -> Iterator[np.ndarray]:
    """The [H, W, 3] uint8 RGB frames of `paths` at the stored size, one at a time."""
    for path in paths:
        try:
            with Image.open(path) as image:
                image = image.convert("RGB")
                yield np.asarray(_resized(image, short_side, size) or image)
        except OSError as e:
            raise VideoDecodeError(f"unreadable frame {os.path.basename(path)}: {e}") from e


def frame_folder_paths(folder: str, flow_types: tuple[str, ...]) -> dict[str, list[str]]:
    """{'video': img files, '<type>_x' / '<type>_y': flow files} of one video folder.

    Raises:
      VideoDecodeError: no folder, no img_ frames, or missing or uneven flow planes.
    """
    if not os.path.isdir(folder):
        raise VideoDecodeError(f"frame folder does not exist: {folder}")
    paths = {"video": numbered_files(folder, "img_")}
    if not paths["video"]:
        raise VideoDecodeError("no img_NNNNN.jpg frames in the folder")
    for flow_type in flow_types:
        for axis in ("x", "y"):
            paths[f"{flow_type}_{axis}"] = numbered_files(folder, f"{flow_type}_{axis}_")
        num_x, num_y = len(paths[f"{flow_type}_x"]), len(paths[f"{flow_type}_y"])
        if not num_x or num_x != num_y:
            raise VideoDecodeError(
                f"{flow_type}: {num_x} x planes and {num_y} y planes (need the same, at least 1)"
            )
    return paths


# --- Writing ---------------------------------------------------------------------------

DONE_MARKER = ".done"
# Every file this tool writes in a video's folder (for cleaning a half-written one).
_OUTPUT_PATTERNS = ("img_*.jpg", "flow_[xy]_*.jpg", "warp_[xy]_*.jpg", DONE_MARKER)


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


def extract_video(relpath: str, options: Options, log_every_s: float = 10.0) -> int:
    """Writes one video's frames and flows (see the module docstring) and its `.done`.

    Frames stream from the decoder: each is written and pushed to the flow
    estimator as it comes, so memory holds two frames whatever the length.

    Args:
      relpath: the video's path relative to options.video_dir.
      options: what to extract.
      log_every_s: seconds between the video's progress lines (frame pairs done, rate,
        ETA from the frame count its container declares).

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
        pairs = Progress(
            max(video.expected_frames - 1, 0) or None,
            unit="frame pairs",
            log_every_s=log_every_s,
            label=relpath,
        )
        count = 0
        try:
            for count, frame in enumerate(video, start=1):
                bgr = cv2.cvtColor(frame, cv2.COLOR_RGB2BGR)
                _write_jpeg(os.path.join(folder, f"img_{count:05d}.jpg"), bgr, options.jpeg_quality)
                # Flow count-1 goes from frame count-1 to this one.
                flows = stream.push(frame)
                for kind, planes in (flows or {}).items():
                    for axis, name in enumerate(("x", "y")):
                        flow_path = os.path.join(folder, f"{kind}_{name}_{count - 1:05d}.jpg")
                        _write_jpeg(flow_path, planes[..., axis], options.jpeg_quality)
                if flows:
                    pairs.update()
        except BaseException:
            # Also on Ctrl-C: no half-written folder is left to look complete.
            _remove_outputs(folder)
            if not os.listdir(folder):
                os.rmdir(folder)
            raise
    with open(os.path.join(folder, DONE_MARKER), "w") as f:
        f.write(f"{count}\n")
    return count


def _extract_or_report(task: tuple[str, Options, float]) -> tuple[str, str | None]:
    """Worker body: (relpath, None) on success, (relpath, reason) on failure.

    Catches every Exception: one odd video (a codec OpenCV chokes on, a frame
    size TV-L1 rejects) must not end a run over thousands; a bug shows up as
    every video failing, which makes the exit status 1.
    """
    relpath, options, log_every_s = task
    try:
        extract_video(relpath, options, log_every_s)
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
    tasks = [(relpath, options, log_every_s) for relpath in todo]
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
