"""The quasi-Newton solver of orthonormal ICA: L-BFGS on the orthogonal group after the fixed
point (``trainers/tangent_lbfgs.py``)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.linalg import expm
from trainer_helpers import Interrupt

from sparselearn.objectives import SmoothedL1Penalty
from sparselearn.patches import amari_distance, random_orthogonal, sample_patches
from sparselearn.trainers import OrthonormalICA
from sparselearn.trainers.fixed_point import fixed_point_pass
from sparselearn.trainers.state import Callback
from sparselearn.trainers.tangent_lbfgs import MIN_CURVATURE, tangent_gradient


@pytest.fixture(scope="module")
def patches() -> np.ndarray:
    """Raw grey 8 × 8 natural patches (m = 6,000): the data the fixed point crawls on."""
    return np.ascontiguousarray(
        sample_patches("natural", (8, 8), 6000, np.random.default_rng(0)).T)


def _fit(X, **kwargs) -> OrthonormalICA:
    kwargs = {"whiten": "unit-variance", "random_state": 0, "tol": 0.0, **kwargs}
    return OrthonormalICA(**kwargs).fit(X)


def _J(model: OrthonormalICA, X: np.ndarray) -> float:
    Y = (X - model.mean_) @ model.components_.T
    return float(np.sum(np.sqrt(Y * Y + model.epsilon))) / X.shape[0]


def test_tangent_gradient_is_the_derivative_along_rotations():
    """``⟨A, E⟩`` is ``d/dt J(exp(tE) W)`` at ``t = 0`` (central differences), for random skew
    ``E``."""
    rng = np.random.default_rng(3)
    k, m = 6, 4000
    x = rng.laplace(size=(k, m)) / np.sqrt(2.0)
    W = random_orthogonal(k, k, rng)
    penalty = SmoothedL1Penalty(1e-2)
    A, _ = tangent_gradient(fixed_point_pass(W, x, penalty), W)

    def J(Wt):
        return float(np.sum(np.sqrt((Wt @ x) ** 2 + 1e-2))) / m

    for _ in range(3):
        E = rng.standard_normal((k, k))
        E -= E.T
        t = 1e-5
        numeric = (J(expm(t * E) @ W) - J(expm(-t * E) @ W)) / (2 * t)
        assert float(np.vdot(A, E)) == pytest.approx(numeric, rel=1e-7)


def test_pair_curvature_is_the_hessian_diagonal_along_pair_rotations():
    """With ``pairs`` from the pass, ``2 h_ij`` is ``d²/dt² J(exp(t B_ij) W)`` at ``t = 0``
    (``B_ij = e_i e_jᵀ − e_j e_iᵀ``; central second differences), and ``pairs`` is
    ``(1/m) g′(y) (y∘y)ᵀ`` (one block: every column sampled)."""
    rng = np.random.default_rng(4)
    k, m = 5, 3000
    x = rng.laplace(size=(k, m)) / np.sqrt(2.0)
    skew = 0.1 * rng.standard_normal((k, k))
    W = expm(skew - skew.T)  # near the unmixing: sparse responses, positive curvature
    penalty = SmoothedL1Penalty(5e-2)
    result = fixed_point_pass(W, x, penalty, pair_penalty=penalty)
    Y = W @ x
    np.testing.assert_allclose(result.pairs, penalty.slope(Y * Y) @ (Y * Y).T / m, rtol=1e-12)
    _, h = tangent_gradient(result, W)

    def J(Wt):
        return float(np.sum(np.sqrt((Wt @ x) ** 2 + 5e-2))) / m

    checked = 0
    for i, j in ((0, 1), (1, 3), (2, 4), (0, 4)):
        B = np.zeros((k, k))
        B[i, j], B[j, i] = 1.0, -1.0
        t = 1e-3
        second = (J(expm(t * B) @ W) - 2 * J(W) + J(expm(-t * B) @ W)) / t ** 2
        if second > 2 * MIN_CURVATURE:  # not floored
            assert 2 * h[i, j] == pytest.approx(second, rel=1e-5)
            checked += 1
    assert checked >= 3


def test_default_hands_over_to_lbfgs_on_natural_patches_and_goes_lower(patches):
    """On natural patches the fixed point converges linearly; the default solver switches to
    L-BFGS (its memory fills), keeps ``J`` non-increasing, records ``J`` exactly, and ends
    clearly below the fixed point after the same number of outer iterations."""
    default = _fit(patches, max_iter=60)
    assert default._solver == "quasi_newton"
    memory = [r["memory"] for r in default.history_]
    assert memory[0] == 0 and memory[-1] >= 5
    values = [r["objective"] for r in default.history_]
    assert all(b <= a for a, b in zip(values, values[1:], strict=False))
    assert values[-1] == pytest.approx(_J(default, patches), rel=1e-10)
    fixed = _fit(patches, max_iter=60, solver="fixed_point")
    k = patches.shape[1]  # J per response: 0.492 against 0.506 when written
    assert _J(default, patches) / k < _J(fixed, patches) / k - 0.005


def test_on_an_ica_mixture_it_unmixes_like_the_fixed_point():
    """Laplace sources: the default reaches the fixed point's optimum (same ``J`` to 1e-6,
    Amari distance below 0.02) and the stopping rule ends it."""
    rng = np.random.default_rng(5)
    n, m = 12, 20_000
    mixing = (random_orthogonal(n, n, rng) * np.logspace(0, 1, n)) @ random_orthogonal(n, n, rng).T
    X = np.ascontiguousarray((mixing @ rng.laplace(size=(n, m))).T)
    default = _fit(X, tol=1e-9, max_iter=200)
    fixed = _fit(X, tol=1e-9, max_iter=200, solver="fixed_point")
    assert default.n_iter_ < 200
    assert _J(default, X) == pytest.approx(_J(fixed, X), rel=1e-6)
    assert amari_distance(default.components_, mixing) < 0.02


def test_resume_inside_the_quasi_newton_phase_is_bit_identical(patches):
    """Interrupted after L-BFGS has taken over, resumed from the state: the same bits (the
    memory is part of the checkpoint)."""
    full = _fit(patches, max_iter=30)
    interrupt = Interrupt(20)
    _fit(patches, max_iter=30, callbacks=[interrupt])
    state = interrupt.saved["solver_state"]
    assert state["phase"] == 1.0 and state["memory_s"].shape[0] >= 1
    resumed = OrthonormalICA(whiten="unit-variance", random_state=0, tol=0.0,
                             max_iter=30).fit(patches, resume=interrupt.saved)
    assert [r["objective"] for r in resumed.history_] == [r["objective"] for r in full.history_]
    np.testing.assert_array_equal(resumed.components_, full.components_)


def test_resume_at_the_hand_over_is_bit_identical(patches):
    """Interrupted at the outer iteration that hands over to L-BFGS and at the one after:
    the resumed runs repeat the uninterrupted one bit for bit."""
    phases = []

    class Phase(Callback):
        def on_iteration_end(self, state):
            phases.append(state.model.state_dict()["solver_state"]["phase"])

    full = _fit(patches, max_iter=12, callbacks=[Phase()])
    at = next(i for i, phase in enumerate(phases, start=1) if phase > 0.0)
    assert at < 8
    for stop in (at, at + 1):
        interrupt = Interrupt(stop)
        _fit(patches, max_iter=12, callbacks=[interrupt])
        resumed = OrthonormalICA(whiten="unit-variance", random_state=0, tol=0.0,
                                 max_iter=12).fit(patches, resume=interrupt.saved)
        assert [r["objective"] for r in resumed.history_] == \
            [r["objective"] for r in full.history_]
        np.testing.assert_array_equal(resumed.components_, full.components_)


def test_a_damaged_memory_in_a_resume_state_is_named(patches):
    interrupt = Interrupt(20)
    _fit(patches, max_iter=30, callbacks=[interrupt])
    saved = interrupt.saved
    saved["solver_state"]["memory_s"] = saved["solver_state"]["memory_s"][:, :3]
    with pytest.raises(ValueError, match=r"solver_state\['memory_s'\] must be a finite float64 "
                                         r"array of shape \(pairs ≤ 7, 64, 64\); got float64"):
        OrthonormalICA(whiten="unit-variance", random_state=0, max_iter=30).fit(
            patches, resume=saved)


def test_a_damaged_curvature_scale_is_named(patches):
    interrupt = Interrupt(20)
    _fit(patches, max_iter=30, callbacks=[interrupt])
    saved = interrupt.saved
    saved["solver_state"]["memory_scale"] = 0.5
    with pytest.raises(ValueError, match=r"solver_state\['memory_scale'\] must be a finite "
                                         r"float ≥ 1; got 0.5"):
        OrthonormalICA(whiten="unit-variance", random_state=0, max_iter=30).fit(
            patches, resume=saved)


def test_float32_rows_stay_orthonormal(patches):
    """Rotations are computed in float64, after a Newton–Schulz step that removes the float32
    casts' drift."""
    model = _fit(patches, max_iter=40, dtype="float32")
    assert model.history_[-1]["memory"] >= 1
    W = model.state_dict()["params"]["W"]
    assert W.dtype == np.float32
    np.testing.assert_allclose(W.astype(np.float64) @ W.T.astype(np.float64), np.eye(64),
                               atol=1e-5)


