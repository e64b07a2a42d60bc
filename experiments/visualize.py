"""Redraw the pictures of a run directory (finished or interrupted) without retraining."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from sparselearn.experiments import rundir as rd
from sparselearn.experiments.artifacts import draw_curves, draw_filters
from sparselearn.experiments.config import load_config
from sparselearn.experiments.errors import RunDirError

__all__ = ["load_filters", "redraw_run"]


def load_filters(run_dir: str | os.PathLike) -> tuple[np.ndarray, str]:
    """Pixel-space filters of a run: from ``model.npz`` if finished, else ``checkpoint.npz``.

    Returns
    -------
    filters : ndarray, shape (k, n)
    source : str
        The file they came from.
    """
    run_dir = Path(run_dir)
    for name in (rd.MODEL, rd.CHECKPOINT):
        path = run_dir / name
        if path.is_file():
            try:
                with np.load(path, allow_pickle=False) as archive:
                    return np.asarray(archive["filters"]), str(path)
            except (OSError, ValueError, KeyError) as exc:
                raise RunDirError(f"{path}: cannot read filters ({exc})") from None
    raise RunDirError(f"{run_dir}: run directory has neither {rd.MODEL} nor {rd.CHECKPOINT} "
                      f"(it stopped before its first checkpoint)")


def redraw_run(run_dir: str | os.PathLike, out: str | os.PathLike | None = None,
               sort: str | None = None) -> dict[str, str]:
    """Draw ``filters.png`` and ``curves.png`` of a run again.

    Parameters
    ----------
    run_dir : path
    out : path, optional
        Where the filter sheet goes (default ``run_dir/filters.png``); the curves go next to it
        as ``<stem>_curves<suffix>`` (default ``run_dir/curves.png``).
    sort : str, optional
        Sort the tiles by a statistic (``plotting.SORT_KEYS``); default the run's
        ``output.sort``, else the model order (the torus for topographic models).

    Returns
    -------
    dict
        ``{"filters": path, "curves": path}`` (curves absent when there is no metrics file).
    """
    run_dir = rd.check_run_dir(run_dir)
    config = load_config(run_dir / rd.CONFIG)
    filters, source = load_filters(run_dir)
    sort = sort or config["output"].get("sort")
    status = rd.read_status(run_dir)
    label = status.get("status", "unknown")
    title = f"{config['model']['kind']}: {label}, iteration {status.get('iteration', '?')}"
    if out is None:
        filters_path, curves_path = run_dir / rd.FILTERS, run_dir / rd.CURVES
    else:
        filters_path = Path(out)
        if filters_path.suffix == "":
            filters_path = filters_path.with_suffix(".png")
        if not filters_path.parent.is_dir():
            raise RunDirError(f"{filters_path}: folder {filters_path.parent} does not exist")
        curves_path = filters_path.with_name(f"{filters_path.stem}_curves{filters_path.suffix}")
    try:
        written = {"filters": str(draw_filters(filters_path, filters, config, sort=sort,
                                               title=title))}
    except ValueError as exc:
        raise RunDirError(f"{source}: cannot draw filters ({exc})") from None
    if (run_dir / rd.METRICS).is_file():
        written["curves"] = str(draw_curves(curves_path, run_dir / rd.METRICS, title=title))
    return written
