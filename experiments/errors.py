"""Exceptions raised by the experiments room; the scripts map them to exit statuses."""

from __future__ import annotations

__all__ = ["ConfigError", "DataError", "RunDirError", "TrainingFailed", "UsageError"]


class UsageError(Exception):
    """A user mistake detected before any work starts (exit status 2 in the scripts)."""


class ConfigError(UsageError, ValueError):
    """An invalid config file, key, value or override.

    The message names the source (file or override), the dotted key path, what was expected
    and what was found.
    """


class DataError(UsageError, ValueError):
    """The data named by the config cannot be read or sampled (missing file, bad contents)."""


class RunDirError(UsageError, ValueError):
    """A folder given as a run directory is not one (or lacks what the operation needs)."""


class TrainingFailed(RuntimeError):
    """Training stopped on an error (e.g. divergence) after the run directory was set up.

    Attributes
    ----------
    iteration : int or None
        Outer iteration at which it failed.
    checkpoint : str or None
        Path of the last checkpoint written (the last finite state), if any.
    """

    def __init__(self, message: str, iteration: int | None = None,
                 checkpoint: str | None = None) -> None:
        super().__init__(message)
        self.iteration = iteration
        self.checkpoint = checkpoint
