"""Divergence detection that means it (issue 13, point 2): growth, collapse, warnings, CLI.

Both sides are tested: runs that diverge stop with ``TrainingDiverged`` (message: iteration,
what was measured, likely cause, the parameter to change; the last good state kept), and noisy
but legitimate mini-batch training never trips the tests.
"""

from __future__ import annotations

import json
import warnings
from statistics import median

import numpy as np
import pytest

import sparselearn.experiments.runner as runner
import sparselearn.trainers.coding_safety as coding_safety
from sparselearn.cli import main
from sparselearn.trainers import Callback, SparseCoding, TopographicSparseCoding, TrainingDiverged
from sparselearn.trainers.coding_steps import IllConditionedWarning
from sparselearn.trainers.divergence import (
    COLLAPSE_SHARE,
    GROWTH_EXAMPLES,
    GROWTH_MULTIPLE,
    GROWTH_WINDOW,
    DivergenceMonitor,
    growth_window,
)


def _feed(monitor, values, growth=True, start=1):
    for i, value in enumerate(values, start=start):
        cause = monitor.observe(i, value, growth)
        if cause is not None:
            return i, cause
    return None, None


# -- the monitor on its own -----------------------------------------------------------------
def test_documented_constants_and_window():
    assert (GROWTH_WINDOW, GROWTH_EXAMPLES, GROWTH_MULTIPLE, COLLAPSE_SHARE) == (5, 500, 3.0,
                                                                                 1e-3)
    assert [growth_window(b) for b in (None, 2000, 100, 20, 3)] == [5, 5, 5, 25, 167]


def test_growth_trips_past_the_multiple_of_the_best_median():
    monitor = DivergenceMonitor([], None)
    # medians: 10 (iterations 1-5), then 10, 10, 20 (it 8), 40 (it 9) > 3 x 10
    iteration, cause = _feed(monitor, [10.0] * 5 + [20.0, 40.0, 80.0, 160.0, 320.0])
    assert iteration == 9
    assert "rose to 40" in cause and "3x its lowest 10" in cause
    assert "iterations 1-5" in cause and "median of the last 5" in cause
    assert monitor.best_iteration == 1


def test_growth_below_the_multiple_does_not_trip():
    monitor = DivergenceMonitor([], None)
    assert _feed(monitor, [10.0] * 5 + [29.9] * 20) == (None, None)


def test_one_unlucky_batch_does_not_trip():
    monitor = DivergenceMonitor([], None)
    values = [10.0] * 8 + [1000.0] + [10.0] * 8 + [1000.0, 9.0, 1000.0] + [10.0] * 5
    assert _feed(monitor, values) == (None, None)


def test_without_growth_nothing_trips_but_the_best_is_tracked():
    monitor = DivergenceMonitor([], None)
    assert _feed(monitor, [10.0, 5.0] + [1e6] * 10, growth=False) == (None, None)
    assert monitor.best_iteration == 2


def test_history_seeds_the_monitor_as_a_resumed_fit_needs():
    history = [{"iteration": i, "objective": 10.0} for i in range(1, 8)]
    monitor = DivergenceMonitor(history, None)
    assert _feed(monitor, [100.0, 100.0, 100.0], start=8)[0] == 10


def test_collapse_trips_below_the_share_of_the_largest_scale():
    monitor = DivergenceMonitor([], 2.0)
    assert monitor.collapse(4.0, "‖A‖") is None  # the largest so far becomes 4
    assert monitor.collapse(4.0 * COLLAPSE_SHARE * 1.01, "‖A‖") is None
    cause = monitor.collapse(4.0 * COLLAPSE_SHARE * 0.99, "‖A‖")
    assert cause is not None and "‖A‖ fell to" in cause and "collapsing towards zero" in cause
    assert DivergenceMonitor([], None).collapse(0.0, "x") is None  # no scale: no test


