"""Whitening: ZCA/PCA maths, chunked covariance, inverse, maps to pixels, persistence, errors."""

from __future__ import annotations

import numpy as np
import pytest

from sparselearn import patches
from sparselearn.patches import Whitener, chunked_covariance


@pytest.fixture(scope="module")
def x():
    return patches.sample_patches("natural", 8, 20_000, np.random.default_rng(0))


def cov(y):
    return np.cov(y, bias=True)


def test_zca_epsilon_zero_gives_identity_covariance(x):
    w = Whitener("zca", epsilon=0).fit(x)
    y = w.transform(x)
    assert y.shape == x.shape
    np.testing.assert_allclose(cov(y), np.eye(64), rtol=0, atol=1e-8)
    # ZCA is the symmetric whitening: P = C^{-1/2}
    np.testing.assert_allclose(w.whitening_matrix_, w.whitening_matrix_.T, atol=1e-10)


def test_pca_epsilon_zero_gives_identity_covariance(x):
    w = Whitener("pca", epsilon=0).fit(x)
    np.testing.assert_allclose(cov(w.transform(x)), np.eye(64), rtol=0, atol=1e-8)


@pytest.mark.parametrize("method", ["zca", "pca"])
@pytest.mark.parametrize("epsilon", [0.0, 0.1])
def test_inverse_is_exact(x, method, epsilon):
    w = Whitener(method, epsilon=epsilon).fit(x)
    np.testing.assert_allclose(w.inverse_transform(w.transform(x)), x, rtol=0, atol=1e-10)


def test_pca_99_percent_keeps_the_right_count(x):
    lam = np.sort(np.linalg.eigvalsh(np.cov(x, bias=True)))[::-1]
    frac = np.cumsum(lam) / lam.sum()
    want = int(np.argmax(frac >= 0.99)) + 1
    assert frac[want - 2] < 0.99 <= frac[want - 1]
    w = Whitener("pca", epsilon=0, n_components=0.99).fit(x)
    assert w.n_components_ == want
    assert 1 < want < 64
    y = w.transform(x)
    assert y.shape == (want, x.shape[1])
    np.testing.assert_allclose(cov(y), np.eye(want), atol=1e-8)
    np.testing.assert_allclose(w.eigenvalues_, lam, rtol=1e-10, atol=1e-15)
    assert w.explained_variance_ratio_.sum() >= 0.99
    assert Whitener("pca", n_components=5).fit(x).n_components_ == 5


@pytest.mark.parametrize("method", ["zca", "pca"])
def test_dropped_components_invert_to_the_projection(x, method):
    w = Whitener(method, epsilon=1e-4, n_components=10).fit(x)
    U = w.components_.T
    xc = x - w.mean_[:, None]
    want = U @ (U.T @ xc) + w.mean_[:, None]
    np.testing.assert_allclose(w.inverse_transform(w.transform(x)), want, atol=1e-10)
    assert w.transform(x).shape[0] == (10 if method == "pca" else 64)


def test_chunked_covariance_equals_one_shot(x):
    one_mean, one_cov = x.mean(axis=1), np.cov(x, bias=True)
    for chunk in (1, 997, 20_000, 10**6):
        mean, c = chunked_covariance(x, chunk_size=chunk)
        rel = np.linalg.norm(c - one_cov) / np.linalg.norm(one_cov)
        assert rel < 1e-12, (chunk, rel)
        np.testing.assert_allclose(mean, one_mean, rtol=1e-13)
    # large offset: the shifted accumulation avoids catastrophic cancellation
    big = x + 1e4
    _, c = chunked_covariance(big, chunk_size=777)
    assert np.linalg.norm(c - one_cov) / np.linalg.norm(one_cov) < 1e-9


def test_fit_through_memmap_equals_in_memory(x, tmp_path):
    np.save(tmp_path / "rows.npy", x.T)  # one patch per row on disk
    mm = np.load(tmp_path / "rows.npy", mmap_mode="r")
    a = Whitener("zca", epsilon=1e-3, chunk_size=3000).fit(mm.T)
    b = Whitener("zca", epsilon=1e-3).fit(x)
    np.testing.assert_allclose(a.whitening_matrix_, b.whitening_matrix_, rtol=1e-10, atol=1e-10)
    out = np.lib.format.open_memmap(tmp_path / "out.npy", mode="w+", dtype=np.float64,
                                    shape=x.shape)
    a.transform(mm.T, out=out)
    out.flush()
    np.testing.assert_allclose(np.load(tmp_path / "out.npy"), b.transform(x), atol=1e-10)


