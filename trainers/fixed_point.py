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
from scipy.linalg import get_blas_funcs

from sparselearn.objectives import Penalty
from sparselearn.objectives.blocks import iter_column_blocks

from .base import NonFiniteObjective
from .linalg import symmetric_orthonormalize

__all__ = ["BLOCK_BYTES", "MAX_REJECTIONS", "SMOOTH_START", "SMOOTH_SWITCH", "ResponsePass",
           "fixed_point_chunk", "fixed_point_pass"]

#: Bytes of one ``k × b`` work block of the fused pass (a few blocks stay in the L2 cache).
BLOCK_BYTES = 1 << 19

#: Columns of a work block at least (for large ``k``: narrower blocks make ``g(Y) x_bᵀ``, whose
#: inner dimension is ``b``, slower).
MIN_BLOCK_COLUMNS = 512

#: Rejected (uphill) steps allowed per outer iteration beyond ``inner_iter``; each doubles
#: the damping μ, so the last ones are projected-gradient steps of size ~1/μ.
MAX_REJECTIONS = 20

#: The damping μ is dropped to zero once it falls below this share of the mean slope.
MIN_DAMPING = 1e-3

#: A damping above this multiple of the mean slope makes steps too small to matter (relative
#: size below 1e-8, where the objective differs from its predecessor only by rounding): the
#: chunk ends there, as at a standstill, and μ stays at that cap.
MAX_DAMPING = 1e8

#: The mean slope (the curvature estimate, which scales a step but does not move its fixed
#: points) is taken from every this-many-th column block only: it costs most of the
#: element-wise work of a block, and a few thousand columns estimate it well.
SLOPE_EVERY = 2

#: Smoothing of the penalty at the start of a fit, relative to the mean response variance σ²
#: (:meth:`objectives.Penalty.smoothed`): a smooth contrast unmixes a random start in far
#: fewer steps than a nearly non-smooth one (see ``docs/fixed_point_ica.md``).
SMOOTH_START = 10.0

#: Tries the smooth start may take at most; it then ends where it is.
MAX_SMOOTH_STEPS = 100

#: The smooth start ends after the first step that moves no row by more than this in
#: ``1 − |cos(w_new, w_old)|`` (the rows have settled near the smoothed problem's solution).
SMOOTH_SWITCH = 0.3


class ResponsePass:
    """What one pass over the data at ``W`` yields (see :func:`fixed_point_pass`).

    Attributes
    ----------
    W : ndarray (k, n)
        The filters the pass was made at (the cache key).
    value : float or None
        ``Σ φ(y²)`` over all responses ``y = Wx`` under the objective's penalty (None when a
        smoothed step's pass did not compute it).
    abs_sum : float or None
        ``Σ |y|`` (None when not asked for).
    G : ndarray (k, n) or None
        ``(1/m) g(Wx) xᵀ`` under the step's penalty: the gradient of its objective.
    slope : ndarray (k,) or None
        ``Σ_j g′(y_ij)`` per row (under the slope penalty) over the columns of every
        :data:`SLOPE_EVERY`-th block, divided by their count.
    level : float or None
        The smoothing of the step's penalty (None: the objective's own penalty).
    step_value : float
        ``Σ φ_s(y²)`` under the step's penalty (``value`` when ``level`` is None).
    compare_value : float or None
        ``Σ φ_c(y²)`` under the ``compare`` penalty of :func:`fixed_point_pass` (the value that
        decides the step that ends the smooth start), else None.
    pairs : ndarray (k, k) or None
        ``(1/m′) Σ_j g′(y_ij) y_lj²`` under the ``pair_penalty`` of :func:`fixed_point_pass`
        over the columns the slope is taken from (float64), else None.
    """

    __slots__ = ("W", "abs_sum", "G", "compare_value", "level", "pairs", "slope",
                 "step_value", "value")

    def __init__(self, W, value, abs_sum, G=None, slope=None, level=None,
                 step_value=None, compare_value=None, pairs=None) -> None:
        self.W, self.value, self.abs_sum, self.G, self.slope = W, value, abs_sum, G, slope
        self.level = level
        self.step_value = value if step_value is None else step_value
        self.compare_value = compare_value
        self.pairs = pairs


