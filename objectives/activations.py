r"""The activations of the layer-table engine, in one registry.

Each activation :math:`f` of :mod:`objectives.network` is one :class:`ActivationSpec` in
:data:`ACTIVATIONS`: its name, the kind of its parameter, :math:`f`, :math:`f'` and the line the
docs show for it. The table parser, the engine's forward and backward passes and the table in
the docstring of :mod:`objectives.network` all read this registry, so a new activation is one
call of :func:`register_activation`::

    register_activation(
        "cube", forward=lambda z, p: z**3, derivative=lambda z, a, p: 3 * z**2,
        formula="z^3", slope="3 z^2",
    )

Conventions. ``forward(z, p)`` returns :math:`f(z)` for the layer input ``z``;
``derivative(z, a, p)`` returns :math:`f'(z)` given also ``a = f(z)``, as an array, a real
number (a constant slope) or None (the slope 1, which saves a multiplication). ``p`` is the
parameter: None, a float (kind ``"number"``) or, for kind ``"name"``, the array of the variable
it names (the operand ``x``); an operand activation also gives ``operand_derivative(z, a, x)``,
:math:`\partial f / \partial x` in the same form, which the engine multiplies into the
gradient with respect to ``x``.

Built in:

%(table)s
"""

from __future__ import annotations

import numbers
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "ACTIVATIONS",
    "PARAMETER_KINDS",
    "ActivationSpec",
    "activation_table",
    "get_activation",
    "register_activation",
]

#: Kinds of activation parameter: None, a finite number, or the name of a variable (operand).
PARAMETER_KINDS = (None, "number", "name")

#: Symbol of the parameter in the docs table, by kind (an entry may give its own).
_DEFAULT_SYMBOL = {None: "", "number": "c", "name": "x"}

Slope = np.ndarray | float | None


@dataclass(frozen=True)
class ActivationSpec:
    """One activation of the engine (see the module docstring for the conventions).

    Attributes
    ----------
    name : str
        The spelling in a table (``square``, ``{power: p}``).
    parameter : {None, "number", "name"}
        Kind of its parameter.
    forward : callable
        ``(z, p) -> f(z)``.
    derivative : callable
        ``(z, a, p) -> f'(z)`` (array, real number or None for 1).
    formula, slope : str
        :math:`f(z)` and :math:`f'(z)` as reST math, for the docs table.
    symbol : str
        The parameter's symbol in the docs table (``p``, ``ε``); empty without a parameter.
    operand_derivative : callable or None
        For kind ``"name"``: ``(z, a, x) -> ∂f/∂x`` (array, real number or None for 1).
    """

    name: str
    parameter: str | None
    forward: Callable[[np.ndarray, Any], np.ndarray]
    derivative: Callable[[np.ndarray, np.ndarray, Any], Slope]
    formula: str
    slope: str
    symbol: str = ""
    operand_derivative: Callable[[np.ndarray, np.ndarray, np.ndarray], Slope] | None = None

    @property
    def spelling(self) -> str:
        """How a table writes it: ``name`` or ``{name: symbol}``."""
        return self.name if self.parameter is None else f"{{{self.name}: {self.symbol}}}"


#: The registry: name → :class:`ActivationSpec`, in registration order.
ACTIVATIONS: dict[str, ActivationSpec] = {}


def register_activation(
    name: str,
    forward: Callable[[np.ndarray, Any], np.ndarray],
    derivative: Callable[[np.ndarray, np.ndarray, Any], Slope],
    *,
    formula: str,
    slope: str,
    parameter: str | None = None,
    symbol: str | None = None,
    operand_derivative: Callable[[np.ndarray, np.ndarray, np.ndarray], Slope] | None = None,
    replace: bool = False,
) -> ActivationSpec:
    """Add an activation to the engine; tables may use it by ``name`` from then on.

    Parameters
    ----------
    name : str
        Its spelling in tables, a Python identifier.
    forward : callable
        ``(z, p) -> f(z)``, element-wise, keeping the dtype of ``z``.
    derivative : callable
        ``(z, a, p) -> f'(z)`` with ``a = f(z)``: an array, a real number, or None for 1.
    formula, slope : str
        :math:`f(z)` and :math:`f'(z)` (reST math) for the docs table.
    parameter : {None, "number", "name"}, default None
        The parameter a table gives it: none (a bare name), a finite number
        (``{name: 0.5}``), or a variable name (``{name: x}``; ``p`` is then that variable).
    symbol : str, optional
        The parameter's symbol in the docs table (default ``c`` for a number, ``x`` for a
        variable).
    operand_derivative : callable, optional
        Required for ``parameter="name"`` (and only then): ``(z, a, x) -> ∂f/∂x``.
    replace : bool, default False
        Redefine an activation registered before (built-in ones cannot be redefined).

    Returns
    -------
    ActivationSpec
        The registered entry.

    Raises
    ------
    ValueError
        Naming the argument that is wrong, or the name that is taken.
    """
    owner = "register_activation"
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"{owner}: name must be an identifier; got {name!r}")
    if name in _BUILTIN:
        raise ValueError(f"{owner}: {name!r} is a built-in activation and cannot be redefined")
    if name in ACTIVATIONS and not replace:
        raise ValueError(f"{owner}: activation {name!r} is already registered; pass "
                         "replace=True to redefine it")
    if parameter not in PARAMETER_KINDS:
        raise ValueError(f"{owner}: parameter must be one of None, 'number', 'name'; "
                         f"got {parameter!r}")
    for label, fun in (("forward", forward), ("derivative", derivative)):
        if not callable(fun):
            raise ValueError(f"{owner}: {label} must be callable; got {fun!r}")
    if parameter == "name" and not callable(operand_derivative):
        raise ValueError(f"{owner}: an activation with a variable parameter needs a callable "
                         f"operand_derivative; got {operand_derivative!r}")
    if parameter != "name" and operand_derivative is not None:
        raise ValueError(f"{owner}: operand_derivative is only for parameter='name'; "
                         f"got parameter={parameter!r}")
    for label, text in (("formula", formula), ("slope", slope)):
        if not isinstance(text, str) or not text.strip():
            raise ValueError(f"{owner}: {label} must be a non-empty string; got {text!r}")
    spec = ActivationSpec(name, parameter, forward, derivative, formula, slope,
                          _DEFAULT_SYMBOL[parameter] if symbol is None else str(symbol),
                          operand_derivative)
    ACTIVATIONS[name] = spec
    return spec