# -- in a fit ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def data() -> np.ndarray:
    """400 examples of 8 features from 16 unit atoms (twice overcomplete), unit variance."""
    rng = np.random.default_rng(0)
    D = rng.standard_normal((8, 16))
    D /= np.linalg.norm(D, axis=0)
    S = rng.laplace(size=(16, 400)) * (rng.random((16, 400)) < 0.3)
    X = (D @ S).T + 0.05 * rng.standard_normal((400, 8))
    X -= X.mean(axis=0)
    return np.ascontiguousarray(X / X.std())


@pytest.fixture
def no_scale_step(monkeypatch):
    """The A-step as it was before issue 13 (no scale step after it)."""
    monkeypatch.setattr(coding_safety, "balance_scales", lambda A, s, *a, **k: (A, s))


class _Seen(Callback):
    def __init__(self):
        self.iterations = []

    def on_iteration_end(self, state):
        self.iterations.append(state.iteration)


def _growing(model, start=4, factor=4.0):
    """Make ``model``'s recorded objective grow by ``factor`` per iteration from ``start``."""
    measure = model._measure

    def grown(*args, **kwargs):
        record = measure(*args, **kwargs)
        record["objective"] *= factor ** max(0, model.n_iter_ + 1 - start)
        return record

    model._measure = grown
    return model


def test_growth_stops_the_fit_and_keeps_the_best_state(data):
    seen = _Seen()
    model = _growing(SparseCoding(16, alpha=1e-3, batch_size=100, inner_iter=5, max_iter=30,
                                  random_state=0, callbacks=[seen]))
    with pytest.raises(TrainingDiverged) as info:
        model.fit(data)
    err = info.value
    best = int(np.argmin([r["objective"] for r in err.last_state["history"]])) + 1
    assert err.iteration == max(seen.iterations) + 1  # no callback saw the offending record
    assert "training diverged at outer iteration" in str(err)
    assert f"iteration {err.iteration}" in str(err) and "rose to" in str(err)
    assert "lower alpha" in err.cause and "raise inner_iter" in err.cause
    assert err.last_state["iteration"] == best == model.n_iter_ == len(model.history_)
    assert model.stop_reason_.startswith("diverged:")
    np.testing.assert_array_equal(model.components_, err.last_state["params"]["A"].T)
    resumed = SparseCoding(16, alpha=1e-3, batch_size=100, inner_iter=5, max_iter=best + 2,
                           random_state=0).fit(data, resume=err.last_state)
    assert resumed.n_iter_ == best + 2


SHORT_S_STEP = dict(alpha=1e-2, epsilon=1e-5, batch_size=200, inner_iter=10, random_state=0)


@pytest.mark.parametrize("topographic", [False, True])
def test_real_growth_without_the_scale_step_is_reported(data, no_scale_step, topographic):
    """The feedback of issue 13 itself: without the scale step the A-step shrinks the atoms
    that the short s-step left with oversized codes and the objective takes off (measured:
    median 134 against 5 at first); the growth test stops the fit within 10 iterations."""
    model = (TopographicSparseCoding(grid=(4, 4), max_iter=30, **SHORT_S_STEP) if topographic
             else SparseCoding(16, max_iter=30, **SHORT_S_STEP))
    with pytest.raises(TrainingDiverged) as info:
        model.fit(data)
    assert info.value.iteration <= 10
    assert "rose to" in info.value.cause and "alpha=0.01" in info.value.cause


def test_real_collapse_in_partial_fit_is_reported(data, no_scale_step):
    model = SparseCoding(16, **SHORT_S_STEP)
    with pytest.raises(TrainingDiverged) as info:
        for i in range(60):
            model.partial_fit(data[(i % 2) * 200:(i % 2 + 1) * 200])
    cause = info.value.cause
    assert "‖A‖_F fell to" in cause and "collapsing towards zero" in cause
    assert "lower alpha" in cause and "constraint='unit_norm'" in cause
    kept = info.value.last_state["iteration"]
    assert kept == model.n_iter_ < info.value.iteration == 15  # back to the lowest objective


@pytest.mark.parametrize("topographic", [False, True])
def test_with_the_scale_step_the_same_fits_finish(data, topographic):
    model = (TopographicSparseCoding(grid=(4, 4), max_iter=30, **SHORT_S_STEP) if topographic
             else SparseCoding(16, max_iter=30, **SHORT_S_STEP)).fit(data)
    assert model.stop_reason_ == "max_iter"
    assert np.linalg.norm(model.components_, axis=1).min() > 0.5


