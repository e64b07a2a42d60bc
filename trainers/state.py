"""Training state, callbacks protocol and the two control-flow exceptions of the trainers room.

These are the objects the ``experiments`` room codes against (``docs/contracts.md``, *trainers*):
a :class:`TrainState` handed to every :class:`Callback`, :class:`StopTraining` to end a fit cleanly
from anywhere inside it, and :class:`TrainingDiverged` raised when the objective becomes
non-finite.
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
    """The objective became non-finite.

    Parameters
    ----------
    iteration : int
        The 1-based outer iteration whose objective was not finite.
    last_state : dict
        ``state_dict()`` of the last finite iterate (the parameters before that iteration);
        ``fit(X, resume=err.last_state)`` continues from there.
    value : float
        The offending objective value.
    """

    def __init__(self, iteration: int, last_state: dict[str, Any], value: float = float("nan")):
        self.iteration = int(iteration)
        self.last_state = last_state
        self.value = float(value)
        super().__init__(
            f"training diverged at outer iteration {self.iteration}: objective is {self.value!r}; "
            f"the last finite state (after iteration {last_state.get('iteration', 0)}) is kept "
            "in .last_state"
        )
