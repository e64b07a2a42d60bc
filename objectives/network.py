"""The layer-table engine: a scalar matrix function as a layered network, run by backprop.

This is the executable form of the seed page ("Deriving gradients using the backpropagation
idea"). A function :math:`F` is written as a table with one row per layer, exactly like the
seed's tables, and value and gradients come from running the seed's recursion literally.

Table format
------------
A table is plain data (YAML-ready): a list of rows, each a mapping with exactly two keys.

``weight``
    The matrix :math:`W^{(l)}` taking layer l's activations to layer l+1's inputs,
    :math:`z^{(l+1)} = W^{(l)} a^{(l)}`. One of

    - a name, e.g. ``"A"``: a variable (or a constant, see below);
    - ``"name.T"``, e.g. ``"W.T"``: the transpose of a named matrix;
    - ``"I"`` (or ``"identity"``): the identity, :math:`z^{(l+1)} = a^{(l)}`;
    - ``null`` (or ``"N/A"``): only, and obligatorily, in the last row.

``activation``
    The activation :math:`f^{(l)}` applied element-wise, :math:`a^{(l)} = f^{(l)}(z^{(l)})`.
    Either a bare name or a one-key mapping ``{name: parameter}``:

    ========================  ==========================  ===================
    activation                :math:`f(z)`                :math:`f'(z)`
    ========================  ==========================  ===================
    ``identity``              :math:`z`                   1
    ``square``                :math:`z^2`                 :math:`2z`
    ``sqrt``                  :math:`z^{1/2}`             :math:`\\tfrac12 z^{-1/2}`
    ``{power: p}``            :math:`z^p`                 :math:`p z^{p-1}`
    ``{scale: c}``            :math:`c z`                 :math:`c`
    ``{add_epsilon: ε}``      :math:`z + \\epsilon`        1
    ``{subtract: name}``      :math:`z - x` (x named)     1
    ``{add: name}``           :math:`z + x` (x named)     1
    ========================  ==========================  ===================

Numbers may also be given as numeric strings (PyYAML reads ``1e-2`` as a string).

A network also names its ``input`` variable (:math:`z^{(1)}`; ``s`` in the seed's Examples 1 and 2,
``x`` in Example 3) and may bind some names to ``constants`` (the grouping matrix ``V``, or fixed
data); every other name is a variable read from the ``variables`` mapping at call time, and the
network can differentiate with respect to it.

The seed's Example 1, :math:`\\lVert As - x\\rVert^2`, reads::

    - {weight: A,    activation: identity}
    - {weight: I,    activation: {subtract: x}}
    - {weight: null, activation: square}

Algorithm
---------
Forward: :math:`z^{(1)} = \\text{input}`, :math:`a^{(l)} = f^{(l)}(z^{(l)})`,
:math:`z^{(l+1)} = W^{(l)} a^{(l)}`, and :math:`J = \\sum a^{(n_l)}` (sum of all entries).
Backward: :math:`\\delta^{(n_l)} = f'(z^{(n_l)})`,
:math:`\\delta^{(l)} = (W^{(l)T} \\delta^{(l+1)}) \\circ f'(z^{(l)})`. Gradients:
:math:`\\nabla_{W^{(l)}} J = \\delta^{(l+1)} a^{(l)T}` for each instance of a weight, transposed
for instances written ``name.T``, summed over instances (the seed's Example 3 rule);
:math:`\\nabla_{\\text{input}} J = \\delta^{(1)}`; and for an activation operand ``x`` of layer l,
:math:`\\pm (W^{(l)T}\\delta^{(l+1)})` (``+`` for ``add``, ``−`` for ``subtract``). A name used in
several places gets the sum of all its parts.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ._validation import as_float_array, cast_like, check_constant, diagnose_non_finite
from .base import Term, Variables

_IDENTITY_NAMES = ("I", "identity")
_NO_WEIGHT = (None, "N/A")
_ROW_KEYS = ("weight", "activation")

# name -> kind of parameter: None (none), "number", "positive", "name"
_ACTIVATIONS: dict[str, str | None] = {
    "identity": None,
    "square": None,
    "sqrt": None,
    "power": "number",
    "scale": "number",
    "add_epsilon": "number",
    "subtract": "name",
    "add": "name",
}


@dataclass(frozen=True)
class Weight:
    """A parsed ``weight`` cell: ``name`` (None for the identity) and whether it is transposed."""

    name: str | None
    transposed: bool = False

    def to_data(self) -> str:
        if self.name is None:
            return "I"
        return f"{self.name}.T" if self.transposed else self.name


@dataclass(frozen=True)
class Activation:
    """A parsed ``activation`` cell: its name and parameter (a number, a name or None)."""

    name: str
    param: Any = None

    def to_data(self) -> str | dict:
        return self.name if self.param is None else {self.name: self.param}

    @property
    def operand(self) -> str | None:
        """The variable this activation reads (``subtract``/``add``), else None."""
        return self.param if _ACTIVATIONS[self.name] == "name" else None

    def forward(self, z: np.ndarray, operand: np.ndarray | None) -> np.ndarray:
        kind = self.name
        if kind == "identity":
            return z
        if kind == "square":
            return z * z
        if kind == "sqrt":
            return np.sqrt(z)
        if kind == "power":
            return z**self.param
        if kind == "scale":
            return z * self.param
        if kind == "add_epsilon":
            return z + self.param
        if kind == "subtract":
            return z - operand
        return z + operand  # add

    def derivative(self, z: np.ndarray, a: np.ndarray) -> np.ndarray | float | None:
        """:math:`f'(z)`; None stands for 1, a float for a constant."""
        kind = self.name
        if kind == "square":
            return 2 * z
        if kind == "sqrt":
            return 0.5 / a
        if kind == "power":
            return self.param * z ** (self.param - 1)
        if kind == "scale":
            return self.param
        return None


@dataclass(frozen=True)
class Layer:
    """One parsed row: ``weight`` (None in the last row) and ``activation``."""

    weight: Weight | None
    activation: Activation

    def to_data(self) -> dict:
        return {
            "weight": None if self.weight is None else self.weight.to_data(),
            "activation": self.activation.to_data(),
        }


def _row_error(index: int, key: str | None, message: str) -> ValueError:
    where = f"layer table row {index + 1}" + (f", key '{key}'" if key else "")
    return ValueError(f"{where}: {message}")


def _is_name(value: Any) -> bool:
    return isinstance(value, str) and value.isidentifier()


def _parse_weight(value: Any, index: int, last: bool) -> Weight | None:
    if value in _NO_WEIGHT:
        if not last:
            raise _row_error(
                index, "weight", "null/'N/A' is only allowed in the last row; use 'I' for identity"
            )
        return None
    if last:
        raise _row_error(index, "weight", f"the last row has no weight (null); got {value!r}")
    if value in _IDENTITY_NAMES:
        return Weight(None)
    if isinstance(value, str):
        name, transposed = (value[:-2], True) if value.endswith(".T") else (value, False)
        if _is_name(name) and name not in _IDENTITY_NAMES:
            return Weight(name, transposed)
    raise _row_error(
        index, "weight", f"expected a matrix name, 'name.T', 'I' or null; got {value!r}"
    )


def _parse_activation(value: Any, index: int) -> Activation:
    if isinstance(value, str):
        name, param, has_param = value, None, False
    elif isinstance(value, Mapping) and len(value) == 1:
        ((name, param),) = value.items()
        has_param = param is not None
    else:
        raise _row_error(
            index,
            "activation",
            f"expected a name or a one-key mapping {{name: parameter}}; got {value!r}",
        )
    if name not in _ACTIVATIONS:
        known = ", ".join(sorted(_ACTIVATIONS))
        raise _row_error(index, "activation", f"unknown activation {name!r}; known: {known}")
    kind = _ACTIVATIONS[name]
    if kind is None:
        if has_param:
            raise _row_error(index, "activation", f"{name!r} takes no parameter; got {param!r}")
        return Activation(name)
    if not has_param:
        raise _row_error(index, "activation", f"{name!r} needs a parameter: {{{name}: ...}}")
    if kind == "name":
        if not _is_name(param) or param in _IDENTITY_NAMES:
            raise _row_error(index, "activation", f"{name!r} needs a variable name; got {param!r}")
        return Activation(name, param)
    number = _as_number(param)
    if number is None:
        raise _row_error(index, "activation", f"{name!r} needs a finite number; got {param!r}")
    return Activation(name, number)


def _as_number(value: Any) -> float | None:
    """A finite Python float (so float32 stays float32), or None.

    Numeric strings are accepted because YAML 1.1 (PyYAML) reads ``1e-2`` as a string.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            return None
    if not isinstance(value, numbers.Real) or not np.isfinite(value):
        return None
    return float(value)


