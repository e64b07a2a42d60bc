r"""Numeric steps of sparse coding: per-column FISTA, the encoding residual, the A-step solve
and the scale step.

The scale step (:func:`balance_scales`) removes the scale feedback of the alternating scheme.
``J(A, s)`` is unchanged in its reconstruction when atom ``i`` is multiplied by ``t_i`` and its
codes divided by ``t_i``; only ``α F(s) + γ‖A‖²`` moves. An s-step that stops short of its
minimum (its fixed step ``1/L`` is tied to the penalty's curvature ``1/√ε`` at zero, so it
moves codes slowly when ``α/√ε`` is large) leaves codes that are too large; the closed-form
A-step answers with smaller atoms, whose warm-started codes ``a_iᵀx/‖a_i‖²`` are larger still:
measured on the topographic config with α = 1e-3, ‖A‖² falls by about half per outer iteration
(``weight_decay`` 126 → 1.2e-11 in 50) while the s-step's objective stays 5× above the batch's
optimum. Balancing the scales after the A-step moves the atoms back to the norms at which
``α F`` and ``γ‖A‖²`` are in equilibrium and never raises ``J``.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import scipy.linalg

from .solvers import accelerated_gradient

__all__ = ["IllConditionedWarning", "balance_scales", "column_fista", "mean_squared_residual",
           "projection_codes", "solve_right", "sphere_sweep", "update_basis"]


class IllConditionedWarning(UserWarning):
    """The A-step's linear system is ill-conditioned; its atoms are unreliable."""


def column_fista(
    fun: Any, s0: np.ndarray, lipschitz: float, max_iter: int
) -> np.ndarray:
    """:func:`trainers.solvers.accelerated_gradient` with the restart decided per column.

    Each code column has its own problem, so its iterates must not depend on the other columns
    (the shared restart of the training s-step makes them do): solving the columns in blocks
    then gives the codes of a whole-batch solve. Returns the last ``x``.
    """
    return accelerated_gradient(fun, s0, lipschitz, max_iter, per_column=True).x


def projection_codes(A: np.ndarray, x: np.ndarray) -> np.ndarray:
    """``s = Aᵀx`` with row ``i`` scaled by ``1/‖a_i‖²`` (each atom's least-squares code)."""
    norms = np.einsum("ij,ij->j", A, A)
    norms[norms == 0] = 1.0
    return (A.T @ x) / norms[:, None]


def mean_squared_residual(A: np.ndarray, s: np.ndarray, x: np.ndarray) -> float:
    """Mean over examples of ``‖A s_j − x_j‖²``."""
    R = A @ s
    R -= x
    return float(np.einsum("ij,ij->", R, R)) / x.shape[1]


