"""Small numeric kernels shared by the closed-form terms (no validation, no copies of inputs).

Every kernel keeps the dtype of its array arguments; scalars are Python floats.
"""

from __future__ import annotations

import numpy as np


def frobenius(a: np.ndarray, b: np.ndarray) -> float:
    """:math:`\\langle a, b \\rangle_F = \\sum_{ij} a_{ij} b_{ij}` as a Python float (one dot)."""
    return float(np.dot(np.ascontiguousarray(a).ravel(), np.ascontiguousarray(b).ravel()))


def smoothed_root(Y: np.ndarray, epsilon: float) -> tuple[np.ndarray, float]:
    """Return :math:`Q = \\sqrt{Y^2 + \\epsilon}` (one work array, filled in place) and
    :math:`\\sum Q`."""
    Q = Y * Y
    Q += epsilon
    np.sqrt(Q, out=Q)
    return Q, float(Q.sum())


def gram_minus_identity(W: np.ndarray) -> np.ndarray:
    """:math:`M = W^T W - I` (n × n), the identity subtracted in place on the diagonal."""
    M = W.T @ W
    M.flat[:: M.shape[0] + 1] -= 1
    return M


def fast_sum(M: np.ndarray, ones: np.ndarray) -> float:
    """:math:`\\sum_{ij} M_{ij}` of a 2-D array with contiguous rows, as a Python float.

    Row sums by one matrix-vector product with ``ones`` (length ``M.shape[1]``), then a pairwise
    sum of those: BLAS reads ``M`` once at full bandwidth, about twice as fast as ``M.sum()``
    on large arrays, with the accuracy of a blocked sum.
    """
    return float(np.dot(M, ones).sum())


# -- separable topographic pooling ----------------------------------------------------------
#: Columns per block of :class:`SeparablePooling`. Blocks narrow enough for the work arrays to
#: stay in L2 (a few hundred columns at k = 121) measured slower than whole rows, because each
#: block then reads the k rows of ``Y`` and of the gradient as k short strided streams; so the
#: block is wide and only bounds the work memory (two k × block arrays).
POOL_BLOCK = 16384


