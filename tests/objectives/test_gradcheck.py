"""The gradient checker itself: it must find wrong gradients, not only pass right ones."""

import numpy as np
import pytest

from sparselearn.objectives import (
    ICAReconstruction,
    Term,
    check_gradient,
    numerical_gradient,
    relative_error,
)


class _Quadratic(Term):
    """F(s) = Σ c s², with an optionally wrong gradient."""

    variables = wrt = ("s",)
    name = "quadratic"

    def __init__(self, factor=2.0):
        self.factor = factor

    def value(self, variables):
        return float(np.sum(3.0 * variables["s"] ** 2))

    def value_and_grad(self, variables, wrt):
        s = variables["s"]
        return self.value(variables), 3.0 * self.factor * s


def test_relative_error():
    a = np.array([1.0, 2.0])
    assert relative_error(a, a) == 0.0
    assert relative_error(np.zeros(2), np.zeros(2)) == 0.0
    assert relative_error(a, -a) == np.inf
    assert relative_error(a, 2 * a) == pytest.approx(1 / 3)
    with pytest.raises(ValueError, match="shapes differ"):
        relative_error(a, np.ones(3))


def test_numerical_gradient_of_a_quadratic_is_accurate():
    s = np.random.default_rng(0).standard_normal((3, 4)) * 100
    numeric = numerical_gradient(lambda v: float(np.sum(3.0 * v**2)), s)
    np.testing.assert_allclose(numeric, 6 * s, rtol=1e-7)
    assert s.shape == numeric.shape


def test_check_gradient_flags_a_wrong_gradient():
    s = np.random.default_rng(1).standard_normal((3, 4))
    assert check_gradient(_Quadratic(2.0), {"s": s}, "s") < 1e-9
    assert check_gradient(_Quadratic(2.1), {"s": s}, "s") > 1e-2
    # the seed's printed Example-3 gradient (Wᵀ in place of W) is caught for square W
    rng = np.random.default_rng(5)
    variables = {"W": rng.standard_normal((3, 3)), "x": rng.standard_normal((3, 4))}
    assert check_gradient(_PrintedExample3(), variables, "W") > 1e-2
    assert check_gradient(ICAReconstruction(), variables, "W") < 1e-8


class _PrintedExample3(ICAReconstruction):
    def value_and_grad(self, variables, wrt):
        W, x = variables["W"], variables["x"]
        r = W.T @ W @ x - x
        return self.value(variables), W.T @ (2 * r) @ x.T + 2 * (W @ x) @ r.T


def test_check_gradient_sampled_entries():
    s = np.random.default_rng(2).standard_normal((10, 10))
    rng = np.random.default_rng(3)
    assert check_gradient(_Quadratic(), {"s": s}, "s", max_entries=7, rng=rng) < 1e-9
    assert check_gradient(_Quadratic(3.0), {"s": s}, "s", max_entries=7, rng=rng) > 1e-2
    with pytest.raises(ValueError, match="rng"):
        check_gradient(_Quadratic(), {"s": s}, "s", max_entries=7)
    with pytest.raises(ValueError, match="missing variable 'x'"):
        check_gradient(_Quadratic(), {"s": s}, "x")


def test_check_gradient_leaves_the_variables_alone():
    s = np.random.default_rng(4).standard_normal((2, 3))
    before = s.copy()
    variables = {"s": s}
    check_gradient(_Quadratic(), variables, "s")
    np.testing.assert_array_equal(s, before)
    assert variables["s"] is s
