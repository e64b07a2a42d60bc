"""Property tests over random shapes (k > n, k < n, k = n, m = 1) and scales:
closed form = layer table = finite differences, for every term and every variable."""

import os

from hypothesis import given, settings
from hypothesis import strategies as st
from objectives_helpers import EPS, TERM_LABELS, all_terms, fd_tolerance, problem, shapes

from sparselearn.objectives import check_gradient, relative_error

SETTINGS = settings(max_examples=int(os.environ.get("OBJECTIVES_EXAMPLES", 40)), deadline=None)
scales = st.sampled_from([1e-2, 0.3, 1.0, 10.0, 1e3])


@SETTINGS
@given(shape=shapes(), scale=scales, seed=st.integers(0, 2**16), label=st.sampled_from(TERM_LABELS))
def test_closed_form_equals_table_equals_finite_differences(shape, scale, seed, label):
    n, rows, cols, m = shape
    variables, V = problem(n, rows, cols, m, seed=seed, scale=scale)
    # ε follows the data scale (as it would in use): with ε ≫ x² a sqrt term is nearly constant
    # and central differences only measure round-off.
    term = all_terms(V, epsilon=EPS * scale**2)[label]
    network = term.as_network()
    for wrt in term.wrt:
        value, grad = term.value_and_grad(variables, wrt)
        net_value, net_grad = network.value_and_grad(variables, wrt)
        assert abs(value - net_value) <= 1e-12 * abs(value)
        assert relative_error(grad, net_grad) < 1e-12
        assert check_gradient(term, variables, wrt) < fd_tolerance(term, variables, wrt, 1e-6)


@SETTINGS
@given(shape=shapes(), seed=st.integers(0, 2**16))
def test_weighted_objectives_match_finite_differences(shape, seed):
    n, rows, cols, m = shape
    variables, V = problem(n, rows, cols, m, seed=seed)
    terms = all_terms(V)
    sparse_coding = (
        (1 / m) * terms["reconstruction"]
        + 0.4 * terms["topographic_l1"]
        + 0.1 * terms["weight_decay"]
    )
    rica = 0.7 * terms["topographic_ica_sparsity"] + terms["ica_reconstruction"]
    for objective in (sparse_coding, rica):
        network = objective.as_network()
        for wrt in objective.wrt:
            assert (
                relative_error(objective.grad(variables, wrt), network.grad(variables, wrt)) < 1e-12
            )
            assert check_gradient(objective, variables, wrt) < fd_tolerance(
                objective, variables, wrt, 1e-6
            )
