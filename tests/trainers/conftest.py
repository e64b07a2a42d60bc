"""Shared data for the trainers tests: whitened natural patches and ground-truth problems."""

from __future__ import annotations

import numpy as np
import pytest

from sparselearn.patches import Whitener, ica_mixture, remove_patch_mean, sample_patches


def whiten_unit(X: np.ndarray, epsilon_share: float = 0.01) -> np.ndarray:
    """ZCA-whiten ``X`` (m × n, one patch per row) with ε = share of the mean eigenvalue.

    Scaled to unit variance; returns ``(m, n)``.
    """
    eigenvalues = np.linalg.eigvalsh(np.cov(X, rowvar=False))
    whitener = Whitener("zca", epsilon=epsilon_share * float(eigenvalues.mean())).fit(X)
    Z = whitener.transform(X)
    return Z / np.sqrt(Z.var(axis=0).mean())


@pytest.fixture(scope="session")
def natural_white() -> np.ndarray:
    """8 × 8 natural patches, mean removed per patch, ZCA-whitened, unit variance; (m, 64) rows."""
    x = sample_patches("natural", 8, 6000, np.random.default_rng(0))
    return np.ascontiguousarray(whiten_unit(remove_patch_mean(x).T))


@pytest.fixture(scope="session")
def laplace_mixture() -> dict:
    """16 Laplace sources, 20,000 samples, PCA-whitened (ε = 0), as the acceptance asks."""
    x, _, mixing = ica_mixture(16, 20_000, np.random.default_rng(1))
    whitener = Whitener("pca", epsilon=0.0).fit(x.T)  # ica_mixture gives n × m: one per column
    return {"X": np.ascontiguousarray(whitener.transform(x.T)),
            "mixing": mixing, "whitening": whitener.whitening_matrix_}