def get_activation(name: str) -> ActivationSpec:
    """The registered activation ``name``; ``ValueError`` listing the known ones otherwise."""
    spec = ACTIVATIONS.get(name) if isinstance(name, str) else None
    if spec is None:
        known = ", ".join(sorted(ACTIVATIONS))
        raise ValueError(f"unknown activation {name!r}; known: {known} "
                         "(register_activation adds one)")
    return spec


def constant_slope(value: Any) -> Slope:
    """A real-number slope as a Python float (so float32 stays float32); else unchanged."""
    if isinstance(value, numbers.Real) and not isinstance(value, np.ndarray):
        return float(value)
    return value


def activation_table() -> str:
    """The registered activations as a reST table: spelling, :math:`f(z)`, :math:`f'(z)`."""
    rows = [(f"``{spec.spelling}``", f":math:`{spec.formula}`", f":math:`{spec.slope}`")
            for spec in ACTIVATIONS.values()]
    header = ("activation", ":math:`f(z)`", ":math:`f'(z)`")
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(3)]
    rule = "  ".join("=" * w for w in widths)

    def line(row: tuple[str, ...]) -> str:
        return "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()

    return "\n".join([rule, line(header), rule, *map(line, rows), rule])


def _register_builtins() -> frozenset[str]:
    """The seed's activations, the power/scale/offset family, the operands and ``log``."""
    builtins = [
        dict(name="identity", forward=lambda z, p: z, derivative=lambda z, a, p: None,
             formula="z", slope="1"),
        dict(name="square", forward=lambda z, p: z * z, derivative=lambda z, a, p: 2 * z,
             formula="z^2", slope="2z"),
        dict(name="sqrt", forward=lambda z, p: np.sqrt(z), derivative=lambda z, a, p: 0.5 / a,
             formula="z^{1/2}", slope=r"\tfrac12 z^{-1/2}"),
        dict(name="log", forward=lambda z, p: np.log(z),
             derivative=lambda z, a, p: np.reciprocal(z), formula=r"\log z", slope="1/z"),
        dict(name="power", parameter="number", symbol="p", forward=lambda z, p: z**p,
             derivative=lambda z, a, p: p * z ** (p - 1), formula="z^p", slope="p z^{p-1}"),
        dict(name="scale", parameter="number", symbol="c", forward=lambda z, p: z * p,
             derivative=lambda z, a, p: p, formula="c z", slope="c"),
        dict(name="add_epsilon", parameter="number", symbol="ε", forward=lambda z, p: z + p,
             derivative=lambda z, a, p: None, formula=r"z + \epsilon", slope="1"),
        dict(name="subtract", parameter="name", forward=lambda z, x: z - x,
             derivative=lambda z, a, x: None, operand_derivative=lambda z, a, x: -1.0,
             formula="z - x", slope="1"),
        dict(name="add", parameter="name", forward=lambda z, x: z + x,
             derivative=lambda z, a, x: None, operand_derivative=lambda z, a, x: None,
             formula="z + x", slope="1"),
    ]
    for entry in builtins:
        register_activation(**entry)
    return frozenset(ACTIVATIONS)


_BUILTIN: frozenset[str] = frozenset()
_BUILTIN = _register_builtins()

if __doc__:
    __doc__ = __doc__.replace("%(table)s", activation_table())
