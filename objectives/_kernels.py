"""Small numeric kernels shared by the closed-form terms (no validation, no copies of inputs).

Every kernel keeps the dtype of its array arguments; scalars are Python floats.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from .blocks import check_block
from .penalties import Penalty, SmoothedL1Penalty


def frobenius(a: np.ndarray, b: np.ndarray) -> float:
    """:math:`\\langle a, b \\rangle_F = \\sum_{ij} a_{ij} b_{ij}` as a Python float (one dot)."""
    return float(np.dot(np.ascontiguousarray(a).ravel(), np.ascontiguousarray(b).ravel()))


def deliver(part: np.ndarray, out: np.ndarray | None, accumulate: bool) -> np.ndarray:
    """``part`` itself when there is no ``out``; else ``part`` added into ``out``
    (``accumulate``) or written into it, and ``out`` returned."""
    if out is None:
        return part
    if accumulate:
        out += part
    else:
        out[...] = part
    return out


def gram_minus_identity(W: np.ndarray) -> np.ndarray:
    """:math:`M = W^T W - I` (n × n), the identity subtracted in place on the diagonal."""
    M = W.T @ W
    M.flat[:: M.shape[0] + 1] -= 1
    return M


# -- separable topographic pooling ----------------------------------------------------------
#: Columns per block of :class:`SeparablePooling`. Blocks narrow enough for the work arrays to
#: stay in L2 (a few hundred columns at k = 121) measured slower than whole rows, because each
#: block then reads the k rows of ``Y`` and of the gradient as k short strided streams; so the
#: block is wide and only bounds the work memory (two k × block arrays).
POOL_BLOCK = 16384


def torus_structure(V: np.ndarray) -> tuple[int, int, int, bool] | None:
    """Recognise a grouping matrix built by ``grouping_matrix((rows, cols), pool, wrap)``.

    Such a ``V`` is separable: the pooling is a ``pool``-tap box sum along the grid rows
    followed by one along the columns.

    Parameters
    ----------
    V : ndarray of shape (g, k)
        A candidate grouping matrix (any float dtype).

    Returns
    -------
    (rows, cols, pool, wrap) or None
        ``(int, int, int, bool)`` such that ``grouping_matrix((rows, cols), pool, wrap)``
        equals ``V`` exactly (binary, one group per grid cell, ``2 <= pool <= min(rows,
        cols)``); None for any other ``V`` (which then takes the general, sparse-product path).
        Where two grids give the same ``V`` (a torus with ``pool`` equal to both sides pools
        every feature into every group) the first found is returned, wrapped before clipped.
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
    out-of-place addition.

    Parameters
    ----------
    src : ndarray
        The array to pool (any number of dimensions; the sum runs along ``axis``).
    dst : ndarray
        Receives the sums; same shape and dtype as ``src``, not overlapping it. Every entry is
        overwritten.
    axis : {0, 1}
        The axis summed along.
    pool : int
        Number of taps, at least 2 and at most ``src.shape[axis]``.
    wrap : bool
        Whether indices wrap around (torus) or out-of-range taps are dropped (clipped grid).
    reverse : bool, default False
        Take the taps backwards (``src[i − d]``): the transpose of the forward sum, used for
        :math:`V^T`.

    Returns
    -------
    None
        The result is in ``dst``.
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
    """Blocked kernel for :math:`\\sum \\varphi(V(Y\\circ Y))` and its gradient, for a penalty
    :math:`\\varphi` (:class:`objectives.penalties.Penalty`) and a box-pooling ``V`` on a
    (toroidal) ``rows × cols`` grid (see :func:`torus_structure`).

    ``V`` is never formed: a feature column viewed as the ``rows × cols`` grid is pooled by a
    ``pool``-tap sum along the grid's first axis and then along its second (:func:`box_sum`:
    ``2(pool−1)`` slab additions per entry instead of the ``pool²`` multiply-adds of a sparse
    product), and ``Vᵀ`` by the same sums with the taps reversed. Every step is one numpy call
    over a whole block, written with ``out=`` into a work array kept per thread (for the last
    dtype and block width) and reused across calls, or, when a fresh gradient is written, into
    the gradient's own columns, which keeps the memory touched per call to ``Y``, one work
    array and the gradient. The columns are processed in
    blocks of ``block`` (default :data:`POOL_BLOCK`): narrower blocks would keep the work arrays
    in cache, but each block then reads every one of the k rows of ``Y`` and of the gradient as
    a separate short stream, which measured slower than streaming whole rows; the block only
    bounds the work memory.

    Reusing the work arrays avoids page-faulting fresh memory on every call. They are kept per
    thread (``threading.local``), so one instance may be shared by threads evaluating at the
    same time; they never reach the caller (gradients are written into ``out``), and they are
    dropped when the kernel is pickled or deep-copied.
    """

    def __init__(self, rows: int, cols: int, pool: int, wrap: bool, block: int | None = POOL_BLOCK):
        checked = check_block(block, "SeparablePooling")
        self.rows, self.cols, self.pool, self.wrap = rows, cols, pool, wrap
        self.block = POOL_BLOCK if checked is None else checked
        self._local = threading.local()

    # The work arrays are per thread (``threading.local``) and are not part of the state:
    # pickling or deep-copying a kernel (e.g. inside a fitted estimator) drops them.
    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        del state["_local"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        state = dict(state)
        state.pop("_work", None)  # the shared buffers of pickles made before they were per thread
        self.__dict__.update(state)
        self._local = threading.local()

    def _buffers(self, dtype: np.dtype, width: int, second: bool) -> tuple[np.ndarray, ...]:
        """``(X, ones)`` or, with ``second``, ``(X, ones, T)``: work arrays of shape
        ``(rows, cols, width)`` and a vector of ones, kept per thread for the last dtype and
        width that thread used."""
        key = (np.dtype(dtype), width)
        local = self._local
        kept = getattr(local, "work", None)
        if kept is None or kept[0] != key:
            work = (np.empty((self.rows, self.cols, width), dtype), np.ones(width, dtype))
            local.work = kept = (key, work)  # keep one set: the last shape and dtype used
        work = kept[1]
        if second and len(work) == 2:
            work = (*work, np.empty_like(work[0]))
            local.work = (key, work)
        return work

    def __call__(
        self,
        Y: np.ndarray,
        penalty: Penalty | float,
        coef: float = 1.0,
        out: np.ndarray | None = None,
        accumulate: bool = False,
        need_grad: bool = True,
    ) -> float:
        """Return :math:`F = \\sum \\varphi(V(Y\\circ Y))`; optionally write the gradient.

        Parameters
        ----------
        Y : ndarray of shape (rows*cols, m)
            The responses; C-contiguous.
        penalty : Penalty or float
            :math:`\\varphi`; a number ε stands for the smoothed L1 :math:`\\sqrt{u + \\epsilon}`.
        coef : float
            The gradient written is ``coef · 2 Y ∘ Vᵀ φ′(V(Y∘Y))``.
        out : ndarray of shape (rows*cols, m), optional
            C-contiguous, dtype of ``Y``, not overlapping ``Y``; receives the gradient when
            ``need_grad`` (without ``accumulate`` its columns also serve as work space).
        accumulate : bool
            Add the gradient into ``out`` instead of overwriting it.
        need_grad : bool
            Whether to compute the gradient at all.
        """
        if not isinstance(penalty, Penalty):
            penalty = SmoothedL1Penalty(penalty)
        R, C, p, wrap = self.rows, self.cols, self.pool, self.wrap
        coef = float(coef)  # Python floats never upcast float32 work
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
            # forward: U = V(y∘y), pooled along grid axis 0 into T, then axis 1 into X
            np.multiply(y, y, out=X)
            box_sum(X, T, 0, p, wrap)
            box_sum(T, X, 1, p, wrap)
            if not need_grad:
                total += penalty.value_sum(X)
                continue
            total += penalty.value_and_weight(X, coef)  # X = 2c φ′(U)
            # backward: Vᵀ(2c φ′(U)), the taps reversed, then ∘ y
            box_sum(X, T, 0, p, wrap, reverse=True)
            box_sum(T, X, 1, p, wrap, reverse=True)
            if accumulate:
                X *= y
                g += X
            else:
                np.multiply(X, y, out=g)
        return total
