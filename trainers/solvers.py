r"""Block solvers: L-BFGS, nonlinear CG, accelerated gradient, projected gradient.

Every solver minimises a smooth function given as ``fun(x) -> (value, grad)`` with ``grad`` of
the shape and dtype of ``x``, runs a **fixed budget** of iterations (so that an outer iteration
of a trainer is a deterministic chunk and checkpoints fall on its boundaries) and returns a
:class:`SolverResult`. Closed-form blocks need no solver; they live with their trainer.

Which solver for the sparse-coding s-step
-----------------------------------------
The s-step of UFLDL sparse coding has ``k × m = 121 × 2000 = 242,000`` variables. One objective
evaluation with the bound term ``Reconstruction.fixed_basis(A, x)`` costs one ``121 × 121 × 2000``
GEMM plus a few element-wise passes (≈ 1.5 ms on one core of the development machine), so any
per-iteration bookkeeping that touches the 242,000-vector more than a few times dominates.
Measured on that problem (random unit-norm ``A`` 64 × 121, ``x`` whitened natural patches
64 × 2000, α = 5e-5, ε = 1e-5, 100 iterations; ``benchmarks/trainer_overhead.py``, run on the
2 shared cores of the development machine at a load average of about 7, so absolute times are
inflated, ratios are what matters):

=====================================  ==========  ============  =============  ===========
solver                                  wall (s)    in objective  overhead/iter  J − J*
=====================================  ==========  ============  =============  ===========
scipy L-BFGS-B (``jac=True``)           59.4        19.8 %        477 ms         2.1e-2
scipy CG                                18.3        65.3 %        63 ms          4.0e-2
:func:`accelerated_gradient`, 100 it    1.09        79.9 %        2.2 ms         8.8e-2
:func:`accelerated_gradient`, 200 it    2.68        80.3 %        2.6 ms         1.3e-2
=====================================  ==========  ============  =============  ===========

(An earlier run on a quieter machine with a plain numpy kernel: L-BFGS-B 4.18 s, 22 % in the
objective, 32 ms overhead per iteration; CG 2.03 s, 58 %; FISTA 0.17 s, 82 %.)

FISTA needs about twice the iterations of L-BFGS-B for the same accuracy but each costs
1/20 to 1/50 of the wall time, so it reaches a given accuracy ten to twenty times sooner, and
about 80 % of its time is inside the objective. It is the default s-step solver
(``s_solver="accelerated"``); ``"lbfgs"`` and ``"cg"`` remain available.
L-BFGS stays the default for RICA, whose variable count ``k × n`` is small and whose evaluation
(a ``k × n × m`` GEMM) is large, so scipy's overhead is negligible there.

Exact L1 (lasso) codes
----------------------
:func:`lasso_fista` is not one of the smooth solvers above: it solves a batch of lassos
``½‖A s_j − x_j‖² + α‖s_j‖₁`` by proximal FISTA (soft thresholding) on the Gram form, one
``k × k × b`` GEMM per iteration, with a momentum and an adaptive restart per column and an
optional stop on the relative change of the codes.
:class:`~sparselearn.trainers.OnlineDictionaryLearning` uses it for its codes and its ``transform``.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.optimize

__all__ = [
    "LassoResult",
    "Objective",
    "SolverResult",
    "accelerated_gradient",
    "lasso_fista",
    "lbfgs",
    "nonlinear_cg",
    "projected_gradient",
]

Objective = Callable[[np.ndarray], tuple[float, np.ndarray]]


@dataclass
class SolverResult:
    """Outcome of one solver run.

    Attributes
    ----------
    x : ndarray
        Final iterate, same shape and dtype as the start.
    value : float
        Objective at ``x`` where the solver knows it, else at the last evaluated point.
    n_iter, n_eval : int
        Iterations done and objective evaluations used.
    step_size : float
        Final step size (NaN for solvers without one).
    message : str
        Why the run ended.
    """

    x: np.ndarray
    value: float
    n_iter: int
    n_eval: int
    step_size: float = float("nan")
    message: str = ""


def _flat_objective(fun: Objective, shape: tuple[int, ...], dtype: np.dtype) -> Callable:
    """Adapt ``fun`` on shaped arrays of ``dtype`` to scipy's flat float64 interface."""

    def flat(z: np.ndarray) -> tuple[float, np.ndarray]:
        value, grad = fun(z.reshape(shape).astype(dtype, copy=False))
        return float(value), np.asarray(grad, dtype=np.float64).ravel()

    return flat


