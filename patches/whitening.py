r"""PCA and ZCA whitening fitted through the ``n × n`` covariance, computed in chunks.

With ``x`` an ``n × m`` data matrix (one patch per column), mean :math:`\mu` and covariance
:math:`C = \frac1m \sum_j (x_j-\mu)(x_j-\mu)^\top = U \Lambda U^\top` (eigenvalues
:math:`\lambda_1 \ge \dots \ge \lambda_n`, normalised by ``m`` as UFLDL's ``x*x'/m``), keeping the
first ``k`` components :math:`U_k, \Lambda_k` and with :math:`D = (\Lambda_k + \varepsilon I)`:

* PCA whitening: :math:`y = D^{-1/2} U_k^\top (x-\mu)` (``k × m``),
  inverse :math:`x \approx U_k D^{1/2} y + \mu`;
* ZCA whitening: :math:`y = U_k D^{-1/2} U_k^\top (x-\mu)` (``n × m``),
  inverse :math:`x \approx U_k D^{1/2} U_k^\top y + \mu`.

With all components kept the inverse is exact (to rounding); with components dropped it returns
the projection of ``x`` onto the kept ones. With ``ε = 0`` the whitened data has identity
covariance (on the kept components).
"""

from __future__ import annotations

import json
import mmap
import numbers
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import scipy.linalg

from ._validation import as_float_matrix, as_matrix, result_dtype

__all__ = ["Whitener", "chunked_covariance", "iter_column_chunks"]

_FORMAT_VERSION = 1
_CHUNK_BYTES = 32 * 2**20  # default chunk: about 32 MiB of float64 columns


