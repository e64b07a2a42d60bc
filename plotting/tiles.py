"""Tiled sheets of learned bases, after UFLDL's ``display_network``.

Every basis (one per row of ``filters``) becomes one tile, contrast-normalised on its own, laid
out on a grid separated by a thin border. Tiles can follow the model's topographic torus (feature
``i`` at row ``i // cols``, column ``i % cols``) or be sorted by a statistic such as variance or
dominant orientation.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

__all__ = ["SORT_KEYS", "filter_statistic", "grid_shape", "tile_filters"]

#: Statistics accepted by ``sort=`` (strings); a callable taking the ``(k, n)`` filters and
#: returning ``k`` numbers works too. Large values first, except orientation (0 to π, ascending).
SORT_KEYS = ("variance", "norm", "orientation", "frequency")


def _patch_hw(patch_shape: int | Sequence[int]) -> tuple[int, int]:
    if isinstance(patch_shape, (int, np.integer)):
        return int(patch_shape), int(patch_shape)
    height, width = (int(v) for v in patch_shape)
    return height, width


def grid_shape(count: int, grid: Sequence[int] | None = None) -> tuple[int, int]:
    """Rows and columns of the tile grid: ``grid`` if given, else as square as possible.

    Parameters
    ----------
    count : int
        Number of tiles.
    grid : (rows, cols), optional
        Requested layout; must have room for ``count`` tiles.

    Returns
    -------
    (rows, cols) : tuple of int
    """
    if grid is not None:
        rows, cols = (int(v) for v in grid)
        if rows * cols < count:
            raise ValueError(f"grid {rows}x{cols} has room for {rows * cols} tiles, need {count}")
        return rows, cols
    cols = max(1, math.ceil(math.sqrt(count)))
    rows = max(1, math.ceil(count / cols))
    return rows, cols


def _as_images(filters: np.ndarray, height: int, width: int, channels: int,
               channel_layout: str) -> np.ndarray:
    """Reshape ``(k, n)`` rows into ``(k, height, width, channels)`` images."""
    k, n = filters.shape
    if n != height * width * channels:
        raise ValueError(
            f"filters have {n} values per row; patch shape {height}x{width} with {channels} "
            f"channel(s) needs {height * width * channels}"
        )
    if channel_layout == "last":
        return filters.reshape(k, height, width, channels)
    if channel_layout == "first":
        return filters.reshape(k, channels, height, width).transpose(0, 2, 3, 1)
    raise ValueError(f"channel_layout must be 'last' or 'first', got {channel_layout!r}")


def _orientation_and_frequency(images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Power-weighted dominant orientation (radians in [0, π)) and radial frequency per image."""
    grey = images.mean(axis=3)
    grey = grey - grey.mean(axis=(1, 2), keepdims=True)
    power = np.abs(np.fft.fft2(grey)) ** 2
    fy = np.fft.fftfreq(grey.shape[1])[:, None]
    fx = np.fft.fftfreq(grey.shape[2])[None, :]
    angle = np.arctan2(fy, fx)
    radius = np.hypot(fy, fx)
    total = power.sum(axis=(1, 2)) + 1e-300
    cos2 = (power * np.cos(2 * angle)).sum(axis=(1, 2)) / total
    sin2 = (power * np.sin(2 * angle)).sum(axis=(1, 2)) / total
    # The spectrum's dominant direction is the gradient direction; the edge runs across it.
    orientation = np.mod(0.5 * np.arctan2(sin2, cos2) + np.pi / 2, np.pi)
    frequency = (power * radius).sum(axis=(1, 2)) / total
    return orientation, frequency


def filter_statistic(filters: np.ndarray, key: str, patch_shape: int | Sequence[int],
                     channels: int = 1, channel_layout: str = "first") -> np.ndarray:
    """One number per filter, as used by ``tile_filters(sort=key)``.

    Parameters
    ----------
    filters : ndarray, shape (k, n)
        One filter per row.
    key : {"variance", "norm", "orientation", "frequency"}
        ``variance`` and ``norm`` of the row; ``orientation``: power-weighted dominant edge
        orientation in radians, in [0, π); ``frequency``: power-weighted mean spatial frequency
        in cycles per pixel.
    patch_shape, channels, channel_layout
        As for :func:`tile_filters`.

    Returns
    -------
    ndarray, shape (k,)
    """
    filters = np.asarray(filters, dtype=np.float64)
    if key == "variance":
        return filters.var(axis=1)
    if key == "norm":
        return np.linalg.norm(filters, axis=1)
    if key in ("orientation", "frequency"):
        height, width = _patch_hw(patch_shape)
        images = _as_images(filters, height, width, channels, channel_layout)
        orientation, frequency = _orientation_and_frequency(images)
        return orientation if key == "orientation" else frequency
    raise ValueError(f"unknown sort key {key!r}; expected one of {', '.join(SORT_KEYS)}")


