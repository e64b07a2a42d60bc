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
    Either a bare name or a one-key mapping ``{name: parameter}``. The activations are the
    entries of the registry :data:`objectives.activations.ACTIVATIONS`
    (:func:`~objectives.activations.register_activation` adds one); at import they are:

%(table)s

    For ``subtract``/``add``, ``x`` is the variable the parameter names (the operand).

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
:math:`(W^{(l)T}\\delta^{(l+1)}) \\circ \\partial f^{(l)}/\\partial x` (``+1`` for ``add``, ``−1``
for ``subtract``). A name used in several places gets the sum of all its parts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ._validation import as_float_array, cast_like, check_constant, diagnose_non_finite
from .activations import activation_table, register_activation
from .base import Term, Variables
from .layer_table import _IDENTITY_NAMES, Activation, Layer, Weight, _is_name, parse_table

__all__ = [
    "Activation",
    "Layer",
    "Network",
    "Trace",
    "Weight",
    "parse_table",
    "register_activation",
]

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
            operand = layer.activation.operand
            fprime = layer.activation.derivative(z, a, None if operand is None else env[operand])
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
                slope = layer.activation.operand_derivative(z_list[index], a_list[index],
                                                            env[wrt])
                accumulate(upstream if slope is None else upstream * slope)
        assert grad is not None
        return value, cast_like(grad, env[wrt])

    def as_network(self) -> Network:
        return self

    def __repr__(self) -> str:
        return f"Network(name={self.name!r}, input={self.input!r}, layers={len(self.layers)})"


if __doc__:
    __doc__ = __doc__.replace("%(table)s", "\n".join(
        "    " + line for line in activation_table().splitlines()))
