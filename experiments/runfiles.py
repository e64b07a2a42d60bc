"""Reading a run directory's files back, each one checked before it is used.

``status.json``, ``metrics.csv``, ``model.npz`` and ``checkpoint.npz`` are validated on load: a
file that is damaged, truncated, hand-edited or from another run is refused with a
:class:`~experiments.errors.RunDirError` that names its path and what is wrong (exit status 2 in
the command line). The one repair is a ``metrics.csv`` whose last row is incomplete (a run
killed mid-write): that row is left out with a :class:`RunFileWarning`.
:func:`check_resume_state` holds a checkpoint against the config it is to continue under.
"""

from __future__ import annotations

import csv
import errno as errnos
import math
import os
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from sparselearn.experiments import rundir as rd
from sparselearn.experiments.checkpoint import load_state, read_npz
from sparselearn.experiments.config import n_features
from sparselearn.experiments.errors import RunDirError, StorageError
from sparselearn.experiments.fingerprint import config_differences, config_digest
from sparselearn.experiments.schema import ICA_KINDS

__all__ = ["STATUSES", "RunFileWarning", "load_status", "read_metrics_file", "read_model",
           "read_checkpoint_filters", "check_resume_state", "check_param_shape",
           "check_data_digest"]

#: The values ``status.json`` may hold in ``status``.
STATUSES = ("running", "finished", "interrupted", "diverged", "failed", "aborted")
#: Keys of a trainer's ``state_dict()`` and the type of each.
_STATE_TYPES = {"params": dict, "rng_state": dict, "iteration": int, "history": list,
                "solver_state": dict}


#: Cells that are not floats but are written for a record's value (empty: None).
_BOOLEANS = {"": math.nan, "True": 1.0, "False": 0.0}


class RunFileWarning(UserWarning):
    """A run file was repaired on reading (e.g. an incomplete last row left out)."""


