r"""L-BFGS on the orthogonal group for orthonormal ICA (the quasi-Newton phase of the solver).

At orthonormal ``W`` with responses ``y = Wx`` a step is a rotation ``W ← exp(E) W`` by a skew
``E`` (``k × k``). In these relative coordinates the gradient of
:math:`J = \frac1m\sum\varphi(y^2)` is the skew part of :math:`R = \frac1m g(y)\,y^T = G W^T`
(``G = ∇J`` of :func:`~trainers.fixed_point.fixed_point_pass`), ``A = (R − Rᵀ)/2``, and the
second derivative along the pair ``(i, j)`` (``E_ij = −E_ji``) is

.. math:: h_{ij} = \tfrac12\big(H_{ij} + H_{ji} - \beta_i - \beta_j\big), \qquad
          H_{il} = \mathbb{E}[g'(y_i)\, y_l^2], \quad \beta_i = \mathbb{E}[y_i\, g(y_i)] = R_{ii},

the diagonal of the Hessian in these coordinates (Picard-O, Ablin, Cardoso & Gramfort 2018,
take ``H_il ≈ E g′(y_i)``, exact only for independent rows; on natural image patches the
responses' variances are dependent and that estimate is several times too large). ``H`` is
estimated in the fused pass (``pair_penalty``, from the blocks the slope is taken from) with
the contrast's ``g′`` smoothed to :data:`PAIR_SMOOTHING` ``σ²``; without it (the pass that
ends the fixed point) the model value ``H_il = E g′(y_i)`` stands in. ``h`` is floored at
:data:`MIN_CURVATURE`, multiplied by a scale ``c ≥ 1`` that learns how far the quadratic model
overshoots (``c ← c/α`` after a step accepted at ``α < 1``, ``c ← max(1, 0.6 c)`` after one
accepted at ``α = 1``), and is the initial Hessian of the two-loop recursion over the secant
pairs ``(s, y)`` of the last :data:`MEMORY` steps.

The step length: ``α = 1`` first, then the minimiser of the quadratic through ``J(0)``, its
slope and ``J(α)``, kept within ``[α/10, α/2]``, until ``J`` decreases (at most
:data:`LINE_SEARCH_TRIES` trials); when that fails the memory is dropped and the
preconditioned gradient ``−A/(c h)`` is tried the same way; when that fails too the objective
cannot be lowered at its floating-point precision and the chunk ends.

Each trial is one fused pass: the value, and the gradient and curvatures the next step needs.
The memory (pairs and ``c``) is plain float64 data in the trainer's ``solver_state``, so
checkpoints continue it (a run split at any outer iteration is bit-identical to one run).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from scipy.linalg import expm

from .base import NonFiniteObjective
from .fixed_point import ResponsePass

__all__ = ["LINE_SEARCH_TRIES", "MEMORY", "MIN_CURVATURE", "PAIR_SMOOTHING", "SWITCH_RATIO",
           "empty_memory", "quasi_newton_chunk", "tangent_gradient"]

#: Secant pairs kept (Picard's default).
MEMORY = 7

#: Floor of the pair curvature ``h_ij`` at unit response variance (it scales as σ, like
#: ``h``): near-Gaussian pairs, whose curvature is about zero, take bounded steps.
MIN_CURVATURE = 0.1

#: Smoothing of ``g′`` (relative to the response variance σ²) in the pair curvature ``H``:
#: ``g′`` of the smoothed L1 at ε_D = 1e-3 σ², i.e. from the responses within about 0.03 σ
#: of zero (:meth:`objectives.Penalty.for_slope`).
PAIR_SMOOTHING = 1e-3

#: After a step accepted at its first trial the curvature scale ``c`` shrinks by this factor
#: (never below 1).
SCALE_DECAY = 0.6

#: The fixed point hands over to L-BFGS after its first outer iteration that lowers ``J`` by
#: more than this share of the previous one's decrease (it converges linearly there; with the
#: default one step per outer iteration, step by step), or at its first uphill step.
SWITCH_RATIO = 0.5

#: Step lengths tried along one direction before it is given up.
LINE_SEARCH_TRIES = 10


def empty_memory(k: int) -> dict[str, Any]:
    """An L-BFGS memory without pairs for ``k`` filters (``s`` and ``y``: ``(0, k, k)``;
    curvature scale 1)."""
    return {"s": np.zeros((0, k, k)), "y": np.zeros((0, k, k)), "scale": 1.0}


def tangent_gradient(current: ResponsePass, W: np.ndarray,
                     floor: float = MIN_CURVATURE) -> tuple[np.ndarray, np.ndarray]:
    """The relative gradient ``A`` (skew, ``k × k``) and the pair curvature ``h`` at ``W``.

    ``current`` is the pass made at ``W``: ``h`` from its ``pairs`` when it has them, else
    from its ``slope`` (the mean ``g′`` per row times the data's variance, the ICA model's
    value of ``H_il``), floored at ``floor``. Both results are float64.
    """
    R = current.G.astype(np.float64) @ W.astype(np.float64).T
    A = 0.5 * (R - R.T)
    beta = np.diag(R)
    if current.pairs is not None:
        H = current.pairs - beta[:, None]
        h = 0.5 * (H + H.T)
    else:
        kappa = current.slope.astype(np.float64) - beta
        h = 0.5 * (kappa[:, None] + kappa[None, :])
    np.maximum(h, floor, out=h)
    return A, h


def _direction(A: np.ndarray, h: np.ndarray, S: Sequence[np.ndarray],
               Y: Sequence[np.ndarray]) -> np.ndarray:
    """``−H A`` by the two-loop recursion over the pairs (oldest first), ``H₀ = 1/h``."""
    rho = [1.0 / float(np.vdot(s, y)) for s, y in zip(S, Y, strict=True)]
    q = A.copy()
    a = np.empty(len(S))
    for i in range(len(S) - 1, -1, -1):
        a[i] = rho[i] * float(np.vdot(S[i], q))
        q -= a[i] * Y[i]
    q /= h
    for i in range(len(S)):
        q += (a[i] - rho[i] * float(np.vdot(Y[i], q))) * S[i]
    return -q


def _rotate(W: np.ndarray, E: np.ndarray) -> np.ndarray:
    """``exp(E) W`` in float64, returned in ``W``'s dtype. Below float64 ``W`` first takes one
    Newton–Schulz step to the nearest orthonormal matrix, ``W ← (3W − W WᵀW)/2`` (quadratic
    convergence), so the rounding of each cast does not accumulate over the steps."""
    W64 = W.astype(np.float64)
    if W.dtype != np.float64:
        W64 = 1.5 * W64 - 0.5 * ((W64 @ W64.T) @ W64)
    W_new = (expm(E) @ W64).astype(W.dtype, copy=False)
    if not np.isfinite(W_new).all():
        raise NonFiniteObjective("iterate is not finite")
    return W_new


def _search(evaluate: Callable[..., ResponsePass], W: np.ndarray, current: ResponsePass,
            A: np.ndarray, D: np.ndarray, record: bool, m: int
            ) -> tuple[np.ndarray, ResponsePass, np.ndarray, int, float] | None:
    """Backtracking along ``D``: ``(W⁺, pass⁺, step E = αD, trials, α)``, or None when ``J``
    never decreased. The passes' values are sums over the ``m`` columns."""
    slope = m * float(np.vdot(D, A))  # d(Σφ)/dα at α = 0
    alpha = 1.0
    for trial in range(1, LINE_SEARCH_TRIES + 1):
        E = alpha * D
        W_new = _rotate(W, E)
        new = evaluate(W_new, None, record)
        if new.value < current.value:
            return W_new, new, E, trial, alpha
        # minimiser of the quadratic through J(0), J'(0) and J(α), within [α/10, α/2]
        curvature = (new.value - current.value - slope * alpha) / (alpha * alpha) \
            if np.isfinite(new.value) else 0.0
        guess = -slope / (2.0 * curvature) if curvature > 0 else 0.5 * alpha
        alpha = min(max(guess, 0.1 * alpha), 0.5 * alpha)
    return None


