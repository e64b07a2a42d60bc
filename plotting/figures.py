"""Matplotlib figures for filter sheets and training curves, and atomic saving."""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from sparselearn.plotting.atomic import atomic_write_bytes
from sparselearn.plotting.curves import DEFAULT_SKIP, curve_columns, read_metrics, use_log_scale
from sparselearn.plotting.tiles import tile_filters

__all__ = ["filters_figure", "curves_figure", "save_figure", "save_filters", "save_curves"]


def filters_figure(filters: np.ndarray, patch_shape: int | Sequence[int], channels: int = 1,
                   title: str | None = None, scale: float = 0.08, **tile_kwargs: Any) -> Figure:
    """A figure showing :func:`plotting.tile_filters` of ``filters``.

    Parameters
    ----------
    filters, patch_shape, channels
        As for :func:`plotting.tile_filters`.
    title : str, optional
    scale : float, default 0.08
        Inches per sheet pixel (the figure grows with the sheet, within limits).
    **tile_kwargs
        Passed on (``grid``, ``order``, ``sort``, ``topographic``, ``border``...).

    Returns
    -------
    matplotlib.figure.Figure
    """
    sheet = tile_filters(filters, patch_shape, channels=channels, **tile_kwargs)
    height, width = sheet.shape[:2]
    inches = np.clip(np.array([width, height]) * scale, 2.0, 14.0)
    fig = Figure(figsize=(float(inches[0]), float(inches[1]) + (0.4 if title else 0.0)))
    ax = fig.add_axes((0, 0, 1, 1 if not title else 1 - 0.4 / fig.get_figheight()))
    kwargs = {"cmap": "gray"} if sheet.ndim == 2 else {}
    ax.imshow(sheet, vmin=0.0, vmax=1.0, interpolation="nearest", **kwargs)
    ax.set_axis_off()
    if title:
        ax.set_title(title, fontsize=9)
    return fig


def curves_figure(metrics: dict[str, np.ndarray] | str | os.PathLike,
                  columns: Sequence[str] | None = None, x: str = "iteration",
                  skip: Sequence[str] = DEFAULT_SKIP, title: str | None = None) -> Figure:
    """Training curves, one axis per quantity, log scale where positive and spanning decades.

    Parameters
    ----------
    metrics : dict of str to ndarray, or path to ``metrics.csv``
    columns : sequence of str, optional
        Columns to draw; default every column with a finite value, except ``skip``.
    x : str, default "iteration"
        Column for the horizontal axis (row number if absent).
    skip : sequence of str
        Columns left out when ``columns`` is not given.
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    if not isinstance(metrics, dict):
        metrics = read_metrics(metrics)
    names = list(columns) if columns is not None else curve_columns(metrics, skip)
    count = max(1, len(names))
    ncols = 2 if count > 3 else 1
    nrows = int(np.ceil(count / ncols))
    fig = Figure(figsize=(5.0 * ncols, 2.2 * nrows + 0.4), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    length = len(next(iter(metrics.values()))) if metrics else 0
    xs = metrics.get(x, np.arange(1, length + 1))
    for ax, name in zip(axes, names, strict=False):
        values = metrics[name]
        ax.plot(xs, values, lw=1.2)
        ax.set_title(name, fontsize=9)
        if use_log_scale(values):
            ax.set_yscale("log")
        ax.grid(True, alpha=0.3)
        ax.set_xlabel(x, fontsize=8)
        ax.tick_params(labelsize=8)
    for ax in axes[len(names):]:
        ax.set_axis_off()
    if not names:
        axes[0].text(0.5, 0.5, "no metrics yet", ha="center", va="center")
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def save_figure(fig: Figure, path: str | os.PathLike, dpi: int = 100) -> Path:
    """Render ``fig`` and write it to ``path`` atomically; the format follows the suffix."""
    path = Path(path)
    buffer = io.BytesIO()
    fig.savefig(buffer, format=path.suffix.lstrip(".") or "png", dpi=dpi)
    atomic_write_bytes(path, buffer.getvalue())
    return path


def save_filters(path: str | os.PathLike, filters: np.ndarray,
                 patch_shape: int | Sequence[int], channels: int = 1,
                 **kwargs: Any) -> Path:
    """Draw :func:`filters_figure` and save it atomically to ``path``."""
    return save_figure(filters_figure(filters, patch_shape, channels, **kwargs), path)


def save_curves(path: str | os.PathLike, metrics: dict[str, np.ndarray] | str | os.PathLike,
                **kwargs: Any) -> Path:
    """Draw :func:`curves_figure` and save it atomically to ``path``."""
    return save_figure(curves_figure(metrics, **kwargs), path)