def parse_table(table: Any) -> tuple[Layer, ...]:
    """Validate a layer table (see the module docstring) and return its parsed layers.

    Raises ``ValueError`` naming the row (1-based, as the seed numbers layers) and the key.
    """
    if isinstance(table, (str, bytes, Mapping)) or not isinstance(table, Sequence):
        raise ValueError(f"a layer table is a list of rows; got {type(table).__name__}")
    if len(table) == 0:
        raise ValueError("a layer table needs at least one row")
    layers = []
    for index, row in enumerate(table):
        if not isinstance(row, Mapping):
            raise _row_error(
                index, None, f"a row is a mapping with keys weight, activation; got {row!r}"
            )
        for key in row:
            if key not in _ROW_KEYS:
                raise _row_error(index, str(key), "unknown key; allowed: weight, activation")
        for key in _ROW_KEYS:
            if key not in row:
                raise _row_error(index, key, "missing")
        last = index == len(table) - 1
        layers.append(
            Layer(
                _parse_weight(row["weight"], index, last),
                _parse_activation(row["activation"], index),
            )
        )
    return tuple(layers)


@dataclass
class Trace:
    """Everything the seed's tables show, per layer (index 0 is layer 1).

    ``z[l]``, ``a[l]``: input and activation of layer l+1; ``delta[l]``: its delta (None for
    layers the backward pass did not reach); ``value``: :math:`J = \\sum a^{(n_l)}`.
    """

    z: list[np.ndarray]
    a: list[np.ndarray]
    delta: list[np.ndarray | None]
    value: float


