"""Divergence: non-finite iterates (:class:`NonFiniteObjective`, :func:`guarded`) and the
growth and collapse tests of :class:`DivergenceMonitor`.

A solver step whose iterate or objective stops being finite raises
:class:`NonFiniteObjective`; :class:`~sparselearn.trainers.base.BaseTrainer` turns it into
:class:`~sparselearn.trainers.state.TrainingDiverged` after restoring the last finite state.

A finite run can diverge too. After every outer iteration the trainer asks its
:class:`DivergenceMonitor`:

- **growth** (``fit`` only): the objective, smoothed as the median of the last ``w`` outer
  iterations, exceeds :data:`GROWTH_MULTIPLE` = 3 times the lowest smoothed value of the fit.
  The window covers at least :data:`GROWTH_WINDOW` = 5 iterations and at least
  :data:`GROWTH_EXAMPLES` = 500 examples, ``w = max(5, ⌈500/b⌉)`` for batches of ``b``
  (5 for the shipped configs' 2000). Measured on whitened 8×8 patches with 64 atoms, the
  largest rise of the smoothed objective over its lowest value in 200+ iterations of noise
  alone is at most 1.56 for every batch size from 2 to 2000 (1.07 in the shipped configs,
  whose batches vary by ±3 %); a window of 5 iterations alone would give up to 18 at
  ``b = 2``. A threefold rise is thus no noise; the collapse of the issue-13 reproduction
  (170 → 598 → 8 659 → ...) trips it at iteration 8. ``partial_fit`` skips this test, since
  its batches may differ in size (the objective is a sum over the batch) or in kind;
- **collapse** (``fit`` and ``partial_fit``): the scale of the parameters the trainer reports
  (:meth:`BaseTrainer._divergence_scale`, e.g. ``‖A‖_F`` of sparse coding with weight decay)
  falls below :data:`COLLAPSE_SHARE` = 1e-3 of its largest value since the fit (or resume)
  began.

Either raises :class:`~sparselearn.trainers.state.TrainingDiverged` naming the iteration, what
was measured, the likely cause and the parameter to change (the trainer's
:meth:`BaseTrainer._divergence_hint`); the model is put back to the state after the iteration
with the lowest objective, which the exception carries as ``last_state``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from statistics import median
from typing import Any

import numpy as np

__all__ = ["COLLAPSE_SHARE", "GROWTH_EXAMPLES", "GROWTH_MULTIPLE", "GROWTH_WINDOW",
           "DivergenceMixin", "DivergenceMonitor", "NonFiniteObjective", "growth_window",
           "guarded"]

#: Fewest outer iterations whose median is the smoothed objective of the growth test.
GROWTH_WINDOW = 5
#: Fewest examples the growth test's window covers.
GROWTH_EXAMPLES = 500
#: The growth test trips when the smoothed objective exceeds this multiple of its lowest value.
GROWTH_MULTIPLE = 3.0
#: The collapse test trips when the parameters' scale falls below this share of its largest.
COLLAPSE_SHARE = 1e-3


class NonFiniteObjective(ArithmeticError):
    """Raised inside an outer iteration when an iterate or the objective stops being finite."""


def guarded(fun: Callable[[np.ndarray], tuple[float, np.ndarray]]) -> Callable:
    """Wrap ``x -> (value, grad)`` so that non-finite input or output raises NonFiniteObjective.

    The objectives room raises ``ValueError`` for non-finite inputs; inside a solver that means
    the iterate blew up, which for a trainer is divergence, not a user error.
    """

    def wrapped(z: np.ndarray) -> tuple[float, np.ndarray]:
        try:
            value, grad = fun(z)
        except ValueError:
            if not np.isfinite(z).all():
                raise NonFiniteObjective("iterate is not finite") from None
            raise
        if not math.isfinite(value):
            raise NonFiniteObjective(f"objective is {value!r}")
        return value, grad

    return wrapped


def growth_window(batch: int | None) -> int:
    """Iterations in the growth test's window for batches of ``batch`` examples (None: whole
    data sets, :data:`GROWTH_WINDOW`)."""
    if not batch or batch <= 0:
        return GROWTH_WINDOW
    return max(GROWTH_WINDOW, math.ceil(GROWTH_EXAMPLES / int(batch)))


class DivergenceMonitor:
    """The growth and collapse tests of a fit (see the module docstring).

    Parameters
    ----------
    history : sequence of dict
        The records so far (a resumed fit's history); their objectives seed the growth test.
    scale : float or None
        The parameters' scale at the start (None: no collapse test).
    window, multiple, share : optional
        :data:`GROWTH_WINDOW`, :data:`GROWTH_MULTIPLE`, :data:`COLLAPSE_SHARE`.

    Attributes
    ----------
    best_iteration : int
        The iteration (1-based) with the lowest objective so far, 0 before any.
    """

    def __init__(self, history: Sequence[dict[str, Any]], scale: float | None,
                 window: int = GROWTH_WINDOW, multiple: float = GROWTH_MULTIPLE,
                 share: float = COLLAPSE_SHARE) -> None:
        self.window, self.multiple, self.share = int(window), float(multiple), float(share)
        self.scale_ref = None if scale is None or not math.isfinite(scale) else float(scale)
        self.recent: list[float] = []
        self.best_smoothed = math.inf
        self.best_window = (0, 0)
        self.best_objective = math.inf
        self.best_iteration = 0
        for record in history:
            self.observe(int(record.get("iteration", 0)), float(record["objective"]), True)

    def observe(self, iteration: int, objective: float, growth: bool) -> str | None:
        """Add the objective of ``iteration``; returns what tripped the growth test, or None.

        With ``growth=False`` the value is recorded (best objective) but not tested.
        """
        if objective < self.best_objective:
            self.best_objective, self.best_iteration = objective, iteration
        self.recent = [*self.recent[-(self.window - 1):], objective]
        if len(self.recent) < self.window:
            return None
        smoothed = float(median(self.recent))
        best = self.best_smoothed
        if growth and best > 0.0 and smoothed > self.multiple * best:
            first, last = self.best_window
            return (f"the objective (median of the last {self.window} outer iterations) rose "
                    f"to {smoothed:.6g}, more than {self.multiple:g}x its lowest {best:.6g} "
                    f"(iterations {first}-{last})")
        if smoothed < best:
            self.best_smoothed = smoothed
            self.best_window = (iteration - self.window + 1, iteration)
        return None

    def collapse(self, scale: float | None, what: str) -> str | None:
        """Update the largest scale with ``scale``; returns what tripped, or None."""
        if scale is None or self.scale_ref is None or not math.isfinite(scale):
            return None
        if scale < self.share * self.scale_ref:
            return (f"{what} fell to {scale:.3g}, below {self.share:g} of its largest "
                    f"{self.scale_ref:.3g} in this fit (the atoms are collapsing towards zero)")
        self.scale_ref = max(self.scale_ref, scale)
        return None


class DivergenceMixin:
    """The divergence tests of :class:`~trainers.base.BaseTrainer` and their hooks.

    ``BaseTrainer._begin`` creates ``_monitor``; ``_advance`` calls
    :meth:`_remember_good_state` with the state before each step and
    :meth:`_check_divergence` with the step's objective. Subclasses override
    :meth:`_divergence_scale`, :meth:`_scale_name` and :meth:`_divergence_hint`.
    """

    def _divergence_scale(self, params: dict[str, np.ndarray]) -> float | None:
        """Scale of ``params`` for the collapse test (None: no test)."""
        return None

    def _scale_name(self) -> str:
        """What :meth:`_divergence_scale` measures, for the message."""
        return "the parameters' scale"

    def _divergence_hint(self, kind: str) -> str:
        """Likely cause and the parameter to change, for a ``"growth"`` or ``"collapse"``."""
        return ("likely cause: the solver's steps are too long for the scale of the data; "
                "check the data's scale (whitened data have unit variance)")

    def _reset_divergence(self, history: list[dict[str, Any]],
                          params: dict[str, np.ndarray]) -> None:
        """A fresh monitor for a fit starting from ``params`` after ``history``."""
        batch = self.__dict__.get("_b") or self.__dict__.get("_m")
        self._monitor = DivergenceMonitor(history, self._divergence_scale(params),
                                          window=growth_window(batch))
        self._good_state = None

    def _divergence_monitor(self) -> DivergenceMonitor:
        if self.__dict__.get("_monitor") is None:  # e.g. a model loaded, then partial_fit
            self._reset_divergence(self.history_, self._params)
        return self._monitor

    def _remember_good_state(self, last_state: dict[str, Any]) -> None:
        """Keep ``last_state`` (the state before a step) when it follows the lowest objective
        so far, or when no state is kept yet."""
        monitor = self._divergence_monitor()
        if self.__dict__.get("_good_state") is None or monitor.best_iteration == self.n_iter_:
            self._good_state = last_state

    def _check_divergence(self, objective: float, params: dict[str, np.ndarray], growth: bool,
                          state: Any) -> None:
        """Growth (with ``growth``) and collapse tests of the step to iteration
        ``n_iter_ + 1``, whose objective is ``objective`` and new parameters ``params``.

        Raises
        ------
        TrainingDiverged
            After restoring the kept good state, which it carries as ``last_state``.
        """
        from .state import TrainingDiverged

        monitor = self._divergence_monitor()
        iteration = self.n_iter_ + 1
        cause, kind = monitor.observe(iteration, objective, growth), "growth"
        if cause is None:
            scale = self._divergence_scale(params)
            cause, kind = monitor.collapse(scale, self._scale_name()), "collapse"
        if cause is None:
            return
        good = self._good_state
        self._restore(good)
        message = f"{cause}; {self._divergence_hint(kind)}"
        state.stop, state.stop_reason = True, f"diverged: {message}"
        raise TrainingDiverged(iteration, good, objective, message)
