"""ICA terms: the reconstruction cost of RICA (the sparsity of the responses is in
:mod:`objectives.sparsity`).

Shapes: filter matrix ``W`` is k × n (one filter per row), data ``x`` is n × m, responses
``Wx`` are k × m. Every gradient is returned as a fresh array with the shape and dtype of ``W``.

**Memory.** Every data term here is a sum over the examples, so when m exceeds a block of
``b`` columns (``block`` argument; default: about 1 MiB per ``max(k, n) × b`` work array, see
:func:`objectives.blocks.block_columns`) the value and the ``k × n`` gradient are accumulated over
column blocks ``x[:, a:b]`` (views), and the work arrays are ``k × b`` instead of ``k × m``.
A memory-mapped ``x`` has its pages released as the blocks are read. Up to rounding (the order
of the sums) the blocked and the direct forms agree; for ``m ≤ b`` the direct form runs as is.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._kernels import frobenius, gram_minus_identity
from ._validation import (
    as_float_array,
    bind,
    cast_like,
    check_constant,
    diagnose_non_finite,
)
from .base import Term, Variables
from .blocks import block_columns, check_block, count_non_finite, iter_column_blocks
from .network import Network

_SPEC = (("W", ("k", "n")), ("x", ("n", "m")))


def _diagnose(owner: str, W: np.ndarray, x: np.ndarray, block: int | None = None) -> None:
    """:func:`diagnose_non_finite` for ``W`` and (counted block by block) ``x``."""
    diagnose_non_finite(owner, {"W": W})
    bad = count_non_finite(x, block)
    if bad:
        raise ValueError(
            f"{owner}: variable 'x' of shape {x.shape} holds {bad} non-finite value(s) "
            f"(NaN or infinity)"
        )


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

    Parameters
    ----------
    block : int, optional
        Columns per block when m is large (see the module docstring); default automatic.
    """

    variables = ("W", "x")
    wrt = ("W",)
    name = "ica_reconstruction"

    def __init__(self, *, block: int | None = None) -> None:
        self.block = check_block(block, "ICAReconstruction")

    def _evaluate(self, variables: Variables, grad: bool) -> tuple[float, np.ndarray | None]:
        (W, x), _ = bind(variables, _SPEC, "ICAReconstruction")
        k, n = W.shape
        m = x.shape[1]
        dtype = np.result_type(W, x)
        step = block_columns(max(k, n), dtype.itemsize, self.block)
        use_gram = k * n * n + n * n * min(m, step) < 2 * k * n * min(m, step)
        M = gram_minus_identity(W) if use_gram else None
        value, S = 0.0, None
        for _, _, part in iter_column_blocks(x, step):
            if M is not None:
                r = M @ part
            else:
                r = W.T @ (W @ part)
                r -= part
            value += frobenius(r, r)
            finite = np.isfinite(value)
            if not finite:  # raises when an input is to blame; else the value overflowed
                _diagnose("ICAReconstruction", W, x, step)
            if grad:
                if S is None:
                    S = r @ part.T
                else:
                    S += r @ part.T
            if not finite:
                break
        if not grad:
            return value, None
        S += S.T.copy()  # r xᵀ + x rᵀ
        G = W @ S
        G *= 2
        return value, cast_like(G, W)

    def value(self, variables: Variables) -> float:
        return self._evaluate(variables, grad=False)[0]

    def value_and_grad(self, variables: Variables, wrt: str) -> tuple[float, np.ndarray]:
        self._check_wrt(wrt)
        return self._evaluate(variables, grad=True)

    def as_network(self) -> Network:
        """Seed Example 3: ``W``, ``W.T``, ``I`` → subtract x, square; input ``x``."""
        return Network.from_table(_table_ica_reconstruction(), input="x", name=self.name)

    @staticmethod
    def from_data(x: Any, block: int | None = None) -> CovarianceICAReconstruction:
        """The term bound to data ``x`` (n × m), through :math:`C = x x^T` (computed once).

        ``C`` is accumulated over column blocks of ``x`` (``block`` columns; default about
        1 MiB per float64 block) in float64: each block is cast to float64 before its product
        (also when all of ``x`` fits in one block), so float32 data lose nothing to the sum of
        m products. The term stores ``C`` rounded to ``x``'s dtype (a float32 ``x`` gives a
        float32 term: float32 ``W`` is evaluated in float32) and keeps the float64 ``C`` for a
        float64 ``W``. The extra memory is bounded, and a memory-mapped ``x`` is read block by
        block with its pages released. Non-finite ``x`` raises ``ValueError`` naming ``x``.
        """
        owner = "ICAReconstruction.from_data"
        x = as_float_array(x, f"{owner}: x")
        if x.ndim != 2:
            raise ValueError(f"{owner}: x must be a 2-D array; got shape {x.shape}")
        if x.size == 0:
            raise ValueError(f"{owner}: x must not be empty; got shape {x.shape}")
        n = x.shape[0]
        step = block_columns(n, 8, block, owner)  # the float64 copy of a block is the work array
        C = np.zeros((n, n), dtype=np.float64)
        for _, _, part in iter_column_blocks(x, step, owner=owner):
            part = part.astype(np.float64, copy=False)
            C += part @ part.T  # syrk per block: exactly symmetric
        if not np.isfinite(C).all() and count_non_finite(x, step):
            raise ValueError(f"{owner}: x of shape {x.shape} holds non-finite values")
        term = CovarianceICAReconstruction(C.astype(x.dtype, copy=False))
        term._C_by_dtype[np.dtype(np.float64)] = C
        return term

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
