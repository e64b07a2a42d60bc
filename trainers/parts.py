"""The parts a model is built from: a sparsity penalty and a grouping, from parameters.

``penalty`` (every sparse-coding and ICA estimator) is a registered name (``"smoothed_l1"``,
``"cauchy"``, ...: :data:`objectives.PENALTIES`), a mapping ``{"name": ..., **params}``, a
:class:`~objectives.Penalty`, or a layer table ``{"input": "y", "layers": [...]}``
(:class:`~objectives.TablePenalty`). A name or mapping without a smoothing takes the
estimator's ``epsilon``.

``grouping`` is None (no pooling) or a torus ``{"grid": (rows, cols), "pool": 3, "wrap":
True}``: the ``rows·cols`` features on a grid, each cell pooling the ``pool × pool`` block that
starts there (:func:`~objectives.grouping_matrix`).
"""

from __future__ import annotations

import logging
import numbers
from collections.abc import Mapping
from typing import Any

import numpy as np

from sparselearn.objectives import Penalty, TablePenalty, grouping_matrix, make_penalty

from .validation import Constraint, check_torus

__all__ = ["IS_GROUPING", "IS_PENALTY", "TABLE_CHECK_TOL", "PartsMixin", "build_penalty",
           "check_table", "grouping_of", "torus_of"]

LOG = logging.getLogger("sparselearn")

#: A penalty table whose gradient disagrees with central differences by more than this
#: (relative) stops the fit before it starts.
TABLE_CHECK_TOL = 1e-6

_GROUPING_KEYS = ("grid", "pool", "wrap")

IS_PENALTY = Constraint(
    lambda v: isinstance(v, (str, Mapping, Penalty, TablePenalty)),
    "a penalty name, a mapping {'name': ..., ...}, a layer table {'input': 'y', 'layers': "
    "[...]}, or a Penalty",
)


def _is_grouping(value: Any) -> bool:
    if value is None:
        return True
    if not isinstance(value, Mapping) or "grid" not in value:
        return False
    if any(key not in _GROUPING_KEYS for key in value):
        return False
    grid = value["grid"]
    pool, wrap = value.get("pool", 3), value.get("wrap", True)
    return (isinstance(grid, (tuple, list)) and len(grid) == 2
            and all(isinstance(d, numbers.Integral) and not isinstance(d, bool) and d >= 1
                    for d in grid)
            and isinstance(pool, numbers.Integral) and not isinstance(pool, bool) and pool >= 1
            and isinstance(wrap, (bool, np.bool_)))


IS_GROUPING = Constraint(
    _is_grouping,
    "None or a mapping {'grid': (rows, cols), 'pool': int >= 1, 'wrap': bool}",
)


def torus_of(owner: str, grouping: Mapping[str, Any] | None) -> tuple | None:
    """``(grid, pool, wrap)`` of a grouping parameter already checked by :data:`IS_GROUPING`
    (pool at most min(grid)), or None."""
    if grouping is None:
        return None
    grid = tuple(int(d) for d in grouping["grid"])
    pool, wrap = int(grouping.get("pool", 3)), bool(grouping.get("wrap", True))
    check_torus(owner, grid, pool)
    return grid, pool, wrap


class PartsMixin:
    """The penalty and grouping of an estimator with ``penalty``, ``epsilon`` and ``grouping``
    parameters (the topographic presets override :meth:`_torus` with their ``grid``)."""

    def _torus(self) -> tuple | None:
        """``(grid, pool, wrap)`` of the grouping, or None."""
        return torus_of(type(self).__name__, self.grouping)

    def _build_parts(self, n_features: int) -> tuple[Any, np.ndarray | None]:
        """Size ``k`` (``n_components``, ``n_features``, or rows·cols of the torus), the
        grouping matrix ``V`` (``grouping_``) and the penalty (a table checked against central
        differences, ``penalty_check_``); returns ``(penalty, V)``."""
        owner = type(self).__name__
        torus = self._torus()
        V = grouping_of(torus)
        n_components = getattr(self, "n_components", None)
        if torus is None:
            self._k = n_components if n_components is not None else n_features
            self.__dict__.pop("grouping_", None)
        else:
            self._k = torus[0][0] * torus[0][1]
            if n_components is not None and n_components != self._k:
                raise ValueError(f"{owner}: parameter 'n_components' must equal rows*cols = "
                                 f"{self._k} of grouping['grid']; got {n_components!r}")
            self.grouping_ = V
        self.n_components_ = self._k
        penalty = build_penalty(self.penalty, self.epsilon, owner)
        self.penalty_check_ = check_table(penalty, V, self._k, owner)
        return penalty, V


def grouping_of(torus: tuple | None) -> np.ndarray | None:
    """The grouping matrix ``V`` of ``(grid, pool, wrap)``, or None."""
    if torus is None:
        return None
    grid, pool, wrap = torus
    return grouping_matrix(grid, pool=pool, wrap=wrap)


def build_penalty(spec: Any, epsilon: float, owner: str) -> Penalty | TablePenalty:
    """The penalty object of a ``penalty`` parameter (see the module docstring).

    Raises
    ------
    ValueError
        ``"<owner>: parameter 'penalty': ..."`` naming what is wrong (unknown name, unknown
        parameter, malformed table row).
    """
    try:
        if isinstance(spec, (Penalty, TablePenalty)):
            return spec
        if isinstance(spec, Mapping) and "layers" in spec:
            return TablePenalty(spec)
        return make_penalty(spec, {"epsilon": epsilon}, owner="penalty")
    except (TypeError, ValueError) as exc:
        message = str(exc).removeprefix("penalty: ")
        raise ValueError(f"{owner}: parameter 'penalty': {message}") from None


def check_table(penalty: Any, V: np.ndarray | None, k: int, owner: str) -> float | None:
    """Hold a :class:`TablePenalty`'s gradient against central differences on a small random
    sample (fixed seed, so a fit's random stream is untouched); log the error.

    Returns the relative error (None for other penalties).

    Raises
    ------
    ValueError
        The error exceeds :data:`TABLE_CHECK_TOL`.
    """
    if not isinstance(penalty, TablePenalty):
        return None
    error = penalty.check_gradient(V, k, np.random.default_rng(0))
    LOG.info("%s: penalty table %r: gradient vs central differences, relative error %.2e",
             owner, penalty.name, error)
    if not error <= TABLE_CHECK_TOL:
        raise ValueError(
            f"{owner}: the penalty table {penalty.name!r} fails its gradient check: relative "
            f"error {error:.2e} against central differences (tolerance {TABLE_CHECK_TOL:g}); "
            f"a row's activation is not differentiable at the sampled responses (e.g. sqrt "
            f"of a value near 0: add an epsilon row before it)"
        )
    return error
