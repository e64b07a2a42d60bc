r"""The steps of online dictionary learning (Mairal et al. 2010), as plain functions.

:class:`~sparselearn.trainers.OnlineDictionaryLearning` composes them; the maths:

- **codes** (:func:`lasso_codes`): the lassos ``min_s ½‖x − A s‖² + α‖s‖₁`` of a batch by
  :func:`trainers.lasso.lasso_fista` on ``G = AᵀA`` and ``Aᵀx``, warm-started at
  ``soft(Aᵀx, α)`` (the solution were the atoms orthonormal);
- **statistics** (:func:`update_statistics`, :func:`forget_weight`, :func:`total_weight`):
  ``𝐀 ← β𝐀 + s sᵀ/b`` and ``𝐁 ← β𝐁 + x sᵀ/b`` with ``β_t = (1 − 1/t)^ρ`` (``t`` the 1-based
  batch count), and their total weight ``w_t = β_t w_{t−1} + 1``;
- **atoms** (:func:`bcd_atoms`): block-coordinate sweeps on the surrogate
  ``½ tr(AᵀA 𝐀) − tr(Aᵀ𝐁)`` (:func:`surrogate`) over unit-ball atoms;
- **start** (:func:`initial_atoms`): random data columns or Gaussian noise, normalised (shared
  with :mod:`trainers.sparse_coding` through :mod:`trainers.minibatch`).
"""

from __future__ import annotations

import operator
from typing import Any

import numpy as np

from .columns import take_columns
from .divergence import NonFiniteObjective
from .lasso import LassoResult, lasso_fista

__all__ = [
    "bcd_atoms",
    "check_statistics",
    "forget_weight",
    "initial_atoms",
    "lasso_codes",
    "surrogate",
    "total_weight",
    "update_statistics",
]


def lasso_codes(A: np.ndarray, x: np.ndarray, alpha: float, max_iter: int,
                tol: float) -> LassoResult:
    """Lasso codes of the columns of ``x`` (n × b) for atoms ``A`` (n × k), FISTA on ``AᵀA``.

    ``L = λ_max(AᵀA)`` is computed in float64 from the smaller of ``AᵀA`` and ``AAᵀ``; raises
    :class:`NonFiniteObjective` when it is not finite (non-finite atoms).
    """
    G = A.T @ A
    small = A @ A.T if A.shape[0] < A.shape[1] else G
    lipschitz = float(np.linalg.eigvalsh(small.astype(np.float64))[-1])
    if not np.isfinite(lipschitz):
        raise NonFiniteObjective("the atoms are not finite")
    Atx = A.T @ x
    # warm start soft(Aᵀx, α): the exact solution were the atoms orthonormal (G = I)
    s0 = Atx - np.clip(Atx, -alpha, alpha)
    return lasso_fista(G, Atx, alpha, max_iter, tol=tol, lipschitz=lipschitz, s0=s0)


def forget_weight(t: int, rho: float) -> float:
    """Weight ``β = (t/(t+1))^ρ`` of the past statistics when adding batch ``t`` (0-based)."""
    return (t / (t + 1.0)) ** rho if t > 0 else 0.0


def total_weight(batches: int, rho: float) -> float:
    """Total weight ``w`` of the statistics after ``batches`` batches: ``w ← β w + 1``."""
    weight = 0.0
    for t in range(batches):
        weight = forget_weight(t, rho) * weight + 1.0
    return weight


def update_statistics(gram: np.ndarray, cross: np.ndarray, s: np.ndarray, batch: np.ndarray,
                      beta: float) -> tuple[np.ndarray, np.ndarray]:
    """``(β𝐀 + s sᵀ/b, β𝐁 + x sᵀ/b)`` as new arrays in the dtype of ``s`` (``b`` = batch size)."""
    beta = s.dtype.type(beta)
    scale = s.dtype.type(1.0 / batch.shape[1])
    gram = gram * beta
    gram += (s @ s.T) * scale
    cross = cross * beta
    cross += (batch @ s.T) * scale
    return gram, cross


def surrogate(A: np.ndarray, gram: np.ndarray, cross: np.ndarray) -> float:
    """``½ tr(AᵀA 𝐀) − tr(Aᵀ𝐁)``, the function the atom update minimises."""
    return 0.5 * float(np.einsum("ij,ij->", A.T @ A, gram)) - float(
        np.einsum("ij,ij->", A, cross))


