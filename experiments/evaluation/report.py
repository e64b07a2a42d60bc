"""What an evaluation writes: ``evaluation.json``, the bar chart ``evaluation.png`` and the
terminal table."""

from __future__ import annotations

import json
import os
import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = ["EVALUATION_JSON", "EVALUATION_PNG", "format_table", "save_chart", "write_json"]

EVALUATION_JSON = "evaluation.json"
EVALUATION_PNG = "evaluation.png"


def _choice(value: Any) -> str:
    """A chosen α or C: one number, ``/``-joined numbers (one per random draw) or ``-``."""
    if value is None:
        return "-"
    if isinstance(value, (list, tuple)):
        return "/".join(_choice(v) for v in value)
    return f"{value:g}"


def _accuracy(row: Mapping[str, Any]) -> str:
    """Test accuracy, ``± std`` over random draws."""
    text = f"{row['accuracy']:.4f}"
    return text + f"±{row['accuracy_std']:.4f}" if row.get("accuracy_std") else text


def _versus(row: Mapping[str, Any]) -> str:
    """The run's lead over this contender on the same test images, ``± paired SE``."""
    vs = row.get("vs_run")
    return "-" if vs is None else f"{vs['difference']:+.4f}±{vs['se']:.4f}"


def format_table(rows: Sequence[Mapping[str, Any]]) -> str:
    """One line per contender: name, filters, features, chosen α and C, CV and test accuracy,
    the run's lead over it (paired difference ± standard error) and time (learning the
    baseline's filters, encoding, cross-validation and the final fit)."""
    head = ("contender", "filters", "features", "alpha", "C", "cv acc", "test acc",
            "run lead", "time s")
    body = [(str(r["name"]), "-" if r.get("n_filters") is None else str(r["n_filters"]),
             str(r["n_features"]), _choice(r.get("alpha")), _choice(r["C"]),
             f"{r['cv_accuracy']:.4f}", _accuracy(r), _versus(r),
             f"{r['encode_s'] + r['fit_s'] + r.get('learn_s', 0):.1f}")
            for r in rows]
    widths = [max(len(h), *(len(b[i]) for b in body)) for i, h in enumerate(head)]
    lines = ["  ".join(h.ljust(w) if i == 0 else h.rjust(w)
                       for i, (h, w) in enumerate(zip(head, widths, strict=True)))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                        for i, (c, w) in enumerate(zip(b, widths, strict=True))) for b in body]
    return "\n".join(lines)


def write_json(path: str | os.PathLike, record: Mapping[str, Any]) -> Path:
    """Write ``record`` as indented JSON, atomically."""
    from sparselearn.plotting.atomic import atomic_write_text

    atomic_write_text(path, json.dumps(record, indent=2, sort_keys=False) + "\n")
    return Path(path)


def save_chart(path: str | os.PathLike, rows: Sequence[Mapping[str, Any]],
               title: str = "") -> Path:
    """A horizontal bar per contender (test accuracy; an error bar: the spread over random
    draws), the run's own bar highlighted."""
    from matplotlib.figure import Figure

    from sparselearn.plotting.figures import save_figure

    names = [str(r["name"]) for r in rows]
    values = [float(r["accuracy"]) for r in rows]
    spread = [float(r.get("accuracy_std") or 0.0) for r in rows]
    fig = Figure(figsize=(7.0, 0.45 * len(rows) + 1.4))
    ax = fig.add_subplot()
    colours = ["tab:orange" if r.get("kind") == "run" else "tab:blue" for r in rows]
    bars = ax.barh(range(len(rows)), values, color=colours)
    drawn = [i for i, err in enumerate(spread) if err > 0]
    if drawn:
        ax.errorbar([values[i] for i in drawn], drawn, xerr=[spread[i] for i in drawn],
                    fmt="none", ecolor="black", capsize=3)
    ax.set_yticks(range(len(rows)), names)
    ax.invert_yaxis()
    low, high = (min(values), max(v + e for v, e in zip(values, spread, strict=True))) \
        if values else (0.0, 1.0)
    ax.set_xlim(max(0.0, low - 0.03), min(1.0, high + 0.02))
    for bar, value, err in zip(bars, values, spread, strict=True):
        ax.text(bar.get_width() + err, bar.get_y() + bar.get_height() / 2, f" {value:.4f}",
                va="center", fontsize=8)
    ax.set_xlabel("test accuracy")
    if title:
        fig.suptitle(textwrap.fill(title, 90), fontsize=9)
    fig.tight_layout()
    return save_figure(fig, path)
