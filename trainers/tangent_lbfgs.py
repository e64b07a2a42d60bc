r"""L-BFGS on the orthogonal group for orthonormal ICA (the quasi-Newton phase of the solver).

At orthonormal ``W`` with responses ``y = Wx`` a step is a rotation ``W ← exp(E) W`` by a skew
``E`` (``k × k``). In these relative coordinates the gradient of
:math:`J = \frac1m\sum\varphi(y^2)` is the skew part of :math:`R = \frac1m g(y)\,y^T = G W^T`
(``G = ∇J`` of :func:`~trainers.fixed_point.fixed_point_pass`), ``A = (R − Rᵀ)/2``, and under
the ICA model (independent rows of ``y``) the Hessian is diagonal in the pairs ``i < j``:

.. math:: h_{ij} = \tfrac12\big(\kappa_i + \kappa_j\big), \qquad
          \kappa_i = \mathbb{E}[g'(y_i)] - \mathbb{E}[y_i\, g(y_i)],

clipped below at :data:`MIN_CURVATURE` (Picard-O, Ablin, Cardoso & Gramfort 2018). On data the
model does not describe (natural image patches: the responses' variances are dependent) that
curvature is wrong, and a Newton step with it (the fixed point) crawls; L-BFGS corrects it from
the secant pairs ``(s, y)`` of the last :data:`MEMORY` steps, with ``h`` as the initial Hessian
of the two-loop recursion. The step length: ``α = 1`` first, then the minimiser of the
quadratic through ``J(0)``, its slope and ``J(α)``, kept within ``[α/10, α/2]``, until ``J``
decreases (at most :data:`LINE_SEARCH_TRIES` trials); when that fails the memory is dropped
and the preconditioned gradient ``−A/h`` is tried the same way; when that fails too the
objective cannot be lowered at its floating-point precision and the chunk ends.

Each trial is one fused pass (:func:`~trainers.fixed_point.fixed_point_pass`): the value, and
the gradient and slopes the next step needs. The memory is plain float64 arrays in the
trainer's ``solver_state``, so checkpoints continue it (a run split at any outer iteration is
bit-identical to one run).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.linalg import expm

from .base import NonFiniteObjective
from .fixed_point import ResponsePass
from .linalg import symmetric_orthonormalize

__all__ = ["LINE_SEARCH_TRIES", "MEMORY", "MIN_CURVATURE", "SWITCH_RATIO", "empty_memory",
           "quasi_newton_chunk", "tangent_gradient"]

#: Secant pairs kept (Picard's default).
MEMORY = 7

#: Floor of the model curvature ``h_ij`` (Picard's ``lambda_min``): near-Gaussian pairs,
#: whose curvature is about zero, take bounded steps.
MIN_CURVATURE = 1e-2

#: The fixed point hands over to L-BFGS at its first step that lowers ``J`` by more than this
#: share of the previous step's decrease (it converges linearly there), or goes uphill.
SWITCH_RATIO = 0.5

#: Step lengths tried along one direction before it is given up.
LINE_SEARCH_TRIES = 10


def empty_memory(k: int) -> dict[str, np.ndarray]:
    """An L-BFGS memory without pairs for ``k`` filters (``s`` and ``y``: ``(0, k, k)``)."""
    return {"s": np.zeros((0, k, k)), "y": np.zeros((0, k, k))}


def tangent_gradient(current: ResponsePass, W: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The relative gradient ``A`` (skew, ``k × k``) and the model curvature ``h`` at ``W``.

    ``current`` is the pass made at ``W``; its ``slope`` is the mean ``g′`` per row (times the
    data's variance), as the fixed point uses it. Both results are float64.
    """
    R = current.G.astype(np.float64) @ W.astype(np.float64).T
    A = 0.5 * (R - R.T)
    kappa = current.slope.astype(np.float64) - np.diag(R)
    h = 0.5 * (kappa[:, None] + kappa[None, :])
    np.maximum(h, MIN_CURVATURE, out=h)
    return A, h


