"""Penalty objects: the registry, their derivatives, the sparsity terms built on them, tables."""

from __future__ import annotations

import numpy as np
import pytest

from sparselearn.objectives import (
    PENALTIES,
    CauchyPenalty,
    ICASparsity,
    Penalty,
    ResponseSparsity,
    SmoothedL1,
    SmoothedL1Penalty,
    Sparsity,
    TablePenalty,
    TopographicICASparsity,
    TopographicL1,
    check_gradient,
    grouping_matrix,
    make_penalty,
    register_penalty,
)

EPS = 1e-2

#: The seed's Example 2: the topographic smoothed L1 as a layer table on the responses y.
EXAMPLE_2 = {"input": "y", "layers": [
    {"weight": "I", "activation": "square"},
    {"weight": "V", "activation": "identity"},
    {"weight": "I", "activation": {"add_epsilon": EPS}},
    {"weight": None, "activation": "sqrt"},
]}


def _relative(a, b):
    a, b = np.asarray(a, float), np.asarray(b, float)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300))


@pytest.mark.parametrize("name", sorted(PENALTIES))
def test_every_registered_penalty_has_consistent_derivatives(name):
    """φ′ and φ″ against central differences of φ and φ′; the fused forms against the plain
    ones; the curvature bound holds on a grid of responses."""
    penalty = make_penalty(name, {"epsilon": EPS})
    u = np.linspace(0.0, 9.0, 301)[1:-1]
    h = 1e-6
    np.testing.assert_allclose(penalty.dphi(u), (penalty.phi(u + h) - penalty.phi(u - h)) / 2 / h,
                               rtol=1e-6)
    np.testing.assert_allclose(penalty.d2phi(u),
                               (penalty.dphi(u + h) - penalty.dphi(u - h)) / 2 / h, rtol=1e-5,
                               atol=1e-9)
    work = u.copy()
    value = penalty.value_and_weight(work, coef=0.5)
    assert value == pytest.approx(penalty.phi(u).sum(), rel=1e-13)
    np.testing.assert_allclose(work, penalty.dphi(u), rtol=1e-13)  # 2·0.5·φ′
    np.testing.assert_allclose(penalty.slope(u), 2 * penalty.dphi(u) + 4 * u * penalty.d2phi(u),
                               rtol=1e-12)
    y = np.linspace(-5, 5, 2001)
    assert np.max(np.abs(penalty.slope(y * y))) <= penalty.curvature() * (1 + 1e-12)
    assert make_penalty(penalty.to_config()) == penalty


def test_penalties_keep_float32():
    for name in sorted(PENALTIES):
        penalty = make_penalty(name)
        u = np.linspace(0, 2, 10, dtype=np.float32)
        assert penalty.phi(u).dtype == penalty.dphi(u).dtype == np.float32
        term = Sparsity(penalty)
        s = np.ones((3, 4), np.float32)
        assert term.grad({"s": s}, "s").dtype == np.float32


def test_make_penalty_errors_name_what_is_wrong():
    with pytest.raises(ValueError, match="unknown penalty 'laplace'; known: cauchy, smoothed_l1"):
        make_penalty("laplace")
    with pytest.raises(ValueError, match="penalty 'cauchy' has no parameter 'epsilon'; it "
                                         "takes sigma"):
        make_penalty({"name": "cauchy", "epsilon": 1.0})
    with pytest.raises(ValueError, match="CauchyPenalty: sigma must be a positive"):
        make_penalty({"name": "cauchy", "sigma": -1})
    with pytest.raises(ValueError, match="expected a penalty name"):
        make_penalty(3.0)
    # defaults fill only parameters the penalty has: epsilon for the smoothed L1
    assert make_penalty("smoothed_l1", {"epsilon": 0.3}).epsilon == 0.3
    assert make_penalty("cauchy", {"epsilon": 0.3}) == CauchyPenalty()


def test_register_penalty_refuses_a_nameless_or_taken_name():
    class Nameless(Penalty):
        pass

    with pytest.raises(ValueError, match="needs a 'name'"):
        register_penalty(Nameless)

    class Impostor(Penalty):
        name = "cauchy"

    with pytest.raises(ValueError, match="taken by CauchyPenalty"):
        register_penalty(Impostor)
    with pytest.raises(TypeError, match="Penalty subclass"):
        register_penalty(object)


