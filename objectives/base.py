"""The objective interface: :class:`Term` and the weighted sum of terms.

A term is a scalar function :math:`F(\\text{variables})` of named matrices with

- ``value(variables) -> float``
- ``value_and_grad(variables, wrt) -> (float, ndarray)``, the gradient having the shape and dtype
  of ``variables[wrt]``
- ``variables``: the names it reads; ``wrt``: the names it can differentiate with respect to;
  ``name``: a short snake_case name for history records
- ``as_network()``: the same function as a layer-table network (:mod:`objectives.network`)

Terms compose with scalars and each other: ``2.0 * term``, ``term + other``, ``term - other``,
``term / 4`` all give a :class:`WeightedSum` :math:`\\sum_i c_i F_i`, itself a term.
"""

from __future__ import annotations

import numbers
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from ._validation import check_wrt

if TYPE_CHECKING:  # pragma: no cover
    from .network import Network

Variables = Mapping[str, Any]


def _as_weight(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"a term can only be scaled by a real number; got {type(value).__name__}")
    weight = float(value)
    if not np.isfinite(weight):
        raise ValueError(f"a term's weight must be finite; got {value!r}")
    return weight


class Term:
    """Base class of every objective term.

    Subclasses set ``variables``, ``wrt`` and ``name`` and implement :meth:`value_and_grad`
    (and usually a cheaper :meth:`value`) and :meth:`as_network`.
    """

    variables: tuple[str, ...] = ()
    wrt: tuple[str, ...] = ()
    name: str = "term"

    # Make ``ndarray * term`` and ``np.float64(2) * term`` defer to Term.__rmul__.
    __array_ufunc__ = None

    def value(self, variables: Variables) -> float:
        """Value of the term; by default the value part of :meth:`value_and_grad`."""
        return self.value_and_grad(variables, self.wrt[0])[0]

    def value_and_grad(self, variables: Variables, wrt: str) -> tuple[float, np.ndarray]:
        """Value and gradient with respect to the variable named ``wrt``."""
        raise NotImplementedError

    def grad(self, variables: Variables, wrt: str) -> np.ndarray:
        """Gradient with respect to the variable named ``wrt``."""
        return self.value_and_grad(variables, wrt)[1]

    def as_network(self) -> Network:
        """The same function written as a layer-table network."""
        raise NotImplementedError(f"{type(self).__name__} has no layer table")

    def _accumulate_grad(
        self, variables: Variables, wrt: str, coef: float, out: np.ndarray | None
    ) -> tuple[float, np.ndarray]:
        """Value, and ``coef`` times the gradient accumulated for a :class:`WeightedSum`.

        With ``out`` None the result is a fresh array holding :math:`c \\nabla F`; otherwise
        :math:`c \\nabla F` is added into ``out`` (in its dtype), which is returned. The value is
        unscaled. This default goes through :meth:`value_and_grad`; a term may override it to
        fold ``coef`` into its own arithmetic and write into ``out`` without a temporary.
        """
        value, grad = self.value_and_grad(variables, wrt)
        if coef != 1.0:
            grad *= coef  # fresh array from the term; in place keeps its dtype
        if out is None:
            return value, grad
        out += grad
        return value, out

    #: Whether adding this term's gradient into an existing array costs nothing extra (e.g. a
    #: BLAS product with ``beta = 1``); :class:`WeightedSum` then evaluates it after the others.
    _accumulates_in_place: bool = False

    def _check_wrt(self, wrt: str) -> None:
        check_wrt(wrt, self.wrt, type(self).__name__)

    # -- arithmetic -------------------------------------------------------------------------
    def _pairs(self) -> list[tuple[float, Term]]:
        return [(1.0, self)]

    def __mul__(self, other: Any) -> WeightedSum:
        try:
            weight = _as_weight(other)
        except TypeError:
            return NotImplemented
        return WeightedSum([(weight * c, t) for c, t in self._pairs()])

    __rmul__ = __mul__

    def __truediv__(self, other: Any) -> WeightedSum:
        try:
            weight = _as_weight(other)
        except TypeError:
            return NotImplemented
        if weight == 0.0:
            raise ZeroDivisionError("cannot divide a term by zero")
        return self * (1.0 / weight)

    def __neg__(self) -> WeightedSum:
        return self * -1.0

    def __add__(self, other: Any) -> WeightedSum:
        if not isinstance(other, Term):
            return NotImplemented
        return WeightedSum(self._pairs() + other._pairs())

    def __sub__(self, other: Any) -> WeightedSum:
        if not isinstance(other, Term):
            return NotImplemented
        return self + (-other)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class WeightedSum(Term):
    """Weighted sum of terms, :math:`F = \\sum_i c_i F_i`.

    Parameters
    ----------
    terms : iterable of (weight, Term)
        Pairs of a real weight :math:`c_i` and a term :math:`F_i`. Nested sums are flattened.

    Notes
    -----
    ``variables`` is the union of the terms' variables (first-appearance order). ``wrt`` holds
    each name that some term differentiates and that no term reads without being able to
    differentiate it (otherwise the sum's gradient would silently miss a part). ``values()`` gives
    the unweighted value of each term, keyed by the term's ``name`` (``name_2``, ``name_3`` ... for
    repeats), for per-term history records.
    """

    name = "objective"

    def __init__(self, terms: Iterable[tuple[float, Term]]):
        pairs: list[tuple[float, Term]] = []
        for item in terms:
            try:
                weight, term = item
            except (TypeError, ValueError):
                raise TypeError("WeightedSum takes (weight, term) pairs") from None
            if not isinstance(term, Term):
                raise TypeError(f"WeightedSum: {term!r} is not a Term")
            weight = _as_weight(weight)
            pairs.extend((weight * c, t) for c, t in term._pairs())
        if not pairs:
            raise ValueError("WeightedSum needs at least one term")
        self.terms: tuple[tuple[float, Term], ...] = tuple(pairs)
        names: list[str] = []
        for _, term in pairs:
            names.extend(v for v in term.variables if v not in names)
        self.variables = tuple(names)
        blocked = {v for _, t in pairs for v in t.variables if v not in t.wrt}
        wrt: list[str] = []
        for _, term in pairs:
            wrt.extend(v for v in term.wrt if v not in wrt and v not in blocked)
        self.wrt = tuple(wrt)
        keys: list[str] = []
        for _, term in pairs:
            key, i = term.name, 1
            while key in keys:
                i += 1
                key = f"{term.name}_{i}"
            keys.append(key)
        self.keys: tuple[str, ...] = tuple(keys)
        self._grad_order = tuple(
            sorted(range(len(pairs)), key=lambda i: pairs[i][1]._accumulates_in_place)
        )

    def _pairs(self) -> list[tuple[float, Term]]:
        return list(self.terms)

    def values(self, variables: Variables) -> dict[str, float]:
        """Unweighted value of every term, keyed by term name."""
        pairs = zip(self.keys, self.terms, strict=True)
        return {key: term.value(variables) for key, (_, term) in pairs}

    def value(self, variables: Variables) -> float:
        """:math:`\\sum_i c_i F_i`."""
        return float(sum(c * term.value(variables) for c, term in self.terms))

    def value_and_grad(self, variables: Variables, wrt: str) -> tuple[float, np.ndarray]:
        """Value and :math:`\\sum_i c_i \\nabla F_i` (terms not reading ``wrt`` contribute 0)."""
        self._check_wrt(wrt)
        values = [0.0] * len(self.terms)
        grad: np.ndarray | None = None
        # Each term adds c·∇ into one gradient array (Term._accumulate_grad); terms for which
        # adding is free go last, so that another term writes the array first.
        for i in self._grad_order:
            c, term = self.terms[i]
            if wrt in term.variables:
                values[i], grad = term._accumulate_grad(variables, wrt, c, grad)
            else:
                values[i] = term.value(variables)
        assert grad is not None  # wrt is read by at least one term
        total = 0.0
        for (c, _), v in zip(self.terms, values, strict=True):
            total += c * v
        return float(total), grad

    def as_network(self) -> WeightedSum:
        """The same weighted sum with every term replaced by its layer-table network."""
        return WeightedSum([(c, term.as_network()) for c, term in self.terms])

    def __repr__(self) -> str:
        inner = " + ".join(f"{c:g}*{term!r}" for c, term in self.terms)
        return f"WeightedSum({inner})"
