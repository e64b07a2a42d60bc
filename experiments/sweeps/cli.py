"""Text that ``sparselearn sweep`` prints: the dry-run listing and the end-of-sweep summary."""

from __future__ import annotations

import os

from sparselearn.experiments.sweeps.runner import SweepResult
from sparselearn.experiments.sweeps.spec import SweepPlan

__all__ = ["format_plan", "format_result"]


def format_plan(plan: SweepPlan, out: str | os.PathLike | None = None) -> str:
    """The runs of a sweep, one per line (``--dry-run``)."""
    seeds = len({run.seed for run in plan.runs})
    lines = [f"sweep {plan.name}: {len(plan.runs)} runs ({plan.n_points} points x "
             f"{seeds} seed{'s' if seeds != 1 else ''}), base {plan.base}"]
    if plan.fixed:
        lines.append("every run: " + " ".join(plan.fixed))
    if plan.evaluate:
        lines.append("then evaluated: " + ", ".join(f"{k}={v}"
                                                     for k, v in plan.evaluate.items()))
    width = len(str(len(plan.runs)))
    for run in plan.runs:
        own = [text for text in run.overrides if text not in plan.fixed]
        lines.append(f"  {run.index + 1:>{width}}  runs/{run.name}  " + " ".join(own))
    if out is not None:
        lines.append(f"into {out}")
    lines.append("(dry run: nothing was started)")
    return "\n".join(lines)


def format_result(result: SweepResult) -> str:
    """A few lines after a sweep: counts, failures, where the files are."""
    done = result.count("finished")
    lines = [f"{done} of {result.total} runs finished in {result.wall_time:.1f} s"]
    for name in result.failed:
        lines.append(f"  {result.statuses[name]}: {name}")
    rest = result.total - done - len(result.failed)
    if result.interrupted or rest:
        lines.append(f"{rest} runs not finished; continue with: sparselearn sweep "
                     f"--resume {result.sweep_dir}")
    lines += _best_accuracy(result)
    lines.append(f"sweep directory: {result.sweep_dir}")
    lines += [f"  {name}: {path}" for name, path in result.files.items()]
    return "\n".join(lines)


def _best_accuracy(result: SweepResult) -> list[str]:
    """``best accuracy: ...`` from ``summary.csv`` when the sweep evaluated its runs."""
    from sparselearn.experiments.sweeps.report import read_summary

    try:
        rows = read_summary(result.files["summary"])
    except (KeyError, OSError):
        return []
    scored = [(float(row["accuracy"]), row["name"]) for row in rows if row.get("accuracy")]
    if not scored:
        return []
    accuracy, name = max(scored)
    return [f"best accuracy: {accuracy:.4f} ({name}); {len(scored)} of {len(rows)} runs "
            f"evaluated"]
