"""scripts/sweep.py as a user runs it: Ctrl-C and --resume, --report, --scheduler local."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sweep_helpers import write_sweep

REPO = Path(__file__).resolve().parents[2]
SCRIPT = str(REPO / "scripts" / "sweep.py")


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(MPLBACKEND="Agg", PYTHONUNBUFFERED="1")
    return env


def _statuses(path: Path) -> list[str]:
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            return [row["status"] for row in csv.DictReader(handle)]
    except (OSError, KeyError):
        return []


def test_sigint_stops_cleanly_and_resume_finishes(tmp_path):
    sweep = write_sweep(tmp_path, {"grid": {"trainer.max_iter": [2, 150, 3]},
                                   "overrides": {"trainer.tol": 0.0,
                                                 "trainer.checkpoint_every": 1}})
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, SCRIPT, str(sweep), "--workers", "1", "--out",
                             str(out), "--quiet"], cwd=tmp_path, env=_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while "finished" not in _statuses(out / "summary.csv"):
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.1)
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, stderr
    assert "--resume" in stdout and "Traceback" not in stderr
    statuses = _statuses(out / "summary.csv")
    assert statuses[0] == "finished" and "finished" not in statuses[1:]

    done = subprocess.run([sys.executable, SCRIPT, "--resume", str(out), "--quiet"],
                          cwd=tmp_path, env=_env(), capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert "3 of 3 runs finished" in done.stdout
    assert _statuses(out / "summary.csv") == ["finished"] * 3

    report = subprocess.run([sys.executable, SCRIPT, "--report", str(out)], cwd=tmp_path,
                            env=_env(), capture_output=True, text=True, timeout=120)
    assert report.returncode == 0, report.stderr
    assert "metrics.png" in report.stdout and "filters.png" in report.stdout


def test_scheduler_local_starts_a_dask_cluster(tmp_path):
    pytest.importorskip("dask.distributed")
    sweep = write_sweep(tmp_path, {"grid": {"model.alpha": [0.1, 0.3]}})
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, SCRIPT, str(sweep), "--scheduler", "local",
                           "--workers", "2", "--out", str(out), "--quiet"], cwd=tmp_path,
                          env=_env(), capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr
    assert _statuses(out / "summary.csv") == ["finished", "finished"]


def test_failed_run_gives_exit_status_1(tmp_path):
    sweep = write_sweep(tmp_path, {"points": [{"model.alpha": 1.0e308}]})
    proc = subprocess.run([sys.executable, SCRIPT, str(sweep), "--out", str(tmp_path / "o"),
                           "--quiet"], cwd=tmp_path, env=_env(), capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 1
    assert "diverged: alpha=1e+308,seed=0" in proc.stdout


def test_report_of_a_folder_that_is_not_a_sweep(tmp_path):
    proc = subprocess.run([sys.executable, SCRIPT, "--report", str(tmp_path)], cwd=tmp_path,
                          env=_env(), capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "not a sweep directory" in proc.stderr and "Traceback" not in proc.stderr
