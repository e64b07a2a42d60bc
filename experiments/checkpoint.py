"""Saving and loading training states (``state_dict()``) as ``.npz`` files, without pickle.

A state is a nested structure of dicts, lists, scalars and arrays. Arrays go into the archive
under their own keys; the rest (including big integers such as a PCG64 state, and NaN) goes into
one JSON document stored as a string array. Floats survive exactly (``repr`` round-trips), so a
resumed run continues bit for bit.

A file records its layout version (:data:`FORMAT`) and a SHA-256 digest of its arrays, so a
truncated, damaged or hand-edited checkpoint is refused on load with its path and what is wrong
(:func:`read_npz` does the same for any ``.npz`` the project reads back).
"""

from __future__ import annotations

import errno as errnos
import hashlib
import json
import os
import zipfile
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from sparselearn.experiments.errors import RunDirError, StorageError
from sparselearn.plotting.atomic import atomic_open

__all__ = ["FORMAT", "encode_state", "decode_state", "read_npz", "save_npz", "save_state",
           "load_state", "arrays_digest"]

#: Layout version of the files :func:`save_state` writes.
FORMAT = 2

_ARRAY = "__ndarray__"
_TUPLE = "__tuple__"
_DOC_KEY = "__state_json__"
_DIGEST_KEY = "__digest__"
#: What numpy and zipfile raise on a damaged archive (truncated, flipped bytes, not a zip).
_DAMAGED = (OSError, ValueError, EOFError, KeyError, TypeError, zipfile.BadZipFile,
            zlib.error, NotImplementedError, UnicodeDecodeError)
#: OSError numbers that are the environment's doing rather than the file's contents.
_ENVIRONMENT = {errnos.EACCES, errnos.EPERM, errnos.EIO, errnos.ENXIO, errnos.ENODEV,
                errnos.EMFILE, errnos.ENFILE}


def encode_state(obj: Any, arrays: dict[str, np.ndarray], prefix: str = "state") -> Any:
    """Return a JSON-able copy of ``obj``, moving every ndarray into ``arrays``."""
    if isinstance(obj, np.ndarray):
        key = f"{prefix}#{len(arrays)}"
        arrays[key] = obj
        return {_ARRAY: key}
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, Mapping):
        out = {}
        for key, value in obj.items():
            if not isinstance(key, str):
                raise TypeError(f"state keys must be strings, found {key!r} under {prefix}")
            out[key] = encode_state(value, arrays, f"{prefix}/{key}")
        return out
    if isinstance(obj, tuple):
        return {_TUPLE: [encode_state(v, arrays, f"{prefix}/{i}") for i, v in enumerate(obj)]}
    if isinstance(obj, list):
        return [encode_state(v, arrays, f"{prefix}/{i}") for i, v in enumerate(obj)]
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    raise TypeError(f"cannot store {type(obj).__name__} at {prefix} in a checkpoint")


def decode_state(obj: Any, arrays: Mapping[str, np.ndarray]) -> Any:
    """Inverse of :func:`encode_state`."""
    if isinstance(obj, dict):
        if set(obj) == {_ARRAY}:
            return np.array(arrays[obj[_ARRAY]])
        if set(obj) == {_TUPLE}:
            return tuple(decode_state(v, arrays) for v in obj[_TUPLE])
        return {key: decode_state(value, arrays) for key, value in obj.items()}
    if isinstance(obj, list):
        return [decode_state(v, arrays) for v in obj]
    return obj


def read_npz(path: str | os.PathLike, what: str = "file") -> dict[str, np.ndarray]:
    """Every array of an ``.npz`` archive, read in full so that damage shows here.

    Parameters
    ----------
    path : path-like
    what : str
        What the file is, for messages (``"checkpoint"``, ``"model file"``).

    Raises
    ------
    RunDirError
        Missing, empty, truncated or damaged file, or not an ``.npz`` archive: the message
        names the path and what numpy or zipfile found.
    StorageError
        The file exists but cannot be read (permission denied, I/O error).
    """
    path = Path(path)
    try:
        archive = np.load(path, allow_pickle=False)
        if not isinstance(archive, np.lib.npyio.NpzFile):
            raise ValueError("an .npy array, not an .npz archive")
        with archive:
            return {key: np.asarray(archive[key]) for key in archive.files}
    except FileNotFoundError:
        raise RunDirError(f"{path}: {what} not found") from None
    except OSError as exc:
        if exc.errno in _ENVIRONMENT:
            raise StorageError.from_os_error(exc, "cannot read", path) from None
        raise RunDirError(f"{path}: unreadable {what} ({_reason(exc)})") from None
    except _DAMAGED as exc:
        raise RunDirError(f"{path}: unreadable {what}, truncated or damaged "
                          f"({_reason(exc)})") from None


