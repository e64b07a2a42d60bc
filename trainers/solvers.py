r"""Block solvers: L-BFGS, nonlinear CG, accelerated gradient, projected gradient.

Every solver minimises a smooth function given as ``fun(x) -> (value, grad)`` with ``grad`` of
the shape and dtype of ``x``, runs a **fixed budget** of iterations (so that an outer iteration
of a trainer is a deterministic chunk and checkpoints fall on its boundaries) and returns a
:class:`SolverResult`. Closed-form blocks need no solver; they live with their trainer.

Which solver for which block
----------------------------
:func:`accelerated_gradient` (FISTA with a fixed step ``1/L`` and adaptive restart) is the
default s-step solver of sparse coding (``s_solver="accelerated"``; ``"lbfgs"`` and ``"cg"``
remain available): the s-step has ``k × m`` variables and a cheap evaluation, so per-iteration
bookkeeping on the ``k × m`` vector must stay small. L-BFGS stays the default for RICA, whose
variable count ``k × n`` is small and whose evaluation (a ``k × n × m`` GEMM) is large; RICA uses
the L-BFGS of :mod:`trainers.lbfgs`, whose memory survives outer iterations and checkpoints
(:func:`lbfgs` here starts every call with an empty memory). The
measurements behind both choices are in ``benchmarks/RESULTS.md`` ("Design measurements").

Exact L1 (lasso) codes
----------------------
:func:`lasso_fista` and :class:`LassoResult` live in :mod:`trainers.lasso` and are re-exported
here: a batch of lassos ``½‖A s_j − x_j‖² + α‖s_j‖₁`` by proximal FISTA on the Gram form, used by
:class:`~sparselearn.trainers.OnlineDictionaryLearning` for its codes and its ``transform``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.optimize

from .lasso import LassoResult, lasso_fista

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
    search, which keeps the chunk deterministic. Every call starts with an empty memory; for a
    run that continues across calls see :mod:`trainers.lbfgs`.
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
