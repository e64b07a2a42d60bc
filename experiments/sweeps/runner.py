"""Running a sweep: submit its runs to an executor, record every outcome, survive failures.

- A run that raises or diverges is recorded (status ``failed``/``diverged`` with its error in
  its ``status.json``) and the others go on.
- A lost worker (``BrokenProcessPool``, Dask's ``KilledWorker``) charges every run that was in
  flight with it; each is retried once, alone, so that a run that kills its worker cannot take
  an innocent one down twice. A run lost twice is recorded as ``failed``.
- ``summary.csv`` is rewritten atomically after every completion, so nothing finished is lost.
- A stop request (SIGINT/SIGTERM through :data:`experiments.signals.STOP_REQUESTED`, or the
  ``stop_event`` argument) stops submitting, raises the sweep's stop flag so runs in flight stop
  at their next iteration boundary with a checkpoint, and waits for them. A second signal aborts
  at once (the workers are killed; their runs are rerun on resume).
- The sweep directory is locked while a sweep process uses it; each run locks its own run
  directory (:mod:`experiments.locking`). Workers exit when the sweep process dies.
- :func:`resume_sweep` skips finished runs, resumes interrupted ones from their checkpoint and
  reruns failed or missing ones. With ``evaluate:`` in the sweep, a finished run without an
  accuracy is evaluated again (not retrained).
"""

from __future__ import annotations

import collections
import concurrent.futures as cf
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sparselearn.experiments import rundir as rd
from sparselearn.experiments.sweeps import store
from sparselearn.experiments.sweeps.executors import (
    SweepExecutor,
    check_executor_options,
    make_executor,
)
from sparselearn.experiments.sweeps.report import draw_report, write_summary
from sparselearn.experiments.sweeps.spec import RunSpec, SweepPlan
from sparselearn.experiments.sweeps.worker import PointOutcome, PointTask, execute_point
from sparselearn.plotting.atomic import atomic_write_bytes

__all__ = ["SweepResult", "run_sweep", "resume_sweep"]

#: Seconds between checks of the stop request while runs are in flight.
POLL = 0.25


@dataclass
class SweepResult:
    """Outcome of :func:`run_sweep` / :func:`resume_sweep`.

    Attributes
    ----------
    sweep_dir : str
    total : int
        Runs in the sweep.
    statuses : dict of str to str
        Run name → status after this call (``finished``, ``failed``, ``diverged``,
        ``interrupted``, ``running`` (lost when aborted) or ``pending``).
    executed : list of str
        Runs started by this call, in order of completion.
    interrupted : bool
        A stop request ended the sweep early.
    wall_time : float
    files : dict of str to str
        Report files written (summary, pictures).
    """

    sweep_dir: str
    total: int
    statuses: dict[str, str] = field(default_factory=dict)
    executed: list[str] = field(default_factory=list)
    interrupted: bool = False
    wall_time: float = 0.0
    files: dict[str, str] = field(default_factory=dict)

    def count(self, *statuses: str) -> int:
        """Number of runs with one of ``statuses``."""
        return sum(1 for status in self.statuses.values() if status in statuses)

    @property
    def failed(self) -> list[str]:
        """Names of the runs that failed or diverged."""
        return [name for name, status in self.statuses.items()
                if status in ("failed", "diverged")]


class _Progress:
    """A tqdm bar counting finished runs (a no-op when disabled)."""

    def __init__(self, enabled: bool, total: int, done: int, desc: str) -> None:
        self.bar = None
        if enabled:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, initial=done, unit="run", desc=desc,
                            dynamic_ncols=True)

    def update(self, failed: int, last: str) -> None:
        if self.bar is not None:
            self.bar.set_postfix(failed=failed, last=last[-40:], refresh=False)
            self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _task(sweep_dir: Path, plan: SweepPlan, run: RunSpec, attempt: int,
          token: str) -> PointTask:
    """The task of one run; decides between evaluating a finished run, resuming its
    checkpoint and a fresh start."""
    path = store.run_dir(sweep_dir, run)
    if store.needs_evaluation(sweep_dir, plan, run):
        files = {p.name: p.read_bytes() for p in sorted(path.iterdir()) if p.is_file()}
        return PointTask(run.name, str(path), run.config, False, str(sweep_dir), token, attempt,
                         evaluate=plan.evaluate, evaluate_only=True, files=files)
    status = rd.read_status(path).get("status")
    resume = (status in ("interrupted", "running") and (path / rd.CHECKPOINT).is_file()
              and (path / rd.CONFIG).is_file())
    if not resume and path.exists():
        store.clear_run(path)
    return PointTask(run.name, str(path), run.config, resume, str(sweep_dir), token, attempt,
                     evaluate=plan.evaluate)


