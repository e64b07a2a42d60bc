"""The reconstruction error with one factor fixed: the s-step and A-step forms.

:class:`FixedBasisReconstruction` is :math:`\\lVert As - x\\rVert_F^2` as a function of ``s``
(``A`` and ``x`` bound; :meth:`~objectives.reconstruction.Reconstruction.fixed_basis`), and
:class:`FixedCodesReconstruction` the same as a function of ``A`` (``s`` and ``x`` bound;
:meth:`~objectives.reconstruction.Reconstruction.fixed_codes`). Each precomputes the Gram
form where it is the cheaper one; both are re-exported by :mod:`objectives.reconstruction`.

Shapes (one example per column): ``A`` n × k, ``s`` k × m, ``x`` n × m. Every gradient is a
fresh array with the shape and dtype of its variable.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
from scipy.linalg import get_blas_funcs

from ._kernels import frobenius
from ._validation import bind, cast_like, check_constant, diagnose_non_finite
from .base import Term, Variables
from .network import Network

__all__ = ["FixedBasisReconstruction", "FixedCodesReconstruction", "reconstruction_table"]


def reconstruction_table(basis: str = "A", data: str = "x") -> list[dict]:
    """Seed Example 1 as a layer table: ``basis`` → identity, ``I`` → subtract ``data``, square."""
    return [
        {"weight": basis, "activation": "identity"},
        {"weight": "I", "activation": {"subtract": data}},
        {"weight": None, "activation": "square"},
    ]


class FixedBasisReconstruction(Term):
    """:math:`F(s) = \\lVert A s - x \\rVert_F^2` with ``A`` and ``x`` fixed at construction.

    Expanding the square,

    .. math::
        F(s) = \\langle s, G s - 2 b \\rangle + \\lVert x \\rVert_F^2, \\qquad
        \\nabla_s F = 2 (G s - b), \\qquad G = A^T A,\\; b = A^T x,

    so one evaluation costs one k × k by k × m product (:math:`k^2 m` multiply-adds) instead of
    the :math:`2nkm` of the direct form. When that would be more work, counting the passes over
    k × m arrays as well as the products (``_accumulate_direct``: e.g. n = 64, k = 121, and
    always for :math:`k \\gtrsim 2n`), the direct form with the stored ``A`` and ``x`` is used
    instead. ``G``, ``b`` and :math:`\\lVert x\\rVert^2` are computed once (when the Gram form
    can be chosen), in the dtype of ``A`` and ``x``.

    Inside a :class:`~objectives.base.WeightedSum` (the s-step objective) the term adds its
    weighted gradient into the sum's gradient array (``_accumulate_grad``) and may use the direct
    form there when, counting the passes over k × m arrays as well as the products, that is the
    cheaper one (e.g. n = 64, k = 121): :math:`2cA^T(As - x)` as one product that adds in
    place, and the value :math:`\\lVert As - x\\rVert^2` without cancellation. Whenever that
    direct form is the chosen one, :meth:`value` and :meth:`value_and_grad` use it too, so the
    three agree (see Notes). The n × m residual lives in a work array kept between calls, one
    per thread, so one instance may be shared by threads evaluating at the same time; the
    work array is never returned (gradients are fresh arrays) and is dropped when the term is
    pickled or deep-copied.

    Notes
    -----
    The expanded (Gram) value loses about ``eps * ||x||^2`` in absolute accuracy
    (cancellation), which in float32 near a good fit can be a large part of the value. It is
    used only where the Gram form is the chosen one (k small next to n), for the value and the
    gradient alike; with the direct form the value is :math:`\\lVert As - x\\rVert^2` as such.
    """

    variables = ("s",)
    wrt = ("s",)
    name = "reconstruction"

    def __init__(self, A: Any, x: Any):
        owner = "Reconstruction.fixed_basis"
        A = check_constant(A, "A", owner)
        x = check_constant(x, "x", owner)
        if x.shape[0] != A.shape[0]:
            raise ValueError(
                f"{owner}: variable 'x' must have shape (n, m) = ({A.shape[0]}, m); "
                f"got {x.shape} (n = {A.shape[0]} from 'A')"
            )
        dtype = np.result_type(A, x)
        self.A = A.astype(dtype, copy=False)
        self.x = x.astype(dtype, copy=False)
        n, k = A.shape
        self._use_gram = k * k + 2 * k <= 2 * n * k + n
        if self._use_gram:
            self.G = self.A.T @ self.A
            self.b = self.A.T @ self.x
        else:
            self.G = self.b = None
        self.x_sqnorm = frobenius(self.x, self.x)
        self._scaled_by_coef: dict[float, tuple[np.ndarray, np.ndarray | None]] = {}
        self._local = threading.local()  # the residual work array, one per thread
        self._accumulate_direct = not self._use_gram or 2 * n * k + 24 * n < k * k + 32 * k
        self._dims = {"k": k, "m": x.shape[1]}
        self._origin = {"k": "A", "m": "x"}

    def _bind(self, variables: Variables) -> np.ndarray:
        (s,), _ = bind(
            variables, (("s", ("k", "m")),), "Reconstruction.fixed_basis", self._dims, self._origin
        )
        return s

    # The per-thread work array and the scaled copies of Aᵀ (or G, b) are caches, not state:
    # pickling or deep-copying the term (e.g. inside a fitted estimator) drops them.
    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        del state["_local"]
        state["_scaled_by_coef"] = {}
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        state = dict(state)
        for legacy in ("_work", "_scaled_for"):  # caches of pickles made before they moved
            state.pop(legacy, None)
        state.setdefault("_scaled_by_coef", {})
        self.__dict__.update(state)
        self._local = threading.local()

    def value(self, variables: Variables) -> float:
        return self._value_and_grad(variables, need_grad=False)[0]

    def value_and_grad(self, variables: Variables, wrt: str) -> tuple[float, np.ndarray]:
        self._check_wrt(wrt)
        return self._value_and_grad(variables, need_grad=True)

    def _scaled(self, coef: float) -> tuple[np.ndarray, np.ndarray | None]:
        """``(2c·G, 2c·b)`` (Gram form) or ``(2c·Aᵀ, None)`` (direct form) for the weight
        ``c``; a few weights cached (the cache is replaced, never changed in place, so threads
        sharing the term only ever read a complete entry)."""
        cache = self._scaled_by_coef
        found = cache.get(coef)
        if found is None:
            if self._accumulate_direct:
                found = (np.ascontiguousarray(self.A.T * (2.0 * coef)), None)
            else:
                found = (self.G * (2.0 * coef), self.b * (2.0 * coef))
            cache = dict(cache) if len(cache) < 4 else {}
            cache[coef] = found
            self._scaled_by_coef = cache
        return found

    def _residual_buffer(self, s: np.ndarray) -> np.ndarray:
        """``R = As − x`` in a work array kept for this thread's next call (n × m, dtype of
        ``s``)."""
        local = self._local
        R = getattr(local, "residual", None)
        if R is None or R.dtype != s.dtype:
            R = local.residual = np.empty(self.x.shape, s.dtype)
        np.matmul(self.A, s, out=R)
        R -= self.x
        return R

    def _accumulate_grad(
        self, variables: Variables, wrt: str, coef: float, out: np.ndarray | None
    ) -> tuple[float, np.ndarray]:
        """Value, and :math:`c\\nabla_s F` written or added into ``out`` with the least work.

        Two exact forms, chosen at construction by their cost per example (``_accumulate_direct``;
        a pass over a k × m array is counted as 8 multiply-adds, about its cost next to a BLAS
        product):

        - direct, when :math:`2nk + 24n < k^2 + 32k`: :math:`R = As - x` (n × m, into a kept work
          array), :math:`F = \\lVert R \\rVert^2` and :math:`c\\nabla_s F = (2cA^T) R`, the last
          product adding straight into ``out`` (BLAS ``beta = 1``) — no pass over a k × m array
          besides the product's own;
        - Gram: :math:`c\\nabla_s F = (2cG)s - 2cb`, one product and one pass, and
          :math:`F = (\\langle s, c\\nabla_s F\\rangle - \\langle s, 2cb\\rangle)/2c +
          \\lVert x\\rVert^2`.

        ``2cAᵀ`` (or ``2cG``, ``2cb``) are cached for the last few weights. Falls back to
        :meth:`Term._accumulate_grad` for a zero weight or ``s`` in another dtype than ``A``.
        """
        self._check_wrt(wrt)
        s = self._bind(variables)
        if coef == 0.0 or s.dtype != self.A.dtype:
            return super()._accumulate_grad(variables, wrt, coef, out)
        M, b2 = self._scaled(coef)
        if self._accumulate_direct:
            R = self._residual_buffer(s)
            value = frobenius(R, R)
            if out is None:
                out = np.matmul(M, R)
            elif out.dtype == R.dtype and R.dtype.char in "fd" and out.flags.c_contiguous:
                gemm = get_blas_funcs("gemm", dtype=R.dtype)
                # outᵀ (m × k, Fortran order) += Rᵀ (2cAᵀ)ᵀ, in place
                done = gemm(1.0, R.T, M.T, beta=1.0, c=out.T, overwrite_c=True)
                if not np.may_share_memory(done, out):  # pragma: no cover - BLAS copied
                    out[...] = done.T
            else:
                out += M @ R
        else:
            P = np.matmul(M, s)
            P -= b2  # P = 2c (Gs - b)
            value = (frobenius(s, P) - frobenius(s, b2)) / (2.0 * coef) + self.x_sqnorm
            if out is None:
                out = P
            else:
                out += P
        if not np.isfinite(value):
            diagnose_non_finite("Reconstruction.fixed_basis", {"s": s})
        return value, out

    @property
    def _accumulates_in_place(self) -> bool:
        """Adding into an existing gradient is free in the direct form (BLAS ``beta = 1``), so a
        :class:`WeightedSum` lets the other terms write the gradient first."""
        return self._accumulate_direct

    def _value_and_grad(self, variables: Variables, need_grad: bool):
        """Value and (with ``need_grad``) a fresh gradient, in the form chosen at construction:
        direct (``_accumulate_direct``, the form :meth:`_accumulate_grad` uses too) or Gram."""
        s = self._bind(variables)
        if self._accumulate_direct and s.dtype == self.A.dtype:
            # ‖As − x‖² from the kept residual; ∇ = (2Aᵀ) R, a fresh array
            R = self._residual_buffer(s)
            value = frobenius(R, R)
            grad = np.matmul(self._scaled(1.0)[0], R) if need_grad else None
        elif self._accumulate_direct:  # also every case without a Gram matrix
            R = self.A @ s  # mixed dtypes: computed in the wider one
            R -= self.x
            value = frobenius(R, R)
            grad = None
            if need_grad:
                grad = self.A.T @ R
                grad *= 2
                grad = cast_like(grad, s)
        else:
            P = self.G @ s
            P -= self.b  # P = Gs - b
            # <s, Gs - 2b> = <s, P> - <s, b>
            value = frobenius(s, P) - frobenius(s, self.b) + self.x_sqnorm
            grad = None
            if need_grad:
                P *= 2
                grad = cast_like(P, s)
        if not np.isfinite(value):
            diagnose_non_finite("Reconstruction.fixed_basis", {"s": s})
        return value, grad

    def as_network(self) -> Network:
        """Seed Example 1 with ``A`` and ``x`` as constants; input ``s``."""
        return Network.from_table(
            reconstruction_table(),
            input="s",
            constants={"A": self.A, "x": self.x},
            name=self.name,
        )


class FixedCodesReconstruction(Term):
    """:math:`F(A) = \\lVert A s - x \\rVert_F^2` with ``s`` and ``x`` fixed at construction.

    Expanding the square,

    .. math::
        F(A) = \\langle A, A S - 2 Q \\rangle + \\lVert x \\rVert_F^2, \\qquad
        \\nabla_A F = 2 (A S - Q), \\qquad S = s s^T,\\; Q = x s^T,

    with ``S`` (k × k), ``Q`` (n × k) and :math:`\\lVert x\\rVert^2` computed once (:math:`k^2 m +
    nkm` multiply-adds at construction). One evaluation then costs one n × k by k × k product
    (:math:`nk^2` multiply-adds) plus two n × k inner products, independent of the number of
    examples m, instead of the :math:`2nkm` of the direct form. When that would be more work
    (:math:`k \\gtrsim 2m`, e.g. a single example) the direct form with the stored ``s`` and
    ``x`` is used instead.

    ``S``, ``Q`` and :math:`\\lVert x\\rVert^2` are computed in the dtype of ``s`` and ``x``;
    for a variable ``A`` of a wider dtype they are recomputed once in that dtype and cached, so
    float32 data and codes give a float32 computation, and a float32 ``A`` against float64 data
    is computed in float64 (gradient returned as float32).

    Parameters
    ----------
    s : array_like of shape (k, m)
        The codes, one example per column.
    x : array_like of shape (n, m)
        The data.

    Notes
    -----
    The expanded value loses about ``eps * ||x||^2`` in absolute accuracy (cancellation); this
    matters only when the residual is many orders of magnitude below the data, and not in float64.
    """

    variables = ("A",)
    wrt = ("A",)
    name = "reconstruction"

    def __init__(self, s: Any, x: Any):
        owner = "Reconstruction.fixed_codes"
        s = check_constant(s, "s", owner)
        x = check_constant(x, "x", owner)
        if x.shape[1] != s.shape[1]:
            raise ValueError(
                f"{owner}: variable 'x' must have shape (n, m) = (n, {s.shape[1]}); "
                f"got {x.shape} (m = {s.shape[1]} from 's')"
            )
        dtype = np.result_type(s, x)
        self.s = s.astype(dtype, copy=False)
        self.x = x.astype(dtype, copy=False)
        k, m = s.shape
        n = x.shape[0]
        self._use_gram = k * k + 2 * k <= 2 * k * m + m
        self._by_dtype: dict[np.dtype, tuple[np.ndarray, np.ndarray, float]] = {}
        if self._use_gram:
            self.S, self.Q, self.x_sqnorm = self._precomputed(dtype)
        else:
            self.S = self.Q = None
            self.x_sqnorm = frobenius(self.x, self.x)
        self._dims = {"n": n, "k": k}
        self._origin = {"n": "x", "k": "s"}

    def _precomputed(self, dtype: np.dtype) -> tuple[np.ndarray, np.ndarray, float]:
        """``S = ssᵀ``, ``Q = xsᵀ`` and ``‖x‖²`` in ``dtype``, computed once per dtype."""
        found = self._by_dtype.get(dtype)
        if found is None:
            s = self.s.astype(dtype, copy=False)
            x = self.x.astype(dtype, copy=False)
            found = self._by_dtype.setdefault(dtype, (s @ s.T, x @ s.T, frobenius(x, x)))
        return found

    def _bind(self, variables: Variables) -> np.ndarray:
        (A,), _ = bind(
            variables, (("A", ("n", "k")),), "Reconstruction.fixed_codes", self._dims, self._origin
        )
        return A

    def value(self, variables: Variables) -> float:
        return self._value_and_grad(variables, need_grad=False)[0]

    def value_and_grad(self, variables: Variables, wrt: str) -> tuple[float, np.ndarray]:
        self._check_wrt(wrt)
        return self._value_and_grad(variables, need_grad=True)

    def _value_and_grad(self, variables: Variables, need_grad: bool):
        A = self._bind(variables)
        grad = None
        if self._use_gram:
            S, Q, x_sqnorm = self._precomputed(np.result_type(A, self.S))
            P = A @ S
            P -= Q  # P = AS - Q
            # <A, AS - 2Q> = <A, P> - <A, Q>
            value = frobenius(A, P) - frobenius(A, Q) + x_sqnorm
            if need_grad:
                P *= 2
                grad = cast_like(P, A)
        else:
            R = A @ self.s
            R -= self.x
            value = frobenius(R, R)
            if need_grad:
                grad = R @ self.s.T
                grad *= 2
                grad = cast_like(grad, A)
        if not np.isfinite(value):
            diagnose_non_finite("Reconstruction.fixed_codes", {"A": A})
        return value, grad

    def as_network(self) -> Network:
        """Seed Example 1 with the input ``s`` and ``x`` as constants; weight ``A``."""
        return Network.from_table(
            reconstruction_table(),
            input="s",
            constants={"s": self.s, "x": self.x},
            name=self.name,
        )
