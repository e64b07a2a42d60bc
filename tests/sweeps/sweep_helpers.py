"""Shared helpers of the sweep tests: tiny sweeps and worker functions the workers import."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import yaml

from sparselearn.experiments.sweeps.worker import PointOutcome, PointTask, execute_point

#: A base config that trains in about a second.
TINY_RICA = {
    "seed": 0,
    "data": {"patch_size": 6, "count": 400, "whitening": {"method": "zca", "epsilon": 0.01}},
    "model": {"kind": "rica", "n_components": 12, "alpha": 0.1},
    "trainer": {"max_iter": 2, "inner_iter": 5},
}


def write_sweep(folder: Path, sweep: dict, base: dict | None = None,
                name: str = "sweep.yaml") -> Path:
    """Write ``base.yaml`` (default :data:`TINY_RICA`) and a sweep file next to it."""
    (folder / "base.yaml").write_text(yaml.safe_dump(base or TINY_RICA))
    path = folder / name
    path.write_text(yaml.safe_dump({"base": "base.yaml", **sweep}, sort_keys=False))
    return path


def kill_worker_for_lambda(task: PointTask) -> PointOutcome:
    """Kill the worker process on runs with lambda 0.3; run the others normally."""
    if task.config["model"]["alpha"] == 0.3:
        os.kill(os.getpid(), signal.SIGKILL)
    return execute_point(task)


def kill_worker_once(task: PointTask) -> PointOutcome:
    """Kill the worker on the first attempt of runs with lambda 0.3 only."""
    if task.config["model"]["alpha"] == 0.3 and task.attempt == 1:
        os.kill(os.getpid(), signal.SIGKILL)
    return execute_point(task)
