"""Precomputed (bound) forms equal the direct forms to 1e-10 relative, and validate their data."""

import os

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sparselearn.objectives import (
    CovarianceICAReconstruction,
    FixedBasisReconstruction,
    FixedCodesReconstruction,
    ICAReconstruction,
    Reconstruction,
    WeightDecay,
    check_gradient,
    relative_error,
)

SETTINGS = settings(max_examples=int(os.environ.get("OBJECTIVES_EXAMPLES", 40)), deadline=None)
dims = st.integers(1, 8)
scales = st.sampled_from([1e-3, 1.0, 1e3])


def _rel(a, b):
    return abs(a - b) / max(abs(a), abs(b), 1e-300)


@SETTINGS
@given(n=dims, k=dims, m=dims, scale=scales, seed=st.integers(0, 2**16))
def test_fixed_basis_equals_direct(n, k, m, scale, seed):
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((n, k)) * scale
    s = rng.standard_normal((k, m))
    x = rng.standard_normal((n, m)) * scale
    variables = {"A": A, "s": s, "x": x}
    bound = Reconstruction.fixed_basis(A, x)
    assert isinstance(bound, FixedBasisReconstruction)
    assert bound.variables == bound.wrt == ("s",) and bound.name == "reconstruction"
    v1, g1 = bound.value_and_grad({"s": s}, "s")
    v2, g2 = Reconstruction().value_and_grad(variables, "s")
    assert _rel(v1, v2) < 1e-10
    assert relative_error(g1, g2) < 1e-10
    assert _rel(bound.value({"s": s}), v2) < 1e-10


def test_fixed_basis_uses_gram_matrix_unless_strongly_overcomplete():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 3))
    assert Reconstruction.fixed_basis(rng.standard_normal((4, 6)), x)._use_gram
    assert not Reconstruction.fixed_basis(rng.standard_normal((4, 12)), x)._use_gram
    for k in (6, 12):
        bound = Reconstruction.fixed_basis(rng.standard_normal((4, k)), x)
        assert check_gradient(bound, {"s": rng.standard_normal((k, 3))}, "s") < 1e-8


@SETTINGS
@given(n=dims, k=dims, m=dims, scale=scales, seed=st.integers(0, 2**16))
def test_covariance_form_equals_direct(n, k, m, scale, seed):
    rng = np.random.default_rng(seed)
    W = rng.standard_normal((k, n)) / np.sqrt(n)
    x = rng.standard_normal((n, m)) * scale
    direct = ICAReconstruction().value_and_grad({"W": W, "x": x}, "W")
    for bound in (
        ICAReconstruction.from_data(x),
        ICAReconstruction.from_covariance(x @ x.T),
        ICAReconstruction.from_covariance(x @ x.T, trace_c=float(np.sum(x * x))),
    ):
        assert isinstance(bound, CovarianceICAReconstruction)
        assert bound.variables == ("W",) and bound.name == "ica_reconstruction"
        v, g = bound.value_and_grad({"W": W}, "W")
        assert _rel(v, direct[0]) < 1e-10
        assert relative_error(g, direct[1]) < 1e-10
        assert _rel(bound.value({"W": W}), direct[0]) < 1e-10


