"""TopographicICASparsity through the separable torus kernel equals the sparse-V path."""

from __future__ import annotations

import numpy as np
import pytest

from sparselearn.objectives import TopographicICASparsity, check_gradient, grouping_matrix

EPS = 1e-2


def _pair(V, block=None):
    """(fast, sparse): the same term, the second forced onto the sparse ``V`` products."""
    fast = TopographicICASparsity(V, EPS, block=block)
    sparse = TopographicICASparsity(V, EPS, block=block)
    sparse.grouping.separable = None
    return fast, sparse


def _data(rng, k, n=7, m=53, dtype=np.float64):
    W = rng.standard_normal((k, n)).astype(dtype)
    x = rng.standard_normal((n, m)).astype(dtype)
    return {"W": W, "x": x}


@pytest.mark.parametrize("grid,pool,wrap", [((4, 5), 3, True), ((3, 3), 2, False),
                                            ((5, 4), 2, True), ((4, 4), 4, False)])
@pytest.mark.parametrize("block", [None, 1, 10, 10**9])
def test_fast_equals_sparse_float64(grid, pool, wrap, block):
    V = grouping_matrix(grid, pool=pool, wrap=wrap)
    fast, sparse = _pair(V, block)
    assert fast.grouping.separable is not None
    variables = _data(np.random.default_rng(pool), V.shape[1])
    v_f, g_f = fast.value_and_grad(variables, "W")
    v_s, g_s = sparse.value_and_grad(variables, "W")
    assert v_f == pytest.approx(v_s, rel=1e-12)
    assert fast.value(variables) == pytest.approx(v_s, rel=1e-12)
    np.testing.assert_allclose(g_f, g_s, rtol=1e-12, atol=1e-12 * np.abs(g_s).max())
    assert g_f.dtype == np.float64 and g_f.shape == variables["W"].shape


@pytest.mark.parametrize("block", [None, 8])
def test_fast_float32_stays_float32(block):
    V = grouping_matrix((4, 4), pool=3)
    fast, sparse = _pair(V, block)
    variables = _data(np.random.default_rng(1), 16, dtype=np.float32)
    v_f, g_f = fast.value_and_grad(variables, "W")
    v_s, g_s = sparse.value_and_grad(variables, "W")
    assert g_f.dtype == np.float32 and isinstance(v_f, float)
    assert v_f == pytest.approx(v_s, rel=1e-5)
    np.testing.assert_allclose(g_f, g_s, rtol=1e-4, atol=1e-5 * np.abs(g_s).max())
    # the float32 result is the float64 one up to float32 rounding
    as64 = {key: value.astype(np.float64) for key, value in variables.items()}
    v_64, g_64 = fast.value_and_grad(as64, "W")
    assert v_f == pytest.approx(v_64, rel=1e-5)
    np.testing.assert_allclose(g_f, g_64, rtol=1e-4, atol=1e-5 * np.abs(g_64).max())


@pytest.mark.parametrize("block", [None, 5])
@pytest.mark.parametrize("wrap", [True, False])
def test_fast_gradient_checks(block, wrap):
    V = grouping_matrix((3, 4), pool=2, wrap=wrap)
    fast, sparse = _pair(V, block)
    variables = _data(np.random.default_rng(3), 12, n=5, m=17)
    assert check_gradient(fast, variables, "W") < 1e-7
    assert check_gradient(sparse, variables, "W") < 1e-7


@pytest.mark.parametrize("block", [1, 6, 13, 52, 53, 54])
def test_fast_blocked_equals_unblocked(block):
    V = grouping_matrix((4, 5), pool=3)
    blocked = TopographicICASparsity(V, EPS, block=block)
    direct = TopographicICASparsity(V, EPS, block=10**9)
    variables = _data(np.random.default_rng(block), 20)
    v_b, g_b = blocked.value_and_grad(variables, "W")
    v_d, g_d = direct.value_and_grad(variables, "W")
    assert v_b == pytest.approx(v_d, rel=1e-12)
    assert blocked.value(variables) == pytest.approx(v_d, rel=1e-12)
    np.testing.assert_allclose(g_b, g_d, rtol=1e-12, atol=1e-12 * np.abs(g_d).max())


def test_repeated_calls_with_changing_widths_are_stable():
    """The kernel's reused work arrays do not leak between calls of other shapes/dtypes."""
    V = grouping_matrix((4, 4), pool=3)
    fast, sparse = _pair(V, block=7)
    rng = np.random.default_rng(5)
    for m, dtype in [(20, np.float64), (3, np.float64), (20, np.float32), (20, np.float64)]:
        variables = _data(rng, 16, m=m, dtype=dtype)
        v_f, g_f = fast.value_and_grad(variables, "W")
        v_s, g_s = sparse.value_and_grad(variables, "W")
        rtol = 1e-12 if dtype == np.float64 else 1e-5
        assert v_f == pytest.approx(v_s, rel=rtol)
        np.testing.assert_allclose(g_f, g_s, rtol=100 * rtol, atol=rtol * np.abs(g_s).max())


@pytest.mark.parametrize("block", [None, 4])
def test_non_torus_v_falls_back(block):
    rng = np.random.default_rng(7)
    V = grouping_matrix((3, 4), pool=2)
    V[0, 10] = 1.0  # no longer a box pooling
    weighted = 0.5 * grouping_matrix((3, 4), pool=2)  # not binary
    rect = np.zeros((3, 12))
    rect[np.arange(12) % 3, np.arange(12)] = 1.0  # g != k
    variables = _data(rng, 12, m=11)
    for matrix in (V, weighted, rect):
        term = TopographicICASparsity(matrix, EPS, block=block)
        assert term.grouping.separable is None
        value, grad = term.value_and_grad(variables, "W")
        Y = variables["W"] @ variables["x"]
        U = np.sqrt(matrix @ (Y * Y) + EPS)
        assert value == pytest.approx(U.sum(), rel=1e-12)
        expected = (Y * (matrix.T @ (1.0 / U))) @ variables["x"].T
        np.testing.assert_allclose(grad, expected, rtol=1e-10, atol=1e-12)
        assert check_gradient(term, variables, "W") < 1e-7
