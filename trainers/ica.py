"""ICA trainers: orthonormal ICA (UFLDL), reconstruction ICA (Le et al. 2011), topographic ICA.

The estimators live in :mod:`trainers.orthonormal_ica` and :mod:`trainers.rica`, their shared
base in :mod:`trainers.ica_base`, the fixed-point solver in :mod:`trainers.fixed_point`; this
module gathers them (and the helpers that used to live here) under one import.
"""

from sparselearn.objectives.row_normalized import RowNormalized, normalize_rows

from .fixed_point import ResponsePass, fixed_point_pass
from .ica_base import ICABase, mean_abs_response
from .linalg import range_projector, symmetric_orthonormalize
from .orthonormal_ica import OrthonormalICA
from .rica import RICA, TopographicICA

__all__ = [
    "ICABase",
    "OrthonormalICA",
    "RICA",
    "ResponsePass",
    "RowNormalized",
    "TopographicICA",
    "fixed_point_pass",
    "mean_abs_response",
    "normalize_rows",
    "range_projector",
    "symmetric_orthonormalize",
]
