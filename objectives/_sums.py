"""Fast full sums of arrays (BLAS matrix-vector products), shared by kernels and penalties."""

from __future__ import annotations

import numpy as np

__all__ = ["fast_sum", "fast_total"]


def fast_sum(M: np.ndarray, ones: np.ndarray) -> float:
    """:math:`\\sum_{ij} M_{ij}` of a 2-D array with contiguous rows, as a Python float.

    Row sums by one matrix-vector product with ``ones`` (length ``M.shape[1]``), then a pairwise
    sum of those: BLAS reads ``M`` once at full bandwidth, about twice as fast as ``M.sum()``
    on large arrays, with the accuracy of a blocked sum.

    Parameters
    ----------
    M : ndarray of shape (r, c)
        The array to sum; rows contiguous (e.g. C-contiguous), float32 or float64.
    ones : ndarray of shape (c,)
        A vector of ones in the dtype of ``M`` (kept by the caller, so that it is not
        allocated per call).

    Returns
    -------
    float
        :math:`\\sum_{ij} M_{ij}`, accumulated in ``M``'s dtype.
    """
    return float(np.dot(M, ones).sum())


_ONES: dict[tuple[np.dtype, int], np.ndarray] = {}


def _ones(dtype: np.dtype, length: int) -> np.ndarray:
    """A read-only vector of ones, kept per (dtype, length) (replaced, never changed)."""
    key = (dtype, length)
    ones = _ONES.get(key)
    if ones is None:
        ones = np.ones(length, dtype)
        ones.flags.writeable = False
        if len(_ONES) > 16:
            _ONES.clear()
        _ONES[key] = ones
    return ones


def fast_total(M: np.ndarray) -> float:
    """:math:`\\sum M` as a Python float; through :func:`fast_sum` when the rows of ``M``
    (its last axis) are contiguous and float, else ``M.sum()``."""
    if M.ndim >= 2 and M.dtype.char in "fd" and M.strides[-1] == M.itemsize:
        rows = M.reshape(-1, M.shape[-1])
        if np.may_share_memory(rows, M):  # a view: reshape made no copy
            return fast_sum(rows, _ones(M.dtype, M.shape[-1]))
    return float(M.sum())