def _sort_order(filters: np.ndarray, sort: str | Callable[[np.ndarray], np.ndarray],
                patch_shape: int | Sequence[int], channels: int,
                channel_layout: str) -> np.ndarray:
    if callable(sort):
        values = np.asarray(sort(filters), dtype=np.float64)
        return np.argsort(-values, kind="stable")
    values = filter_statistic(filters, sort, patch_shape, channels, channel_layout)
    if sort == "orientation":
        return np.argsort(values, kind="stable")
    return np.argsort(-values, kind="stable")


def tile_filters(
    filters: np.ndarray,
    patch_shape: int | Sequence[int],
    channels: int = 1,
    grid: Sequence[int] | None = None,
    order: Sequence[int] | None = None,
    sort: str | Callable[[np.ndarray], np.ndarray] | None = None,
    topographic: bool = False,
    border: int = 1,
    border_value: float = 0.0,
    channel_layout: str = "first",
) -> np.ndarray:
    """Lay out one tile per filter on a grid, each tile contrast-normalised on its own.

    Parameters
    ----------
    filters : ndarray, shape (k, n)
        One basis per row, ``n = height * width * channels``.
    patch_shape : int or (height, width)
        Shape of one patch.
    channels : int, default 1
        1 for grey tiles, 3 for RGB tiles.
    grid : (rows, cols), optional
        Tile layout; default as square as possible (``cols = ceil(sqrt(k))``). With
        ``topographic=True`` this is the model's torus and must hold exactly ``k`` features.
    order : sequence of int, optional
        Explicit placement: tile ``t`` shows filter ``order[t]``.
    sort : str or callable, optional
        Sort tiles by a statistic (see :data:`SORT_KEYS` and :func:`filter_statistic`).
    topographic : bool, default False
        Keep feature ``i`` at grid cell ``(i // cols, i % cols)`` of the model's torus, so that
        neighbours on the sheet are neighbours in the model. Excludes ``order`` and ``sort``.
    border : int, default 1
        Width in pixels of the border around and between tiles.
    border_value : float, default 0.0
        Border intensity in [0, 1] (0: black, as in UFLDL).
    channel_layout : {"first", "last"}
        How a colour patch vector is laid out: ``"first"`` (the ``patches`` convention) is
        channel-major, one full row-major plane per channel; ``"last"`` is ``(height, width,
        channels)`` in C order.

    Returns
    -------
    ndarray
        ``(H, W)`` for grey or ``(H, W, 3)`` for colour, values in [0, 1], where
        ``H = rows * (height + border) + border`` and likewise for ``W``. Grey tiles are divided
        by their largest absolute value and mapped so that 0 is mid-grey; colour tiles have
        their mean removed first. Cells without a filter show the border value.
    """
    filters = np.asarray(filters, dtype=np.float64)
    if filters.ndim != 2:
        raise ValueError(f"filters must be 2-D (k, n), got shape {filters.shape}")
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels}")
    k = filters.shape[0]
    height, width = _patch_hw(patch_shape)
    images = _as_images(filters, height, width, channels, channel_layout)

    if topographic:
        if order is not None or sort is not None:
            raise ValueError("topographic=True keeps the torus order; do not pass order or sort")
        if grid is None or int(grid[0]) * int(grid[1]) != k:
            raise ValueError(f"topographic=True needs grid=(rows, cols) with rows*cols == {k}")
    if order is not None and sort is not None:
        raise ValueError("pass either order or sort, not both")
    if sort is not None:
        order = _sort_order(filters, sort, (height, width), channels, channel_layout)
    if order is None:
        order = np.arange(k)
    order = np.asarray(order, dtype=np.intp)
    if order.ndim != 1 or (order.size and (order.min() < 0 or order.max() >= k)):
        raise ValueError(f"order must be a 1-D sequence of indices in [0, {k})")
    rows, cols = grid_shape(order.size, grid)

    # Per-tile contrast normalisation.
    if channels == 3:
        images = images - images.mean(axis=(1, 2, 3), keepdims=True)
    scale = np.abs(images).max(axis=(1, 2, 3), keepdims=True)
    scale[scale == 0] = 1.0
    images = 0.5 + 0.5 * images / scale

    sheet = np.full((rows * (height + border) + border, cols * (width + border) + border,
                     channels), float(border_value))
    for tile, index in enumerate(order):
        r, c = divmod(tile, cols)
        top = border + r * (height + border)
        left = border + c * (width + border)
        sheet[top:top + height, left:left + width, :] = images[index]
    return sheet[:, :, 0] if channels == 1 else sheet
