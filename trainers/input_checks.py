r"""Degenerate training data named before the first iteration of ``fit``.

``fit`` summarises the data the model sees (after ``preprocessor`` and ``whiten``) in one pass
over column blocks (bounded memory; a memory map is read once more and its pages released) and
refuses, with :class:`DegenerateInputError` (a ``ValueError``), data it cannot learn from:

- **no samples** (``n_samples=0``, also for ``fit([])``) or **one sample**;
- **constant data**: every feature takes one value in all samples, or varies by no more than
  :data:`ROUNDING_ULPS` units of rounding of the data's largest magnitude (nothing is left
  after centring but rounding noise);
- the ICA estimators: **fewer samples than the filters need**, ``n_samples < min(k, n)``
  (``k`` filters in ``n`` dimensions; a complete ICA needs ``n``): the data span at most
  ``n_samples`` directions and the other filters are not determined by them;
- :class:`~sparselearn.trainers.OnlineDictionaryLearning`: **every example's norm at most**
  ``alpha``, so that every lasso code ``argmin ½‖x − As‖² + α‖s‖₁`` is zero for any dictionary
  of atoms of norm at most 1 (``|aⱼᵀx| ≤ ‖x‖ ≤ α``).

and warns with :class:`DegenerateInputWarning` when the data are **nearly constant** (every
feature varies by at most :data:`NEAR_CONSTANT` of the largest magnitude: the model would mostly
fit the constant part), and when the ICA estimators get data whose **mean variance**
:math:`\sigma^2 = \operatorname{tr}(x x^T)/(n m)` is more than a factor :data:`ICA_SCALE_FACTOR`
from the unit variance of whitened data. Their objectives are not scale-free: with the smoothed
L1 penalty, data at scale :math:`\sigma` with :math:`(\alpha\sigma, \epsilon\sigma^2)` have
exactly the minimiser of unit-variance data with :math:`(\alpha, \epsilon)` (the objective is
:math:`\sigma^2` times RICA's, :math:`\sigma` times orthonormal ICA's, which has no α), so the
warning gives the ``epsilon`` (and ``alpha``) that keep at this scale the meaning the values
have at unit variance. :func:`check_training_data` runs the same checks without fitting (the
command line does, before it sets up a run); ``partial_fit`` runs none of them: one
mini-batch may hold one example.
"""

from __future__ import annotations

import copy
import math
import os
import sys
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.utils.validation import validate_data

from .columns import default_block, iter_column_blocks

__all__ = ["ICA_SCALE_FACTOR", "NEAR_CONSTANT", "ROUNDING_ULPS", "DataSummary",
           "DegenerateInputError", "DegenerateInputWarning", "InputChecksMixin",
           "check_ica_samples", "check_lasso_codes", "check_training_data", "summarize",
           "validate_input", "warn_ica_scale"]

#: Data whose every feature varies by at most this many units of rounding (``eps`` of the
#: dtype times the largest magnitude) count as constant.
ROUNDING_ULPS = 16

#: Data whose every feature varies by at most this fraction of the largest magnitude are
#: nearly constant (a warning: the model would mostly fit the constant part).
NEAR_CONSTANT = 1e-6

#: The ICA estimators warn when the mean variance is outside ``[1/F, F]`` for this ``F``.
ICA_SCALE_FACTOR = 10.0


class DegenerateInputError(ValueError):
    """Training data a model cannot learn from (the message says what was found)."""


class DegenerateInputWarning(UserWarning):
    """Training data that will train, but not as the parameters intend (the message says how)."""


@dataclass(frozen=True)
class DataSummary:
    """What the checks need of the data ``x`` (``n × m``), from one pass over column blocks.

    Attributes
    ----------
    n_features, n_samples : int
    mean_square : float
        ``mean(x²)`` over all entries, ``tr(x xᵀ)/(n m)`` (the mean variance of centred data).
    max_abs : float
        Largest ``|x|``.
    spread : float
        Largest range ``max − min`` of one feature over the samples.
    max_norm : float
        Largest Euclidean norm of one example (column).
    eps : float
        Machine epsilon of the data's dtype.
    """

    n_features: int
    n_samples: int
    mean_square: float
    max_abs: float
    spread: float
    max_norm: float
    eps: float


