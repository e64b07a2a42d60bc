r"""PCA and ZCA whitening fitted through the ``n × n`` covariance, computed in chunks.

:class:`Whitener` is a scikit-learn transformer: ``X`` is ``(n_samples, n_features)``, one
patch per **row** (``m × n``; note that the rest of :mod:`patches` returns patches one per
column, ``x`` is ``n × m``, so pass ``x.T``, a view). With mean :math:`\mu` and covariance
:math:`C = \frac1m \sum_i (x_i-\mu)(x_i-\mu)^\top = U \Lambda U^\top` of the rows :math:`x_i`
(eigenvalues :math:`\lambda_1 \ge \dots \ge \lambda_n`, normalised by ``m`` as UFLDL's
``x*x'/m``), keeping the first ``k`` components :math:`U_k, \Lambda_k` and with
:math:`D = (\Lambda_k + \varepsilon I)`, each row is mapped as

* PCA whitening: :math:`y = D^{-1/2} U_k^\top (x-\mu)` (``Y`` is ``m × k``),
  inverse :math:`x \approx U_k D^{1/2} y + \mu`;
* ZCA whitening: :math:`y = U_k D^{-1/2} U_k^\top (x-\mu)` (``Y`` is ``m × n``),
  inverse :math:`x \approx U_k D^{1/2} U_k^\top y + \mu`.

That is ``Y = (X − mean_) Pᵀ`` and ``X ≈ Y Qᵀ + mean_`` with ``P = whitening_matrix_`` and
``Q = dewhitening_matrix_``. With all components kept the inverse is exact (to rounding); with
components dropped it returns the projection of ``x`` onto the kept ones. With ``ε = 0`` the
whitened data has identity covariance (on the kept components).

Fitting, transforming and inverting read ``X`` in chunks of rows, so their work memory does not
grow with ``n_samples``, and a memory-mapped ``X`` (``np.load(path, mmap_mode="r")``) has its
pages released after each chunk: it is never loaded whole.
"""

from __future__ import annotations

import json
import numbers
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import scipy.linalg
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    OneToOneFeatureMixin,
    TransformerMixin,
)
from sklearn.utils.validation import check_array, check_is_fitted, validate_data

from sparselearn.objectives.blocks import release_pages

from ._validation import as_float_matrix, result_dtype

__all__ = ["Whitener", "chunked_covariance", "iter_row_chunks"]

_FORMAT_VERSION = 1  # the saved arrays do not depend on the orientation of X
_CHUNK_BYTES = 32 * 2**20  # default chunk: about 32 MiB of float64 rows


