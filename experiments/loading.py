"""A run directory back into a fitted estimator: :func:`load_run`."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from sparselearn.experiments import rundir as rd
from sparselearn.experiments.checkpoint import load_state
from sparselearn.experiments.config import load_config
from sparselearn.experiments.errors import RunDirError
from sparselearn.experiments.models import build_estimator
from sparselearn.experiments.runfiles import load_status, read_model

__all__ = ["load_run"]

_PREFIX = "preprocessing/"


def load_run(run_dir: str | os.PathLike) -> Any:
    """The fitted estimator of a finished run, with its whitener as ``preprocessor``.

    Parameters
    ----------
    run_dir : path
        A folder written by ``sparselearn train`` whose status is ``finished`` (it holds
        ``model.npz``).

    Returns
    -------
    estimator
        Configured as the run's ``config.yaml`` says, fitted with the learned parameters of
        ``model.npz`` and the history of ``checkpoint.npz``; ``transform`` takes new raw
        patches ``(n_samples, n_pixels)`` normalised as the run's ``data.normalisation``
        (the whitening is the model's ``preprocessor``).

    Raises
    ------
    RunDirError
        Not a run directory, not finished (no ``model.npz``), or a damaged file or one that
        does not match ``config.yaml``; the message names the path.
    """
    run_dir = rd.check_run_dir(run_dir)
    config = load_config(run_dir / rd.CONFIG)
    status = load_status(run_dir)
    path = run_dir / rd.MODEL
    if not path.is_file():
        raise RunDirError(f"{run_dir}: no {rd.MODEL} (status "
                          f"{status.get('status', 'unknown')!r}); only a finished run can be "
                          f"loaded: continue it with `sparselearn train --resume {run_dir}`")
    arrays = read_model(path, config, str(run_dir / rd.CONFIG))
    whitener = _whitener(arrays, path)
    model = build_estimator(config, callbacks=(), preprocessor=whitener)
    names = model._param_names
    missing = [name for name in (*names, "n_features_in") if name not in arrays]
    if missing:
        raise RunDirError(f"{path}: lacks {', '.join(missing)} (written by an older "
                          "sparselearn? train the run again)")
    state: dict[str, Any] = {"params": {name: arrays[name] for name in names}}
    checkpoint = run_dir / rd.CHECKPOINT
    if checkpoint.is_file():
        saved, _, _ = load_state(checkpoint)
        state.update({key: saved[key] for key in ("history", "iteration", "solver_state",
                                                  "rng_state") if key in saved})
    state["stop_reason"] = status.get("stop_reason")
    n_samples = int(arrays["n_samples"]) if "n_samples" in arrays else int(
        config["data"]["count"])
    dtype = str(arrays["dtype"]) if "dtype" in arrays else config["data"]["dtype"]
    try:
        return model._load_fitted(state, int(arrays["n_features_in"]), n_samples, dtype)
    except (ValueError, KeyError) as exc:
        raise RunDirError(f"{path}: does not match {run_dir / rd.CONFIG} ({exc})") from None


def _whitener(arrays: dict[str, np.ndarray], path: Path) -> Any:
    """The run's whitener from the ``preprocessing/*`` arrays (None when it had none)."""
    parts = {key[len(_PREFIX):]: value for key, value in arrays.items()
             if key.startswith(_PREFIX)}
    if not parts:
        return None
    from sparselearn.patches import Whitener

    with tempfile.TemporaryDirectory() as tmp:
        file = Path(tmp) / "whitener.npz"
        np.savez(file, **parts)
        try:
            return Whitener.load(file)
        except (OSError, ValueError, KeyError) as exc:
            raise RunDirError(f"{path}: unreadable preprocessing arrays ({exc})") from None
