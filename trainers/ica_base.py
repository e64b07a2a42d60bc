"""What the three ICA estimators share: the ``W`` parameter, its parts and its records.

Every ICA estimator learns filters ``W`` (``k × n``, one per row) on whitened data ``x``
(``n × m`` inside; ``X`` is ``(n_samples, n_features)`` at the boundary) and encodes by the
responses ``Wx``. Its sparsity is one penalty on the (optionally pooled) responses
(:class:`~sparselearn.objectives.ResponseSparsity`), built from the ``penalty``, ``epsilon``
and ``grouping`` parameters (:mod:`trainers.parts`).

Memory stays bounded in the number of examples m: ``x`` may be a view of the caller's array or
memory map; ``x xᵀ``, the sparsity terms, the record's mean ``|Wx|`` and ``transform`` all run
over column blocks (:func:`objectives.blocks.iter_column_blocks`).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from sparselearn.objectives import ICAReconstruction, ResponseSparsity, SmoothedL1Penalty
from sparselearn.objectives.blocks import block_columns, iter_column_blocks
from sparselearn.objectives.ica import CovarianceICAReconstruction

from .base import BaseTrainer
from .input_checks import DataSummary, check_ica_samples, warn_ica_scale
from .linalg import range_projector
from .parts import IS_GROUPING, IS_PENALTY, PartsMixin
from .timing import EvalClock
from .validation import COMMON_PARAMETERS, IS_INITIAL_MATRIX, OR_NONE, Interval, Options
from .whitening import WhiteningMixin

__all__ = ["ICA_PARAMETERS", "ICABase", "mean_abs_response"]

#: Constraints of the parameters every ICA estimator has.
ICA_PARAMETERS = {
    **COMMON_PARAMETERS,
    "n_components": OR_NONE(Interval(int, 1, None)),
    "epsilon": Interval(float, 0.0, None, closed="neither"),
    "penalty": IS_PENALTY,
    "grouping": IS_GROUPING,
    "inner_iter": Interval(int, 1, None),
    "whiten": Options((False, "unit-variance")),
    "w_init": IS_INITIAL_MATRIX,
}


def mean_abs_response(W: np.ndarray, x: np.ndarray, block: int | None = None) -> float:
    """Mean of ``|W x|`` over all ``k × m`` entries, accumulated over column blocks of ``x``.

    Parameters
    ----------
    W : ndarray of shape (k, n)
        Filters, one per row.
    x : ndarray of shape (n, m)
        Data, one example per column; may be (a view of) a memory map, whose pages are
        released block by block.
    block : int, optional
        Columns per block (default: about 1 MiB per ``k × block`` work array, see
        :func:`objectives.blocks.block_columns`).

    Returns
    -------
    float
        ``mean(|W x|)``; one block gives the same value as the direct evaluation, several
        blocks agree with it up to rounding.
    """
    k, m = W.shape[0], x.shape[1]
    step = block_columns(max(W.shape), np.result_type(W, x).itemsize, block,
                         owner="mean_abs_response")
    if m <= step:
        return float(np.mean(np.abs(W @ x)))
    total = 0.0
    for _, _, part in iter_column_blocks(x, step):
        Y = W @ part
        total += float(np.abs(Y, out=Y).sum())
    return total / (k * m)


class ICABase(PartsMixin, WhiteningMixin, BaseTrainer):
    """Shared parts: ``W`` parameter, penalty and grouping, responses as codes, ``C = x xᵀ``."""

    _param_names: ClassVar[tuple[str, ...]] = ("W",)

    def _setup(self, x: np.ndarray) -> None:
        self._penalty, self._V = self._build_parts(x.shape[0])
        self._sparsity = ResponseSparsity(self._penalty, self._V)

    def _check_input(self, x: np.ndarray) -> DataSummary:
        """Enough samples for ``k`` filters, then the common checks, then the scale warning
        (:mod:`trainers.input_checks`)."""
        owner, name = type(self).__name__, self._input_name()
        check_ica_samples(owner, name, x.shape[1], x.shape[0], self._k)
        summary = super()._check_input(x)
        epsilon = getattr(self._penalty, "epsilon", None)
        warn_ica_scale(owner, name, summary,
                       epsilon=epsilon if isinstance(self._penalty, SmoothedL1Penalty) else None,
                       alpha=getattr(self, "alpha", None))
        return summary

    def _initial_W(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """``w_init`` (checked and copied) or a standard normal draw, ``k × n``."""
        shape = (self._k, x.shape[0])
        if self.w_init is None:
            return rng.standard_normal(shape).astype(x.dtype)
        W = np.array(self.w_init, dtype=x.dtype, copy=True)
        if W.shape != shape:
            space = "whitened features" if self.whiten else "features"
            raise ValueError(
                f"{type(self).__name__}: w_init must have shape {shape} (n_components, "
                f"{space}); got {W.shape}"
            )
        if not np.isfinite(W).all():
            raise ValueError(f"{type(self).__name__}: w_init holds NaN or infinite values")
        return W

    def _param_shape(self, name: str) -> tuple[int, ...]:
        return (self._k, self._n)

    def _reconstruction_term(self, x: np.ndarray) -> CovarianceICAReconstruction:
        """``‖WᵀWx − x‖²`` through ``C = x xᵀ``: from the whitening's scatter of the training
        data when ``fit`` whitened it (no pass over ``x``), else accumulated over column
        blocks."""
        C = self.__dict__.pop("_white_scatter", None)
        if C is None or C.shape != (x.shape[0],) * 2:
            return ICAReconstruction.from_data(x)
        C = 0.5 * (C + C.T)  # exactly symmetric
        term = ICAReconstruction.from_covariance(C.astype(x.dtype, copy=False))
        term._C_by_dtype[np.dtype(np.float64)] = C
        return term

    def _prepare(self, x: np.ndarray) -> None:
        self._reconstruction = self._reconstruction_term(x)
        # rows are normalised inside the data's range (see RowNormalized); None: full rank
        self._range_projector = (range_projector(self._reconstruction.C)
                                 if getattr(self, "row_norm", None) == "unit" else None)

    @property
    def components_(self) -> np.ndarray:
        """Unmixing filters as rows, ``(n_components, n_features)``: ``W``, or
        ``W @ whitening_`` when fitted with ``whiten`` (they act on ``X − mean_``)."""
        self._check_fitted()
        W = self._params["W"]
        if getattr(self, "_whitening", None) is None:
            return W.copy()
        return W @ self._whitening[0]

    def _encode(self, x: np.ndarray) -> np.ndarray:
        """``W x`` (k × m), formed block by block into an F-ordered array (``.T`` is C-ordered)."""
        W = self._params["W"]
        m = x.shape[1]
        step = block_columns(max(W.shape), np.result_type(W, x).itemsize)
        if m <= step:
            return W @ x
        out = np.empty((m, W.shape[0]), dtype=np.result_type(W, x)).T
        for start, stop, part in iter_column_blocks(x, step):
            out[:, start:stop] = W @ part
        return out

    def _decode(self, s: np.ndarray) -> np.ndarray:
        x = self._params["W"].T @ s
        if getattr(self, "_whitening", None) is None:
            return x
        return self._dewhitening @ x + self._whitening[1][:, None]

    def _sparsity_term(self) -> ResponseSparsity:
        return self._sparsity

    def _common_record(self, x: np.ndarray, W: np.ndarray, clock: EvalClock) -> dict[str, float]:
        m = x.shape[1]
        reconstruction = clock.call(self._reconstruction.value, {"W": W})
        return {
            "reconstruction_error": reconstruction / m,
            "sparsity": clock.call(mean_abs_response, W, x),
            "ica_reconstruction": reconstruction,
        }

    def objective(self, X: Any) -> float:
        """The training objective per example, evaluated on ``X`` with the fitted ``W``."""
        self._check_fitted()
        x = self._to_columns(X, self._dtype)
        return self._objective_terms(x).value({"W": self._params["W"], "x": x})

    def _objective_terms(self, x: np.ndarray):
        raise NotImplementedError
