"""Saving and loading training states (``state_dict()``) as ``.npz`` files, without pickle.

A state is a nested structure of dicts, lists, scalars and arrays. Arrays go into the archive
under their own keys; the rest (including big integers such as a PCG64 state, and NaN) goes into
one JSON document stored as a string array. Floats survive exactly (``repr`` round-trips), so a
resumed run continues bit for bit.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

import numpy as np

from sparselearn.plotting.atomic import atomic_open

__all__ = ["encode_state", "decode_state", "save_npz", "save_state", "load_state"]

_ARRAY = "__ndarray__"
_TUPLE = "__tuple__"
_DOC_KEY = "__state_json__"


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
    document = {"state": encode_state(dict(state), arrays), "meta": dict(meta or {})}
    arrays[_DOC_KEY] = np.array(json.dumps(document))
    for key, value in (extra or {}).items():
        arrays[key] = np.asarray(value)
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
    """
    with np.load(path, allow_pickle=False) as archive:
        arrays = {key: archive[key] for key in archive.files}
    document = json.loads(str(arrays.pop(_DOC_KEY)))
    state_arrays = {k: v for k, v in arrays.items() if k.startswith("state")}
    extra = {k: v for k, v in arrays.items() if not k.startswith("state")}
    return decode_state(document["state"], state_arrays), extra, document.get("meta", {})
