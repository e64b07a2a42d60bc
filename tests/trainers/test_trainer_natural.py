"""Natural 8 × 8 patches: localised, oriented bases; topographic order; encoding and decoding.

Measures (:mod:`trainers.metrics`): *localisation* is the share of a filter's energy in its best
4 × 4 window; *orientation* is the resultant length of the doubled frequency angles weighted by
the power spectrum. Random Gaussian filters score about 0.39 and 0.14 on 8 × 8.
"""

from __future__ import annotations

import numpy as np
import pytest

from sparselearn.trainers import (
    RICA,
    OrthonormalICA,
    SparseCoding,
    TopographicICA,
    TopographicSparseCoding,
    localisation_orientation,
    oriented_localised_share,
    random_filters,
    topographic_similarity,
)

FAST_SC = dict(max_iter=40, inner_iter=40, batch_size=2000, random_state=0)
MODELS = {
    "sparse_coding": lambda: SparseCoding(64, **FAST_SC),
    "sparse_coding_unit_norm": lambda: SparseCoding(64, constraint="unit_norm", **FAST_SC),
    "topographic_sparse_coding": lambda: TopographicSparseCoding(grid=(8, 8), **FAST_SC),
    "orthonormal_ica": lambda: OrthonormalICA(max_iter=15, inner_iter=10, random_state=0),
    "rica": lambda: RICA(max_iter=8, random_state=0),
    "topographic_ica": lambda: TopographicICA(grid=(8, 8), max_iter=8, random_state=0),
}


@pytest.fixture(scope="module")
def fitted():
    """Models fitted once per module on the first 5,000 patches (the rest is held out)."""
    return {}


def _fit(name, fitted, X):
    if name not in fitted:
        fitted[name] = MODELS[name]().fit(X[:5000])
    return fitted[name]


@pytest.fixture(scope="module")
def random_scores():
    filters = random_filters(64, 64, np.random.default_rng(5))
    loc, ori = localisation_orientation(filters, (8, 8))
    return float(loc.mean()), float(ori.mean()), oriented_localised_share(filters, (8, 8))


@pytest.mark.parametrize("name", list(MODELS))
def test_bases_are_localised_and_oriented(name, fitted, natural_white, random_scores):
    model = _fit(name, fitted, natural_white)
    loc, ori = localisation_orientation(model.components_, (8, 8))
    random_loc, random_ori, random_share = random_scores
    assert random_share <= 0.05
    assert loc.mean() >= random_loc + 0.08
    assert ori.mean() >= random_ori + 0.1
    assert oriented_localised_share(model.components_, (8, 8)) >= random_share + 0.1


@pytest.mark.parametrize("name", ["topographic_sparse_coding", "topographic_ica"])
def test_torus_neighbours_are_more_similar_than_random_pairs(name, fitted, natural_white):
    model = _fit(name, fitted, natural_white)
    neighbours, pairs = topographic_similarity(model.components_, model.grid, (8, 8))
    assert neighbours > pairs + 0.02


@pytest.mark.parametrize("name", ["sparse_coding", "topographic_sparse_coding"])
def test_encoding_held_out_data_lowers_the_objective(name, fitted, natural_white):
    model = _fit(name, fitted, natural_white)
    held_out = natural_white[5000:]
    codes = model.transform(held_out)
    assert model.objective(held_out, codes) < 0.9 * model.objective(held_out)


@pytest.mark.parametrize("name", ["orthonormal_ica", "rica"])
def test_fitted_filters_lower_the_held_out_objective(name, natural_white):
    train, held_out = natural_white[:5000], natural_white[5000:]
    start = MODELS[name]().set_params(max_iter=0).fit(train)
    model = MODELS[name]().fit(train)
    assert model.objective(held_out) < 0.95 * start.objective(held_out)


@pytest.mark.parametrize("name", list(MODELS))
def test_reconstruction_matches_the_reported_error(name, fitted, natural_white):
    model = _fit(name, fitted, natural_white)
    rows = natural_white[:1000]  # training rows: the history reports a training error
    reconstructed = model.inverse_transform(model.transform(rows))
    error = float(np.mean(np.sum((reconstructed - rows) ** 2, axis=1)))
    reported = model.history_[-1]["reconstruction_error"]
    assert error <= 1.5 * reported + 1e-8 * np.mean(np.sum(rows**2, axis=1))
