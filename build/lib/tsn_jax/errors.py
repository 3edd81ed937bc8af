"""Errors a user can act on: the programs print their message as one line and exit.

Each names what is wrong and what to do. They subclass the built-in error a
caller would expect (a bad setting is a ValueError, a missing checkpoint a
FileNotFoundError), so code that catches those keeps working. No jax, no
TensorFlow: `input_pipeline` may raise them too.
"""


class TsnJaxError(Exception):
    """Base class: an error whose message is the whole story (no traceback needed)."""


class ConfigError(TsnJaxError, ValueError):
    """A config value or combination that is not allowed; the message names the key."""


class CheckpointError(TsnJaxError, ValueError):
    """A checkpoint that is missing, damaged, or does not fit the config's model."""


class WorkdirInUse(TsnJaxError, RuntimeError):
    """Another live process is training in the same workdir."""


class TrainingDiverged(TsnJaxError, FloatingPointError):
    """The loss or the gradient norm became non-finite; nothing non-finite was saved."""