class Network(Term):
    """A scalar function given as a layer table and differentiated by the seed's backprop.

    Parameters
    ----------
    table : list of dict
        The layer table (see the module docstring).
    input : str
        Name of the input variable, :math:`z^{(1)}`.
    constants : mapping of str to array_like, optional
        Names bound to fixed matrices (e.g. ``{"V": V}``); not differentiable.
    name : str, default "network"
        Term name used in history records.

    Notes
    -----
    ``variables`` lists every name the table reads except the constants (input first, then in
    table order); ``wrt`` is the same tuple: the network can differentiate with respect to each.
    """

    def __init__(
        self,
        table: Any,
        input: str,
        constants: Mapping[str, Any] | None = None,
        name: str = "network",
    ):
        self.layers = parse_table(table)
        if not _is_name(input) or input in _IDENTITY_NAMES:
            raise ValueError(f"network input must be a variable name; got {input!r}")
        self.input = input
        self.name = str(name)
        used = [input]
        for layer in self.layers:
            for ref in (layer.weight.name if layer.weight else None, layer.activation.operand):
                if ref is not None and ref not in used:
                    used.append(ref)
        constants = dict(constants or {})
        for key in constants:
            if key not in used:
                raise ValueError(
                    f"constant {key!r} is not used by the table (it reads {', '.join(used)})"
                )
        self.constants = {
            key: check_constant(value, f"constant '{key}'", "Network")
            for key, value in constants.items()
        }
        self._constant_cache: dict[np.dtype, dict[str, np.ndarray]] = {}
        self.variables = tuple(v for v in used if v not in self.constants)
        self.wrt = self.variables

    @classmethod
    def from_table(
        cls,
        table: Any,
        input: str,
        constants: Mapping[str, Any] | None = None,
        name: str = "network",
    ) -> Network:
        """Build a network from a layer table (list of row dicts); see the module docstring."""
        return cls(table, input=input, constants=constants, name=name)

    @classmethod
    def from_dict(
        cls, spec: Mapping[str, Any], constants: Mapping[str, Any] | None = None
    ) -> Network:
        """Build from ``{"input": ..., "layers": [...], "name": ...}`` (the YAML form)."""
        allowed = ("input", "layers", "name")
        if not isinstance(spec, Mapping):
            raise ValueError(f"a network spec is a mapping; got {type(spec).__name__}")
        for key in spec:
            if key not in allowed:
                raise ValueError(f"network spec: unknown key {key!r}; allowed: {allowed}")
        for key in ("input", "layers"):
            if key not in spec:
                raise ValueError(f"network spec: missing key {key!r}")
        return cls(spec["layers"], spec["input"], constants, spec.get("name", "network"))

    @property
    def table(self) -> list[dict]:
        """The layer table as plain data (round-trips through :meth:`from_table`)."""
        return [layer.to_data() for layer in self.layers]

    def to_dict(self) -> dict:
        """``{"input": ..., "layers": ..., "name": ...}``; constants are not included."""
        return {"input": self.input, "layers": self.table, "name": self.name}

    # -- evaluation -----------------------------------------------------------------------------
    def _lookup(self, variables: Variables) -> dict[str, np.ndarray]:
        if not isinstance(variables, Mapping):
            raise ValueError(
                f"Network '{self.name}': variables must be a mapping; got "
                f"{type(variables).__name__}"
            )
        env = {}
        for key in self.variables:
            if key not in variables:
                raise ValueError(
                    f"Network '{self.name}': missing variable '{key}' "
                    f"(this network reads {', '.join(self.variables)})"
                )
            env[key] = as_float_array(variables[key], f"variable '{key}'")
        if self.constants:
            # constants follow the variables' dtype: float32 variables keep a float32 network
            dtype = np.result_type(*env.values()) if env else None
            for key, value in self.constants.items():
                env[key] = self._constant_as(key, value, dtype)
        return env

    def _constant_as(self, key: str, value: np.ndarray, dtype: np.dtype | None) -> np.ndarray:
        if dtype is None or value.dtype == dtype:
            return value
        cache = self._constant_cache.setdefault(dtype, {})
        if key not in cache:
            cache[key] = value.astype(dtype)
        return cache[key]

    def _matrix(self, weight: Weight, env: dict[str, np.ndarray]) -> np.ndarray:
        M = env[weight.name]
        if M.ndim != 2:
            raise ValueError(
                f"Network '{self.name}': weight '{weight.name}' must be a 2-D matrix; "
                f"got shape {M.shape}"
            )
        return M.T if weight.transposed else M

    def _forward(self, env: dict[str, np.ndarray]) -> tuple[list, list]:
        z_list, a_list = [], []
        z = env[self.input]
        for index, layer in enumerate(self.layers):
            operand = None
            if layer.activation.operand is not None:
                operand = env[layer.activation.operand]
                if operand.shape != z.shape:
                    raise ValueError(
                        f"Network '{self.name}', layer {index + 1}: variable "
                        f"'{layer.activation.operand}' must have shape {z.shape} (the shape of "
                        f"layer {index + 1}); got {operand.shape}"
                    )
            a = layer.activation.forward(z, operand)
            z_list.append(z)
            a_list.append(a)
            if layer.weight is None:
                continue
            if layer.weight.name is None:
                z = a
                continue
            M = self._matrix(layer.weight, env)
            units = a.shape[0] if a.ndim else 1
            if a.ndim == 0 or M.shape[1] != units:
                raise ValueError(
                    f"Network '{self.name}', layer {index + 1}: weight "
                    f"'{layer.weight.to_data()}' must have shape (*, {units}) to act on layer "
                    f"{index + 1}'s {units} units (shape {a.shape}); got {M.shape}"
                )
            z = M @ a
        return z_list, a_list

    def _backward(self, z_list, a_list, env, stop: int) -> list[np.ndarray | None]:
        """Deltas of layers ``stop``..n_l (0-based), the seed's recursion."""
        n_layers = len(self.layers)
        deltas: list[np.ndarray | None] = [None] * n_layers
        upstream = None  # ∂J/∂a^(l) = W^(l)ᵀ δ^(l+1); all ones for the last layer
        for index in range(n_layers - 1, stop - 1, -1):
            layer = self.layers[index]
            z, a = z_list[index], a_list[index]
            if index < n_layers - 1:
                weight = layer.weight
                below = deltas[index + 1]
                upstream = below if weight.name is None else self._matrix(weight, env).T @ below
            fprime = layer.activation.derivative(z, a)
            if upstream is None:  # last layer: δ = f'(z)
                if fprime is None:
                    delta = np.ones_like(a)
                elif isinstance(fprime, float):
                    delta = np.full_like(a, fprime)
                else:
                    delta = fprime
            elif fprime is None:
                delta = upstream
            else:
                delta = upstream * fprime
            deltas[index] = delta
        return deltas

    def _stop_for(self, wrt: str) -> int:
        stop = len(self.layers) - 1
        if wrt == self.input:
            return 0
        for index, layer in enumerate(self.layers):
            if layer.weight is not None and layer.weight.name == wrt:
                stop = min(stop, index + 1)
            if layer.activation.operand == wrt:
                stop = min(stop, index + 1 if index + 1 < len(self.layers) else index)
        return stop

    def trace(self, variables: Variables, stop: int = 0) -> Trace:
        """Run forward and backward passes and return every layer's z, a and delta."""
        env = self._lookup(variables)
        z_list, a_list = self._forward(env)
        deltas = self._backward(z_list, a_list, env, stop)
        return Trace(z_list, a_list, deltas, float(np.sum(a_list[-1])))

    def value(self, variables: Variables) -> float:
        """:math:`J = \\sum a^{(n_l)}`."""
        env = self._lookup(variables)
        _, a_list = self._forward(env)
        return self._checked(float(np.sum(a_list[-1])), env)

    def _checked(self, value: float, env: dict[str, np.ndarray]) -> float:
        if not np.isfinite(value):
            diagnose_non_finite(f"Network '{self.name}'", env)
        return value

    def value_and_grad(self, variables: Variables, wrt: str) -> tuple[float, np.ndarray]:
        """Value and gradient with respect to ``wrt``, summed over all its appearances."""
        self._check_wrt(wrt)
        env = self._lookup(variables)
        z_list, a_list = self._forward(env)
        value = self._checked(float(np.sum(a_list[-1])), env)
        deltas = self._backward(z_list, a_list, env, self._stop_for(wrt))
        n_layers = len(self.layers)
        grad = None

        def accumulate(part: np.ndarray) -> None:
            nonlocal grad
            grad = np.array(part, copy=True) if grad is None else grad + part

        if wrt == self.input:
            accumulate(deltas[0])
        for index, layer in enumerate(self.layers):
            weight = layer.weight
            if weight is not None and weight.name == wrt:
                part = deltas[index + 1] @ a_list[index].T  # ∇ of this instance
                accumulate(part.T if weight.transposed else part)
            if layer.activation.operand == wrt:
                if index == n_layers - 1:
                    upstream = np.ones_like(a_list[index])
                elif weight.name is None:
                    upstream = deltas[index + 1]
                else:
                    upstream = self._matrix(weight, env).T @ deltas[index + 1]
                accumulate(-upstream if layer.activation.name == "subtract" else upstream)
        assert grad is not None
        return value, cast_like(grad, env[wrt])

    def as_network(self) -> Network:
        return self

    def __repr__(self) -> str:
        return f"Network(name={self.name!r}, input={self.input!r}, layers={len(self.layers)})"
