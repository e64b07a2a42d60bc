"""The UFLDL mappings the docstrings and configs state, checked to 1e-12.

Each test writes the exercise's cost with numpy from its definition (the .m file named in the
test) and evaluates sparselearn's objective on the same inputs:

- RICA (``softICACost.m``): ``λ Σ√((Wx)² + ε) + ½‖WᵀWx − x‖²``; sparselearn's is exactly
  ``2/m`` times it when ``α = 2λ`` (``trainers/rica.py``, ``configs/rica.yaml``).
- the row scaling (``l2rowscaled.m``): UFLDL divides a row by ``√(‖w‖² + 1e-5)``, ``RowNormalized``
  by ``‖w‖`` (``objectives/row_normalized.py``).
- orthonormal ICA (the ICA exercise: ``ICAExercise.m`` whitens with ``sigma = x*x'``, not divided
  by m, so its data have covariance ``I/m``; ``orthonormalICACost.m`` is ``Σ√((Wx)² + ε)``): on
  unit-variance data with ``ε = m·ε_UFLDL`` sparselearn's objective is ``1/√m`` times it
  (``configs/ica.yaml``: the exercise's 1e-6 with m = 20000 is 0.02).
- sparse coding (``sparseCodingFeatureCost.m`` / ``sparseCodingWeightCost.m``):
  ``‖As − x‖²/m + λ Σ√(V s² + ε) + γ‖A‖²`` is sparselearn's objective with ``α = λ``
  (ratio 1), the grouping matrix being the exercise's torus of ``pool × pool`` windows.
"""

from __future__ import annotations

import numpy as np
import pytest

from sparselearn.objectives import ICAReconstruction, ResponseSparsity, SmoothedL1Penalty
from sparselearn.objectives.row_normalized import RowNormalized
from sparselearn.trainers import RICA, OrthonormalICA, SparseCoding, TopographicSparseCoding

RTOL = 1e-12


def _loaded(model, name, value, n_features, n_samples):
    """``model`` holding exactly ``value`` as its parameter (no training step)."""
    return model._load_fitted({"params": {name: value}}, n_features, n_samples, np.float64)


def soft_ica_cost(W, x, lam, eps):
    """UFLDL softICACost.m without its row scaling: λ Σ√((Wx)²+ε) + ½‖WᵀWx − x‖²."""
    Y = W @ x
    return lam * np.sum(np.sqrt(Y**2 + eps)) + 0.5 * np.sum((W.T @ Y - x) ** 2)


def l2rowscaled(W):
    """UFLDL l2rowscaled.m (alpha = 1): every row divided by √(‖w‖² + 1e-5)."""
    return W / np.sqrt(np.sum(W**2, axis=1, keepdims=True) + 1e-5)


@pytest.fixture(scope="module")
def white():
    rng = np.random.default_rng(0)
    n, m = 6, 500
    x = rng.laplace(size=(n, m))
    x -= x.mean(axis=1, keepdims=True)
    C = x @ x.T / m
    values, vectors = np.linalg.eigh(C)
    return (vectors / np.sqrt(values)) @ vectors.T @ x  # ZCA to unit covariance, n × m


@pytest.mark.parametrize("k", [6, 12])
def test_rica_is_two_over_m_times_soft_ica_cost(white, k):
    n, m = white.shape
    rng = np.random.default_rng(1)
    W = rng.standard_normal((k, n))
    lam, eps = 0.05, 1e-2
    model = _loaded(RICA(k, alpha=2 * lam, epsilon=eps, row_norm=None), "W", W, n, m)
    ours = model.objective(white.T)
    ufldl = soft_ica_cost(W, white, lam, eps)
    assert ours == pytest.approx(2.0 / m * ufldl, rel=RTOL, abs=0)
    # and not with α = λ: the factor 2 matters
    other = _loaded(RICA(k, alpha=lam, epsilon=eps, row_norm=None), "W", W, n, m)
    assert abs(other.objective(white.T) - 2.0 / m * ufldl) > 1e-3 * ours


def test_row_normalized_divides_by_the_norm_where_ufldl_adds_1e_5(white):
    n, m = white.shape
    rng = np.random.default_rng(2)
    W = rng.standard_normal((12, n)) * rng.uniform(0.01, 3.0, size=(12, 1))
    lam, eps = 0.05, 1e-2
    term = ((2 * lam / m) * ResponseSparsity(SmoothedL1Penalty(eps))
            + (1.0 / m) * ICAReconstruction.from_data(white))
    ours = RowNormalized(term, "W").value({"W": W, "x": white})
    norms = np.linalg.norm(W, axis=1, keepdims=True)
    exact = soft_ica_cost(W / norms, white, lam, eps)
    assert ours == pytest.approx(2.0 / m * exact, rel=RTOL, abs=0)
    # UFLDL's rows are ours times ‖w‖/√(‖w‖² + 1e-5), the factor the docstring states
    factor = norms / np.sqrt(norms**2 + 1e-5)
    np.testing.assert_allclose(l2rowscaled(W), (W / norms) * factor, rtol=1e-15, atol=0)
    # which is 1 − δ/2 + O(δ²), δ = 1e-5/‖w‖²: negligible for unit rows, not near 10^-2.5
    delta = 1e-5 / norms**2
    shortfall = 1 - factor  # between δ/2 − 3δ²/8 and δ/2 (alternating series), up to rounding
    assert np.all(shortfall <= delta / 2 + 1e-15)
    assert np.all(shortfall >= delta / 2 - 3 * delta**2 / 8 - 1e-15)
    small = 10 ** -2.5
    assert 1 - small / np.sqrt(small**2 + 1e-5) > 0.25
    # the RICA estimator stores unit rows, where the two costs differ only through that factor
    # (1 − 5e-6 on every row: 3e-5 relative here)
    unit = W / norms
    model = _loaded(RICA(12, alpha=2 * lam, epsilon=eps), "W", unit, n, m)
    ufldl = soft_ica_cost(l2rowscaled(unit), white, lam, eps)
    assert model.objective(white.T) == pytest.approx(2.0 / m * ufldl, rel=1e-4)
    assert model.objective(white.T) != pytest.approx(2.0 / m * ufldl, rel=1e-7)


