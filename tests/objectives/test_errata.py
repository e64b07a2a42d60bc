"""One test per erratum of DESIGN.md §3: each pins what the seed page printed against the true
gradient (central differences), so that the fix can never silently regress."""

import numpy as np
import pytest

from sparselearn.objectives import (
    ICAReconstruction,
    Reconstruction,
    TopographicL1,
    WeightDecay,
    check_gradient,
    grouping_matrix,
    numerical_gradient,
    relative_error,
)


@pytest.fixture
def rng():
    return np.random.default_rng(7)


def test_erratum_1_example_1_derives_grad_s_not_grad_A(rng):
    """Example 1 announces ∇_A F but its network has input s: the result Aᵀ2(As − x) is ∇_s.

    ∇_A of F(A) = ‖As − x‖² + γ‖A‖² is 2(As − x)sᵀ + 2γA.
    """
    n, k, m, gamma = 4, 6, 3, 0.3
    A, s, x = rng.standard_normal((n, k)), rng.standard_normal((k, m)), rng.standard_normal((n, m))
    variables = {"A": A, "s": s, "x": x}
    printed = A.T @ (2 * (A @ s - x))
    # it has the shape of s, not of A, and equals the numerical gradient w.r.t. s
    assert printed.shape == s.shape != A.shape
    numeric_s = numerical_gradient(lambda v: Reconstruction().value({**variables, "s": v}), s)
    assert relative_error(numeric_s, printed) < 1e-8
    # the true ∇_A of the full objective
    objective = Reconstruction() + gamma * WeightDecay()
    expected_a = 2 * (A @ s - x) @ s.T + 2 * gamma * A
    np.testing.assert_allclose(objective.grad(variables, "A"), expected_a, rtol=1e-12)
    assert check_gradient(objective, variables, "A") < 1e-8


def test_erratum_2_example_2_literal_ss_transpose_does_not_type_check(rng):
    """Example 2's Vssᵀ means V(s∘s): with the literal s sᵀ (k × k) the printed gradient
    Vᵀ(Vssᵀ + ε)^(−½) • s multiplies a k × k matrix element-wise with a k × m one."""
    k, m, eps = 4, 3, 1e-2
    V = grouping_matrix((2, 2), pool=2)
    s = rng.standard_normal((k, m))
    literal = V.T @ (V @ (s @ s.T) + eps) ** -0.5  # k × k
    with pytest.raises(ValueError):
        literal * s  # noqa: B018 - the Hadamard product of the printed formula
    # the element-wise reading is the gradient of the term
    elementwise = (V.T @ (V @ (s * s) + eps) ** -0.5) * s
    term = TopographicL1(V, eps)
    np.testing.assert_allclose(term.grad({"s": s}, "s"), elementwise, rtol=1e-12)
    assert check_gradient(term, {"s": s}, "s") < 1e-8


def test_erratum_2_literal_reading_is_wrong_even_when_it_type_checks(rng):
    """With m = k the literal formula computes, but it is not the gradient of Σ√(Vssᵀ + ε)."""
    k, eps = 4, 1e-2
    V = grouping_matrix((2, 2), pool=2)
    s = np.abs(rng.standard_normal((k, k))) + 0.1  # positive, so V s sᵀ > 0 and √ is defined
    printed = (V.T @ (V @ (s @ s.T) + eps) ** -0.5) * s
    assert np.isfinite(printed).all()

    def literal_value(v):
        return float(np.sum(np.sqrt(V @ (v @ v.T) + eps)))

    numeric = numerical_gradient(literal_value, s)
    assert np.isfinite(numeric).all()
    assert relative_error(numeric, printed) > 1e-2


def _printed_example_3(W, x):
    r = W.T @ W @ x - x
    return W.T @ (2 * r) @ x.T + 2 * (W @ x) @ r.T


def test_erratum_3_printed_example_3_fails_when_k_differs_from_n(rng):
    """Example 3's final line starts with (Wᵀ)(2r)xᵀ: Wᵀ is n × k and r is n × m."""
    k, n, m = 5, 3, 4
    W, x = rng.standard_normal((k, n)), rng.standard_normal((n, m))
    with pytest.raises(ValueError):
        _printed_example_3(W, x)
    assert check_gradient(ICAReconstruction(), {"W": W, "x": x}, "W") < 1e-8


def test_erratum_3_printed_form_differs_for_square_nonsymmetric_w(rng):
    """With k = n the printed form type-checks but is wrong unless W is symmetric."""
    n, m = 4, 5
    W, x = rng.standard_normal((n, n)), rng.standard_normal((n, m))
    variables = {"W": W, "x": x}
    true = ICAReconstruction().grad(variables, "W")
    assert relative_error(_printed_example_3(W, x), true) > 1e-2
    assert check_gradient(ICAReconstruction(), variables, "W") < 1e-8


def test_erratum_3_printed_form_coincides_for_symmetric_w(rng):
    """... and coincides with the true gradient when W = Wᵀ (then Wᵀ·2r xᵀ = W·2r xᵀ)."""
    n, m = 4, 5
    B = rng.standard_normal((n, n))
    W, x = (B + B.T) / 2, rng.standard_normal((n, m))
    true = ICAReconstruction().grad({"W": W, "x": x}, "W")
    assert relative_error(_printed_example_3(W, x), true) < 1e-12


def test_erratum_4_warm_start_is_a_transpose_x_with_rows_scaled_by_squared_column_norms(rng):
    """UFLDL's "s ← Wᵀx" is Aᵀx, each row j divided by ‖A[:, j]‖²: then every s_j is the
    least-squares coefficient of x on atom j alone (zero gradient of ‖a_j s_j − x‖² in s_j).
    Scaling by the plain norm (or by A's rows) is not."""
    n, k, m = 5, 8, 6
    A, x = rng.standard_normal((n, k)), rng.standard_normal((n, m))
    with pytest.raises(ValueError):
        A @ x  # the literal "Wᵀx" with the basis in the place of W (n × k times n × m)
    squared = np.sum(A * A, axis=0)
    s = (A.T @ x) / squared[:, None]
    for j in range(k):
        single = {"A": A[:, [j]], "s": s[[j]], "x": x}
        np.testing.assert_allclose(Reconstruction().grad(single, "s"), 0.0, atol=1e-12)
    wrong = (A.T @ x) / np.sqrt(squared)[:, None]
    single = {"A": A[:, [0]], "s": wrong[[0]], "x": x}
    assert np.abs(Reconstruction().grad(single, "s")).max() > 1e-3
