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

import numpy as np
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
from sparselearn.experiments.config import (
    config_from_dict,
    format_config,
    load_config,
    n_features,
)
from sparselearn.experiments.data import build_data, check_memory
from sparselearn.experiments.errors import (
    ConfigError,
    DataError,
    RunDirError,
    StorageError,
    TrainingFailed,
)
from sparselearn.experiments.failures import RunTracker, record_failure
from sparselearn.experiments.fingerprint import data_digest
from sparselearn.experiments.models import build_estimator
from sparselearn.experiments.runfiles import (
    check_data_digest,
    check_param_shape,
    check_resume_state,
    load_status,
    read_metrics_file,
    read_model,
)
from sparselearn.experiments.signals import STOP_REQUESTED
from sparselearn.plotting.atomic import atomic_write_text, remove_stale_temporaries
from sparselearn.trainers.input_checks import (
    DegenerateInputError,
    DegenerateInputWarning,
    check_training_data,
)

__all__ = ["RUN_FILES", "RunResult", "run_training", "resume_training"]


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


#: The files a run writes (their stale temporaries are removed when a run starts).
RUN_FILES = (rd.CONFIG, rd.METRICS, rd.MODEL, rd.FILTERS, rd.CURVES, rd.CHECKPOINT, rd.STATUS)


def _files(run_dir: Path) -> dict[str, str]:
    return {name: str(run_dir / name) for name in RUN_FILES if (run_dir / name).exists()}