def test_float32_kept(x):
    x32 = x.astype(np.float32)
    w = Whitener("zca", epsilon=1e-3).fit(x32)
    y = w.transform(x32)
    assert y.dtype == np.float32
    assert w.inverse_transform(y).dtype == np.float32
    assert w.filters_to_pixels(np.eye(64, dtype=np.float32)).dtype == np.float32
    np.testing.assert_allclose(w.inverse_transform(y), x32, atol=1e-4)


def test_vector_input(x):
    w = Whitener("pca", epsilon=1e-3, n_components=8).fit(x)
    np.testing.assert_allclose(w.transform(x[:, 3]), w.transform(x)[:, 3])


def test_filters_and_bases_to_pixels(x):
    w = Whitener("pca", epsilon=1e-2, n_components=20).fit(x)
    rng = np.random.default_rng(1)
    W = rng.standard_normal((7, 20))  # ICA filters on whitened data, one per row
    Wp = w.filters_to_pixels(W)
    assert Wp.shape == (7, 64)
    xc = x[:, :50] - w.mean_[:, None]
    np.testing.assert_allclose(Wp @ xc, W @ w.transform(x[:, :50]), atol=1e-10)
    A = rng.standard_normal((20, 9))  # bases in whitened space, one per column
    s = rng.standard_normal((9, 5))
    Ap = w.bases_to_pixels(A)
    assert Ap.shape == (9, 64)  # one per row
    np.testing.assert_allclose(Ap.T @ s + w.mean_[:, None], w.inverse_transform(A @ s),
                               atol=1e-10)
    with pytest.raises(ValueError, match=r"W must have shape \(k, 20\)"):
        w.filters_to_pixels(np.zeros((7, 64)))
    with pytest.raises(ValueError, match=r"A must have shape \(20, k\)"):
        w.bases_to_pixels(np.zeros((64, 9)))


def test_save_load_round_trip(x, tmp_path):
    w = Whitener("pca", epsilon=1e-3, n_components=0.95).fit(x)
    path = tmp_path / "whitener.npz"
    w.save(path)
    assert [p.name for p in tmp_path.iterdir()] == ["whitener.npz"]  # no temp file left
    v = Whitener.load(path)
    assert (v.method, v.epsilon, v.n_components, v.n_components_) == (
        "pca", 1e-3, 0.95, w.n_components_)
    np.testing.assert_array_equal(v.transform(x[:, :100]), w.transform(x[:, :100]))
    np.testing.assert_array_equal(v.dewhitening_matrix_, w.dewhitening_matrix_)
    w.save(path)  # overwrite in place
    with pytest.raises(ValueError, match="bad.npz"):
        (tmp_path / "bad.npz").write_bytes(b"not a whitener")
        Whitener.load(tmp_path / "bad.npz")


def test_singular_covariance_with_epsilon_zero(x):
    centred = patches.remove_patch_mean(x)  # the DC direction has zero variance
    with pytest.raises(ValueError, match="singular.*positive epsilon"):
        Whitener("zca", epsilon=0).fit(centred)
    Whitener("zca", epsilon=1e-5).fit(centred)  # fine
    Whitener("pca", epsilon=0, n_components=63).fit(centred)  # dropping it is fine too


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"method": "whiten"}, "method"),
        ({"epsilon": -1.0}, "epsilon"),
        ({"epsilon": np.nan}, "epsilon"),
        ({"n_components": 0}, "n_components"),
        ({"n_components": 1.5}, "n_components"),
        ({"n_components": 65}, "n_components=65"),
        ({"n_components": "all"}, "n_components"),
    ],
)
def test_bad_parameters(x, kwargs, match):
    with pytest.raises(ValueError, match=match):
        Whitener(**kwargs).fit(x)


def test_bad_data(x):
    with pytest.raises(ValueError, match="not fitted"):
        Whitener().transform(x)
    w = Whitener().fit(x)
    with pytest.raises(ValueError, match="x must have 64 rows"):
        w.transform(np.zeros((63, 5)))
    bad = x[:, :100].copy()
    bad[3, 4] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        Whitener().fit(bad)


def test_integer_memmap_is_converted_chunk_by_chunk(tmp_path):
    rng = np.random.default_rng(5)
    data = rng.integers(0, 256, size=(16, 3000), dtype=np.uint8)
    np.save(tmp_path / "u8.npy", data)
    mm = np.load(tmp_path / "u8.npy", mmap_mode="r")
    a = Whitener("zca", epsilon=1e-3, chunk_size=500).fit(mm)
    b = Whitener("zca", epsilon=1e-3).fit(data.astype(np.float64))
    np.testing.assert_allclose(a.whitening_matrix_, b.whitening_matrix_, atol=1e-12)
    y = a.transform(mm)
    assert y.dtype == np.float64
    np.testing.assert_allclose(y, b.transform(data.astype(np.float64)), atol=1e-10)
