"""Training curves from a run's ``metrics.csv``: each quantity on its own axis."""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Sequence

import numpy as np

__all__ = ["DEFAULT_SKIP", "read_metrics", "curve_columns", "use_log_scale"]

#: Columns not drawn by default (bookkeeping rather than quantities being optimised); columns
#: ending in ``_time`` or ``_share`` (timings) are left out too.
DEFAULT_SKIP = ("iteration", "wall_time", "eval_time", "eval_share")
_SKIP_SUFFIXES = ("_time", "_share")


def read_metrics(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read ``metrics.csv`` into float columns.

    Empty cells and values that do not parse become NaN; a trailing partial line (a run killed
    mid-write) is ignored.

    Parameters
    ----------
    path : path-like

    Returns
    -------
    dict of str to ndarray
        One float array per column, in file order.
    """
    with open(path, newline="", encoding="utf-8") as handle:
        text = handle.read()
    lines = text.splitlines()
    if text and not text.endswith("\n") and lines:
        lines = lines[:-1]
    rows = list(csv.reader(lines))
    if not rows:
        return {}
    header, body = rows[0], [r for r in rows[1:] if len(r) == len(rows[0])]
    columns: dict[str, np.ndarray] = {}
    for j, name in enumerate(header):
        values = []
        for row in body:
            try:
                values.append(float(row[j]))
            except ValueError:
                values.append(math.nan)
        columns[name] = np.asarray(values, dtype=np.float64)
    return columns


def curve_columns(metrics: dict[str, np.ndarray],
                  skip: Sequence[str] = DEFAULT_SKIP) -> list[str]:
    """Columns worth drawing: not skipped, not timings, with at least one finite value."""
    return [name for name, values in metrics.items()
            if name not in skip and not name.endswith(_SKIP_SUFFIXES)
            and np.isfinite(values).any()]


def use_log_scale(values: np.ndarray, decades: float = 1.0) -> bool:
    """True when every finite value is positive and they span at least ``decades`` decades."""
    finite = values[np.isfinite(values)]
    if finite.size < 2 or (finite <= 0).any():
        return False
    return bool(np.log10(finite.max() / finite.min()) >= decades)