def summarize(x: np.ndarray) -> DataSummary:
    """The :class:`DataSummary` of finite data ``x`` (``n × m``, ``m ≥ 1``, float), in float64.

    Read in column blocks of about 16 MiB (no copy of ``x``; a memory map has its pages
    released block by block); the squares are summed in float64.
    """
    n, m = x.shape
    low = np.full(n, np.inf)
    high = np.full(n, -np.inf)
    squares = 0.0
    max_norm = 0.0
    with np.errstate(over="ignore"):
        for _, _, part in iter_column_blocks(x, default_block(n, x.dtype.itemsize)):
            np.minimum(low, part.min(axis=1), out=low)
            np.maximum(high, part.max(axis=1), out=high)
            norms = np.einsum("ij,ij->j", part, part, dtype=np.float64)
            squares += float(norms.sum())
            max_norm = max(max_norm, float(norms.max()))
        max_abs = float(max(np.abs(low).max(), np.abs(high).max()))
        spread = float((high - low).max())
    eps = float(np.finfo(x.dtype).eps) if x.dtype.kind == "f" else float(np.finfo(float).eps)
    return DataSummary(n, m, squares / (n * m), max_abs, spread, math.sqrt(max_norm), eps)


def validate_input(estimator: Any, X: Any, name: str = "X", reset: bool = False) -> np.ndarray:
    """scikit-learn's ``validate_data`` (numeric, 2-D, not sparse; finiteness checked later),
    with an empty ``X`` named by its size: ``"<owner>: X has n_samples=0 (shape (0, 16)) ..."``
    instead of scikit-learn's wording (``"Expected 2D array"`` for ``fit([])``)."""
    try:
        return validate_data(estimator, X, reset=reset, dtype="numeric",
                             ensure_all_finite=False)
    except ValueError as error:
        message = _empty_message(type(estimator).__name__, X, name, str(error))
        if message is None:
            raise
        raise DegenerateInputError(message) from error


def _empty_message(owner: str, X: Any, name: str, reason: str) -> str | None:
    """The message for an empty ``X`` (scikit-learn's ``reason`` kept for a 2-D one), or None."""
    shape = getattr(X, "shape", None)
    if shape is None:
        try:
            shape = np.shape(X)
        except (TypeError, ValueError):  # ragged nested lists: scikit-learn's message stands
            return None
    shape = tuple(shape)
    if len(shape) == 1 and shape[0] == 0:
        reason = "an array of shape (n_samples, n_features) with at least one sample is needed"
    elif len(shape) != 2 or 0 not in shape:
        return None
    size = "n_samples=0" if shape[0] == 0 else "n_features=0"
    return f"{owner}: {name} has {size} (shape {shape}); {reason}"


def check_training_data(estimator: Any, X: Any, name: str | None = None) -> DataSummary:
    """Run the checks ``estimator.fit(X)`` runs on ``X``, without fitting anything.

    ``X`` goes through the estimator's input validation, ``preprocessor`` and ``whiten`` as in
    ``fit``; ``estimator`` itself is not changed (the checks run on a shallow copy).

    Parameters
    ----------
    estimator : BaseTrainer
        An estimator of :mod:`sparselearn.trainers` (fitted or not).
    X : array_like of shape (n_samples, n_features)
    name : str, optional
        How the messages call the data (default ``"X"``, or ``"X after the preprocessor"``).

    Returns
    -------
    DataSummary

    Raises
    ------
    DegenerateInputError
        Data ``fit`` would refuse (see the module docstring); warnings as ``fit`` gives them.
    """
    model = copy.copy(estimator)
    model.__dict__.pop("_params", None)
    if name is not None:
        model._input_label = name
    model._validate_params()
    with model._threads():
        x = model._to_columns(X, None, reset=True)
        model._dtype = x.dtype
        model._n, model._m = x.shape
        model._setup(x)
        return model._check_input(x)


