"""sparselearn objectives: cost terms with backprop-derived gradients.

Every term maps named matrices to a scalar and offers ``value(variables)``,
``value_and_grad(variables, wrt)`` and ``as_network()`` (the same function as a layer table run
by the seed's backprop recursion, :mod:`objectives.network`). Terms combine linearly:
``(1 / m) * Reconstruction() + lam * TopographicL1(V, eps) + gamma * WeightDecay()``.

Shapes (one example per column): ``A`` n × k, ``s`` k × m, ``x`` n × m, ``W`` k × n, ``V`` g × k.
"""

from .base import Term, WeightedSum
from .gradcheck import check_gradient, numerical_gradient, relative_error
from .ica import (
    CovarianceICAReconstruction,
    ICAReconstruction,
    ICASparsity,
    TopographicICASparsity,
)
from .network import Network, parse_table
from .reconstruction import (
    FixedBasisReconstruction,
    FixedCodesReconstruction,
    Reconstruction,
    SmoothedL1,
    WeightDecay,
)
from .topographic import TopographicL1, grouping_matrix

__all__ = [
    "CovarianceICAReconstruction",
    "FixedBasisReconstruction",
    "FixedCodesReconstruction",
    "ICAReconstruction",
    "ICASparsity",
    "Network",
    "Reconstruction",
    "SmoothedL1",
    "Term",
    "TopographicICASparsity",
    "TopographicL1",
    "WeightDecay",
    "WeightedSum",
    "check_gradient",
    "grouping_matrix",
    "numerical_gradient",
    "parse_table",
    "relative_error",
]
