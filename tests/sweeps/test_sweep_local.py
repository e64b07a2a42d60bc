"""Sweeps on local worker processes: the 2 x 2 x 2-seed acceptance case, faults, resume."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from sweep_helpers import kill_worker_for_lambda, kill_worker_once, write_sweep

from sparselearn.experiments import rundir as rd
from sparselearn.experiments.sweeps import load_sweep, resume_sweep, run_sweep
from sparselearn.experiments.sweeps.executors import LocalExecutor
from sparselearn.experiments.sweeps.report import read_summary, redraw_report

RUN_FILES = (rd.CONFIG, rd.METRICS, rd.MODEL, rd.FILTERS, rd.CURVES, rd.CHECKPOINT, rd.STATUS)


@pytest.fixture(scope="module")
def pool():
    """Two spawned workers shared by the tests of this module (starting them costs seconds)."""
    with LocalExecutor(2) as executor:
        yield executor


def test_grid_2x2_with_2_seeds_on_2_workers(tmp_path, pool):
    plan = load_sweep(write_sweep(tmp_path, {"grid": {"model.alpha": [0.1, 0.3],
                                                      "model.n_components": [8, 12]},
                                             "seeds": 2}))
    seen = []
    result = run_sweep(plan, tmp_path / "sweep", executor=pool, progress=False,
                       on_outcome=lambda run, outcome: seen.append(outcome))
    assert result.count("finished") == 8 and not result.failed and not result.interrupted
    runs = sorted((tmp_path / "sweep" / "runs").iterdir())
    assert len(runs) == 8
    for run_dir in runs:
        assert all((run_dir / name).is_file() for name in RUN_FILES), run_dir
    rows = read_summary(tmp_path / "sweep" / "summary.csv")
    assert len(rows) == 8
    for column in ("model.alpha", "model.n_components", "seed", "status", "objective",
                   "ica_sparsity", "ica_reconstruction", "reconstruction_error", "sparsity",
                   "wall_time", "run_dir"):
        assert column in rows[0]
    assert {(r["model.alpha"], r["model.n_components"], r["seed"]) for r in rows} == {
        (lam, k, s) for lam in ("0.1", "0.3") for k in ("8", "12") for s in ("0", "1")}
    assert all(r["status"] == "finished" and float(r["objective"]) > 0 for r in rows)
    # One BLAS thread per worker (set before numpy loaded there).
    assert {outcome.blas_threads for outcome in seen} <= {1, None}
    assert (tmp_path / "sweep" / "metrics.png").stat().st_size > 0
    assert (tmp_path / "sweep" / "filters.png").stat().st_size > 0
    # Seeds differ, points differ: the learned filters are not all the same.
    a = np.load(runs[0] / rd.MODEL)["filters"]
    b = np.load(runs[1] / rd.MODEL)["filters"]
    assert not np.array_equal(a, b)


def test_failing_points_are_recorded_and_others_finish(tmp_path, pool):
    bad = tmp_path / "bad.npy"
    np.save(bad, np.zeros(3))
    plan = load_sweep(write_sweep(tmp_path, {
        "grid": {"model.alpha": [0.1, 1.0e308]},
        "points": [{"data.source": str(bad)}, {"model.alpha": 0.2}]}))
    result = run_sweep(plan, tmp_path / "sweep", executor=pool, progress=False)
    rows = {r["name"]: r for r in read_summary(tmp_path / "sweep" / "summary.csv")}
    assert result.count("finished") == 2
    diverged = rows["alpha=1e+308,seed=0"]
    assert diverged["status"] == "diverged" and "diverged at iteration" in diverged["error"]
    failed = [r for r in rows.values() if r["status"] == "failed"]
    assert len(failed) == 1 and "DataError" in failed[0]["error"]
    assert rows["alpha=0.1,seed=0"]["status"] == "finished"
    assert rows["alpha=0.2,seed=0"]["status"] == "finished"
    assert sorted(result.failed) == sorted([diverged["name"], failed[0]["name"]])


def test_worker_death_is_retried_once_then_recorded(tmp_path):
    plan = load_sweep(write_sweep(tmp_path, {"grid": {"model.alpha": [0.1, 0.3, 0.5]}}))
    result = run_sweep(plan, tmp_path / "a", workers=2, progress=False,
                       point_fn=kill_worker_for_lambda, report=False)
    rows = {r["name"]: r for r in read_summary(tmp_path / "a" / "summary.csv")}
    assert rows["alpha=0.3,seed=0"]["status"] == "failed"
    assert "worker lost" in rows["alpha=0.3,seed=0"]["error"]
    assert rows["alpha=0.3,seed=0"]["attempt"] == "2"
    assert rows["alpha=0.1,seed=0"]["status"] == "finished"
    assert rows["alpha=0.5,seed=0"]["status"] == "finished"
    assert result.failed == ["alpha=0.3,seed=0"]

    # A worker lost once: the retry finishes the run.
    result = resume_sweep(tmp_path / "a", workers=1, progress=False,
                          point_fn=kill_worker_once, report=False)
    assert result.executed == ["alpha=0.3,seed=0"]
    assert result.count("finished") == 3


def test_resume_after_interruption_reruns_only_unfinished(tmp_path, pool):
    # The first run is short; stopping the sweep when it finishes interrupts the long one in
    # flight at an iteration boundary (with a checkpoint) and leaves the last two pending.
    plan = load_sweep(write_sweep(tmp_path, {"grid": {"trainer.max_iter": [2, 400, 3, 4]},
                                             "overrides": {"trainer.tol": 0.0,
                                                           "trainer.checkpoint_every": 1}}))
    names = [run.name for run in plan.runs]
    stop = threading.Event()
    first = run_sweep(plan, tmp_path / "sweep", executor=pool, progress=False,
                      stop_event=stop, on_outcome=lambda run, outcome: stop.set())
    assert first.interrupted
    assert first.statuses == {names[0]: "finished", names[1]: "interrupted",
                              names[2]: "pending", names[3]: "pending"}
    stamp = (tmp_path / "sweep" / "runs" / names[0] / rd.MODEL).stat().st_mtime_ns
    rows = read_summary(tmp_path / "sweep" / "summary.csv")
    assert [r["status"] for r in rows] == ["finished", "interrupted", "pending", "pending"]
    assert not (tmp_path / "sweep" / ".stop").exists()

    # The report can be drawn from the partial sweep.
    files = redraw_report(tmp_path / "sweep")
    assert set(files) == {"summary", "metrics", "filters"}
    assert all((tmp_path / "sweep" / name).is_file() for name in ("metrics.png",
                                                                 "filters.png"))

    again = resume_sweep(tmp_path / "sweep", executor=pool, progress=False, report=False)
    assert sorted(again.executed) == sorted(names[1:])
    assert again.count("finished") == 4 and not again.interrupted
    assert (tmp_path / "sweep" / "runs" / names[0] / rd.MODEL).stat().st_mtime_ns == stamp
    resumed = rd.read_status(tmp_path / "sweep" / "runs" / names[1])
    assert resumed["status"] == "finished" and resumed["iteration"] == 400

    # A run left "running" by a killed sweep and a missing run directory are both redone.
    import shutil

    rd.write_status(tmp_path / "sweep" / "runs" / names[0], status="running", iteration=1)
    shutil.rmtree(tmp_path / "sweep" / "runs" / names[3])
    third = resume_sweep(tmp_path / "sweep", executor=pool, progress=False, report=False)
    assert sorted(third.executed) == sorted([names[0], names[3]])
    assert third.count("finished") == 4
