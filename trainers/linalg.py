"""Small linear-algebra helpers of the ICA trainers."""

from __future__ import annotations

import numpy as np

__all__ = ["range_projector", "symmetric_orthonormalize"]


def symmetric_orthonormalize(W: np.ndarray) -> np.ndarray:
    """``(W Wᵀ)^(−1/2) W``, the orthonormal matrix nearest to ``W`` (rows orthonormal)."""
    U, _, Vt = np.linalg.svd(W, full_matrices=False)
    return (U @ Vt).astype(W.dtype, copy=False)


def range_projector(C: np.ndarray, rtol: float | None = None) -> np.ndarray | None:
    """Orthogonal projector onto the range of the symmetric PSD ``C``; None if it has full rank.

    Eigenvalues at or below ``rtol · λ_max`` count as zero (default ``100 n ε`` of ``C``'s dtype,
    so float32 rounding of an exact zero is caught). Computed in float64, returned in ``C``'s
    dtype.
    """
    n = C.shape[0]
    if rtol is None:
        rtol = 100.0 * n * float(np.finfo(C.dtype).eps)
    eigenvalues, eigenvectors = np.linalg.eigh(np.asarray(C, dtype=np.float64))
    keep = eigenvalues > rtol * max(float(eigenvalues[-1]), 0.0)
    if keep.all():
        return None
    U = eigenvectors[:, keep]
    return (U @ U.T).astype(C.dtype)
