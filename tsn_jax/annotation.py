"""What a prediction looks like: the timeline plot and the video with its classes drawn on.

Both read the per-second class probabilities [S, N] of `inference.Predictor.per_second`
(one snippet a second, TSN TPAMI Sec. 4.2's untrimmed scoring). No TensorFlow, no jax:
frames come in as numpy arrays, from any reader.
"""

from __future__ import annotations

import fractions
import os
from collections.abc import Iterable, Iterator, Sequence

import numpy as np

from tsn_jax import metrics

# Frames narrower than this are enlarged (nearest neighbour) so that the captions fit.
MIN_WIDTH = 480


def plot_timeline(
    probs: np.ndarray,
    class_names: Sequence[str],
    classes: Sequence[str],
    path: str,
    title: str,
) -> None:
    """Saves a PNG of the per-second probabilities [S, N] of `classes` over time.

    Second s is drawn at the middle of its interval, s + 0.5; the title names the video.
    """
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 4))
    ax = fig.subplots()
    seconds = np.arange(len(probs)) + 0.5
    for name in classes:
        ax.plot(seconds, probs[:, list(class_names).index(name)], marker=".", label=name)
    ax.set_xlim(0, max(len(probs), 1))
    ax.set_xlabel("time (s)")
    ax.set_ylabel("probability")
    ax.set_ylim(0.0, 1.0)
    ax.set_title(title, fontsize=10)
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def captions(probs: np.ndarray, class_names: Sequence[str], top: int) -> list[str]:
    """The `top` classes of one second's probabilities [N], best first: "Grow 87.1%"."""
    order = metrics.ranking(probs, top)
    return [f"{class_names[i]} {probs[i]:.1%}" for i in order]


def annotate(
    frames: Iterable[np.ndarray],
    fps: float,
    per_second: np.ndarray,
    class_names: Sequence[str],
    top: int = 3,
) -> Iterator[np.ndarray]:
    """Each frame [H, W, 3] uint8 with the top classes of its second written in a band
    at the top (frame i belongs to second floor(i / fps), the last second for any frame
    past it); frames narrower than MIN_WIDTH are enlarged by a whole factor first.

    Yields:
      [H', W', 3] uint8 frames, H' and W' even (what H.264 needs).
    """
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.load_default()
    for index, frame in enumerate(frames):
        second = min(int(index / fps), len(per_second) - 1) if fps > 0 else 0
        scale = -(-MIN_WIDTH // frame.shape[1])
        image = Image.fromarray(np.asarray(frame, np.uint8)).resize(
            (frame.shape[1] * scale, frame.shape[0] * scale), Image.NEAREST
        )
        draw = ImageDraw.Draw(image)
        lines = [f"{second}s", *captions(per_second[second], class_names, top)]
        line_height = 14
        draw.rectangle((0, 0, image.width, line_height * len(lines) + 6), fill=(0, 0, 0))
        for row, text in enumerate(lines):
            draw.text((6, 3 + row * line_height), text, fill=(255, 255, 255), font=font)
        pixels = np.asarray(image)
        yield pixels[: pixels.shape[0] // 2 * 2, : pixels.shape[1] // 2 * 2]


def write_video(path: str, frames: Iterable[np.ndarray], fps: float) -> int:
    """Writes frames [H, W, 3] uint8 to `path`: H.264 mp4 (any other extension than .gif)
    or an animated GIF. Returns the number of frames written."""
    frames = iter(frames)
    if os.path.splitext(path)[1].lower() == ".gif":
        from PIL import Image

        images = [Image.fromarray(frame) for frame in frames]
        if images:
            duration = round(1000 / fps) if fps > 0 else 100
            images[0].save(path, save_all=True, append_images=images[1:], duration=duration, loop=0)
        return len(images)
    import av

    count = 0
    with av.open(path, mode="w") as container:
        rate = fractions.Fraction(fps).limit_denominator(1001) if fps > 0 else 25
        stream = container.add_stream("libx264", rate=rate)
        stream.pix_fmt = "yuv420p"
        for frame in frames:
            if not count:
                stream.height, stream.width = frame.shape[:2]
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
            count += 1
        for packet in stream.encode():
            container.mux(packet)
    return count
