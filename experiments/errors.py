"""Exceptions raised by the experiments room; the scripts map them to exit statuses."""

from __future__ import annotations

__all__ = ["ConfigError", "DataError", "RunDirError", "StorageError", "TrainingFailed",
           "UsageError"]


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


class StorageError(UsageError):
    """A file could not be written or read for a reason outside the config: permission denied,
    disk full, a read-only or missing device.

    The message names the file and the operating system's reason.

    Attributes
    ----------
    path : str or None
        The file concerned.
    errno : int or None
        The ``OSError`` errno.
    """

    def __init__(self, message: str, path: str | None = None, errno: int | None = None) -> None:
        super().__init__(message)
        self.path = path
        self.errno = errno

    @classmethod
    def from_os_error(cls, exc: OSError, action: str = "cannot write",
                      default_path: object = None) -> StorageError:
        """``"<path>: <action> (<reason>)"`` from an ``OSError``."""
        path = exc.filename if exc.filename is not None else default_path
        reason = exc.strerror or str(exc)
        where = f"{path}: " if path is not None else ""
        return cls(f"{where}{action} ({reason})", None if path is None else str(path),
                   exc.errno)


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