@rd.locked_run  # the run directory is locked while the run writes it
def run_training(config: Mapping[str, Any] | str | os.PathLike | None,
                 out_dir: str | os.PathLike | None = None,
                 resume: str | os.PathLike | bool | None = None, progress: bool = True,
                 stop_event: threading.Event | None = None,
                 blas_threads: int | None = 1, origin: str | None = None) -> RunResult:
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
        bit-identical to an uninterrupted run. The checkpoint must have been written under the
        same config and data (its digests are checked; a difference is named). A run that
        stopped before its first checkpoint starts again from iteration 0 in its folder.
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
    origin : str, optional
        Where ``config`` came from (its file), for messages; default the path when ``config``
        is one, else ``"config"``.

    Returns
    -------
    RunResult

    Raises
    ------
    ConfigError, DataError, RunDirError
        Before any training (nothing is created for a new run): also a data set that cannot
        fit in memory (:func:`experiments.data.check_memory`), data a model cannot learn
        from (constant, fewer samples than ICA filters; :mod:`trainers.input_checks`, whose
        warnings are shown here once), and on resume a damaged
        checkpoint, model or status file, or one that does not match the config or data.
    StorageError
        A file cannot be written (permission denied, disk full, missing device); the message
        names it. ``status.json`` then says ``failed`` with the error, where it can be
        written.
    TrainingFailed
        Training diverged; the last finite state is in the checkpoint it names.

    Notes
    -----
    Files: ``config.yaml`` (resolved), ``metrics.csv`` (one row per outer iteration),
    ``checkpoint.npz`` (every ``trainer.checkpoint_every`` iterations and at the end),
    ``model.npz`` (finished runs), ``filters.png``, ``curves.png`` and ``status.json``; all
    written atomically (``metrics.csv`` rows are appended whole, see
    :class:`~experiments.callbacks.MetricsCallback`). Temporary files left by a killed writer
    are removed when a run starts. Any error after the run directory is set up leaves
    ``status.json`` at ``failed`` (``aborted`` for a second Ctrl-C) with the error.
    """
    started = time.perf_counter()
    stop_event = STOP_REQUESTED if stop_event is None else stop_event
    state = meta = None
    if resume:
        run_dir = rd.check_run_dir(out_dir if resume is True else resume)
        config_path = run_dir / rd.CONFIG
        origin = str(config_path)
        cfg = load_config(config_path)
        if load_status(run_dir).get("status") == "finished":
            return _result_from_dir(run_dir, cfg, started)
        remove_stale_temporaries(run_dir, RUN_FILES)
        checkpoint_path = run_dir / rd.CHECKPOINT
        if checkpoint_path.is_file():
            state, _, meta = load_state(checkpoint_path)
            check_resume_state(checkpoint_path, state, meta, cfg, config_path)
        check_memory(cfg, origin)
        data = build_data(cfg, origin)
        _check_data(cfg, data, origin)
        digest = data_digest(data.x)
        if state is not None:
            check_data_digest(checkpoint_path, meta, digest, cfg)
            check_param_shape(checkpoint_path, state, cfg, _dims(data, cfg))
    else:
        cfg = _as_config(config)
        if origin is None:
            origin = str(config) if isinstance(config, (str, os.PathLike)) else "config"
        check_memory(cfg, origin)
        data = build_data(cfg, origin)
        _check_data(cfg, data, origin)
        digest = data_digest(data.x)
        run_dir = rd.prepare_run_dir(out_dir if out_dir is not None
                                     else rd.default_run_dir(cfg))
        remove_stale_temporaries(run_dir, RUN_FILES)
        try:
            atomic_write_text(run_dir / rd.CONFIG,
                              format_config(cfg, header=_config_header(cfg["model"]["kind"])))
        except OSError as exc:
            raise StorageError.from_os_error(exc, "cannot write", run_dir / rd.CONFIG) \
                from exc
    tracker = RunTracker(int(state["iteration"]) if state else 0)
    try:
        return _train(run_dir, cfg, data, digest, state, resume=bool(resume),
                      tracker=tracker, progress=progress, stop_event=stop_event,
                      blas_threads=blas_threads, started=started)
    except TrainingFailed:
        raise
    except BaseException as exc:
        error = record_failure(run_dir, exc, tracker, resumed=state is not None)
        if error is exc:
            raise
        raise error from exc


def _check_data(cfg: Mapping[str, Any], data: Any, origin: str) -> None:
    """Degenerate training data (constant, too few samples, ...; :mod:`trainers.input_checks`)
    named before the run directory is set up: a :class:`DataError`, or its warnings."""
    from sparselearn.experiments import models  # a throwaway estimator, not the run's

    model = models.build_estimator(cfg, preprocessor=data.whitener)
    try:
        check_training_data(model, data.x.T, name="the data (patches after data.normalisation "
                                                  "and data.whitening)")
    except DegenerateInputError as exc:
        raise DataError(f"{origin}: data.source {cfg['data']['source']}: {exc}") from None


def _dims(data: Any, cfg: Mapping[str, Any]) -> int:
    """Dimension of the data the model sees (after whitening)."""
    if data.whitener is not None:
        return int(data.whitener.whitening_matrix_.shape[0])
    return n_features(cfg)


def _train(run_dir: Path, cfg: dict[str, Any], data: Any, digest: str,
           state: dict[str, Any] | None, *, resume: bool, tracker: RunTracker, progress: bool,
           stop_event: Any, blas_threads: int | None, started: float) -> RunResult:
    """Fit and write the run's files (the part of :func:`run_training` after set-up)."""
    kind = cfg["model"]["kind"]
    running: dict[str, Any] = {"resumed_from": tracker.iteration} if resume else {}
    rd.write_status(run_dir, status="running", iteration=tracker.iteration, **running)

    def checkpoint(train_state: Any) -> None:
        save_checkpoint(run_dir / rd.CHECKPOINT, train_state.model.state_dict(), cfg,
                        data.whitener, "running", digest)
        tracker.checkpoint = train_state.iteration

    stopper = StopCallback(stop_event)
    callbacks = [
        tracker,  # first: it knows the iteration even when a later callback fails
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
            warnings.simplefilter("ignore", DegenerateInputWarning)  # _check_data showed them
            model.fit(data.x.T, resume=state)
    except TrainingDiverged as err:
        last = err.last_state
        path = run_dir / rd.CHECKPOINT
        save_checkpoint(path, last, cfg, data.whitener, "diverged", digest)
        atomic_write_text(run_dir / rd.METRICS, _metrics_text(last.get("history", [])))
        rd.write_status(run_dir, status="diverged", iteration=err.iteration,
                        checkpoint_iteration=int(last.get("iteration", 0)))
        raise TrainingFailed(
            f"training diverged at iteration {err.iteration} (objective {err.value!r}); "
            + (f"{err.cause}; " if getattr(err, "cause", None) else "")
            + f"last checkpoint: {path} (iteration {int(last.get('iteration', 0))})",
            iteration=err.iteration, checkpoint=str(path)) from None

    final = model.state_dict()
    status = "interrupted" if stopper.stopped else "finished"
    save_checkpoint(run_dir / rd.CHECKPOINT, final, cfg, data.whitener, status, digest)
    filters = filters_from_params(final["params"], kind, data.whitener, dc_channels(cfg))
    if status == "finished":
        save_model(run_dir / rd.MODEL, cfg, model, final["params"], filters, data.whitener,
                   (run_dir / rd.CONFIG).read_text(encoding="utf-8"))
    iterations = int(final.get("iteration", len(model.history_)))
    title = f"{kind}: {status} after {iterations} iterations"
    draw_filters(run_dir / rd.FILTERS, filters, cfg, sort=cfg["output"]["sort"], title=title)
    draw_curves(run_dir / rd.CURVES, _metrics_columns(model.history_), title=title)
    last_record = dict(model.history_[-1]) if model.history_ else {}
    stop_reason = "interrupted" if stopper.stopped else getattr(model, "stop_reason_", None)
    tol = getattr(model, "tol", 0.0) or 0.0
    if stop_reason == "max_iter" and tol > 0:
        stop_reason = f"max_iter, before the tolerance trainer.tol={tol:g} was reached"
    rd.write_status(run_dir, status=status, iteration=iterations, stop_reason=stop_reason)
    return RunResult(str(run_dir), status, iterations,
                     float(last_record.get("objective", math.nan)), last_record,
                     time.perf_counter() - started, _files(run_dir), stop_reason)


def _metrics_columns(history: list[dict[str, Any]]) -> dict[str, np.ndarray]:
    """The history as the float columns of ``metrics.csv`` (what the curves draw)."""
    columns = list(history[0]) if history else []
    return {name: np.asarray([_number(record.get(name)) for record in history],
                             dtype=np.float64) for name in columns}


def _number(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _metrics_text(history: list[dict[str, Any]]) -> str:
    from sparselearn.experiments.callbacks import format_metrics

    return format_metrics(history) if history else ""


def _result_from_dir(run_dir: Path, cfg: Mapping[str, Any], started: float) -> RunResult:
    """RunResult of an already finished run (resume is then a no-op).

    Raises
    ------
    RunDirError
        ``status.json`` says finished but ``model.npz`` is missing or does not hold the model
        of ``config.yaml``, or ``metrics.csv`` is damaged.
    """
    status = load_status(run_dir)
    model = run_dir / rd.MODEL
    if not model.is_file():
        raise RunDirError(f"{run_dir / rd.STATUS}: says 'finished' but there is no {model}; "
                          f"the run directory was edited or damaged: delete {rd.STATUS} to "
                          f"continue from {rd.CHECKPOINT}")
    read_model(model, cfg, str(run_dir / rd.CONFIG))
    metrics = read_metrics_file(run_dir / rd.METRICS) if (run_dir / rd.METRICS).exists() \
        else {}
    last = {key: float(values[-1]) for key, values in metrics.items() if len(values)}
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
