"""sparselearn trainers: sparse coding and ICA estimators in the scikit-learn style.

Estimators (``X`` is ``(n_samples, n_features)`` at this boundary, one example per column
inside): :class:`SparseCoding`, :class:`TopographicSparseCoding`,
:class:`OnlineDictionaryLearning`, :class:`OrthonormalICA`,
:class:`RICA`, :class:`TopographicICA`. Training reports through :class:`Callback` objects that
receive a :class:`TrainState`; :class:`StopTraining` ends a fit cleanly and
:class:`TrainingDiverged` signals a non-finite objective.

Modules: :mod:`trainers.sparse_coding` (:class:`SparseCoding`,
:class:`TopographicSparseCoding`; alternating minimisation), :mod:`trainers.dictionary`
(:class:`OnlineDictionaryLearning`; also re-exported by :mod:`trainers.sparse_coding`),
:mod:`trainers.dictionary_steps` (its steps as functions), :mod:`trainers.ica` (the ICA
estimators), :mod:`trainers.solvers` (block solvers) and :mod:`trainers.lasso` (batch lasso),
:mod:`trainers.base` (the estimator base) with :mod:`trainers.persistence` (checkpoints),
:mod:`trainers.rng` (the fit's Generator) and :mod:`trainers.divergence`,
:mod:`trainers.metrics` (basis-quality measures), :mod:`trainers.columns` (column access to
in-memory and memory-mapped data).
"""

from .base import BaseTrainer
from .callbacks import EarlyStopping, ProgressCallback
from .dictionary import OnlineDictionaryLearning
from .ica import RICA, OrthonormalICA, TopographicICA, symmetric_orthonormalize
from .metrics import (
    localisation_orientation,
    oriented_localised_share,
    random_filters,
    topographic_similarity,
)
from .sparse_coding import SparseCoding
from .state import Callback, StopTraining, TrainingDiverged, TrainState
from .topographic_sparse_coding import TopographicSparseCoding

__all__ = [
    "RICA",
    "BaseTrainer",
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
