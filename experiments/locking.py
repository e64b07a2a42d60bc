"""Directory locks: one writer at a time for a run or sweep directory.

:func:`hold_lock` takes an OS advisory lock (``flock`` on Linux and macOS, ``msvcrt.locking``
on Windows) on a file ``.lock`` inside the directory and writes the holder's pid, host and
command line into it, for the message another process gets. The system releases the lock when
the holding process ends, however it ends, so a crash never leaves a lock that blocks: a
``.lock`` file left behind by a killed process is just an unlocked file. A clean release
removes the file.

Locks are per process and re-entrant: a process that holds a directory's lock may take it
again (a sweep worker locks its run directory and :func:`experiments.run_training` locks it
again). Threads of one process share the process's locks. A sweep locks its sweep directory,
and each of its runs locks its own run directory, so they never wait for each other.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sparselearn.experiments.errors import RunDirError

__all__ = ["LOCK_NAME", "DirectoryLocked", "hold_lock", "holder", "is_held"]

#: Name of the lock file inside a locked directory.
LOCK_NAME = ".lock"
#: Seconds between attempts while waiting for a lock.
_RETRY = 0.05
#: Shortest wait: :func:`holder` probes by taking the lock for an instant.
_GRACE = 0.2

if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
    import msvcrt

    _REGION = 1 << 20  # lock a byte past the holder text, which stays readable

    def _try_lock(fd: int) -> bool:
        os.lseek(fd, _REGION, os.SEEK_SET)
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True

    def _unlock(fd: int) -> None:
        os.lseek(fd, _REGION, os.SEEK_SET)
        with contextlib.suppress(OSError):
            msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
else:
    import fcntl

    def _try_lock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def _unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)


class DirectoryLocked(RunDirError):
    """Another process holds the directory's lock (exit status 2 in the command line).

    Attributes
    ----------
    path : pathlib.Path
        The locked directory.
    holder : dict
        What the holder wrote into the lock file (``pid``, ``host``, ``command``, ``since``);
        empty when it could not be read.
    """

    def __init__(self, path: Path, what: str, info: dict[str, Any]) -> None:
        self.path = path
        self.holder = info
        super().__init__(f"{path}: {what} is in use by {describe(info)}; wait for it to "
                         f"finish or stop it first (the lock goes away with its process)")


#: realpath of a directory → [fd of its lock file, depth] for the locks this process holds.
_held: dict[str, list[int]] = {}
_registry = threading.Lock()


def describe(info: dict[str, Any]) -> str:
    """``process 123 on host (command, since ...)`` from a lock file's contents."""
    if not info.get("pid"):
        return "another process"
    text = f"process {info['pid']}"
    if info.get("host") and info["host"] != socket.gethostname():
        text += f" on {info['host']}"
    details = [str(info[key]) for key in ("command", "since") if info.get(key)]
    if details:
        text += f" ({', since '.join(details) if len(details) == 2 else details[0]})"
    return text


def _read_holder(lock_file: Path) -> dict[str, Any]:
    try:
        info = json.loads(lock_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return info if isinstance(info, dict) else {}


def _holder_text(note: str | None) -> bytes:
    command = " ".join(sys.argv) if sys.argv and sys.argv[0] else sys.executable
    info = {"pid": os.getpid(), "host": socket.gethostname(),
            "command": f"{note}: {command}" if note else command,
            "since": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime())}
    return (json.dumps(info) + "\n").encode("utf-8")


def _make_dirs(path: Path) -> list[Path]:
    """Create ``path`` and missing parents; return the folders created, deepest last."""
    missing = []
    for folder in (path, *path.parents):
        if folder.exists():
            break
        missing.append(folder)
    created = []
    for folder in reversed(missing):
        try:
            folder.mkdir()
        except FileExistsError:
            continue
        except OSError as exc:
            _remove_empty(created)
            raise RunDirError(f"{folder}: cannot create folder ({exc.strerror})") from None
        created.append(folder)
    return created


