"""sparselearn: plotting room.

Pictures of what was learned: tiled sheets of bases (:func:`tile_filters`, after UFLDL's
``display_network``), training curves from ``metrics.csv``, and savers that write atomically.
Depends on numpy and matplotlib only (no trainer).
"""

from sparselearn.plotting.atomic import atomic_open, atomic_write_bytes, atomic_write_text
from sparselearn.plotting.curves import curve_columns, read_metrics, use_log_scale
from sparselearn.plotting.figures import (
    curves_figure,
    filters_figure,
    save_curves,
    save_figure,
    save_filters,
)
from sparselearn.plotting.tiles import SORT_KEYS, filter_statistic, grid_shape, tile_filters

__all__ = [
    "SORT_KEYS",
    "atomic_open",
    "atomic_write_bytes",
    "atomic_write_text",
    "curve_columns",
    "curves_figure",
    "filter_statistic",
    "filters_figure",
    "grid_shape",
    "read_metrics",
    "save_curves",
    "save_figure",
    "save_filters",
    "tile_filters",
    "use_log_scale",
]
