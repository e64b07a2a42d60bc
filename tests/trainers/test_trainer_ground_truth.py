"""Acceptance on ground truth: ICA unmixing (Amari distance) and dictionary recovery."""

from __future__ import annotations

import numpy as np
import pytest

from sparselearn.patches import amari_distance, dictionary_recovery, sparse_dictionary_data
from sparselearn.trainers import RICA, OrthonormalICA, SparseCoding


@pytest.mark.parametrize(
    "model",
    [OrthonormalICA(random_state=0), RICA(random_state=0)],
    ids=["orthonormal_ica", "rica"],
)
def test_ica_unmixes_a_16_source_laplace_mixture(model, laplace_mixture):
    """16 Laplace sources, 20,000 samples, whitened: Amari distance ≤ 0.02 (defaults)."""
    model.fit(laplace_mixture["X"])
    unmixing = model.components_ @ laplace_mixture["whitening"]
    assert amari_distance(unmixing, laplace_mixture["mixing"]) <= 0.02


@pytest.fixture(scope="module")
def planted_dictionary():
    """64 × 64 unit-norm dictionary, 50,000 samples, 5 % of codes active, noise σ = 0.01."""
    x, dictionary, _ = sparse_dictionary_data(
        64, 64, 50_000, np.random.default_rng(2), activity=0.05, noise=0.01
    )
    return np.ascontiguousarray(x.T), dictionary


@pytest.mark.parametrize(("constraint", "required"), [("unit_norm", 0.90), ("weight_decay", 0.80)])
def test_sparse_coding_recovers_a_planted_dictionary(constraint, required, planted_dictionary):
    X, dictionary = planted_dictionary
    # codes are N(0, 1) on ~3 of 64 atoms, noise σ = 0.01: a per-example L1 weight bλ = 0.1
    model = SparseCoding(64, alpha=5e-5, constraint=constraint, max_iter=60, inner_iter=40,
                         random_state=0).fit(X)
    recovered = dictionary_recovery(dictionary, model.components_.T, threshold=0.95)
    assert recovered >= required
