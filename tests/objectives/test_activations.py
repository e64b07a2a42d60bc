"""The activation registry of the layer-table engine: the ``log`` activation, registering a
custom activation in one call, and the errors of :func:`register_activation`."""

import numpy as np
import pytest

import sparselearn.objectives.activations as activations
from sparselearn.objectives import Network, check_gradient, parse_table
from sparselearn.objectives.activations import activation_table, register_activation
from sparselearn.objectives.network import __doc__ as network_doc


@pytest.fixture
def rng():
    return np.random.default_rng(11)


@pytest.fixture
def registry(monkeypatch):
    """A private copy of the registry, so registrations do not outlive the test."""
    monkeypatch.setattr(activations, "ACTIVATIONS", dict(activations.ACTIVATIONS))
    return activations.ACTIVATIONS


def _positive(rng, shape):
    return np.abs(rng.standard_normal(shape)) + 0.5


def test_log_in_the_last_layer_has_the_closed_form_gradient(rng):
    """F = Σ log(A s): ∇_s F = Aᵀ (1 / A s), ∇_A F = (1 / A s) sᵀ."""
    A, s = _positive(rng, (4, 3)), _positive(rng, (3, 5))
    net = Network.from_table([{"weight": "A", "activation": "identity"},
                              {"weight": None, "activation": "log"}], input="s")
    value, grad_s = net.value_and_grad({"A": A, "s": s}, "s")
    assert value == pytest.approx(np.sum(np.log(A @ s)), rel=1e-13)
    np.testing.assert_allclose(grad_s, A.T @ (1.0 / (A @ s)), rtol=1e-12)
    np.testing.assert_allclose(net.grad({"A": A, "s": s}, "A"), (1.0 / (A @ s)) @ s.T,
                               rtol=1e-12)


@pytest.mark.parametrize("dtype, tol", [(np.float64, 1e-7), (np.float32, 2e-2)])
def test_log_in_the_middle_matches_finite_differences(rng, dtype, tol):
    """A · log(·) → B · square, the Cauchy penalty's shape: log(1 + u/σ²) after add_epsilon."""
    table = [
        {"weight": "A", "activation": "identity"},
        {"weight": "I", "activation": {"add_epsilon": 1.0}},
        {"weight": "B", "activation": "log"},
        {"weight": None, "activation": "square"},
    ]
    net = Network.from_table(table, input="s")
    variables = {"A": _positive(rng, (4, 3)), "s": _positive(rng, (3, 2)),
                 "B": rng.standard_normal((5, 4))}
    variables = {key: value.astype(dtype) for key, value in variables.items()}
    for wrt in net.wrt:
        assert net.grad(variables, wrt).dtype == dtype
        assert check_gradient(net, variables, wrt) < tol, wrt


def test_log_is_listed_in_the_docs_table():
    assert "``log``" in network_doc and ":math:`\\log z`" in network_doc
    assert "``log``" in activation_table()


def test_a_registered_activation_is_usable_in_one_call(registry, rng):
    spec = register_activation("cube", forward=lambda z, p: z**3,
                               derivative=lambda z, a, p: 3 * z**2, formula="z^3",
                               slope="3 z^2")
    assert registry["cube"] is spec and spec.spelling == "cube"
    assert "``cube``" in activation_table()
    net = Network.from_table([{"weight": "A", "activation": "identity"},
                              {"weight": "B", "activation": "cube"},
                              {"weight": None, "activation": "square"}], input="s")
    variables = {"A": rng.standard_normal((4, 3)), "s": rng.standard_normal((3, 2)),
                 "B": rng.standard_normal((2, 4))}
    A, s, B = variables["A"], variables["s"], variables["B"]
    assert net.value(variables) == pytest.approx(np.sum((B @ (A @ s) ** 3) ** 2), rel=1e-12)
    for wrt in net.wrt:
        assert check_gradient(net, variables, wrt) < 1e-7, wrt