def torus_structure(V: np.ndarray) -> tuple[int, int, int, bool] | None:
    """Recognise a grouping matrix built by ``grouping_matrix((rows, cols), pool, wrap)``.

    Returns ``(rows, cols, pool, wrap)`` when ``V`` equals that matrix exactly (binary, one group
    per grid cell, ``2 <= pool <= min(rows, cols)``), else None. Such a ``V`` is separable: the
    pooling is a ``pool``-tap box sum along the grid rows followed by one along the columns.
    """
    if V.ndim != 2 or V.shape[0] != V.shape[1] or V.shape[0] < 4:
        return None
    k = V.shape[0]
    members = np.flatnonzero(V[0])
    pool = int(round(np.sqrt(members.size)))
    if pool < 2 or pool * pool != members.size or not np.all((V == 0) | (V == 1)):
        return None
    offsets = np.arange(pool)
    for cols in range(pool, k // pool + 1):
        if k % cols:
            continue
        rows = k // cols
        expected = (offsets[:, None] * cols + offsets[None, :]).ravel()
        if rows < pool or not np.array_equal(members, np.sort(expected)):
            continue
        for wrap in (True, False):
            if np.array_equal(V, _box_grouping(rows, cols, pool, wrap)):
                return rows, cols, pool, wrap
    return None


def _box_grouping(rows: int, cols: int, pool: int, wrap: bool) -> np.ndarray:
    """The dense ``grouping_matrix((rows, cols), pool, wrap)`` (float64), built vectorised."""
    r = np.arange(rows)[:, None] + np.arange(pool)[None, :]
    c = np.arange(cols)[:, None] + np.arange(pool)[None, :]
    if wrap:
        r %= rows
        c %= cols
    group_r = np.repeat(np.arange(rows), pool)
    group_c = np.repeat(np.arange(cols), pool)
    V = np.zeros((rows, cols, rows, cols))
    ok_r = r.ravel() < rows
    ok_c = c.ravel() < cols
    gr, mr = group_r[ok_r], r.ravel()[ok_r]
    gc, mc = group_c[ok_c], c.ravel()[ok_c]
    V[gr[:, None], gc[None, :], mr[:, None], mc[None, :]] = 1
    return V.reshape(rows * cols, rows * cols)


def _along(a: np.ndarray, axis: int, lo: int, hi: int) -> np.ndarray:
    """``a[lo:hi]`` along ``axis`` (0 or 1), a view."""
    return a[lo:hi] if axis == 0 else a[:, lo:hi]


def box_sum(
    src: np.ndarray, dst: np.ndarray, axis: int, pool: int, wrap: bool, reverse: bool = False
) -> None:
    """``dst[i] = Σ_{d < pool} src[i + d]`` along ``axis`` (``src[i − d]`` when ``reverse``).

    Indices wrap around modulo the axis length when ``wrap``; otherwise out-of-range terms are
    dropped (a clipped grid). No padding copies: each shift is applied as at most two slab
    additions (the in-range part and the wrapped part), the first two shifts fused into one
    out-of-place addition. ``pool >= 2``; ``src`` and ``dst`` must not overlap.
    """
    L = src.shape[axis]

    def pieces(shift: int) -> list[tuple[int, int, int]]:
        # (lo, hi, source lo): dst[lo:hi] takes src[source lo : source lo + hi - lo]
        if shift >= 0:
            parts = [(0, L - shift, shift), (L - shift, L, 0)]
        else:
            parts = [(-shift, L, 0), (0, -shift, L + shift)]
        return [piece for piece in parts[: 2 if wrap else 1] if piece[1] > piece[0]]

    sign = -1 if reverse else 1
    first = pieces(sign)
    covered = 0
    for lo, hi, slo in first:
        np.add(_along(src, axis, lo, hi), _along(src, axis, slo, slo + hi - lo),
               out=_along(dst, axis, lo, hi))
        covered += hi - lo
    if covered < L:  # clipped grid: the rows the first shift leaves out hold src alone
        lo, hi = (L - 1, L) if sign > 0 else (0, 1)
        np.copyto(_along(dst, axis, lo, hi), _along(src, axis, lo, hi))
    for d in range(2, pool):
        for lo, hi, slo in pieces(sign * d):
            view = _along(dst, axis, lo, hi)
            np.add(view, _along(src, axis, slo, slo + hi - lo), out=view)


class SeparablePooling:
    """Blocked kernel for :math:`\\sum \\sqrt{V(Y\\circ Y) + \\epsilon}` and its gradient, for a
    box-pooling ``V`` on a (toroidal) ``rows × cols`` grid (see :func:`torus_structure`).

    ``V`` is never formed: a feature column viewed as the ``rows × cols`` grid is pooled by a
    ``pool``-tap sum along the grid's first axis and then along its second (:func:`box_sum`:
    ``2(pool−1)`` slab additions per entry instead of the ``pool²`` multiply-adds of a sparse
    product), and ``Vᵀ`` by the same sums with the taps reversed. Every step is one numpy call
    over a whole block, written with ``out=`` into a work array kept per (dtype, block width)
    and reused across calls (so one instance must not be used by two threads at once) or,
    when a fresh gradient is written, into the gradient's own columns, which keeps the memory
    touched per call to ``Y``, one work array and the gradient. The columns are processed in
    blocks of ``block`` (default :data:`POOL_BLOCK`): narrower blocks would keep the work arrays
    in cache, but each block then reads every one of the k rows of ``Y`` and of the gradient as
    a separate short stream, which measured slower than streaming whole rows; the block only
    bounds the work memory.
    """

    def __init__(self, rows: int, cols: int, pool: int, wrap: bool, block: int = POOL_BLOCK):
        self.rows, self.cols, self.pool, self.wrap = rows, cols, pool, wrap
        self.block = max(1, int(block))
        self._work: dict[tuple[np.dtype, int], tuple[np.ndarray, ...]] = {}

    def _buffers(self, dtype: np.dtype, width: int, second: bool) -> tuple[np.ndarray, ...]:
        """``(X, ones)`` or, with ``second``, ``(X, ones, T)``: work arrays of shape
        ``(rows, cols, width)`` and a vector of ones, kept for the last dtype and width."""
        key = (np.dtype(dtype), width)
        work = self._work.get(key)
        if work is None:
            work = (np.empty((self.rows, self.cols, width), dtype), np.ones(width, dtype))
            self._work = {key: work}  # keep one set: the last shape and dtype used
        if second and len(work) == 2:
            work = self._work[key] = (*work, np.empty_like(work[0]))
        return work

    def __call__(
        self,
        Y: np.ndarray,
        epsilon: float,
        coef: float = 1.0,
        out: np.ndarray | None = None,
        accumulate: bool = False,
        need_grad: bool = True,
    ) -> float:
        """Return :math:`F = \\sum \\sqrt{V(Y\\circ Y)+\\epsilon}`; optionally write the gradient.

        Parameters
        ----------
        Y : ndarray of shape (rows*cols, m)
            The responses; C-contiguous.
        epsilon : float
        coef : float
            The gradient written is ``coef · Y ∘ Vᵀ(V(Y∘Y)+ε)^(−1/2)``.
        out : ndarray of shape (rows*cols, m), optional
            C-contiguous, dtype of ``Y``, not overlapping ``Y``; receives the gradient when
            ``need_grad`` (without ``accumulate`` its columns also serve as work space).
        accumulate : bool
            Add the gradient into ``out`` instead of overwriting it.
        need_grad : bool
            Whether to compute the gradient at all.
        """
        R, C, p, wrap = self.rows, self.cols, self.pool, self.wrap
        epsilon, coef = float(epsilon), float(coef)  # Python floats never upcast float32 work
        m = Y.shape[1]
        if m == 0:
            return 0.0
        blocks = -(-m // self.block)
        width = -(-m // blocks)  # equal blocks: no narrow remainder
        # Writing a fresh gradient, its own columns serve as the second work array.
        second = accumulate or not need_grad
        work = self._buffers(Y.dtype, width, second)
        total = 0.0
        for j0 in range(0, m, width):
            b = min(width, m - j0)
            X = work[0][:, :, :b]
            y = Y[:, j0 : j0 + b].reshape(R, C, b)
            g = None if not need_grad else out[:, j0 : j0 + b].reshape(R, C, b)
            T = work[2][:, :, :b] if second else g
            # forward: U = V(y∘y) + ε, pooled along grid axis 0 into T, then axis 1 into X
            np.multiply(y, y, out=X)
            box_sum(X, T, 0, p, wrap)
            box_sum(T, X, 1, p, wrap)
            X += epsilon
            np.sqrt(X, out=X)
            total += fast_sum(X.reshape(R * C, b), work[1][:b])
            if not need_grad:
                continue
            np.divide(coef, X, out=X)
            # backward: Vᵀ(coef / U), the taps reversed, then ∘ y
            box_sum(X, T, 0, p, wrap, reverse=True)
            box_sum(T, X, 1, p, wrap, reverse=True)
            if accumulate:
                X *= y
                g += X
            else:
                np.multiply(X, y, out=g)
        return total
