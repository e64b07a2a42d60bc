"""Atomic file writes: a temporary file in the target's folder, then ``os.replace``.

A reader of the target path sees either the old complete file or the new complete file, never a
partial one, even if the writer is killed mid-write. A writer killed with SIGKILL can leave its
temporary file (``.NAME.XXXXXXXX.tmp``) behind: :func:`remove_stale_temporaries` clears them on
the next start. An ``OSError`` (permission denied, disk full) names the target file, not the
temporary one. This module depends on the standard library only, so every room that writes files
(``plotting`` for pictures, ``experiments`` for configs, checkpoints and models) shares it.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

__all__ = ["atomic_open", "atomic_write_bytes", "atomic_write_text", "remove_stale_temporaries"]

#: ``tempfile.mkstemp`` names: ``.{target}.`` + 8 characters + ``.tmp``.
_TEMPORARY = re.compile(r"^\.(?P<target>.+)\.[a-z0-9_]{8}\.tmp$")


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "wb", **kwargs: Any) -> Iterator[IO]:
    """Open a temporary file next to ``path``; on clean exit move it onto ``path``.

    Parameters
    ----------
    path : path-like
        Final destination. Its folder must exist.
    mode : {"wb", "w"}
        Binary or text mode.
    **kwargs
        Passed to :func:`open` (e.g. ``encoding``, ``newline``).

    Yields
    ------
    file object
        Write to it; it is flushed, fsync-ed and renamed onto ``path`` when the block ends
        without an exception. On an exception the temporary file is removed and ``path`` is left
        untouched.

    Raises
    ------
    OSError
        The temporary file cannot be created, written or renamed (permission denied, disk
        full, ...): the same error class and errno, with ``filename`` the target ``path``.
    """
    if mode not in ("wb", "w"):
        raise ValueError(f"atomic_open: mode must be 'wb' or 'w', got {mode!r}")
    target = Path(path)
    try:
        fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.",
                                        suffix=".tmp")
    except OSError as exc:
        raise _naming(exc, target) from exc
    try:
        os.chmod(tmp_name, 0o666 & ~_umask())  # mkstemp makes 0600; use the usual mode
        with os.fdopen(fd, mode, **kwargs) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, target)
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        if isinstance(exc, OSError) and exc.filename in (None, tmp_name):
            raise _naming(exc, target) from exc
        raise


def _naming(exc: OSError, target: Path) -> OSError:
    """``exc`` again (same class and errno) with ``filename`` the target, not the temporary."""
    if exc.errno is None:
        return exc
    return type(exc)(exc.errno, exc.strerror or os.strerror(exc.errno), str(target))


def remove_stale_temporaries(folder: str | os.PathLike,
                             names: Iterable[str] | None = None) -> list[Path]:
    """Delete the temporary files that killed :func:`atomic_open` writers left in ``folder``.

    Call it only where no other process writes into ``folder`` at the same time.

    Parameters
    ----------
    folder : path-like
    names : iterable of str, optional
        Only temporaries of these target names (e.g. ``checkpoint.npz``); default all.

    Returns
    -------
    list of Path
        The files removed.
    """
    wanted = None if names is None else set(names)
    removed = []
    try:
        entries = list(os.scandir(folder))
    except (FileNotFoundError, NotADirectoryError):
        return removed
    for entry in entries:
        match = _TEMPORARY.match(entry.name)
        if match is None or (wanted is not None and match["target"] not in wanted):
            continue
        if entry.is_file(follow_symlinks=False):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(entry.path)
            removed.append(Path(entry.path))
    return removed


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_open(path, "wb") as handle:
        handle.write(data)


def atomic_write_text(path: str | os.PathLike, text: str, encoding: str = "utf-8") -> None:
    """Write ``text`` to ``path`` atomically."""
    with atomic_open(path, "w", encoding=encoding, newline="") as handle:
        handle.write(text)
