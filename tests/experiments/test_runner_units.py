"""run_training pieces in process: checkpoints, divergence, stop flag, results, metrics file."""

from __future__ import annotations

import math
import pickle
import threading

import numpy as np
import pytest

import sparselearn.experiments.runner as runner
from sparselearn.experiments import (
    DataError,
    RunDirError,
    TrainingFailed,
    config_from_dict,
    run_training,
)
from sparselearn.experiments.checkpoint import load_state, save_state
from sparselearn.experiments.rundir import read_status

TINY = {"data": {"count": 800}, "model": {"kind": "rica", "n_components": 16},
        "trainer": {"max_iter": 6, "inner_iter": 3, "checkpoint_every": 2, "tol": 0.0}}


def test_checkpoint_round_trip_is_exact(tmp_path):
    rng = np.random.default_rng(5)
    rng.normal(size=3)
    state = {"params": {"W": rng.normal(size=(4, 3))}, "rng_state": rng.bit_generator.state,
             "iteration": 7, "history": [{"objective": 0.1 + 0.2, "step_size": math.nan}],
             "solver_state": {"memory": (np.arange(3.0), 2), "step": np.float32(0.5)}}
    save_state(tmp_path / "c.npz", state, extra={"filters": np.eye(2)}, meta={"status": "x"})
    loaded, extra, meta = load_state(tmp_path / "c.npz")
    assert loaded["rng_state"] == state["rng_state"]
    np.testing.assert_array_equal(loaded["params"]["W"], state["params"]["W"])
    assert loaded["history"][0]["objective"] == 0.1 + 0.2
    assert math.isnan(loaded["history"][0]["step_size"])
    assert isinstance(loaded["solver_state"]["memory"], tuple)
    assert meta == {"status": "x"} and extra["filters"].shape == (2, 2)


def test_stop_event_interrupts_and_resume_matches(tmp_path):
    config = config_from_dict(TINY)
    full = run_training(config, tmp_path / "full", progress=False)

    class StopAfter(threading.Event):
        """Reports 'set' from the third poll on (after iteration 3)."""

        def __init__(self) -> None:
            super().__init__()
            self.polls = 0

        def is_set(self) -> bool:
            self.polls += 1
            return self.polls >= 3

    cut = run_training(config, tmp_path / "cut", progress=False, stop_event=StopAfter())
    assert cut.status == "interrupted" and cut.iterations == 3
    assert read_status(tmp_path / "cut")["status"] == "interrupted"
    resumed = run_training(None, tmp_path / "cut", resume=True, progress=False,
                           stop_event=threading.Event())
    assert resumed.status == "finished" and resumed.iterations == 6
    with np.load(full.files["model.npz"]) as a, np.load(resumed.files["model.npz"]) as b:
        assert np.array_equal(a["W"], b["W"])
    assert full.objective == resumed.objective
    # resuming a finished run is a no-op that reports it
    again = run_training(None, tmp_path / "cut", resume=True, progress=False)
    assert again.status == "finished" and again.iterations == 6
    # results are small and picklable (sweep executors send them between processes)
    copy = pickle.loads(pickle.dumps(resumed))
    assert (copy.run_dir, copy.status, copy.objective) == (resumed.run_dir, "finished",
                                                          resumed.objective)


def test_divergence_names_iteration_and_checkpoint(tmp_path, monkeypatch):
    build = runner.build_estimator

    def diverging(*args, **kwargs):
        model = build(*args, **kwargs)
        measure = model._measure

        def poisoned(*a, **k):
            record = measure(*a, **k)
            if model.n_iter_ >= 3:
                record["objective"] = math.nan
            return record

        model._measure = poisoned
        return model

    monkeypatch.setattr(runner, "build_estimator", diverging)
    with pytest.raises(TrainingFailed) as err:
        run_training(config_from_dict(TINY), tmp_path / "run", progress=False)
    assert err.value.iteration == 4 and "iteration 4" in str(err.value)
    assert err.value.checkpoint == str(tmp_path / "run" / "checkpoint.npz")
    state, extra, meta = load_state(err.value.checkpoint)
    assert state["iteration"] == 3 and meta["status"] == "diverged"
    assert np.isfinite(extra["filters"]).all()
    assert read_status(tmp_path / "run")["status"] == "diverged"
    assert len((tmp_path / "run" / "metrics.csv").read_text().splitlines()) == 4


def test_errors_before_any_work(tmp_path):
    with pytest.raises(RunDirError, match="not a run directory"):
        run_training(None, tmp_path, resume=True)
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "file").write_text("x")
    with pytest.raises(RunDirError, match="not empty"):
        run_training(TINY, tmp_path / "busy", progress=False)
    bad = {**TINY, "data": {"count": 10, "patch_size": 4000}}
    with pytest.raises(DataError, match="patch"):
        run_training(bad, tmp_path / "big", progress=False)
    assert not (tmp_path / "big").exists()
