"""The sweep directory: its files, the saved plan, and the per-run state read from disk.

Layout::

    SWEEP_DIR/
      plan.json        the expanded, validated sweep (what --resume and --report read)
      sweep.yaml       the sweep file as given, for the record
      summary.csv      one row per run, rewritten atomically after every completion
      metrics.png      final metrics against each varied parameter
      filters.png      the learned filter sheets side by side, in grid order
      runs/<name>/     one ordinary run directory per run (as sparselearn train writes)
      .lock            while a sweep process runs, resumes or redraws it (experiments.locking)

Every file is written atomically; the status of a run is its run directory's ``status.json``.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import time
from pathlib import Path
from typing import Any

from sparselearn.experiments import rundir as rd
from sparselearn.experiments.errors import RunDirError
from sparselearn.experiments.locking import LOCK_NAME, DirectoryLocked, hold_lock, holder
from sparselearn.experiments.sweeps.names import plain_name
from sparselearn.experiments.sweeps.spec import RunSpec, SweepPlan
from sparselearn.plotting.atomic import atomic_write_text

__all__ = ["PLAN", "SWEEP_FILE", "SUMMARY", "METRICS_PNG", "FILTERS_PNG", "RUNS", "TOKEN",
           "STOP_FLAG", "FINISHED", "default_sweep_dir", "sweep_lock", "check_new_sweep_dir",
           "create_sweep_dir", "open_sweep_dir", "restore_layout", "plain_name", "token",
           "run_dir", "run_status", "needs_evaluation", "mark_status", "clear_run", "FileFlag"]

PLAN = "plan.json"
SWEEP_FILE = "sweep.yaml"
SUMMARY = "summary.csv"
METRICS_PNG = "metrics.png"
FILTERS_PNG = "filters.png"
RUNS = "runs"
TOKEN = ".sweep-token"
STOP_FLAG = ".stop"
#: Run statuses that --resume does not rerun.
FINISHED = ("finished",)


def default_sweep_dir(plan: SweepPlan) -> Path:
    """``<base output.root>/<sweep name>-<UTC timestamp>``.

    Raises
    ------
    ConfigError
        The sweep's name would put the folder outside ``output.root``.
    """
    root = plan.runs[0].config["output"]["root"] if plan.runs else "runs"
    return rd.inside_root(root, time.strftime(f"{plan.name}-%Y%m%d-%H%M%S", time.gmtime()),
                          f"{plan.source}: name")


def sweep_lock(path: str | os.PathLike, create: bool = False) -> contextlib.AbstractContextManager:
    """The lock of a sweep directory (:func:`experiments.locking.hold_lock`): held by the
    sweep process while it runs, resumes or redraws the sweep."""
    return hold_lock(path, "sweep directory", create=create)


def check_new_sweep_dir(path: str | os.PathLike) -> Path:
    """Check that a new sweep may be written into ``path`` (absent, or an empty folder; a lock
    file left by a process that died does not count). Creates nothing.

    Raises
    ------
    DirectoryLocked
        Another process is running a sweep there.
    RunDirError
        ``path`` is a file, or a non-empty folder (resume a sweep with ``--resume``).
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise RunDirError(f"{path}: exists and is not a folder")
    if path.is_dir() and any(entry.name != LOCK_NAME for entry in path.iterdir()):
        info = holder(path)
        if info is not None:
            raise DirectoryLocked(path, "sweep directory", info)
        hint = " (it holds a sweep: continue it with --resume)" if (path / PLAN).exists() else ""
        raise RunDirError(f"{path}: sweep folder is not empty{hint}")
    return path


def create_sweep_dir(path: str | os.PathLike, plan: SweepPlan) -> Path:
    """Make a new sweep directory holding ``plan.json``, ``sweep.yaml`` and a token (call it
    holding :func:`sweep_lock`, so that no other sweep starts there meanwhile).

    Raises
    ------
    RunDirError
        ``path`` is a file, or a non-empty folder (see :func:`check_new_sweep_dir`).
    """
    path = check_new_sweep_dir(path)
    try:
        (path / RUNS).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RunDirError(f"{path}: cannot create sweep directory ({exc.strerror})") from None
    try:
        atomic_write_text(path / SWEEP_FILE, Path(plan.source).read_text(encoding="utf-8"))
    except OSError:
        pass
    atomic_write_text(path / PLAN, json.dumps(plan.to_dict(), indent=1) + "\n")
    atomic_write_text(path / TOKEN, secrets.token_hex(16) + "\n")
    return path


