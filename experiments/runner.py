"""One training run: config → data → estimator → fit with callbacks → run directory.

:func:`run_training` is a pure function of ``(config, out_dir)`` as far as callers can tell: it
reads no global state except the per-process stop flag, never calls ``sys.exit``, and returns a
small picklable :class:`RunResult`, so sweep executors can run it in other processes.
"""

from __future__ import annotations

import math
import os
import threading
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sklearn.exceptions import ConvergenceWarning

from sparselearn.experiments import rundir as rd
from sparselearn.experiments.artifacts import (
    dc_channels,
    draw_curves,
    draw_filters,
    filters_from_params,
    save_checkpoint,
    save_model,
)
from sparselearn.experiments.callbacks import (
    CheckpointCallback,
    MetricsCallback,
    ProgressCallback,
    StopCallback,
)
from sparselearn.experiments.checkpoint import load_state
from sparselearn.experiments.config import config_from_dict, format_config, load_config
from sparselearn.experiments.data import build_data
from sparselearn.experiments.errors import ConfigError, RunDirError, TrainingFailed
from sparselearn.experiments.models import build_estimator
from sparselearn.experiments.signals import STOP_REQUESTED
from sparselearn.plotting.atomic import atomic_write_text

__all__ = ["RunResult", "run_training", "resume_training"]


@dataclass
class RunResult:
    """Outcome of :func:`run_training` (small and picklable).

    Attributes
    ----------
    run_dir : str
    status : {"finished", "interrupted"}
        ``interrupted``: stopped by a signal at an iteration boundary; resumable.
    iterations : int
        Outer iterations completed (over all resumes).
    objective : float
        Final objective (NaN if no iteration ran).
    metrics : dict of str to float
        The last history record (objective, each term, reconstruction error, sparsity, ...).
    wall_time : float
        Seconds spent in this call (data preparation, training and writing).
    files : dict of str to str
        Name → path of each file written.
    stop_reason : str or None
    """

    run_dir: str
    status: str
    iterations: int
    objective: float
    metrics: dict[str, Any] = field(default_factory=dict)
    wall_time: float = 0.0
    files: dict[str, str] = field(default_factory=dict)
    stop_reason: str | None = None


def _config_header(kind: str) -> str:
    return (f"Resolved config of this run (model.kind: {kind}); every default is explicit.\n"
            "Written by experiments.run_training; resume with: sparselearn train --resume DIR")


def _as_config(config: Mapping[str, Any] | str | os.PathLike | None) -> dict[str, Any]:
    if config is None:
        raise ConfigError("run_training: no config given (pass one, or resume= a run directory)")
    if isinstance(config, (str, os.PathLike)):
        return load_config(config)
    return config_from_dict(config)


def _files(run_dir: Path) -> dict[str, str]:
    names = (rd.CONFIG, rd.METRICS, rd.MODEL, rd.FILTERS, rd.CURVES, rd.CHECKPOINT, rd.STATUS)
    return {name: str(run_dir / name) for name in names if (run_dir / name).exists()}


