"""Progress lines for long loops: done/total, rate and time left (h:mm:ss).

Pure Python (logs through absl), no jax and no TensorFlow: the dataset builders and the
flow extractor (`Progress`, per video or frame pair) and the training loop
(`StepProgress`, per step) use it alike. `format_progress` is the clock-free part.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator

from absl import logging


def format_duration(seconds: float) -> str:
    """A duration as h:mm:ss, rounded to whole seconds: "0:00:45", "0:02:25", "27:46:40"."""
    seconds = max(0, int(round(seconds)))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def format_progress(
    done: int, total: int | None, elapsed_s: float, unit: str = "videos", label: str = ""
) -> str:
    """The progress line for `done` of `total` items after `elapsed_s` seconds.

    Example: format_progress(37, 400, 14.8) == "37/400 videos, 2.5 videos/s, ETA 0:02:25".
    The rate is the average since the start (3 significant digits); the ETA
    assumes it holds, and reads "ETA ?" before anything is done. With `total` None
    (not known) the line has no total and no ETA; `label` goes in front ("a.mp4: ...").
    """
    rate = done / elapsed_s if elapsed_s > 0 else 0.0
    head = f"{label}: " if label else ""
    if total is None:
        return f"{head}{done} {unit}, {rate:.3g} {unit}/s"
    if done >= total:
        eta = format_duration(0)
    elif rate > 0:
        eta = format_duration((total - done) / rate)
    else:
        eta = "?"
    return f"{head}{done}/{total} {unit}, {rate:.3g} {unit}/s, ETA {eta}"


class Progress:
    """Counts finished items and logs a progress line at most every `log_every_s` seconds.

    Usage:
      progress = Progress(len(videos))
      for video in videos:
          ...
          progress.update()
      logging.info(progress.summary())
    """

    def __init__(
        self,
        total: int | None,
        unit: str = "videos",
        log_every_s: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
        label: str = "",
    ):
        """Starts the clock.

        Args:
          total: number of items expected (None: not known).
          unit: plural noun for the items, in the line.
          log_every_s: least seconds between two logged lines; 0 logs every
            update. The last item is always logged.
          clock: seconds since some fixed point (injectable for tests).
          label: what the items belong to, in front of the line (a video's name).
        """
        self.total = total
        self.label = label
        self.unit = unit
        self.log_every_s = log_every_s
        self.done = 0
        self._clock = clock
        self._start = clock()
        self._last_log = self._start

    @property
    def elapsed_s(self) -> float:
        """Seconds since the Progress was created."""
        return self._clock() - self._start

    def update(self, n: int = 1) -> str | None:
        """Counts `n` more finished items; returns the line if it was logged, else None."""
        self.done += n
        now = self._clock()
        finished = self.total is not None and self.done >= self.total
        if not finished and now - self._last_log < self.log_every_s:
            return None
        self._last_log = now
        line = format_progress(self.done, self.total, now - self._start, self.unit, self.label)
        logging.info("%s", line)
        return line

    def summary(self) -> str:
        """A closing line: "400 videos in 0:02:40 (2.5 videos/s)"."""
        elapsed = self.elapsed_s
        rate = self.done / elapsed if elapsed > 0 else 0.0
        return f"{self.done} {self.unit} in {format_duration(elapsed)} ({rate:.3g} {self.unit}/s)"


class StepProgress:
    """The training loop's progress lines: step, share done, steps/s, ETA (h:mm:ss).

    The clock starts at the first line, so that the rate never counts compilation or
    the steps dispatched before it (an asynchronous device makes the first steps look
    instant); that line gives the steps' wall time with compilation instead. Time spent
    in `paused()` (evaluations) is left out of the rate.

    Usage:
      progress = StepProgress(num_train_steps, first_step=start_step + 1)
      ... after step s has finished (its metrics read):
      line = progress.line(s)
    """

    def __init__(self, total: int, first_step: int, clock: Callable[[], float] = time.monotonic):
        self.total = total
        self._clock = clock
        self._started = clock()
        self._mark: tuple[int, float] | None = None  # (step, time) of the first line
        self._paused_s = 0.0
        self.first_step = first_step

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        """Leaves the time spent inside out of the rate."""
        start = self._clock()
        try:
            yield
        finally:
            self._paused_s += self._clock() - start

    def line(self, step: int) -> str:
        """The line for `step`, which has finished: "step 200/750 (26.7%), 3.52 steps/s,
        ETA 0:02:36", or for the first line "... first 50 steps in 0:00:12 (with
        compilation)"."""
        now = self._clock()
        head = f"step {step}/{self.total} ({100 * step / self.total:.1f}%)"
        if self._mark is None:
            self._mark = (step, now)
            self._paused_s = 0.0
            done = step - self.first_step + 1
            took = format_duration(now - self._started)
            return f"{head}, first {done} step{'s' * (done != 1)} in {took} (with compilation)"
        rate = self.steps_per_second(step)
        eta = format_duration((self.total - step) / rate) if rate else "?"
        rate = rate or 0.0
        return f"{head}, {rate:.3g} steps/s, ETA {eta}"

    def steps_per_second(self, step: int) -> float | None:
        """The rate since the first line (None before the second)."""
        if self._mark is None or step == self._mark[0]:
            return None
        seconds = self._clock() - self._mark[1] - self._paused_s
        return (step - self._mark[0]) / seconds if seconds > 0 else None
