"""Accounting of the wall time spent inside objective evaluations.

Trainers wrap every objective call (``value_and_grad`` of a term, building a bound term from
``AᵀA``, ``Aᵀx`` or ``x xᵀ``) in :meth:`EvalClock.timed`; the history's ``eval_time`` and
``eval_share`` come from here. The share is the evidence that the time goes into BLAS and not
into optimiser bookkeeping.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

__all__ = ["EvalClock"]

T = TypeVar("T")


class EvalClock:
    """Cumulative seconds inside objective code, plus named sections (e.g. ``"s_step"``).

    Attributes
    ----------
    eval_time : float
        Seconds inside :meth:`timed` calls.
    sections : dict of str to [seconds, eval seconds]
        Wall and objective time of each named :meth:`section`.
    """

    def __init__(self, eval_time: float = 0.0) -> None:
        self.eval_time = float(eval_time)
        self.sections: dict[str, list[float]] = {}
        self._open: list[str] = []

    def timed(self, fun: Callable[..., T]) -> Callable[..., T]:
        """Return ``fun`` wrapped so that its run time is added to :attr:`eval_time`."""

        def wrapped(*args, **kwargs):
            start = time.perf_counter()
            try:
                return fun(*args, **kwargs)
            finally:
                elapsed = time.perf_counter() - start
                self.eval_time += elapsed
                for name in self._open:
                    self.sections[name][1] += elapsed

        return wrapped

    def call(self, fun: Callable[..., T], *args, **kwargs) -> T:
        """Call ``fun`` once, timed."""
        return self.timed(fun)(*args, **kwargs)

    @contextmanager
    def section(self, name: str) -> Iterator[None]:
        """Time a named section (its wall time and the objective time inside it)."""
        entry = self.sections.setdefault(name, [0.0, 0.0])
        self._open.append(name)
        start = time.perf_counter()
        try:
            yield
        finally:
            entry[0] += time.perf_counter() - start
            self._open.remove(name)
