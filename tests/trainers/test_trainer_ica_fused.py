"""OrthonormalICA's fused pass: one ``Wx`` per fixed-point step, records without extra passes."""

from __future__ import annotations

import numpy as np
import pytest
from trainer_helpers import Interrupt

import sparselearn.objectives.penalties as penalties
import sparselearn.trainers.ica as ica
import sparselearn.trainers.orthonormal_ica as orthonormal_ica
from sparselearn.objectives import ICAReconstruction, ICASparsity, SmoothedL1Penalty
from sparselearn.patches import amari_distance
from sparselearn.trainers import OrthonormalICA


def _problem(k, n, m, dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.laplace(size=(n, m)).astype(dtype)
    W = ica.symmetric_orthonormalize(rng.standard_normal((k, n))).astype(dtype)
    return W, x


def _sampled(W, x):
    """The columns the pass takes the slope from: every ``SLOPE_EVERY``-th block."""
    from sparselearn.trainers.fixed_point import BLOCK_BYTES, SLOPE_EVERY

    k, m = W.shape[0], x.shape[1]
    width = min(max(256, BLOCK_BYTES // (W.dtype.itemsize * k)), m)
    return (np.arange(m) // width) % SLOPE_EVERY == 0


def _old_slope(W, x, epsilon):
    """The multi-pass ``mean_slope`` the fused pass replaces (over the sampled columns)."""
    x = x[:, _sampled(W, x)]
    Y = W @ x
    np.multiply(Y, Y, out=Y)
    Y += epsilon
    R = np.sqrt(Y)
    R *= Y
    np.divide(epsilon, R, out=R)
    return R.mean(axis=1, dtype=W.dtype)


def _relative(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300))


# m below, equal to and not a multiple of the block width (a few thousand columns)
@pytest.mark.parametrize("k, n, m", [(4, 6, 100), (16, 16, 4096), (8, 12, 20_011)])
@pytest.mark.parametrize("epsilon", [1e-6, 1e-2])
def test_fused_pass_equals_the_multi_pass_formulas(k, n, m, epsilon):
    """Value, gradient, slope and Σ|y| of one pass equal the separate evaluations (1e-12)."""
    W, x = _problem(k, n, m)
    fused = ica.fixed_point_pass(W, x, SmoothedL1Penalty(epsilon))
    value, grad = ICASparsity(epsilon).value_and_grad({"W": W, "x": x}, "W")
    assert abs(fused.value - value) <= 1e-12 * value
    assert _relative(fused.G, grad / m) <= 1e-12
    assert _relative(fused.slope, _old_slope(W, x, epsilon)) <= 1e-12
    assert abs(fused.abs_sum - np.abs(W @ x).sum()) <= 1e-12 * np.abs(W @ x).sum()
    assert fused.W is W and fused.G.dtype == W.dtype == fused.slope.dtype

    # value only (the record's pass): the same value and Σ|y|, no gradient
    light = ica.fixed_point_pass(W, x, SmoothedL1Penalty(epsilon), gradient=False)
    assert light.G is None and light.slope is None
    assert abs(light.value - value) <= 1e-12 * value
    assert abs(light.abs_sum - fused.abs_sum) <= 1e-12 * fused.abs_sum

    # a smoothed step: G, slope and step value of the smoothed penalty, value of the objective
    smooth = SmoothedL1Penalty(0.5)
    step = ica.fixed_point_pass(W, x, SmoothedL1Penalty(epsilon), smooth,
                                step_penalty=smooth, level=0.5)
    s_value, s_grad = ICASparsity(0.5).value_and_grad({"W": W, "x": x}, "W")
    assert step.level == 0.5 and abs(step.step_value - s_value) <= 1e-12 * s_value
    assert abs(step.value - value) <= 1e-12 * value
    assert _relative(step.G, s_grad / m) <= 1e-12
    assert _relative(step.slope, _old_slope(W, x, 0.5)) <= 1e-12
    # without the record's sums: the same step, no value of the objective, no Σ|y|
    bare = ica.fixed_point_pass(W, x, SmoothedL1Penalty(epsilon), smooth, step_penalty=smooth,
                                level=0.5, record=False)
    assert bare.value is None and bare.abs_sum is None
    assert bare.step_value == step.step_value and np.array_equal(bare.G, step.G)


def test_fused_pass_smoothed_slope_and_float32():
    """``slope_epsilon`` changes only the slope; float32 stays float32 (to float32 accuracy)."""
    W, x = _problem(8, 10, 5000)
    plain = ica.fixed_point_pass(W, x, SmoothedL1Penalty(1e-6))
    smooth = ica.fixed_point_pass(W, x, SmoothedL1Penalty(1e-6), SmoothedL1Penalty(1e-2))
    assert smooth.value == pytest.approx(plain.value, rel=1e-12)
    assert _relative(smooth.G, plain.G) <= 1e-12
    assert _relative(smooth.slope, _old_slope(W, x, 1e-2)) <= 1e-12

    W32, x32 = W.astype(np.float32), x.astype(np.float32)
    single = ica.fixed_point_pass(W32, x32, SmoothedL1Penalty(1e-2), SmoothedL1Penalty(3e-2))
    assert single.G.dtype == np.float32 and single.slope.dtype == np.float32
    reference = ica.fixed_point_pass(W32.astype(np.float64), x32.astype(np.float64),
                                     SmoothedL1Penalty(1e-2), SmoothedL1Penalty(3e-2))
    assert single.value == pytest.approx(reference.value, rel=1e-5)
    assert _relative(single.G, reference.G) <= 1e-4
    assert _relative(single.slope, reference.slope) <= 1e-4


def _direct_record(model, X):
    """Every recorded number at the fitted W, recomputed from scratch."""
    x = np.ascontiguousarray(X.T)
    W = model.components_
    m = x.shape[1]
    sparsity = ICASparsity(model.epsilon).value({"W": W, "x": x})
    residual = W.T @ (W @ x) - x
    reconstruction = float(np.sum(residual * residual))
    return {"objective": sparsity / m, "ica_sparsity": sparsity,
            "reconstruction_error": reconstruction / m,
            "sparsity": float(np.mean(np.abs(W @ x))), "ica_reconstruction": reconstruction}


@pytest.mark.parametrize("solver", ["fixed_point", "projected_gradient"])
def test_recorded_values_equal_a_direct_recomputation(laplace_mixture, solver):
    """The cached pass and the covariance form give the record a direct evaluation gives."""
    X = laplace_mixture["X"][:5000]
    model = OrthonormalICA(solver=solver, inner_iter=2, max_iter=4, tol=0.0,
                           random_state=0).fit(X)
    record, direct = model.history_[-1], _direct_record(model, X)
    assert set(direct) <= set(record)
    for key in ("objective", "ica_sparsity", "sparsity"):
        assert record[key] == pytest.approx(direct[key], rel=1e-12), key
    # reconstruction: both are rounding noise around 0 for orthonormal rows
    scale = float(np.sum(X * X))
    assert abs(record["ica_reconstruction"] - direct["ica_reconstruction"]) <= 1e-12 * scale
    assert record["reconstruction_error"] == pytest.approx(
        record["ica_reconstruction"] / X.shape[0])


def test_reconstruction_from_the_covariance_equals_the_direct_one():
    """‖WᵀWx − x‖² from C = x xᵀ equals the direct sum, for orthonormal rows k < n too."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((12, 3000))
    term = ICAReconstruction.from_data(x)
    for k in (5, 12):
        W = ica.symmetric_orthonormalize(rng.standard_normal((k, 12)))
        residual = W.T @ (W @ x) - x
        direct = float(np.sum(residual * residual))
        assert term.value({"W": W}) == pytest.approx(direct, rel=1e-10, abs=1e-9 * np.sum(x * x))
        # and, for orthonormal rows, tr(C) − tr(W C Wᵀ)
        C = x @ x.T
        assert direct == pytest.approx(np.trace(C) - np.trace(W @ C @ W.T), rel=1e-8,
                                       abs=1e-9 * np.trace(C))


def test_one_pass_per_step_and_none_for_the_record(laplace_mixture, monkeypatch):
    """A fit makes one pass at the start and one per step tried; the records make none."""
    calls = []
    original = orthonormal_ica.fixed_point_pass

    def counting(*args, **kwargs):
        calls.append(kwargs.get("gradient", True))
        return original(*args, **kwargs)

    X = laplace_mixture["X"][:5000]
    # from a given start (no smooth start, whose rejected tries the records do not show)
    start = OrthonormalICA(max_iter=0, random_state=0).fit(X).state_dict()["params"]["W"]
    monkeypatch.setattr(orthonormal_ica, "fixed_point_pass", counting)
    model = OrthonormalICA(solver="fixed_point", inner_iter=2, max_iter=4, tol=0.0,
                           w_init=start, random_state=0).fit(X)
    assert all(r["damping"] == 0.0 for r in model.history_)  # no step rejected here
    steps = sum(r["inner_steps"] for r in model.history_)
    assert steps == 8
    assert len(calls) == 1 + steps and all(calls)


def test_smoothed_curvature_unmixes_in_a_few_steps(laplace_mixture):
    """From a random start, 10 fixed-point steps reach Amari ≤ 0.02 on 16 Laplace sources
    (with the unsmoothed ε = 1e-6 curvature estimate it is still at 0.07 after 10 steps)."""
    model = OrthonormalICA(solver="fixed_point", inner_iter=1, max_iter=10, tol=0.0,
                           random_state=0).fit(laplace_mixture["X"])
    unmixing = model.components_ @ laplace_mixture["whitening"]
    assert amari_distance(unmixing, laplace_mixture["mixing"]) <= 0.02
    W = model.components_
    np.testing.assert_allclose(W @ W.T, np.eye(16), atol=1e-10)


def test_uphill_steps_are_damped_not_taken(laplace_mixture, monkeypatch):
    """A curvature estimate far too small overshoots; the damping keeps J non-increasing and
    still lowers it (the damped step tends to a projected gradient step)."""
    monkeypatch.setattr(penalties, "CURVATURE_SMOOTHING", 0.3)
    model = OrthonormalICA(solver="fixed_point", inner_iter=2, max_iter=8, tol=0.0,
                           random_state=0).fit(laplace_mixture["X"][:5000])
    objective = [r["objective"] for r in model.history_]
    assert all(b <= a for a, b in zip(objective[:-1], objective[1:], strict=True))
    assert objective[-1] < objective[0] - 0.5
    assert max(r["damping"] for r in model.history_) > 0.0
    assert model.state_dict()["solver_state"]["damping"] == model.history_[-1]["damping"]


def test_resume_with_damping_is_bit_identical(laplace_mixture):
    """Interrupted where the damping is non-zero (at the noise floor), resumed: same bits."""
    X = laplace_mixture["X"][:5000]
    kwargs = dict(solver="fixed_point", inner_iter=2, max_iter=12, tol=0.0, random_state=0)
    full = OrthonormalICA(**kwargs).fit(X)
    at = next(r["iteration"] for r in full.history_ if r["damping"] > 0.0)
    assert at < 12
    interrupt = Interrupt(at)
    OrthonormalICA(callbacks=[interrupt], **kwargs).fit(X)
    assert interrupt.saved["solver_state"]["damping"] > 0.0
    resumed = OrthonormalICA(**kwargs).fit(X, resume=interrupt.saved)
    assert resumed.n_iter_ == full.n_iter_ == 12
    assert np.array_equal(resumed.components_, full.components_)
    keys = ("objective", "sparsity", "reconstruction_error", "inner_steps", "damping")
    assert ([[r[k] for k in keys] for r in resumed.history_]
            == [[r[k] for k in keys] for r in full.history_])


def test_cache_is_not_reused_across_fits_or_changed_parameters(laplace_mixture):
    """A second fit (other data, other ε) starts from a fresh pass: same result as a new model."""
    X = laplace_mixture["X"]
    kwargs = dict(solver="fixed_point", inner_iter=2, max_iter=3, tol=0.0, random_state=0)
    model = OrthonormalICA(**kwargs).fit(X[:3000])
    model.set_params(epsilon=1e-3).fit(X[3000:6000])
    fresh = OrthonormalICA(epsilon=1e-3, **kwargs).fit(X[3000:6000])
    assert np.array_equal(model.components_, fresh.components_)
    assert model.history_[-1]["objective"] == fresh.history_[-1]["objective"]


def test_a_callback_changing_w_in_place_invalidates_the_cache(laplace_mixture):
    """The cache keeps its own copy of W: rows swapped in place by a callback are seen."""
    from sparselearn.trainers import Callback

    class Swap(Callback):
        def on_iteration_end(self, state):
            if state.iteration == 2:
                W = state.params["W"]
                W[[0, 1]] = W[[1, 0]]

    X = laplace_mixture["X"][:5000]
    kwargs = dict(solver="fixed_point", inner_iter=1, max_iter=3, tol=0.0, random_state=0)
    swapped = OrthonormalICA(callbacks=[Swap()], **kwargs).fit(X)
    interrupt = Interrupt(2)
    OrthonormalICA(callbacks=[interrupt], **kwargs).fit(X)
    state = interrupt.saved
    state["params"]["W"][[0, 1]] = state["params"]["W"][[1, 0]]
    resumed = OrthonormalICA(**kwargs).fit(X, resume=state)
    assert np.array_equal(swapped.components_, resumed.components_)
