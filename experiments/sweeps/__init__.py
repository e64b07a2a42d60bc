"""Sweeps: grids of configs run in parallel, on local processes or a Dask cluster.

``load_sweep(path)`` reads and validates a sweep file into a :class:`SweepPlan`;
``run_sweep(plan, out)`` runs it into a sweep directory (one ordinary run directory per run,
``summary.csv``, pictures); ``resume_sweep(dir)`` continues one; ``redraw_report(dir)`` draws its
report again. ``sparselearn sweep`` is the command line.
"""

from sparselearn.experiments.sweeps.executors import DaskExecutor, LocalExecutor, make_executor
from sparselearn.experiments.sweeps.report import redraw_report, write_summary
from sparselearn.experiments.sweeps.runner import SweepResult, resume_sweep, run_sweep
from sparselearn.experiments.sweeps.spec import RunSpec, SweepPlan, load_sweep, plan_sweep
from sparselearn.experiments.sweeps.worker import PointOutcome, PointTask, execute_point

__all__ = [
    "DaskExecutor",
    "LocalExecutor",
    "PointOutcome",
    "PointTask",
    "RunSpec",
    "SweepPlan",
    "SweepResult",
    "execute_point",
    "load_sweep",
    "make_executor",
    "plan_sweep",
    "redraw_report",
    "resume_sweep",
    "run_sweep",
    "write_summary",
]
