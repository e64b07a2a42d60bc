"""Ground-truth generators and the scores against them."""

from __future__ import annotations

import numpy as np
import pytest

from sparselearn import patches


@pytest.mark.parametrize("distribution", patches.DISTRIBUTIONS)
def test_ica_mixture_shapes_and_statistics(distribution):
    x, s, A = patches.ica_mixture(4, 50_000, np.random.default_rng(0), condition=5.0,
                                  distribution=distribution)
    assert x.shape == (4, 50_000) and s.shape == (4, 50_000) and A.shape == (4, 4)
    np.testing.assert_allclose(x, A @ s, atol=1e-12)
    np.testing.assert_allclose(s.mean(axis=1), 0, atol=0.05)
    np.testing.assert_allclose(s.var(axis=1), 1, rtol=0.1)
    kurtosis = (s**4).mean(axis=1) / s.var(axis=1) ** 2 - 3
    if distribution == "uniform":
        assert (kurtosis < 0).all()
    else:
        assert (kurtosis > 0.5).all(), kurtosis
    assert np.linalg.cond(A) == pytest.approx(5.0, rel=1e-10)


def test_ica_mixture_options():
    rng = np.random.default_rng(1)
    x, s, A = patches.ica_mixture(3, 100, rng, condition=1.0, n_mixtures=5, dtype=np.float32)
    assert x.dtype == s.dtype == A.dtype == np.float32
    assert A.shape == (5, 3)
    np.testing.assert_allclose(A.T @ A, np.eye(3), atol=1e-6)
    a = patches.ica_mixture(3, 100, np.random.default_rng(9))
    b = patches.ica_mixture(3, 100, np.random.default_rng(9))
    for u, v in zip(a, b, strict=True):
        np.testing.assert_array_equal(u, v)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"condition": 0.5}, "condition"),
        ({"distribution": "cauchy"}, "'cauchy'"),
        ({"n_mixtures": 2}, "n_mixtures"),
    ],
)
def test_ica_mixture_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        patches.ica_mixture(3, 100, np.random.default_rng(0), **kwargs)
    with pytest.raises(ValueError, match="n_samples"):
        patches.ica_mixture(3, 0, np.random.default_rng(0))


def test_sparse_dictionary_data():
    rng = np.random.default_rng(2)
    x, D, S = patches.sparse_dictionary_data(16, 40, 500, rng, activity=0.1, noise=0.0)
    assert x.shape == (16, 500) and D.shape == (16, 40) and S.shape == (40, 500)
    np.testing.assert_allclose(np.linalg.norm(D, axis=0), 1, atol=1e-12)
    assert ((S != 0).sum(axis=0) == 4).all()
    np.testing.assert_allclose(x, D @ S, atol=1e-12)
    x2, D2, S2 = patches.sparse_dictionary_data(16, 40, 500, np.random.default_rng(2),
                                                activity=3, noise=0.5)
    assert ((S2 != 0).sum(axis=0) == 3).all()
    assert np.std(x2 - D2 @ S2) == pytest.approx(0.5, rel=0.05)
    for bad, match in (({"activity": 0.0}, "activity"), ({"activity": 41}, "activity"),
                       ({"noise": -1.0}, "noise")):
        with pytest.raises(ValueError, match=match):
            patches.sparse_dictionary_data(16, 40, 10, rng, **bad)


def test_amari_distance():
    rng = np.random.default_rng(3)
    _, _, A = patches.ica_mixture(8, 10, rng, condition=20.0)
    perm = rng.permutation(8)
    scale = rng.uniform(0.2, 5.0, 8) * rng.choice([-1, 1], 8)
    W = (np.linalg.inv(A) * scale[:, None])[perm]
    assert patches.amari_distance(W, A) == pytest.approx(0.0, abs=1e-12)
    # worst case: every entry of W A of equal magnitude
    H = np.array([[1, 1, 1, 1], [1, -1, 1, -1], [1, 1, -1, -1], [1, -1, -1, 1]], dtype=float)
    assert patches.amari_distance(H, np.eye(4)) == pytest.approx(1.0)
    # a random unmixing is far from a solution, a slightly perturbed inverse is close
    random = [patches.amari_distance(rng.standard_normal((8, 8)), A) for _ in range(20)]
    assert 0.2 < np.mean(random) < 0.6
    near = patches.amari_distance(np.linalg.inv(A) + 1e-3 * rng.standard_normal((8, 8)), A)
    assert near < 0.01 < min(random)
    with pytest.raises(ValueError, match=r"unmixing \(3, 8\).*mixing \(8, 8\)"):
        patches.amari_distance(np.zeros((3, 8)), A)


def test_dictionary_recovery():
    rng = np.random.default_rng(4)
    _, D, _ = patches.sparse_dictionary_data(16, 24, 10, rng)
    perm = rng.permutation(24)
    flipped = D[:, perm] * rng.choice([-1.0, 1.0], 24) * 3.0
    assert patches.dictionary_recovery(D, flipped) == 1.0
    half = flipped.copy()
    half[:, :12] = rng.standard_normal((16, 12))
    score, best = patches.dictionary_recovery(D, half, return_cosines=True)
    assert score == pytest.approx(0.5) and best.shape == (24,)
    assert patches.dictionary_recovery(D, np.zeros((16, 5))) == 0.0
    with pytest.raises(ValueError, match=r"true \(16, 24\).*learned \(15, 24\)"):
        patches.dictionary_recovery(D, D[:15])
    with pytest.raises(ValueError, match="threshold"):
        patches.dictionary_recovery(D, D, threshold=1.5)
