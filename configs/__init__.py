"""The ready YAML configs shipped with sparselearn (``sparselearn configs`` lists them).

Each ``*.yaml`` file of this package is a shipped config, named by its stem: ``ica`` is
``ica.yaml``. A file with a top-level ``base:`` key is a sweep (``sparselearn sweep NAME``),
every other one a training config (``sparselearn train NAME``). The files are read through
:func:`importlib.resources.files`, so the names work the same from a checkout and from an
installed wheel. This module uses the standard library only (listing is instant).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Literal

__all__ = ["ShippedConfig", "find", "names", "shipped"]

Kind = Literal["train", "sweep"]
_SUFFIXES = (".yaml", ".yml")
_SWEEP = re.compile(r"^base\s*:", re.MULTILINE)


@dataclass(frozen=True)
class ShippedConfig:
    """One shipped config file.

    Attributes
    ----------
    name : str
        The file's stem (``ica``).
    path : pathlib.Path
        Where the file is.
    kind : {"train", "sweep"}
        ``sweep`` for a sweep file (it has a top-level ``base:``), else ``train``.
    summary : str
        The text of its first comment line (empty when it has none).
    """

    name: str
    path: Path
    kind: Kind
    summary: str


def _root() -> Path:
    root = files(__name__)
    if not isinstance(root, Path):  # pragma: no cover - only for zipped installs
        raise RuntimeError(f"{__name__}: the shipped configs are not on the file system "
                           f"({root!r}); install sparselearn unzipped")
    return root


def _read(path: Path) -> ShippedConfig:
    text = path.read_text(encoding="utf-8")
    summary = ""
    for line in text.splitlines():
        if line.startswith("#"):
            summary = line.lstrip("#").strip()
            if summary:
                break
        elif line.strip():
            break
    kind: Kind = "sweep" if _SWEEP.search(text) else "train"
    return ShippedConfig(path.stem, path, kind, summary)


def shipped(kind: Kind | None = None) -> list[ShippedConfig]:
    """Every shipped config (of one ``kind`` if given), sorted by name.

    Parameters
    ----------
    kind : {"train", "sweep"}, optional
        Only training configs or only sweeps; default both.

    Returns
    -------
    list of ShippedConfig
    """
    found = [_read(path) for path in sorted(_root().iterdir())
             if path.suffix in _SUFFIXES and path.is_file()]
    return [entry for entry in found if kind is None or entry.kind == kind]


def names(kind: Kind | None = None) -> list[str]:
    """Names of the shipped configs (of one ``kind`` if given), sorted."""
    return [entry.name for entry in shipped(kind)]


def find(name: str) -> ShippedConfig | None:
    """The shipped config called ``name`` (``ica`` or ``ica.yaml``), or None.

    Parameters
    ----------
    name : str
        A config name, with or without its ``.yaml`` suffix. Anything with a path separator
        is not a name (None).

    Returns
    -------
    ShippedConfig or None
    """
    if not name or "/" in name or "\\" in name:
        return None
    stem = name
    for suffix in _SUFFIXES:
        stem = stem.removesuffix(suffix)
    for suffix in _SUFFIXES:
        path = _root() / f"{stem}{suffix}"
        if path.is_file():
            return _read(path)
    return None