def check_statistics(state: dict[str, Any], k: int, n: int, dtype: np.dtype, rho: float,
                     owner: str) -> None:
    """Validate the running statistics of a resume ``solver_state`` and normalise them in place.

    ``gram`` must be ``k × k`` and ``cross`` ``n × k`` (brought to ``dtype``, C-ordered),
    ``batches`` a non-negative integer, and ``weight`` finite, 0 after 0 batches and positive
    otherwise; a state without ``weight`` (written before it was kept) gets
    :func:`total_weight` of its batch count, which the recurrence rebuilds exactly.

    Raises
    ------
    ValueError
        Naming ``owner`` and the key that is missing or wrong, with what was found.
    """
    missing = {"gram", "cross", "batches"} - set(state)
    if missing:
        raise ValueError(f"{owner}: resume solver_state lacks {', '.join(sorted(missing))}")
    for key, shape in (("gram", (k, k)), ("cross", (n, k))):
        value = np.asarray(state[key], dtype=dtype)
        if value.shape != shape:
            raise ValueError(
                f"{owner}: resume solver_state {key!r} must have shape {shape}; "
                f"got {value.shape}"
            )
        state[key] = np.ascontiguousarray(value)
    try:
        batches = -1 if isinstance(state["batches"], bool) else operator.index(
            state["batches"])
    except TypeError:
        batches = -1
    if batches < 0:
        raise ValueError(
            f"{owner}: resume solver_state 'batches' must be a non-negative integer; "
            f"got {state['batches']!r}"
        )
    state["batches"] = batches
    if "weight" not in state:
        state["weight"] = total_weight(batches, rho)
    try:
        weight = float(state["weight"])
    except (TypeError, ValueError):
        weight = float("nan")
    if not np.isfinite(weight) or weight < 0 or (weight == 0) != (batches == 0):
        raise ValueError(
            f"{owner}: resume solver_state 'weight' must be a finite number, 0 after 0 "
            f"batches and positive otherwise; got {state['weight']!r} after {batches} "
            f"batches"
        )
    state["weight"] = weight


def bcd_atoms(
    A: np.ndarray, gram: np.ndarray, cross: np.ndarray, sweeps: int, batch: np.ndarray,
    rng: np.random.Generator,
) -> tuple[np.ndarray, int]:
    """Block-coordinate descent on ``½ tr(AᵀA 𝐀) − tr(Aᵀ𝐁)`` over unit-ball atoms.

    For ``j = 1..k``: ``u = a_j + (𝐁_j − A 𝐀_j)/𝐀_jj`` and ``a_j = u / max(‖u‖, 1)``, the exact
    minimiser over ``a_j`` on the unit ball. An atom with ``𝐀_jj ≤ 10⁻⁶·mean(diag 𝐀)`` (unused)
    is re-seeded in the first sweep with a random column of ``batch`` (drawn from ``rng``),
    normalised, and ``gram``/``cross`` are updated in place (its row and column of ``𝐀`` and its
    column of ``𝐁`` cleared). Returns the new ``A`` (``n × k``) and the number of re-seeded
    atoms.
    """
    k = A.shape[1]
    D = np.array(A.T, order="C")  # atoms as contiguous rows
    Bt = np.ascontiguousarray(cross.T)
    diag = np.diagonal(gram).copy()
    floor = 1e-6 * max(float(diag.mean()), float(np.finfo(A.dtype).tiny))
    replaced = 0
    one = A.dtype.type(1.0)
    for sweep in range(int(sweeps)):
        for j in range(k):
            d = diag[j]
            if d <= floor:
                if sweep == 0:
                    pick = batch[:, int(rng.integers(batch.shape[1]))]
                    norm = float(np.linalg.norm(pick))
                    D[j] = pick / norm if norm > 0 else rng.standard_normal(D.shape[1])
                    D[j] /= max(float(np.linalg.norm(D[j])), 1e-300)
                    gram[j, :] = 0
                    gram[:, j] = 0
                    cross[:, j] = 0
                    Bt[j] = 0
                    replaced += 1
                continue
            u = Bt[j] - gram[j] @ D
            u *= one / d
            u += D[j]
            norm = float(np.sqrt(u @ u))
            if norm > 1.0:
                u *= one / A.dtype.type(norm)
            D[j] = u
    return np.ascontiguousarray(D.T), replaced


def initial_atoms(x: np.ndarray, k: int, init: str, rng: np.random.Generator) -> np.ndarray:
    """``k`` unit-norm atoms (``n × k``): random data columns (``"data"``) or Gaussian noise."""
    n, m = x.shape
    if init == "data":
        count = min(k, m)
        A = np.empty((n, k), dtype=x.dtype)
        A[:, :count] = take_columns(x, rng.choice(m, size=count, replace=False))
        A[:, count:] = rng.standard_normal((n, k - count))
    else:
        A = rng.standard_normal((n, k)).astype(x.dtype)
    norms = np.linalg.norm(A, axis=0)
    norms[norms == 0] = 1.0
    return (A / norms).astype(x.dtype)
