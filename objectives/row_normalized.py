"""Terms evaluated at filters scaled to unit rows (RICA's ``row_norm="unit"``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from .base import Term

__all__ = ["RowNormalized", "normalize_rows"]


def normalize_rows(W: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows of ``W`` scaled to unit L2 norm, and the norms (``k × 1``), in ``W``'s dtype.

    Each row is first divided by its largest magnitude, so the result is exact for any finite
    ``W`` (no overflow of the squares; the returned norm itself may overflow to inf). A zero row
    is left at zero (its norm is replaced by the smallest normal number of the dtype, so nothing
    is divided by zero).
    """
    tiny = np.finfo(W.dtype).tiny
    peak = np.maximum(np.abs(W).max(axis=1, keepdims=True), tiny)
    V = W / peak
    scaled_norms = np.sqrt(np.einsum("ij,ij->i", V, V))[:, None]
    np.maximum(scaled_norms, tiny, out=scaled_norms)
    V /= scaled_norms
    with np.errstate(over="ignore"):
        norms = scaled_norms * peak
    return V, np.maximum(norms, tiny, out=norms)


class RowNormalized(Term):
    r"""A term evaluated at the filters scaled to unit rows: :math:`G(W) = F(\tilde W)`.

    With :math:`\tilde w_i = w_i / \lVert w_i \rVert` for every row and
    :math:`g_i = \partial F / \partial \tilde w_i` (the wrapped term's gradient at
    :math:`\tilde W`), the chain rule through the Jacobian
    :math:`\partial \tilde w / \partial w = (I - \tilde w \tilde w^T) / \lVert w \rVert`
    gives, row by row,

    .. math::
        \frac{\partial G}{\partial w_i}
        = \frac{g_i - (g_i \cdot \tilde w_i)\, \tilde w_i}{\lVert w_i \rVert}

    This is not UFLDL's ``l2rowscaled(W, 1)``/``l2rowscaledg``, which divide by
    :math:`\sqrt{\lVert w_i\rVert^2 + 10^{-5}}`: its rows are these times
    :math:`\lVert w_i\rVert/\sqrt{\lVert w_i\rVert^2 + 10^{-5}} = 1 - \delta/2 + O(\delta^2)`,
    :math:`\delta = 10^{-5}/\lVert w_i\rVert^2` (:math:`1 - 5\cdot10^{-6}` for unit rows,
    :math:`1/\sqrt 2` for a row of norm :math:`10^{-2.5}`), and its norms stay below 1.

    The gradient is orthogonal to every row, so a gradient method cannot change the norms to
    first order, and :math:`G` is invariant to positive row scaling: the constraint
    ``‖wᵢ‖ = 1`` without a projection. The wrapped term's own value and gradient are used
    unchanged (e.g. the covariance form of ``ICAReconstruction``); the extra cost is a few
    ``k × n`` passes.

    With a ``projector`` :math:`P` (symmetric, idempotent, ``n × n``) the rows are first
    projected, :math:`\tilde w_i = P w_i / \lVert P w_i \rVert`, and the gradient above
    (with :math:`\lVert P w_i \rVert`) is multiplied by :math:`P` on the right. The trainers
    use the projector onto the range of the data covariance: on rank-deficient data (patches
    with the mean removed have rank ``n − 1``) a unit row in the null space costs nothing in
    either RICA term, so without it the surplus filters of an overcomplete basis all collapse
    onto the null space (e.g. the constant patch) instead of dying to zero norm.

    Parameters
    ----------
    term : Term
        Any term differentiable in ``wrt``.
    wrt : str
        The variable whose rows are normalised (default ``"W"``).
    projector : ndarray (n, n), optional
        Orthogonal projector applied to the rows before normalising.
    """

    def __init__(self, term: Term, wrt: str = "W", projector: np.ndarray | None = None) -> None:
        if wrt not in term.wrt:
            raise ValueError(f"RowNormalized: {term!r} cannot be differentiated in {wrt!r}")
        self.term = term
        self.variables = term.variables
        self.wrt = (wrt,)
        self.name = term.name
        self.projector = projector

    def _scaled(self, variables: Mapping[str, Any]) -> tuple[dict, np.ndarray, np.ndarray]:
        W = np.asarray(variables[self.wrt[0]])
        if W.ndim != 2:
            raise ValueError(
                f"RowNormalized: {self.wrt[0]} must be a 2-D array (k, n); got shape {W.shape}"
            )
        if self.projector is not None:
            W = W @ self.projector.astype(W.dtype, copy=False)
        W_unit, norms = normalize_rows(W)
        return {**variables, self.wrt[0]: W_unit}, W_unit, norms

    def value(self, variables: Mapping[str, Any]) -> float:
        return self.term.value(self._scaled(variables)[0])

    def value_and_grad(self, variables: Mapping[str, Any], wrt: str) -> tuple[float, np.ndarray]:
        self._check_wrt(wrt)
        scaled, W_unit, norms = self._scaled(variables)
        value, g = self.term.value_and_grad(scaled, wrt)
        g = np.array(g, dtype=W_unit.dtype, copy=True)
        g -= np.einsum("ij,ij->i", g, W_unit)[:, None] * W_unit
        g /= norms
        if self.projector is not None:
            g = g @ self.projector.astype(g.dtype, copy=False)
        return value, g

    def unit_rows(self, W: np.ndarray) -> np.ndarray:
        """The rows :math:`\tilde W` the term is evaluated at (projected, unit norm)."""
        return self._scaled({self.wrt[0]: W})[1]

    def __repr__(self) -> str:
        return f"RowNormalized({self.term!r})"