def _write_back(path: Path, files: dict[str, bytes]) -> None:
    """Files of a run done on a worker that did not share the disk."""
    store.clear_run(path)
    path.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        atomic_write_bytes(path / name, data)


def _execute(plan: SweepPlan, sweep_dir: Path, todo: list[RunSpec], executor: SweepExecutor,
             stop_event: Any, point_fn: Callable[[PointTask], PointOutcome],
             on_outcome: Callable[[RunSpec, PointOutcome], None] | None,
             progress: _Progress, result: SweepResult) -> None:
    """The scheduling loop (see the module docstring)."""
    token = store.token(sweep_dir)
    flag = store.FileFlag(sweep_dir / store.STOP_FLAG)
    queue = collections.deque(todo)
    suspects: collections.deque[RunSpec] = collections.deque()
    lost: dict[str, int] = {}
    in_flight: dict[cf.Future, RunSpec] = {}
    stopping = False

    def submit(run: RunSpec) -> None:
        task = _task(sweep_dir, plan, run, lost.get(run.name, 0) + 1, token)
        in_flight[executor.submit(point_fn, task)] = run

    while queue or suspects or in_flight:
        if not stopping and stop_event is not None and stop_event.is_set():
            stopping = result.interrupted = True
            flag.set()
        if not stopping:
            if suspects:
                if not in_flight:
                    submit(suspects.popleft())
            else:
                while queue and len(in_flight) < executor.slots():
                    submit(queue.popleft())
        if not in_flight:
            break
        done, _ = cf.wait(list(in_flight), timeout=POLL, return_when=cf.FIRST_COMPLETED)
        for future in done:
            run = in_flight.pop(future)
            path = store.run_dir(sweep_dir, run)
            try:
                outcome = future.result()
            except KeyboardInterrupt:
                raise
            except BaseException as exc:  # noqa: BLE001 - anything here is the worker, not the run
                if not executor.recover(exc) or stopping:
                    continue
                lost[run.name] = lost.get(run.name, 0) + 1
                error = f"worker lost ({type(exc).__name__}: {exc})"
                if store.run_status(sweep_dir, run)["status"] == "finished":
                    # lost while evaluating a finished run: keep the run, record the error
                    store.mark_status(path, evaluation_error=error)
                    outcome = PointOutcome(run.name, "finished", evaluation_error=error)
                elif lost[run.name] >= 2:
                    store.mark_status(path, status="failed", attempt=lost[run.name],
                                      error=f"{error}, twice; not retried again")
                    outcome = PointOutcome(run.name, "failed", error=error)
                else:
                    store.mark_status(path, status="running", attempt=lost[run.name],
                                      error=f"{error}; retrying")
                    suspects.append(run)
                    continue
            if outcome.files is not None:
                _write_back(path, outcome.files)
            status = outcome.status
            result.statuses[run.name] = status
            result.executed.append(run.name)
            write_summary(sweep_dir, plan)
            if on_outcome is not None:
                on_outcome(run, outcome)
            if status != "interrupted":
                progress.update(len(result.failed), run.name)


def _sweep(plan: SweepPlan, sweep_dir: Path, workers: int | None, scheduler: str | None,
           progress: bool, stop_event: Any, point_fn: Callable[[PointTask], PointOutcome],
           on_outcome: Callable[[RunSpec, PointOutcome], None] | None,
           executor: SweepExecutor | None, report: bool, own: bool) -> SweepResult:
    """Run the unfinished runs of ``plan`` in ``sweep_dir`` (whose lock the caller holds);
    ``own``: ``executor`` (made here when None and needed) is closed here."""
    started = time.perf_counter()
    if stop_event is None:
        from sparselearn.experiments.signals import STOP_REQUESTED

        stop_event = STOP_REQUESTED
    result = SweepResult(str(sweep_dir), len(plan.runs))
    result.statuses = {run.name: store.run_status(sweep_dir, run)["status"]
                       for run in plan.runs}
    todo = [run for run in plan.runs if result.statuses[run.name] not in store.FINISHED
            or store.needs_evaluation(sweep_dir, plan, run)]
    flag = store.FileFlag(sweep_dir / store.STOP_FLAG)
    flag.clear()
    bar = _Progress(progress, len(plan.runs), len(plan.runs) - len(todo), plan.name)
    try:
        if todo:
            if executor is None:
                executor, own = make_executor(scheduler, workers), True
            try:
                _execute(plan, sweep_dir, todo, executor, stop_event, point_fn, on_outcome,
                         bar, result)
            except BaseException:
                if own:
                    executor.close(kill=True)
                    own = False
                raise
    finally:
        if own and executor is not None:
            executor.close()
        bar.close()
        flag.clear()
        result.files["summary"] = str(write_summary(sweep_dir, plan))
        result.statuses = {run.name: store.run_status(sweep_dir, run)["status"]
                           for run in plan.runs}
    if report and not result.interrupted:
        result.files.update(draw_report(sweep_dir, plan))
    result.wall_time = time.perf_counter() - started
    return result