def test_orthonormal_ica_on_the_exercises_whitening_scale():
    """ICAExercise.m: m = 20000 patches, ε = 1e-6, ZCA from sigma = x*x' (not / m)."""
    rng = np.random.default_rng(3)
    n, m, eps_ufldl = 8, 20000, 1e-6
    x = rng.laplace(size=(n, n)) @ rng.laplace(size=(n, m))
    x -= x.mean(axis=1, keepdims=True)
    u, s, _ = np.linalg.svd(x @ x.T)
    x_ufldl = (u / np.sqrt(s)) @ u.T @ x  # the exercise's patches: covariance I/m
    np.testing.assert_allclose(x_ufldl @ x_ufldl.T / m, np.eye(n) / m, atol=1e-16)
    x_unit = np.sqrt(m) * x_ufldl  # covariance I: what sparselearn's whitening gives
    W = np.linalg.qr(rng.standard_normal((n, n)))[0]
    ufldl = np.sum(np.sqrt((W @ x_ufldl) ** 2 + eps_ufldl))  # orthonormalICACost: Σ√((Wx)²+ε)
    epsilon = m * eps_ufldl
    assert epsilon == pytest.approx(0.02, rel=1e-15)
    model = _loaded(OrthonormalICA(epsilon=epsilon), "W", W, n, m)
    assert model.objective(x_unit.T) == pytest.approx(ufldl / np.sqrt(m), rel=RTOL, abs=0)
    # ε = 1e-6 kept at unit variance is another objective (20000 times sharper)
    sharp = _loaded(OrthonormalICA(epsilon=eps_ufldl), "W", W, n, m)
    assert abs(sharp.objective(x_unit.T) - ufldl / np.sqrt(m)) > 1e-6 * ufldl / np.sqrt(m)


def torus_group_matrix(side: int, pool: int) -> np.ndarray:
    """The exercise's groupMatrix: one group per torus position, its pool × pool window."""
    k = side * side
    V = np.zeros((k, k))
    for r in range(side):
        for c in range(side):
            for i in range(pool):
                for j in range(pool):
                    V[r * side + c, ((r + i) % side) * side + (c + j) % side] = 1.0
    return V


def sparse_coding_cost(A, s, x, lam, eps, gamma, V):
    """sparseCodingFeatureCost.m plus sparseCodingWeightCost.m's weight decay:
    ‖As − x‖²/m + λ Σ√(V s² + ε) + γ‖A‖² (m = number of examples)."""
    m = x.shape[1]
    residual = np.sum((A @ s - x) ** 2) / m
    return residual + lam * np.sum(np.sqrt(V @ s**2 + eps)), gamma * np.sum(A**2)


@pytest.mark.parametrize("topographic", [False, True])
def test_sparse_coding_is_the_exercises_cost_with_alpha_equal_to_lambda(white, topographic):
    n, m = white.shape
    rng = np.random.default_rng(4)
    k, lam, eps, gamma = 16, 5e-5, 1e-5, 1e-2
    A = rng.standard_normal((n, k))
    s = rng.standard_normal((k, m))
    common = {"alpha": lam, "epsilon": eps, "gamma": gamma, "batch_size": m}
    if topographic:
        estimator = TopographicSparseCoding(grid=(4, 4), pool=3, **common)
        V = torus_group_matrix(4, 3)
    else:
        estimator = SparseCoding(k, **common)
        V = np.eye(k)
    model = _loaded(estimator, "A", A, n, m)
    if topographic:  # the same groups (rows may come in another order)
        assert sorted(map(tuple, model.grouping_)) == sorted(map(tuple, V))
    feature_cost, weight_decay = sparse_coding_cost(A, s, white, lam, eps, gamma, V)
    # objective(): per example, without the weight decay (constant in s)
    assert m * model.objective(white.T, s.T) == pytest.approx(feature_cost, rel=RTOL, abs=0)
    # the training objective the records hold: the whole J(A, s)
    full = model._full_objective().value({"A": A, "s": s, "x": white})
    assert full == pytest.approx(feature_cost + weight_decay, rel=RTOL, abs=0)
