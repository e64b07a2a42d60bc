"""Time–quality curves as PNG pictures for RESULTS.md (matplotlib, Agg backend).

One picture is a row-major grid of panels; each panel draws every contender's
:class:`bench_common.Curve` (wall time on x, quality on y, both usually logarithmic), marks the
point of the contender's own stopping rule with a ring, and draws the target quality levels as
dashed horizontal lines. Files are written atomically (``sparselearn.plotting.atomic``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bench_common import Curve, Settings

__all__ = ["Panel", "write_curves"]

_MARKERS = ("o", "s", "^", "D", "v", "P", "X")


@dataclass
class Panel:
    """One subplot: its curves, axis labels and target lines ``(value, label)``."""

    title: str
    curves: list[Curve]
    ylabel: str
    xlabel: str = "wall time [s]"
    levels: list[tuple[float, str]] = field(default_factory=list)
    logx: bool = True
    logy: bool = True
    #: values below this are drawn at it (a log axis cannot show 0)
    floor: float | None = None


def write_curves(settings: Settings, name: str, panels: Sequence[Panel], title: str,
                 columns: int = 3) -> bool:
    """Draw ``panels`` into ``settings.images_dir / name``; False when there is no folder.

    Parameters
    ----------
    settings : Settings
        ``images_dir`` is the folder (created if missing); None writes nothing.
    name : str
        File name, e.g. ``"ica_synthetic_float64.png"``.
    panels : sequence of Panel
    title : str
        The figure's title.
    columns : int
        Panels per row.

    Returns
    -------
    bool
        Whether the picture was written.
    """
    if settings.images_dir is None or not panels:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from sparselearn.plotting.atomic import atomic_open

    columns = max(1, min(columns, len(panels)))
    rows = math.ceil(len(panels) / columns)
    width = max(4.6 * columns, 8.0)
    legend_rows = math.ceil(len({c.label for p in panels for c in p.curves}) / 2)
    height = 3.6 * rows + 0.25 * legend_rows + 0.4
    fig, axes = plt.subplots(rows, columns, figsize=(width, height), squeeze=False)
    labels = sorted({c.label for p in panels for c in p.curves})
    styles = {label: {"color": plt.cm.tab10(i % 10), "marker": _MARKERS[i % len(_MARKERS)],
                      "linestyle": "--" if label.startswith("ours") else "-"}
              for i, label in enumerate(labels)}
    for ax, panel in zip(axes.flat, panels, strict=False):
        _draw(ax, panel, styles)
    for ax in list(axes.flat)[len(panels):]:
        ax.set_visible(False)
    handles = [plt.Line2D([], [], label=label, **styles[label]) for label in labels]
    fig.legend(handles=handles, loc="lower center", ncol=2, fontsize=8, frameon=False)
    fig.suptitle(title, fontsize=10)
    # fixed margins (in inches): tight_layout measures every log tick label, seconds per figure
    fig.subplots_adjust(left=0.8 / width, right=1 - 0.2 / width,
                        bottom=(0.25 * legend_rows + 0.75) / height, top=1 - 0.6 / height,
                        wspace=0.3, hspace=0.55)
    folder = Path(settings.images_dir)
    folder.mkdir(parents=True, exist_ok=True)
    with atomic_open(folder / name, "wb") as handle:
        fig.savefig(handle, format="png", dpi=90)
    plt.close(fig)
    return True


def _draw(ax, panel: Panel, styles: dict) -> None:
    for curve in panel.curves:
        if not curve.points:
            continue
        xs = [t for _, t, _ in curve.points]
        ys = [_floored(q, panel.floor) for _, _, q in curve.points]
        ax.plot(xs, ys, markersize=3.5, linewidth=1.2, **styles[curve.label])
        if curve.own is not None:
            ax.plot([curve.own[1]], [_floored(curve.own[2], panel.floor)], marker="o",
                    markersize=10, markerfacecolor="none", linestyle="none",
                    color=styles[curve.label]["color"])
    for value, label in panel.levels:
        if value == value:  # not NaN
            ax.axhline(_floored(value, panel.floor), linestyle="--", linewidth=0.8,
                       color="grey")
            ax.annotate(label, (0.01, _floored(value, panel.floor)),
                        xycoords=("axes fraction", "data"), fontsize=7, color="grey",
                        va="bottom")
    if panel.logx:
        ax.set_xscale("log")
    if panel.logy:
        ax.set_yscale("log")
    ax.set_title(panel.title, fontsize=9)
    ax.set_xlabel(panel.xlabel, fontsize=8)
    ax.set_ylabel(panel.ylabel, fontsize=8)
    ax.tick_params(labelsize=7)
    ax.grid(True, which="both", linewidth=0.3, alpha=0.5)


def _floored(value: float, floor: float | None) -> float:
    return value if floor is None else max(value, floor)
