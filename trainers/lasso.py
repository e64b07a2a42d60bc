r"""Exact L1 (lasso) codes for a batch of examples: :func:`lasso_fista`.

Solves ``min_s ½‖A s_j − x_j‖² + α‖s_j‖₁`` for every column ``j`` at once by proximal FISTA (soft
thresholding) on the Gram form: one ``k × k × b`` GEMM per iteration, a momentum and an adaptive
restart per column, and an optional stop on the relative change of the codes. Unlike the smooth
solvers of :mod:`trainers.solvers` (which re-exports this module's names) it handles the
non-smooth penalty exactly. :class:`~sparselearn.trainers.OnlineDictionaryLearning` uses it for
its codes and its ``transform``.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["LassoResult", "lasso_fista"]


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
