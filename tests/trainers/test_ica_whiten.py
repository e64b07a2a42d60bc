"""ICA as FastICA users expect: whitening inside fit, mean_, mixing_, whitening_, w_init."""

from __future__ import annotations

import numpy as np
import pytest

from sparselearn import RICA, OrthonormalICA, TopographicICA
from sparselearn.patches import amari_distance, ica_mixture


@pytest.fixture(scope="module")
def raw_mixture():
    """8 Laplace sources mixed (condition 10), shifted off zero mean: raw, not whitened."""
    x, _, mixing = ica_mixture(8, 20_000, np.random.default_rng(4))
    offset = np.linspace(-3.0, 5.0, 8)
    return np.ascontiguousarray(x.T + offset), mixing, offset


def test_orthonormal_ica_separates_a_raw_mixture(raw_mixture):
    X, mixing, offset = raw_mixture
    model = OrthonormalICA(whiten="unit-variance", random_state=0, max_iter=200).fit(X)
    assert amari_distance(model.components_, mixing) < 0.02
    np.testing.assert_allclose(model.mean_, X.mean(axis=0))
    assert model.whitening_.shape == (8, 8)
    # responses of the whitened, centred data have unit variance and are decorrelated
    S = model.transform(X)
    np.testing.assert_allclose(np.cov(S.T, bias=True), np.eye(8), atol=1e-8)
    # without whitening the same raw data is not separated
    plain = OrthonormalICA(random_state=0, max_iter=200).fit(X - X.mean(axis=0))
    assert amari_distance(plain.components_, mixing) > 0.1


@pytest.mark.parametrize("make", [
    lambda: OrthonormalICA(whiten="unit-variance", random_state=0, max_iter=20),
    lambda: RICA(whiten="unit-variance", random_state=0, max_iter=5),
    lambda: OrthonormalICA(random_state=0, max_iter=20),
    lambda: RICA(random_state=0, max_iter=5, row_norm=None),
])
def test_mixing_reconstructs_a_complete_model(make, raw_mixture):
    X = raw_mixture[0][:4000]
    model = make().fit(X)
    S = model.transform(X)
    np.testing.assert_allclose(S, (X - model.mean_) @ model.components_.T, rtol=1e-9,
                               atol=1e-9)
    np.testing.assert_allclose(S @ model.mixing_.T + model.mean_, X, rtol=1e-7, atol=1e-7)
    assert model.mixing_.shape == (8, 8)
    assert hasattr(model, "whitening_") == (model.whiten == "unit-variance")
    if model.whiten is False:
        np.testing.assert_array_equal(model.mean_, np.zeros(8))


def test_overcomplete_rica_whitens_to_the_data_rank(raw_mixture):
    X = raw_mixture[0][:4000]
    model = RICA(n_components=16, whiten="unit-variance", random_state=0, max_iter=5).fit(X)
    assert model.components_.shape == (16, 8) and model.whitening_.shape == (8, 8)
    assert model.mixing_.shape == (8, 16)
    np.testing.assert_allclose(model.mixing_ @ model.components_ @ model.mixing_,
                               model.mixing_, atol=1e-8)  # the pseudo-inverse


def test_reduced_orthonormal_ica_whitens_to_n_components(raw_mixture):
    X = raw_mixture[0][:4000]
    model = OrthonormalICA(n_components=5, whiten="unit-variance", random_state=0,
                           max_iter=10).fit(X)
    assert model.whitening_.shape == (5, 8) and model.components_.shape == (5, 8)


@pytest.mark.parametrize("cls", [OrthonormalICA, RICA, TopographicICA])
def test_w_init_is_the_starting_point(cls, raw_mixture):
    X = raw_mixture[0][:2000] - raw_mixture[0][:2000].mean(axis=0)
    kwargs = {"grid": (3, 3), "pool": 3} if cls is TopographicICA else {}
    k = 9 if cls is TopographicICA else 8
    w_init = np.random.default_rng(1).standard_normal((k, 8))
    copy = w_init.copy()
    start = cls(w_init=w_init, max_iter=0, **kwargs).fit(X)
    if cls is OrthonormalICA:
        np.testing.assert_allclose(start.components_ @ start.components_.T, np.eye(8),
                                   atol=1e-10)
        # the symmetric orthonormalisation of w_init: the closest orthonormal matrix
        u, _, vt = np.linalg.svd(w_init)
        np.testing.assert_allclose(start.components_, u @ vt, atol=1e-10)
    else:
        rows = w_init / np.linalg.norm(w_init, axis=1, keepdims=True)
        np.testing.assert_allclose(start.components_, rows, atol=1e-10)
    np.testing.assert_array_equal(w_init, copy)  # not modified
    a = cls(w_init=w_init, max_iter=3, random_state=0, **kwargs).fit(X)
    b = cls(w_init=w_init, max_iter=3, random_state=1, **kwargs).fit(X)
    np.testing.assert_array_equal(a.components_, b.components_)  # no random start drawn


def test_w_init_shape_is_checked(raw_mixture):
    X = raw_mixture[0][:500]
    with pytest.raises(ValueError, match=r"w_init must have shape \(8, 8\) "
                                         r"\(n_components, features\); got \(3, 8\)"):
        OrthonormalICA(w_init=np.ones((3, 8)), max_iter=1).fit(X)


def test_whiten_value_is_validated(raw_mixture):
    with pytest.raises(ValueError, match="whiten"):
        RICA(whiten="zca", max_iter=1).fit(raw_mixture[0][:100])