def _read_text(path: Path, what: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise RunDirError(f"{path}: damaged {what} (not UTF-8 text: {exc.reason} at byte "
                          f"{exc.start})") from None
    except OSError as exc:
        if exc.errno in (errnos.ENOENT, errnos.ENOTDIR):
            raise RunDirError(f"{path}: {what} not found") from None
        if exc.errno == errnos.EISDIR:
            raise RunDirError(f"{path}: is a folder, expected the run's {what}") from None
        raise StorageError.from_os_error(exc, "cannot read", path) from None


def load_status(run_dir: str | os.PathLike) -> dict[str, Any]:
    """``status.json`` of a run directory, checked (``{}`` when there is none yet).

    Raises
    ------
    RunDirError
        Not JSON, not an object, or ``status`` missing or not one of :data:`STATUSES`, or
        ``iteration`` not a non-negative integer.
    StorageError
        It cannot be read (permission denied, I/O error).
    """
    import json

    path = Path(run_dir) / rd.STATUS
    if not path.exists():
        return {}
    text = _read_text(path, "status file")
    try:
        status = json.loads(text)
    except ValueError as exc:
        raise RunDirError(f"{path}: damaged status file (not JSON: {exc}); delete it to let "
                          f"the run directory's other files speak for themselves") from None
    if not isinstance(status, dict):
        raise RunDirError(f"{path}: damaged status file (expected a JSON object, found "
                          f"{type(status).__name__})")
    if status.get("status") not in STATUSES:
        raise RunDirError(f"{path}: status: expected one of {', '.join(STATUSES)}, found "
                          f"{status.get('status')!r}")
    iteration = status.get("iteration", 0)
    if isinstance(iteration, bool) or not isinstance(iteration, int) or iteration < 0:
        raise RunDirError(f"{path}: iteration: expected a non-negative integer, found "
                          f"{iteration!r}")
    return status


def read_metrics_file(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """``metrics.csv`` as float columns, every row checked.

    Empty cells become NaN. An incomplete last row (too few fields, or no line end: a run
    killed mid-write or a full disk) is left out with a :class:`RunFileWarning`.

    Raises
    ------
    RunDirError
        A header with empty or repeated names, another row with the wrong number of fields or
        a value that is not a number, or an ``iteration`` column that does not count 1, 2, ...
        (the message names the file and line).
    StorageError
        It cannot be read.
    """
    path = Path(path)
    text = _read_text(path, "metrics file")
    lines = text.splitlines()
    if not lines:
        return {}
    rows = list(csv.reader(lines))
    header = rows[0]
    if not header or any(not name for name in header) or len(set(header)) != len(header):
        raise RunDirError(f"{path}:1: damaged metrics file (expected a header of distinct "
                          f"column names, found {lines[0][:80]!r})")
    body = rows[1:]
    if body and (len(body[-1]) != len(header) or not text.endswith("\n")):
        last = len(rows)
        warnings.warn(f"{path}:{last}: last row is incomplete ({len(body[-1])} of "
                      f"{len(header)} fields; the run was stopped mid-write or the disk was "
                      f"full); it is left out", RunFileWarning, stacklevel=2)
        body = body[:-1]
    columns: list[list[float]] = [[] for _ in header]
    for number, row in enumerate(body, start=2):
        if len(row) != len(header):
            raise RunDirError(f"{path}:{number}: damaged metrics file (expected {len(header)} "
                              f"fields, found {len(row)})")
        for values, name, cell in zip(columns, header, row, strict=True):
            try:
                values.append(_BOOLEANS[cell] if cell in _BOOLEANS else float(cell))
            except ValueError:
                raise RunDirError(f"{path}:{number}: column {name!r}: expected a number, "
                                  f"found {cell[:40]!r}") from None
    metrics = {name: np.asarray(values, dtype=np.float64)
               for name, values in zip(header, columns, strict=True)}
    iterations = metrics.get("iteration")
    if iterations is not None and not np.array_equal(iterations,
                                                     np.arange(1, len(iterations) + 1)):
        bad = int(np.flatnonzero(iterations != np.arange(1, len(iterations) + 1))[0])
        raise RunDirError(f"{path}:{bad + 2}: damaged metrics file (iteration "
                          f"{iterations[bad]:g} where {bad + 1} was expected)")
    return metrics


def _filter_shape(config: Mapping[str, Any]) -> tuple[int, int]:
    return int(config["model"]["n_components"]), n_features(config)


def _check_filters(path: Path, filters: np.ndarray, config: Mapping[str, Any],
                   config_path: str) -> np.ndarray:
    expected = _filter_shape(config)
    if filters.dtype.kind != "f" or filters.shape != expected:
        raise RunDirError(f"{path}: filters: expected a float array of shape {expected} "
                          f"(model.n_components × pixels per patch, as {config_path} says), "
                          f"found {filters.dtype} {filters.shape}")
    if not np.isfinite(filters).all():
        raise RunDirError(f"{path}: filters: non-finite values (a damaged file)")
    return filters


def read_model(path: str | os.PathLike, config: Mapping[str, Any],
               config_path: str = rd.CONFIG) -> dict[str, np.ndarray]:
    """The arrays of a run's ``model.npz``, checked against its config.

    Raises
    ------
    RunDirError
        Unreadable or damaged archive, a missing array, another model kind, patch shape or
        number of filters than the config says, or non-finite filters.
    """
    path = Path(path)
    arrays = read_npz(path, "model file")
    missing = [key for key in ("filters", "kind", "patch_shape", "channels", "n_features_in")
               if key not in arrays]
    if missing:
        raise RunDirError(f"{path}: lacks {', '.join(missing)} (written by an older "
                          f"sparselearn, or not a model file? train the run again)")
    kind = str(arrays["kind"])
    if kind != config["model"]["kind"]:
        raise RunDirError(f"{path}: holds a {kind!r} model but {config_path} says model.kind "
                          f"{config['model']['kind']!r}")
    patch = [int(v) for v in np.ravel(arrays["patch_shape"])]
    if patch != list(config["data"]["patch_size"]):
        raise RunDirError(f"{path}: patch_shape {patch} but {config_path} says "
                          f"data.patch_size {list(config['data']['patch_size'])}")
    _check_filters(path, arrays["filters"], config, config_path)
    return arrays


def read_checkpoint_filters(path: str | os.PathLike, config: Mapping[str, Any],
                            config_path: str = rd.CONFIG) -> np.ndarray:
    """The pixel-space ``filters`` of a checkpoint, checked against its config."""
    path = Path(path)
    _, extra, meta = load_state(path)
    kind = meta.get("kind", config["model"]["kind"])
    if kind != config["model"]["kind"]:
        raise RunDirError(f"{path}: written by a {kind!r} run but {config_path} says "
                          f"model.kind {config['model']['kind']!r}")
    if "filters" not in extra:
        raise RunDirError(f"{path}: lacks filters (not written by sparselearn train?)")
    return _check_filters(path, extra["filters"], config, config_path)


def _expected_param(kind: str, k: int, dims: int) -> tuple[str, tuple[int, int]]:
    return ("W", (k, dims)) if kind in ICA_KINDS else ("A", (dims, k))


def check_resume_state(path: str | os.PathLike, state: Mapping[str, Any],
                       meta: Mapping[str, Any], config: Mapping[str, Any],
                       config_path: str | os.PathLike) -> int:
    """Check that a checkpoint can continue under ``config``; return its iteration.

    Parameters
    ----------
    path : path-like
        The checkpoint (for messages).
    state, meta : mapping
        As :func:`experiments.checkpoint.load_state` returns them.
    config : mapping
        The resolved config of the run directory.
    config_path : path-like
        Its file (for messages).

    Raises
    ------
    RunDirError
        Another model kind; a config that differs from the one the checkpoint was written
        under (each differing key named); an iteration outside ``0..trainer.max_iter`` or not
        matching its history; an RNG state the generator does not take.
    """
    kind = config["model"]["kind"]
    if meta.get("kind") != kind:
        raise RunDirError(f"{path}: written by a {meta.get('kind')!r} run but {config_path} "
                          f"says model.kind {kind!r}")
    if meta.get("config_digest") != config_digest(config):
        saved = meta.get("config")
        changes = (config_differences(saved, config) if isinstance(saved, Mapping)
                   else ["(the checkpoint does not record its config)"])
        shown = "; ".join(changes[:6]) + (f"; and {len(changes) - 6} more"
                                          if len(changes) > 6 else "")
        raise RunDirError(f"{config_path} differs from the config {path} was written under: "
                          f"{shown or 'the digests differ'}; resuming would continue on other "
                          f"terms: restore those values, or start a new run")
    for key, kind_of in _STATE_TYPES.items():
        value = state.get(key)
        if not isinstance(value, kind_of) or isinstance(value, bool):
            raise RunDirError(f"{path}: state {key}: expected {kind_of.__name__}, found "
                              f"{type(value).__name__}")
    iteration, history = state["iteration"], state["history"]
    max_iter = config["trainer"]["max_iter"]
    if not 0 <= iteration <= max_iter:
        raise RunDirError(f"{path}: iteration {iteration} outside 0..{max_iter} "
                          f"(trainer.max_iter in {config_path})")
    if meta.get("iteration") != iteration or len(history) != iteration:
        raise RunDirError(f"{path}: iteration {iteration} does not match its history of "
                          f"{len(history)} records (iteration {meta.get('iteration')!r} in "
                          f"its metadata)")
    if any(not isinstance(r, dict) or r.get("iteration") != i + 1
           for i, r in enumerate(history)):
        raise RunDirError(f"{path}: history records are not iterations 1..{iteration}")
    try:
        np.random.PCG64().state = state["rng_state"]
    except (TypeError, ValueError, KeyError) as exc:
        raise RunDirError(f"{path}: rng_state does not fit the generator ({type(exc).__name__}: "
                          f"{exc})") from None
    return iteration


def check_param_shape(path: str | os.PathLike, state: Mapping[str, Any],
                      config: Mapping[str, Any], dims: int) -> None:
    """The learned parameter of a checkpoint has the shape the config and data give.

    Parameters
    ----------
    dims : int
        Dimension of the data the model sees (after whitening).

    Raises
    ------
    RunDirError
        Naming the parameter, the expected and the found shape.
    """
    kind = config["model"]["kind"]
    name, shape = _expected_param(kind, int(config["model"]["n_components"]), dims)
    value = state["params"].get(name)
    if not isinstance(value, np.ndarray) or value.shape != shape:
        found = value.shape if isinstance(value, np.ndarray) else type(value).__name__
        raise RunDirError(f"{path}: parameter {name}: expected shape {shape} "
                          f"(model.n_components × data dimension {dims}), found {found}")


def check_data_digest(path: str | os.PathLike, meta: Mapping[str, Any], digest: str,
                      config: Mapping[str, Any]) -> None:
    """The training patches sampled now must be those the checkpoint was trained on.

    Raises
    ------
    RunDirError
        The digests differ: the file or folder of ``data.source`` changed since.
    """
    if meta.get("data_digest") != digest:
        raise RunDirError(f"{path}: the training patches sampled now differ from those it was "
                          f"trained on (data digest {str(meta.get('data_digest'))[:12]} then, "
                          f"{digest[:12]} now): data.source {config['data']['source']} "
                          f"changed since; restore it, or start a new run")
