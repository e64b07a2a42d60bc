"""The seed page's three examples as layer tables, row for row: weights, activations, the inputs
z of every layer, the deltas, and the resulting gradients (engine = closed form = finite
differences)."""

import numpy as np
import pytest

from sparselearn.objectives import (
    ICAReconstruction,
    Network,
    Reconstruction,
    TopographicL1,
    check_gradient,
    grouping_matrix,
)

RTOL = 1e-12


@pytest.fixture
def rng():
    return np.random.default_rng(42)


def test_example_1_table_rows(rng):
    """Example 1: ‖As − x‖², input s; layers A/identity, I/subtract x, N/A/square."""
    n, k, m = 5, 7, 3
    A, s, x = rng.standard_normal((n, k)), rng.standard_normal((k, m)), rng.standard_normal((n, m))
    table = [
        {"weight": "A", "activation": "identity"},
        {"weight": "I", "activation": {"subtract": "x"}},
        {"weight": None, "activation": "square"},
    ]
    net = Network.from_table(table, input="s")
    assert net.table == table
    assert Reconstruction().as_network().table == table
    trace = net.trace({"A": A, "s": s, "x": x})
    # "Input z to this layer" column, layers 1..3
    np.testing.assert_allclose(trace.z[0], s, rtol=RTOL)
    np.testing.assert_allclose(trace.z[1], A @ s, rtol=RTOL)
    np.testing.assert_allclose(trace.z[2], A @ s - x, rtol=RTOL)
    # "Delta" column: f'(z) = 2z; (Iᵀ δ3) • 1; (Aᵀ δ2) • 1
    np.testing.assert_allclose(trace.delta[2], 2 * (A @ s - x), rtol=RTOL)
    np.testing.assert_allclose(trace.delta[1], trace.delta[2], rtol=RTOL)
    np.testing.assert_allclose(trace.delta[0], A.T @ trace.delta[1], rtol=RTOL)
    assert trace.value == pytest.approx(np.sum((A @ s - x) ** 2), rel=RTOL)
    # ∇_s F = Aᵀ 2(As − x): engine = closed form = finite differences
    variables = {"A": A, "s": s, "x": x}
    expected = A.T @ (2 * (A @ s - x))
    np.testing.assert_allclose(net.grad(variables, "s"), expected, rtol=1e-12)
    np.testing.assert_allclose(Reconstruction().grad(variables, "s"), expected, rtol=1e-12)
    assert check_gradient(net, variables, "s") < 1e-8


def test_example_2_table_rows(rng):
    """Example 2: Σ√(V(s∘s) + ε), input s; layers I/square, V/identity, I/+ε, N/A/sqrt."""
    k, m, eps = 9, 4, 1e-2
    V = grouping_matrix((3, 3), pool=2)
    s = rng.standard_normal((k, m))
    table = [
        {"weight": "I", "activation": "square"},
        {"weight": "V", "activation": "identity"},
        {"weight": "I", "activation": {"add_epsilon": eps}},
        {"weight": None, "activation": "sqrt"},
    ]
    net = Network.from_table(table, input="s", constants={"V": V})
    assert TopographicL1(V, eps).as_network().table == table
    assert net.variables == ("s",)
    trace = net.trace({"s": s})
    np.testing.assert_allclose(trace.z[0], s, rtol=RTOL)
    np.testing.assert_allclose(trace.z[1], s * s, rtol=RTOL)
    np.testing.assert_allclose(trace.z[2], V @ (s * s), rtol=RTOL)
    np.testing.assert_allclose(trace.z[3], V @ (s * s) + eps, rtol=RTOL)
    # deltas: ½ z^(−½); (Iᵀ δ4)•1; (Vᵀ δ3)•1; (Iᵀ δ2) • 2s
    np.testing.assert_allclose(trace.delta[3], 0.5 * (V @ (s * s) + eps) ** -0.5, rtol=RTOL)
    np.testing.assert_allclose(trace.delta[2], trace.delta[3], rtol=RTOL)
    np.testing.assert_allclose(trace.delta[1], V.T @ trace.delta[2], rtol=RTOL)
    np.testing.assert_allclose(trace.delta[0], trace.delta[1] * 2 * s, rtol=RTOL)
    # final line: Vᵀ (V s∘s + ε)^(−½) • s
    expected = (V.T @ (V @ (s * s) + eps) ** -0.5) * s
    np.testing.assert_allclose(net.grad({"s": s}, "s"), expected, rtol=1e-12)
    np.testing.assert_allclose(TopographicL1(V, eps).grad({"s": s}, "s"), expected, rtol=1e-12)
    assert check_gradient(net, {"s": s}, "s") < 1e-8


@pytest.mark.parametrize("k, n", [(4, 4), (6, 3), (2, 5)])
def test_example_3_table_rows(rng, k, n):
    """Example 3: ‖WᵀWx − x‖², input x; W appears twice (once transposed)."""
    m = 3
    W, x = rng.standard_normal((k, n)), rng.standard_normal((n, m))
    table = [
        {"weight": "W", "activation": "identity"},
        {"weight": "W.T", "activation": "identity"},
        {"weight": "I", "activation": {"subtract": "x"}},
        {"weight": None, "activation": "square"},
    ]
    net = Network.from_table(table, input="x")
    assert ICAReconstruction().as_network().table == table
    variables = {"W": W, "x": x}
    trace = net.trace(variables)
    r = W.T @ W @ x - x
    np.testing.assert_allclose(trace.z[0], x, rtol=RTOL)
    np.testing.assert_allclose(trace.z[1], W @ x, rtol=RTOL)
    np.testing.assert_allclose(trace.z[2], W.T @ W @ x, rtol=RTOL)
    np.testing.assert_allclose(trace.z[3], r, rtol=RTOL, atol=1e-14)
    # deltas: 2z; (Iᵀ δ4)•1; ((Wᵀ)ᵀ δ3)•1 = W δ3; (Wᵀ δ2)•1
    np.testing.assert_allclose(trace.delta[3], 2 * r, rtol=RTOL, atol=1e-14)
    np.testing.assert_allclose(trace.delta[2], trace.delta[3], rtol=RTOL)
    np.testing.assert_allclose(trace.delta[1], W @ trace.delta[2], rtol=RTOL)
    np.testing.assert_allclose(trace.delta[0], W.T @ trace.delta[1], rtol=RTOL)
    # per instance: ∇_{Wᵀ} = δ3 a2ᵀ = 2r(Wx)ᵀ ; ∇_W = δ2 a1ᵀ = W 2r xᵀ ; sum with transpose
    grad_wt = trace.delta[2] @ trace.a[1].T
    grad_w = trace.delta[1] @ trace.a[0].T
    np.testing.assert_allclose(grad_wt, 2 * r @ (W @ x).T, rtol=1e-12)
    np.testing.assert_allclose(grad_w, W @ (2 * r) @ x.T, rtol=1e-12)
    total = grad_w + grad_wt.T
    np.testing.assert_allclose(net.grad(variables, "W"), total, rtol=1e-12)
    np.testing.assert_allclose(ICAReconstruction().grad(variables, "W"), total, rtol=1e-12)
    assert check_gradient(net, variables, "W") < 1e-8
    assert check_gradient(ICAReconstruction(), variables, "W") < 1e-8
