"""Patch sampling: speed, reproducibility, layout, grey conversion, shares, bad input."""

from __future__ import annotations

import subprocess
import sys
import time

import numpy as np
import pytest

from sparselearn import patches
from sparselearn.patches.layout import GREY_WEIGHTS


def test_20000_grey_patches_fast_and_reproducible():
    patches.load_natural_image.cache_clear()
    start = time.perf_counter()
    x = patches.sample_patches("natural", (8, 8), 20_000, np.random.default_rng(42))
    cold = time.perf_counter() - start
    start = time.perf_counter()
    y = patches.sample_patches("natural", (8, 8), 20_000, np.random.default_rng(42))
    warm = time.perf_counter() - start
    assert x.shape == (64, 20_000) and x.dtype == np.float64
    assert x.flags.c_contiguous
    assert cold < 5.0 and warm < 1.0, (cold, warm)
    np.testing.assert_array_equal(x, y)
    assert 0.0 <= x.min() and x.max() <= 1.0
    z = patches.sample_patches("natural", (8, 8), 20_000, np.random.default_rng(43))
    assert not np.array_equal(x, z)


def test_same_seed_same_patches_in_a_fresh_process():
    code = (
        "import hashlib, numpy as np; from sparselearn import patches;"
        "x = patches.sample_patches('natural', 8, 2000, np.random.default_rng(7));"
        "print(hashlib.sha256(x.tobytes()).hexdigest())"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    import hashlib

    x = patches.sample_patches("natural", 8, 2000, np.random.default_rng(7))
    assert out.stdout.strip() == hashlib.sha256(x.tobytes()).hexdigest()


def test_float32_and_rectangular_and_colour_shapes():
    rng = np.random.default_rng(0)
    x = patches.sample_patches("natural", (6, 10), 300, rng, dtype=np.float32)
    assert x.shape == (60, 300) and x.dtype == np.float32
    c = patches.sample_patches("natural", (6, 10), 300, rng, colour=True)
    assert c.shape == (180, 300)


def test_colour_layout_is_channel_major_row_major():
    # an image exactly one patch big has one position: the vector is its layout
    img = np.arange(4 * 5 * 3, dtype=np.uint8).reshape(4, 5, 3)
    x = patches.sample_patches([img], (4, 5), 3, np.random.default_rng(0), colour=True)
    want = np.concatenate([img[:, :, ch].ravel() for ch in range(3)]) / 255.0
    for col in x.T:
        np.testing.assert_allclose(col, want, rtol=0, atol=1e-15)
    np.testing.assert_array_equal(patches.image_to_patch_vector(img), want * 255)
    back = patches.patch_vector_to_image(x, (4, 5), channels=3)
    assert back.shape == (3, 4, 5, 3)
    np.testing.assert_allclose(back[0] * 255, img, atol=1e-12)
    np.testing.assert_allclose(patches.patch_vector_to_image(x[:, 0], (4, 5), 3) * 255, img,
                               atol=1e-12)


def test_patch_vector_to_image_fortran_order():
    patch = np.arange(2 * 3 * 3).reshape(2, 3, 3)
    matlab = np.concatenate([patch[:, :, ch].ravel(order="F") for ch in range(3)])
    np.testing.assert_array_equal(patches.patch_vector_to_image(matlab, (2, 3), 3, order="F"),
                                  patch)
    with pytest.raises(ValueError, match="n = channels·h·w = 18"):
        patches.patch_vector_to_image(np.zeros(17), (2, 3), 3)


def test_grey_conversion_of_rgb_matches_converting_first():
    rng = np.random.default_rng(1)
    rgb = rng.integers(0, 256, size=(40, 30, 3), dtype=np.uint8)
    grey = (rgb / 255.0) @ np.asarray(GREY_WEIGHTS)
    a = patches.sample_patches([rgb], 5, 200, np.random.default_rng(3))
    b = patches.sample_patches([grey], 5, 200, np.random.default_rng(3))
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-14)
    import skimage.color

    np.testing.assert_allclose(patches.rgb_to_grey(rgb / 255.0), skimage.color.rgb2gray(rgb),
                               atol=1e-12)


def test_uint16_scaled_and_float_kept():
    img16 = np.full((10, 10), 65535, dtype=np.uint16)
    assert patches.sample_patches([img16], 3, 5, np.random.default_rng(0)).max() == 1.0
    imgf = np.full((10, 10), 7.5)
    assert patches.sample_patches([imgf], 3, 5, np.random.default_rng(0)).max() == 7.5


