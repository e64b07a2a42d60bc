"""sparselearn trainers: sparse coding and ICA estimators in the scikit-learn style.

Estimators (``X`` is ``(n_samples, n_features)`` at this boundary, one example per column
inside): :class:`SparseCoding`, :class:`TopographicSparseCoding`,
:class:`OnlineDictionaryLearning`, :class:`OrthonormalICA`,
:class:`RICA`, :class:`TopographicICA`. Training reports through :class:`Callback` objects that
receive a :class:`TrainState`; :class:`StopTraining` ends a fit cleanly and
:class:`TrainingDiverged` signals a non-finite objective. Block solvers are in
:mod:`trainers.solvers`, basis-quality measures in :mod:`trainers.metrics`.
"""

from .callbacks import EarlyStopping, ProgressCallback
from .ica import RICA, OrthonormalICA, TopographicICA, symmetric_orthonormalize
from .metrics import (
    localisation_orientation,
    oriented_localised_share,
    random_filters,
    topographic_similarity,
)
from .sparse_coding import OnlineDictionaryLearning, SparseCoding, TopographicSparseCoding
from .state import Callback, StopTraining, TrainingDiverged, TrainState

__all__ = [
    "RICA",
    "Callback",
    "EarlyStopping",
    "OnlineDictionaryLearning",
    "OrthonormalICA",
    "ProgressCallback",
    "SparseCoding",
    "StopTraining",
    "TopographicICA",
    "TopographicSparseCoding",
    "TrainState",
    "TrainingDiverged",
    "localisation_orientation",
    "oriented_localised_share",
    "random_filters",
    "symmetric_orthonormalize",
    "topographic_similarity",
]
