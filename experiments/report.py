"""The end-of-run summary printed by ``sparselearn train``."""

from __future__ import annotations

import math

from sparselearn.experiments.runner import RunResult

__all__ = ["format_summary"]

_SKIP = ("iteration", "objective", "wall_time", "eval_time", "eval_share", "step_size")


def _num(value: object) -> str:
    return f"{value:.6g}" if isinstance(value, float) and math.isfinite(value) else str(value)


def format_summary(result: RunResult) -> str:
    """A few lines: status, final objective and terms, wall time, where the files are."""
    if result.status == "interrupted":
        head = (f"interrupted after {result.iterations} iterations; continue with: "
                f"sparselearn train --resume {result.run_dir}")
    else:
        head = f"finished: {result.iterations} iterations"
        if result.stop_reason:
            head += f" ({result.stop_reason})"
    terms = ", ".join(f"{k} {_num(v)}" for k, v in result.metrics.items() if k not in _SKIP)
    lines = [head, f"final objective {_num(result.objective)}" + (f"  ({terms})" if terms
                                                                    else "")]
    train_time = result.metrics.get("wall_time")
    timing = f"wall time {result.wall_time:.1f} s"
    if isinstance(train_time, float) and math.isfinite(train_time):
        timing += f" (training {train_time:.1f} s"
        share = result.metrics.get("eval_share")
        if isinstance(share, float) and math.isfinite(share):
            timing += f", {100 * share:.0f}% in objective evaluations"
        timing += ")"
    lines.append(timing)
    lines.append(f"run directory: {result.run_dir}")
    lines.append("  " + "  ".join(sorted(name for name in result.files)))
    return "\n".join(lines)
