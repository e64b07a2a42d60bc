"""Centring and whitening inside ``fit`` for the ICA estimators (FastICA's ``whiten``)."""

from __future__ import annotations

from typing import Any

import numpy as np

from sparselearn.objectives.blocks import block_columns, iter_column_blocks

from .input_checks import DegenerateInputError

__all__ = ["WhiteningMixin"]


class WhiteningMixin:
    """``whiten=False | "unit-variance"``: ``mean_``, ``whitening_`` and their use in
    ``_to_columns``, ``components_``, ``mixing_`` and decoding.

    Used before :class:`~sparselearn.trainers.base.BaseTrainer` in the bases; the estimator's
    ``_whitened_dimension`` says how many directions to keep.
    """

    def _to_columns(self, X: Any, dtype: np.dtype | None, name: str = "X",
                    reset: bool = False) -> np.ndarray:
        """The base class's columns, then centred and whitened when ``whiten`` is set."""
        x = super()._to_columns(X, dtype, name, reset)
        if reset:
            self._fit_whitening(x)
        if getattr(self, "_whitening", None) is None:
            return x
        K, mu = self._whitening
        white = np.matmul(K, x)
        white -= (K @ mu)[:, None]
        return white

    def _fit_whitening(self, x: np.ndarray) -> None:
        """``mean_`` and, with ``whiten="unit-variance"``, ``whitening_`` from ``x`` (n × m).

        ``whitening_ = Λ^(-1/2) Eᵀ`` from the eigendecomposition ``C = E Λ Eᵀ`` of the
        covariance of the centred data, keeping the ``r`` leading directions: the data's rank,
        or ``n_components`` for :class:`OrthonormalICA` when given. The whitened data
        ``whitening_ (x − mean_)`` then has identity covariance.
        """
        self.__dict__.pop("whitening_", None)
        n, m = x.shape
        if self.whiten is False:
            self._whitening = None
            self.mean_ = np.zeros(n, dtype=x.dtype)
            return
        total = np.zeros(n)
        scatter = np.zeros((n, n))
        for _, _, part in iter_column_blocks(x, block_columns(n, 8)):
            part = np.asarray(part, dtype=np.float64)
            total += part.sum(axis=1)
            scatter += part @ part.T
        mu = total / m
        covariance = scatter / m - np.outer(mu, mu)
        eigenvalues, eigenvectors = np.linalg.eigh(covariance)
        order = np.argsort(eigenvalues)[::-1]
        eigenvalues, eigenvectors = eigenvalues[order], eigenvectors[:, order]
        floor = max(float(eigenvalues[0]), 0.0) * n * 1e-10
        rank = int(np.sum(eigenvalues > floor)) if eigenvalues[0] > 0 else 0
        keep = self._whitened_dimension(rank, n)
        if rank == 0 or keep > rank:
            constant = " (X is constant: nothing is left after centring)" if rank == 0 else ""
            raise DegenerateInputError(
                f"{type(self).__name__}: whiten='unit-variance' needs centred data of rank at "
                f"least {max(keep, 1)}; got rank {rank}{constant} from n_samples={m}, "
                f"n_features={n}. Pass more samples, fewer n_components, or whiten=False for "
                f"white data."
            )
        scale = np.sqrt(eigenvalues[:keep])
        K = (eigenvectors[:, :keep] / scale).T
        self.mean_ = mu.astype(x.dtype)
        self.whitening_ = K.astype(x.dtype)
        self._dewhitening = (eigenvectors[:, :keep] * scale).astype(x.dtype)
        self._whitening = (self.whitening_, self.mean_)
        # x xᵀ of the whitened training data, m K Σ Kᵀ (= m I up to rounding), in float64:
        # the ICA reconstruction term takes it instead of another pass over the data
        K64 = eigenvectors[:, :keep] / scale
        self._white_scatter = m * (K64.T @ covariance @ K64)

    def _whitened_dimension(self, rank: int, n: int) -> int:
        """Directions the whitening keeps: all of the data's rank (overcomplete models)."""
        return rank

    def _load_fitted(self, state, n_features_in, n_samples, dtype):
        if self.whiten is not False:
            raise ValueError(f"{type(self).__name__}: a model fitted with whiten="
                             f"{self.whiten!r} cannot be restored from its parameters alone")
        super()._load_fitted(state, n_features_in, n_samples, dtype)
        self._whitening = None
        self.mean_ = np.zeros(self._n, dtype=self._dtype)
        return self

    @property
    def mixing_(self) -> np.ndarray:
        """Pseudo-inverse of ``components_``, ``(n_features, n_components)``.

        For a complete model ``transform(X) @ mixing_.T + mean_`` reconstructs ``X`` (the input
        after ``preprocessor``, when one is set).
        """
        return np.linalg.pinv(self.components_)