def _default_chunk(n: int) -> int:
    return max(1, _CHUNK_BYTES // (8 * max(n, 1)))




def _chunk_rows(n_features: int, chunk_size: int | None) -> int:
    step = _default_chunk(n_features) if chunk_size is None else chunk_size
    if isinstance(step, bool) or not isinstance(step, numbers.Integral) or step <= 0:
        raise ValueError(f"chunk_size must be None or a positive integer, got {chunk_size!r}")
    return int(step)


def iter_row_chunks(
    X: np.ndarray, chunk_size: int | None = None
) -> Iterator[tuple[int, int, np.ndarray]]:
    """Yield ``(start, stop, X[start:stop])`` over the rows (samples) of ``X``.

    After each chunk has been used, a memory-mapped ``X`` (or a view of one) gets its pages
    released, so the resident memory stays about one chunk.

    Parameters
    ----------
    X : ndarray, shape (n_samples, n_features)
        May be memory-mapped.
    chunk_size : int, optional
        Rows per chunk (default: about 32 MiB of float64).

    Yields
    ------
    start, stop : int
        The rows of the chunk.
    chunk : ndarray, shape (stop - start, n_features)
        ``X[start:stop]`` as an ``ndarray`` (a view: nothing is copied).
    """
    m, n = X.shape
    step = _chunk_rows(n, chunk_size)
    for start in range(0, m, step):
        stop = min(start + step, m)
        yield start, stop, np.asarray(X[start:stop])
        release_pages(X)


def _as_rows(X: object, name: str = "X") -> np.ndarray:
    """``X`` as a 2-D numeric ndarray without copying numeric arrays (memory maps stay mapped)."""
    return check_array(
        X, dtype="numeric", ensure_all_finite=False, input_name=name, estimator="Whitener"
    )


def _check_finite(chunk: np.ndarray, name: str) -> None:
    if chunk.dtype.kind == "f" and not np.isfinite(chunk).all():
        raise ValueError(f"{name} contains NaN or infinite values")


def _covariance_of_rows(
    X: np.ndarray, chunk_size: int | None, name: str = "X"
) -> tuple[np.ndarray, np.ndarray]:
    m, n = X.shape
    if m == 0 or n == 0:
        raise ValueError(f"{name} must have at least one row and one column, got shape {X.shape}")
    shift = None
    s1 = np.zeros(n)
    s2 = np.zeros((n, n))
    for _, _, chunk in iter_row_chunks(X, chunk_size):
        _check_finite(chunk, name)
        c = chunk.astype(np.float64, copy=False)
        if shift is None:
            shift = c.mean(axis=0)
        d = c - shift[None, :]
        s1 += d.sum(axis=0)
        s2 += d.T @ d
    mean_d = s1 / m
    cov = s2 / m - np.outer(mean_d, mean_d)
    cov = (cov + cov.T) / 2
    if not (np.isfinite(cov).all() and np.isfinite(mean_d).all()):
        raise ValueError(f"{name} contains NaN or infinite values")
    return shift + mean_d, cov


def chunked_covariance(
    X: np.ndarray, chunk_size: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance (normalised by ``n_samples``) of the rows of ``X``, in one pass.

    Accumulates in float64 the sums of ``x − s`` and ``(x − s)(x − s)ᵀ`` over the rows ``x``,
    with a shift ``s`` (the first chunk's mean) that avoids the cancellation of the naive
    one-pass formula; memory is one chunk plus ``n_features × n_features``, independent of
    ``n_samples``, and ``X`` may be memory-mapped (its pages are released chunk by chunk).
    Equivalent to ``X.mean(axis=0), np.cov(X, rowvar=False, bias=True)``.

    Parameters
    ----------
    X : array_like, shape (n_samples, n_features)
        One sample per row, any real dtype (each chunk is converted to float64).
    chunk_size : int, optional
        Rows per chunk (default: about 32 MiB worth).

    Returns
    -------
    mean : ndarray of float64, shape (n_features,)
    cov : ndarray of float64, shape (n_features, n_features), symmetric

    Raises
    ------
    ValueError
        If ``X`` is not 2-D, has no rows or columns, or contains NaN or infinite values.
    """
    return _covariance_of_rows(_as_rows(X), chunk_size)


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


class Whitener(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    r"""PCA or ZCA whitening with an exact inverse and maps back to pixel space.

    A scikit-learn transformer: ``fit``, ``transform`` and ``inverse_transform`` take and
    return ``(n_samples, n_features)`` arrays, one patch per **row** (for a patch matrix ``x``
    of :func:`patches.sample_patches`, one patch per column, pass ``x.T``: a view, no copy).
    It works in a :class:`~sklearn.pipeline.Pipeline`, with :func:`~sklearn.base.clone`,
    ``get_params``/``set_params`` and ``set_output``, and, fitted, as the ``preprocessor`` of
    the trainers.

    Parameters
    ----------
    method : {"zca", "pca"}, default="zca"
        ZCA keeps the pixel basis (output ``(n_samples, n_features)``, the filters look like
        the input); PCA rotates to the principal axes (output ``(n_samples, n_components_)``).
    epsilon : float, default=1e-5
        Regulariser added to every eigenvalue before the inverse square root, in the units of
        the covariance (UFLDL uses 0.1 for ZCA of raw natural patches, 1e-5 elsewhere). With 0
        the whitened covariance is exactly the identity, but a singular covariance (e.g. after
        per-patch mean removal) raises ``ValueError``.
    n_components : None, int or float, default=None
        Components kept: all (None), the first ``k`` (int), or the fewest whose eigenvalues
        account for at least this fraction of the total variance (float in (0, 1]).
    allow_fewer_samples : bool, default=False
        :meth:`fit` refuses ``X`` with fewer samples (rows) than features (columns): such a
        covariance has rank below ``n_features``, so whitening it blows up the null directions
        by ``1/sqrt(epsilon)``, and most often ``X`` is a patch matrix passed the wrong way
        round (``n × m`` instead of ``m × n``). Set to True to fit anyway (the missing
        directions are then scaled by ``1/sqrt(epsilon)``).
    chunk_size : int, optional
        Rows (samples) per chunk in :meth:`fit`, :meth:`transform` and
        :meth:`inverse_transform` (default: about 32 MiB of float64).

    Attributes
    ----------
    mean_ : ndarray of shape (n_features,)
        Per-feature mean removed before whitening (float64).
    eigenvalues_ : ndarray of shape (n_features,)
        All covariance eigenvalues, descending (float64).
    eigenvectors_ : ndarray of shape (n_features, n_features)
        Matching unit eigenvectors as columns, sign fixed so each column's largest-magnitude
        entry is positive (float64).
    n_components_ : int
        Number of components kept.
    components_ : ndarray of shape (n_components_, n_features)
        Kept eigenvectors as rows (as :class:`sklearn.decomposition.PCA`).
    explained_variance_ratio_ : ndarray of shape (n_components_,)
        Share of the total variance of each kept component.
    whitening_matrix_ : ndarray
        ``P`` with ``Y = (X − mean_) Pᵀ`` (each whitened row ``y = P (x − mean_)``):
        ``(n_components_, n_features)`` for PCA, ``(n_features, n_features)`` for ZCA.
    dewhitening_matrix_ : ndarray
        ``Q`` with ``X ≈ Y Qᵀ + mean_``: ``(n_features, n_components_)`` for PCA,
        ``(n_features, n_features)`` for ZCA.
    n_features_in_ : int
        Number of features seen in :meth:`fit`.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of the features seen in :meth:`fit`, when ``X`` had string column names (a
        pandas DataFrame).

    Notes
    -----
    Outputs keep the dtype of their input (float32 stays float32; other numeric dtypes give
    float64); the fitted state is float64. Every method reads ``X`` in chunks of rows, so a
    memory-mapped ``X`` is never loaded whole.

    Examples
    --------
    >>> import numpy as np
    >>> from sparselearn.patches import Whitener
    >>> X = np.random.default_rng(0).standard_normal((600, 64))   # 600 patches of 64 pixels
    >>> w = Whitener("zca", epsilon=1e-3).fit(X)
    >>> w.n_features_in_, w.transform(X).shape
    (64, (600, 64))
    """

    def __init__(
        self,
        method: str = "zca",
        epsilon: float = 1e-5,
        n_components: int | float | None = None,
        *,
        allow_fewer_samples: bool = False,
        chunk_size: int | None = None,
    ) -> None:
        self.method = method
        self.epsilon = epsilon
        self.n_components = n_components
        self.allow_fewer_samples = allow_fewer_samples
        self.chunk_size = chunk_size

    def __sklearn_tags__(self) -> Any:
        """Tags: float32 and float64 are preserved; no NaN; dense input only."""
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags

    # ---------------------------------------------------------------------------- fitting
    def fit(self, X: Any, y: Any = None) -> Whitener:
        """Fit the whitening to the rows of ``X``; memory does not grow with ``n_samples``.

        Parameters
        ----------
        X : array_like of shape (n_samples, n_features)
            Training data, one sample per row; may be memory-mapped (read in chunks of rows,
            pages released as it goes), any real dtype. At least ``n_features`` samples are
            needed unless ``allow_fewer_samples=True``.
        y : None
            Ignored.

        Returns
        -------
        self : Whitener
            The fitted whitener.

        Raises
        ------
        ValueError
            Bad parameters, ``X`` not 2-D or empty, holding NaN or infinite values, with fewer
            samples than features (unless ``allow_fewer_samples``), or a singular covariance
            with ``epsilon=0``.
        """
        _check_params(self.method, self.epsilon, self.n_components)
        if not isinstance(self.allow_fewer_samples, (bool, np.bool_)):
            raise ValueError(
                f"allow_fewer_samples must be True or False, got {self.allow_fewer_samples!r}"
            )
        source = X
        X = validate_data(self, X, dtype="numeric", ensure_all_finite=False, reset=True)
        n_samples, n_features = X.shape
        if n_samples < n_features and not self.allow_fewer_samples:
            raise ValueError(
                f"Whitener.fit got X with n_samples={n_samples} and n_features={n_features}: "
                f"fewer samples than features (X must be (n_samples, n_features), one patch per "
                f"row; for a patch matrix with one patch per column pass x.T). The covariance of "
                f"{n_samples} sample(s) is singular in {n_features} features; set "
                f"allow_fewer_samples=True to fit anyway."
            )
        mean, cov = _covariance_of_rows(X, self.chunk_size)
        release_pages(source)
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

    @property
    def _n_features_out(self) -> int:
        """Columns of the whitened data: ``n_components_`` for PCA, ``n_features`` for ZCA."""
        return self.whitening_matrix_.shape[0]

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """Names of the output columns.

        ZCA stays in the pixel basis, so its outputs keep the input names (``x0, x1, …`` or
        ``feature_names_in_``); PCA outputs are the principal axes ``whitener0, whitener1, …``.

        Parameters
        ----------
        input_features : array_like of str, optional
            Only checked against the names seen in :meth:`fit`.

        Returns
        -------
        ndarray of str objects
        """
        check_is_fitted(self)
        if self.method == "zca":
            return OneToOneFeatureMixin.get_feature_names_out(self, input_features)
        return super().get_feature_names_out(input_features)

    # ---------------------------------------------------------------------------- mapping
    def _apply(
        self,
        X: np.ndarray,
        source: Any,
        matrix: np.ndarray,
        before: np.ndarray | None,
        after: np.ndarray | None,
        name: str,
        out: np.ndarray | None,
    ) -> np.ndarray:
        """``((X − before) @ matrixᵀ + after)`` chunk by chunk, in ``X``'s float dtype."""
        dtype = result_dtype(X)
        M = matrix.T.astype(dtype)  # (n_in, n_out)
        b = None if before is None else before.astype(dtype)[None, :]
        a = None if after is None else after.astype(dtype)[None, :]
        shape = (X.shape[0], matrix.shape[0])
        if out is None:
            result = np.empty(shape, dtype=dtype)
        else:
            if not isinstance(out, np.ndarray) or out.shape != shape:
                raise ValueError(
                    f"out must be an array of shape {shape}, got {getattr(out, 'shape', out)!r}"
                )
            result = out
        for start, stop, chunk in iter_row_chunks(X, self.chunk_size):
            _check_finite(chunk, name)
            block = chunk.astype(dtype, copy=False)
            block = (block - b if b is not None else block) @ M
            if a is not None:
                block += a
            result[start:stop] = block
            if out is not None:
                release_pages(result)
        release_pages(source)
        return result

    def transform(self, X: Any, *, out: np.ndarray | None = None) -> np.ndarray:
        """Whiten: ``(X − mean_) @ whitening_matrix_.T``, chunk by chunk.

        Parameters
        ----------
        X : array_like of shape (n_samples, n_features)
            One sample per row; may be memory-mapped; dtype kept (float32 stays float32, other
            numeric dtypes give float64).
        out : ndarray of shape (n_samples, n_outputs), optional
            Where to write the result (e.g. a ``numpy.lib.format.open_memmap`` output file), so
            that whitening a file larger than memory needs memory for one chunk only.

        Returns
        -------
        ndarray of shape (n_samples, n_components_) for PCA, (n_samples, n_features) for ZCA
            ``out`` when given.
        """
        check_is_fitted(self)
        source = X
        X = validate_data(self, X, dtype="numeric", ensure_all_finite=False, reset=False)
        return self._apply(X, source, self.whitening_matrix_, self.mean_, None, "X", out)

    def inverse_transform(self, X: Any, *, out: np.ndarray | None = None) -> np.ndarray:
        """Dewhiten: ``X @ dewhitening_matrix_.T + mean_`` (exact if nothing was dropped).

        With components dropped this returns the projection of the original data onto the
        kept components.

        Parameters
        ----------
        X : array_like of shape (n_samples, n_components_) for PCA, (n_samples, n_features) for ZCA
            Whitened data, one sample per row; dtype kept as in :meth:`transform`.
        out : ndarray of shape (n_samples, n_features), optional
            Where to write the result.

        Returns
        -------
        ndarray of shape (n_samples, n_features)
        """
        check_is_fitted(self)
        source = X
        X = _as_rows(X)
        if X.shape[1] != self._n_features_out:
            raise ValueError(
                f"X has {X.shape[1]} features, but Whitener.inverse_transform is expecting "
                f"{self._n_features_out} features (the columns of the whitened data)"
            )
        return self._apply(X, source, self.dewhitening_matrix_, None, self.mean_, "X", out)

    # ---------------------------------------------------------------------------- pictures
    def filters_to_pixels(self, W: Any) -> np.ndarray:
        """Filters acting on whitened data → the same filters acting on raw pixels.

        A filter ``w`` (a row of ``W``, e.g. a row of an ICA model's ``components_`` fitted on
        ``transform(X)``) responds to a whitened sample ``y = P (x − mean_)`` with
        ``w·y = (w P)·(x − mean_)``, so the pixel-space filters are the rows of ``W P``
        (``P = whitening_matrix_``; the constant ``−W P mean_`` is dropped: it does not change
        the picture of a filter).

        Parameters
        ----------
        W : array_like of shape (k, n_outputs)
            One filter per **row**, acting on whitened data (``n_outputs`` is the number of
            columns of :meth:`transform`'s output).

        Returns
        -------
        ndarray of shape (k, n_features_in_)
            One pixel-space filter per row, dtype of ``W`` (float32 kept).
        """
        check_is_fitted(self)
        W = as_float_matrix(W, "W")
        P = self.whitening_matrix_
        if W.shape[1] != P.shape[0]:
            raise ValueError(
                f"W must have shape (k, {P.shape[0]}) (one filter per row, acting on whitened "
                f"data), got {W.shape}"
            )
        return W @ P.astype(W.dtype, copy=False)

    def bases_to_pixels(self, A: Any) -> np.ndarray:
        """Bases in whitened space, one per **column** → bases in pixel space, one per **row**.

        With codes ``s``, a whitened sample is ``y ≈ A s`` and so ``x ≈ Q A s + mean_``
        (``Q = dewhitening_matrix_``): the pixel-space bases are the columns of ``Q A``,
        returned transposed (one basis function per row, as tiles are drawn). ``A`` is in the
        numeric core's sparse-coding convention (``n_outputs × k``, e.g. a trainer's
        ``params["A"]``); for an estimator's ``components_`` (one basis per row) pass
        ``components_.T``.

        Parameters
        ----------
        A : array_like of shape (n_outputs, k)
            One basis function per column, in whitened space.

        Returns
        -------
        ndarray of shape (k, n_features_in_)
            One pixel-space basis function per row, dtype of ``A`` (float32 kept).
        """
        check_is_fitted(self)
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
        """Save the parameters and fitted state to ``path`` (``.npz``), atomically.

        The file is written to a temporary file in the same folder and renamed over ``path``,
        so a reader never sees a partial file. It holds the parameters (JSON), ``mean``,
        ``eigenvalues``, ``eigenvectors`` and, when fitted on named columns,
        ``feature_names_in``; no pickles.

        Parameters
        ----------
        path : str or os.PathLike
            Destination file.
        """
        check_is_fitted(self)
        path = Path(path)
        params = {
            "format": _FORMAT_VERSION,
            "method": self.method,
            "epsilon": float(self.epsilon),
            "n_components": _plain(self.n_components),
            "allow_fewer_samples": bool(self.allow_fewer_samples),
            "chunk_size": _plain(self.chunk_size),
            "n_components_": int(self.n_components_),
        }
        arrays = {
            "params": np.array(json.dumps(params)),
            "mean": self.mean_,
            "eigenvalues": self.eigenvalues_,
            "eigenvectors": self.eigenvectors_,
        }
        if hasattr(self, "feature_names_in_"):
            arrays["feature_names_in"] = np.asarray(self.feature_names_in_, dtype=str)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez(f, **arrays)
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise

    @classmethod
    def load(cls, path: str | os.PathLike) -> Whitener:
        """Load a whitener written by :meth:`save`; transforms are bit-identical to the saved one.

        Files written before the switch to ``(n_samples, n_features)`` hold the same matrices
        and load the same way.

        Parameters
        ----------
        path : str or os.PathLike
            A file written by :meth:`save`.

        Returns
        -------
        Whitener
            Fitted.

        Raises
        ------
        ValueError
            The file cannot be read or is not a saved whitener.
        """
        path = Path(path)
        try:
            with np.load(path, allow_pickle=False) as data:
                params = json.loads(str(data["params"]))
                mean = data["mean"]
                eigenvalues = data["eigenvalues"]
                eigenvectors = data["eigenvectors"]
                names = data["feature_names_in"] if "feature_names_in" in data.files else None
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
            allow_fewer_samples=bool(params.get("allow_fewer_samples", False)),
            chunk_size=params["chunk_size"],
        )
        obj._set_state(mean, eigenvalues, eigenvectors, int(params["n_components_"]))
        if names is not None:
            obj.feature_names_in_ = names.astype(object)
        return obj