def _reason(exc: BaseException) -> str:
    lines = str(exc).split(". If you trust")[0].strip().splitlines()
    text = lines[0][:200] if lines else "empty"
    return f"{type(exc).__name__}: {text}"


def arrays_digest(arrays: Mapping[str, np.ndarray]) -> str:
    """SHA-256 (hex) of named arrays: names, dtypes, shapes and bytes, in name order."""
    digest = hashlib.sha256()
    for key in sorted(arrays):
        value = np.ascontiguousarray(arrays[key])
        digest.update(json.dumps([key, value.dtype.str, list(value.shape)]).encode())
        digest.update(value.tobytes())
    return digest.hexdigest()


def save_npz(path: str | os.PathLike, arrays: Mapping[str, np.ndarray]) -> None:
    """``np.savez`` to ``path`` atomically."""
    with atomic_open(path, "wb") as handle:
        np.savez(handle, **arrays)


def save_state(path: str | os.PathLike, state: Mapping[str, Any],
               extra: Mapping[str, np.ndarray] | None = None,
               meta: Mapping[str, Any] | None = None) -> None:
    """Write a training state (plus extra arrays and JSON metadata) atomically.

    Parameters
    ----------
    path : path-like
        Target ``.npz`` file.
    state : mapping
        A trainer's ``state_dict()``.
    extra : mapping of str to ndarray, optional
        Stored as top-level arrays (e.g. ``filters``).
    meta : mapping, optional
        JSON-able metadata (e.g. ``status``).
    """
    arrays: dict[str, np.ndarray] = {}
    document = {"format": FORMAT, "state": encode_state(dict(state), arrays),
                "meta": dict(meta or {})}
    arrays[_DOC_KEY] = np.array(json.dumps(document, allow_nan=True))
    for key, value in (extra or {}).items():
        arrays[key] = np.asarray(value)
    arrays[_DIGEST_KEY] = np.array(arrays_digest(arrays))
    save_npz(path, arrays)


def load_state(path: str | os.PathLike) -> tuple[dict[str, Any], dict[str, np.ndarray],
                                                 dict[str, Any]]:
    """Read a file written by :func:`save_state`.

    Returns
    -------
    state : dict
        The ``state_dict()`` as saved.
    extra : dict of str to ndarray
        The extra arrays.
    meta : dict

    Raises
    ------
    RunDirError
        Unreadable archive (see :func:`read_npz`), another layout version, contents that do
        not match their digest (damaged or edited), or a malformed document; the message
        names the path.
    StorageError
        The file cannot be read (permission denied, I/O error).
    """
    path = Path(path)
    arrays = read_npz(path, "checkpoint")
    if _DOC_KEY not in arrays:
        raise RunDirError(f"{path}: not a checkpoint (no {_DOC_KEY} document; expected a file "
                          f"written by sparselearn train)")
    try:
        document = json.loads(str(arrays[_DOC_KEY]))
    except ValueError as exc:
        raise RunDirError(f"{path}: damaged checkpoint (its state document is not JSON: "
                          f"{exc})") from None
    found = document.get("format") if isinstance(document, dict) else None
    if found != FORMAT:
        raise RunDirError(f"{path}: checkpoint format {found if found is not None else 'none'}, "
                          f"expected {FORMAT} (written by another sparselearn version); train "
                          f"the run again")
    saved_digest = str(arrays.pop(_DIGEST_KEY, ""))
    if saved_digest != arrays_digest(arrays):
        raise RunDirError(f"{path}: damaged or edited checkpoint (its contents do not match the "
                          f"digest stored with them)")
    if not isinstance(document.get("state"), dict) or not isinstance(document.get("meta", {}),
                                                                     dict):
        raise RunDirError(f"{path}: malformed checkpoint (expected 'state' and 'meta' "
                          f"mappings in its document)")
    arrays.pop(_DOC_KEY)
    state_arrays = {k: v for k, v in arrays.items() if k.startswith("state")}
    extra = {k: v for k, v in arrays.items() if not k.startswith("state")}
    try:
        state = decode_state(document["state"], state_arrays)
    except (KeyError, TypeError) as exc:
        raise RunDirError(f"{path}: malformed checkpoint (state refers to a missing array "
                          f"{exc})") from None
    return state, extra, document.get("meta", {})