def _direction(A: np.ndarray, h: np.ndarray, S: np.ndarray, Y: np.ndarray) -> np.ndarray:
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
    """``exp(E) W`` in ``W``'s dtype (re-orthonormalised when that is below float64)."""
    W_new = (expm(E) @ W.astype(np.float64)).astype(W.dtype, copy=False)
    if W.dtype != np.float64:
        W_new = symmetric_orthonormalize(W_new)
    if not np.isfinite(W_new).all():
        raise NonFiniteObjective("iterate is not finite")
    return W_new


def _search(evaluate: Callable[..., ResponsePass], W: np.ndarray, current: ResponsePass,
            A: np.ndarray, D: np.ndarray, record: bool, m: int
            ) -> tuple[np.ndarray, ResponsePass, np.ndarray, int] | None:
    """Backtracking along ``D``: ``(W⁺, pass⁺, step E, trials)``, or None when ``J`` never
    decreased. The passes' values are sums over the ``m`` columns."""
    slope = m * float(np.vdot(D, A))  # d(Σφ)/dα at α = 0
    alpha = 1.0
    for trial in range(1, LINE_SEARCH_TRIES + 1):
        E = alpha * D
        W_new = _rotate(W, E)
        new = evaluate(W_new, None, record)
        if new.value < current.value:
            return W_new, new, E, trial
        # minimiser of the quadratic through J(0), J'(0) and J(α), within [α/10, α/2]
        curvature = (new.value - current.value - slope * alpha) / (alpha * alpha) \
            if np.isfinite(new.value) else 0.0
        guess = -slope / (2.0 * curvature) if curvature > 0 else 0.5 * alpha
        alpha = min(max(guess, 0.1 * alpha), 0.5 * alpha)
    return None


def quasi_newton_chunk(
    evaluate: Callable[..., ResponsePass], W: np.ndarray, current: ResponsePass,
    memory: dict[str, np.ndarray], inner_iter: int, m: int,
) -> tuple[np.ndarray, ResponsePass, dict[str, np.ndarray], int, int]:
    """``inner_iter`` accepted L-BFGS rotations from ``W`` (``current``: its pass).

    ``evaluate(W, None, record)`` makes the pass at ``W`` on the objective (with the record's
    sums when ``record``, asked for at the chunk's last step); ``m`` is the number of columns
    its sums run over. ``memory`` holds the pairs
    (``s``, ``y``: ``(p, k, k)`` float64, oldest first); it is not modified.

    Returns
    -------
    W, current, memory, steps, trials
        The last accepted filters and their pass, the new memory, the accepted steps (fewer
        than ``inner_iter`` only when ``J`` could not be lowered) and the passes made.
    """
    S, Y = list(memory["s"]), list(memory["y"])
    steps = trials = 0
    A, h = tangent_gradient(current, W)
    while steps < inner_iter:
        record = steps + 1 >= inner_iter
        D = _direction(A, h, S, Y)
        if not float(np.vdot(D, A)) < 0.0:  # not a descent direction: start afresh
            S, Y, D = [], [], -A / h
        found = _search(evaluate, W, current, A, D, record, m)
        trials += LINE_SEARCH_TRIES if found is None else found[3]
        if found is None and S:  # drop the memory, try the preconditioned gradient
            S, Y = [], []
            found = _search(evaluate, W, current, A, -A / h, record, m)
            trials += LINE_SEARCH_TRIES if found is None else found[3]
        if found is None:  # at the floating-point floor of J
            break
        W, current, E, _ = found
        A_new, h = tangent_gradient(current, W)
        y = A_new - A
        if float(np.vdot(E, y)) > 0.0:  # a pair with curvature information
            S.append(E)
            Y.append(y)
            del S[:-MEMORY], Y[:-MEMORY]
        A = A_new
        steps += 1
    k = W.shape[0]
    memory = {"s": np.array(S).reshape(-1, k, k), "y": np.array(Y).reshape(-1, k, k)}
    return W, current, memory, steps, trials