@pytest.mark.parametrize("grouped", [False, True])
def test_builtin_terms_are_the_parameterised_term(grouped):
    """SmoothedL1/TopographicL1/ICASparsity/TopographicICASparsity are Sparsity and
    ResponseSparsity with the smoothed L1 penalty: same values and gradients, same names."""
    rng = np.random.default_rng(0)
    V = grouping_matrix((3, 4), pool=2) if grouped else None
    s, W = rng.standard_normal((12, 9)), rng.standard_normal((12, 7))
    x = rng.standard_normal((7, 9))
    penalty = SmoothedL1Penalty(EPS)
    codes = TopographicL1(V, EPS) if grouped else SmoothedL1(EPS)
    responses = TopographicICASparsity(V, EPS) if grouped else ICASparsity(EPS)
    for named, generic, variables, wrt in (
            (codes, Sparsity(penalty, V), {"s": s}, "s"),
            (responses, ResponseSparsity(penalty, V), {"W": W, "x": x}, "W")):
        assert named.name == generic.name
        v1, g1 = named.value_and_grad(variables, wrt)
        v2, g2 = generic.value_and_grad(variables, wrt)
        assert v1 == v2 and np.array_equal(g1, g2)
    Y = W @ x
    expected = np.sqrt((V @ (Y * Y) if grouped else Y * Y) + EPS).sum()
    assert responses.value({"W": W, "x": x}) == pytest.approx(expected, rel=1e-13)


@pytest.mark.parametrize("grouped", [False, True])
def test_cauchy_terms_match_the_formula_and_finite_differences(grouped):
    rng = np.random.default_rng(1)
    V = grouping_matrix((3, 3), pool=2) if grouped else np.eye(9)
    s = rng.standard_normal((9, 6))
    term = Sparsity(CauchyPenalty(0.7), V if grouped else None)
    sigma2 = 0.49
    assert term.value({"s": s}) == pytest.approx(np.log1p(V @ (s * s) / sigma2).sum(), rel=1e-13)
    expected = 2 * s * (V.T @ (1.0 / (sigma2 + V @ (s * s))))
    np.testing.assert_allclose(term.grad({"s": s}, "s"), expected, rtol=1e-12)
    assert check_gradient(term, {"s": s}, "s") < 1e-8
    assert term.name == ("topographic_cauchy" if grouped else "cauchy")
    assert term.curvature() == pytest.approx(2 / sigma2 * (4 if grouped else 1))
    net = term.as_network()  # its table: scale, add 1, log
    assert net.value({"s": s}) == pytest.approx(term.value({"s": s}), rel=1e-13)


def test_example_2_table_is_the_topographic_penalty():
    """The seed's Example 2 as a table and the built-in topographic smoothed L1 agree in value
    and gradient to 1e-10 relative, on codes and on responses (direct and column blocks)."""
    rng = np.random.default_rng(2)
    V = grouping_matrix((5, 5), pool=3)
    table = TablePenalty(EXAMPLE_2)
    for trial in range(3):
        s = rng.standard_normal((25, 40)) * 10.0 ** (trial - 1)
        v1, g1 = Sparsity(table, V).value_and_grad({"s": s}, "s")
        v2, g2 = TopographicL1(V, EPS).value_and_grad({"s": s}, "s")
        assert abs(v1 - v2) <= 1e-10 * v2 and _relative(g1, g2) <= 1e-10
    W, x = rng.standard_normal((25, 16)), rng.standard_normal((16, 3000))
    for block in (None, 512):
        v1, g1 = ResponseSparsity(table, V, block=block).value_and_grad({"W": W, "x": x}, "W")
        v2, g2 = TopographicICASparsity(V, EPS, block=block).value_and_grad({"W": W, "x": x}, "W")
        assert abs(v1 - v2) <= 1e-10 * v2 and _relative(g1, g2) <= 1e-10
    # its curvature bound, from the engine's φ′(0), is the built-in one
    assert Sparsity(table, V).curvature() == pytest.approx(TopographicL1(V, EPS).curvature(),
                                                           rel=1e-14)
    assert table.check_gradient(V, 25, np.random.default_rng(0)) < 1e-8


def test_table_errors_name_the_row_and_the_names():
    with pytest.raises(ValueError, match="row 2, key 'activation': unknown activation 'sqr'"):
        TablePenalty({"layers": [{"weight": "I", "activation": "square"},
                                 {"weight": None, "activation": "sqr"}]})
    with pytest.raises(ValueError, match="may read only its input 'y' and the grouping matrix "
                                         "'V'; it reads A"):
        TablePenalty({"layers": [{"weight": "A", "activation": "square"},
                                 {"weight": None, "activation": "identity"}]})
    with pytest.raises(ValueError, match="unknown key 'layer'"):
        TablePenalty({"layer": []})
    table = TablePenalty(EXAMPLE_2)
    with pytest.raises(ValueError, match="reads V, the grouping matrix; give a grouping"):
        Sparsity(table)
    ungrouped = TablePenalty(EXAMPLE_2["layers"][:1] + EXAMPLE_2["layers"][2:])
    with pytest.raises(ValueError, match="does not read V"):
        Sparsity(ungrouped, np.eye(3))
    assert Sparsity(ungrouped).curvature() == pytest.approx(1 / np.sqrt(EPS), rel=1e-14)


def test_a_table_outside_the_pooled_form_has_no_curvature_bound():
    """A table whose rows after the square are not element-wise gives no bound (None)."""
    table = TablePenalty({"input": "y", "layers": [
        {"weight": "V", "activation": "square"},
        {"weight": "V", "activation": {"add_epsilon": 1.0}},
        {"weight": None, "activation": "sqrt"}]})
    assert Sparsity(table, np.eye(4)).curvature() is None