def _default_chunk(n: int) -> int:
    return max(1, _CHUNK_BYTES // (8 * max(n, 1)))


def _release_pages(arr: np.ndarray) -> None:
    """Drop the pages of a memory-mapped array from this process (the page cache keeps them).

    Reading a whole file through ``np.memmap`` otherwise leaves every touched page mapped, so the
    resident set grows to the file size even though nothing was copied. Only read-only (``'r'``)
    and shared writable (``'r+'``, ``'w+'``, flushed first) mappings are released; copy-on-write
    (``'c'``) mappings are left alone because releasing them would discard changes.
    """
    mm = getattr(arr, "_mmap", None)
    mode = getattr(arr, "mode", None)
    if mm is None or mode not in ("r", "r+", "w+") or not hasattr(mmap, "MADV_DONTNEED"):
        return
    try:
        if mode != "r":
            mm.flush()
        mm.madvise(mmap.MADV_DONTNEED)
    except (AttributeError, OSError, ValueError):  # pragma: no cover - platform dependent
        pass


def iter_column_chunks(
    x: np.ndarray, chunk_size: int | None = None
) -> Iterator[tuple[int, int, np.ndarray]]:
    """Yield ``(start, stop, x[:, start:stop])`` over the columns of ``x``.

    After each chunk has been used, a memory-mapped ``x`` gets its pages released (see
    :func:`_release_pages`), so the resident memory stays about one chunk.
    """
    n, m = x.shape
    step = _default_chunk(n) if chunk_size is None else int(chunk_size)
    if step <= 0:
        raise ValueError(f"chunk_size must be a positive integer, got {chunk_size!r}")
    for start in range(0, m, step):
        stop = min(start + step, m)
        yield start, stop, np.asarray(x[:, start:stop])
        _release_pages(x)


def chunked_covariance(
    x: np.ndarray, chunk_size: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance (normalised by ``m``) of the columns of ``x``, in one chunked pass.

    Accumulates in float64 the sums of ``x − s`` and ``(x − s)(x − s)ᵀ`` with a shift ``s``
    (the first chunk's mean), which avoids the cancellation of the naive one-pass formula;
    memory is one chunk plus ``n × n``, independent of ``m``, and ``x`` may be memory-mapped.

    Parameters
    ----------
    x : ndarray, shape (n, m)
    chunk_size : int, optional
        Columns per chunk (default: about 32 MiB worth).

    Returns
    -------
    mean : ndarray of float64, shape (n,)
    cov : ndarray of float64, shape (n, n), symmetric

    Raises
    ------
    ValueError
        If ``x`` is not 2-D, has no columns, or contains NaN or infinite values.
    """
    x = as_matrix(x, "x")  # any numeric dtype; each chunk is converted to float64
    n, m = x.shape
    if m == 0 or n == 0:
        raise ValueError(f"x must have at least one row and one column, got shape {x.shape}")
    shift = None
    s1 = np.zeros(n)
    s2 = np.zeros((n, n))
    for _, _, chunk in iter_column_chunks(x, chunk_size):
        c = chunk.astype(np.float64, copy=False)
        if shift is None:
            shift = c.mean(axis=1)
        d = c - shift[:, None]
        s1 += d.sum(axis=1)
        s2 += d @ d.T
    mean_d = s1 / m
    cov = s2 / m - np.outer(mean_d, mean_d)
    cov = (cov + cov.T) / 2
    if not (np.isfinite(cov).all() and np.isfinite(mean_d).all()):
        raise ValueError("x contains NaN or infinite values")
    return shift + mean_d, cov


def _check_params(method: object, epsilon: object, n_components: object) -> None:
    if method not in ("zca", "pca"):
        raise ValueError(f"method must be 'zca' or 'pca', got {method!r}")
    if (
        isinstance(epsilon, bool)
        or not isinstance(epsilon, numbers.Real)
        or not np.isfinite(epsilon)
        or epsilon < 0
    ):
        raise ValueError(f"epsilon must be a finite number >= 0, got {epsilon!r}")
    if n_components is None:
        return
    if isinstance(n_components, bool) or not isinstance(n_components, numbers.Real):
        raise ValueError(
            f"n_components must be None, a positive int or a float fraction of variance in "
            f"(0, 1], got {n_components!r}"
        )
    if isinstance(n_components, numbers.Integral):
        if n_components < 1:
            raise ValueError(f"n_components must be a positive integer, got {n_components!r}")
    elif not 0 < n_components <= 1:
        raise ValueError(
            f"n_components as a fraction of variance must lie in (0, 1], got {n_components!r}"
        )


def _plain(value: object) -> object:
    """numpy scalars -> Python scalars (for JSON)."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return int(value)
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return float(value)
    return value


def _count_components(eigenvalues: np.ndarray, n_components: object) -> int:
    n = eigenvalues.shape[0]
    if n_components is None:
        return n
    if isinstance(n_components, numbers.Integral):
        if n_components > n:
            raise ValueError(f"n_components={n_components} is more than the {n} features")
        return int(n_components)
    lam = np.clip(eigenvalues, 0, None)
    total = lam.sum()
    if total <= 0:
        return n
    ratio = np.cumsum(lam) / total
    return int(min(np.searchsorted(ratio, float(n_components), side="left") + 1, n))


def _build(
    method: str, eigenvalues: np.ndarray, eigenvectors: np.ndarray, k: int, epsilon: float
) -> tuple[np.ndarray, np.ndarray]:
    """Whitening (``k × n`` or ``n × n``) and dewhitening (``n × k`` or ``n × n``) matrices."""
    n = eigenvalues.shape[0]
    kept = eigenvalues[:k]
    largest = max(float(eigenvalues[0]), 0.0)
    tol = n * np.finfo(np.float64).eps * largest
    if epsilon == 0 and (largest == 0 or float(kept[-1]) <= tol):
        raise ValueError(
            f"the covariance is singular (smallest kept eigenvalue {float(kept[-1]):.3g}, largest "
            f"{largest:.3g}), so whitening with epsilon=0 divides by zero; use a positive "
            f"epsilon (e.g. epsilon={max(1e-5 * largest, 1e-12):.3g}) or keep fewer components "
            f"with n_components"
        )
    scale = np.sqrt(np.clip(kept, 0, None) + epsilon)
    U = eigenvectors[:, :k]
    if method == "pca":
        return U.T / scale[:, None], U * scale[None, :]
    return (U / scale[None, :]) @ U.T, (U * scale[None, :]) @ U.T


class Whitener:
    r"""PCA or ZCA whitening with an exact inverse and maps back to pixel space.

    Parameters
    ----------
    method : {"zca", "pca"}
        ZCA keeps the pixel basis (output ``n × m``, the filters look like the input); PCA
        rotates to the principal axes (output ``k × m``).
    epsilon : float
        Regulariser added to every eigenvalue before the inverse square root, in the units of
        the covariance (UFLDL uses 0.1 for ZCA of raw natural patches, 1e-5 elsewhere). With 0
        the whitened covariance is exactly the identity, but a singular covariance (e.g. after
        per-patch mean removal) raises ``ValueError``.
    n_components : None, int or float
        Components kept: all (None), the first ``k`` (int), or the fewest whose eigenvalues
        account for at least this fraction of the total variance (float in (0, 1]).
    chunk_size : int, optional
        Columns per chunk in :meth:`fit` and :meth:`transform` (default: about 32 MiB).

    Attributes
    ----------
    mean_ : ndarray (n,)
        Per-pixel mean removed before whitening (float64).
    eigenvalues_ : ndarray (n,)
        All covariance eigenvalues, descending (float64).
    eigenvectors_ : ndarray (n, n)
        Matching unit eigenvectors as columns, sign fixed so each column's largest-magnitude
        entry is positive (float64).
    n_components_ : int
        Number of components kept.
    components_ : ndarray (n_components_, n)
        Kept eigenvectors as rows.
    explained_variance_ratio_ : ndarray (n_components_,)
        Share of the total variance of each kept component.
    whitening_matrix_ : ndarray
        ``P`` with ``y = P (x − mean_)``: ``(n_components_, n)`` for PCA, ``(n, n)`` for ZCA.
    dewhitening_matrix_ : ndarray
        ``Q`` with ``x ≈ Q y + mean_``: ``(n, n_components_)`` for PCA, ``(n, n)`` for ZCA.
    n_features_in_ : int
        ``n``.

    Notes
    -----
    Outputs keep the dtype of their input (float32 stays float32); the fitted state is float64.
    """

    def __init__(
        self,
        method: str = "zca",
        epsilon: float = 1e-5,
        n_components: int | float | None = None,
        chunk_size: int | None = None,
    ) -> None:
        self.method = method
        self.epsilon = epsilon
        self.n_components = n_components
        self.chunk_size = chunk_size

    # ---------------------------------------------------------------------------- fitting
    def fit(self, x: np.ndarray) -> Whitener:
        """Fit on ``x`` (``n × m``, may be memory-mapped); memory does not grow with ``m``."""
        _check_params(self.method, self.epsilon, self.n_components)
        mean, cov = chunked_covariance(x, self.chunk_size)
        eigenvalues, eigenvectors = scipy.linalg.eigh(cov)
        eigenvalues = eigenvalues[::-1].copy()
        eigenvectors = eigenvectors[:, ::-1].copy()
        idx = np.argmax(np.abs(eigenvectors), axis=0)
        signs = np.sign(eigenvectors[idx, np.arange(eigenvectors.shape[1])])
        signs[signs == 0] = 1
        eigenvectors *= signs[None, :]
        k = _count_components(eigenvalues, self.n_components)
        self._set_state(mean, eigenvalues, eigenvectors, k)
        return self

    def _set_state(
        self, mean: np.ndarray, eigenvalues: np.ndarray, eigenvectors: np.ndarray, k: int
    ) -> None:
        P, Q = _build(self.method, eigenvalues, eigenvectors, k, float(self.epsilon))
        self.mean_ = mean
        self.eigenvalues_ = eigenvalues
        self.eigenvectors_ = eigenvectors
        self.n_components_ = k
        self.components_ = eigenvectors[:, :k].T.copy()
        lam = np.clip(eigenvalues, 0, None)
        total = lam.sum()
        self.explained_variance_ratio_ = lam[:k] / total if total > 0 else np.zeros(k)
        self.whitening_matrix_ = P
        self.dewhitening_matrix_ = Q
        self.n_features_in_ = mean.shape[0]

    def _check_fitted(self) -> None:
        if not hasattr(self, "whitening_matrix_"):
            raise ValueError("this Whitener is not fitted yet; call fit(x) first")

    @property
    def n_outputs_(self) -> int:
        """Rows of the whitened data: ``n_components_`` for PCA, ``n`` for ZCA."""
        self._check_fitted()
        return self.whitening_matrix_.shape[0]

    # ---------------------------------------------------------------------------- mapping
    def _apply(
        self,
        x: np.ndarray,
        matrix: np.ndarray,
        before: np.ndarray | None,
        after: np.ndarray | None,
        name: str,
        out: np.ndarray | None,
    ) -> np.ndarray:
        single = np.ndim(x) == 1
        arr = np.asarray(x)[:, None] if single else x
        arr = as_matrix(arr, name)  # integer data is converted chunk by chunk
        if arr.shape[0] != matrix.shape[1]:
            raise ValueError(
                f"{name} must have {matrix.shape[1]} rows, got shape {np.shape(x)}"
            )
        dtype = result_dtype(arr)
        M = matrix.astype(dtype, copy=False)
        b = None if before is None else before.astype(dtype)[:, None]
        a = None if after is None else after.astype(dtype)[:, None]
        shape = (matrix.shape[0], arr.shape[1])
        if out is None:
            result = np.empty(shape, dtype=dtype)
        else:
            if out.shape != shape:
                raise ValueError(f"out must have shape {shape}, got {out.shape}")
            result = out
        for start, stop, chunk in iter_column_chunks(arr, self.chunk_size):
            block = chunk.astype(dtype, copy=False)
            block = M @ (block - b if b is not None else block)
            if a is not None:
                block += a
            result[:, start:stop] = block
            if out is not None:
                _release_pages(result)
        return result[:, 0] if single else result

    def transform(self, x: np.ndarray, *, out: np.ndarray | None = None) -> np.ndarray:
        """Whiten: ``whitening_matrix_ @ (x − mean_)``, chunk by chunk.

        Parameters
        ----------
        x : ndarray, shape (n, m) or (n,)
            May be memory-mapped; dtype kept (float32 stays float32).
        out : ndarray, optional
            Where to write the result (e.g. a ``numpy.lib.format.open_memmap`` output file), so
            that whitening a file larger than memory needs memory for one chunk only.

        Returns
        -------
        ndarray, shape (n_outputs_, m)
        """
        self._check_fitted()
        return self._apply(x, self.whitening_matrix_, self.mean_, None, "x", out)

    def inverse_transform(self, y: np.ndarray, *, out: np.ndarray | None = None) -> np.ndarray:
        """Dewhiten: ``dewhitening_matrix_ @ y + mean_`` (exact inverse if nothing was dropped)."""
        self._check_fitted()
        return self._apply(y, self.dewhitening_matrix_, None, self.mean_, "y", out)

    def fit_transform(self, x: np.ndarray) -> np.ndarray:
        """``fit(x)`` then ``transform(x)``."""
        return self.fit(x).transform(x)

    def filters_to_pixels(self, W: np.ndarray) -> np.ndarray:
        """Filters acting on whitened data -> the same filters acting on raw pixels.

        Responses ``W y = W P (x − mean_)``, so the pixel-space filters are ``W P`` (the
        constant ``−W P mean_`` is dropped: it does not change the picture of a filter).

        Parameters
        ----------
        W : ndarray, shape (k, n_outputs_)
            One filter per row (ICA convention).

        Returns
        -------
        ndarray, shape (k, n)
            One pixel-space filter per row, dtype of ``W``.
        """
        self._check_fitted()
        W = as_float_matrix(W, "W")
        P = self.whitening_matrix_
        if W.shape[1] != P.shape[0]:
            raise ValueError(
                f"W must have shape (k, {P.shape[0]}) (one filter per row, acting on whitened "
                f"data), got {W.shape}"
            )
        return W @ P.astype(W.dtype, copy=False)

    def bases_to_pixels(self, A: np.ndarray) -> np.ndarray:
        """Bases in whitened space (columns) -> bases in pixel space (rows).

        ``x ≈ Q A s + mean_``, so the pixel-space bases are the columns of ``Q A``, returned
        transposed: one basis function per **row**.

        Parameters
        ----------
        A : ndarray, shape (n_outputs_, k)
            One basis function per column (sparse-coding convention).

        Returns
        -------
        ndarray, shape (k, n)
            One pixel-space basis function per row, dtype of ``A``.
        """
        self._check_fitted()
        A = as_float_matrix(A, "A")
        Q = self.dewhitening_matrix_
        if A.shape[0] != Q.shape[1]:
            raise ValueError(
                f"A must have shape ({Q.shape[1]}, k) (one basis per column, in whitened "
                f"space), got {A.shape}"
            )
        return (Q.astype(A.dtype, copy=False) @ A).T

    # ---------------------------------------------------------------------------- persistence
    def save(self, path: str | os.PathLike) -> None:
        """Save the fitted state to ``path`` (``.npz``), atomically (temporary file + replace)."""
        self._check_fitted()
        path = Path(path)
        params = {
            "format": _FORMAT_VERSION,
            "method": self.method,
            "epsilon": float(self.epsilon),
            "n_components": _plain(self.n_components),
            "chunk_size": _plain(self.chunk_size),
            "n_components_": int(self.n_components_),
        }
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez(
                    f,
                    params=np.array(json.dumps(params)),
                    mean=self.mean_,
                    eigenvalues=self.eigenvalues_,
                    eigenvectors=self.eigenvectors_,
                )
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise

    @classmethod
    def load(cls, path: str | os.PathLike) -> Whitener:
        """Load a state written by :meth:`save`; transforms are bit-identical to the saved one."""
        path = Path(path)
        try:
            with np.load(path, allow_pickle=False) as data:
                params = json.loads(str(data["params"]))
                mean = data["mean"]
                eigenvalues = data["eigenvalues"]
                eigenvectors = data["eigenvectors"]
        except (OSError, KeyError, ValueError) as exc:
            raise ValueError(f"cannot read a saved Whitener from {path}: {exc}") from exc
        if params.get("format") != _FORMAT_VERSION:
            raise ValueError(
                f"{path} holds Whitener format {params.get('format')!r}, expected "
                f"{_FORMAT_VERSION}"
            )
        obj = cls(
            method=params["method"],
            epsilon=params["epsilon"],
            n_components=params["n_components"],
            chunk_size=params["chunk_size"],
        )
        obj._set_state(mean, eigenvalues, eigenvectors, int(params["n_components_"]))
        return obj

    def __repr__(self) -> str:
        return (
            f"Whitener(method={self.method!r}, epsilon={self.epsilon!r}, "
            f"n_components={self.n_components!r})"
        )
