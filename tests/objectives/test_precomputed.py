"""Precomputed (bound) forms equal the direct forms to 1e-10 relative, and validate their data."""

import os

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from objectives import (
    CovarianceICAReconstruction,
    FixedBasisReconstruction,
    ICAReconstruction,
    Reconstruction,
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
