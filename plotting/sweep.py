"""Sweep pictures: final metrics against each varied parameter, and filter sheets side by side.

Both work on plain data (rows of a sweep's ``summary.csv`` as dicts, and filter matrices), so
they depend on numpy and matplotlib only; the filter sheets reuse :func:`plotting.tile_filters`.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from sparselearn.plotting.curves import use_log_scale
from sparselearn.plotting.figures import save_figure
from sparselearn.plotting.tiles import grid_shape, tile_filters

__all__ = ["Sheet", "metrics_figure", "filter_grid_figure", "save_metrics", "save_filter_grid"]


def _number(value: Any) -> float:
    """``value`` as a float (NaN for blanks and text)."""
    if isinstance(value, bool):
        return float(value)
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _is_number(value: Any) -> bool:
    return not isinstance(value, bool) and math.isfinite(_number(value))


def _label(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _axis_values(values: Sequence[Any]) -> tuple[list[Any], bool]:
    """Distinct values in display order, and whether the axis is numeric."""
    distinct: list[Any] = []
    for value in values:
        if value not in distinct:
            distinct.append(value)
    numeric = all(_is_number(v) for v in distinct)
    if numeric:
        distinct.sort(key=_number)
    return distinct, numeric


def _panel(ax: Any, rows: Sequence[Mapping[str, Any]], param: str, metric: str,
           others: Sequence[str], legend: bool) -> None:
    """One metric against one parameter: a line per setting of the other parameters."""
    usable = [row for row in rows if math.isfinite(_number(row.get(metric)))]
    xs, numeric = _axis_values([row.get(param) for row in rows])
    position = {_label(x): (_number(x) if numeric else i) for i, x in enumerate(xs)}
    series: dict[tuple, list[Mapping[str, Any]]] = {}
    for row in usable:
        series.setdefault(tuple(_label(row.get(q)) for q in others), []).append(row)
    every_y: list[float] = []
    for key, members in series.items():
        points: dict[str, list[float]] = {}
        for row in members:
            points.setdefault(_label(row.get(param)), []).append(_number(row[metric]))
        order = [lab for lab in (_label(x) for x in xs) if lab in points]
        px = np.array([position[lab] for lab in order], dtype=float)
        mean = np.array([np.mean(points[lab]) for lab in order])
        spread = np.array([np.std(points[lab]) for lab in order])
        name = ", ".join(f"{q.rsplit('.', 1)[-1]}={v}" for q, v in zip(others, key,
                                                                      strict=True))
        line = ax.plot(px, mean, marker="o", ms=4, lw=1.3, label=name or "mean")[0]
        if np.any(spread > 0):
            ax.fill_between(px, mean - spread, mean + spread, color=line.get_color(),
                            alpha=0.2, lw=0)
        for lab in order:
            ys = points[lab]
            ax.scatter([position[lab]] * len(ys), ys, s=8, color=line.get_color(), alpha=0.5,
                       lw=0)
            every_y += ys
    if numeric and use_log_scale(np.array([_number(x) for x in xs])):
        ax.set_xscale("log")
    if not numeric:
        ax.set_xticks(range(len(xs)), [_label(x) for x in xs], fontsize=7)
    elif len(xs) <= 8:
        ax.set_xticks([_number(x) for x in xs], [_label(x) for x in xs], fontsize=7)
        ax.minorticks_off()
    if every_y and use_log_scale(np.array(every_y)):
        ax.set_yscale("log")
    if not usable:
        ax.text(0.5, 0.5, "no finished runs", ha="center", va="center",
                transform=ax.transAxes, fontsize=8)
    ax.grid(True, alpha=0.3)
    ax.tick_params(labelsize=7)
    if legend and others and series:
        ax.legend(fontsize=6, loc="best")


def metrics_figure(rows: Sequence[Mapping[str, Any]], params: Sequence[str],
                   metrics: Sequence[str], title: str | None = None,
                   seed_key: str = "seed") -> Figure:
    """Final metrics against each varied parameter, mean ± std over seeds.

    One row of axes per metric, one column per parameter. In the axis of parameter ``p``, each
    setting of the other parameters is one line through the means over seeds (the band is ± one
    standard deviation; the dots are the single runs). A numeric parameter spanning a decade or
    more gets a log axis; text parameters are categories.

    Parameters
    ----------
    rows : sequence of mapping
        One per run (e.g. the finished rows of ``summary.csv``), holding each parameter and
        metric by name; blanks and NaN are skipped.
    params : sequence of str
        Varied parameters (columns of ``rows``); empty: the runs are drawn against
        ``seed_key``.
    metrics : sequence of str
    title : str, optional
    seed_key : str

    Returns
    -------
    matplotlib.figure.Figure
    """
    params = list(params) or [seed_key]
    metrics = list(metrics) or ["objective"]
    fig = Figure(figsize=(3.8 * len(params) + 0.4, 2.4 * len(metrics) + 0.6),
                 layout="constrained")
    axes = fig.subplots(len(metrics), len(params), squeeze=False)
    for i, metric in enumerate(metrics):
        for j, param in enumerate(params):
            others = [q for q in params if q != param and q != seed_key]
            ax = axes[i, j]
            _panel(ax, rows, param, metric, others, legend=(i == 0))
            if j == 0:
                ax.set_ylabel(metric, fontsize=8)
            if i == len(metrics) - 1:
                ax.set_xlabel(param, fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


@dataclass
class Sheet:
    """One filter sheet of a sweep picture.

    Attributes
    ----------
    filters : ndarray, shape (k, n)
        One filter per row, in pixel space.
    patch_shape : int or (height, width)
    channels : int
    label : str
        Title of the panel (e.g. the run's overrides).
    tile_kwargs : dict
        Passed to :func:`plotting.tile_filters` (``grid``, ``topographic``, ``sort``...).
    """

    filters: np.ndarray
    patch_shape: int | Sequence[int]
    channels: int = 1
    label: str = ""
    tile_kwargs: dict[str, Any] = field(default_factory=dict)


def filter_grid_figure(sheets: Sequence[Sheet | None], shape: Sequence[int] | None = None,
                       labels: Sequence[str] | None = None, title: str | None = None,
                       panel_inches: float = 2.4) -> Figure:
    """Filter sheets side by side, in order, row-major on a ``shape`` grid.

    Parameters
    ----------
    sheets : sequence of Sheet or None
        None draws an empty panel ("no filters"), e.g. for a run that has not run yet.
    shape : (rows, cols), optional
        Panel layout (e.g. the two axes of a 2-D sweep grid); default as square as possible.
    labels : sequence of str, optional
        Panel titles for ``None`` sheets (a Sheet carries its own label).
    title : str, optional
    panel_inches : float
        Size of one panel.

    Returns
    -------
    matplotlib.figure.Figure
    """
    rows, cols = grid_shape(max(1, len(sheets)), shape)
    fig = Figure(figsize=(panel_inches * cols, (panel_inches + 0.3) * rows + (0.4 if title
                                                                            else 0.0)),
                 layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for index, ax in enumerate(axes):
        ax.set_xticks([])
        ax.set_yticks([])
        if index >= len(sheets):
            ax.set_axis_off()
            continue
        sheet = sheets[index]
        label = sheet.label if sheet is not None else (labels[index] if labels else "")
        if sheet is None:
            ax.text(0.5, 0.5, "no filters", ha="center", va="center", transform=ax.transAxes,
                    fontsize=8, color="0.4")
        else:
            image = tile_filters(sheet.filters, sheet.patch_shape, channels=sheet.channels,
                                 **sheet.tile_kwargs)
            kwargs = {"cmap": "gray"} if image.ndim == 2 else {}
            ax.imshow(image, vmin=0.0, vmax=1.0, interpolation="nearest", **kwargs)
        ax.set_title(label, fontsize=7)
        for spine in ax.spines.values():
            spine.set_visible(sheet is None)
            spine.set_color("0.8")
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def save_metrics(path: str | os.PathLike, rows: Sequence[Mapping[str, Any]],
                 params: Sequence[str], metrics: Sequence[str], **kwargs: Any) -> Path:
    """Draw :func:`metrics_figure` and save it atomically."""
    return save_figure(metrics_figure(rows, params, metrics, **kwargs), path)


def save_filter_grid(path: str | os.PathLike, sheets: Sequence[Sheet | None],
                     **kwargs: Any) -> Path:
    """Draw :func:`filter_grid_figure` and save it atomically."""
    return save_figure(filter_grid_figure(sheets, **kwargs), path, dpi=120)
