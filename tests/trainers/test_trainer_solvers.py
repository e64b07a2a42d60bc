"""Block solvers: each reaches a known minimiser; the line search shrinks and grows."""

from __future__ import annotations

import numpy as np
import pytest

from sparselearn.trainers.solvers import (
    accelerated_gradient,
    lbfgs,
    nonlinear_cg,
    projected_gradient,
)


def _quadratic(seed: int = 0):
    rng = np.random.default_rng(seed)
    Q = rng.standard_normal((12, 12))
    H = Q @ Q.T + np.eye(12)
    b = rng.standard_normal((12, 3))

    def fun(x):
        g = H @ x - b
        return 0.5 * float(np.sum(x * (H @ x))) - float(np.sum(b * x)), g

    return fun, H, np.linalg.solve(H, b)


@pytest.mark.parametrize("solver", ["lbfgs", "cg", "accelerated"])
def test_solvers_reach_the_minimiser_of_a_quadratic(solver):
    fun, H, x_star = _quadratic()
    x0 = np.zeros_like(x_star)
    if solver == "lbfgs":
        result = lbfgs(fun, x0, 200)
    elif solver == "cg":
        result = nonlinear_cg(fun, x0, 200)
    else:
        result = accelerated_gradient(fun, x0, float(np.linalg.eigvalsh(H)[-1]), 2000)
    assert result.x.shape == x0.shape and result.x.dtype == x0.dtype
    np.testing.assert_allclose(result.x, x_star, atol=1e-6)


def test_solvers_keep_float32():
    fun64, H, _ = _quadratic()

    def fun(x):
        v, g = fun64(x.astype(np.float64))
        return v, g.astype(x.dtype)

    x0 = np.zeros((12, 3), dtype=np.float32)
    for result in (lbfgs(fun, x0, 5), nonlinear_cg(fun, x0, 5),
                   accelerated_gradient(fun, x0, float(np.linalg.eigvalsh(H)[-1]), 5)):
        assert result.x.dtype == np.float32


def test_projected_gradient_line_search_shrinks_then_grows():
    # f(x) = ½‖x‖² on the unit sphere's complement is trivial; use f = ½ c ‖x − t‖², P = identity
    c = 100.0
    target = np.ones(4)

    def fun(x):
        return 0.5 * c * float(np.sum((x - target) ** 2)), c * (x - target)

    # a far too large first step (1e3 ≫ 1/c) must be shrunk until accepted
    result = projected_gradient(fun, np.zeros(4), lambda z: z, step_size=1e3, max_iter=1)
    assert result.step_size < 2.0 / c
    assert result.n_eval > 3  # several trial steps were rejected
    # a far too small first step grows after each success (×2 per accepted step)
    result = projected_gradient(fun, np.zeros(4), lambda z: z, step_size=1e-6, max_iter=5)
    assert result.step_size == pytest.approx(1e-6 * 2**4)
    assert result.value < fun(np.zeros(4))[0]


def test_projected_gradient_keeps_iterates_feasible():
    rng = np.random.default_rng(3)
    target = rng.standard_normal(5)

    def fun(x):
        return float(np.sum((x - target) ** 2)), 2 * (x - target)

    def project(x):
        return x / np.linalg.norm(x)

    result = projected_gradient(fun, project(np.ones(5)), project, 1.0, 50)
    assert np.linalg.norm(result.x) == pytest.approx(1.0)
    np.testing.assert_allclose(result.x, target / np.linalg.norm(target), atol=1e-6)
