"""What runs inside a worker: one sweep run, with every failure turned into a result.

:func:`execute_point` is the function the executors ship to worker processes (local or Dask).
It takes a small picklable :class:`PointTask`, calls :func:`experiments.run_training`, and
returns a small picklable :class:`PointOutcome`; exceptions of the run (a divergence, a bad data
file, a bug) become an outcome with status ``diverged`` or ``failed`` and the error text, so an
exception that comes back through a future always means the worker itself was lost.

When the sweep asks for it (``evaluate:``), a finished run is evaluated right after training
(:func:`experiments.evaluation.evaluate`); its accuracy, or the evaluation's error, goes into
the run's ``status.json`` (``accuracy``, ``evaluation_error``) and never fails the run. A task
with ``evaluate_only`` evaluates a finished run without training it again (resume).

A worker that cannot see the sweep directory (a Dask worker on another machine) trains into a
temporary folder and returns the run directory's files, which the sweep process writes back.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import tempfile
import time
import traceback
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sparselearn.experiments.errors import UsageError
from sparselearn.experiments.locking import LOCK_NAME, DirectoryLocked

__all__ = ["PointTask", "PointOutcome", "execute_point", "blas_threads", "LOCK_WAIT"]

#: Seconds a worker waits for its run directory's lock before recording the run as failed.
LOCK_WAIT = 10.0


@dataclass
class PointTask:
    """Everything a worker needs to run one point (small and picklable).

    Attributes
    ----------
    name : str
        Run name (the run directory's name).
    run_dir : str
        Where the run directory goes, as seen from the sweep process.
    config : dict
        Resolved config of the run.
    resume : bool
        Continue the run directory from its checkpoint instead of starting afresh.
    sweep_dir : str
        The sweep directory (its stop flag and token live there).
    token : str
        The sweep directory's token: a worker that reads the same token shares the disk.
    attempt : int
        1 for the first try, 2 for the retry after a lost worker.
    evaluate : dict, optional
        Options of :func:`experiments.evaluation.evaluate` for a finished run (None: none).
    evaluate_only : bool
        The run is finished: only evaluate it.
    files : dict of str to bytes, optional
        The run directory's files, for an ``evaluate_only`` task on a worker that does not
        share the sweep's disk.
    """

    name: str
    run_dir: str
    config: dict[str, Any]
    resume: bool
    sweep_dir: str
    token: str
    attempt: int = 1
    evaluate: dict[str, Any] | None = None
    evaluate_only: bool = False
    files: dict[str, bytes] | None = field(default=None, repr=False)


@dataclass
class PointOutcome:
    """What a worker reports back.

    Attributes
    ----------
    name : str
    status : {"finished", "interrupted", "diverged", "failed"}
    error : str or None
        One line: the exception type and message.
    wall_time : float
        Seconds this attempt took (data, training, files).
    iterations : int or None
    objective : float
    host : str
    pid : int
    blas_threads : int or None
        BLAS threads the worker process had before the run (None without ``threadpoolctl``).
    accuracy : float or None
        Test accuracy of the evaluation (None: not evaluated, or it failed).
    evaluation_error : str or None
        One line, when the evaluation failed.
    files : dict of str to bytes, optional
        The run directory's files, when the worker did not share the sweep's disk.
    """

    name: str
    status: str
    error: str | None = None
    wall_time: float = 0.0
    iterations: int | None = None
    objective: float = float("nan")
    host: str = ""
    pid: int = 0
    blas_threads: int | None = None
    accuracy: float | None = None
    evaluation_error: str | None = None
    files: dict[str, bytes] | None = field(default=None, repr=False)


def blas_threads() -> int | None:
    """Largest thread count of the BLAS libraries loaded in this process (threadpoolctl)."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return None
    counts = [int(info.get("num_threads", 0)) for info in threadpool_info()
              if info.get("user_api") == "blas"]
    return max(counts) if counts else None


@contextlib.contextmanager
def _one_blas_thread() -> Iterator[None]:
    """Limit BLAS to one thread for the run (a no-op without ``threadpoolctl``)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        yield
        return
    with threadpool_limits(limits=1, user_api="blas"):
        yield


def _shares_disk(task: PointTask) -> bool:
    from sparselearn.experiments.sweeps.store import token

    return bool(task.token) and token(task.sweep_dir) == task.token


class _Never:
    """A stop event that is never set (workers that cannot see the sweep's stop flag)."""

    def is_set(self) -> bool:
        return False


def _read_files(folder: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir())
            if path.is_file() and path.name != LOCK_NAME}


def _evaluate_run(out: Path, options: dict[str, Any], outcome: PointOutcome) -> None:
    """Evaluate a finished run directory; the result (or error) goes to its ``status.json``."""
    from sparselearn.experiments import rundir as rd

    started = time.perf_counter()
    options = dict(options)
    dataset = options.pop("dataset")
    fields: dict[str, Any]
    try:
        from joblib import parallel_config

        from sparselearn.experiments.evaluation import evaluate

        # the sweep runs in parallel already: no nested process pool inside a worker
        with parallel_config(backend="sequential"):
            result = evaluate(out, dataset, progress=False, **options)
        outcome.accuracy = result.accuracy
        fields = {"accuracy": result.accuracy}
    except Exception as exc:  # noqa: BLE001 - a failed evaluation is recorded, not raised
        outcome.evaluation_error = f"{type(exc).__name__}: {exc}"
        fields = {"evaluation_error": outcome.evaluation_error}
    status = rd.read_status(out)
    status.pop("accuracy", None)
    status.pop("evaluation_error", None)
    status.update(fields, evaluation_time=time.perf_counter() - started)
    rd.write_status(out, **status)


def execute_point(task: PointTask) -> PointOutcome:
    """Run one sweep point and describe the outcome; never raises for a failing run.

    Parameters
    ----------
    task : PointTask

    Returns
    -------
    PointOutcome
    """
    from sparselearn.experiments import rundir as rd
    from sparselearn.experiments.errors import TrainingFailed
    from sparselearn.experiments.runner import run_training
    from sparselearn.experiments.sweeps.store import STOP_FLAG, FileFlag, mark_status

    started = time.perf_counter()
    threads = blas_threads()
    shared = _shares_disk(task)
    if task.evaluate_only:
        return _evaluate_only(task, shared)
    scratch, out = _run_folder(task, shared)
    stop: Any = FileFlag(Path(task.sweep_dir) / STOP_FLAG) if shared else _Never()
    resume = task.resume and shared
    previous = float(rd.read_status(out).get("wall_time", 0.0)) if resume else 0.0
    outcome = PointOutcome(task.name, "failed", host=socket.gethostname(), pid=os.getpid(),
                           blas_threads=threads)
    details: dict[str, Any] = {}
    try:
        with contextlib.ExitStack() as held:
            try:
                if shared:
                    held.enter_context(_lock(task, out, fresh=not resume))
                held.enter_context(_one_blas_thread())
                if resume:
                    result = run_training(None, out, resume=True, progress=False,
                                          stop_event=stop)  # type: ignore[arg-type]
                else:
                    result = run_training(task.config, out, progress=False,
                                          stop_event=stop)  # type: ignore[arg-type]
                outcome.status = result.status
                outcome.iterations = result.iterations
                outcome.objective = result.objective
            except DirectoryLocked as exc:
                # another process writes this run: leave its folder alone
                outcome.status, outcome.error = "failed", f"{type(exc).__name__}: {exc}"
                return outcome
            except TrainingFailed as exc:
                outcome.status, outcome.error = "diverged", str(exc)
                outcome.iterations = exc.iteration
            except Exception as exc:  # noqa: BLE001 - every run failure is recorded, not raised
                outcome.status = "failed"
                outcome.error = f"{type(exc).__name__}: {exc}"
                details["traceback"] = traceback.format_exc()
            outcome.wall_time = previous + time.perf_counter() - started
            mark_status(out, status=outcome.status, wall_time=outcome.wall_time,
                        attempt=task.attempt, host=outcome.host,
                        **({"error": outcome.error} if outcome.error else {}), **details)
            if task.evaluate and outcome.status == "finished":
                _evaluate_run(out, task.evaluate, outcome)
        if scratch is not None:
            outcome.files = _read_files(out)
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
    return outcome


def _lock(task: PointTask, out: Path, fresh: bool) -> contextlib.AbstractContextManager:
    """The run directory's lock, waited for a few seconds (the workers of a sweep that was
    killed may still be exiting)."""
    from sparselearn.experiments.rundir import run_dir_lock

    return run_dir_lock(out, fresh=fresh, wait=LOCK_WAIT,
                        note=f"sweep worker of {task.sweep_dir}")


def _run_folder(task: PointTask, shared: bool) -> tuple[Path | None, Path]:
    """Where the run is written: its own folder on a shared disk, else a scratch folder
    (returned first, to be removed after the files are read back)."""
    if shared:
        return None, Path(task.run_dir)
    scratch = Path(tempfile.mkdtemp(prefix="sparselearn-sweep-"))
    return scratch, scratch / task.name


def _evaluate_only(task: PointTask, shared: bool) -> PointOutcome:
    """Evaluate a run that finished earlier (its files come with the task off the disk)."""
    from sparselearn.experiments import rundir as rd
    from sparselearn.plotting.atomic import atomic_write_bytes

    outcome = PointOutcome(task.name, "finished", host=socket.gethostname(), pid=os.getpid(),
                           blas_threads=blas_threads())
    scratch, out = _run_folder(task, shared)
    if scratch is not None:
        out.mkdir()
        for name, data in (task.files or {}).items():
            atomic_write_bytes(out / name, data)
    try:
        status = rd.read_status(out)
        outcome.wall_time = float(status.get("wall_time", 0.0))
        outcome.iterations = status.get("iteration")
        lock = _lock(task, out, fresh=False) if shared else contextlib.nullcontext()
        try:
            with lock, _one_blas_thread():
                _evaluate_run(out, task.evaluate or {}, outcome)
        except UsageError as exc:  # locked by another process, or no longer a run directory
            outcome.evaluation_error = f"{type(exc).__name__}: {exc}"
            return outcome
        if scratch is not None:
            outcome.files = _read_files(out)
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
    return outcome
