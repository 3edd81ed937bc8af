"""A progress line for long dataset-build loops: done/total, rate and time left.

Pure Python (logs through absl): usable from the flow extractor and the TFDS
builders alike. `format_progress` is the clock-free part, for tests.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from absl import logging


def format_duration(seconds: float) -> str:
    """A duration as "45s", "2m25s" or "3h07m" (rounded to whole seconds or minutes)."""
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    minutes = (seconds + 30) // 60
    return f"{minutes // 60}h{minutes % 60:02d}m"


def format_progress(done: int, total: int, elapsed_s: float, unit: str = "videos") -> str:
    """The progress line for `done` of `total` items after `elapsed_s` seconds.

    Example: format_progress(37, 400, 14.8) == "37/400 videos, 2.5 videos/s, ETA 2m25s".
    The rate is the average since the start (3 significant digits); the ETA
    assumes it holds, and reads "ETA ?" before anything is done.
    """
    rate = done / elapsed_s if elapsed_s > 0 else 0.0
    if done >= total:
        eta = "0s"
    elif rate > 0:
        eta = format_duration((total - done) / rate)
    else:
        eta = "?"
    return f"{done}/{total} {unit}, {rate:.3g} {unit}/s, ETA {eta}"


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
        total: int,
        unit: str = "videos",
        log_every_s: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ):
        """Starts the clock.

        Args:
          total: number of items expected.
          unit: plural noun for the items, in the line.
          log_every_s: least seconds between two logged lines; 0 logs every
            update. The last item is always logged.
          clock: seconds since some fixed point (injectable for tests).
        """
        self.total = total
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
        if self.done < self.total and now - self._last_log < self.log_every_s:
            return None
        self._last_log = now
        line = format_progress(self.done, self.total, now - self._start, self.unit)
        logging.info("%s", line)
        return line

    def summary(self) -> str:
        """A closing line: "400 videos in 2m40s (2.5 videos/s)"."""
        elapsed = self.elapsed_s
        rate = self.done / elapsed if elapsed > 0 else 0.0
        return f"{self.done} {self.unit} in {format_duration(elapsed)} ({rate:.3g} {self.unit}/s)"
