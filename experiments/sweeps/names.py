"""Run-directory names of sweep points: readable, filesystem-safe and stable.

A name lists a point's overrides as ``key=value`` pairs joined by commas, then its seed, e.g.
``lambda=0.1,n_components=64,seed=0``. Keys are shortened to the shortest dotted suffix that is
unique among the varied keys (``model.epsilon`` and ``data.whitening.epsilon`` become
``model.epsilon`` and ``whitening.epsilon``). The name depends only on the overrides, never on
the order of the points, so an edited sweep keeps the names of the points it still has.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import PurePath
from typing import Any

__all__ = ["format_value", "short_keys", "run_name", "plain_name"]

_UNSAFE = re.compile(r"[^A-Za-z0-9._+\-]+")
MAX_LENGTH = 120


def format_value(value: Any) -> str:
    """A value as it appears in a name: YAML-like scalars, lists joined by ``x``."""
    if isinstance(value, (list, tuple)):
        return "x".join(format_value(v) for v in value)
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    text = repr(value) if isinstance(value, float) else str(value)
    return _UNSAFE.sub("_", text).strip("_") or "_"


def short_keys(keys: Sequence[str]) -> dict[str, str]:
    """Dotted key → shortest dotted suffix that no other key in ``keys`` ends with."""
    out: dict[str, str] = {}
    for key in keys:
        parts = key.split(".")
        for depth in range(1, len(parts) + 1):
            suffix = ".".join(parts[-depth:])
            clash = any(other != key and (other == suffix or other.endswith("." + suffix))
                        for other in keys)
            if not clash:
                out[key] = suffix
                break
        else:
            out[key] = key
    return out


def plain_name(name: str) -> bool:
    """True for a name that is one folder inside its parent (no separator, not ``.``/``..``)."""
    separators = [sep for sep in ("/", "\\", os.sep, os.altsep) if sep]
    return bool(name) and name not in (os.curdir, os.pardir) \
        and not any(sep in name for sep in separators) and not PurePath(name).drive


def _digest(point: Mapping[str, Any], seed: int | None) -> str:
    text = json.dumps({"point": dict(point), "seed": seed}, sort_keys=True, default=str)
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:8]


def run_name(point: Mapping[str, Any], seed: int | None, short: Mapping[str, str]) -> str:
    """Directory name of one run.

    Parameters
    ----------
    point : mapping
        Dotted key → value overrides of the point (the seed excluded).
    seed : int or None
        Appended as ``seed=N`` (None: the seed is one of the point's own keys).
    short : mapping
        Dotted key → short form (see :func:`short_keys`).

    Returns
    -------
    str
        Characters from ``[A-Za-z0-9._+-=,]`` only; names longer than 120 characters are cut and
        end with a hash of the full overrides, so they stay unique.
    """
    parts = [f"{_UNSAFE.sub('_', short.get(key, key))}={format_value(value)}"
             for key, value in sorted(point.items(), key=lambda kv: kv[0])]
    if seed is not None:
        parts.append(f"seed={seed}")
    name = ",".join(parts) or "base"
    if len(name) > MAX_LENGTH:
        name = f"{name[:MAX_LENGTH - 9]}-{_digest(point, seed)}"
    return name


def dedupe(names: Sequence[str], points: Sequence[Mapping[str, Any]],
           seeds: Sequence[int | None]) -> list[str]:
    """Append a hash of the overrides to names that collide after sanitising."""
    counts: dict[str, int] = {}
    for name in names:
        counts[name] = counts.get(name, 0) + 1
    return [f"{name}-{_digest(point, seed)}" if counts[name] > 1 else name
            for name, point, seed in zip(names, points, seeds, strict=True)]
