"""Bad inputs raise ValueError naming the variable, the expected shape and the actual one."""

import numpy as np
import pytest
from objectives_helpers import TERM_LABELS, all_terms, problem

from sparselearn.objectives import (
    ICASparsity,
    SmoothedL1,
    TopographicICASparsity,
    TopographicL1,
    WeightDecay,
)


@pytest.fixture
def setup():
    return problem(4, 2, 3, 5, seed=8)


@pytest.mark.parametrize("label", TERM_LABELS)
def test_missing_variable_is_named(setup, label):
    variables, V = setup
    term = all_terms(V)[label]
    for name in term.variables:
        partial = {key: value for key, value in variables.items() if key != name}
        with pytest.raises(ValueError, match=f"missing variable '{name}'"):
            term.value(partial)


@pytest.mark.parametrize("label", TERM_LABELS)
def test_unknown_wrt_names_the_allowed_ones(setup, label):
    variables, V = setup
    term = all_terms(V)[label]
    allowed = ", ".join(repr(name) for name in term.wrt)
    with pytest.raises(ValueError, match=f"'V'; allowed: {allowed}$"):
        term.value_and_grad(variables, "V")


@pytest.mark.parametrize(
    "label, name, bad, expected",
    [
        ("reconstruction", "s", (7, 5), "(k, m) = (6, m)"),
        ("reconstruction", "x", (4, 3), "(n, m) = (4, 5)"),
        ("reconstruction", "A", (4,), "2-D array of shape (n, k)"),
        ("topographic_l1", "s", (5, 5), "(k, m) = (6, m)"),
        ("ica_reconstruction", "x", (3, 5), "(n, m) = (4, m)"),
        ("ica_sparsity", "W", (6, 4, 1), "2-D array of shape (k, n)"),
        ("topographic_ica_sparsity", "W", (5, 4), "(k, n) = (6, n)"),
    ],
)
def test_wrong_shape_names_variable_expected_and_actual(setup, label, name, bad, expected):
    variables, V = setup
    term = all_terms(V)[label]
    broken = {**variables, name: np.ones(bad)}
    with pytest.raises(ValueError) as info:
        term.value(broken)
    message = str(info.value)
    assert f"variable '{name}'" in message
    assert expected in message
    assert f"got shape {bad}" in message or f"got {bad}" in message


def test_wrong_shape_message_in_full(setup):
    variables, V = setup
    with pytest.raises(ValueError) as info:
        all_terms(V)["reconstruction"].value({**variables, "x": np.ones((4, 3))})
    assert str(info.value) == (
        "Reconstruction: variable 'x' must have shape (n, m) = (4, 5); got (4, 3) (m = 5 from 's')"
    )


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("label", TERM_LABELS)
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_input_is_named(setup, label, bad):
    variables, V = setup
    term = all_terms(V)[label]
    for name in term.variables:
        broken = {**variables, name: variables[name].copy()}
        broken[name][0, -1] = bad
        with pytest.raises(ValueError, match=f"variable '{name}' of shape .* 1 non-finite"):
            term.value(broken)
        with pytest.raises(ValueError, match=f"variable '{name}'"):
            term.value_and_grad(broken, term.wrt[0])


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_overflow_with_finite_inputs_is_returned_not_raised():
    """A trainer must see an overflowed objective (to stop as diverged), not a ValueError."""
    value = WeightDecay().value({"A": np.full((2, 2), 1e200)})
    assert value == np.inf


def test_complex_and_non_mapping_inputs(setup):
    variables, V = setup
    with pytest.raises(ValueError, match="variable 's' must hold real"):
        SmoothedL1().value({"s": np.ones((2, 2), dtype=complex)})
    with pytest.raises(ValueError, match="mapping"):
        SmoothedL1().value([np.ones((2, 2))])
    with pytest.raises(ValueError, match="empty axis"):
        SmoothedL1().value({"s": np.ones((0, 2))})


@pytest.mark.parametrize("epsilon", [0.0, -1e-3, np.nan, "small", None])
def test_bad_epsilon(epsilon):
    for make in (
        lambda: SmoothedL1(epsilon),
        lambda: ICASparsity(epsilon),
        lambda: TopographicL1(np.eye(2), epsilon),
        lambda: TopographicICASparsity(np.eye(2), epsilon),
    ):
        with pytest.raises(ValueError, match="epsilon"):
            make()


def test_bad_grouping_matrix():
    with pytest.raises(ValueError, match="non-negative"):
        TopographicL1(-np.eye(3))
    with pytest.raises(ValueError, match="V must be a 2-D"):
        TopographicL1(np.ones(3))
    with pytest.raises(ValueError, match="non-finite"):
        TopographicICASparsity(np.full((2, 2), np.nan))
    with pytest.raises(ValueError, match="variable name|must be a name"):
        WeightDecay("not a name")
