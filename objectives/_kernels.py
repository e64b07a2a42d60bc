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
