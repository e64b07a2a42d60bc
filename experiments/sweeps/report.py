"""The sweep report: ``summary.csv`` (one row per run) and its pictures, read from disk.

Everything here reads only the sweep directory (``plan.json`` and the run directories), so the
report of a finished, running or interrupted sweep can be drawn again at any time
(``sparselearn sweep --report DIR``).
"""

from __future__ import annotations

import csv
import io
import math
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from sparselearn.experiments import rundir as rd
from sparselearn.experiments.errors import RunDirError
from sparselearn.experiments.schema import TOPOGRAPHIC_KINDS
from sparselearn.experiments.sweeps import store
from sparselearn.experiments.sweeps.names import short_keys
from sparselearn.experiments.sweeps.spec import RunSpec, SweepPlan, format_override
from sparselearn.plotting.atomic import atomic_write_text

__all__ = ["summary_rows", "summary_columns", "write_summary", "plot_metrics", "draw_report",
           "redraw_report", "read_summary"]

#: Columns before the varied parameters and after them, around the metrics.
LEAD = ("index", "name")
MIDDLE = ("seed", "status", "error", "iterations", "objective")
#: The downstream test accuracy (sweeps with ``evaluate:``), right after the objective.
ACCURACY = "accuracy"
TAIL = ("train_time", "wall_time", "attempt", "overrides", "run_dir")
#: Metric columns that are bookkeeping, not quantities worth plotting against a parameter.
_NOT_PLOTTED = re.compile(r"(^step_size$|_time$|_share$|_iter$|^eval_)")


def _get(config: Mapping[str, Any], dotted: str) -> Any:
    node: Any = config
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def _last_metrics(path: Path) -> dict[str, float]:
    """Last row of a run's ``metrics.csv`` ({} when absent)."""
    from sparselearn.plotting import read_metrics

    try:
        columns = read_metrics(path / rd.METRICS)
    except (OSError, ValueError):
        return {}
    return {key: float(values[-1]) for key, values in columns.items() if len(values)}


def _cell(value: Any) -> Any:
    if isinstance(value, list):
        return "x".join(str(v) for v in value)
    if isinstance(value, float) and math.isnan(value):
        return ""
    return value


def _row(sweep_dir: Path, plan: SweepPlan, run: RunSpec) -> dict[str, Any]:
    path = store.run_dir(sweep_dir, run)
    status = store.run_status(sweep_dir, run)
    metrics = _last_metrics(path)
    row: dict[str, Any] = {"index": run.index, "name": run.name}
    for key in plan.varied:
        row[key] = _cell(_get(run.config, key))
    error = status.get("error") or ""
    if status.get("evaluation_error"):
        error = "; ".join(filter(None, [error, f"evaluation: {status['evaluation_error']}"]))
    row.update(seed=run.seed, status=status["status"], error=error,
               iterations=status.get("iteration", metrics.get("iteration", "")),
               objective=metrics.get("objective", math.nan))
    if plan.evaluate or status.get("accuracy") is not None:
        accuracy = status.get("accuracy")
        row[ACCURACY] = float(accuracy) if accuracy is not None else math.nan
    for key, value in metrics.items():
        if key not in ("iteration", "objective", "wall_time"):
            row[key] = value
    row.update(train_time=metrics.get("wall_time", math.nan),
               wall_time=status.get("wall_time", math.nan), attempt=status.get("attempt", ""),
               overrides=" ".join(format_override(k, v) for k, v in run.point.items()),
               run_dir=os.path.relpath(path, sweep_dir))
    return row


def summary_rows(sweep_dir: str | os.PathLike, plan: SweepPlan) -> list[dict[str, Any]]:
    """One dict per run of the plan, in plan order, from the run directories."""
    return [_row(Path(sweep_dir), plan, run) for run in plan.runs]


def summary_columns(rows: Sequence[Mapping[str, Any]], plan: SweepPlan) -> list[str]:
    """Column order of ``summary.csv``: ids, varied keys, status, accuracy (sweeps that
    evaluate), metrics, timing, paths."""
    fixed = set(LEAD) | set(MIDDLE) | set(TAIL) | set(plan.varied) | {ACCURACY}
    metrics: list[str] = []
    for row in rows:
        metrics += [key for key in row if key not in fixed and key not in metrics]
    accuracy = [ACCURACY] if plan.evaluate or any(ACCURACY in row for row in rows) else []
    return [*LEAD, *plan.varied, *MIDDLE, *accuracy, *metrics, *TAIL]


def _csv_text(rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_text(row.get(column, "")) for column in columns])
    return buffer.getvalue()


def _text(value: Any) -> str:
    if isinstance(value, float):
        return "" if math.isnan(value) else repr(value)
    return str(value)


