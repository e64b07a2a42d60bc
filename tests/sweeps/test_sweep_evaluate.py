"""Sweeps with ``evaluate:``: every finished run is evaluated in its worker; accuracy in the
summary and the report; resume evaluates without retraining; bad ``evaluate`` keys rejected."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sweep_helpers import write_sweep

from sparselearn.experiments import rundir as rd
from sparselearn.experiments.errors import ConfigError
from sparselearn.experiments.sweeps import load_sweep, resume_sweep, run_sweep
from sparselearn.experiments.sweeps.cli import format_plan
from sparselearn.experiments.sweeps.executors import LocalExecutor
from sparselearn.experiments.sweeps.report import plot_metrics, read_summary, summary_columns

#: 16 ICA filters on 4x4 patches (they fit the 8x8 digits), trained for 2 iterations.
TINY_ICA = {
    "seed": 0,
    "data": {"patch_size": 4, "count": 2000},
    "model": {"kind": "ica", "n_components": 16},
    "trainer": {"max_iter": 2},
}
#: One soft threshold (no CV over the default grid): the sweep plumbing is under test here.
SWEEP = {"grid": {"model.n_components": [8, 16]},
         "evaluate": {"dataset": "digits", "alpha": 0.5}}


def _status(sweep: Path, name: str) -> dict:
    return rd.read_status(sweep / "runs" / name)


def test_evaluated_sweep_summary_report_and_resume(tmp_path):
    plan = load_sweep(write_sweep(tmp_path, SWEEP, base=TINY_ICA))
    assert plan.evaluate == {"baselines": "none", "dataset": "digits", "alpha": 0.5}
    assert "then evaluated: baselines=none, dataset=digits, alpha=0.5" in format_plan(plan)
    sweep = tmp_path / "sweep"
    with LocalExecutor(2) as pool:
        result = run_sweep(plan, sweep, executor=pool, progress=False)
        assert result.count("finished") == 2 and not result.failed
        rows = read_summary(sweep / "summary.csv")
        assert len(rows) == 2
        for row in rows:
            assert 0 < float(row["accuracy"]) <= 1 and row["error"] == ""
        columns = list(rows[0])
        assert columns.index("accuracy") == columns.index("objective") + 1
        assert "accuracy" in plot_metrics(summary_columns(rows, plan), plan)
        assert (sweep / "metrics.png").stat().st_size > 0
        for run in plan.runs:
            record = json.loads((sweep / "runs" / run.name / "evaluation.json").read_text())
            assert record["encoder"]["alpha_grid"] == [0.5]
            assert record["accuracy"] == pytest.approx(float(
                next(r for r in rows if r["name"] == run.name)["accuracy"]))

        # A finished run without an accuracy is evaluated on resume, not retrained.
        name = plan.runs[0].name
        status = _status(sweep, name)
        first_accuracy = status.pop("accuracy")
        rd.write_status(sweep / "runs" / name, **status)
        stamp = (sweep / "runs" / name / rd.MODEL).stat().st_mtime_ns
        again = resume_sweep(sweep, executor=pool, progress=False, report=False)
        assert again.executed == [name] and again.count("finished") == 2
        assert (sweep / "runs" / name / rd.MODEL).stat().st_mtime_ns == stamp
        assert _status(sweep, name)["accuracy"] == pytest.approx(first_accuracy)
        assert all(row["accuracy"] for row in read_summary(sweep / "summary.csv"))

        # Nothing left to do: resume runs nothing.
        assert resume_sweep(sweep, executor=pool, progress=False, report=False).executed == []


def test_failed_evaluation_leaves_accuracy_empty_and_records_the_error(tmp_path):
    # 10x10 filters do not fit the 8x8 digits: training finishes, the evaluation fails.
    base = {**TINY_ICA, "data": {"patch_size": 10, "count": 500}}
    plan = load_sweep(write_sweep(tmp_path, {"evaluate": {"dataset": "digits"}}, base=base))
    result = run_sweep(plan, tmp_path / "sweep", workers=1, progress=False, report=False)
    assert result.count("finished") == 1
    (row,) = read_summary(tmp_path / "sweep" / "summary.csv")
    assert row["status"] == "finished" and row["accuracy"] == ""
    assert "evaluation: DatasetError" in row["error"] and "do not fit" in row["error"]


@pytest.mark.parametrize(("evaluate", "message"), [
    ({"dataset": "digits", "basline": "none"},
     "evaluate.basline: unknown evaluate key 'basline'"),
    ({"dataset": "no-such-set"}, "evaluate.dataset: unknown dataset 'no-such-set'"),
    ({"baselines": "none"}, "evaluate.dataset: required"),
    ({"dataset": "digits", "baselines": "raw,nope"}, "evaluate.baselines"),
    ({"dataset": "digits", "classifier": "tree"}, "evaluate.classifier: expected one of"),
    ({"dataset": "digits", "stride": 0}, "evaluate.stride: expected an integer >= 1"),
    ("digits", "evaluate: expected a mapping"),
])
def test_bad_evaluate_is_rejected_before_anything_is_created(tmp_path, evaluate, message):
    path = write_sweep(tmp_path, {"grid": {"model.n_components": [8, 16]}, "evaluate": evaluate},
                       base=TINY_ICA)
    with pytest.raises(ConfigError) as info:
        load_sweep(path)
    text = str(info.value)
    assert message in text and str(path) in text
    if "unknown evaluate key" in message:
        assert "known keys: dataset, encoder, classifier" in text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["base.yaml", "sweep.yaml"]
