"""Terms: the Term interface, weighted sums, grouping matrices, no aliasing of inputs."""

import numpy as np
import pytest
from objectives_helpers import TERM_LABELS, all_terms, problem

from sparselearn.objectives import (
    ICAReconstruction,
    ICASparsity,
    Reconstruction,
    SmoothedL1,
    Term,
    TopographicL1,
    WeightDecay,
    WeightedSum,
    grouping_matrix,
)


@pytest.fixture
def setup():
    variables, V = problem(5, 2, 3, 4, seed=1)
    return variables, V


@pytest.mark.parametrize("label", TERM_LABELS)
def test_interface_attributes_and_value(setup, label):
    variables, V = setup
    term = all_terms(V)[label]
    assert isinstance(term, Term)
    assert term.name == label
    assert set(term.wrt) <= set(term.variables)
    for wrt in term.wrt:
        value, grad = term.value_and_grad(variables, wrt)
        assert isinstance(value, float)
        assert value == pytest.approx(term.value(variables), rel=1e-14)
        assert grad.shape == variables[wrt].shape


@pytest.mark.parametrize("label", TERM_LABELS)
def test_inputs_are_not_modified_and_gradients_are_fresh(setup, label):
    variables, V = setup
    term = all_terms(V)[label]
    before = {key: value.copy() for key, value in variables.items()}
    for wrt in term.wrt:
        _, grad = term.value_and_grad(variables, wrt)
        assert not any(np.shares_memory(grad, value) for value in variables.values())
        grad[...] = np.nan  # the caller owns it
        _, again = term.value_and_grad(variables, wrt)
        assert np.isfinite(again).all()
    for key in variables:
        np.testing.assert_array_equal(variables[key], before[key])


def test_closed_forms_match_design_table(setup):
    """The formulas of DESIGN.md §3, written naively."""
    variables, V = setup
    A, s, x, W = (variables[key] for key in "AsxW")
    eps = 1e-2
    R = A @ s - x
    np.testing.assert_allclose(Reconstruction().grad(variables, "A"), 2 * R @ s.T, rtol=1e-13)
    np.testing.assert_allclose(Reconstruction().grad(variables, "s"), 2 * A.T @ R, rtol=1e-13)
    np.testing.assert_allclose(WeightDecay().grad(variables, "A"), 2 * A, rtol=1e-15)
    np.testing.assert_allclose(SmoothedL1(eps).value(variables), np.sum(np.sqrt(s**2 + eps)))
    Y = W @ x
    r = W.T @ Y - x
    np.testing.assert_allclose(
        ICAReconstruction().grad(variables, "W"), 2 * W @ r @ x.T + 2 * Y @ r.T, rtol=1e-12
    )
    np.testing.assert_allclose(
        ICASparsity(eps).grad(variables, "W"), (Y / np.sqrt(Y**2 + eps)) @ x.T, rtol=1e-12
    )
    np.testing.assert_allclose(
        TopographicL1(V, eps).value(variables), np.sum(np.sqrt(V @ (s * s) + eps)), rtol=1e-13
    )


@pytest.mark.parametrize("k, n, m", [(1, 6, 5), (9, 2, 5), (4, 4, 1), (3, 5, 40)])
def test_ica_reconstruction_both_residual_orders(k, n, m):
    """r = (WᵀW − I)x or Wᵀ(Wx) − x, whichever is cheaper: both give the naive result."""
    rng = np.random.default_rng(k * 100 + n)
    W, x = rng.standard_normal((k, n)), rng.standard_normal((n, m))
    r = W.T @ W @ x - x
    value, grad = ICAReconstruction().value_and_grad({"W": W, "x": x}, "W")
    assert value == pytest.approx(np.sum(r**2), rel=1e-12)
    np.testing.assert_allclose(grad, 2 * W @ r @ x.T + 2 * (W @ x) @ r.T, rtol=1e-11)


