"""Shared data for the trainers tests: whitened natural patches and ground-truth problems."""

from __future__ import annotations

import numpy as np
import pytest

from sparselearn.patches import Whitener, ica_mixture, remove_patch_mean, sample_patches


def whiten_unit(x: np.ndarray, epsilon_share: float = 0.01) -> np.ndarray:
    """ZCA-whiten ``x`` (n × m) with ε = share of the mean eigenvalue; scale to unit variance."""
    eigenvalues = np.linalg.eigvalsh(np.cov(x))
    whitener = Whitener("zca", epsilon=epsilon_share * float(eigenvalues.mean())).fit(x)
    z = whitener.transform(x)
    return z / np.sqrt(z.var(axis=1).mean())


@pytest.fixture(scope="session")
def natural_white() -> np.ndarray:
    """8 × 8 natural patches, mean removed per patch, ZCA-whitened, unit variance; (m, 64) rows."""
    x = sample_patches("natural", 8, 6000, np.random.default_rng(0))
    return np.ascontiguousarray(whiten_unit(remove_patch_mean(x)).T)


@pytest.fixture(scope="session")
def laplace_mixture() -> dict:
    """16 Laplace sources, 20,000 samples, PCA-whitened (ε = 0), as the acceptance asks."""
    x, _, mixing = ica_mixture(16, 20_000, np.random.default_rng(1))
    whitener = Whitener("pca", epsilon=0.0).fit(x)
    return {"X": np.ascontiguousarray(whitener.transform(x).T),
            "mixing": mixing, "whitening": whitener.whitening_matrix_}
