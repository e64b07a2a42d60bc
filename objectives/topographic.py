"""Topographic grouping: the grouping matrix and the operator that applies it.

The grouping matrix ``V`` (g × k, non-negative, usually binary) pools the squared responses of
the k features into g groups; a penalty (:mod:`objectives.penalties`) acts on the pooled
energies (:mod:`objectives.sparsity`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import scipy.sparse

from ._kernels import POOL_BLOCK, SeparablePooling, deliver, torus_structure
from ._validation import check_constant
from .blocks import check_block
from .penalties import Penalty

#: Use a sparse V when at most this fraction of its entries is non-zero.
SPARSE_DENSITY = 0.25


def grouping_matrix(
    grid_shape: Sequence[int], pool: int = 3, wrap: bool = True, dtype: Any = np.float64
) -> np.ndarray:
    """Binary topographic grouping matrix on a (toroidal) grid.

    The k = rows·cols features are laid out row-major on a ``rows × cols`` grid (feature
    ``r * cols + c`` sits at ``(r, c)``). There is one group per grid cell: the ``pool × pool``
    block whose top-left corner is that cell. With ``wrap=True`` the grid is a torus (UFLDL's
    topographic exercise); with ``wrap=False`` blocks are clipped at the right and bottom edges.

    Parameters
    ----------
    grid_shape : (int, int)
        ``(rows, cols)``.
    pool : int, default 3
        Side of the pooling block; must be at least 1.
    wrap : bool, default True
        Whether the grid wraps around at its edges.
    dtype : dtype, default float64

    Returns
    -------
    V : ndarray of shape (rows*cols, rows*cols)
        ``V[g, j] = 1`` when feature j is in group g.
    """
    try:
        rows, cols = (int(v) for v in grid_shape)
    except (TypeError, ValueError):
        raise ValueError(
            f"grouping_matrix: grid_shape must be (rows, cols); got {grid_shape!r}"
        ) from None
    if rows < 1 or cols < 1:
        raise ValueError(f"grouping_matrix: grid_shape must be positive; got {grid_shape!r}")
    if isinstance(pool, bool) or int(pool) != pool or pool < 1:
        raise ValueError(f"grouping_matrix: pool must be a positive integer; got {pool!r}")
    pool = int(pool)
    r = np.arange(rows)[:, None] + np.arange(pool)[None, :]  # rows × pool
    c = np.arange(cols)[:, None] + np.arange(pool)[None, :]
    if wrap:
        r %= rows
        c %= cols
    V = np.zeros((rows * cols, rows * cols), dtype=dtype)
    for i in range(rows):
        ri = r[i][r[i] < rows]
        for j in range(cols):
            cj = c[j][c[j] < cols]
            members = (ri[:, None] * cols + cj[None, :]).ravel()
            V[i * cols + j, members] = 1
    return V


class GroupingOperator:
    """Applies ``V`` and ``Vᵀ`` in the dtype of the operand (no silent upcast).

    A binary pooling matrix is mostly zeros (9 non-zeros per row for 3 × 3 pooling), so when
    its density is at most :data:`SPARSE_DENSITY` it is applied as a CSR matrix: the products
    then cost ``nnz · m`` instead of ``g · k · m``. One copy per dtype is cached.

    A ``V`` built by :func:`grouping_matrix` (box pooling on a grid, recognised exactly by
    :func:`objectives._kernels.torus_structure`) is also kept as a
    :class:`~objectives._kernels.SeparablePooling` kernel (``self.separable``), which
    :meth:`pooled_value_and_grad` uses: two ``pool``-tap box sums instead of the sparse
    products, and all the element-wise work in reused buffers. Those buffers are kept per
    thread, so one operator (and the terms holding it) may be shared by threads evaluating at
    the same time; pickling drops them and the per-dtype copies of ``V`` (both are rebuilt on
    first use).

    Parameters
    ----------
    V : array_like of shape (g, k)
        Non-negative grouping matrix.
    owner : str
        Name of the term, used in messages.
    block : int or None, default :data:`objectives._kernels.POOL_BLOCK`
        Columns per block of the separable kernel (None: the default); must be a positive
        integer.
    """

    def __init__(self, V: Any, owner: str, block: int | None = POOL_BLOCK):
        checked = check_block(block, owner)
        block = POOL_BLOCK if checked is None else checked
        V = check_constant(V, "V", owner)
        if (V < 0).any():
            raise ValueError(f"{owner}: V must be non-negative (a grouping matrix)")
        self.V = V
        self.shape = V.shape
        self.sparse = np.count_nonzero(V) <= SPARSE_DENSITY * V.size
        self._cache: dict[np.dtype, tuple[Any, Any]] = {}
        structure = torus_structure(V)
        self.separable = None if structure is None else SeparablePooling(*structure, block=block)

    def _get(self, dtype: np.dtype) -> tuple[Any, Any]:
        ops = self._cache.get(dtype)
        if ops is None:
            V = self.V.astype(dtype)
            if self.sparse:
                ops = (scipy.sparse.csr_array(V), scipy.sparse.csr_array(V.T))
            else:
                ops = (V, np.ascontiguousarray(V.T))
            self._cache[dtype] = ops
        return ops

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_cache"] = {}  # per-dtype copies of V, rebuilt on first use
        return state

    def apply(self, Y: np.ndarray) -> np.ndarray:
        """``V @ Y`` in the dtype of ``Y``."""
        return np.asarray(self._get(Y.dtype)[0] @ Y)

    def apply_t(self, Z: np.ndarray) -> np.ndarray:
        """``V.T @ Z`` in the dtype of ``Z``."""
        return np.asarray(self._get(Z.dtype)[1] @ Z)

    def column_sum_max(self) -> float:
        """Largest column sum of ``V``: the factor a penalty's curvature bound gains."""
        return float(self.V.sum(axis=0).max()) if self.V.size else 0.0

    def pooled_value(self, Y: np.ndarray, penalty: Penalty) -> float:
        """:math:`\\sum \\varphi(V (Y \\circ Y))` (no gradient work)."""
        if self.separable is not None:
            return self.separable(np.ascontiguousarray(Y), penalty, need_grad=False)
        return penalty.value_sum(self.apply(Y * Y))

    def pooled_value_and_grad(
        self, Y: np.ndarray, penalty: Penalty, coef: float = 1.0,
        out: np.ndarray | None = None, accumulate: bool = True,
    ) -> tuple[float, np.ndarray]:
        """Value :math:`F = \\sum \\varphi(V (Y \\circ Y))` and ``coef`` times its gradient
        :math:`2 Y \\circ V^T \\varphi'(V (Y \\circ Y))`.

        Parameters
        ----------
        Y : ndarray of shape (k, m)
        penalty : Penalty
        coef : float, default 1.0
            Scale of the gradient (folded into the weights, no extra pass).
        out : ndarray of shape (k, m), optional
            When given, ``coef · ∇F`` is added into it (``accumulate``) or written into it, and
            it is returned; otherwise the gradient is a fresh array in the dtype of ``Y``.
        accumulate : bool, default True
            Whether ``out`` receives the gradient added or overwritten.

        Returns
        -------
        value : float
            :math:`F` (not scaled by ``coef``).
        grad : ndarray
            ``out`` or the fresh gradient.
        """
        if self.separable is not None and (
            out is None or (out.dtype == Y.dtype and out.flags.c_contiguous)
        ):
            Y = np.ascontiguousarray(Y)
            add = out is not None and accumulate
            if out is None:
                out = np.empty(Y.shape, Y.dtype)
            value = self.separable(Y, penalty, coef, out, accumulate=add)
            return value, out
        Q = self.apply(Y * Y)
        value = penalty.value_and_weight(Q, coef)
        D = self.apply_t(Q)
        D *= Y
        return value, deliver(D, out, accumulate)