class InputChecksMixin:
    """``_check_input(x)``: the checks every estimator's ``fit`` runs (subclasses add theirs)."""

    def _input_name(self) -> str:
        """How the messages call the data: ``X``, or what became of it."""
        if "_input_label" in self.__dict__:
            return self.__dict__["_input_label"]
        if getattr(self, "preprocessor", None) is not None:
            return "X after the preprocessor"
        if getattr(self, "whiten", False):
            return "X after whitening"
        return "X"

    def _check_input(self, x: np.ndarray) -> DataSummary:
        """Refuse one sample and constant data (see the module docstring); the summary."""
        owner, name = type(self).__name__, self._input_name()
        n, m = x.shape
        if m < 2:
            raise DegenerateInputError(
                f"{owner}: {name} has n_samples={m}; training needs at least 2 samples (one "
                f"example has no variation to learn from)")
        summary = summarize(x)
        if summary.spread == 0.0:
            value = "every entry is 0" if summary.max_abs == 0.0 else "all samples are equal"
            raise DegenerateInputError(
                f"{owner}: {name} is constant ({value}; n_samples={m}, n_features={n}): "
                f"there is nothing to learn. Check the data source (a blank image, or integer "
                f"values scaled to nothing) and the normalisation")
        if summary.spread <= ROUNDING_ULPS * summary.eps * summary.max_abs:
            raise DegenerateInputError(
                f"{owner}: {name} is constant up to rounding: no feature varies by more than "
                f"{summary.spread:.3g} across n_samples={m}, {summary.spread / summary.max_abs:.2g}"
                f" of its largest magnitude {summary.max_abs:.3g} (the dtype resolves "
                f"{summary.eps:.2g} of it): after centring only rounding noise is left. Check "
                f"the data source")
        if summary.spread <= NEAR_CONSTANT * summary.max_abs:
            _warn(f"{owner}: {name} is nearly constant: no feature varies by more than "
                  f"{summary.spread:.3g} across n_samples={m}, "
                  f"{summary.spread / summary.max_abs:.2g} of its largest magnitude "
                  f"{summary.max_abs:.3g}, so the model will mostly fit the constant part. "
                  f"Remove the mean (patches.normalise; in a config, data.normalisation) and "
                  f"rescale, or check the data source")
        return summary


def check_ica_samples(owner: str, name: str, n_samples: int, n_features: int, k: int) -> None:
    """``n_samples ≥ min(k, n_features)`` for an ICA of ``k`` filters, else the error."""
    need = min(k, n_features)
    if n_samples < need:
        complete = "a complete ICA" if k == n_features else f"an ICA of {k} filters"
        raise DegenerateInputError(
            f"{owner}: {name} has n_samples={n_samples}, fewer than the {need} samples "
            f"{complete} in {n_features} dimensions needs: the data span at most {n_samples} "
            f"directions, so {need - n_samples} or more filters are not determined by them. "
            f"Pass at least {need} samples (many more for a good estimate) or fewer "
            f"n_components")


def warn_ica_scale(owner: str, name: str, summary: DataSummary, *, epsilon: float | None,
                   alpha: float | None) -> None:
    """:class:`DegenerateInputWarning` when the mean variance is far from 1 (module docstring).

    ``epsilon``: the smoothed L1 penalty's ε (None for another penalty); ``alpha``: RICA's
    sparsity weight (None for orthonormal ICA, whose minimiser does not depend on a weight).
    """
    variance = summary.mean_square
    if 1.0 / ICA_SCALE_FACTOR <= variance <= ICA_SCALE_FACTOR:
        return
    sigma = math.sqrt(variance)
    m = summary.n_samples
    ufldl = (" (1/n_samples: whitened with x xᵀ not divided by n_samples, as in UFLDL's ICA "
             "exercise)" if abs(variance * m - 1.0) < 0.1 else "")
    if epsilon is None:
        keep = "or keep its scale and scale the penalty's parameters with it"
    else:
        keep = f"or keep its scale and use epsilon={epsilon * variance:.3g}"
        if alpha is not None:
            keep += f" and alpha={alpha * sigma:.3g}"
        keep += (f" (the minimiser that epsilon={epsilon:g}"
                 + (f", alpha={alpha:g}" if alpha is not None else "") + " gives at unit variance)")
    _warn(
        f"{owner}: {name} has mean variance {variance:.3g} (trace(x xᵀ)/(n·m)){ufldl}, more than "
        f"a factor {ICA_SCALE_FACTOR:g} from the unit variance of whitened data the ICA "
        f"objectives are stated for. Whiten it to unit variance (whiten='unit-variance', "
        f"patches.Whitener, or in a config data.whitening), multiply it by {1 / sigma:.3g}, "
        f"{keep}")


def check_lasso_codes(owner: str, name: str, summary: DataSummary, alpha: float) -> None:
    """Refuse data whose every example has norm ``≤ alpha``: all lasso codes would be zero."""
    if summary.max_norm <= alpha:
        raise DegenerateInputError(
            f"{owner}: every example of {name} has norm at most {summary.max_norm:.3g}, not "
            f"above alpha={alpha:g}: the lasso code of every example is zero for any dictionary "
            f"of atoms of norm at most 1, so nothing can be learned. Lower alpha below "
            f"{summary.max_norm:.3g} or scale the data up (e.g. whiten it)")


def _warn(message: str) -> None:
    """:class:`DegenerateInputWarning` attributed to the first caller outside this package."""
    frame, level = sys._getframe(1), 2
    here = os.path.dirname(__file__)
    while frame is not None and os.path.dirname(frame.f_code.co_filename) == here:
        frame, level = frame.f_back, level + 1
    warnings.warn(message, DegenerateInputWarning, stacklevel=level)
