"""ICA terms: reconstruction cost (RICA) and the smoothed L1 sparsity of the responses.

Shapes: filter matrix ``W`` is k × n (one filter per row), data ``x`` is n × m, responses
``Wx`` are k × m. Every gradient is returned as a fresh array with the shape and dtype of ``W``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._kernels import frobenius, gram_minus_identity, smoothed_root
from ._validation import (
    bind,
    cast_like,
    check_constant,
    check_epsilon,
    diagnose_non_finite,
)
from .base import Term, Variables
from .network import Network
from .topographic import GroupingOperator, pooled_grad, pooled_root

_SPEC = (("W", ("k", "n")), ("x", ("n", "m")))


def _table_ica_reconstruction() -> list[dict]:
    return [
        {"weight": "W", "activation": "identity"},
        {"weight": "W.T", "activation": "identity"},
        {"weight": "I", "activation": {"subtract": "x"}},
        {"weight": None, "activation": "square"},
    ]


class ICAReconstruction(Term):
    """RICA reconstruction cost :math:`F(W) = \\lVert W^T W x - x \\rVert_F^2`.

    With :math:`r = W^T W x - x`,

    .. math::
        \\nabla_W F = 2 W r x^T + 2 (W x) r^T = 2 W (S + S^T), \\qquad S = r x^T

    (seed Example 3 with its erratum fixed: the first term is :math:`W \\cdot 2 r x^T`, not
    :math:`W^T \\cdot 2 r x^T`). Because :math:`(Wx) r^T = W (x r^T)`, both terms share the
    n × n matrix S, so the gradient costs :math:`n^2 m + k n^2` multiply-adds after the forward
    pass instead of :math:`2knm + \\dots`. The residual is formed as :math:`r = M x` with
    :math:`M = W^T W - I` when that is cheaper (:math:`kn^2 + n^2 m < 2knm`, i.e. about
    :math:`n < 2k`), else as :math:`W^T (W x) - x`. Variables ``W`` (k × n) and ``x`` (n × m);
    differentiable in ``W``.

    For repeated evaluation on the same data use :meth:`from_data` or :meth:`from_covariance`,
    whose cost does not grow with m.
    """

    variables = ("W", "x")
    wrt = ("W",)
    name = "ica_reconstruction"

    def _forward(self, variables: Variables):
        (W, x), _ = bind(variables, _SPEC, "ICAReconstruction")
        k, n = W.shape
        m = x.shape[1]
        if k * n * n + n * n * m < 2 * k * n * m:
            r = gram_minus_identity(W) @ x
        else:
            r = W.T @ (W @ x)
            r -= x
        value = frobenius(r, r)
        if not np.isfinite(value):
            diagnose_non_finite("ICAReconstruction", {"W": W, "x": x})
        return W, x, r, value

    def value(self, variables: Variables) -> float:
        return self._forward(variables)[-1]

    def value_and_grad(self, variables: Variables, wrt: str) -> tuple[float, np.ndarray]:
        self._check_wrt(wrt)
        W, x, r, value = self._forward(variables)
        S = r @ x.T
        S += S.T.copy()  # r xᵀ + x rᵀ
        grad = W @ S
        grad *= 2
        return value, cast_like(grad, W)

    def as_network(self) -> Network:
        """Seed Example 3: ``W``, ``W.T``, ``I`` → subtract x, square; input ``x``."""
        return Network.from_table(_table_ica_reconstruction(), input="x", name=self.name)

    @staticmethod
    def from_data(x: Any) -> CovarianceICAReconstruction:
        """The term bound to data ``x`` (n × m), through :math:`C = x x^T` (computed once)."""
        x = check_constant(x, "x", "ICAReconstruction.from_data")
        return CovarianceICAReconstruction(x @ x.T)

    @staticmethod
    def from_covariance(C: Any, trace_c: float | None = None) -> CovarianceICAReconstruction:
        """The term bound to :math:`C = x x^T` (n × n, symmetric positive semi-definite).

        ``trace_c`` is accepted for interface compatibility and checked against ``trace(C)``
        when given; the evaluation does not need it.
        """
        return CovarianceICAReconstruction(C, trace_c)


class CovarianceICAReconstruction(Term):
    """:math:`F(W) = \\lVert W^T W x - x \\rVert_F^2` through :math:`C = x x^T` only.

    With :math:`M = W^T W - I` (n × n, symmetric),

    .. math::
        F(W) = \\operatorname{tr}(M^2 C) = \\langle M, M C \\rangle_F, \\qquad
        \\nabla_W F = 2 W (M C + C M) = 2 W (P + P^T), \\; P = MC.

    One evaluation costs :math:`kn^2` (for :math:`W^TW`) + :math:`n^3` (for ``MC``) +
    :math:`kn^2` (for the gradient) multiply-adds, independent of the number of examples m;
    the direct form (:class:`ICAReconstruction`) costs at least :math:`2n^2 m + 2kn^2`.

    Parameters
    ----------
    C : array_like of shape (n, n)
        :math:`x x^T` (not divided by m: scale the term by 1/m in a weighted sum instead).
    trace_c : float, optional
        :math:`\\operatorname{tr} C`, checked when given.
    """

    variables = ("W",)
    wrt = ("W",)
    name = "ica_reconstruction"

    def __init__(self, C: Any, trace_c: float | None = None):
        owner = "ICAReconstruction.from_covariance"
        C = check_constant(C, "C", owner)
        n = C.shape[0]
        if C.shape != (n, n):
            raise ValueError(f"{owner}: C must be square (n, n); got shape {C.shape}")
        scale = max(float(np.abs(C).max()), np.finfo(C.dtype).tiny)
        if np.abs(C - C.T).max() > 1e3 * np.finfo(C.dtype).eps * scale:
            raise ValueError(f"{owner}: C must be symmetric (C = x xᵀ)")
        if trace_c is not None:
            trace = float(np.trace(C))
            if not np.isclose(float(trace_c), trace, rtol=1e-6, atol=0.0):
                raise ValueError(f"{owner}: trace_c = {trace_c!r} but trace(C) = {trace!r}")
        self.C = C
        self._C_by_dtype: dict[np.dtype, np.ndarray] = {C.dtype: C}
        self._dims = {"n": n}
        self._origin = {"n": "C"}

    def _forward(self, variables: Variables):
        (W,), _ = bind(
            variables,
            (("W", ("k", "n")),),
            "ICAReconstruction.from_covariance",
            self._dims,
            self._origin,
        )
        dtype = np.result_type(W, self.C)
        C = self._C_by_dtype.get(dtype)
        if C is None:
            C = self._C_by_dtype.setdefault(dtype, self.C.astype(dtype))
        M = gram_minus_identity(W)
        P = M @ C
        value = frobenius(M, P)
        if not np.isfinite(value):
            diagnose_non_finite("ICAReconstruction.from_covariance", {"W": W})
        return W, P, value

    def value(self, variables: Variables) -> float:
        return self._forward(variables)[-1]

    def value_and_grad(self, variables: Variables, wrt: str) -> tuple[float, np.ndarray]:
        self._check_wrt(wrt)
        W, P, value = self._forward(variables)
        P += P.T.copy()  # P + Pᵀ = MC + CM (both symmetric)
        grad = W @ P
        grad *= 2
        return value, cast_like(grad, W)

    def as_network(self) -> Network:
        """Seed Example 3 with the constant input :math:`x = C^{1/2}` (so that x xᵀ = C)."""
        eigval, eigvec = np.linalg.eigh(self.C)
        root = (eigvec * np.sqrt(np.clip(eigval, 0.0, None))) @ eigvec.T
        return Network.from_table(
            _table_ica_reconstruction(), input="x", constants={"x": root}, name=self.name
        )


class _ResponseSparsity(Term):
    """A sparsity penalty on the responses ``Y = Wx``: ``ΣQ`` with ``Q`` a root of ``Y``.

    Subclasses supply :meth:`_root` (``Q`` and ``ΣQ`` from ``Y``) and :meth:`_ratio`
    (``∂ΣQ/∂Y``, allowed to overwrite ``Q``); the gradient in ``W`` is ``_ratio(Y, Q) xᵀ``.
    ``_owner`` names the term in messages; ``_dims``/``_origin`` pre-bind shape symbols.
    """

    variables = ("W", "x")
    wrt = ("W",)
    _owner = ""
    _dims: dict[str, int] | None = None
    _origin: dict[str, str] | None = None

    def _root(self, Y: np.ndarray) -> tuple[np.ndarray, float]:
        raise NotImplementedError

    def _ratio(self, Y: np.ndarray, Q: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _forward(self, variables: Variables):
        (W, x), _ = bind(variables, _SPEC, self._owner, self._dims, self._origin)
        Y = W @ x
        Q, value = self._root(Y)
        if not np.isfinite(value):
            diagnose_non_finite(self._owner, {"W": W, "x": x})
        return W, x, Y, Q, value

    def value(self, variables: Variables) -> float:
        return self._forward(variables)[-1]

    def value_and_grad(self, variables: Variables, wrt: str) -> tuple[float, np.ndarray]:
        self._check_wrt(wrt)
        W, x, Y, Q, value = self._forward(variables)
        return value, cast_like(self._ratio(Y, Q) @ x.T, W)


class ICASparsity(_ResponseSparsity):
    """Smoothed L1 sparsity of the responses, :math:`F(W) = \\sum \\sqrt{(Wx)^2 + \\epsilon}`.

    .. math:: \\nabla_W F = \\frac{W x}{\\sqrt{(Wx)^2 + \\epsilon}} \\, x^T

    Parameters
    ----------
    epsilon : float
        Smoothing constant :math:`\\epsilon > 0`.

    ``Wx`` is formed once; the root and then the ratio overwrite one k × m work array.
    """

    name = "ica_sparsity"
    _owner = "ICASparsity"

    def __init__(self, epsilon: float = 1e-2):
        self.epsilon = check_epsilon(epsilon, "ICASparsity")

    def _root(self, Y: np.ndarray) -> tuple[np.ndarray, float]:
        return smoothed_root(Y, self.epsilon)

    def _ratio(self, Y: np.ndarray, Q: np.ndarray) -> np.ndarray:
        return np.divide(Y, Q, out=Q)

    def as_network(self) -> Network:
        """Layers: ``W`` → identity, ``I`` → square, ``I`` → add ε, sqrt; input ``x``."""
        return Network.from_table(
            [
                {"weight": "W", "activation": "identity"},
                {"weight": "I", "activation": "square"},
                {"weight": "I", "activation": {"add_epsilon": self.epsilon}},
                {"weight": None, "activation": "sqrt"},
            ],
            input="x",
            name=self.name,
        )

    def __repr__(self) -> str:
        return f"ICASparsity(epsilon={self.epsilon!r})"


class TopographicICASparsity(_ResponseSparsity):
    """Topographic (pooled) sparsity of the responses, as in topographic ICA / TICA.

    .. math::
        F(W) = \\sum \\sqrt{V (Wx)^{\\circ 2} + \\epsilon}, \\qquad
        \\nabla_W F = \\left( (Wx) \\circ V^T (V (Wx)^{\\circ 2} + \\epsilon)^{-1/2} \\right) x^T

    Parameters
    ----------
    V : array_like of shape (g, k)
        Non-negative grouping matrix (e.g. :func:`grouping_matrix`), a constant.
    epsilon : float
        Smoothing constant :math:`\\epsilon > 0`.
    """

    name = "topographic_ica_sparsity"
    _owner = "TopographicICASparsity"

    def __init__(self, V: Any, epsilon: float = 1e-2):
        self.grouping = GroupingOperator(V, "TopographicICASparsity")
        self.V = self.grouping.V
        self.epsilon = check_epsilon(epsilon, "TopographicICASparsity")
        self._dims = {"k": self.V.shape[1]}
        self._origin = {"k": "V"}

    def _root(self, Y: np.ndarray) -> tuple[np.ndarray, float]:
        return pooled_root(self.grouping, Y, self.epsilon)

    def _ratio(self, Y: np.ndarray, Q: np.ndarray) -> np.ndarray:
        return pooled_grad(self.grouping, Y, Q)

    def as_network(self) -> Network:
        """Layers: ``W``, ``I`` → square, ``V``, ``I`` → add ε, sqrt; input ``x``."""
        return Network.from_table(
            [
                {"weight": "W", "activation": "identity"},
                {"weight": "I", "activation": "square"},
                {"weight": "V", "activation": "identity"},
                {"weight": "I", "activation": {"add_epsilon": self.epsilon}},
                {"weight": None, "activation": "sqrt"},
            ],
            input="x",
            constants={"V": self.V},
            name=self.name,
        )

    def __repr__(self) -> str:
        return (
            f"TopographicICASparsity(V=<{self.V.shape[0]}×{self.V.shape[1]}>, "
            f"epsilon={self.epsilon!r})"
        )