def test_covariance_form_cost_does_not_depend_on_m():
    """The bound term holds only the n × n matrix C, whatever m was."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal((3, 5000))
    bound = ICAReconstruction.from_data(x)
    assert bound.C.shape == (3, 3)
    assert not any(
        np.shares_memory(x, value)
        for value in vars(bound).values()
        if isinstance(value, np.ndarray)
    )


def test_bound_forms_as_networks():
    rng = np.random.default_rng(2)
    A, x = rng.standard_normal((4, 6)), rng.standard_normal((4, 3))
    s, W = rng.standard_normal((6, 3)), rng.standard_normal((5, 4))
    bound = Reconstruction.fixed_basis(A, x)
    net = bound.as_network()
    assert net.variables == ("s",)
    assert relative_error(net.grad({"s": s}, "s"), bound.grad({"s": s}, "s")) < 1e-12
    cov = ICAReconstruction.from_data(x)
    net = cov.as_network()  # input x replaced by C^(1/2)
    assert net.variables == ("W",)
    assert _rel(net.value({"W": W}), cov.value({"W": W})) < 1e-10
    assert relative_error(net.grad({"W": W}, "W"), cov.grad({"W": W}, "W")) < 1e-10


def test_bound_forms_validate_their_data():
    rng = np.random.default_rng(3)
    with pytest.raises(ValueError, match=r"variable 'x' must have shape \(n, m\) = \(4, m\)"):
        Reconstruction.fixed_basis(np.ones((4, 2)), np.ones((3, 5)))
    with pytest.raises(ValueError, match="non-finite"):
        Reconstruction.fixed_basis(np.ones((4, 2)), np.full((4, 5), np.inf))
    with pytest.raises(ValueError, match="square"):
        ICAReconstruction.from_covariance(np.ones((3, 4)))
    with pytest.raises(ValueError, match="symmetric"):
        ICAReconstruction.from_covariance(np.triu(np.ones((3, 3))))
    C = rng.standard_normal((3, 6))
    with pytest.raises(ValueError, match="trace_c"):
        ICAReconstruction.from_covariance(C @ C.T, trace_c=-1.0)
    bound = ICAReconstruction.from_covariance(C @ C.T)
    message = r"variable 'W' must have shape \(k, n\) = \(2, 3\); got \(2, 4\)"
    with pytest.raises(ValueError, match=message):
        bound.value({"W": np.ones((2, 4))})
    fixed = Reconstruction.fixed_basis(np.ones((4, 2)), np.ones((4, 5)))
    with pytest.raises(ValueError, match=r"variable 's'.*\(k, m\) = \(2, 5\); got \(2, 4\)"):
        fixed.value({"s": np.ones((2, 4))})
    with pytest.raises(ValueError, match="variable 's'.*non-finite"):
        fixed.value({"s": np.full((2, 5), np.nan)})


@SETTINGS
@given(n=dims, k=dims, m=dims, scale=scales, seed=st.integers(0, 2**16))
def test_fixed_codes_equals_direct(n, k, m, scale, seed):
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((n, k)) * scale
    s = rng.standard_normal((k, m))
    x = rng.standard_normal((n, m)) * scale
    bound = Reconstruction.fixed_codes(s, x)
    assert isinstance(bound, FixedCodesReconstruction)
    assert bound.variables == bound.wrt == ("A",) and bound.name == "reconstruction"
    v1, g1 = bound.value_and_grad({"A": A}, "A")
    v2, g2 = Reconstruction().value_and_grad({"A": A, "s": s, "x": x}, "A")
    assert _rel(v1, v2) < 1e-10
    assert relative_error(g1, g2) < 1e-10
    assert _rel(bound.value({"A": A}), v2) < 1e-10


@pytest.mark.parametrize(
    ("n", "k", "m"),
    [(4, 9, 6), (9, 4, 6), (5, 5, 5), (6, 8, 1), (6, 3, 1), (3, 2, 40)],
    ids=["k>n", "k<n", "square", "m=1 k>n", "m=1 k<n", "m>>k"],
)
def test_fixed_codes_shapes_gradcheck_and_network(n, k, m):
    rng = np.random.default_rng(n * 100 + k * 10 + m)
    A, s, x = (rng.standard_normal(shape) for shape in ((n, k), (k, m), (n, m)))
    bound = Reconstruction.fixed_codes(s, x)
    point = {"A": A}
    v1, g1 = bound.value_and_grad(point, "A")
    v2, g2 = Reconstruction().value_and_grad({"A": A, "s": s, "x": x}, "A")
    assert _rel(v1, v2) < 1e-10 and relative_error(g1, g2) < 1e-10
    assert g1.shape == A.shape and g1.dtype == A.dtype
    assert check_gradient(bound, point, "A") <= 1e-8
    net = bound.as_network()
    assert net.variables == ("A",) and net.name == "reconstruction"
    v3, g3 = net.value_and_grad(point, "A")
    assert _rel(v3, v1) < 1e-10 and relative_error(g3, g1) < 1e-10


def test_fixed_codes_uses_gram_matrix_unless_few_examples():
    rng = np.random.default_rng(7)
    x = rng.standard_normal((4, 3))
    assert Reconstruction.fixed_codes(rng.standard_normal((4, 3)), x)._use_gram
    assert not Reconstruction.fixed_codes(rng.standard_normal((12, 3)), x)._use_gram
    big = Reconstruction.fixed_codes(rng.standard_normal((5, 2000)), rng.standard_normal((4, 2000)))
    assert big.S.shape == (5, 5) and big.Q.shape == (4, 5)


def test_fixed_codes_float32_and_mixed_dtypes():
    rng = np.random.default_rng(8)
    A, s, x = (rng.standard_normal(shape) for shape in ((4, 6), (6, 20), (4, 20)))
    bound32 = Reconstruction.fixed_codes(s.astype(np.float32), x.astype(np.float32))
    assert bound32.S.dtype == bound32.Q.dtype == np.float32
    value, grad = bound32.value_and_grad({"A": A.astype(np.float32)}, "A")
    assert isinstance(value, float) and grad.dtype == np.float32
    direct = Reconstruction().value_and_grad({"A": A, "s": s, "x": x}, "A")
    assert _rel(value, direct[0]) < 1e-5 and relative_error(grad, direct[1]) < 1e-5
    # float64 A against float32 codes: computed (and cached) in float64, float64 gradient
    _, grad64 = bound32.value_and_grad({"A": A}, "A")
    assert grad64.dtype == np.float64 and np.dtype(np.float64) in bound32._by_dtype
    # float32 A against float64 codes: float32 gradient
    bound64 = Reconstruction.fixed_codes(s, x)
    assert bound64.grad({"A": A.astype(np.float32)}, "A").dtype == np.float32
    assert bound64.as_network().grad({"A": A.astype(np.float32)}, "A").dtype == np.float32


def test_fixed_codes_in_a_weighted_sum():
    rng = np.random.default_rng(9)
    n, k, m, gamma = 5, 7, 30, 0.1
    A, s, x = (rng.standard_normal(shape) for shape in ((n, k), (k, m), (n, m)))
    total = (1 / m) * Reconstruction.fixed_codes(s, x) + gamma * WeightDecay()
    assert total.variables == total.wrt == ("A",)
    assert total.keys == ("reconstruction", "weight_decay")
    direct = (1 / m) * Reconstruction() + gamma * WeightDecay()
    v1, g1 = total.value_and_grad({"A": A}, "A")
    v2, g2 = direct.value_and_grad({"A": A, "s": s, "x": x}, "A")
    assert _rel(v1, v2) < 1e-10 and relative_error(g1, g2) < 1e-10
    assert check_gradient(total, {"A": A}, "A") <= 1e-8
    assert set(total.values({"A": A})) == {"reconstruction", "weight_decay"}


def test_fixed_codes_validates_its_data_and_variable():
    with pytest.raises(ValueError, match=r"variable 'x' must have shape \(n, m\) = \(n, 5\)"):
        Reconstruction.fixed_codes(np.ones((2, 5)), np.ones((4, 3)))
    with pytest.raises(ValueError, match="s must be a 2-D array"):
        Reconstruction.fixed_codes(np.ones(5), np.ones((4, 5)))
    with pytest.raises(ValueError, match="non-finite"):
        Reconstruction.fixed_codes(np.full((2, 5), np.nan), np.ones((4, 5)))
    fixed = Reconstruction.fixed_codes(np.ones((2, 5)), np.ones((4, 5)))
    with pytest.raises(ValueError, match=r"variable 'A'.*\(n, k\) = \(4, 2\); got \(4, 3\)"):
        fixed.value({"A": np.ones((4, 3))})
    with pytest.raises(ValueError, match=r"variable 'A'.*\(n, k\) = \(4, 2\); got \(3, 2\)"):
        fixed.value_and_grad({"A": np.ones((3, 2))}, "A")
    with pytest.raises(ValueError, match="variable 'A'.*2-D"):
        fixed.value({"A": np.ones(8)})
    with pytest.raises(ValueError, match="missing variable 'A'"):
        fixed.value({"s": np.ones((2, 5))})
    with pytest.raises(ValueError, match="variable 'A'.*non-finite"):
        fixed.value({"A": np.full((4, 2), np.inf)})
    with pytest.raises(ValueError, match="cannot differentiate"):
        fixed.value_and_grad({"A": np.ones((4, 2))}, "s")
