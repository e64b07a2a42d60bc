"""RICA's L-BFGS keeps its memory across outer iterations (issue 13, point 4).

``max_iter`` chunks of ``inner_iter`` L-BFGS iterations are one run of ``max_iter · inner_iter``
iterations: bit-identical parameters, also through a checkpoint file and a resume; the memory
(``lbfgs_memory``) and the tolerance stop (``lbfgs_tol``) are parameters; the solver itself
(:mod:`trainers.lbfgs`) minimises, splits and fails cleanly.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.optimize
from sklearn.exceptions import ConvergenceWarning
from threadpoolctl import threadpool_limits

from sparselearn.experiments.checkpoint import load_state, save_state
from sparselearn.experiments.config import load_config
from sparselearn.experiments.errors import ConfigError
from sparselearn.experiments.models import build_estimator
from sparselearn.objectives.row_normalized import RowNormalized
from sparselearn.patches import Whitener, remove_patch_mean, sample_patches
from sparselearn.trainers import RICA, TopographicICA
from sparselearn.trainers.lbfgs import lbfgs_start, lbfgs_steps


@pytest.fixture(scope="module")
def white() -> np.ndarray:
    """400 whitened mixtures of 8 Laplace sources, one per row."""
    rng = np.random.default_rng(3)
    X = rng.laplace(size=(400, 8)) @ rng.standard_normal((8, 8))
    X -= X.mean(axis=0)
    U, _, _ = np.linalg.svd(X, full_matrices=False)
    return np.ascontiguousarray(U * np.sqrt(len(X)))


def _rica(cls=RICA, **kw):
    size = {"grid": (3, 4), "pool": 2} if cls is TopographicICA else {"n_components": 12}
    return cls(**{**size, "alpha": 0.1, "tol": 0.0, "random_state": 0, **kw})


def _fit(model, X, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(X, **kw)


@pytest.fixture(scope="module")
def patches_6x6() -> np.ndarray:
    """1000 natural 6 × 6 patches, mean removed, ZCA-whitened to unit variance."""
    X = remove_patch_mean(sample_patches("natural", 6, 1000, np.random.default_rng(0))).T
    Z = Whitener("zca", epsilon=0.01 * float(np.var(X, axis=0).sum() / 36)).fit_transform(X)
    return np.ascontiguousarray(Z / np.sqrt(Z.var(axis=0).mean()))


def test_500_iterations_in_chunks_are_one_uninterrupted_lbfgs_run(patches_6x6):
    """The acceptance test: a fit of 25 × 20 iterations reaches the objective of one
    uninterrupted 500-iteration L-BFGS run on the same objective from the same start, to 1e-6
    relative (in fact exactly); restarting the memory every chunk (the old behaviour) ends
    8e-4 higher on this problem."""
    X = patches_6x6
    model = _fit(RICA(48, alpha=0.1, tol=0.0, random_state=0, max_iter=25, inner_iter=20), X)
    assert sum(r["lbfgs_iter"] for r in model.history_) == 500
    objective = model.history_[-1]["objective"]

    x = X.T
    start = _fit(RICA(48, tol=0.0, random_state=0, max_iter=0), X).components_  # its first W
    term = RowNormalized(model._objective_terms(x), "W", model._range_projector)
    fun = lambda W: term.value_and_grad({"W": W, "x": x}, "W")  # noqa: E731
    with threadpool_limits(1):  # the fit's BLAS threads (blas_threads=1): the same rounding
        _, run = lbfgs_steps(fun, lbfgs_start(fun, start), 500, memory=10, unit_rows=True)
        assert objective == pytest.approx(term.value({"W": run.x, "x": x}), rel=1e-6)
        assert np.array_equal(model.components_, term.unit_rows(run.x))

        W = start
        for _ in range(25):
            _, chunk = lbfgs_steps(fun, lbfgs_start(fun, W), 20, unit_rows=True)
            W = term.unit_rows(chunk.x)
        assert term.value({"W": W, "x": x}) > (1 + 1e-4) * objective


@pytest.mark.parametrize(("cls", "row_norm", "dtype"), [
    (RICA, None, np.float64), (RICA, "unit", np.float32), (TopographicICA, "unit", np.float64),
])
def test_chunking_does_not_change_the_fit(white, cls, row_norm, dtype):
    a = _fit(_rica(cls, row_norm=row_norm, dtype=dtype, max_iter=8, inner_iter=5), white)
    b = _fit(_rica(cls, row_norm=row_norm, dtype=dtype, max_iter=2, inner_iter=20), white)
    assert np.array_equal(a.components_, b.components_)
    assert a.history_[-1]["objective"] == b.history_[-1]["objective"]
    assert a.components_.dtype == dtype and a.transform(white).dtype == dtype


def test_resume_through_a_checkpoint_file_is_bit_identical(white, tmp_path):
    full = _fit(_rica(max_iter=10, inner_iter=4), white)
    part = _fit(_rica(max_iter=4, inner_iter=4), white)
    state = part.state_dict()
    assert state["solver_state"]["lbfgs"]["s"].shape == (10, 12 * 8)  # the memory travels
    save_state(tmp_path / "checkpoint.npz", state)
    resumed = _fit(_rica(max_iter=10, inner_iter=4), white,
                   resume=load_state(tmp_path / "checkpoint.npz")[0])
    assert np.array_equal(full.components_, resumed.components_)
    assert ([r["objective"] for r in full.history_]
            == [r["objective"] for r in resumed.history_])
    assert ([r["lbfgs_eval"] for r in full.history_]
            == [r["lbfgs_eval"] for r in resumed.history_])


def test_unit_rows_keep_the_iterate_at_unit_norm(white):
    model = _fit(_rica(max_iter=5, inner_iter=10), white)
    x = model.state_dict()["solver_state"]["lbfgs"]["x"]
    np.testing.assert_allclose(np.linalg.norm(x, axis=1), 1.0, rtol=1e-12)
    np.testing.assert_allclose(np.linalg.norm(model.components_, axis=1), 1.0, rtol=1e-12)


def test_lbfgs_memory_sets_the_pairs_kept_and_changes_the_run(white):
    short = _fit(_rica(max_iter=3, inner_iter=10, lbfgs_memory=3), white)
    default = _fit(_rica(max_iter=3, inner_iter=10), white)
    assert short.state_dict()["solver_state"]["lbfgs"]["s"].shape == (3, 96)
    assert default.state_dict()["solver_state"]["lbfgs"]["y"].shape == (10, 96)
    assert not np.allclose(short.components_, default.components_)


def test_lbfgs_tol_stops_the_fit_as_converged(white):
    model = _fit(_rica(max_iter=200, inner_iter=10, lbfgs_tol=1e-6), white)
    assert model.stop_reason_ == "converged" and model.n_iter_ < 200
    assert model.history_[-1]["lbfgs_iter"] < 10
    objective = [r["objective"] for r in model.history_]
    # the budget alone (lbfgs_tol=0) keeps going, and lowers the objective further
    budget = _fit(_rica(max_iter=model.n_iter_ + 5, inner_iter=10), white)
    assert budget.stop_reason_ == "max_iter"
    assert budget.history_[-1]["objective"] <= objective[-1]


@pytest.mark.parametrize(("name", "value", "expected"), [
    ("lbfgs_memory", 0, r"an int in \[1, inf\]"),
    ("lbfgs_memory", 2.5, r"an int in \[1, inf\]"),
    ("lbfgs_memory", True, r"an int in \[1, inf\]"),
    ("lbfgs_tol", -1e-3, r"a float in \[0.0, 1.0\]"),
    ("lbfgs_tol", float("nan"), r"a float in \[0.0, 1.0\]"),
    ("lbfgs_tol", "1e-3", r"a float in \[0.0, 1.0\]"),
])
@pytest.mark.parametrize("cls", [RICA, TopographicICA])
def test_lbfgs_parameters_are_validated(white, cls, name, value, expected):
    with pytest.raises(ValueError, match=rf"{cls.__name__}: parameter '{name}' must be "
                                         rf"{expected}; got"):
        _rica(cls, max_iter=1, **{name: value}).fit(white)


def test_a_resume_state_of_another_shape_is_refused(white):
    state = _fit(_rica(max_iter=1, inner_iter=3), white).state_dict()
    state["solver_state"]["lbfgs"]["x"] = np.zeros((12, 7))
    with pytest.raises(ValueError, match=r"RICA: resume solver_state\['lbfgs'\]\['x'\] must be "
                                         r"a finite float64 array of shape \(12, 8\); got"):
        _rica(max_iter=2, inner_iter=3).fit(white, resume=state)
    del state["solver_state"]["lbfgs"]["grad"]
    with pytest.raises(ValueError, match=r"solver_state\['lbfgs'\] lacks grad"):
        _rica(max_iter=2, inner_iter=3).fit(white, resume=state)


def test_parameters_changed_by_a_callback_restart_the_run_from_them(white):
    class Reset:
        def on_train_begin(self, state):
            self.start = state.params["W"].copy()

        def on_train_end(self, state):
            pass

        def on_iteration_end(self, state):
            if state.iteration == 2:
                state.model._params["W"] = self.start.copy()

    model = _fit(_rica(max_iter=5, inner_iter=4, callbacks=[Reset()]), white)
    assert model.state_dict()["solver_state"]["lbfgs"]["n_iter"] == 3 * 4  # counted afresh
    # and from the reset on, the fit retraces its first three outer iterations
    plain = _fit(_rica(max_iter=3, inner_iter=4), white)
    assert np.array_equal(model.components_, plain.components_)


def test_trainer_lbfgs_memory_in_a_config():
    config = load_config("configs/rica.yaml", ["trainer.lbfgs_memory=25"])
    assert build_estimator(config).lbfgs_memory == 25
    with pytest.raises(ConfigError, match="trainer.lbfgs_memory: expected an integer >= 1"):
        load_config("configs/rica.yaml", ["trainer.lbfgs_memory=0"])
    with pytest.raises(ConfigError, match=r"trainer.lbfgs_memory: not used by model.kind 'ica'"):
        load_config("configs/ica.yaml", ["trainer.lbfgs_memory=25"])


# -- the solver on its own -----------------------------------------------------------------


def _rosenbrock(x):
    return float(scipy.optimize.rosen(x)), scipy.optimize.rosen_der(x)


def test_solver_minimises_and_splits_exactly():
    x0 = np.full(6, -1.2)
    state, result = lbfgs_steps(_rosenbrock, lbfgs_start(_rosenbrock, x0), 200, tol=1e-14)
    np.testing.assert_allclose(result.x, 1.0, atol=1e-5)
    assert result.message.startswith("converged") and result.n_iter < 200
    assert state["n_eval"] == result.n_eval + 1  # the start's evaluation is counted
    split = lbfgs_start(_rosenbrock, x0)
    for _ in range(result.n_iter // 7 + 1):
        split, part = lbfgs_steps(_rosenbrock, split, 7, tol=1e-14)
    assert np.array_equal(split["x"], state["x"]) and split["n_iter"] == state["n_iter"]


def test_solver_state_is_float64_and_evaluations_keep_the_dtype():
    seen = set()

    def fun(x):
        seen.add(x.dtype)
        return float(np.sum((x - 1.0) ** 2)), 2 * (x - 1.0)

    x0 = np.zeros((3, 2), dtype=np.float32)
    state, result = lbfgs_steps(fun, lbfgs_start(fun, x0), 20, dtype=np.float32)
    assert seen == {np.dtype(np.float32)}
    assert state["x"].dtype == np.float64 and result.x.dtype == np.float32
    np.testing.assert_allclose(result.x, 1.0, atol=1e-6)


def test_non_finite_trial_points_shorten_the_step_and_a_dead_end_is_reported():
    def barrier(x):  # finite only inside |x| < 1, minimum at 0.9
        if np.abs(x).max() >= 1.0:
            return np.inf, np.full_like(x, np.nan)
        return float(np.sum((x - 0.9) ** 2)), 2 * (x - 0.9)

    state, result = lbfgs_steps(barrier, lbfgs_start(barrier, np.zeros(3)), 50)
    np.testing.assert_allclose(result.x, 0.9, atol=1e-8)

    def sawtooth(x):  # a gradient that promises a descent the values never show
        return 1.0, np.ones_like(x)

    state, result = lbfgs_steps(sawtooth, lbfgs_start(sawtooth, np.zeros(2)), 10)
    assert result.message == "line search failed" and result.n_iter == 0
    assert np.array_equal(state["x"], np.zeros(2))