def test_registered_number_and_operand_activations(registry, rng):
    """A numeric parameter (a constant slope given as an int) and an operand ``x`` whose
    derivative is not ±1: f(z; x) = z ∘ x, ∂f/∂z = x, ∂f/∂x = z."""
    register_activation("times_int", parameter="number", symbol="k",
                        forward=lambda z, p: z * p, derivative=lambda z, a, p: int(p),
                        formula="k z", slope="k")
    register_activation("times", parameter="name", forward=lambda z, x: z * x,
                        derivative=lambda z, a, x: x, operand_derivative=lambda z, a, x: z,
                        formula=r"z \circ x", slope="x")
    assert registry["times"].spelling == "{times: x}"
    table = [
        {"weight": "A", "activation": "identity"},
        {"weight": "I", "activation": {"times": "y"}},
        {"weight": "B", "activation": {"times_int": 3}},
        {"weight": None, "activation": "square"},
    ]
    net = Network.from_table(table, input="s")
    assert net.variables == ("s", "A", "y", "B")
    variables = {"A": rng.standard_normal((4, 3)), "s": rng.standard_normal((3, 2)),
                 "y": rng.standard_normal((4, 2)), "B": rng.standard_normal((5, 4))}
    for wrt in net.wrt:
        assert check_gradient(net, variables, wrt) < 1e-7, wrt
    last = Network.from_table([{"weight": "A", "activation": "identity"},
                               {"weight": None, "activation": {"times_int": 2}}], input="s")
    np.testing.assert_allclose(last.grad(variables, "s"), variables["A"].T @ np.full((4, 2), 2.0))


def test_replace_redefines_a_registered_activation(registry):
    register_activation("twice", forward=lambda z, p: 2 * z, derivative=lambda z, a, p: 2.0,
                        formula="2z", slope="2")
    with pytest.raises(ValueError, match="'twice' is already registered; pass replace=True"):
        register_activation("twice", forward=lambda z, p: z, derivative=lambda z, a, p: None,
                            formula="z", slope="1")
    register_activation("twice", forward=lambda z, p: 3 * z, derivative=lambda z, a, p: 3.0,
                        formula="3z", slope="3", replace=True)
    net = Network.from_table([{"weight": None, "activation": "twice"}], input="s")
    assert net.value({"s": np.ones((2, 2))}) == 12.0


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"name": "2fast"}, "name must be an identifier; got '2fast'"),
        ({"name": "sqrt"}, "'sqrt' is a built-in activation and cannot be redefined"),
        ({"name": "log", "replace": True}, "'log' is a built-in"),
        ({"parameter": "positive"}, "parameter must be one of None, 'number', 'name'; "
                                    "got 'positive'"),
        ({"forward": 3}, "forward must be callable; got 3"),
        ({"derivative": None}, "derivative must be callable; got None"),
        ({"parameter": "name"}, "an activation with a variable parameter needs a callable "
                                "operand_derivative; got None"),
        ({"operand_derivative": lambda z, a, x: None},
         "operand_derivative is only for parameter='name'; got parameter=None"),
        ({"formula": ""}, "formula must be a non-empty string"),
        ({"slope": None}, "slope must be a non-empty string; got None"),
    ],
)
def test_register_activation_names_the_bad_argument(registry, kwargs, message):
    args = {"name": "custom", "forward": lambda z, p: z, "derivative": lambda z, a, p: None,
            "formula": "z", "slope": "1", **kwargs}
    before = dict(registry)
    with pytest.raises(ValueError, match=f"^register_activation: {message}"):
        register_activation(**args)
    assert registry == before


def test_unknown_activation_lists_the_registry(registry):
    with pytest.raises(ValueError, match=r"row 1, key 'activation': unknown activation 'cube'; "
                                         r"known: .*log.*\(register_activation adds one\)"):
        parse_table([{"weight": None, "activation": "cube"}])
    register_activation("cube", forward=lambda z, p: z**3, derivative=lambda z, a, p: 3 * z**2,
                        formula="z^3", slope="3 z^2")
    with pytest.raises(ValueError, match="row 1, key 'activation': 'cube' takes no parameter"):
        parse_table([{"weight": None, "activation": {"cube": 2}}])
    assert parse_table([{"weight": None, "activation": "cube"}])[0].activation.name == "cube"
