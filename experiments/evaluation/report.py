"""What an evaluation writes: ``evaluation.json``, the bar chart ``evaluation.png`` and the
terminal table."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = ["EVALUATION_JSON", "EVALUATION_PNG", "format_table", "save_chart", "write_json"]

EVALUATION_JSON = "evaluation.json"
EVALUATION_PNG = "evaluation.png"


def format_table(rows: Sequence[Mapping[str, Any]]) -> str:
    """One line per contender: name, filters, features, chosen C, CV and test accuracy, and
    time (learning the baseline's filters, encoding, cross-validation and the final fit)."""
    head = ("contender", "filters", "features", "C", "cv acc", "test acc", "time s")
    body = [(str(r["name"]), "-" if r.get("n_filters") is None else str(r["n_filters"]),
             str(r["n_features"]), f"{r['C']:g}", f"{r['cv_accuracy']:.4f}",
             f"{r['accuracy']:.4f}", f"{r['encode_s'] + r['fit_s'] + r.get('learn_s', 0):.1f}")
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
    """A horizontal bar per contender (test accuracy), the run's own bar highlighted."""
    from matplotlib.figure import Figure

    from sparselearn.plotting.figures import save_figure

    names = [str(r["name"]) for r in rows]
    values = [float(r["accuracy"]) for r in rows]
    fig = Figure(figsize=(7.0, 0.45 * len(rows) + 1.2))
    ax = fig.add_subplot()
    colours = ["tab:orange" if r.get("kind") == "run" else "tab:blue" for r in rows]
    bars = ax.barh(range(len(rows)), values, color=colours)
    ax.set_yticks(range(len(rows)), names)
    ax.invert_yaxis()
    low = min(values) if values else 0.0
    ax.set_xlim(max(0.0, low - 0.1), 1.0)
    for bar, value in zip(bars, values, strict=True):
        ax.text(bar.get_width(), bar.get_y() + bar.get_height() / 2, f" {value:.3f}",
                va="center", fontsize=8)
    ax.set_xlabel("test accuracy")
    if title:
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return save_figure(fig, path)
