"""Sparse-coding terms: reconstruction and weight decay (the sparsity terms are in
:mod:`objectives.sparsity`; the reconstruction with a fixed basis or fixed codes in
:mod:`objectives.bound_reconstruction`, re-exported here).

Shapes (one example per column): basis ``A`` is n × k, features ``s`` are k × m, data ``x`` is
n × m. Every gradient is returned as a fresh array with the shape and dtype of its variable.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._kernels import frobenius
from ._validation import (
    bind,
    cast_like,
    diagnose_non_finite,
)
from .base import Term, Variables
from .bound_reconstruction import (
    FixedBasisReconstruction,
    FixedCodesReconstruction,
    reconstruction_table,
)
from .network import Network

__all__ = ["FixedBasisReconstruction", "FixedCodesReconstruction", "Reconstruction",
           "WeightDecay"]


class Reconstruction(Term):
    """Squared reconstruction error :math:`F(A, s) = \\lVert A s - x \\rVert_F^2`.

    Gradients (seed Example 1, with its erratum fixed):

    .. math::
        \\nabla_A F = 2 (A s - x) s^T, \\qquad \\nabla_s F = 2 A^T (A s - x).

    Variables ``A`` (n × k), ``s`` (k × m), ``x`` (n × m); differentiable in ``A`` and ``s``.
    The residual :math:`R = As - x` is formed once, in place, and shared by value and gradient;
    the factor 2 is applied to the (smaller) gradient, not to R.

    See :meth:`fixed_basis` for the form that precomputes :math:`A^TA` and :math:`A^Tx` (the
    s-step), and :meth:`fixed_codes` for the one that precomputes :math:`ss^T` and :math:`xs^T`
    (the A-step).
    """

    variables = ("A", "s", "x")
    wrt = ("A", "s")
    name = "reconstruction"
    _spec = (("A", ("n", "k")), ("s", ("k", "m")), ("x", ("n", "m")))

    def _residual(self, variables: Variables) -> tuple[np.ndarray, ...]:
        (A, s, x), _ = bind(variables, self._spec, "Reconstruction")
        R = A @ s
        R -= x
        return A, s, x, R

    def _finish(self, value: float, A, s, x) -> float:
        if not np.isfinite(value):
            diagnose_non_finite("Reconstruction", {"A": A, "s": s, "x": x})
        return value

    def value(self, variables: Variables) -> float:
        A, s, x, R = self._residual(variables)
        return self._finish(frobenius(R, R), A, s, x)

    def value_and_grad(self, variables: Variables, wrt: str) -> tuple[float, np.ndarray]:
        self._check_wrt(wrt)
        A, s, x, R = self._residual(variables)
        value = self._finish(frobenius(R, R), A, s, x)
        if wrt == "A":
            grad = R @ s.T
            grad *= 2
            return value, cast_like(grad, A)
        grad = A.T @ R
        grad *= 2
        return value, cast_like(grad, s)

    def as_network(self) -> Network:
        """Seed Example 1: ``A`` → identity, ``I`` → subtract x, square; input ``s``."""
        return Network.from_table(reconstruction_table(), input="s", name=self.name)

    @staticmethod
    def fixed_basis(A: Any, x: Any) -> FixedBasisReconstruction:
        """The reconstruction term for a fixed basis and data, a function of ``s`` only.

        See :class:`FixedBasisReconstruction`.
        """
        return FixedBasisReconstruction(A, x)

    @staticmethod
    def fixed_codes(s: Any, x: Any) -> FixedCodesReconstruction:
        """The reconstruction term for fixed codes and data, a function of ``A`` only.

        See :class:`FixedCodesReconstruction`.
        """
        return FixedCodesReconstruction(s, x)


class WeightDecay(Term):
    """Weight decay :math:`F(A) = \\lVert A \\rVert_F^2`, :math:`\\nabla_A F = 2A`.

    Parameters
    ----------
    variable : str, default "A"
        Name of the matrix penalised (e.g. ``"W"`` for ICA filters).
    """

    name = "weight_decay"

    def __init__(self, variable: str = "A"):
        if not isinstance(variable, str) or not variable.isidentifier():
            raise ValueError(f"WeightDecay: variable must be a name; got {variable!r}")
        self.variable = variable
        self.variables = (variable,)
        self.wrt = (variable,)

    def _bind(self, variables: Variables) -> np.ndarray:
        (A,), _ = bind(variables, ((self.variable, ("r", "c")),), "WeightDecay")
        return A

    def value(self, variables: Variables) -> float:
        A = self._bind(variables)
        value = frobenius(A, A)
        if not np.isfinite(value):
            diagnose_non_finite("WeightDecay", {self.variable: A})
        return value

    def value_and_grad(self, variables: Variables, wrt: str) -> tuple[float, np.ndarray]:
        self._check_wrt(wrt)
        A = self._bind(variables)
        value = frobenius(A, A)
        if not np.isfinite(value):
            diagnose_non_finite("WeightDecay", {self.variable: A})
        return value, A * 2

    def as_network(self) -> Network:
        """One layer: input ``A``, activation square."""
        return Network.from_table(
            [{"weight": None, "activation": "square"}], input=self.variable, name=self.name
        )

    def __repr__(self) -> str:
        return f"WeightDecay(variable={self.variable!r})"
