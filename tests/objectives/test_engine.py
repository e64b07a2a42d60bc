"""The layer-table engine: table format, tied/transposed weights, every activation, operand
gradients, error messages for bad tables."""

import numpy as np
import pytest

from sparselearn.objectives import Network, Reconstruction, check_gradient, parse_table

RECONSTRUCTION_TABLE = [
    {"weight": "A", "activation": "identity"},
    {"weight": "I", "activation": {"subtract": "x"}},
    {"weight": None, "activation": "square"},
]


@pytest.fixture
def rng():
    return np.random.default_rng(3)


def test_table_round_trips_and_names_variables():
    net = Network.from_table(RECONSTRUCTION_TABLE, input="s", name="rec")
    assert net.table == RECONSTRUCTION_TABLE
    assert Network.from_table(net.table, input="s").table == RECONSTRUCTION_TABLE
    assert net.variables == ("s", "A", "x") and net.wrt == net.variables
    spec = net.to_dict()
    assert spec == {"input": "s", "layers": RECONSTRUCTION_TABLE, "name": "rec"}
    assert Network.from_dict(spec).table == RECONSTRUCTION_TABLE


def test_table_accepts_seed_spellings():
    net = Network.from_table(
        [
            {"weight": "identity", "activation": {"square": None}},
            {"weight": "N/A", "activation": "identity"},
        ],
        input="s",
    )
    assert net.table == [
        {"weight": "I", "activation": "square"},
        {"weight": None, "activation": "identity"},
    ]


def test_constants_are_not_variables(rng):
    A, x = rng.standard_normal((3, 4)), rng.standard_normal((3, 2))
    net = Network.from_table(RECONSTRUCTION_TABLE, input="s", constants={"A": A, "x": x})
    assert net.variables == ("s",)
    with pytest.raises(ValueError, match="allowed: 's'"):
        net.value_and_grad({"s": np.ones((4, 2))}, "A")


def test_weight_used_three_times_with_transpose(rng):
    """F = ‖W Wᵀ W x‖²: three instances of W, one transposed; gradient = sum of instances."""
    table = [
        {"weight": "W", "activation": "identity"},
        {"weight": "W.T", "activation": "identity"},
        {"weight": "W", "activation": "identity"},
        {"weight": None, "activation": "square"},
    ]
    net = Network.from_table(table, input="x")
    for k, n in [(3, 5), (5, 3), (4, 4)]:
        variables = {"W": rng.standard_normal((k, n)), "x": rng.standard_normal((n, 2))}
        W, x = variables["W"], variables["x"]
        u = W @ W.T @ W @ x
        expected = 2 * (u @ x.T @ W.T @ W + W @ x @ u.T @ W + W @ W.T @ u @ x.T)
        np.testing.assert_allclose(net.grad(variables, "W"), expected, rtol=1e-12)
        assert check_gradient(net, variables, "W") < 1e-8
        assert check_gradient(net, variables, "x") < 1e-8


@pytest.mark.parametrize(
    "activation, positive",
    [
        ("identity", False),
        ("square", False),
        ("sqrt", True),
        ({"power": 3}, False),
        ({"power": 1.5}, True),
        ({"scale": -2.5}, False),
        ({"add_epsilon": 0.7}, False),
        ({"subtract": "y"}, False),
        ({"add": "y"}, False),
    ],
)
def test_every_activation_matches_finite_differences(rng, activation, positive):
    """A · f(·) → B · square: checks f and f' of each activation in the middle of a network."""
    table = [
        {"weight": "A", "activation": "identity"},
        {"weight": "B", "activation": activation},
        {"weight": None, "activation": "square"},
    ]
    net = Network.from_table(table, input="s")
    A, s = rng.standard_normal((4, 3)), rng.standard_normal((3, 2))
    if positive:
        A, s = np.abs(A) + 0.5, np.abs(s) + 0.5
    variables = {"A": A, "s": s, "B": rng.standard_normal((5, 4)), "y": rng.standard_normal((4, 2))}
    for wrt in net.wrt:
        assert check_gradient(net, variables, wrt) < 1e-7, wrt


@pytest.mark.parametrize("activation", ["identity", "square", {"scale": 3.0}, {"subtract": "y"}])
def test_activation_in_last_layer(rng, activation):
    net = Network.from_table(
        [{"weight": "A", "activation": "identity"}, {"weight": None, "activation": activation}],
        input="s",
    )
    variables = {
        "A": rng.standard_normal((3, 4)),
        "s": rng.standard_normal((4, 2)),
        "y": rng.standard_normal((3, 2)),
    }
    for wrt in net.wrt:
        assert check_gradient(net, variables, wrt) < 1e-8, wrt


def test_gradient_with_respect_to_subtracted_data(rng):
    """‖As − x‖² as a network also differentiates in x: ∇_x = −2(As − x)."""
    A, s, x = rng.standard_normal((3, 4)), rng.standard_normal((4, 2)), rng.standard_normal((3, 2))
    net = Reconstruction().as_network()
    grad = net.grad({"A": A, "s": s, "x": x}, "x")
    np.testing.assert_allclose(grad, -2 * (A @ s - x), rtol=1e-12)