def run_sweep(plan: SweepPlan, out: str | os.PathLike | None = None, *,
              workers: int | None = None, scheduler: str | None = None, progress: bool = True,
              stop_event: Any = None,
              point_fn: Callable[[PointTask], PointOutcome] = execute_point,
              on_outcome: Callable[[RunSpec, PointOutcome], None] | None = None,
              executor: SweepExecutor | None = None, report: bool = True) -> SweepResult:
    """Run every run of a validated sweep into a new sweep directory.

    Parameters
    ----------
    plan : SweepPlan
        From :func:`experiments.sweeps.load_sweep`.
    out : path, optional
        The sweep directory to create (absent or empty); default
        ``<output.root>/<sweep name>-<UTC timestamp>``.
    workers : int, optional
        Local worker processes (default 1), or the workers of ``scheduler="local"``.
    scheduler : str, optional
        None: local processes; ``"local"``: a Dask ``LocalCluster``; ``"tcp://HOST:PORT"``: an
        existing Dask scheduler.
    progress : bool
        A tqdm bar counting finished runs.
    stop_event : object with ``is_set()``, optional
        Stop request, polled while runs are in flight (default
        :data:`experiments.signals.STOP_REQUESTED`).
    point_fn : callable
        What a worker runs for a task (default :func:`~experiments.sweeps.worker.execute_point`);
        must be importable by the workers.
    on_outcome : callable, optional
        Called in the sweep process with ``(run, outcome)`` after each run is recorded.
    executor : SweepExecutor, optional
        Use this executor (not closed here) instead of making one.
    report : bool
        Draw the pictures at the end (``summary.csv`` is always written).

    Returns
    -------
    SweepResult

    Raises
    ------
    RunDirError
        ``out`` exists and is not empty.
    DirectoryLocked
        Another process is running a sweep in ``out``.
    ConfigError
        No ``out`` and the sweep's name would leave ``output.root``.
    UsageError
        Bad ``workers``/``scheduler``, Dask asked for and not installed, or its scheduler
        unreachable; all found before the sweep directory is created.
    """
    if executor is None:
        check_executor_options(scheduler, workers)
    target = store.check_new_sweep_dir(out if out is not None
                                       else store.default_sweep_dir(plan))
    own = executor is None
    if own:  # started (or connected) before the folder exists: its errors leave nothing
        executor = make_executor(scheduler, workers)
    try:
        with store.sweep_lock(target, create=True):
            sweep_dir = store.create_sweep_dir(target, plan)
            handed, own = own, False
            return _sweep(plan, sweep_dir, workers, scheduler, progress, stop_event, point_fn,
                          on_outcome, executor, report, own=handed)
    except BaseException:
        if own:  # the sweep never started
            executor.close(kill=True)
        raise


def resume_sweep(sweep_dir: str | os.PathLike, *, workers: int | None = None,
                 scheduler: str | None = None, progress: bool = True, stop_event: Any = None,
                 point_fn: Callable[[PointTask], PointOutcome] = execute_point,
                 on_outcome: Callable[[RunSpec, PointOutcome], None] | None = None,
                 executor: SweepExecutor | None = None, report: bool = True) -> SweepResult:
    """Continue a sweep directory: finished runs are skipped (or only evaluated, when the
    sweep evaluates and they have no accuracy yet), interrupted ones resumed from their
    checkpoints, failed and missing ones run again (parameters as :func:`run_sweep`).

    Raises
    ------
    RunDirError
        ``sweep_dir`` is not a sweep directory (or its ``plan.json`` names a run outside
        ``runs/``).
    DirectoryLocked
        Another process is running, resuming or redrawing the sweep.
    UsageError
        Bad ``workers``/``scheduler`` (before anything is written).
    """
    if executor is None:
        check_executor_options(scheduler, workers)
    path, plan = store.open_sweep_dir(sweep_dir)
    with store.sweep_lock(path):
        store.restore_layout(path)
        return _sweep(plan, Path(path), workers, scheduler, progress, stop_event, point_fn,
                      on_outcome, executor, report, own=False)
