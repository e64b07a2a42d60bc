"""Scores against ground truth: Amari distance (ICA) and dictionary recovery (sparse coding)."""

from __future__ import annotations

import numpy as np

__all__ = ["amari_distance", "dictionary_recovery"]


def _matrix(a: object, name: str) -> np.ndarray:
    arr = np.asarray(a, dtype=np.float64)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array, got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return arr


def amari_distance(unmixing: np.ndarray, mixing: np.ndarray) -> float:
    r"""Amari distance between an unmixing estimate and the true mixing, in ``[0, 1]``.

    With :math:`P = W A` (``k × k``) and :math:`p_{ij} = |P_{ij}|`,

    .. math::

        d(W, A) = \frac{1}{2k(k-1)} \Big[ \sum_i \Big(\frac{\sum_j p_{ij}}{\max_j p_{ij}} - 1\Big)
                  + \sum_j \Big(\frac{\sum_i p_{ij}}{\max_i p_{ij}} - 1\Big) \Big]

    (Amari, Cichocki & Yang 1996, normalised). It is 0 exactly when ``P`` is a scaled
    permutation (``W`` inverts ``A`` up to order and scale of the sources) and 1 when every row
    and column of ``P`` has entries of equal magnitude; a random Gaussian ``P`` scores about
    0.45 (k = 2) falling to about 0.3 (k = 64). A zero row or column counts as the worst case.

    Parameters
    ----------
    unmixing : ndarray (k, p)
        Estimated unmixing matrix ``W`` (one filter per row).
    mixing : ndarray (p, k)
        True mixing matrix ``A``.

    Returns
    -------
    float
    """
    W = _matrix(unmixing, "unmixing")
    A = _matrix(mixing, "mixing")
    if W.shape[1] != A.shape[0] or W.shape[0] != A.shape[1]:
        raise ValueError(
            f"unmixing (k × p) and mixing (p × k) must chain to a square k × k product, "
            f"got unmixing {W.shape} and mixing {A.shape}"
        )
    P = np.abs(W @ A)
    k = P.shape[0]
    if k == 1:
        return 0.0 if P[0, 0] > 0 else 1.0

    def terms(M: np.ndarray) -> float:
        top = M.max(axis=1)
        safe = np.where(top > 0, top, 1.0)
        return float(np.where(top > 0, M.sum(axis=1) / safe - 1.0, k - 1.0).sum())

    return (terms(P) + terms(P.T)) / (2.0 * k * (k - 1))


def dictionary_recovery(
    true: np.ndarray,
    learned: np.ndarray,
    threshold: float = 0.95,
    return_cosines: bool = False,
) -> float | tuple[float, np.ndarray]:
    """Fraction of true atoms whose best match among the learned atoms has ``|cos| >= threshold``.

    Atoms are **columns** of both matrices (``n × k_true`` and ``n × k_learned``, the
    sparse-coding convention of ``A``); the sign and scale of an atom do not matter. For a
    trainer's ``components_`` (atoms as rows) pass ``components_.T``. A zero column matches
    nothing.

    Parameters
    ----------
    true : ndarray (n, k_true)
    learned : ndarray (n, k_learned)
    threshold : float
        In ``(0, 1]``.
    return_cosines : bool
        Also return, for each true atom, its best ``|cos|``.

    Returns
    -------
    float (and ndarray (k_true,) when ``return_cosines``)
    """
    T = _matrix(true, "true")
    L = _matrix(learned, "learned")
    if T.shape[0] != L.shape[0]:
        raise ValueError(
            f"true and learned atoms (columns) must have the same length, got true {T.shape} "
            f"and learned {L.shape}"
        )
    if not 0 < threshold <= 1:
        raise ValueError(f"threshold must lie in (0, 1], got {threshold!r}")

    def unit(M: np.ndarray) -> np.ndarray:
        norms = np.linalg.norm(M, axis=0)
        return M / np.where(norms > 0, norms, 1.0)[None, :]

    best = np.abs(unit(T).T @ unit(L)).max(axis=1)
    score = float(np.mean(best >= threshold))
    return (score, best) if return_cosines else score