def run_training(config: Mapping[str, Any] | str | os.PathLike | None,
                 out_dir: str | os.PathLike | None = None,
                 resume: str | os.PathLike | bool | None = None, progress: bool = True,
                 stop_event: threading.Event | None = None,
                 blas_threads: int | None = 1) -> RunResult:
    """Train one model as the config says and write its run directory.

    Parameters
    ----------
    config : mapping or path or None
        A config (raw or resolved; it is validated again) or a YAML file. Ignored on resume,
        where the run directory's own ``config.yaml`` is used.
    out_dir : path, optional
        The run directory to create (must be absent or empty); default
        ``output.root/output.name``.
    resume : path or True, optional
        Continue the run in this directory (``True``: in ``out_dir``) from its
        ``checkpoint.npz``: the data are rebuilt from the seed and training continues, ending
        bit-identical to an uninterrupted run.
    progress : bool
        Show a tqdm progress bar on stderr.
    stop_event : threading.Event, optional
        Polled after every outer iteration; when set, training stops at that boundary, a
        checkpoint is written and the result has status ``"interrupted"``. Default:
        :data:`experiments.signals.STOP_REQUESTED` (set by the scripts' signal handlers).
    blas_threads : int or None
        The estimator's ``blas_threads`` (default 1: one BLAS thread in ``fit``; None: the
        BLAS default, e.g. as set by ``OMP_NUM_THREADS``). Not part of the config: it changes
        speed, not results.

    Returns
    -------
    RunResult

    Raises
    ------
    ConfigError, DataError, RunDirError
        Before any training (nothing is created for a new run).
    TrainingFailed
        Training diverged; the last finite state is in the checkpoint it names.

    Notes
    -----
    Files: ``config.yaml`` (resolved), ``metrics.csv`` (one row per outer iteration),
    ``checkpoint.npz`` (every ``trainer.checkpoint_every`` iterations and at the end),
    ``model.npz`` (finished runs), ``filters.png``, ``curves.png`` and ``status.json``; all
    written atomically.
    """
    started = time.perf_counter()
    stop_event = STOP_REQUESTED if stop_event is None else stop_event
    state = None
    if resume:
        run_dir = rd.check_run_dir(out_dir if resume is True else resume)
        cfg = load_config(run_dir / rd.CONFIG)
        status = rd.read_status(run_dir)
        if status.get("status") == "finished":
            return _result_from_dir(run_dir, cfg, started)
        if not (run_dir / rd.CHECKPOINT).is_file():
            raise RunDirError(f"{run_dir}: no {rd.CHECKPOINT} to resume from (the run stopped "
                              f"before its first checkpoint); start it again instead")
        try:
            state, _, _ = load_state(run_dir / rd.CHECKPOINT)
        except (OSError, ValueError, KeyError) as exc:
            raise RunDirError(f"{run_dir / rd.CHECKPOINT}: unreadable checkpoint ({exc})") \
                from None
        data = build_data(cfg)
    else:
        cfg = _as_config(config)
        data = build_data(cfg)
        run_dir = rd.prepare_run_dir(out_dir if out_dir is not None
                                     else rd.default_run_dir(cfg))
        atomic_write_text(run_dir / rd.CONFIG,
                          format_config(cfg, header=_config_header(cfg["model"]["kind"])))
    kind = cfg["model"]["kind"]
    rd.write_status(run_dir, status="running",
                    iteration=int(state["iteration"]) if state else 0)

    def checkpoint(train_state: Any) -> None:
        save_checkpoint(run_dir / rd.CHECKPOINT, train_state.model.state_dict(), cfg,
                        data.whitener, "running")

    stopper = StopCallback(stop_event)
    callbacks = [
        ProgressCallback(enabled=progress, description=f"{kind} {run_dir.name}"),
        MetricsCallback(run_dir / rd.METRICS),
        CheckpointCallback(checkpoint, cfg["trainer"]["checkpoint_every"]),
        stopper,
    ]
    model = build_estimator(cfg, callbacks, preprocessor=data.whitener,
                            blas_threads=blas_threads)
    from sparselearn.trainers import TrainingDiverged

    try:
        with warnings.catch_warnings():
            # a run that ends on max_iter says so in its status and summary instead
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(data.x.T, resume=state)
    except TrainingDiverged as err:
        last = err.last_state
        path = run_dir / rd.CHECKPOINT
        save_checkpoint(path, last, cfg, data.whitener, "diverged")
        atomic_write_text(run_dir / rd.METRICS, _metrics_text(last.get("history", [])))
        rd.write_status(run_dir, status="diverged", iteration=err.iteration,
                        checkpoint_iteration=int(last.get("iteration", 0)))
        raise TrainingFailed(
            f"training diverged at iteration {err.iteration} (objective {err.value!r}); "
            f"last checkpoint: {path} (iteration {int(last.get('iteration', 0))})",
            iteration=err.iteration, checkpoint=str(path)) from None

    final = model.state_dict()
    status = "interrupted" if stopper.stopped else "finished"
    save_checkpoint(run_dir / rd.CHECKPOINT, final, cfg, data.whitener, status)
    filters = filters_from_params(final["params"], kind, data.whitener, dc_channels(cfg))
    if status == "finished":
        save_model(run_dir / rd.MODEL, cfg, model, final["params"], filters, data.whitener,
                   (run_dir / rd.CONFIG).read_text(encoding="utf-8"))
    iterations = int(final.get("iteration", len(model.history_)))
    title = f"{kind}: {status} after {iterations} iterations"
    draw_filters(run_dir / rd.FILTERS, filters, cfg, sort=cfg["output"]["sort"], title=title)
    draw_curves(run_dir / rd.CURVES, run_dir / rd.METRICS, title=title)
    last_record = dict(model.history_[-1]) if model.history_ else {}
    stop_reason = "interrupted" if stopper.stopped else getattr(model, "stop_reason_", None)
    tol = getattr(model, "tol", 0.0) or 0.0
    if stop_reason == "max_iter" and tol > 0:
        stop_reason = f"max_iter, before the tolerance trainer.tol={tol:g} was reached"
    rd.write_status(run_dir, status=status, iteration=iterations, stop_reason=stop_reason)
    return RunResult(str(run_dir), status, iterations,
                     float(last_record.get("objective", math.nan)), last_record,
                     time.perf_counter() - started, _files(run_dir), stop_reason)


def _metrics_text(history: list[dict[str, Any]]) -> str:
    from sparselearn.experiments.callbacks import format_metrics

    return format_metrics(history) if history else ""


def _result_from_dir(run_dir: Path, cfg: Mapping[str, Any], started: float) -> RunResult:
    """RunResult of an already finished run (resume is then a no-op)."""
    from sparselearn.plotting import read_metrics

    metrics = read_metrics(run_dir / rd.METRICS) if (run_dir / rd.METRICS).exists() else {}
    last = {key: float(values[-1]) for key, values in metrics.items() if len(values)}
    status = rd.read_status(run_dir)
    return RunResult(str(run_dir), "finished", int(status.get("iteration", 0)),
                     float(last.get("objective", math.nan)), last,
                     time.perf_counter() - started, _files(run_dir),
                     status.get("stop_reason"))


def resume_training(run_dir: str | os.PathLike, progress: bool = True,
                    stop_event: threading.Event | None = None,
                    blas_threads: int | None = 1) -> RunResult:
    """Continue the run in ``run_dir`` from its checkpoint (see :func:`run_training`)."""
    return run_training(None, run_dir, resume=True, progress=progress, stop_event=stop_event,
                        blas_threads=blas_threads)
