r"""Sparsity terms: one penalty on the (optionally pooled) responses, for codes or for ``Wx``.

With a penalty :math:`\varphi` (:mod:`objectives.penalties`) or a layer table
(:class:`~objectives.table_penalty.TablePenalty`) and an optional grouping matrix ``V``:

- :class:`Sparsity`, on the codes: :math:`F(s) = \sum \varphi(V (s \circ s))`,
  :math:`\nabla_s F = 2 s \circ V^T \varphi'(V(s\circ s))`;
- :class:`ResponseSparsity`, on the responses :math:`y = Wx` of filters ``W`` (k × n) to data
  ``x`` (n × m): :math:`F(W) = \sum \varphi(V (Wx)^{\circ 2})`,
  :math:`\nabla_W F = (\partial F / \partial y)\, x^T`, accumulated over column blocks of ``x``
  when m is large (see :mod:`objectives.blocks`; a memory-mapped ``x`` has its pages released as
  they are read).

A ``V`` built by :func:`~objectives.topographic.grouping_matrix` is applied by the separable
box-sum kernel, any other through sparse (or dense) products. The built-in terms
(:class:`SmoothedL1`, :class:`TopographicL1`, :class:`ICASparsity`,
:class:`TopographicICASparsity`) are these two with the smoothed L1 penalty.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._kernels import deliver
from ._validation import as_float_array, bind, cast_like, check_epsilon, diagnose_non_finite
from .base import Term, Variables
from .blocks import block_columns, check_block, iter_column_blocks
from .ica import _SPEC, _diagnose
from .network import Network
from .penalties import Penalty, SmoothedL1Penalty
from .table_penalty import TablePenalty
from .topographic import GroupingOperator

__all__ = ["ICASparsity", "ResponseSparsity", "SmoothedL1", "Sparsity", "TopographicICASparsity",
           "TopographicL1"]


class _PenaltyResponses:
    r""":math:`\sum\varphi(V(Y\circ Y))` of a :class:`Penalty` and an optional grouping."""

    def __init__(self, penalty: Penalty, V: Any, owner: str) -> None:
        self.penalty = penalty
        self.grouping = None if V is None else GroupingOperator(V, owner)

    def value(self, Y: np.ndarray) -> float:
        if self.grouping is not None:
            return self.grouping.pooled_value(Y, self.penalty)
        return self.penalty.value_sum(Y * Y)

    def value_and_grad(self, Y: np.ndarray, coef: float = 1.0, out: np.ndarray | None = None,
                       accumulate: bool = True) -> tuple[float, np.ndarray]:
        """Value and ``coef`` times the gradient in ``Y``: fresh, added into ``out``
        (``accumulate``) or written into ``out``."""
        if self.grouping is not None:
            return self.grouping.pooled_value_and_grad(Y, self.penalty, coef, out, accumulate)
        written = out is not None and not accumulate
        U = np.multiply(Y, Y, out=out) if written else Y * Y
        value = self.penalty.value_and_weight(U, coef)  # U = 2c φ′(Y∘Y)
        U *= Y
        return value, (U if written else deliver(U, out, accumulate=True))

    def curvature(self) -> float:
        bound = self.penalty.curvature()
        return bound if self.grouping is None else bound * self.grouping.column_sum_max()

    def layers(self) -> tuple[list[dict], dict[str, np.ndarray]]:
        """Rows from the responses to the value, and the constants they read."""
        rows = self.penalty.table()
        if rows is None:
            raise NotImplementedError(f"penalty {self.penalty.name!r} has no layer table")
        if self.grouping is None:
            return [{"weight": "I", "activation": "square"}, *rows], {}
        return ([{"weight": "I", "activation": "square"},
                 {"weight": "V", "activation": "identity"}, *rows], {"V": self.grouping.V})


class _TableResponses:
    """A :class:`TablePenalty` run by the layer-table engine on the responses."""

    def __init__(self, table: TablePenalty, V: Any, owner: str) -> None:
        self.penalty = table
        self.V = table.bind_grouping(V, owner)
        self.grouping = None
        self.network = table.network(self.V)

    def value(self, Y: np.ndarray) -> float:
        return self.network.value({self.penalty.input: Y})

    def value_and_grad(self, Y: np.ndarray, coef: float = 1.0, out: np.ndarray | None = None,
                       accumulate: bool = True) -> tuple[float, np.ndarray]:
        value, grad = self.network.value_and_grad({self.penalty.input: Y}, self.penalty.input)
        if coef != 1.0:
            grad *= coef
        return value, deliver(grad, out, accumulate)

    def curvature(self) -> float | None:
        return self.penalty.curvature(self.V)

    def layers(self) -> tuple[list[dict], dict[str, np.ndarray]]:
        return self.penalty.layers, ({} if self.V is None else {"V": self.V})


def _responses(penalty: Any, V: Any, owner: str):
    if isinstance(penalty, TablePenalty):
        return _TableResponses(penalty, V, owner)
    if isinstance(penalty, Penalty):
        return _PenaltyResponses(penalty, V, owner)
    raise TypeError(f"{owner}: penalty must be a Penalty or a TablePenalty; got {penalty!r}")


def _name(penalty: Any, grouped: bool, on_responses: bool) -> str:
    smoothed = penalty.name == "smoothed_l1"
    if on_responses:
        base = "ica_sparsity" if smoothed else f"ica_{penalty.name}"
    else:
        base = ("l1" if grouped else "smoothed_l1") if smoothed else penalty.name
    return f"topographic_{base}" if grouped else base


class Sparsity(Term):
    r"""A penalty on codes: :math:`F(s) = \sum \varphi(V (s \circ s))` (``V = I`` without one).

    Parameters
    ----------
    penalty : Penalty or TablePenalty
        :math:`\varphi` (e.g. ``SmoothedL1Penalty(1e-2)``), or a layer table on the codes.
    V : array_like of shape (g, k), optional
        Non-negative grouping matrix (a constant); None: no pooling.
    variable : str, default "s"
        Name of the matrix penalised (``k × m``).
    name : str, optional
        Name in history records (default from the penalty: ``smoothed_l1``,
        ``topographic_l1``, ``cauchy``, ``topographic_cauchy`` ...).
    """

    def __init__(self, penalty: Any, V: Any = None, *, variable: str = "s",
                 name: str | None = None) -> None:
        owner = type(self).__name__
        if not isinstance(variable, str) or not variable.isidentifier():
            raise ValueError(f"{owner}: variable must be a name; got {variable!r}")
        self.responses = _responses(penalty, V, owner)
        self.penalty = penalty
        self.grouping = self.responses.grouping
        self.V = None if V is None else (self.grouping.V if self.grouping is not None
                                         else self.responses.V)
        self.variable = variable
        self.variables = self.wrt = (variable,)
        self.name = name or _name(penalty, V is not None, on_responses=False)
        self._dims = None if self.V is None else {"k": self.V.shape[1]}
        self._origin = None if self.V is None else {"k": "V"}

    def _bind(self, variables: Variables) -> np.ndarray:
        (s,), _ = bind(variables, ((self.variable, ("k", "m")),), type(self).__name__,
                       self._dims, self._origin)
        return s

    def _checked(self, value: float, s: np.ndarray) -> float:
        if not np.isfinite(value):
            diagnose_non_finite(type(self).__name__, {self.variable: s})
        return value

    def value(self, variables: Variables) -> float:
        s = self._bind(variables)
        return self._checked(self.responses.value(s), s)

    def value_and_grad(self, variables: Variables, wrt: str) -> tuple[float, np.ndarray]:
        self._check_wrt(wrt)
        s = self._bind(variables)
        value, grad = self.responses.value_and_grad(s)
        return self._checked(value, s), cast_like(grad, s)

    def _accumulate_grad(self, variables: Variables, wrt: str, coef: float,
                         out: np.ndarray | None) -> tuple[float, np.ndarray]:
        """Value, and ``coef · ∇`` added into ``out`` (see :meth:`Term._accumulate_grad`)."""
        self._check_wrt(wrt)
        s = self._bind(variables)
        value, grad = self.responses.value_and_grad(s, coef, out)
        return self._checked(value, s), grad

    def curvature(self) -> float | None:
        """Bound on the Hessian norm of ``F`` (the accelerated s-step's), None if unknown."""
        return self.responses.curvature()

    def as_network(self) -> Network:
        """The penalty's rows after ``I`` → square (and ``V`` → identity); input the codes."""
        rows, constants = self.responses.layers()
        return Network.from_table(rows, input=self.variable, constants=constants,
                                  name=self.name)

    def __repr__(self) -> str:
        grouping = "" if self.V is None else f", V=<{self.V.shape[0]}×{self.V.shape[1]}>"
        return f"{type(self).__name__}({self.penalty!r}{grouping})"


class ResponseSparsity(Term):
    r"""A penalty on the responses of filters: :math:`F(W) = \sum \varphi(V (Wx)^{\circ 2})`.

    Parameters
    ----------
    penalty : Penalty or TablePenalty
        :math:`\varphi`, or a layer table on the responses ``y = Wx``.
    V : array_like of shape (g, k), optional
        Non-negative grouping matrix (a constant); None: no pooling.
    block : int, optional
        Columns per block when m is large (default: about 1 MiB per ``max(k, n, g) × block``
        work array, :func:`objectives.blocks.block_columns`).
    name : str, optional
        Name in history records (default ``ica_sparsity``, ``topographic_ica_sparsity``, or
        from the penalty's name).

    ``Wx`` is formed once per block, into one reused ``k × block`` buffer; the gradient is
    :math:`\sum_b (\partial F/\partial y_b)\, x_b^T`.
    """

    variables = ("W", "x")
    wrt = ("W",)

    def __init__(self, penalty: Any, V: Any = None, *, block: int | None = None,
                 name: str | None = None) -> None:
        owner = type(self).__name__
        self.block = check_block(block, owner)
        self.responses = _responses(penalty, V, owner)
        self.penalty = penalty
        self.grouping = self.responses.grouping
        self.V = None if V is None else (self.grouping.V if self.grouping is not None
                                         else self.responses.V)
        self.name = name or _name(penalty, V is not None, on_responses=True)
        self._dims = None if self.V is None else {"k": self.V.shape[1]}
        self._origin = None if self.V is None else {"k": "V"}
        self._pooled_rows = 0 if self.V is None else self.V.shape[0]

    def _evaluate(self, variables: Variables, grad: bool) -> tuple[float, np.ndarray | None]:
        owner = type(self).__name__
        (W, x), _ = bind(variables, _SPEC, owner, self._dims, self._origin)
        k, n = W.shape
        m = x.shape[1]
        dtype = np.result_type(W, x)
        step = block_columns(max(k, n, self._pooled_rows), dtype.itemsize, self.block)
        responses = self.responses
        if m <= step:  # the direct form
            Y = W @ x
            if grad:
                value, D = responses.value_and_grad(Y)
            else:
                value, D = responses.value(Y), None
            if not np.isfinite(value):
                _diagnose(owner, W, x, step)
            return value, (cast_like(D @ x.T, W) if grad else None)
        value = 0.0
        G = np.zeros((k, n), dtype=dtype) if grad else None
        y_buffer = np.empty(k * step, dtype=dtype)
        q_buffer = np.empty(k * step, dtype=dtype)
        for start, stop, part in iter_column_blocks(x, step):
            width = stop - start
            Y = np.matmul(W, part, out=y_buffer[: k * width].reshape(k, width))
            if grad:
                out = q_buffer[: k * width].reshape(k, width)
                part_value, D = responses.value_and_grad(Y, out=out, accumulate=False)
            else:
                part_value = responses.value(Y)
            value += part_value
            finite = np.isfinite(value)
            if not finite:  # raises when an input is to blame; else the value overflowed
                _diagnose(owner, W, x, step)
            if grad:
                G += D @ part.T
            if not finite:
                break
        return value, (cast_like(G, W) if grad else None)

    def value(self, variables: Variables) -> float:
        return self._evaluate(variables, grad=False)[0]

    def value_and_grad(self, variables: Variables, wrt: str) -> tuple[float, np.ndarray]:
        self._check_wrt(wrt)
        return self._evaluate(variables, grad=True)

    def response_value(self, Y: Any) -> float:
        """:math:`\\sum\\varphi(V(Y\\circ Y))` of given responses ``Y`` (k × m)."""
        return self.responses.value(as_float_array(Y, "Y"))

    def as_network(self) -> Network:
        """``W`` → identity, then the penalty's rows on ``y = Wx``; input ``x``."""
        rows, constants = self.responses.layers()
        return Network.from_table([{"weight": "W", "activation": "identity"}, *rows],
                                  input="x", constants=constants, name=self.name)

    def __repr__(self) -> str:
        grouping = "" if self.V is None else f", V=<{self.V.shape[0]}×{self.V.shape[1]}>"
        return f"{type(self).__name__}({self.penalty!r}{grouping})"


# -- the built-in smoothed L1 terms -----------------------------------------------------------
class _SmoothedL1Preset:
    """The built-in terms: the seed's smoothed L1 penalty at ``epsilon``."""

    penalty: SmoothedL1Penalty
    V: np.ndarray | None

    @staticmethod
    def _penalty(epsilon: Any, owner: str) -> SmoothedL1Penalty:
        return SmoothedL1Penalty(check_epsilon(epsilon, owner))

    @property
    def epsilon(self) -> float:
        """The smoothing ε."""
        return self.penalty.epsilon

    def __repr__(self) -> str:
        grouping = "" if self.V is None else f"V=<{self.V.shape[0]}×{self.V.shape[1]}>, "
        return f"{type(self).__name__}({grouping}epsilon={self.epsilon!r})"


class SmoothedL1(_SmoothedL1Preset, Sparsity):
    r"""Smoothed L1 penalty :math:`F(s) = \sum \sqrt{s^2 + \epsilon}`,
    :math:`\nabla_s F = s / \sqrt{s^2 + \epsilon}`.

    Parameters
    ----------
    epsilon : float
        Smoothing constant :math:`\epsilon > 0`.
    variable : str, default "s"
        Name of the matrix penalised.
    """

    def __init__(self, epsilon: float = 1e-2, variable: str = "s") -> None:
        super().__init__(self._penalty(epsilon, "SmoothedL1"), variable=variable)


class TopographicL1(_SmoothedL1Preset, Sparsity):
    r"""Smoothed topographic L1 :math:`F(s) = \sum \sqrt{V (s \circ s) + \epsilon}` (seed
    Example 2; its ``Vssᵀ`` means V applied to ``s∘s``),
    :math:`\nabla_s F = s \circ V^T (V (s \circ s) + \epsilon)^{-1/2}`.

    Parameters
    ----------
    V : array_like of shape (g, k)
        Non-negative grouping matrix, e.g. :func:`grouping_matrix`; a constant.
    epsilon : float
        Smoothing constant :math:`\epsilon > 0`.
    """

    def __init__(self, V: Any, epsilon: float = 1e-2) -> None:
        super().__init__(self._penalty(epsilon, "TopographicL1"), V)


class ICASparsity(_SmoothedL1Preset, ResponseSparsity):
    r"""Smoothed L1 sparsity of the responses, :math:`F(W) = \sum \sqrt{(Wx)^2 + \epsilon}`,
    :math:`\nabla_W F = \frac{Wx}{\sqrt{(Wx)^2 + \epsilon}}\, x^T`.

    Parameters
    ----------
    epsilon : float
        Smoothing constant :math:`\epsilon > 0`.
    block : int, optional
        Columns per block when m is large; default automatic.
    """

    def __init__(self, epsilon: float = 1e-2, *, block: int | None = None) -> None:
        super().__init__(self._penalty(epsilon, "ICASparsity"), block=block)


class TopographicICASparsity(_SmoothedL1Preset, ResponseSparsity):
    r"""Pooled sparsity of the responses (topographic ICA),
    :math:`F(W) = \sum \sqrt{V (Wx)^{\circ 2} + \epsilon}`.

    Parameters
    ----------
    V : array_like of shape (g, k)
        Non-negative grouping matrix (e.g. :func:`grouping_matrix`), a constant.
    epsilon : float
        Smoothing constant :math:`\epsilon > 0`.
    block : int, optional
        Columns per block when m is large; default automatic.
    """

    def __init__(self, V: Any, epsilon: float = 1e-2, *, block: int | None = None) -> None:
        super().__init__(self._penalty(epsilon, "TopographicICASparsity"), V, block=block)
