"""Tile sheets: layout, per-tile normalisation, ordering, colour."""

from __future__ import annotations

import numpy as np
import pytest

from sparselearn.plotting import filter_statistic, grid_shape, tile_filters


def _tile(sheet: np.ndarray, r: int, c: int, h: int, w: int, border: int = 1) -> np.ndarray:
    top, left = border + r * (h + border), border + c * (w + border)
    return sheet[top:top + h, left:left + w]


def test_grid_shape_default_and_given():
    assert grid_shape(10) == (3, 4)
    assert grid_shape(16) == (4, 4)
    assert grid_shape(6, (2, 3)) == (2, 3)
    with pytest.raises(ValueError, match="room for 4"):
        grid_shape(5, (2, 2))


def test_layout_shape_and_border():
    filters = np.random.default_rng(0).normal(size=(10, 6 * 4))
    sheet = tile_filters(filters, (6, 4), border=1, border_value=0.0)
    assert sheet.shape == (3 * 7 + 1, 4 * 5 + 1)
    assert np.all(sheet[0, :] == 0) and np.all(sheet[:, 0] == 0)
    # cells past the last filter stay border-coloured
    assert np.all(_tile(sheet, 2, 3, 6, 4) == 0)
    assert sheet.min() >= 0 and sheet.max() <= 1


def test_each_tile_normalised_on_its_own():
    base = np.linspace(-1, 1, 16)
    filters = np.stack([base, 1000 * base, 0.001 * base, -base])
    sheet = tile_filters(filters, 4, grid=(1, 4))
    tiles = [_tile(sheet, 0, c, 4, 4) for c in range(4)]
    for tile in tiles[:3]:
        np.testing.assert_allclose(tile, tiles[0])
        assert tile.max() == pytest.approx(1.0) and tile.min() == pytest.approx(0.0)
    np.testing.assert_allclose(tiles[3], 1 - tiles[0])
    # zero stays mid-grey
    zero = tile_filters(np.zeros((1, 16)), 4)
    np.testing.assert_allclose(_tile(zero, 0, 0, 4, 4), 0.5)


def test_pixel_layout_is_row_major():
    filt = np.arange(12, dtype=float)[None, :]  # 3 x 4 patch
    tile = _tile(tile_filters(filt, (3, 4)), 0, 0, 3, 4)
    assert tile[0, 0] == tile.min() and tile[0, 1] < tile[1, 0]
    assert np.argmax(tile) == 11


def test_order_and_sort():
    rng = np.random.default_rng(1)
    filters = rng.normal(size=(4, 16)) * np.array([1, 4, 2, 3])[:, None]
    by_var = tile_filters(filters, 4, sort="variance", grid=(1, 4))
    explicit = tile_filters(filters, 4, order=np.argsort(-filters.var(axis=1)), grid=(1, 4))
    np.testing.assert_array_equal(by_var, explicit)
    reversed_ = tile_filters(filters, 4, order=[3, 2, 1, 0], grid=(1, 4))
    np.testing.assert_array_equal(_tile(reversed_, 0, 0, 4, 4),
                                  _tile(tile_filters(filters, 4, grid=(1, 4)), 0, 3, 4, 4))
    with pytest.raises(ValueError, match="either order or sort"):
        tile_filters(filters, 4, order=[0, 1, 2, 3], sort="norm")
    with pytest.raises(ValueError, match="unknown sort key"):
        tile_filters(filters, 4, sort="beauty")


def test_orientation_statistic_separates_edges():
    y, x = np.mgrid[0:8, 0:8]
    vertical = np.sin(2 * np.pi * x / 4.0).ravel()    # varies along x: vertical stripes
    horizontal = np.sin(2 * np.pi * y / 4.0).ravel()
    angles = filter_statistic(np.stack([horizontal, vertical]), "orientation", 8)
    assert angles[0] == pytest.approx(0.0, abs=1e-6)
    assert angles[1] == pytest.approx(np.pi / 2, abs=1e-6)
    freq = filter_statistic(np.stack([vertical]), "frequency", 8)
    assert freq[0] == pytest.approx(0.25)


def test_topographic_order_keeps_torus_positions():
    filters = np.random.default_rng(2).normal(size=(6, 4))
    sheet = tile_filters(filters, 2, grid=(2, 3), topographic=True)
    assert sheet.shape == (2 * 3 + 1, 3 * 3 + 1)
    single = tile_filters(filters[4:5], 2)
    np.testing.assert_array_equal(_tile(sheet, 1, 1, 2, 2), _tile(single, 0, 0, 2, 2))
    with pytest.raises(ValueError, match="rows\\*cols"):
        tile_filters(filters, 2, grid=(2, 2), topographic=True)
    with pytest.raises(ValueError, match="keeps the torus order"):
        tile_filters(filters, 2, grid=(2, 3), topographic=True, sort="norm")


def test_colour_channel_major_and_mean_removed():
    h = w = 2
    red = np.ones((1, h * w)) * 2.0
    filt = np.concatenate([red, np.zeros((1, h * w)), np.zeros((1, h * w))], axis=1)
    sheet = tile_filters(filt, (h, w), channels=3)
    assert sheet.shape == (4, 4, 3)
    tile = _tile(sheet, 0, 0, h, w)
    # red above the tile mean, green and blue below, mean removed per tile
    assert np.all(tile[..., 0] > 0.5) and np.all(tile[..., 1] < 0.5)
    np.testing.assert_allclose(tile[..., 1], tile[..., 2])
    assert np.abs(tile - 0.5).max() == pytest.approx(0.5)


def test_bad_shapes_rejected():
    with pytest.raises(ValueError, match="needs 64"):
        tile_filters(np.zeros((3, 60)), 8)
    with pytest.raises(ValueError, match="channels"):
        tile_filters(np.zeros((3, 64)), 8, channels=2)
