"""Run directories: their file names, creation, recognition and status."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sparselearn.experiments.errors import RunDirError
from sparselearn.plotting.atomic import atomic_write_text

__all__ = ["CONFIG", "METRICS", "MODEL", "FILTERS", "CURVES", "CHECKPOINT", "STATUS",
           "default_run_dir", "prepare_run_dir", "check_run_dir", "read_status",
           "write_status"]

CONFIG = "config.yaml"
METRICS = "metrics.csv"
MODEL = "model.npz"
FILTERS = "filters.png"
CURVES = "curves.png"
CHECKPOINT = "checkpoint.npz"
STATUS = "status.json"


def default_run_dir(config: Mapping[str, Any]) -> Path:
    """``output.root / output.name``, the name defaulting to ``<kind>-<UTC timestamp>``.

    A generated name that is taken gets a ``-2``, ``-3``... suffix; an explicit name is used
    as given.
    """
    root = Path(config["output"]["root"])
    if config["output"]["name"]:
        return root / config["output"]["name"]
    stem = time.strftime(f"{config['model']['kind']}-%Y%m%d-%H%M%S", time.gmtime())
    path, count = root / stem, 1
    while path.exists():
        count += 1
        path = root / f"{stem}-{count}"
    return path


def prepare_run_dir(path: str | os.PathLike) -> Path:
    """Create a fresh run directory (its parents too).

    Raises
    ------
    RunDirError
        ``path`` is a file, or a folder that already holds a run (resume it instead) or other
        files.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise RunDirError(f"{path}: exists and is not a folder")
    if path.is_dir() and any(path.iterdir()):
        hint = (" (it holds a run: continue it with --resume)" if (path / CONFIG).exists()
                else "")
        raise RunDirError(f"{path}: output folder is not empty{hint}")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RunDirError(f"{path}: cannot create run directory ({exc.strerror})") from None
    return path


def check_run_dir(path: str | os.PathLike, need: tuple[str, ...] = (CONFIG,)) -> Path:
    """Return ``path`` if it is a run directory holding the files in ``need``.

    Raises
    ------
    RunDirError
        Missing folder, or not a run directory (no ``config.yaml``), or a needed file missing.
    """
    path = Path(path)
    if not path.is_dir():
        raise RunDirError(f"{path}: no such run directory")
    if not (path / CONFIG).is_file():
        raise RunDirError(f"{path}: not a run directory (no {CONFIG}; expected a folder "
                          f"written by sparselearn train)")
    for name in need:
        if not (path / name).is_file():
            raise RunDirError(f"{path}: run directory has no {name}")
    return path


def read_status(path: str | os.PathLike) -> dict[str, Any]:
    """Contents of ``status.json`` (``{}`` when absent or unreadable)."""
    try:
        return json.loads((Path(path) / STATUS).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def write_status(path: str | os.PathLike, **fields: Any) -> None:
    """Write ``status.json`` atomically (``status``: running, finished, interrupted, diverged)."""
    atomic_write_text(Path(path) / STATUS, json.dumps(fields, indent=1, sort_keys=True) + "\n")
