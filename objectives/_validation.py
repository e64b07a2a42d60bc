"""Input checking shared by every term: names, shapes, dtypes, finiteness.

One job: turn a ``variables`` mapping into validated 2-D floating arrays, binding the symbolic
dimensions of a term (``n``, ``k``, ``m`` ...) on the way, and raise one uniform ``ValueError``
that names the variable, the expected shape and the actual one.

Finiteness is checked *lazily* on the hot path: every term sums over all entries of every input,
so a NaN or infinity in an input always makes the value non-finite. Terms therefore call
:func:`diagnose_non_finite` only when the value they computed is not finite; it raises if an input
is to blame and otherwise lets the (overflowed) value through, so that trainers can detect
divergence themselves. Constants given to constructors are checked eagerly.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

Spec = Sequence[tuple[str, tuple[str, ...]]]


def as_float_array(value: Any, label: str) -> np.ndarray:
    """Return ``value`` as a floating ndarray (integers and booleans become float64).

    Raises ``ValueError`` naming ``label`` for complex or non-numeric input.
    """
    array = np.asarray(value)
    kind = array.dtype.kind
    if kind == "f":
        return array
    if kind in "biu":
        return array.astype(np.float64)
    raise ValueError(f"{label} must hold real floating-point numbers; got dtype {array.dtype}")


def _format_expected(symbols: tuple[str, ...], dims: Mapping[str, int]) -> str:
    names = ", ".join(symbols)
    values = ", ".join(str(dims[s]) if s in dims else s for s in symbols)
    if names == values:
        return f"({names})"
    return f"({names}) = ({values})"


def bind(
    variables: Mapping[str, Any],
    spec: Spec,
    owner: str,
    dims: dict[str, int] | None = None,
    origin: dict[str, str] | None = None,
) -> tuple[list[np.ndarray], dict[str, int]]:
    """Fetch and shape-check the variables named in ``spec``.

    Parameters
    ----------
    variables : mapping of str to array_like
        The caller's variables; extra entries are ignored.
    spec : sequence of (name, symbols)
        For each variable read, its symbolic shape, e.g. ``("A", ("n", "k"))``. Symbols are bound
        by the first variable that uses them and checked against every later one.
    owner : str
        Name of the term, used in messages.
    dims, origin : dict, optional
        Pre-bound dimensions (e.g. from a constructor constant) and the name that bound each.

    Returns
    -------
    arrays : list of ndarray
        The variables in ``spec`` order, as 2-D floating arrays.
    dims : dict
        The bound dimensions.
    """
    if not isinstance(variables, Mapping):
        raise ValueError(
            f"{owner}: variables must be a mapping of name to array; got {type(variables).__name__}"
        )
    dims = dict(dims or {})
    origin = dict(origin or {})
    arrays = []
    for name, symbols in spec:
        if name not in variables:
            read = ", ".join(n for n, _ in spec)
            raise ValueError(f"{owner}: missing variable '{name}' (this term reads {read})")
        array = as_float_array(variables[name], f"variable '{name}'")
        if array.ndim != len(symbols):
            raise ValueError(
                f"{owner}: variable '{name}' must be a {len(symbols)}-D array of shape "
                f"{_format_expected(symbols, dims)}; got shape {array.shape}"
            )
        for axis, symbol in enumerate(symbols):
            size = array.shape[axis]
            if symbol in dims:
                if dims[symbol] != size:
                    raise ValueError(
                        f"{owner}: variable '{name}' must have shape "
                        f"{_format_expected(symbols, dims)}; got {array.shape} "
                        f"({symbol} = {dims[symbol]} from '{origin[symbol]}')"
                    )
            else:
                if size == 0:
                    raise ValueError(
                        f"{owner}: variable '{name}' has an empty axis ({symbol} = 0); "
                        f"got shape {array.shape}"
                    )
                dims[symbol] = size
                origin[symbol] = name
        arrays.append(array)
    return arrays, dims


def check_wrt(wrt: str, allowed: tuple[str, ...], owner: str) -> None:
    """Raise ``ValueError`` naming the allowed names when ``wrt`` is not one of them."""
    if wrt not in allowed:
        raise ValueError(
            f"{owner}: cannot differentiate with respect to {wrt!r}; "
            f"allowed: {', '.join(map(repr, allowed))}"
        )


def diagnose_non_finite(owner: str, named: Mapping[str, np.ndarray]) -> None:
    """Raise ``ValueError`` naming the first input that holds NaN or infinity.

    Called only after a term computed a non-finite value. Returns silently when every input is
    finite (the value overflowed): the caller then returns the non-finite value unchanged.
    """
    for name, array in named.items():
        if not np.isfinite(array).all():
            bad = int(np.size(array) - np.count_nonzero(np.isfinite(array)))
            raise ValueError(
                f"{owner}: variable '{name}' of shape {np.shape(array)} holds {bad} non-finite "
                f"value(s) (NaN or infinity)"
            )


def check_constant(value: Any, label: str, owner: str, ndim: int = 2) -> np.ndarray:
    """Validate a constructor constant eagerly: floating, ``ndim``-D, non-empty and finite."""
    array = as_float_array(value, f"{owner}: {label}")
    if array.ndim != ndim:
        raise ValueError(f"{owner}: {label} must be a {ndim}-D array; got shape {array.shape}")
    if array.size == 0:
        raise ValueError(f"{owner}: {label} must not be empty; got shape {array.shape}")
    if not np.isfinite(array).all():
        raise ValueError(f"{owner}: {label} of shape {array.shape} holds non-finite values")
    return array


def check_epsilon(epsilon: Any, owner: str) -> float:
    """Return ``epsilon`` as a Python float (so float32 arrays stay float32); must be > 0."""
    try:
        value = float(epsilon)
    except (TypeError, ValueError):
        raise ValueError(f"{owner}: epsilon must be a positive number; got {epsilon!r}") from None
    if not np.isfinite(value) or value <= 0.0:
        raise ValueError(f"{owner}: epsilon must be a positive finite number; got {epsilon!r}")
    return value


def result_dtype(*arrays: np.ndarray) -> np.dtype:
    """The floating dtype the computation runs in (float32 only if every input is float32)."""
    return np.result_type(*arrays)


def cast_like(grad: np.ndarray, variable: np.ndarray) -> np.ndarray:
    """Return ``grad`` in the dtype of the variable it is the gradient of (no copy if equal)."""
    return grad.astype(variable.dtype, copy=False)