def _scipy(
    method: str, fun: Objective, x0: np.ndarray, max_iter: int, options: dict
) -> SolverResult:
    res = scipy.optimize.minimize(
        _flat_objective(fun, x0.shape, x0.dtype),
        x0.astype(np.float64).ravel(),
        jac=True,
        method=method,
        options={"maxiter": int(max_iter), **options},
    )
    x = res.x.reshape(x0.shape).astype(x0.dtype, copy=False)
    return SolverResult(x, float(res.fun), int(res.nit), int(res.nfev), message=str(res.message))


def lbfgs(
    fun: Objective, x0: np.ndarray, max_iter: int, memory: int = 10, gtol: float = 1e-10
) -> SolverResult:
    """L-BFGS through ``scipy.optimize.minimize(method="L-BFGS-B", jac=True)``.

    scipy works in float64; ``fun`` still receives arrays of ``x0``'s dtype and the result is
    cast back. ``ftol`` is 0 so a run stops only on ``max_iter``, ``gtol`` or a failed line
    search, which keeps the chunk deterministic.
    """
    return _scipy("L-BFGS-B", fun, x0, max_iter,
                  {"maxcor": int(memory), "gtol": float(gtol), "ftol": 0.0})


def nonlinear_cg(
    fun: Objective, x0: np.ndarray, max_iter: int, gtol: float = 1e-10
) -> SolverResult:
    """Polak–Ribière nonlinear CG through ``scipy.optimize.minimize(method="CG")``."""
    return _scipy("CG", fun, x0, max_iter, {"gtol": float(gtol)})


def accelerated_gradient(
    fun: Objective, x0: np.ndarray, lipschitz: float, max_iter: int, restart: bool = True,
    per_column: bool = False,
) -> SolverResult:
    r"""Nesterov/FISTA accelerated gradient with a fixed step ``1/L`` and adaptive restart.

    .. math::
        x_{t+1} = y_t - \nabla f(y_t)/L,\quad
        \tau_{t+1} = \tfrac{1 + \sqrt{1 + 4\tau_t^2}}{2},\quad
        y_{t+1} = x_{t+1} + \tfrac{\tau_t - 1}{\tau_{t+1}} (x_{t+1} - x_t)

    with the gradient restart of O'Donoghue & Candès (``τ ← 1`` when
    ``⟨∇f(y_t), x_{t+1} − x_t⟩ > 0``). ``L`` must bound the Lipschitz constant of ``∇f``; the
    trainers compute it from ``AᵀA`` and the sparsity term's curvature bound. One objective
    evaluation per iteration and three vector updates: all the time goes into ``fun``.

    With ``per_column=True`` (a 2-D ``x0`` whose objective is a sum of per-column terms, like
    the s-step's) every column keeps its own momentum ``τ_j`` and restarts on its own test
    ``⟨∇f(y)_j, x⁺_j − x_j⟩ > 0``, so a column's iterates do not depend on the other columns:
    solving the columns in blocks gives the codes of a whole-batch solve.

    Returns the last ``x``; ``value`` is the objective at the last evaluated point ``y``.
    """
    if not (np.isfinite(lipschitz) and lipschitz > 0):
        raise ValueError(
            f"accelerated_gradient: lipschitz must be a positive float; got {lipschitz!r}"
        )
    step = x0.dtype.type(-1.0 / lipschitz)
    x = x0.copy()
    y = x0.copy()
    x_new = np.empty_like(x0)
    delta = np.empty_like(x0)
    tau = np.ones(x0.shape[1]) if per_column else 1.0
    value = float("nan")
    for _ in range(int(max_iter)):
        value, grad = fun(y)
        np.multiply(grad, step, out=x_new)  # x_new = y − ∇f(y)/L, in preallocated buffers
        x_new += y
        np.subtract(x_new, x, out=delta)
        if per_column:
            if restart:
                tau[np.einsum("ij,ij->j", grad, delta) > 0.0] = 1.0
        elif restart and float(np.vdot(grad, delta)) > 0.0:
            tau = 1.0
        tau_new = 0.5 * (1.0 + np.sqrt(1.0 + 4.0 * tau * tau))
        momentum = (tau - 1.0) / tau_new
        momentum = momentum.astype(x0.dtype) if per_column else x0.dtype.type(momentum)
        np.multiply(delta, momentum, out=y)
        y += x_new
        x, x_new, tau = x_new, x, tau_new
    return SolverResult(x, float(value), int(max_iter), int(max_iter), float(-step), "max_iter")


