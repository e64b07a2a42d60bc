"""sparselearn: learn sparse-coding and ICA bases from images, with backprop-derived gradients.

Subpackages: :mod:`sparselearn.objectives` (cost terms, the layer-table engine, gradient
checks), :mod:`sparselearn.trainers` (the estimators), :mod:`sparselearn.patches` (images,
patches, whitening), :mod:`sparselearn.plotting` (filter sheets, curves),
:mod:`sparselearn.experiments` (YAML configs, run directories, sweeps), :mod:`sparselearn.cli`
(the ``sparselearn`` command). The estimators and :func:`load_run` are importable from here;
they load on first use (PEP 562), so ``import sparselearn`` and ``sparselearn --help`` stay
fast.
"""

from __future__ import annotations

from importlib import import_module
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

try:
    __version__ = version("sparselearn")
except PackageNotFoundError:  # pragma: no cover - running from an uninstalled checkout
    __version__ = "0+unknown"

#: Public name → the module that defines it; imported on first access.
_LAZY: dict[str, str] = {
    "RICA": "sparselearn.trainers",
    "OnlineDictionaryLearning": "sparselearn.trainers",
    "OrthonormalICA": "sparselearn.trainers",
    "SparseCoding": "sparselearn.trainers",
    "TopographicICA": "sparselearn.trainers",
    "TopographicSparseCoding": "sparselearn.trainers",
    "load_run": "sparselearn.experiments.loading",
}

__all__ = [  # the names of _LAZY and the version (tests check the two agree)
    "RICA",
    "OnlineDictionaryLearning",
    "OrthonormalICA",
    "SparseCoding",
    "TopographicICA",
    "TopographicSparseCoding",
    "__version__",
    "load_run",
]

if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from sparselearn.experiments.loading import load_run
    from sparselearn.trainers import (
        RICA,
        OnlineDictionaryLearning,
        OrthonormalICA,
        SparseCoding,
        TopographicICA,
        TopographicSparseCoding,
    )


def __getattr__(name: str) -> Any:
    """Import a public name of :data:`_LAZY` on first access (PEP 562)."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value  # later accesses skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