def test_fewer_components_than_white_features_take_the_fixed_point():
    """Rotations cannot leave the rows' span: with k < n on white data ``auto`` takes the fixed
    point (which reaches a constrained stationary point: the gradient's part outside the span
    vanishes too), and an explicit ``solver="quasi_newton"`` is refused naming the sizes."""
    rng = np.random.default_rng(7)
    x = rng.laplace(size=(8, 20_000)) / np.sqrt(2.0)
    X = np.ascontiguousarray(x.T)
    model = OrthonormalICA(n_components=5, random_state=0, max_iter=200).fit(X)
    assert model._solver == "fixed_point"
    W = model.components_
    Y = W @ x
    G = (Y / np.sqrt(Y * Y + model.epsilon)) @ x.T / x.shape[1]
    outside = G - (G @ W.T) @ W  # the part of ∇J orthogonal to the rows' span
    assert np.abs(outside).max() < 1e-3
    with pytest.raises(ValueError, match=r"solver='quasi_newton' needs n_components = the "
                                         r"number of \(whitened\) features, 8 .*got "
                                         r"n_components=5"):
        OrthonormalICA(n_components=5, solver="quasi_newton").fit(X)
    whitened = OrthonormalICA(n_components=5, whiten="unit-variance", random_state=0,
                              max_iter=5).fit(X)
    assert whitened._solver == "quasi_newton"  # whitened to 5 dimensions: complete there
