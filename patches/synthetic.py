"""Synthetic data with known ground truth: ICA mixtures and sparse-coding data.

Both return data in the package convention (one example per column) together with the truth,
so tests and benchmarks can score a learner with :func:`patches.amari_distance` and
:func:`patches.dictionary_recovery`.
"""

from __future__ import annotations

import numbers

import numpy as np

from ._validation import check_float_dtype, check_positive_int, check_rng

__all__ = ["DISTRIBUTIONS", "ica_mixture", "random_orthogonal", "sparse_dictionary_data"]

#: Source distributions of :func:`ica_mixture`, all with zero mean and unit variance.
DISTRIBUTIONS: tuple[str, ...] = ("laplace", "student_t", "logistic", "bernoulli_gaussian",
                                  "uniform")


def random_orthogonal(rows: int, cols: int, rng: np.random.Generator) -> np.ndarray:
    """A ``rows × cols`` matrix with orthonormal columns (``rows >= cols``), Haar-distributed."""
    q, r = np.linalg.qr(rng.standard_normal((rows, cols)))
    signs = np.sign(np.diag(r))
    signs[signs == 0] = 1
    return q * signs[None, :]


def _sources(distribution: str, shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    if distribution == "laplace":
        return rng.laplace(0.0, 1 / np.sqrt(2), size=shape)
    if distribution == "student_t":  # 5 degrees of freedom: variance 5/3
        return rng.standard_t(5, size=shape) * np.sqrt(3 / 5)
    if distribution == "logistic":
        return rng.logistic(0.0, np.sqrt(3) / np.pi, size=shape)
    if distribution == "bernoulli_gaussian":  # active 10 % of the time
        p = 0.1
        return (rng.random(shape) < p) * rng.standard_normal(shape) / np.sqrt(p)
    if distribution == "uniform":  # sub-Gaussian, for contrast
        return rng.uniform(-np.sqrt(3), np.sqrt(3), size=shape)
    raise ValueError(f"distribution must be one of {list(DISTRIBUTIONS)}, got {distribution!r}")


def ica_mixture(
    n_sources: int,
    n_samples: int,
    rng: np.random.Generator,
    *,
    condition: float = 10.0,
    distribution: str = "laplace",
    n_mixtures: int | None = None,
    dtype: type | np.dtype = np.float64,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Independent sources mixed by a random matrix of chosen condition number.

    ``x = mixing @ sources`` with ``sources`` (``k × m``) i.i.d. from ``distribution`` (zero
    mean, unit variance) and ``mixing = U diag(σ) Vᵀ``, ``U``, ``V`` Haar-random orthogonal and
    ``σ`` geometrically spaced from 1 down to ``1/condition``.

    Parameters
    ----------
    n_sources : int
        ``k``.
    n_samples : int
        ``m``.
    rng : numpy.random.Generator
    condition : float
        2-norm condition number of ``mixing`` (>= 1; 1 gives an orthogonal mixing).
    distribution : str
        ``"laplace"`` (default), ``"student_t"`` (5 d.o.f.), ``"logistic"``,
        ``"bernoulli_gaussian"`` (super-Gaussian, 10 % active) or ``"uniform"`` (sub-Gaussian).
    n_mixtures : int, optional
        Number of observed signals ``p >= k`` (default ``k``).
    dtype : float64 or float32

    Returns
    -------
    x : ndarray (p, m)
        Observed mixtures, one sample per column.
    sources : ndarray (k, m)
    mixing : ndarray (p, k)
        The true mixing matrix; an exact unmixing is ``pinv(mixing)``.
    """
    k = check_positive_int(n_sources, "n_sources")
    m = check_positive_int(n_samples, "n_samples")
    rng = check_rng(rng)
    dtype = check_float_dtype(dtype)
    p = k if n_mixtures is None else check_positive_int(n_mixtures, "n_mixtures")
    if p < k:
        raise ValueError(f"n_mixtures ({p}) must be at least n_sources ({k})")
    if (
        isinstance(condition, bool)
        or not isinstance(condition, numbers.Real)
        or not np.isfinite(condition)
        or condition < 1
    ):
        raise ValueError(f"condition must be a finite number >= 1, got {condition!r}")
    if distribution not in DISTRIBUTIONS:
        raise ValueError(
            f"distribution must be one of {list(DISTRIBUTIONS)}, got {distribution!r}"
        )
    sources = _sources(distribution, (k, m), rng)
    U = random_orthogonal(p, k, rng)
    V = random_orthogonal(k, k, rng)
    sigma = float(condition) ** (-np.arange(k) / max(k - 1, 1))
    mixing = (U * sigma[None, :]) @ V.T
    x = mixing @ sources
    return x.astype(dtype, copy=False), sources.astype(dtype, copy=False), mixing.astype(dtype)


def sparse_dictionary_data(
    n: int,
    k: int,
    n_samples: int,
    rng: np.random.Generator,
    *,
    activity: float | int = 0.1,
    noise: float = 0.0,
    dtype: type | np.dtype = np.float64,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Data ``x = D s + noise`` from a random unit-norm dictionary and exactly sparse codes.

    Parameters
    ----------
    n : int
        Signal dimension.
    k : int
        Number of atoms (``k > n``: overcomplete).
    n_samples : int
        ``m``.
    rng : numpy.random.Generator
    activity : float or int
        Active atoms per sample: a float in (0, 1] is a fraction of ``k`` (rounded, at least 1),
        an int is the count itself. Every sample has exactly that many non-zero coefficients, at
        positions drawn uniformly, with standard normal amplitudes.
    noise : float
        Standard deviation of the additive Gaussian noise (absolute, >= 0).
    dtype : float64 or float32

    Returns
    -------
    x : ndarray (n, m)
    dictionary : ndarray (n, k)
        Unit-norm atoms as columns (Gaussian directions).
    codes : ndarray (k, m)
    """
    n = check_positive_int(n, "n")
    k = check_positive_int(k, "k")
    m = check_positive_int(n_samples, "n_samples")
    rng = check_rng(rng)
    dtype = check_float_dtype(dtype)
    if isinstance(activity, bool) or not isinstance(activity, numbers.Real):
        raise ValueError(f"activity must be a fraction in (0, 1] or a count, got {activity!r}")
    if isinstance(activity, numbers.Integral):
        if not 1 <= activity <= k:
            raise ValueError(f"activity as a count must lie in [1, k={k}], got {activity!r}")
        active = int(activity)
    else:
        if not 0 < activity <= 1:
            raise ValueError(f"activity as a fraction must lie in (0, 1], got {activity!r}")
        active = max(1, round(float(activity) * k))
    if (
        isinstance(noise, bool)
        or not isinstance(noise, numbers.Real)
        or not np.isfinite(noise)
        or noise < 0
    ):
        raise ValueError(f"noise must be a finite number >= 0, got {noise!r}")
    dictionary = rng.standard_normal((n, k))
    dictionary /= np.linalg.norm(dictionary, axis=0, keepdims=True)
    support = np.argpartition(rng.random((m, k)), active - 1, axis=1)[:, :active]  # (m, active)
    codes = np.zeros((k, m))
    codes[support.T, np.arange(m)[None, :]] = rng.standard_normal((active, m))
    x = dictionary @ codes
    if noise > 0:
        x += noise * rng.standard_normal((n, m))
    return x.astype(dtype, copy=False), dictionary.astype(dtype), codes.astype(dtype, copy=False)