def test_shares():
    np.testing.assert_array_equal(patches.split_count(10, [1, 1, 1], "equal"), [4, 3, 3])
    np.testing.assert_array_equal(patches.split_count(10, [100, 300, 600], "area"), [1, 3, 6])
    assert patches.split_count(7, [5, 9, 11, 2], "area").sum() == 7
    small = np.zeros((10, 10))
    big = np.ones((20, 40))
    x = patches.sample_patches([small, big], 4, 90, np.random.default_rng(0), share="area")
    assert (x[0] == 1).sum() == 80  # 800 of 900 pixels belong to the big image
    x = patches.sample_patches([small, big], 4, 90, np.random.default_rng(0), share="equal")
    assert (x[0] == 1).sum() == 45
    with pytest.raises(ValueError, match="share"):
        patches.sample_patches([small], 4, 9, np.random.default_rng(0), share="pixels")


def test_positions_cover_the_image_uniformly():
    img = np.arange(12 * 12, dtype=np.float64).reshape(12, 12)
    x = patches.sample_patches([img], 3, 20_000, np.random.default_rng(0))
    corners = x[0]  # top-left pixel value = 12·row + col
    rows, cols = np.divmod(corners.astype(int), 12)
    assert rows.min() == 0 and rows.max() == 9 and cols.min() == 0 and cols.max() == 9
    counts = np.bincount(rows * 10 + cols, minlength=100)
    assert counts.min() > 120 and counts.max() < 290  # expected 200 each


# ------------------------------------------------------------------------- bad input


def test_patch_larger_than_image_names_it():
    with pytest.raises(ValueError, match=r"\(20, 8\).*'image 1'.*10×30"):
        patches.sample_patches([np.zeros((40, 40)), np.zeros((10, 30))], (20, 8), 5,
                               np.random.default_rng(0))


@pytest.mark.parametrize("count", [0, -3, 2.5, True])
def test_non_positive_count(count):
    with pytest.raises(ValueError, match="count"):
        patches.sample_patches("natural", 8, count, np.random.default_rng(0))


@pytest.mark.parametrize("shape", [0, (8, 0), (8, -1), (8, 8, 8), "8"])
def test_bad_patch_shape(shape):
    with pytest.raises(ValueError, match="patch_shape"):
        patches.sample_patches("natural", shape, 10, np.random.default_rng(0))


def test_rng_must_be_a_generator():
    with pytest.raises(TypeError, match="Generator"):
        patches.sample_patches("natural", 8, 10, 0)


def test_mixed_channel_counts_named():
    grey = np.zeros((20, 20))
    rgb = np.zeros((20, 20, 3))
    with pytest.raises(ValueError, match=r"mixed channel counts.*'image 0': 1.*'image 1': 3"):
        patches.sample_patches([grey, rgb], 4, 10, np.random.default_rng(0), colour=True)
    with pytest.raises(ValueError, match="'image 0'.*1 channel"):
        patches.sample_patches([grey], 4, 10, np.random.default_rng(0), colour=True)
    with pytest.raises(ValueError, match="'image 0' has 4 channels"):
        patches.sample_patches([np.zeros((20, 20, 4))], 4, 10, np.random.default_rng(0))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_pixels_named(bad, tmp_path):
    img = np.zeros((20, 20))
    img[5, 7] = bad
    with pytest.raises(ValueError, match="'image 1'.*NaN or infinite"):
        patches.sample_patches([np.zeros((20, 20)), img], 4, 10, np.random.default_rng(0))
    np.save(tmp_path / "stack.npy", np.stack([img] * 3))  # memory-mapped: checked per patch
    with pytest.raises(ValueError, match=r"stack.npy\[0\].*NaN or infinite"):
        patches.sample_patches(tmp_path / "stack.npy", 18, 50, np.random.default_rng(0),
                               kind="images")
    mat = np.zeros((16, 100))
    mat[3, 40] = bad
    with pytest.raises(ValueError, match="'array'.*NaN or infinite"):
        patches.sample_patches(mat, 4, 100, np.random.default_rng(0))


def test_patches_matrix_count_too_large():
    with pytest.raises(ValueError, match="count 200 .* 100 patches"):
        patches.sample_patches(np.zeros((16, 100)), 4, 200, np.random.default_rng(0))