def test_input_used_again_as_operand(rng):
    """F = ‖Wᵀ W x − x‖² differentiated in x sums the input delta and the operand part."""
    W, x = rng.standard_normal((3, 5)), rng.standard_normal((5, 2))
    net = Network.from_table(
        [
            {"weight": "W", "activation": "identity"},
            {"weight": "W.T", "activation": "identity"},
            {"weight": "I", "activation": {"subtract": "x"}},
            {"weight": None, "activation": "square"},
        ],
        input="x",
    )
    M = W.T @ W - np.eye(5)
    np.testing.assert_allclose(net.grad({"W": W, "x": x}, "x"), 2 * M.T @ M @ x, rtol=1e-12)


def test_network_is_a_term(rng):
    net = Reconstruction().as_network()
    variables = {
        "A": rng.standard_normal((3, 4)),
        "s": rng.standard_normal((4, 2)),
        "x": rng.standard_normal((3, 2)),
    }
    doubled = 2.0 * net
    assert doubled.value(variables) == pytest.approx(2 * net.value(variables), rel=1e-14)
    assert net.as_network() is net


@pytest.mark.parametrize(
    "table, message",
    [
        ([], "at least one row"),
        ("A", "list of rows"),
        ([["A", "identity"]], "row 1"),
        ([{"weight": None, "activation": "square", "bias": 1}], "row 1, key 'bias'"),
        ([{"activation": "square"}], "row 1, key 'weight': missing"),
        ([{"weight": None}], "row 1, key 'activation': missing"),
        (
            [{"weight": "A", "activation": "sqaure"}, {"weight": None, "activation": "square"}],
            "row 1, key 'activation': unknown activation 'sqaure'",
        ),
        (
            [{"weight": None, "activation": "identity"}, {"weight": None, "activation": "square"}],
            "row 1, key 'weight'.*use 'I'",
        ),
        ([{"weight": "A", "activation": "square"}], "row 1, key 'weight': the last row"),
        (
            [{"weight": "A.T.T", "activation": "square"}, {"weight": None, "activation": "sqrt"}],
            "row 1, key 'weight'",
        ),
        (
            [{"weight": "A", "activation": "identity"}, {"weight": 3, "activation": "sqrt"}],
            "row 2, key 'weight'",
        ),
        ([{"weight": None, "activation": {"square": 2}}], "row 1, key 'activation'.*no parameter"),
        ([{"weight": None, "activation": "subtract"}], "row 1, key 'activation'.*needs a param"),
        ([{"weight": None, "activation": {"subtract": 3}}], "row 1, key 'activation'.*name"),
        ([{"weight": None, "activation": {"scale": "c"}}], "row 1, key 'activation'.*number"),
        ([{"weight": None, "activation": {"scale": 1, "add": "x"}}], "row 1, key 'activation'"),
    ],
)
def test_bad_tables_name_row_and_key(table, message):
    with pytest.raises(ValueError, match=message):
        parse_table(table)
    with pytest.raises(ValueError, match=message):
        Network.from_table(table, input="s")


def test_bad_network_arguments():
    with pytest.raises(ValueError, match="input"):
        Network.from_table(RECONSTRUCTION_TABLE, input="I")
    with pytest.raises(ValueError, match="constant 'V' is not used"):
        Network.from_table(RECONSTRUCTION_TABLE, input="s", constants={"V": np.eye(2)})
    with pytest.raises(ValueError, match="unknown key 'layer'"):
        Network.from_dict({"input": "s", "layer": []})
    with pytest.raises(ValueError, match="missing key 'layers'"):
        Network.from_dict({"input": "s"})


def test_runtime_shape_errors_name_variable_and_shapes(rng):
    net = Reconstruction().as_network()
    good = {"A": np.ones((3, 4)), "s": np.ones((4, 2)), "x": np.ones((3, 2))}
    message = r"layer 1: weight 'A' must have shape \(\*, 5\).*\(3, 4\)"
    with pytest.raises(ValueError, match=message):
        net.value({**good, "s": np.ones((5, 2))})
    with pytest.raises(ValueError, match=r"variable 'x' must have shape \(3, 2\).*got \(3, 7\)"):
        net.value({**good, "x": np.ones((3, 7))})
    with pytest.raises(ValueError, match="missing variable 'x'"):
        net.value({"A": good["A"], "s": good["s"]})
    with pytest.raises(ValueError, match="allowed: 's', 'A', 'x'"):
        net.value_and_grad(good, "B")
    with pytest.raises(ValueError, match="variable 'A'.*non-finite"):
        net.value({**good, "A": np.full((3, 4), np.nan)})


def test_tables_read_from_yaml(rng):
    """Tables are plain data: the seed's Example 2 written in YAML gives the same network."""
    yaml = pytest.importorskip("yaml")
    from sparselearn.objectives import TopographicL1, grouping_matrix

    text = """
    input: s
    name: topographic_l1
    layers:
      - {weight: I, activation: square}
      - {weight: V, activation: identity}
      - {weight: I, activation: {add_epsilon: 1e-2}}   # PyYAML reads 1e-2 as a string
      - {weight: ~, activation: sqrt}
    """
    V = grouping_matrix((2, 3), pool=2)
    net = Network.from_dict(yaml.safe_load(text), constants={"V": V})
    s = rng.standard_normal((6, 4))
    closed = TopographicL1(V, 1e-2)
    assert net.table == closed.as_network().table
    np.testing.assert_allclose(net.grad({"s": s}, "s"), closed.grad({"s": s}, "s"), rtol=1e-13)