def open_sweep_dir(path: str | os.PathLike) -> tuple[Path, SweepPlan]:
    """An existing sweep directory and its plan (read only: see :func:`restore_layout`).

    Raises
    ------
    RunDirError
        Not a folder, no readable ``plan.json``, or a run name in it that is not a plain
        folder name (it would put the run outside ``runs/``).
    """
    path = Path(path)
    if not path.is_dir():
        raise RunDirError(f"{path}: no such sweep directory")
    try:
        data = json.loads((path / PLAN).read_text(encoding="utf-8"))
        plan = SweepPlan.from_dict(data)
    except FileNotFoundError:
        raise RunDirError(f"{path}: not a sweep directory (no {PLAN}; expected a folder "
                          f"written by sparselearn sweep)") from None
    except (OSError, ValueError, TypeError) as exc:
        raise RunDirError(f"{path / PLAN}: unreadable sweep plan ({exc})") from None
    for run in plan.runs:
        name = run.name
        if not isinstance(name, str) or not plain_name(name):
            raise RunDirError(f"{path / PLAN}: run {run.index + 1}: name {name!r} is not a "
                              f"plain folder name (it would put the run outside "
                              f"{path / RUNS})")
    return path, plan


def restore_layout(path: str | os.PathLike) -> None:
    """Recreate ``runs/`` and the token of an opened sweep directory if they are missing."""
    path = Path(path)
    (path / RUNS).mkdir(exist_ok=True)
    if not (path / TOKEN).is_file():
        atomic_write_text(path / TOKEN, secrets.token_hex(16) + "\n")



def token(sweep_dir: str | os.PathLike) -> str:
    """The sweep directory's token (workers compare it to tell whether they share the disk)."""
    try:
        return (Path(sweep_dir) / TOKEN).read_text(encoding="utf-8").strip()
    except OSError:
        return ""


def run_dir(sweep_dir: str | os.PathLike, run: RunSpec) -> Path:
    """Run directory of ``run`` inside the sweep directory."""
    return Path(sweep_dir) / RUNS / run.name


def run_status(sweep_dir: str | os.PathLike, run: RunSpec) -> dict[str, Any]:
    """``status.json`` of a run, ``{"status": "pending"}`` when it has not started."""
    path = run_dir(sweep_dir, run)
    status = rd.read_status(path) if path.is_dir() else {}
    return status if status.get("status") else {"status": "pending"}


def needs_evaluation(sweep_dir: str | os.PathLike, plan: SweepPlan, run: RunSpec) -> bool:
    """The sweep evaluates its runs and ``run`` finished without an accuracy (not yet
    evaluated, or its evaluation failed)."""
    if not plan.evaluate:
        return False
    status = run_status(sweep_dir, run)
    return status["status"] in FINISHED and status.get("accuracy") is None


def mark_status(path: str | os.PathLike, **fields: Any) -> None:
    """Merge ``fields`` into a run directory's ``status.json`` (creating the folder)."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    status = rd.read_status(path)
    status.update(fields)
    rd.write_status(path, **status)


def clear_run(path: str | os.PathLike, wait: float = 10.0) -> None:
    """Remove a failed or never-checkpointed run directory before running it again.

    A worker of a broken pool (one lost worker takes its siblings down) may still be exiting
    and holding the folder's lock: wait up to ``wait`` seconds for it to go; a folder still
    held then is left alone (the worker reports it in use)."""
    deadline = time.monotonic() + wait
    while holder(path) is not None and time.monotonic() < deadline:
        time.sleep(0.1)
    if holder(path) is None:
        shutil.rmtree(path, ignore_errors=True)


class FileFlag:
    """A stop flag visible to every process that sees the sweep directory.

    It has the ``is_set()`` of a :class:`threading.Event`, so :func:`experiments.run_training`
    can poll it as its ``stop_event``: training then stops at the next iteration boundary and
    writes its checkpoint.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)

    def is_set(self) -> bool:
        """True once :meth:`set` was called (by any process)."""
        return self.path.exists()

    def set(self) -> None:
        """Raise the flag."""
        atomic_write_text(self.path, "stop\n")

    def clear(self) -> None:
        """Lower the flag."""
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass
