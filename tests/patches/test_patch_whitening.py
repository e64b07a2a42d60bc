"""Whitening: ZCA/PCA maths, chunked covariance, inverse, maps to pixels, persistence, errors.

``Whitener`` is a scikit-learn transformer: every array here is ``(n_samples, n_features)``,
one patch per row.
"""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.decomposition import PCA, FastICA
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.utils.estimator_checks import parametrize_with_checks

from sparselearn import patches
from sparselearn.patches import Whitener, chunked_covariance, iter_row_chunks


@pytest.fixture(scope="module")
def X():
    """20,000 natural 8 × 8 patches, one per row: (20000, 64)."""
    x = patches.sample_patches("natural", 8, 20_000, np.random.default_rng(0))  # 64 × 20000
    return np.ascontiguousarray(x.T)


def cov(Y):
    return np.cov(Y, rowvar=False, bias=True)


@parametrize_with_checks([Whitener()])
def test_sklearn_compatible_estimator(estimator, check):
    """scikit-learn's own estimator checks, all of them, on the default (refusing) Whitener.

    Only ``check_fit2d_1sample`` fits fewer samples than features (1 × 10); it accepts a
    ValueError that says ``n_samples=1``, which is what the refusal says.
    """
    check(estimator)


# ---------------------------------------------------------------------------- orientation
def test_rows_are_samples():
    """A 600 × 64 array is 600 patches of 64 pixels: a 64-feature whitener."""
    X = np.random.default_rng(0).standard_normal((600, 64))
    w = Whitener("zca", epsilon=1e-3).fit(X)
    assert w.n_features_in_ == 64
    assert w.whitening_matrix_.shape == (64, 64)
    assert w.mean_.shape == (64,)
    np.testing.assert_allclose(w.mean_, X.mean(axis=0))
    assert w.transform(X).shape == (600, 64)
    p = Whitener("pca", epsilon=1e-3, n_components=10).fit(X)
    assert p.transform(X).shape == (600, 10)
    assert p.inverse_transform(p.transform(X)).shape == (600, 64)


def test_fewer_samples_than_features_is_refused_unless_allowed():
    X = np.random.default_rng(0).standard_normal((64, 600))  # a patch matrix the wrong way round
    with pytest.raises(ValueError, match=r"n_samples=64 and n_features=600.*allow_fewer_samples"):
        Whitener().fit(X)
    with pytest.raises(ValueError, match="n_samples=1 "):
        Whitener().fit(X[:1])
    w = Whitener(epsilon=1e-3, allow_fewer_samples=True).fit(X)
    assert w.n_features_in_ == 600
    assert w.transform(X).shape == (64, 600)
    Whitener().fit(X[:, :64])  # as many samples as features is fine
    with pytest.raises(ValueError, match="allow_fewer_samples must be True or False"):
        Whitener(allow_fewer_samples="yes").fit(X.T)


# ---------------------------------------------------------------------------- maths
def test_zca_epsilon_zero_gives_identity_covariance(X):
    w = Whitener("zca", epsilon=0).fit(X)
    Y = w.transform(X)
    assert Y.shape == X.shape
    np.testing.assert_allclose(cov(Y), np.eye(64), rtol=0, atol=1e-8)
    np.testing.assert_allclose(Y.mean(axis=0), 0, atol=1e-10)
    # ZCA is the symmetric whitening: P = C^{-1/2}
    np.testing.assert_allclose(w.whitening_matrix_, w.whitening_matrix_.T, atol=1e-10)


def test_pca_epsilon_zero_gives_identity_covariance(X):
    w = Whitener("pca", epsilon=0).fit(X)
    np.testing.assert_allclose(cov(w.transform(X)), np.eye(64), rtol=0, atol=1e-8)


@pytest.mark.parametrize("method", ["zca", "pca"])
@pytest.mark.parametrize("epsilon", [0.0, 0.1])
def test_inverse_is_exact(X, method, epsilon):
    w = Whitener(method, epsilon=epsilon).fit(X)
    np.testing.assert_allclose(w.inverse_transform(w.transform(X)), X, rtol=0, atol=1e-10)


def test_pca_99_percent_keeps_the_right_count(X):
    lam = np.sort(np.linalg.eigvalsh(cov(X)))[::-1]
    frac = np.cumsum(lam) / lam.sum()
    want = int(np.argmax(frac >= 0.99)) + 1
    assert frac[want - 2] < 0.99 <= frac[want - 1]
    w = Whitener("pca", epsilon=0, n_components=0.99).fit(X)
    assert w.n_components_ == want
    assert 1 < want < 64
    Y = w.transform(X)
    assert Y.shape == (X.shape[0], want)
    np.testing.assert_allclose(cov(Y), np.eye(want), atol=1e-8)
    np.testing.assert_allclose(w.eigenvalues_, lam, rtol=1e-10, atol=1e-15)
    assert w.explained_variance_ratio_.sum() >= 0.99
    assert Whitener("pca", n_components=5).fit(X).n_components_ == 5


def test_pca_agrees_with_sklearn_pca_whiten(X):
    """Same axes and scale as ``PCA(whiten=True)`` up to the sign and the m / (m − 1) factor."""
    m = X.shape[0]
    ours = Whitener("pca", epsilon=0, n_components=10).fit_transform(X)
    theirs = PCA(n_components=10, whiten=True, svd_solver="full").fit_transform(X)
    signs = np.sign((ours * theirs).sum(axis=0))
    np.testing.assert_allclose(ours * signs, theirs * np.sqrt(m / (m - 1)), atol=1e-6)


@pytest.mark.parametrize("method", ["zca", "pca"])
def test_dropped_components_invert_to_the_projection(X, method):
    w = Whitener(method, epsilon=1e-4, n_components=10).fit(X)
    U = w.components_.T
    Xc = X - w.mean_
    want = (Xc @ U) @ U.T + w.mean_
    np.testing.assert_allclose(w.inverse_transform(w.transform(X)), want, atol=1e-10)
    assert w.transform(X).shape[1] == (10 if method == "pca" else 64)


def test_chunked_covariance_equals_one_shot(X):
    one_mean, one_cov = X.mean(axis=0), cov(X)
    for chunk in (1, 997, 20_000, 10**6):
        mean, c = chunked_covariance(X, chunk_size=chunk)
        rel = np.linalg.norm(c - one_cov) / np.linalg.norm(one_cov)
        assert rel < 1e-12, (chunk, rel)
        np.testing.assert_allclose(mean, one_mean, rtol=1e-13)
    # large offset: the shifted accumulation avoids catastrophic cancellation
    _, c = chunked_covariance(X + 1e4, chunk_size=777)
    assert np.linalg.norm(c - one_cov) / np.linalg.norm(one_cov) < 1e-9
    with pytest.raises(ValueError, match="chunk_size"):
        chunked_covariance(X, chunk_size=0)


def test_iter_row_chunks_covers_the_rows(X):
    spans = [(start, stop, chunk.shape) for start, stop, chunk in iter_row_chunks(X[:10], 4)]
    assert spans == [(0, 4, (4, 64)), (4, 8, (4, 64)), (8, 10, (2, 64))]


# ---------------------------------------------------------------------------- scikit-learn API
def test_pipeline_clone_and_params(X):
    Xs = X[:4000]
    pipe = Pipeline([("white", Whitener("pca", epsilon=0, n_components=8)),
                     ("ica", FastICA(whiten=False, random_state=0, max_iter=400))])
    S = pipe.fit_transform(Xs)
    assert S.shape == (4000, 8)
    white = Whitener("pca", epsilon=0, n_components=8).fit(Xs)
    ica = FastICA(whiten=False, random_state=0, max_iter=400).fit(white.transform(Xs))
    np.testing.assert_allclose(S, ica.transform(white.transform(Xs)), atol=1e-10)
    np.testing.assert_allclose(pipe.inverse_transform(S), white.inverse_transform(
        ica.inverse_transform(S)), atol=1e-10)
    # nested parameters, clone
    pipe.set_params(white__n_components=4, white__epsilon=1e-3)
    assert pipe.get_params()["white__n_components"] == 4
    assert pipe.fit_transform(Xs).shape == (4000, 4)
    w = Whitener("pca", epsilon=0.5, n_components=3, allow_fewer_samples=True, chunk_size=100)
    assert clone(w).get_params() == {"method": "pca", "epsilon": 0.5, "n_components": 3,
                                     "allow_fewer_samples": True, "chunk_size": 100}
    assert not hasattr(clone(white), "whitening_matrix_")
    assert repr(Whitener("pca", n_components=3)) == "Whitener(method='pca', n_components=3)"
    # before a PCA of the whitened data: the whitened covariance is the identity
    pca = make_pipeline(Whitener(epsilon=0), PCA()).fit(Xs)
    np.testing.assert_allclose(pca[-1].explained_variance_ * (4000 - 1) / 4000, 1, atol=1e-8)


def test_feature_names(X):
    pd = pytest.importorskip("pandas")
    names = [f"p{i}" for i in range(64)]
    frame = pd.DataFrame(X[:500], columns=names)
    zca = Whitener().fit(frame)
    assert list(zca.feature_names_in_) == names
    assert list(zca.get_feature_names_out()) == names  # ZCA stays in the pixel basis
    pca = Whitener("pca", n_components=3).fit(frame)
    assert list(pca.get_feature_names_out()) == ["whitener0", "whitener1", "whitener2"]
    out = Whitener("pca", n_components=3).set_output(transform="pandas").fit(frame)
    assert list(out.transform(frame).columns) == ["whitener0", "whitener1", "whitener2"]


def test_pickle(X):
    w = Whitener("pca", epsilon=1e-3, n_components=12).fit(X)
    v = pickle.loads(pickle.dumps(w))
    np.testing.assert_array_equal(v.transform(X[:50]), w.transform(X[:50]))


# ---------------------------------------------------------------------------- large data
def test_fit_through_memmap_equals_in_memory(X, tmp_path):
    np.save(tmp_path / "rows.npy", X)  # one patch per row on disk
    mm = np.load(tmp_path / "rows.npy", mmap_mode="r")
    a = Whitener("zca", epsilon=1e-3, chunk_size=3000).fit(mm)
    b = Whitener("zca", epsilon=1e-3).fit(X)
    np.testing.assert_allclose(a.whitening_matrix_, b.whitening_matrix_, rtol=1e-10, atol=1e-10)
    out = np.lib.format.open_memmap(tmp_path / "out.npy", mode="w+", dtype=np.float64,
                                    shape=X.shape)
    assert a.transform(mm, out=out) is out
    out.flush()
    np.testing.assert_allclose(np.load(tmp_path / "out.npy"), b.transform(X), atol=1e-10)
    back = a.inverse_transform(np.load(tmp_path / "out.npy", mmap_mode="r"))
    np.testing.assert_allclose(back, X, atol=1e-10)
    with pytest.raises(ValueError, match="out must be an array of shape"):
        a.transform(mm, out=np.empty((5, 64)))


def test_memmap_is_read_in_chunks_not_loaded(X, tmp_path, monkeypatch):
    """fit and transform take row slices of the map itself (one chunk at a time)."""
    import sparselearn.patches.whitening as whitening

    np.save(tmp_path / "rows.npy", X)
    mm = np.load(tmp_path / "rows.npy", mmap_mode="r")
    released = []
    from sparselearn.objectives.blocks import mapping_of

    original = whitening.release_pages
    monkeypatch.setattr(whitening, "release_pages",
                        lambda arr: (released.append(mapping_of(arr) is not None),
                                     original(arr)))
    w = Whitener("zca", epsilon=1e-3, chunk_size=2500).fit(mm)
    assert sum(released) >= 8  # 20,000 rows in chunks of 2,500, each released
    released.clear()
    w.transform(mm)
    assert sum(released) >= 8


def test_integer_memmap_is_converted_chunk_by_chunk(tmp_path):
    rng = np.random.default_rng(5)
    data = rng.integers(0, 256, size=(3000, 16), dtype=np.uint8)
    np.save(tmp_path / "u8.npy", data)
    mm = np.load(tmp_path / "u8.npy", mmap_mode="r")
    a = Whitener("zca", epsilon=1e-3, chunk_size=500).fit(mm)
    b = Whitener("zca", epsilon=1e-3).fit(data.astype(np.float64))
    np.testing.assert_allclose(a.whitening_matrix_, b.whitening_matrix_, atol=1e-12)
    Y = a.transform(mm)
    assert Y.dtype == np.float64
    np.testing.assert_allclose(Y, b.transform(data.astype(np.float64)), atol=1e-10)


# ---------------------------------------------------------------------------- dtypes
def test_float32_kept(X):
    X32 = X.astype(np.float32)
    w = Whitener("zca", epsilon=1e-3).fit(X32)
    Y = w.transform(X32)
    assert Y.dtype == np.float32
    assert w.inverse_transform(Y).dtype == np.float32
    assert w.filters_to_pixels(np.eye(64, dtype=np.float32)).dtype == np.float32
    assert w.bases_to_pixels(np.eye(64, dtype=np.float32)).dtype == np.float32
    np.testing.assert_allclose(w.inverse_transform(Y), X32, atol=1e-4)
    np.testing.assert_allclose(Y, w.transform(X), atol=1e-4)  # same maths as float64
    assert w.mean_.dtype == np.float64  # the fitted state is float64


def test_one_sample_is_a_row(X):
    w = Whitener("pca", epsilon=1e-3, n_components=8).fit(X)
    np.testing.assert_allclose(w.transform(X[3:4]), w.transform(X)[3:4])
    with pytest.raises(ValueError, match="2D array"):
        w.transform(X[3])


# ---------------------------------------------------------------------------- pictures
def test_filters_and_bases_to_pixels(X):
    w = Whitener("pca", epsilon=1e-2, n_components=20).fit(X)
    rng = np.random.default_rng(1)
    W = rng.standard_normal((7, 20))  # ICA filters on whitened data, one per row
    Wp = w.filters_to_pixels(W)
    assert Wp.shape == (7, 64)
    Xc = X[:50] - w.mean_
    np.testing.assert_allclose(Xc @ Wp.T, w.transform(X[:50]) @ W.T, atol=1e-10)
    A = rng.standard_normal((20, 9))  # bases in whitened space, one per column
    S = rng.standard_normal((5, 9))  # codes, one sample per row
    Ap = w.bases_to_pixels(A)
    assert Ap.shape == (9, 64)  # one per row
    np.testing.assert_allclose(S @ Ap + w.mean_, w.inverse_transform(S @ A.T), atol=1e-10)
    with pytest.raises(ValueError, match=r"W must have shape \(k, 20\)"):
        w.filters_to_pixels(np.zeros((7, 64)))
    with pytest.raises(ValueError, match=r"A must have shape \(20, k\)"):
        w.bases_to_pixels(np.zeros((64, 9)))


# ---------------------------------------------------------------------------- persistence
def test_save_load_round_trip(X, tmp_path):
    w = Whitener("pca", epsilon=1e-3, n_components=0.95).fit(X)
    path = tmp_path / "whitener.npz"
    w.save(path)
    assert [p.name for p in tmp_path.iterdir()] == ["whitener.npz"]  # no temp file left
    v = Whitener.load(path)
    assert v.get_params() == w.get_params()
    assert v.n_components_ == w.n_components_ and v.n_features_in_ == 64
    np.testing.assert_array_equal(v.transform(X[:100]), w.transform(X[:100]))
    np.testing.assert_array_equal(v.dewhitening_matrix_, w.dewhitening_matrix_)
    w.save(path)  # overwrite in place
    Whitener(allow_fewer_samples=True).fit(X[:10, :20]).save(path)
    assert Whitener.load(path).allow_fewer_samples is True
    with pytest.raises(ValueError, match="bad.npz"):
        (tmp_path / "bad.npz").write_bytes(b"not a whitener")
        Whitener.load(tmp_path / "bad.npz")


def test_save_load_keeps_feature_names(X, tmp_path):
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame(X[:500], columns=[f"p{i}" for i in range(64)])
    Whitener().fit(frame).save(tmp_path / "w.npz")
    v = Whitener.load(tmp_path / "w.npz")
    assert list(v.feature_names_in_) == list(frame.columns)
    v.transform(frame)  # no feature-name warning or error


def test_file_saved_in_the_old_orientation_still_loads(X, tmp_path):
    """A file from the ``n × m`` Whitener (no ``allow_fewer_samples``) holds the same matrices."""
    w = Whitener("zca", epsilon=1e-3).fit(X)
    old_params = {"format": 1, "method": "zca", "epsilon": 1e-3, "n_components": None,
                  "chunk_size": None, "n_components_": 64}
    np.savez(tmp_path / "old.npz", params=np.array(json.dumps(old_params)), mean=w.mean_,
             eigenvalues=w.eigenvalues_, eigenvectors=w.eigenvectors_)
    v = Whitener.load(tmp_path / "old.npz")
    assert v.allow_fewer_samples is False
    np.testing.assert_array_equal(v.whitening_matrix_, w.whitening_matrix_)
    np.testing.assert_array_equal(v.transform(X[:100]), w.transform(X[:100]))


# ---------------------------------------------------------------------------- errors
def test_singular_covariance_with_epsilon_zero(X):
    centred = patches.remove_patch_mean(X.T).T  # the DC direction has zero variance
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
        ({"chunk_size": 0}, "chunk_size"),
    ],
)
def test_bad_parameters(X, kwargs, match):
    with pytest.raises(ValueError, match=match):
        Whitener(**kwargs).fit(X)


def test_bad_data(X):
    with pytest.raises(ValueError, match="not fitted"):
        Whitener().transform(X)
    w = Whitener().fit(X)
    with pytest.raises(ValueError, match="X has 63 features, but Whitener is expecting 64"):
        w.transform(np.zeros((5, 63)))
    with pytest.raises(ValueError, match="expecting 64 features"):
        w.inverse_transform(np.zeros((5, 63)))
    bad = X[:100].copy()
    bad[4, 3] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        Whitener().fit(bad)
    with pytest.raises(ValueError, match="NaN"):
        w.transform(bad)
