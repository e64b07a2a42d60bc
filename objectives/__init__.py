"""sparselearn objectives: cost terms with backprop-derived gradients.

Every term maps named matrices to a scalar and offers ``value(variables)``,
``value_and_grad(variables, wrt)`` and ``as_network()`` (the same function as a layer table run
by the seed's backprop recursion, :mod:`objectives.network`). Terms combine linearly:
``(1 / m) * Reconstruction() + lam * TopographicL1(V, eps) + gamma * WeightDecay()``.

Sparsity is one penalty (:mod:`objectives.penalties`: ``smoothed_l1``, ``cauchy``, or your own
:class:`Penalty` registered with :func:`register_penalty`; or a layer table,
:class:`TablePenalty`) on the codes (:class:`Sparsity`) or on the responses ``Wx``
(:class:`ResponseSparsity`), optionally pooled by a grouping matrix ``V``.

Shapes (one example per column): ``A`` n × k, ``s`` k × m, ``x`` n × m, ``W`` k × n, ``V`` g × k.
"""

from .activations import register_activation
from .base import Term, WeightedSum
from .gradcheck import check_gradient, numerical_gradient, relative_error
from .ica import CovarianceICAReconstruction, ICAReconstruction
from .network import Network, parse_table
from .penalties import (
    PENALTIES,
    CauchyPenalty,
    Penalty,
    SmoothedL1Penalty,
    make_penalty,
    register_penalty,
)
from .reconstruction import (
    FixedBasisReconstruction,
    FixedCodesReconstruction,
    Reconstruction,
    WeightDecay,
)
from .sparsity import (
    ICASparsity,
    ResponseSparsity,
    SmoothedL1,
    Sparsity,
    TopographicICASparsity,
    TopographicL1,
)
from .table_penalty import TablePenalty
from .topographic import grouping_matrix

__all__ = [
    "PENALTIES",
    "CauchyPenalty",
    "CovarianceICAReconstruction",
    "FixedBasisReconstruction",
    "FixedCodesReconstruction",
    "ICAReconstruction",
    "ICASparsity",
    "Network",
    "Penalty",
    "Reconstruction",
    "ResponseSparsity",
    "SmoothedL1",
    "SmoothedL1Penalty",
    "Sparsity",
    "TablePenalty",
    "Term",
    "TopographicICASparsity",
    "TopographicL1",
    "WeightDecay",
    "WeightedSum",
    "check_gradient",
    "grouping_matrix",
    "make_penalty",
    "numerical_gradient",
    "parse_table",
    "register_activation",
    "register_penalty",
    "relative_error",
]
