"""float32 stays float32 through every term, network, sum and bound form — inside the
computation too, not just at the end (the final cast is made strict here)."""

import numpy as np
import pytest
from objectives_helpers import TERM_LABELS, all_terms, problem

from sparselearn.objectives import ICAReconstruction, Reconstruction, check_gradient
from sparselearn.objectives import ica as ica_module
from sparselearn.objectives import network as network_module
from sparselearn.objectives import reconstruction as reconstruction_module


@pytest.fixture
def strict_cast(monkeypatch):
    """Make the terms' final cast fail if the computation itself left the variable's dtype."""

    def cast_like(grad, variable):
        assert grad.dtype == variable.dtype, f"computed in {grad.dtype}, variable {variable.dtype}"
        return grad

    for module in (reconstruction_module, ica_module, network_module):
        monkeypatch.setattr(module, "cast_like", cast_like)


@pytest.mark.parametrize("label", TERM_LABELS)
def test_float32_stays_float32(strict_cast, label):
    variables, V = problem(5, 2, 3, 4, seed=4, dtype=np.float32)
    term = all_terms(V, epsilon=np.float64(1e-2))  # a numpy float64 epsilon must not upcast
    term = term[label]
    for candidate in (term, term.as_network(), np.float64(0.5) * term + 2.0 * term):
        for wrt in candidate.wrt:
            value, grad = candidate.value_and_grad(variables, wrt)
            assert isinstance(value, float)
            assert grad.dtype == np.float32, (candidate, wrt)
            assert check_gradient(candidate, variables, wrt) < 1e-3


def test_bound_forms_stay_float32(strict_cast):
    variables, _ = problem(4, 2, 3, 5, seed=5, dtype=np.float32)
    A, s, x, W = (variables[key] for key in "AsxW")
    for term, var in (
        (Reconstruction.fixed_basis(A, x), "s"),  # Gram branch (k < 2n)
        (Reconstruction.fixed_basis(A[:1], x[:1]), "s"),  # direct branch (k ≥ 2n)
        (ICAReconstruction.from_data(x), "W"),
        (Reconstruction.fixed_codes(s, x), "A"),  # Gram branch (k < 2m)
        (Reconstruction.fixed_codes(s[:, :1], x[:, :1]), "A"),  # direct branch (k ≥ 2m)
    ):
        point = {"s": s, "W": W, "A": A}
        _, grad = term.value_and_grad(point, var)
        assert grad.dtype == np.float32
        assert term.as_network().grad(point, var).dtype == np.float32


def test_float64_is_the_default_and_integers_are_promoted():
    A = np.arange(6).reshape(2, 3)
    s = np.ones((3, 2), dtype=np.int64)
    x = np.zeros((2, 2), dtype=np.int32)
    _, grad = Reconstruction().value_and_grad({"A": A, "s": s, "x": x}, "A")
    assert grad.dtype == np.float64


def test_mixed_dtypes_return_the_variables_dtype():
    variables, _ = problem(3, 2, 2, 3, seed=6)
    mixed = {**variables, "s": variables["s"].astype(np.float32)}
    assert Reconstruction().grad(mixed, "s").dtype == np.float32
    assert Reconstruction().grad(mixed, "A").dtype == np.float64
    cov = ICAReconstruction.from_data(variables["x"])
    assert cov.grad({"W": variables["W"].astype(np.float32)}, "W").dtype == np.float32
