"""Run directories: their file names, creation, recognition, status and lock.

A run directory is locked (:mod:`experiments.locking`) while a run writes it: a second
``sparselearn train --resume`` of the same folder, or a fresh run into it, stops with exit
status 2 naming the process that holds it.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import json
import os
import time
import warnings
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path, PurePath
from typing import Any, TypeVar

from sparselearn.experiments.errors import ConfigError, RunDirError
from sparselearn.experiments.locking import LOCK_NAME, DirectoryLocked, hold_lock, holder
from sparselearn.plotting.atomic import atomic_write_text

__all__ = ["CONFIG", "METRICS", "MODEL", "FILTERS", "CURVES", "CHECKPOINT", "STATUS",
           "default_run_dir", "inside_root", "check_fresh_run_dir", "prepare_run_dir",
           "check_run_dir", "run_dir_lock", "locked_run", "read_status", "write_status"]

F = TypeVar("F", bound=Callable[..., Any])

CONFIG = "config.yaml"
METRICS = "metrics.csv"
MODEL = "model.npz"
FILTERS = "filters.png"
CURVES = "curves.png"
CHECKPOINT = "checkpoint.npz"
STATUS = "status.json"


def inside_root(root: str | os.PathLike, name: str, key: str) -> Path:
    """``root / name``, checked to be a folder strictly inside ``root``.

    Parameters
    ----------
    root : path
        The folder that receives run (or sweep) directories.
    name : str
        A folder name, or a relative path of folders (``ica/first``), below ``root``.
    key : str
        What ``name`` is, for the message (``output.name``, ``<sweep file>: name``).

    Raises
    ------
    ConfigError
        ``name`` is absolute, climbs out of ``root`` (``..``) or is ``root`` itself (``.``).
    """
    root = Path(os.path.expanduser(str(root)))
    text = str(name)
    parts = PurePath(os.path.normpath(text)).parts if text else ()
    if (not parts or os.path.isabs(text) or PurePath(text).drive or parts[0] in (os.curdir,
                                                                                 os.pardir)):
        target = os.path.normpath(root / text) if text else str(root)
        raise ConfigError(f"{key}: expected a folder name inside output.root ({root}), found "
                          f"{text!r} (it would write to {target}); give a plain name such as "
                          f"'my-run', or choose the folder with --out")
    return root / os.path.normpath(text)


def default_run_dir(config: Mapping[str, Any]) -> Path:
    """``output.root / output.name``, the name defaulting to ``<kind>-<UTC timestamp>``.

    A generated name that is taken gets a ``-2``, ``-3``... suffix; an explicit name is used
    as given, and must stay inside ``output.root`` (see :func:`inside_root`).

    Raises
    ------
    ConfigError
        ``output.name`` is absolute, contains ``..`` that leaves the root, or is ``.``.
    """
    root = Path(os.path.expanduser(str(config["output"]["root"])))
    if config["output"]["name"]:
        return inside_root(root, config["output"]["name"], "output.name")
    stem = time.strftime(f"{config['model']['kind']}-%Y%m%d-%H%M%S", time.gmtime())
    path, count = root / stem, 1
    while path.exists():
        count += 1
        path = root / f"{stem}-{count}"
    return path


def check_fresh_run_dir(path: str | os.PathLike) -> Path:
    """Check that a fresh run may be written into ``path`` (absent, or an empty folder; a lock
    file left by a process that died does not count). Creates nothing.

    Raises
    ------
    DirectoryLocked
        Another process is writing a run there.
    RunDirError
        ``path`` is a file, or a folder that already holds a run (resume it instead) or other
        files.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise RunDirError(f"{path}: exists and is not a folder")
    if path.is_dir() and any(entry.name != LOCK_NAME for entry in path.iterdir()):
        info = holder(path)
        if info is not None:
            raise DirectoryLocked(path, "run directory", info)
        hint = (" (it holds a run: continue it with --resume)" if (path / CONFIG).exists()
                else "")
        raise RunDirError(f"{path}: output folder is not empty{hint}")
    return path


def prepare_run_dir(path: str | os.PathLike) -> Path:
    """Create a fresh run directory (its parents too).

    Raises
    ------
    RunDirError
        ``path`` is a file, or a folder that already holds a run (resume it instead) or other
        files (see :func:`check_fresh_run_dir`).
    """
    path = check_fresh_run_dir(path)
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


@contextlib.contextmanager
def run_dir_lock(path: str | os.PathLike, fresh: bool, wait: float = 0.0,
                 note: str | None = None) -> Iterator[Path]:
    """Hold the lock of a run directory while a run writes it.

    Parameters
    ----------
    path : path
        The run directory.
    fresh : bool
        A new run: ``path`` is checked with :func:`check_fresh_run_dir` and created (removed
        again on exit if nothing was written). Else an existing run directory
        (:func:`check_run_dir`).
    wait : float
        Seconds to wait for another process to release it (0: fail at once).
    note : str, optional
        Recorded in the lock file for the message of a second writer.

    Raises
    ------
    DirectoryLocked
        Another process holds the run directory.
    RunDirError
        As :func:`check_fresh_run_dir` or :func:`check_run_dir`.
    """
    path = check_fresh_run_dir(path) if fresh else check_run_dir(path)
    with hold_lock(path, "run directory", create=fresh, wait=wait, note=note):
        yield path


def _resolved_config(config: Any) -> Any:
    from sparselearn.experiments.config import config_from_dict, load_config

    if config is None:
        return None
    if isinstance(config, (str, os.PathLike)):
        return load_config(config)
    return config_from_dict(config)


def locked_run(function: F) -> F:
    """Decorate :func:`experiments.run_training`: its run directory is locked for the call.

    The decorated function takes ``config``, ``out_dir`` and ``resume`` as
    :func:`experiments.run_training` does. For a fresh run without ``out_dir`` the config is
    resolved here too, to name the folder (:func:`default_run_dir`), which is passed on as
    ``out_dir``.
    """
    signature = inspect.signature(function)

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        arguments = bound.arguments
        resume, out_dir = arguments.get("resume"), arguments.get("out_dir")
        if resume:
            path = out_dir if resume is True else resume
            if path is None:
                return function(*bound.args, **bound.kwargs)  # its own error
        elif out_dir is None:
            with warnings.catch_warnings():  # the run itself warns (once), naming the file
                warnings.simplefilter("ignore")
                config = _resolved_config(arguments.get("config"))
            if config is None:
                return function(*bound.args, **bound.kwargs)  # its own error
            arguments["out_dir"] = path = default_run_dir(config)
        else:
            path = out_dir
        with run_dir_lock(path, fresh=not resume):
            return function(*bound.args, **bound.kwargs)

    return wrapper  # type: ignore[return-value]


def read_status(path: str | os.PathLike) -> dict[str, Any]:
    """Contents of ``status.json`` (``{}`` when absent or unreadable)."""
    try:
        return json.loads((Path(path) / STATUS).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def write_status(path: str | os.PathLike, **fields: Any) -> None:
    """Write ``status.json`` atomically (``status``: running, finished, interrupted, diverged)."""
    atomic_write_text(Path(path) / STATUS, json.dumps(fields, indent=1, sort_keys=True) + "\n")
