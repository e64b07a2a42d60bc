"""Normalisation: per-patch mean, per-pixel mean, UFLDL squash."""

from __future__ import annotations

import numpy as np
import pytest

from sparselearn import patches


@pytest.fixture(scope="module")
def x():
    return patches.sample_patches("natural", 8, 3000, np.random.default_rng(0))


def test_remove_patch_mean(x):
    y = patches.remove_patch_mean(x)
    np.testing.assert_allclose(y.mean(axis=0), 0, atol=1e-14)
    np.testing.assert_allclose(x - y, np.broadcast_to(x.mean(axis=0), x.shape), atol=1e-14)


def test_remove_patch_mean_per_channel():
    c = patches.sample_patches("natural", 4, 100, np.random.default_rng(0), colour=True)
    y = patches.remove_patch_mean(c, channels=3)
    np.testing.assert_allclose(y.reshape(3, 16, 100).mean(axis=1), 0, atol=1e-14)
    with pytest.raises(ValueError, match="channels=5"):
        patches.remove_patch_mean(c, channels=5)


def test_remove_pixel_mean(x):
    y, mean = patches.remove_pixel_mean(x, return_mean=True)
    np.testing.assert_allclose(y.mean(axis=1), 0, atol=1e-14)
    np.testing.assert_allclose(mean, x.mean(axis=1))


def test_squash_matches_ufldl(x):
    y = patches.squash(x)
    assert y.min() >= 0.1 - 1e-15 and y.max() <= 0.9 + 1e-15
    # UFLDL sampleIMAGES.m normalizeData, written out
    z = x - x.mean(axis=0)
    pstd = 3 * z.std(ddof=1)
    z = np.maximum(np.minimum(z, pstd), -pstd) / pstd
    np.testing.assert_allclose(y, (z + 1) * 0.4 + 0.1, atol=1e-14)


def test_dtype_kept_and_dispatcher(x):
    x32 = x.astype(np.float32)
    for method in ("patch_mean", "pixel_mean", "squash"):
        assert patches.normalise(x32, method).dtype == np.float32
    assert patches.normalise(x, "none") is x
    with pytest.raises(ValueError, match="'zscore'"):
        patches.normalise(x, "zscore")
    with pytest.raises(ValueError, match="2-D"):
        patches.remove_patch_mean(np.zeros(5))