def write_summary(sweep_dir: str | os.PathLike, plan: SweepPlan) -> Path:
    """Write ``summary.csv`` atomically; returns its path.

    Columns: ``index``, ``name``, one per varied key (the value used), ``seed``, ``status``
    (finished, failed, diverged, interrupted, running, pending), ``error``, ``iterations``,
    ``objective``, ``accuracy`` (sweeps with ``evaluate:``: the run's test accuracy, empty
    when not evaluated or when the evaluation failed, its error then in ``error``), the final
    record's terms and measures (``reconstruction_error``,
    ``sparsity``, ...), ``train_time`` (training seconds), ``wall_time`` (seconds of the whole
    run), ``attempt``, ``overrides`` and ``run_dir`` (relative to the sweep directory).
    """
    rows = summary_rows(sweep_dir, plan)
    path = Path(sweep_dir) / store.SUMMARY
    atomic_write_text(path, _csv_text(rows, summary_columns(rows, plan)))
    return path


def read_summary(path: str | os.PathLike) -> list[dict[str, str]]:
    """Rows of a ``summary.csv`` as dicts of strings."""
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def plot_metrics(columns: Sequence[str], plan: SweepPlan) -> list[str]:
    """The summary columns drawn against the parameters: objective, accuracy (when the sweep
    evaluates), terms and measures."""
    start = columns.index("objective")
    stop = columns.index(TAIL[0])
    return [c for c in columns[start:stop] if not _NOT_PLOTTED.search(c)]


def _sheet_layout(plan: SweepPlan, count: int) -> tuple[int, int] | None:
    if plan.points or not plan.grid:
        return None
    sizes = [len(values) for values in plan.grid.values()]
    if len(sizes) == 2:
        return sizes[0], sizes[1]
    if len(sizes) == 1 and count <= 6:
        return 1, count
    return None


def _sheets(sweep_dir: Path, plan: SweepPlan) -> tuple[list[Any], list[str]]:
    """One filter sheet per point: its first finished seed (else any seed with filters).

    Tiles are drawn as the run's own ``filters.png`` draws them (torus order for topographic
    models).
    """
    from sparselearn.experiments.visualize import load_filters
    from sparselearn.plotting.sweep import Sheet

    short = short_keys(plan.varied)
    by_point: dict[int, list[RunSpec]] = {}
    for run in plan.runs:
        by_point.setdefault(run.point_index, []).append(run)
    sheets: list[Any] = []
    labels: list[str] = []
    for runs in by_point.values():
        label = ", ".join(f"{short[k]}={_cell(v)}" for k, v in runs[0].point.items()) or "base"
        ranked = sorted(runs, key=lambda r: store.run_status(sweep_dir, r)["status"]
                        != "finished")
        sheet = None
        for run in ranked:
            try:
                filters, _ = load_filters(store.run_dir(sweep_dir, run))
            except RunDirError:
                continue
            cfg = run.config
            kwargs: dict[str, Any] = {}
            if cfg["model"]["kind"] in TOPOGRAPHIC_KINDS:
                kwargs = {"grid": tuple(cfg["model"]["grid"]), "topographic": True}
            status = store.run_status(sweep_dir, run)["status"]
            note = f"seed {run.seed}" + ("" if status == "finished" else f", {status}")
            sheet = Sheet(filters, tuple(cfg["data"]["patch_size"]),
                          3 if cfg["data"]["colour"] else 1, f"{label}\n({note})", kwargs)
            break
        sheets.append(sheet)
        labels.append(f"{label}\n(not run)")
    return sheets, labels


def draw_report(sweep_dir: str | os.PathLike, plan: SweepPlan) -> dict[str, str]:
    """Draw ``metrics.png`` and ``filters.png`` of the sweep directory.

    Returns
    -------
    dict
        ``{"metrics": path, "filters": path}``.
    """
    from sparselearn.plotting.sweep import save_filter_grid, save_metrics

    sweep_dir = Path(sweep_dir)
    rows = summary_rows(sweep_dir, plan)
    columns = summary_columns(rows, plan)
    finished = [row for row in rows if row["status"] == "finished"]
    others = len(rows) - len(finished)
    title = f"{plan.name}: {len(finished)} of {len(rows)} runs finished"
    if others:
        title += f" ({others} not shown: failed, diverged or not done)"
    metrics_path = save_metrics(sweep_dir / store.METRICS_PNG, finished, plan.varied,
                                plot_metrics(columns, plan), title=title)
    sheets, labels = _sheets(sweep_dir, plan)
    filters_path = save_filter_grid(sweep_dir / store.FILTERS_PNG, sheets,
                                    shape=_sheet_layout(plan, len(sheets)), labels=labels,
                                    title=f"{plan.name}: learned filters, in grid order")
    return {"metrics": str(metrics_path), "filters": str(filters_path)}


def redraw_report(sweep_dir: str | os.PathLike) -> dict[str, str]:
    """Rewrite ``summary.csv`` and the pictures of a finished or partial sweep.

    Raises
    ------
    RunDirError
        Not a sweep directory.
    DirectoryLocked
        A sweep process is running it (its summary is rewritten after every run anyway).
    """
    path, plan = store.open_sweep_dir(sweep_dir)
    with store.sweep_lock(path):
        files = {"summary": str(write_summary(path, plan))}
        files.update(draw_report(path, plan))
    return files
