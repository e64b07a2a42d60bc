"""Parsing layer tables: the rows of :mod:`objectives.network`'s format into typed layers.

:func:`parse_table` checks a table (a list of ``{weight, activation}`` rows, see
:mod:`objectives.network`) and returns :class:`Layer` objects: a :class:`Weight` and an
:class:`Activation` each. Activation names and their parameter kinds come from the registry of
:mod:`objectives.activations`. Errors name the row (1-based, as the seed numbers layers) and
the key.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .activations import ActivationSpec, constant_slope, get_activation

__all__ = ["Activation", "Layer", "Weight", "parse_table"]

_IDENTITY_NAMES = ("I", "identity")
_NO_WEIGHT = (None, "N/A")
_ROW_KEYS = ("weight", "activation")


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
    def spec(self) -> ActivationSpec:
        """Its entry in the registry, :data:`objectives.activations.ACTIVATIONS`."""
        return get_activation(self.name)

    @property
    def operand(self) -> str | None:
        """The variable this activation reads (e.g. ``subtract``/``add``), else None."""
        return self.param if self.spec.parameter == "name" else None

    def forward(self, z: np.ndarray, operand: np.ndarray | None) -> np.ndarray:
        """:math:`f(z)`; ``operand`` is the array of the variable it reads, if any."""
        spec = self.spec
        return spec.forward(z, operand if spec.parameter == "name" else self.param)

    def derivative(self, z: np.ndarray, a: np.ndarray,
                   operand: np.ndarray | None = None) -> np.ndarray | float | None:
        """:math:`f'(z)`; None stands for 1, a float for a constant."""
        spec = self.spec
        return constant_slope(
            spec.derivative(z, a, operand if spec.parameter == "name" else self.param))

    def operand_derivative(self, z: np.ndarray, a: np.ndarray,
                           operand: np.ndarray) -> np.ndarray | float | None:
        """:math:`\\partial f/\\partial x` for the operand ``x``; None stands for 1."""
        return constant_slope(self.spec.operand_derivative(z, a, operand))


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
    try:
        kind = get_activation(name).parameter
    except ValueError as error:
        raise _row_error(index, "activation", str(error)) from None
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
