"""``transform`` and ``objective`` of the sparse-coding estimators, in column blocks."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from sparselearn.objectives import Reconstruction

from .coding_steps import column_fista
from .columns import column_blocks
from .timing import EvalClock

__all__ = ["CodingTransformMixin"]


class CodingTransformMixin:
    """Encoding and the per-example objective with a fitted basis ``A`` (``_params["A"]``).

    The estimator provides ``_solve_codes``, ``_objective``, ``_lipschitz``, ``_sparsity``,
    ``_b``, ``s_solver`` and ``transform_max_iter``.
    """

    #: Columns per block of :meth:`transform` and :meth:`objective`: the solver's work arrays
    #: are ``k × block`` (and a memory-mapped ``X`` is read, and its pages released, block by
    #: block), so their memory does not grow with the number of examples.
    _transform_block: ClassVar[int] = 8192

    def _encode(self, x: np.ndarray) -> np.ndarray:
        """Codes of the columns of ``x``, solved in column blocks of :attr:`_transform_block`.

        Every column's problem ``(1/b)‖A s_j − x_j‖² + α Σ√(V(s_j∘s_j) + ε)`` uses the ``b``
        of the fit (not the number of columns given), so it is the same in every block. With
        ``s_solver="accelerated"`` the solver is run column by column (:func:`_column_fista`:
        momentum and restart per column; the training s-step restarts globally), so a column's
        code does not depend on the other columns, and blocked codes equal the whole-batch
        solve up to rounding. The scipy solvers (``"lbfgs"``, ``"cg"``) share one line search
        per block, so with them the codes of more than one block's worth of examples depend
        (within the solver's accuracy) on the block boundaries.
        """
        A = self._params["A"]
        m = x.shape[1]
        step = max(1, int(self._transform_block))
        if m <= step:  # one block: x as given (a view), no copy
            return self._encode_block(A, x)
        out = np.empty((A.shape[1], m), dtype=x.dtype)
        for start, stop, block in column_blocks(x, block=step):
            out[:, start:stop] = self._encode_block(A, block)
        return out

    def _encode_block(self, A: np.ndarray, x: np.ndarray) -> np.ndarray:
        """Codes of one block of columns (see :meth:`_encode`)."""
        clock = EvalClock()
        if self.s_solver != "accelerated":
            return self._solve_codes(A, x, self.transform_max_iter, clock)[0]
        norms = np.einsum("ij,ij->j", A, A)
        norms[norms == 0] = 1.0
        s0 = (A.T @ x) / norms[:, None]
        fun = self._objective(A, x, clock)
        return column_fista(fun, s0, self._lipschitz(A), self.transform_max_iter)

    def _decode(self, s: np.ndarray) -> np.ndarray:
        return self._params["A"] @ s

    def objective(self, X: Any, S: Any | None = None) -> float:
        """``J(A, s)`` per example on data ``X`` with codes ``S`` (default: the warm start).

        Uses the fitted per-example trade-off, i.e. ``J / m`` with ``m = len(X)`` of

        .. math::
            \\frac{1}{b}\\lVert A s - x\\rVert^2 + \\alpha \\sum\\sqrt{V(s\\circ s)+\\epsilon}

        (the weight decay, constant in ``s``, is left out). ``S`` is ``(n_samples,
        n_components)``. More than :attr:`_transform_block` examples are evaluated in column
        blocks (of ``X`` and the matching rows of ``S``) and the values summed, so the memory
        does not grow with ``m``; the result equals the one-block evaluation up to rounding.
        """
        self._check_fitted()
        with self._threads():
            return self._objective_value(X, S)

    def _objective_value(self, X: Any, S: Any | None) -> float:
        """:meth:`objective` under the BLAS thread limit."""
        x = self._to_columns(X, self._dtype)
        A = self._params["A"]
        k, m = A.shape[1], x.shape[1]
        if S is not None:
            S = np.asarray(S)
            if S.shape != (m, k):
                raise ValueError(
                    f"{type(self).__name__}: S must have shape (n_samples, n_components) = "
                    f"{(m, k)}; got {S.shape}"
                )
        total = (1.0 / self._b) * Reconstruction() + self.alpha * self._sparsity
        norms = np.einsum("ij,ij->j", A, A) if S is None else None

        def codes(part: np.ndarray, start: int, stop: int) -> np.ndarray:
            if S is None:
                return (A.T @ part) / norms[:, None]
            return np.ascontiguousarray(np.asarray(S[start:stop], dtype=self._dtype).T)

        step = max(1, int(self._transform_block))
        if m <= step:  # one block: x as given (a view)
            return total.value({"A": A, "s": codes(x, 0, m), "x": x}) / m
        value = 0.0
        for start, stop, part in column_blocks(x, block=step):
            value += total.value({"A": A, "s": codes(part, start, stop), "x": part})
        return value / m
