"""What the programs print: their own lines, not the libraries' chatter (`--verbose`: all).

Without `--verbose`, a program sets these before TensorFlow loads:

* TensorFlow's C++ start-up lines (oneDNN, CPU features, absl's "before
  InitializeLog") are written while `import tensorflow` runs, whatever
  TF_CPP_MIN_LOG_LEVEL says: the import runs with file descriptor 2 pointed at a
  temporary file, replayed if the import fails. TF_CPP_MIN_LOG_LEVEL=2 quiets the
  later C++ INFO and WARNING lines.
* Python records below ERROR from Orbax (per-save INFO, metadata warnings), TFDS
  (custom data configuration, deprecated TensorInfo fields), JAX's backend probe
  ("Unable to initialize backend 'tpu'") and TensorFlow's deprecation notices are
  dropped; the project's own records all pass.
* DeprecationWarning and FutureWarning are ignored.

Progress bars (TFDS's tqdm) are off whenever stderr is not a terminal, verbose or not.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
import warnings
from collections.abc import Iterator

from absl import app, logging

# Path fragments of the modules whose records below ERROR are dropped.
NOISY_SOURCES = (
    "/orbax/",
    "/tensorflow_datasets/",
    "/jax/_src/xla_bridge.py",
    "/tensorflow/python/util/deprecation.py",
)


class _LibraryFilter(logging.logging.Filter):
    """Passes every record of ours, and the libraries' errors only."""

    def filter(self, record) -> bool:
        noisy = any(source in record.pathname for source in NOISY_SOURCES)
        return not noisy or record.levelno >= logging.logging.ERROR


@contextlib.contextmanager
def _stderr_to_file() -> Iterator[None]:
    """Points file descriptor 2 at a temporary file inside the block (C++ writes there
    too); on an exception the captured text is written back to stderr."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        except BaseException:
            os.dup2(saved, 2)
            captured.seek(0)
            sys.stderr.write(captured.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def setup(verbose: bool) -> None:
    """Quiets the libraries (unless `verbose`) and loads TensorFlow, kept off the GPUs
    (it only feeds the input pipeline); call before anything imports TensorFlow."""
    if not verbose:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        warnings.filterwarnings("ignore", category=FutureWarning)
        logging.get_absl_handler().addFilter(_LibraryFilter())
    with contextlib.nullcontext() if verbose else _stderr_to_file():
        import tensorflow as tf
    tf.config.set_visible_devices([], "GPU")
    if not verbose:
        tf.get_logger().setLevel("ERROR")
    if not sys.stderr.isatty():
        import tensorflow_datasets as tfds

        tfds.disable_progress_bar()


def one_line(error: BaseException) -> str:
    """The innermost message of a wrapped error, its lines joined: ml_collections raises
    AttributeError(KeyError("'key'\\nDid you mean ...")), whose str() is a repr."""
    while error.args and isinstance(error.args[0], BaseException):
        error = error.args[0]
    text = str(error.args[0]) if error.args else str(error)
    return " ".join(line.strip() for line in text.splitlines() if line.strip())


def parse_flags(argv: list[str]) -> list[str]:
    """absl's flag parsing, with a mistyped config key as one line and exit status 1
    (`app.run(main, flags_parser=parse_flags)`): ml_collections raises it while it applies
    a `--config.a.b=value` override, which absl would show as a traceback."""
    try:
        return app.parse_flags_with_usage(argv)
    except (AttributeError, KeyError) as error:
        message = one_line(error).replace(" Did you mean", "; did you mean")
        # ml_collections names the missing key first, quoted: 'num_segmnts'.
        key = re.match(r"'([^']+)'", message)
        bad = [
            arg.split("=")[0]
            for arg in argv[1:]
            if key and key.group(1) in arg.split("=")[0].split(".")[1:]
        ]
        where = f"{bad[0]}: " if bad else ""
        raise SystemExit(f"error: {where}no such config key {message}") from None
