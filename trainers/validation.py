"""Declarative validation of estimator parameters with one uniform error message.

Each estimator class holds one table ``_parameter_constraints``: parameter name → a constraint
object. :func:`validate_params` checks every constructor parameter against its constraint and
raises ``ValueError("<Class>: parameter '<name>' must be <expected>; got <found>.")``.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "Constraint",
    "Interval",
    "Options",
    "validate_params",
    "IS_BOOL",
    "IS_RANDOM_STATE",
    "IS_BLAS_THREADS",
    "IS_INITIAL_MATRIX",
    "IS_DTYPE",
    "IS_CALLBACKS",
    "IS_PREPROCESSOR",
    "IS_SHAPE2",
    "OR_NONE",
    "TORUS_CONSTRAINTS",
    "COMMON_PARAMETERS",
    "check_torus",
]


@dataclass(frozen=True)
class Constraint:
    """A predicate with the human-readable description used in the error message."""

    check: Callable[[Any], bool]
    expected: str

    def __call__(self, value: Any) -> bool:
        try:
            return bool(self.check(value))
        except Exception:  # a predicate that fails on an odd type means "invalid"
            return False


def Interval(  # noqa: N802 - reads like a type in the tables
    kind: type, low: float | None, high: float | None, closed: str = "both"
) -> Constraint:
    """A real or integral number in an interval; ``closed``: both, left, right, neither."""
    integral = kind is int
    left = "[" if closed in ("both", "left") else "("
    right = "]" if closed in ("both", "right") else ")"
    lo = "-inf" if low is None else repr(low)
    hi = "inf" if high is None else repr(high)
    expected = f"{'an int' if integral else 'a float'} in {left}{lo}, {hi}{right}"

    def check(value: Any) -> bool:
        if isinstance(value, bool):
            return False
        if integral and not isinstance(value, numbers.Integral):
            return False
        if not integral and not isinstance(value, numbers.Real):
            return False
        if not np.isfinite(value):
            return False
        if low is not None and (value < low or (left == "(" and value == low)):
            return False
        return not (high is not None and (value > high or (right == ")" and value == high)))

    return Constraint(check, expected)


def Options(values: Iterable[Any]) -> Constraint:  # noqa: N802
    """One of a fixed set of values."""
    values = tuple(values)
    return Constraint(lambda v: any(v == o and type(v) is type(o) for o in values),
                      "one of " + ", ".join(repr(v) for v in values))


def OR_NONE(constraint: Constraint) -> Constraint:  # noqa: N802
    """The constraint, or ``None``."""
    return Constraint(lambda v: v is None or constraint(v), f"{constraint.expected} or None")


IS_BOOL = Constraint(lambda v: isinstance(v, (bool, np.bool_)), "a bool")
IS_RANDOM_STATE = Constraint(
    lambda v: v is None
    or (isinstance(v, numbers.Integral) and not isinstance(v, bool) and v >= 0)
    or isinstance(v, (np.random.Generator, np.random.SeedSequence, np.random.RandomState)),
    "None, a non-negative int, a numpy Generator, SeedSequence or RandomState",
)
IS_INITIAL_MATRIX = Constraint(
    lambda v: v is None or np.ndim(v) == 2,
    "None or a 2-D array",
)
IS_BLAS_THREADS = Constraint(
    lambda v: v is None or (isinstance(v, numbers.Integral) and not isinstance(v, bool)
                            and v >= 1),
    "None (the BLAS default) or a positive int",
)
IS_DTYPE = Constraint(
    lambda v: v is None or np.dtype(v) in (np.dtype(np.float32), np.dtype(np.float64)),
    "None, float32 or float64",
)
IS_CALLBACKS = Constraint(
    lambda v: v is None
    or (isinstance(v, (list, tuple)) and all(hasattr(c, "on_iteration_end") for c in v)),
    "None or a list of Callback objects",
)
IS_PREPROCESSOR = Constraint(
    lambda v: v is None or callable(getattr(v, "transform", None)),
    "None or a fitted transformer with transform(X) (and inverse_transform(X) for "
    "inverse_transform)",
)
IS_SHAPE2 = Constraint(
    lambda v: isinstance(v, (tuple, list)) and len(v) == 2
    and all(isinstance(d, numbers.Integral) and not isinstance(d, bool) and d >= 1 for d in v),
    "a pair (rows, cols) of positive ints",
)


#: Constraints of the torus parameters shared by the topographic estimators.
TORUS_CONSTRAINTS = {"grid": IS_SHAPE2, "pool": Interval(int, 1, None), "wrap": IS_BOOL}


#: Constraints of the parameters every trainer has; a new trainer writes
#: ``{**COMMON_PARAMETERS, ...its own...}``.
COMMON_PARAMETERS = {
    "max_iter": Interval(int, 0, None),
    "tol": Interval(float, 0.0, None),
    "random_state": IS_RANDOM_STATE,
    "dtype": IS_DTYPE,
    "callbacks": IS_CALLBACKS,
    "preprocessor": IS_PREPROCESSOR,
}


def check_torus(owner: str, grid: Any, pool: int) -> None:
    """Cross-parameter check of a topographic estimator: the pooling neighbourhood must fit.

    The estimator's size comes from ``grid`` alone (``rows*cols`` components), so the only
    relation left to check is ``pool <= min(grid)``.

    Parameters
    ----------
    owner : str
        Class name used as the message prefix.
    grid : (int, int)
        Torus shape, already checked by :data:`IS_SHAPE2`.
    pool : int
        Side of the pooling neighbourhood.

    Raises
    ------
    ValueError
        ``"<owner>: parameter 'pool' must be at most min(grid) = <n>; got <pool>."``
    """
    rows, cols = grid
    if pool > min(rows, cols):
        raise ValueError(
            f"{owner}: parameter 'pool' must be at most min(grid) = "
            f"{min(rows, cols)}; got {pool!r}."
        )


def validate_params(owner: str, params: dict[str, Any], table: dict[str, Constraint]) -> None:
    """Check ``params`` against ``table``; raise one uniform ``ValueError`` on the first failure.

    Parameters
    ----------
    owner : str
        Class name used as the message prefix.
    params : dict
        Parameter name → value (``estimator.get_params()``).
    table : dict
        Parameter name → :class:`Constraint`. Every parameter must have an entry.
    """
    for name, value in params.items():
        constraint = table.get(name)
        if constraint is None:
            raise ValueError(f"{owner}: parameter {name!r} has no constraint (internal error).")
        if not constraint(value):
            raise ValueError(
                f"{owner}: parameter {name!r} must be {constraint.expected}; got {value!r}."
            )