def fixed_point_pass(W: np.ndarray, x: np.ndarray, penalty: Penalty,
                     slope_penalty: Penalty | None = None,
                     gradient: bool = True, step_penalty: Penalty | None = None,
                     level: float | None = None, record: bool = True,
                     compare: Penalty | None = None,
                     pair_penalty: Penalty | None = None) -> ResponsePass:
    """One fused pass over ``x``: value, ``Σ|y|``, and (``gradient``) ``G`` and the mean slope.

    Parameters
    ----------
    W : ndarray (k, n)
    x : ndarray (n, m)
        Same dtype as ``W``.
    penalty : Penalty
        :math:`\\varphi` of the objective.
    slope_penalty : Penalty, optional
        The penalty whose :math:`g'` estimates the curvature (default: the step's penalty).
    gradient : bool
        Compute ``G`` and ``slope`` (else only the value and ``Σ|y|``: one product).
    step_penalty : Penalty, optional
        A smoothed penalty that drives the step (``G``, ``slope``, ``step_value``) instead of
        ``penalty``; ``level`` is its smoothing, kept in the result.
    record : bool
        Compute ``Σ|y|`` and, with a ``step_penalty``, the objective's ``value`` (what a record
        needs); skipped otherwise.
    compare : Penalty, optional
        Also compute ``Σ φ_c(y²)`` under this penalty (``compare_value``).
    pair_penalty : Penalty, optional
        Also compute ``pairs``, the curvature of every pair of rows, with this penalty's
        :math:`g'` (one ``k × b × k`` product on each block the slope is taken from).

    Returns
    -------
    ResponsePass
        Sums accumulated in float64; ``G`` and ``slope`` in ``W``'s dtype.
    """
    k, n = W.shape
    m = x.shape[1]
    dtype = W.dtype
    step = penalty if step_penalty is None or not gradient else step_penalty
    smoothed = step is not penalty
    slope_penalty = step if slope_penalty is None else slope_penalty
    width = min(max(MIN_BLOCK_COLUMNS, BLOCK_BYTES // (dtype.itemsize * max(k, 1))), m)
    count = (4 + (smoothed and record) + (compare is not None)) if gradient else 2
    flat = [np.empty(k * width, dtype) for _ in range(count)]
    asum = get_blas_funcs("asum", (flat[0],))
    value = abs_sum = step_value = compare_value = 0.0
    G = np.zeros((k, n), np.float64) if gradient else None
    G_block = np.empty((k, n), dtype) if gradient else None
    slope = np.zeros(k, np.float64) if gradient else None
    with_pairs = gradient and pair_penalty is not None
    pairs = np.zeros((k, k), np.float64) if with_pairs else None
    pairs_block = np.empty((k, k), dtype) if with_pairs else None
    sampled = 0  # columns the slope is taken from: every SLOPE_EVERY-th block
    for index, (_, _, xb) in enumerate(iter_column_blocks(x, width)):
        w = xb.shape[1]
        Y, T, *spare = (buffer[:k * w].reshape(k, w) for buffer in flat)
        np.matmul(W, xb, out=Y)
        if record:
            abs_sum += float(asum(Y.reshape(-1)))  # BLAS: one read, no temporary
        np.multiply(Y, Y, out=T)  # u = y²
        if not gradient:
            value += penalty.value_sum(T)
            continue
        if smoothed and record:
            U = spare.pop()
            np.copyto(U, T)
            value += penalty.value_sum(U)
        if compare is not None:
            U = spare.pop()
            np.copyto(U, T)
            compare_value += compare.value_sum(U)
        with_slope = index % SLOPE_EVERY == 0
        if with_pairs and with_slope:  # Σ_j g′(y_ij) y_lj², before T is overwritten
            np.matmul(pair_penalty.slope(T), T.T, out=pairs_block)
            pairs += pairs_block
        part, rows = step.contrast(Y, T, slope_penalty, tuple(spare), with_slope)  # Y = g(y)
        step_value += part
        if with_slope:
            slope += rows
            sampled += w
        np.matmul(Y, xb.T, out=G_block)
        G += G_block
    if gradient:
        G = (G / m).astype(dtype, copy=False)
        slope = (slope / sampled).astype(dtype, copy=False)
        if not smoothed:
            value = step_value
        elif not record:
            value = None
    return ResponsePass(W, value, abs_sum if record else None, G, slope,
                        level if smoothed else None, step_value if gradient else value,
                        compare_value if compare is not None and gradient else None,
                        pairs / sampled if with_pairs else None)


def fixed_point_chunk(
    evaluate: Callable[..., ResponsePass], W: np.ndarray, current: ResponsePass,
    damping: float, inner_iter: int, level: float | None = None, until_uphill: bool = False,
) -> tuple[np.ndarray, ResponsePass, float, int, bool]:
    """``inner_iter`` accepted steps ``W ← sym(diag(d + μ) W − G)``, one pass each.

    ``evaluate(W, level, record, compare=None)`` makes the pass at ``W`` under the penalty
    smoothed to ``level`` (None: the objective's own), with the record's sums when ``record``
    and the value under the penalty smoothed to ``compare`` when given. While ``level`` is set
    (the smooth start), the steps minimise the smoothed objective; the start ends
    (``level`` → None) with the first step that turns no row by more than
    :data:`SMOOTH_SWITCH` in ``1 − |cos|``: that step is accepted on the smoothed value, and
    its pass is made on the objective itself, so the next step is an unsmoothed one. A
    stalled smooth start, or one past :data:`MAX_SMOOTH_STEPS` tries, ends with a pass on the
    objective at the same ``W``. The smooth start does not end a chunk: it lies inside one
    (its steps count in ``steps``), whose record therefore comes from a pass on the
    objective, and its passes skip the record's sums.

    An uphill step is rejected: μ rises to the mean slope at the first rejection and doubles
    at each further one, and the step is retried from the same ``W``; μ is kept after a step
    accepted at a retry and halved after one accepted at its first try (zero once below
    :data:`MIN_DAMPING` of the mean slope), so that it settles where steps succeed. The chunk
    ends after ``inner_iter`` accepted steps, ``inner_iter + MAX_REJECTIONS`` tries, a step too
    small to change ``W``, or a damping of :data:`MAX_DAMPING` times the mean slope (unsmoothed).
    With ``until_uphill`` it ends instead at the first uphill step on the objective itself
    (not during the smooth start), where the quasi-Newton solver takes over.

    Returns
    -------
    W, current, damping, steps, uphill
        The last accepted filters and their (unsmoothed) pass, the damping, the accepted
        steps, and whether the chunk ended at an uphill step (``until_uphill``).
    """
    steps = tries = smooth_tries = 0
    retried = False
    while level is not None or (steps < inner_iter and tries < inner_iter + MAX_REJECTIONS):
        if level is not None:
            smooth_tries += 1
            if smooth_tries > MAX_SMOOTH_STEPS:  # end the start where it is
                level, damping = None, 0.0
                current = evaluate(W, None, True)
                continue
        else:
            tries += 1
        M = (current.slope + damping)[:, None] * W
        M -= current.G
        W_new = symmetric_orthonormalize(M)
        if not np.isfinite(W_new).all():
            raise NonFiniteObjective("iterate is not finite")
        overlap = np.einsum("ij,ij->i", W_new, W)
        W_new[overlap < 0] *= -1  # J is even in every row
        stalled = np.array_equal(W_new, W)
        if not stalled:
            switch = level is not None and 1.0 - float(np.min(np.abs(overlap))) < SMOOTH_SWITCH
            if switch:  # the last smoothed step: decided on J_s, the pass made on J itself
                new = evaluate(W_new, None, True, level)
                value, baseline = new.compare_value, current.step_value
            else:
                new = evaluate(W_new, level, level is None and steps + 1 >= inner_iter)
                value = new.step_value
                baseline = current.step_value if new.level == current.level else current.value
            if value <= baseline:
                W, current, steps = W_new, new, steps + 1
                if not retried:  # a step taken at the first try: damp less
                    damping = 0.0 if damping <= MIN_DAMPING * float(np.mean(current.slope)) \
                        else 0.5 * damping
                retried = False
                if switch:
                    level, damping = None, 0.0
                continue
            if until_uphill and level is None:
                return W, current, damping, steps, True
            # uphill: reject, damp (towards a projected gradient step) and retry
            retried = True
            mean_slope = float(np.mean(current.slope))
            damping = max(2.0 * damping, mean_slope)
            stalled = damping >= MAX_DAMPING * mean_slope  # at the rounding floor
            if stalled:
                damping = MAX_DAMPING * mean_slope
        if stalled and level is not None:  # the smooth start is done: go on unsmoothed
            level, damping = None, 0.0
            current = evaluate(W, None, True)
            continue
        if stalled:
            break
    return W, current, damping, steps, False
