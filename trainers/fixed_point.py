r"""The symmetric fixed-point (approximate Newton) solver of orthonormal ICA.

For a penalty :math:`\varphi` with contrast :math:`g(y) = 2y\varphi'(y^2)` and responses
:math:`y = Wx` (``k × m``), one step is

.. math::
    G = \frac{1}{m} g(Wx)\, x^T = \nabla J(W), \qquad
    D = \operatorname{diag}\Big(\frac{1}{m}\sum_j g'(y_{ij})\Big), \qquad
    W \leftarrow \operatorname{sym}\big((D + \mu I) W - G\big),

with :math:`\operatorname{sym}(M) = (MM^T)^{-1/2}M`, each row's sign then aligned with its old
value. A step that raises ``J`` is rejected, the damping μ raised and the step retried (see
:func:`fixed_point_chunk`). Why its fixed points are the constrained stationary points, the
sign convention and the curvature estimate are derived in ``docs/fixed_point_ica.md``.

One step costs one fused pass over ``x`` (:func:`fixed_point_pass`): ``Y = Wx`` per block of
columns, the element-wise work in cache (:meth:`objectives.Penalty.contrast`), and
``G += g(Y) x_bᵀ``: two ``k × n × m`` products and one ``k × n`` SVD per step.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from sparselearn.objectives import Penalty
from sparselearn.objectives.blocks import iter_column_blocks

from .base import NonFiniteObjective
from .linalg import symmetric_orthonormalize

__all__ = ["BLOCK_BYTES", "MAX_REJECTIONS", "ResponsePass", "fixed_point_chunk",
           "fixed_point_pass"]

#: Bytes of one ``k × b`` work block of the fused pass (a few blocks stay in the L2 cache).
BLOCK_BYTES = 1 << 19

#: Rejected (uphill) steps allowed per outer iteration beyond ``inner_iter``; each doubles
#: the damping μ, so the last ones are projected-gradient steps of size ~1/μ.
MAX_REJECTIONS = 20

#: The damping μ is dropped to zero once it falls below this share of the mean slope.
MIN_DAMPING = 1e-3

#: A damping above this multiple of the mean slope makes steps too small to matter (relative
#: size below 1e-8, where the objective differs from its predecessor only by rounding): the
#: chunk ends there, as at a standstill, and μ stays at that cap.
MAX_DAMPING = 1e8


class ResponsePass:
    """What one pass over the data at ``W`` yields (see :func:`fixed_point_pass`).

    Attributes
    ----------
    W : ndarray (k, n)
        The filters the pass was made at (the cache key).
    value : float
        ``Σ φ(y²)`` over all responses ``y = Wx``.
    abs_sum : float
        ``Σ |y|``.
    G : ndarray (k, n) or None
        ``(1/m) g(Wx) xᵀ``: the gradient of ``J``.
    slope : ndarray (k,) or None
        ``(1/m) Σ_j g′(y_ij)`` per row (under the slope penalty).
    """

    __slots__ = ("W", "abs_sum", "G", "slope", "value")

    def __init__(self, W, value, abs_sum, G=None, slope=None) -> None:
        self.W, self.value, self.abs_sum, self.G, self.slope = W, value, abs_sum, G, slope


def fixed_point_pass(W: np.ndarray, x: np.ndarray, penalty: Penalty,
                     slope_penalty: Penalty | None = None,
                     gradient: bool = True) -> ResponsePass:
    """One fused pass over ``x``: value, ``Σ|y|``, and (``gradient``) ``G`` and the mean slope.

    Parameters
    ----------
    W : ndarray (k, n)
    x : ndarray (n, m)
        Same dtype as ``W``.
    penalty : Penalty
        :math:`\\varphi` of the objective.
    slope_penalty : Penalty, optional
        The penalty whose :math:`g'` estimates the curvature (default ``penalty``).
    gradient : bool
        Compute ``G`` and ``slope`` (else only the value and ``Σ|y|``: one product).

    Returns
    -------
    ResponsePass
        Sums accumulated in float64; ``G`` and ``slope`` in ``W``'s dtype.
    """
    k, n = W.shape
    m = x.shape[1]
    dtype = W.dtype
    slope_penalty = penalty if slope_penalty is None else slope_penalty
    width = min(max(256, BLOCK_BYTES // (dtype.itemsize * max(k, 1))), m)
    flat = [np.empty(k * width, dtype) for _ in range(4 if gradient else 2)]
    value = abs_sum = 0.0
    G = np.zeros((k, n), np.float64) if gradient else None
    G_block = np.empty((k, n), dtype) if gradient else None
    slope = np.zeros(k, np.float64) if gradient else None
    for _, _, xb in iter_column_blocks(x, width):
        w = xb.shape[1]
        Y, T, *spare = (buffer[:k * w].reshape(k, w) for buffer in flat)
        np.matmul(W, xb, out=Y)
        abs_sum += float(np.abs(Y, out=T).sum(dtype=np.float64))
        np.multiply(Y, Y, out=T)  # u = y²
        if not gradient:
            value += penalty.value_sum(T)
            continue
        part, rows = penalty.contrast(Y, T, slope_penalty, tuple(spare))  # Y = g(y)
        value += part
        slope += rows
        np.matmul(Y, xb.T, out=G_block)
        G += G_block
    if gradient:
        G = (G / m).astype(dtype, copy=False)
        slope = (slope / m).astype(dtype, copy=False)
    return ResponsePass(W, value, abs_sum, G, slope)


def fixed_point_chunk(
    evaluate: Callable[[np.ndarray], ResponsePass], W: np.ndarray, current: ResponsePass,
    damping: float, inner_iter: int,
) -> tuple[np.ndarray, ResponsePass, float, int]:
    """``inner_iter`` accepted steps ``W ← sym(diag(d + μ) W − G)``, one pass each.

    An uphill step is rejected: μ rises to the mean slope at the first rejection and doubles
    at each further one, and the step is retried from the same ``W``; after an accepted step μ
    is quartered (zero once below :data:`MIN_DAMPING` of the mean slope). The chunk ends after
    ``inner_iter`` accepted steps, ``inner_iter + MAX_REJECTIONS`` tries, a step too small
    to change ``W``, or a damping of :data:`MAX_DAMPING` times the mean slope.

    Returns
    -------
    W, current, damping, steps
        The last accepted filters and their pass, the damping, and the accepted steps.
    """
    steps = tries = 0
    while steps < inner_iter and tries < inner_iter + MAX_REJECTIONS:
        tries += 1
        M = (current.slope + damping)[:, None] * W
        M -= current.G
        W_new = symmetric_orthonormalize(M)
        if not np.isfinite(W_new).all():
            raise NonFiniteObjective("iterate is not finite")
        W_new[np.einsum("ij,ij->i", W_new, W) < 0] *= -1  # J is even in every row
        if np.array_equal(W_new, W):  # damped to a standstill
            break
        new = evaluate(W_new)  # its G and slope make the next step
        if new.value <= current.value:
            W, current, steps = W_new, new, steps + 1
            damping = 0.0 if damping <= MIN_DAMPING * float(np.mean(current.slope)) \
                else 0.25 * damping
        else:  # uphill: reject, damp (towards a projected gradient step) and retry
            mean_slope = float(np.mean(current.slope))
            damping = max(2.0 * damping, mean_slope)
            if damping >= MAX_DAMPING * mean_slope:  # at the rounding floor: a standstill
                damping = MAX_DAMPING * mean_slope
                break
    return W, current, damping, steps

