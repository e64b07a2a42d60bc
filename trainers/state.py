"""Training state, callbacks protocol and the two control-flow exceptions of the trainers room.

These are the objects the ``experiments`` room codes against (``docs/contracts.md``, *trainers*):
a :class:`TrainState` handed to every :class:`Callback`, :class:`StopTraining` to end a fit cleanly
from anywhere inside it, and :class:`TrainingDiverged` raised when training diverges.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["Callback", "StopTraining", "TrainState", "TrainingDiverged"]


@dataclass
class TrainState:
    """What a callback sees after each outer iteration.

    Attributes
    ----------
    iteration : int
        Outer iterations completed so far (1-based count; 0 before the first).
    max_iter : int
        The estimator's ``max_iter``.
    params : dict of str to ndarray
        Current parameters, e.g. ``{"W": W}`` (ICA) or ``{"A": A}`` (sparse coding), in the
        seed's orientation (``W`` is ``k × n``, ``A`` is ``n × k``). Treat as read-only.
    record : dict or None
        The history record just appended (``None`` in ``on_train_begin``).
    history : list of dict
        All records so far.
    model : object
        The estimator; ``state.model.state_dict()`` gives a checkpoint at this boundary.
    stop : bool
        Set to ``True`` in ``on_iteration_end`` to end training after this iteration.
    stop_reason : str or None
        Why training stopped (set by the callback that stops it, or by the trainer:
        ``"max_iter"``, ``"converged"``).
    """

    iteration: int
    max_iter: int
    params: dict[str, np.ndarray]
    record: dict[str, Any] | None
    history: list[dict[str, Any]]
    model: object
    stop: bool = False
    stop_reason: str | None = None


class Callback:
    """Base class for training callbacks; every hook is a no-op.

    Hooks are called in the order the callbacks were given. ``on_iteration_end`` runs after the
    record of an outer iteration has been appended, i.e. at a boundary where
    ``state.model.state_dict()`` is a valid checkpoint.
    """

    def on_train_begin(self, state: TrainState) -> None:  # noqa: B027 - optional hook
        """Called once before the first outer iteration (also on resume)."""

    def on_iteration_end(self, state: TrainState) -> None:  # noqa: B027 - optional hook
        """Called after every outer iteration; set ``state.stop = True`` to stop."""

    def on_train_end(self, state: TrainState) -> None:  # noqa: B027 - optional hook
        """Called once after the last outer iteration, also after a stop or a divergence."""


class StopTraining(Exception):  # noqa: N818 - name fixed by docs/contracts.md
    """Raise from a callback (or a signal handler) to end a fit cleanly.

    The fit returns normally with the parameters of the last completed outer iteration and
    ``stop_reason`` set to the exception's message (or ``"stopped"``).
    """


class TrainingDiverged(RuntimeError):
    """Training diverged: the objective became non-finite, grew far past its best, or the
    parameters collapsed (:mod:`trainers.divergence`).

    Parameters
    ----------
    iteration : int
        The 1-based outer iteration at which divergence was detected.
    last_state : dict
        ``state_dict()`` of the last good state: the parameters before that iteration for a
        non-finite objective, the state after the iteration with the lowest objective for the
        growth and collapse tests; ``fit(X, resume=err.last_state)`` continues from there.
    value : float
        The offending objective value.
    cause : str, optional
        What was measured, the likely cause and the parameter to change (growth and collapse
        tests); None for a non-finite objective.
    """

    def __init__(self, iteration: int, last_state: dict[str, Any], value: float = float("nan"),
                 cause: str | None = None):
        self.iteration = int(iteration)
        self.last_state = last_state
        self.value = float(value)
        self.cause = cause
        kept = last_state.get("iteration", 0)
        if cause is None:
            text = (f"training diverged at outer iteration {self.iteration}: objective is "
                    f"{self.value!r}; the last finite state (after iteration {kept}) is kept "
                    "in .last_state")
        else:
            text = (f"training diverged at outer iteration {self.iteration}: {cause}; the last "
                    f"good state (after iteration {kept}) is kept in .last_state")
        super().__init__(text)