def projected_gradient(
    fun: Objective,
    x0: np.ndarray,
    project: Callable[[np.ndarray], np.ndarray],
    step_size: float,
    max_iter: int,
    shrink: float = 0.5,
    grow: float = 2.0,
    sigma: float = 1e-4,
    max_backtracks: int = 40,
    start: tuple[float, np.ndarray] | None = None,
) -> SolverResult:
    r"""Projected gradient with an Armijo backtracking line search along the projection arc.

    Each iteration tries ``x⁺ = P(x − α∇f(x))`` and accepts it when

    .. math:: f(x^+) \le f(x) + \sigma \langle \nabla f(x), x^+ - x \rangle ,

    otherwise shrinks ``α ← shrink·α`` and tries again (Bertsekas' rule). After an accepted step
    the next iteration starts from ``grow·α``, so the step follows the local curvature in both
    directions (the UFLDL exercise's line search never shrinks).

    Parameters
    ----------
    fun : callable
        ``x -> (value, grad)``.
    x0 : ndarray
        Start, assumed feasible (``P(x0) = x0``).
    project : callable
        Projection onto the feasible set.
    step_size : float
        First trial step.
    max_iter : int
        Accepted steps to take.
    start : (value, grad), optional
        ``fun(x0)`` if the caller has it already.

    Returns
    -------
    SolverResult
        ``step_size`` is the last accepted step; ``message`` says ``"line search failed"`` when
        no step within ``max_backtracks`` shrinks gave sufficient decrease (``x`` is then the last
        accepted iterate).
    """
    x = x0
    value, grad = start if start is not None else fun(x)
    n_eval = 0 if start is not None else 1
    alpha = float(step_size)
    accepted = alpha
    message = "max_iter"
    n_iter = 0
    for _ in range(int(max_iter)):
        for _ in range(int(max_backtracks)):
            x_new = project(x - x.dtype.type(alpha) * grad)
            value_new, grad_new = fun(x_new)
            n_eval += 1
            decrease = float(np.vdot(grad, x_new - x))
            if np.isfinite(value_new) and value_new <= value + sigma * decrease:
                break
            alpha *= shrink
        else:
            message = "line search failed"
            break
        x, value, grad = x_new, value_new, grad_new
        accepted = alpha
        alpha *= grow
        n_iter += 1
    return SolverResult(x, float(value), n_iter, n_eval, float(accepted), message)


@dataclass
class LassoResult:
    """Outcome of :func:`lasso_fista`.

    Attributes
    ----------
    s : ndarray of shape (k, b)
        Codes, one column per example, in the dtype of ``Atx``.
    n_iter : int
        Iterations done.
    step_size : float
        The step ``1/L``.
    change : float
        Relative change ``‖s_t − s_{t−1}‖_F / ‖s_t‖_F`` at the last convergence check (NaN if
        none was made).
    converged : bool
        Whether the run stopped on ``tol``.
    """

    s: np.ndarray
    n_iter: int
    step_size: float
    change: float = float("nan")
    converged: bool = False


