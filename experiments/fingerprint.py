"""What a checkpoint records about the terms of its run: digests of the config and the data.

A resume continues bit for bit only on the same terms: the same resolved config (every key but
``output.*``, which changes where files go and how tiles are sorted, not what is learned) and
the same training patches. :func:`config_digest` and :func:`data_digest` fingerprint them;
:func:`config_differences` names the keys that differ when a digest does not match.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = ["IGNORED_SECTIONS", "comparable_config", "config_digest", "config_differences",
           "data_digest"]

#: Sections of a config that do not change what a run learns.
IGNORED_SECTIONS = ("output",)


def comparable_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """The resolved config without :data:`IGNORED_SECTIONS` (a JSON-able copy)."""
    return json.loads(json.dumps({key: value for key, value in config.items()
                                  if key not in IGNORED_SECTIONS}))


def config_digest(config: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of :func:`comparable_config`, keys sorted, floats exact."""
    text = json.dumps(comparable_config(config), sort_keys=True, allow_nan=True)
    return hashlib.sha256(text.encode()).hexdigest()


def data_digest(x: np.ndarray) -> str:
    """SHA-256 (hex) of the training patches: dtype, shape and bytes (C order)."""
    x = np.ascontiguousarray(x)
    digest = hashlib.sha256(json.dumps([x.dtype.str, list(x.shape)]).encode())
    digest.update(memoryview(x).cast("B"))
    return digest.hexdigest()


def _flatten(node: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(node, Mapping):
        out: dict[str, Any] = {}
        for key, value in node.items():
            out.update(_flatten(value, f"{prefix}{key}."))
        return out
    return {prefix.rstrip("."): node}


def config_differences(saved: Mapping[str, Any], current: Mapping[str, Any]) -> list[str]:
    """Dotted keys whose values differ, as ``"key: <saved> then, <current> now"``.

    Both configs are compared through :func:`comparable_config`; a key present on one side
    only shows as ``(absent)`` on the other.
    """
    before, after = _flatten(comparable_config(saved)), _flatten(comparable_config(current))
    lines = []
    for key in sorted(set(before) | set(after)):
        old, new = before.get(key, "(absent)"), after.get(key, "(absent)")
        if old != new or type(old) is not type(new):
            lines.append(f"{key}: {json.dumps(old)} then, {json.dumps(new)} now")
    return lines
