"""sparselearn: learn sparse-coding and ICA bases from images, with backprop-derived gradients.

Subpackages: :mod:`sparselearn.objectives` (cost terms, the layer-table engine, gradient
checks), :mod:`sparselearn.trainers` (the estimators), :mod:`sparselearn.patches` (images,
patches, whitening), :mod:`sparselearn.plotting` (filter sheets, curves),
:mod:`sparselearn.experiments` (YAML configs, run directories, sweeps). The estimators and
:func:`load_run` are importable from here.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("sparselearn")
except PackageNotFoundError:  # pragma: no cover - running from an uninstalled checkout
    __version__ = "0+unknown"

from sparselearn.trainers import (  # noqa: E402
    RICA,
    OnlineDictionaryLearning,
    OrthonormalICA,
    SparseCoding,
    TopographicICA,
    TopographicSparseCoding,
)

__all__ = [
    "RICA",
    "OnlineDictionaryLearning",
    "OrthonormalICA",
    "SparseCoding",
    "TopographicICA",
    "TopographicSparseCoding",
    "__version__",
]