def test_weighted_sum_arithmetic(setup):
    variables, V = setup
    m = variables["x"].shape[1]
    rec, topo, decay = Reconstruction(), TopographicL1(V, 1e-2), WeightDecay()
    objective = (1 / m) * rec + 0.5 * topo + 0.1 * decay
    assert isinstance(objective, WeightedSum)
    assert objective.variables == ("A", "s", "x")
    assert objective.wrt == ("A", "s")
    expected = rec.value(variables) / m + 0.5 * topo.value(variables) + 0.1 * decay.value(variables)
    assert objective.value(variables) == pytest.approx(expected, rel=1e-14)
    values = objective.values(variables)
    assert list(values) == ["reconstruction", "topographic_l1", "weight_decay"]
    assert values["topographic_l1"] == pytest.approx(topo.value(variables), rel=1e-14)
    grad = objective.grad(variables, "s")
    expected_grad = rec.grad(variables, "s") / m + 0.5 * topo.grad(variables, "s")
    np.testing.assert_allclose(grad, expected_grad, rtol=1e-13)
    grad_a = objective.grad(variables, "A")
    np.testing.assert_allclose(
        grad_a, rec.grad(variables, "A") / m + 0.2 * variables["A"], rtol=1e-13
    )
    # operators: scaling a sum, subtraction, division, numpy scalars, nesting flattens
    assert len((2 * objective + rec).terms) == 4
    assert (objective - objective).value(variables) == pytest.approx(0.0, abs=1e-9)
    assert (rec / 4).value(variables) == pytest.approx(rec.value(variables) / 4)
    assert (np.float64(3.0) * rec).terms[0][0] == 3.0
    assert (-rec).terms[0][0] == -1.0


def test_weighted_sum_rejects_bad_operands():
    rec = Reconstruction()
    with pytest.raises(TypeError):
        np.ones(2) * rec  # noqa: B018
    with pytest.raises(TypeError):
        rec + 1.0  # noqa: B018
    with pytest.raises(TypeError):
        "2" * rec  # noqa: B018
    with pytest.raises(ValueError, match="finite"):
        float("nan") * rec  # noqa: B018
    with pytest.raises(ValueError, match="at least one"):
        WeightedSum([])


def test_weighted_sum_repeated_names_and_blocked_wrt(setup):
    variables, _ = setup
    objective = SmoothedL1(1e-2) + SmoothedL1(1e-1) + WeightDecay("x") + Reconstruction()
    assert list(objective.values(variables)) == [
        "smoothed_l1",
        "smoothed_l1_2",
        "weight_decay",
        "reconstruction",
    ]
    # Reconstruction reads x but cannot differentiate it: x is not offered
    assert objective.wrt == ("s", "A")
    with pytest.raises(ValueError, match="allowed: 's', 'A'"):
        objective.grad(variables, "x")


def test_weighted_sum_as_network(setup):
    variables, V = setup
    objective = 0.25 * Reconstruction() + 0.5 * TopographicL1(V, 1e-2) + 0.1 * WeightDecay()
    network = objective.as_network()
    for wrt in objective.wrt:
        v1, g1 = objective.value_and_grad(variables, wrt)
        v2, g2 = network.value_and_grad(variables, wrt)
        assert v1 == pytest.approx(v2, rel=1e-13)
        np.testing.assert_allclose(g1, g2, rtol=1e-12)


def test_grouping_matrix_torus():
    V = grouping_matrix((3, 3), pool=2)
    assert V.shape == (9, 9) and V.dtype == np.float64
    assert set(np.unique(V)) == {0.0, 1.0}
    np.testing.assert_array_equal(np.flatnonzero(V[0]), [0, 1, 3, 4])
    np.testing.assert_array_equal(np.flatnonzero(V[8]), [0, 2, 6, 8])  # wraps both ways
    assert (V.sum(axis=1) == 4).all() and (V.sum(axis=0) == 4).all()
    V = grouping_matrix((11, 11))  # UFLDL: 121 features, 3 × 3 pooling
    assert V.shape == (121, 121) and (V.sum(axis=1) == 9).all()


def test_grouping_matrix_clipped_and_degenerate():
    V = grouping_matrix((3, 3), pool=2, wrap=False)
    np.testing.assert_array_equal(np.flatnonzero(V[8]), [8])
    np.testing.assert_array_equal(np.flatnonzero(V[2]), [2, 5])
    np.testing.assert_array_equal(grouping_matrix((2, 2), pool=1), np.eye(4))
    line = grouping_matrix((1, 5), pool=3)  # a ring: 3 neighbours each
    assert (line.sum(axis=1) == 3).all()
    assert grouping_matrix((2, 2), dtype=np.float32).dtype == np.float32


@pytest.mark.parametrize(
    "args", [((0, 3), {}), ((3,), {}), ("ab", {}), ((3, 3), {"pool": 0}), ((3, 3), {"pool": 1.5})]
)
def test_grouping_matrix_rejects_bad_arguments(args):
    grid, kwargs = args
    with pytest.raises(ValueError, match="grouping_matrix"):
        grouping_matrix(grid, **kwargs)