def quasi_newton_chunk(
    evaluate: Callable[..., ResponsePass], W: np.ndarray, current: ResponsePass,
    memory: dict[str, Any], inner_iter: int, m: int, floor: float = MIN_CURVATURE,
) -> tuple[np.ndarray, ResponsePass, dict[str, Any], int]:
    """``inner_iter`` accepted L-BFGS rotations from ``W`` (``current``: its pass).

    ``evaluate(W, None, record)`` makes the pass at ``W`` on the objective (with the record's
    sums when ``record``, asked for at the chunk's last step); ``m`` is the number of columns
    its sums run over. ``memory`` holds the pairs (``s``, ``y``: ``(p, k, k)`` float64,
    oldest first) and the curvature scale ``scale``; it is not modified. ``floor`` is the
    floor of ``h`` (:data:`MIN_CURVATURE` at unit response variance; it scales as σ).

    Returns
    -------
    W, current, memory, steps
        The last accepted filters and their pass, the new memory and the accepted steps
        (fewer than ``inner_iter`` only when ``J`` could not be lowered).
    """
    S, Y = list(memory["s"]), list(memory["y"])
    scale = float(memory["scale"])
    steps = 0
    A, h = tangent_gradient(current, W, floor)
    while steps < inner_iter:
        record = steps + 1 >= inner_iter
        D = _direction(A, scale * h, S, Y)
        if not float(np.vdot(D, A)) < 0.0:  # not a descent direction: start afresh
            S, Y, D = [], [], -A / (scale * h)
        found = _search(evaluate, W, current, A, D, record, m)
        if found is None and S:  # drop the memory, try the preconditioned gradient
            S, Y, D = [], [], -A / (scale * h)
            found = _search(evaluate, W, current, A, D, record, m)
        if found is None:  # at the floating-point floor of J
            break
        W, current, E, tried, alpha = found
        # how far the quadratic model overshot: the accepted share α of the direction
        scale = scale / alpha if tried > 1 else max(1.0, SCALE_DECAY * scale)
        A_new, h = tangent_gradient(current, W, floor)
        y = A_new - A
        if float(np.vdot(E, y)) > 0.0:  # a pair with curvature information
            S.append(E)
            Y.append(y)
            del S[:-MEMORY], Y[:-MEMORY]
        A = A_new
        steps += 1
    k = W.shape[0]
    memory = {"s": np.array(S).reshape(-1, k, k), "y": np.array(Y).reshape(-1, k, k),
              "scale": scale}
    return W, current, memory, steps
