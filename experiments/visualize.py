"""Redraw the pictures of a run directory (finished or interrupted) without retraining."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from sparselearn.experiments import rundir as rd
from sparselearn.experiments.artifacts import draw_curves, draw_filters
from sparselearn.experiments.config import load_config
from sparselearn.experiments.errors import RunDirError
from sparselearn.experiments.runfiles import (
    load_status,
    read_checkpoint_filters,
    read_metrics_file,
    read_model,
)

__all__ = ["load_filters", "redraw_run"]


def load_filters(run_dir: str | os.PathLike) -> tuple[np.ndarray, str]:
    """Pixel-space filters of a run: from ``model.npz`` if finished, else ``checkpoint.npz``.

    Returns
    -------
    filters : ndarray, shape (k, n)
    source : str
        The file they came from.

    Raises
    ------
    RunDirError
        Neither file, or the one read is damaged or does not match ``config.yaml`` (another
        model kind, patch size or number of filters); the message names it.
    """
    run_dir = rd.check_run_dir(run_dir)
    config = load_config(run_dir / rd.CONFIG)
    config_path = str(run_dir / rd.CONFIG)
    model, checkpoint = run_dir / rd.MODEL, run_dir / rd.CHECKPOINT
    if model.is_file():
        return np.asarray(read_model(model, config, config_path)["filters"]), str(model)
    if checkpoint.is_file():
        return read_checkpoint_filters(checkpoint, config, config_path), str(checkpoint)
    raise RunDirError(f"{run_dir}: run directory has neither {rd.MODEL} nor {rd.CHECKPOINT} "
                      f"(it stopped before its first checkpoint: continue it with "
                      f"`sparselearn train --resume {run_dir}`)")


def _destinations(run_dir: Path, out: str | os.PathLike | None) -> tuple[Path, Path]:
    """Where the filter sheet and the curves go (see :func:`redraw_run`)."""
    if out is None:
        return run_dir / rd.FILTERS, run_dir / rd.CURVES
    filters_path = Path(out)
    if filters_path.is_dir():
        return filters_path / rd.FILTERS, filters_path / rd.CURVES
    if filters_path.suffix == "":
        filters_path = filters_path.with_suffix(".png")
    if not filters_path.parent.is_dir():
        raise RunDirError(f"{filters_path}: folder {filters_path.parent} does not exist")
    return filters_path, filters_path.with_name(f"{filters_path.stem}_curves"
                                                f"{filters_path.suffix}")


def redraw_run(run_dir: str | os.PathLike, out: str | os.PathLike | None = None,
               sort: str | None = None) -> dict[str, str]:
    """Draw ``filters.png`` and ``curves.png`` of a run again.

    Parameters
    ----------
    run_dir : path
    out : path, optional
        Where the filter sheet goes (default ``run_dir/filters.png``); the curves go next to it
        as ``<stem>_curves<suffix>`` (default ``run_dir/curves.png``). An existing folder
        receives ``filters.png`` and ``curves.png``.
    sort : str, optional
        Sort the tiles by a statistic (``plotting.SORT_KEYS``); default the run's
        ``output.sort``, else the model order (the torus for topographic models).

    Returns
    -------
    dict
        ``{"filters": path, "curves": path}`` (curves absent when there is no metrics file).

    Raises
    ------
    RunDirError
        Not a run directory, or a damaged file (``status.json``, ``model.npz``,
        ``checkpoint.npz``, ``metrics.csv``); the message names it. An incomplete last row
        of ``metrics.csv`` is left out with a warning instead.
    """
    run_dir = rd.check_run_dir(run_dir)
    config = load_config(run_dir / rd.CONFIG)
    status = load_status(run_dir)
    filters, source = load_filters(run_dir)
    metrics = (read_metrics_file(run_dir / rd.METRICS) if (run_dir / rd.METRICS).is_file()
               else None)
    sort = sort or config["output"].get("sort")
    label = status.get("status", "unknown")
    title = f"{config['model']['kind']}: {label}, iteration {status.get('iteration', '?')}"
    filters_path, curves_path = _destinations(run_dir, out)
    try:
        written = {"filters": str(draw_filters(filters_path, filters, config, sort=sort,
                                               title=title))}
    except ValueError as exc:
        raise RunDirError(f"{source}: cannot draw filters ({exc})") from None
    if metrics is not None:
        written["curves"] = str(draw_curves(curves_path, metrics, title=title))
    return written
