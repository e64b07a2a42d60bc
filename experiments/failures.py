"""What ``status.json`` says when a run fails after its run directory was set up.

:class:`RunTracker` (a training callback) follows where the fit got to; :func:`record_failure`
writes ``failed`` (``aborted`` for a second Ctrl-C) with the error, the iteration reached and
the one a resume starts from, and turns the exception into the one to report: an ``OSError``
(permission denied, disk full) becomes a :class:`~experiments.errors.StorageError` naming its
file, and an error of the trainer while it takes up a checkpoint a
:class:`~experiments.errors.RunDirError` naming the checkpoint.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sparselearn.experiments import rundir as rd
from sparselearn.experiments.errors import RunDirError, StorageError
from sparselearn.trainers import Callback

__all__ = ["RunTracker", "first_os_error", "record_failure"]

#: Errors of a trainer that takes up a resume state it cannot use (a missing key, a wrong
#: type or shape) before its first iteration.
_STATE_ERRORS = (ValueError, KeyError, TypeError, IndexError)


class RunTracker(Callback):
    """Where a fit got to: the iteration reached, iterations completed in this call, and the
    last checkpoint (set by the run's checkpoint writer).

    Put it first among the callbacks: it then sees an iteration end even when a later
    callback fails on it.
    """

    def __init__(self, iteration: int) -> None:
        self.iteration = iteration
        self.completed = 0
        self.checkpoint: int | None = iteration if iteration else None

    def on_iteration_end(self, state: Any) -> None:
        self.iteration = state.iteration
        self.completed += 1


def first_os_error(exc: OSError) -> OSError:
    """The first ``OSError`` that names its file in the chain ending in ``exc``.

    A full disk fails a checkpoint, then the metrics rewrite that ``on_train_end`` attempts
    while the first error propagates: the first one is the one to report.
    """
    first, link, seen = exc, exc, set()
    while isinstance(link, OSError) and id(link) not in seen:
        seen.add(id(link))
        if link.filename is not None:
            first = link
        link = link.__context__
    return first


def record_failure(run_dir: Path, exc: BaseException, tracker: RunTracker,
                   resumed: bool) -> BaseException:
    """Write the failure into ``status.json`` (where possible); return the error to raise.

    Parameters
    ----------
    run_dir : Path
    exc : BaseException
        What stopped the run.
    tracker : RunTracker
    resumed : bool
        The fit started from a checkpoint.

    Returns
    -------
    BaseException
        ``exc`` itself, or the :class:`StorageError` / :class:`RunDirError` it stands for;
        a :class:`StorageError` says so when ``status.json`` could not be written either.
    """
    error: BaseException = exc
    if isinstance(exc, OSError):
        error = StorageError.from_os_error(first_os_error(exc), "cannot write", run_dir)
    elif resumed and tracker.completed == 0 and isinstance(exc, _STATE_ERRORS):
        error = RunDirError(f"{run_dir / rd.CHECKPOINT}: does not fit the model of "
                            f"{run_dir / rd.CONFIG} ({type(exc).__name__}: {exc})")
    aborted = isinstance(exc, KeyboardInterrupt)
    fields = {"status": "aborted" if aborted else "failed",
              "error": ("aborted by a second interrupt" if aborted
                        else f"{type(error).__name__}: {error}"),
              "iteration": tracker.iteration, "checkpoint_iteration": tracker.checkpoint,
              "resume_from": tracker.checkpoint or 0}
    try:
        rd.write_status(run_dir, **fields)
    except OSError as status_error:
        if isinstance(error, StorageError):
            status_path = str(run_dir / rd.STATUS)
            note = ("the run's status could not be recorded" if error.path == status_path
                    else f"{status_path} could not be updated either "
                         f"({status_error.strerror or status_error})")
            error = StorageError(f"{error}; {note}", error.path, error.errno)
    return error