def solve_right(cross: np.ndarray, gram: np.ndarray) -> np.ndarray:
    """``cross @ inv(gram)`` for symmetric positive definite ``gram`` (Cholesky).

    scipy's ``LinAlgWarning`` (reciprocal condition number below the machine epsilon) is
    re-raised as :class:`IllConditionedWarning` carrying the condition estimate; callers say
    what to change.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", scipy.linalg.LinAlgWarning)
        try:
            out = scipy.linalg.solve(gram, cross.T, assume_a="pos", check_finite=False).T
        except (np.linalg.LinAlgError, scipy.linalg.LinAlgError):
            out = scipy.linalg.lstsq(gram, cross.T, check_finite=False)[0].T
    for record in caught:
        if issubclass(record.category, scipy.linalg.LinAlgWarning):
            warnings.warn(IllConditionedWarning(str(record.message)), stacklevel=2)
        else:
            warnings.warn_explicit(record.message, record.category, record.filename,
                                   record.lineno)
    return out


def balance_scales(A: np.ndarray, s: np.ndarray, sparsity: Any, alpha: float, gamma: float,
                   rounds: int = 2, halvings: int = 6) -> tuple[np.ndarray, np.ndarray]:
    r"""Scale step: ``a_i ← t_i a_i``, ``s_i ← s_i / t_i`` lowering ``α F(s) + γ‖A‖²``.

    ``As`` is unchanged, so ``J`` changes only in its sparsity and weight decay. With the
    pressures ``p_i = α ⟨s_i, ∂F/∂s_i⟩`` (what shrinking the codes of atom ``i`` saves) and
    ``q_i = 2γ‖a_i‖²`` (what growing the atom costs), ``t_i = (p_i/q_i)^{1/3}`` is the exact
    minimiser for a penalty homogeneous of degree one in the codes (the L1 regime of the
    smoothed penalty, ``|s| ≫ √ε``). For any penalty the step is accepted only when it lowers
    ``α F + γ‖A‖²``, else the exponent is halved (``halvings`` times, then the round is
    dropped), so ``J`` never rises; ``rounds`` rounds are made. Atoms with no codes or zero
    norm keep their scale.

    Parameters
    ----------
    A : ndarray of shape (n, k)
    s : ndarray of shape (k, b)
        Codes with ``A`` (e.g. right after the A-step).
    sparsity : Term
        The unweighted sparsity term ``F`` on the variable ``"s"``.
    alpha, gamma : float
        Weights of ``F`` and of ``‖A‖_F²``.

    Returns
    -------
    (A, s)
        Rescaled copies (the inputs when nothing was accepted).
    """
    if alpha <= 0.0 or gamma <= 0.0:
        return A, s
    rho2 = np.einsum("ij,ij->j", A, A, dtype=np.float64)
    for _ in range(int(rounds)):
        value, grad = sparsity.value_and_grad({"s": s}, "s")
        before = alpha * value + gamma * float(rho2.sum())
        push = alpha * np.einsum("ij,ij->i", s, grad, dtype=np.float64)
        pull = 2.0 * gamma * rho2
        active = (push > 0.0) & (pull > 0.0)
        log_ratio = np.zeros_like(rho2)
        log_ratio[active] = np.log(push[active] / pull[active]) / 3.0
        if not np.isfinite(log_ratio).all() or np.abs(log_ratio).max() < 1e-6:
            break
        for _ in range(int(halvings) + 1):
            t = np.exp(log_ratio)
            s_t = s / t[:, None].astype(s.dtype)
            after = alpha * sparsity.value({"s": s_t}) + gamma * float((rho2 * t * t).sum())
            if after < before:
                break
            log_ratio *= 0.5
        else:
            break
        A = A * t.astype(A.dtype)
        s = s_t
        rho2 = rho2 * t * t
    return A, s


def sphere_sweep(A: np.ndarray, gram: np.ndarray, cross: np.ndarray) -> np.ndarray:
    """One sweep of exact block-coordinate descent of ``‖As − x‖²`` over unit-norm atoms.

    With the codes fixed (``gram = s sᵀ``, ``cross = x sᵀ``), atom ``i`` is replaced by the
    unit vector along ``cross_i − Σ_{j≠i} a_j gram_ji``, the exact minimiser over the sphere
    (the residual without atom ``i``, correlated with its codes); an atom with no such
    direction is kept. Never raises the reconstruction; the codes keep their scale.
    """
    A = np.array(A, dtype=np.float64, order="F", copy=True)
    gram = np.asarray(gram, dtype=np.float64)
    cross = np.asarray(cross, dtype=np.float64)
    for i in range(A.shape[1]):
        r = cross[:, i] - A @ gram[:, i] + A[:, i] * gram[i, i]
        norm = float(np.linalg.norm(r))
        if norm > 0.0 and np.isfinite(norm):
            A[:, i] = r / norm
    return A


def update_basis(x: np.ndarray, s: np.ndarray, constraint: str, decay: float,
                 rng: np.random.Generator, A: np.ndarray | None = None,
                 score: Any = None) -> tuple[np.ndarray, np.ndarray]:
    """Closed-form A-step; returns the new ``A`` and the (possibly rescaled) codes.

    ``constraint="weight_decay"``: ``A = x sᵀ (s sᵀ + decay·I)⁻¹`` with ``decay = γ b`` (J's
    reconstruction is divided by the fit's b; a ``partial_fit`` batch may differ), the exact
    minimiser of J over A.
    ``"unit_norm"``: least squares (MOD) with a tiny ridge, columns rescaled to unit norm with
    the inverse scale moved into the codes. Moving the scale into the codes keeps ``As`` but
    not the sparsity: an atom whose codes are nearly zero gets a huge least-squares column and
    then huge codes (measured: J 6e3 → 3e4 on a 16-atom topographic problem at α = 1e-2). So
    when the current atoms ``A`` and ``score(A, s) -> J`` are given, one :func:`sphere_sweep`
    from ``A`` (codes unchanged) is the other candidate and the one with the lower ``J`` is
    taken: since the sweep never raises ``J`` above its value with the unit-norm atoms before
    the step, neither does the choice. Unused atoms are then re-seeded from the batch
    (``rng``).
    """
    k, b = s.shape
    gram = s @ s.T
    cross = x @ s.T
    if constraint == "weight_decay":
        gram[np.diag_indices(k)] += decay
        A = solve_right(cross, gram)
        return A, s
    usage = np.sqrt(np.einsum("ij,ij->i", s, s))
    sphere = None if A is None or score is None else sphere_sweep(A, gram, cross)
    # unit norm: least squares (MOD) with a tiny ridge for rank safety, then renormalise
    ridge = 1e-10 * max(float(np.trace(gram)) / k, np.finfo(x.dtype).tiny)
    gram[np.diag_indices(k)] += ridge
    A = solve_right(cross, gram)
    norms = np.linalg.norm(A, axis=0)
    dead = (norms <= 1e-12 * max(norms.max(), 1e-300)) | (
        usage <= 1e-6 * max(usage.max(), 1e-300)
    )
    safe = np.where(dead, 1.0, norms)
    A = A / safe
    s_mod = s * safe[:, None].astype(s.dtype)
    if sphere is not None:
        sphere = sphere.astype(x.dtype)
        if score(sphere, s) < score(A.astype(x.dtype, copy=False), s_mod):
            A, s_mod = sphere, s.copy()
    s = s_mod
    if dead.any():
        count = int(dead.sum())
        # distinct examples where the batch has enough (a small partial_fit batch may not)
        picks = rng.choice(b, size=count, replace=count > b)
        fresh = x[:, picks]
        fresh_norms = np.linalg.norm(fresh, axis=0)
        fresh_norms[fresh_norms == 0] = 1.0
        A[:, dead] = fresh / fresh_norms
        s[dead] = 0
    return np.ascontiguousarray(A, dtype=x.dtype), s
