"""The registry of model kinds: config name → estimator class, and what to ask of a class.

Everything the experiments room needs to know about a kind is asked of its class: which
constructor arguments it takes (so which config keys apply), whether its bases are rows
(filters ``W``) or columns (atoms ``A``), whether it trains on mini-batches.
"""

from __future__ import annotations

import inspect

from .dictionary import OnlineDictionaryLearning
from .orthonormal_ica import OrthonormalICA
from .rica import RICA, TopographicICA
from .sparse_coding import SparseCoding
from .topographic_sparse_coding import TopographicSparseCoding

__all__ = ["KINDS", "accepts", "bases_as_rows", "kinds_accepting"]

#: model.kind → estimator class.
KINDS: dict[str, type] = {
    "ica": OrthonormalICA,
    "rica": RICA,
    "sparse_coding": SparseCoding,
    "topographic": TopographicSparseCoding,
    "tica": TopographicICA,
    "dictionary": OnlineDictionaryLearning,
}


def accepts(kind: str, argument: str) -> bool:
    """Whether the estimator of ``kind`` takes the constructor argument ``argument``."""
    return argument in inspect.signature(KINDS[kind]).parameters


def kinds_accepting(argument: str) -> tuple[str, ...]:
    """The kinds whose estimator takes ``argument``, in registry order."""
    return tuple(kind for kind in KINDS if accepts(kind, argument))


def bases_as_rows(kind: str) -> bool:
    """Whether the kind learns filters ``W`` (one per row) rather than atoms ``A`` (columns)."""
    return KINDS[kind]._param_names[0] == "W"
