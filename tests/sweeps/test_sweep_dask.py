"""Sweeps on a real Dask LocalCluster, the missing-Dask message, and remote-disk workers."""

from __future__ import annotations

import sys

import pytest
from sweep_helpers import write_sweep

from sparselearn.experiments import rundir as rd
from sparselearn.experiments.errors import UsageError
from sparselearn.experiments.sweeps import execute_point, load_sweep, run_sweep
from sparselearn.experiments.sweeps.executors import DaskExecutor, make_executor
from sparselearn.experiments.sweeps.report import read_summary
from sparselearn.experiments.sweeps.worker import PointTask


def test_small_grid_on_a_dask_local_cluster(tmp_path):
    distributed = pytest.importorskip("dask.distributed")
    plan = load_sweep(write_sweep(tmp_path, {"grid": {"model.alpha": [0.1, 0.3]},
                                             "seeds": 2}))
    local = run_sweep(plan, tmp_path / "local", workers=1, progress=False, report=False)
    seen = []
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  host="127.0.0.1", dashboard_address=None) as cluster:
        with DaskExecutor(cluster.scheduler_address) as executor:
            assert executor.slots() == 2
            result = run_sweep(plan, tmp_path / "dask", executor=executor, progress=False,
                               on_outcome=lambda run, outcome: seen.append(outcome))
    assert result.count("finished") == 4 == local.count("finished")
    rows = read_summary(tmp_path / "dask" / "summary.csv")
    local_rows = read_summary(tmp_path / "local" / "summary.csv")
    assert list(rows[0]) == list(local_rows[0])
    assert len(rows) == 4 and all(r["status"] == "finished" for r in rows)
    # Same seed, same data, one BLAS thread: the same numbers whatever the executor.
    assert [r["objective"] for r in rows] == [r["objective"] for r in local_rows]
    assert {outcome.blas_threads for outcome in seen} <= {1, None}
    assert (tmp_path / "dask" / "filters.png").is_file()


def test_missing_dask_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "dask.distributed", None)
    with pytest.raises(UsageError, match=r"pip install -e '\.\[distributed\]'"):
        make_executor("local", 1)
    with pytest.raises(UsageError, match="expected 'local' or an address"):
        make_executor("localhost:8786", 1)


def test_worker_without_the_sweep_disk_sends_the_files_back(tmp_path):
    plan = load_sweep(write_sweep(tmp_path, {}))
    run = plan.runs[0]
    (tmp_path / "sweep").mkdir()
    (tmp_path / "sweep" / ".sweep-token").write_text("this sweep's token\n")
    task = PointTask(run.name, str(tmp_path / "sweep" / "runs" / run.name), run.config,
                     False, str(tmp_path / "sweep"), "another machine's token")
    outcome = execute_point(task)
    assert outcome.status == "finished"
    assert not (tmp_path / "sweep" / "runs").exists()
    assert {rd.CONFIG, rd.METRICS, rd.MODEL, rd.FILTERS, rd.STATUS} <= set(outcome.files)