def lasso_fista(
    G: np.ndarray,
    Atx: np.ndarray,
    alpha: float,
    max_iter: int,
    tol: float = 0.0,
    s0: np.ndarray | None = None,
    lipschitz: float | None = None,
    check_every: int = 5,
    restart: bool = True,
) -> LassoResult:
    r"""FISTA for a batch of lassos ``min_s ½‖A s_j − x_j‖² + α‖s_j‖₁``, all columns at once.

    Works on the Gram form only: with ``G = AᵀA`` (``k × k``) and ``Aᵀx`` (``k × b``) the
    smooth part has gradient ``G s − Aᵀx``, so an iteration is one ``k × k × b`` GEMM (against
    the precomputed ``M = I − G/L``) plus a few element-wise passes:

    .. math::
        s_{t+1} = \operatorname{soft}_{\alpha/L}\bigl(M y_t + A^\top x / L\bigr),\qquad
        y_{t+1} = s_{t+1} + \tfrac{\tau_t - 1}{\tau_{t+1}}(s_{t+1} - s_t)

    with a momentum ``τ`` per column and the gradient-restart test of O'Donoghue & Candès
    applied per column (``τ_j ← 1`` when ``⟨y_j − s_{t+1,j}, s_{t+1,j} − s_{t,j}⟩ > 0``).

    Parameters
    ----------
    G : ndarray of shape (k, k)
        ``AᵀA``.
    Atx : ndarray of shape (k, b)
        ``Aᵀx``; sets the dtype of the work and of the result.
    alpha : float
        L1 weight, ≥ 0.
    max_iter : int
        Most iterations.
    tol : float
        Stop when, at a check (every ``check_every`` iterations), the relative change
        ``‖s_t − s_{t−1}‖_F / ‖s_t‖_F`` is at most ``tol``; 0 runs all ``max_iter``.
    s0 : ndarray of shape (k, b), optional
        Warm start (default: zeros).
    lipschitz : float, optional
        ``L ≥ λ_max(G)`` (default: computed).
    check_every : int
        Iterations between convergence checks.
    restart : bool
        Per-column adaptive restart.

    Returns
    -------
    LassoResult
    """
    Atx = np.asarray(Atx)
    if Atx.ndim != 2:
        raise ValueError(f"lasso_fista: Atx must be a 2-D array (k, b); got shape {Atx.shape}")
    dtype = Atx.dtype
    k, b = Atx.shape
    G = np.asarray(G)
    if G.shape != (k, k):
        raise ValueError(f"lasso_fista: G must have shape {(k, k)}; got {G.shape}")
    alpha = _nonnegative_number("alpha", alpha)
    tol = _nonnegative_number("tol", tol)
    max_iter = _integer_at_least("max_iter", max_iter, 0)
    check_every = _integer_at_least("check_every", check_every, 1)
    if s0 is not None and np.shape(s0) != (k, b):
        raise ValueError(
            f"lasso_fista: s0 must have the shape of Atx, {(k, b)}; got {np.shape(s0)}"
        )
    if lipschitz is None:
        lipschitz = float(np.linalg.eigvalsh(np.asarray(G, dtype=np.float64))[-1])
    if not (np.isfinite(lipschitz) and lipschitz > 0):
        return LassoResult(np.zeros((k, b), dtype=dtype), 0, float("nan"))
    step = 1.0 / lipschitz
    M = np.eye(k, dtype=dtype) - G.astype(dtype, copy=False) * dtype.type(step)
    c = Atx * dtype.type(step)
    threshold = dtype.type(alpha * step)
    s = np.zeros((k, b), dtype=dtype) if s0 is None else np.array(s0, dtype=dtype, order="C")
    y = s.copy()
    z = np.empty_like(s)
    clip = np.empty_like(s)
    delta = np.empty_like(s)
    tau = np.ones(b, dtype=dtype)
    change = float("nan")
    converged = False
    n_iter = 0
    for n_iter in range(1, max_iter + 1):
        np.matmul(M, y, out=z)
        z += c
        np.clip(z, -threshold, threshold, out=clip)
        z -= clip  # z = soft(z): the new s
        np.subtract(z, s, out=delta)
        if restart:
            np.subtract(y, z, out=clip)
            clip *= delta
            tau[clip.sum(axis=0) > 0] = 1.0
        tau_new = 0.5 * (1.0 + np.sqrt(1.0 + 4.0 * tau * tau))
        np.multiply(delta, (tau - 1.0) / tau_new, out=y)
        y += z
        s, z, tau = z, s, tau_new
        if tol > 0 and n_iter % check_every == 0:
            norm = float(np.linalg.norm(s))
            change = float(np.linalg.norm(delta)) / norm if norm > 0 else 0.0
            if change <= tol:
                converged = True
                break
    return LassoResult(s, n_iter, step, change, converged)


def _nonnegative_number(name: str, value: Any) -> float:
    """``value`` as a float if it is a finite real number ≥ 0; else a ValueError naming it."""
    ok = isinstance(value, (numbers.Real, np.floating, np.integer)) and not isinstance(
        value, (bool, np.bool_))
    if not ok or not np.isfinite(value) or value < 0:
        raise ValueError(
            f"lasso_fista: {name} must be a finite non-negative number; got {value!r}"
        )
    return float(value)


def _integer_at_least(name: str, value: Any, low: int) -> int:
    """``value`` as an int if it is an integer ≥ ``low``; else a ValueError naming it."""
    ok = isinstance(value, (numbers.Integral, np.integer)) and not isinstance(
        value, (bool, np.bool_))
    if not ok or value < low:
        raise ValueError(f"lasso_fista: {name} must be an integer >= {low}; got {value!r}")
    return int(value)