def test_partial_fit_batches_of_other_sizes_do_not_trip(data):
    model = SparseCoding(16, alpha=1e-3, batch_size=10, inner_iter=5, random_state=0)
    for size in (10, 10, 10, 10, 10, 400, 400, 400, 400, 400):
        model.partial_fit(data[:size])  # the objective is a sum: it grows 40x, not diverging
    assert model.n_iter_ == 10
    assert model.history_[-1]["objective"] > 10 * model.history_[0]["objective"]


def _worst_growth(model):
    """Largest ratio of a smoothed objective to the lowest smoothed one before it."""
    window = growth_window(model._b)
    objective = [r["objective"] for r in model.history_]
    smoothed = [median(objective[i - window:i]) for i in range(window, len(objective) + 1)]
    return max(s / min(smoothed[:i]) for i, s in enumerate(smoothed) if i > 0)


@pytest.mark.parametrize("make", [
    lambda: SparseCoding(64, batch_size=5, inner_iter=10, max_iter=250, random_state=0),
    lambda: SparseCoding(64, constraint="unit_norm", batch_size=5, inner_iter=10,
                         max_iter=250, random_state=0),
    lambda: SparseCoding(64, batch_size=20, inner_iter=20, max_iter=80, random_state=0),
    lambda: TopographicSparseCoding(grid=(8, 8), batch_size=50, inner_iter=20, max_iter=40,
                                    random_state=0),
], ids=["batches-of-5", "batches-of-5-unit-norm", "batches-of-20", "topographic-50"])
def test_noisy_minibatch_training_never_trips(natural_white, make):
    """Batches of 5 for 64 atoms: each batch is overfit and the raw objective varies 9-18x
    between its 5th and 95th percentile; smoothed over 500 examples it stays inside."""
    model = make().fit(natural_white)
    assert model.stop_reason_ == "max_iter"
    assert _worst_growth(model) < GROWTH_MULTIPLE / 1.5  # well inside the multiple


# -- recoverable trouble ----------------------------------------------------------------------
def test_ill_conditioned_a_step_warns_once_with_what_to_change(data):
    """A weight decay of 1e-30 leaves the A-step's s sᵀ + γbI singular up to rounding
    (scipy: rcond 8e-32 on the planted problem): one warning per fit, saying what to change."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = SparseCoding(16, alpha=1e-3, gamma=1e-30, batch_size=100, inner_iter=2,
                             max_iter=4, random_state=0).fit(data)
    assert model.n_iter_ == 4
    ill = [w for w in caught if issubclass(w.category, IllConditionedWarning)]
    assert len(ill) == 1, [str(w.message) for w in caught]
    text = str(ill[0].message)
    assert "SparseCoding" in text and "ill-conditioned at outer iteration" in text
    assert "raise gamma (now 1e-30)" in text and "lower alpha" in text


# -- the command line -------------------------------------------------------------------------
def test_cli_exits_1_with_status_diverged_and_the_cause(tmp_path, monkeypatch, capsys):
    build = runner.build_estimator
    monkeypatch.setattr(runner, "build_estimator",
                        lambda *a, **k: _growing(build(*a, **k), start=3))
    config = tmp_path / "sc.yaml"
    config.write_text(json.dumps({
        "data": {"count": 400, "patch_size": 4},
        "model": {"kind": "sparse_coding", "n_components": 16},
        "trainer": {"max_iter": 20, "batch_size": 100, "inner_iter": 3,
                    "checkpoint_every": 5}}))
    status = main(["train", str(config), "--out", str(tmp_path / "run"), "--quiet"])
    err = capsys.readouterr().err
    assert status == 1
    assert "training failed: training diverged at iteration" in err
    assert "rose to" in err and "lower alpha" in err and "Traceback" not in err
    written = json.loads((tmp_path / "run" / "status.json").read_text())
    assert written["status"] == "diverged" and written["checkpoint_iteration"] >= 1