def _remove_empty(created: list[Path]) -> None:
    for folder in reversed(created):
        try:
            folder.rmdir()
        except OSError:
            return


def _acquire(path: Path, what: str, wait: float, note: str | None) -> int:
    """Open, lock and fill ``path/.lock``; return its descriptor."""
    lock_file = path / LOCK_NAME
    deadline = time.monotonic() + max(_GRACE, wait)
    while True:
        try:
            fd = os.open(lock_file, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise RunDirError(f"{lock_file}: cannot create the lock file of the {what} "
                              f"({exc.strerror})") from None
        if _try_lock(fd):
            # A holder that released meanwhile removed the file we opened: lock the new one.
            try:
                same = os.path.samestat(os.fstat(fd), os.stat(lock_file))
            except OSError:
                same = False
            if same:
                os.ftruncate(fd, 0)
                os.lseek(fd, 0, os.SEEK_SET)
                os.write(fd, _holder_text(note))
                return fd
            _unlock(fd)
            os.close(fd)
            continue
        os.close(fd)
        if time.monotonic() >= deadline:
            raise DirectoryLocked(path, what, _read_holder(lock_file))
        time.sleep(_RETRY)


def _release(path: Path, fd: int) -> None:
    # Remove the file while still holding the lock: a waiter that opened it sees it gone.
    with contextlib.suppress(OSError):
        (path / LOCK_NAME).unlink()
    with contextlib.suppress(OSError):
        _unlock(fd)
    os.close(fd)


@contextlib.contextmanager
def hold_lock(directory: str | os.PathLike, what: str = "run directory", *,
              create: bool = False, wait: float = 0.0,
              note: str | None = None) -> Iterator[Path]:
    """Hold the lock of ``directory`` for the body of the ``with`` block.

    Parameters
    ----------
    directory : path
        The run or sweep directory.
    what : str
        What it is, for messages ("run directory", "sweep directory").
    create : bool
        Create the directory (and its parents) when missing; the folders created are removed
        again on exit if they are still empty (a fresh run that failed before writing).
    wait : float
        Seconds to wait for another holder to finish (0: fail at once).
    note : str, optional
        Written into the lock file before the command line, e.g. "sweep worker".

    Yields
    ------
    pathlib.Path
        ``directory``.

    Raises
    ------
    DirectoryLocked
        Another process holds the lock (after ``wait`` seconds).
    RunDirError
        The directory is missing (and ``create`` is false) or cannot be created.
    """
    path = Path(directory)
    created: list[Path] = []
    if create:
        created = _make_dirs(path)
    elif not path.is_dir():
        raise RunDirError(f"{path}: no such {what}")
    key = os.path.realpath(path)
    with _registry:
        entry = _held.get(key)
        if entry is not None:
            entry[1] += 1
    if entry is None:
        try:
            fd = _acquire(path, what, wait, note)
        except BaseException:
            _remove_empty(created)
            raise
        with _registry:
            _held[key] = entry = [fd, 1]
    try:
        yield path
    finally:
        with _registry:
            entry[1] -= 1
            last = entry[1] == 0
            if last:
                del _held[key]
        if last:
            _release(path, entry[0])
            _remove_empty(created)


def is_held(directory: str | os.PathLike) -> bool:
    """True when this process holds the lock of ``directory``."""
    with _registry:
        return os.path.realpath(directory) in _held


def holder(directory: str | os.PathLike) -> dict[str, Any] | None:
    """Who holds the lock of ``directory``: None when nobody else does (this process holding
    it, a missing directory and a stale lock file count as nobody), else the holder's details
    (possibly empty).

    The answer may be out of date as soon as it is returned: take the lock with
    :func:`hold_lock` to act on it.
    """
    path = Path(directory)
    lock_file = path / LOCK_NAME
    if is_held(path) or not lock_file.is_file():
        return None
    try:
        fd = os.open(lock_file, os.O_RDWR)
    except OSError:
        return None
    try:
        if _try_lock(fd):
            _unlock(fd)
            return None
    finally:
        os.close(fd)
    return _read_holder(lock_file)
