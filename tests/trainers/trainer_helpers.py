"""Shared helpers of the trainers tests."""

from __future__ import annotations

from sparselearn.trainers import Callback, StopTraining, TrainState


class Interrupt(Callback):
    """Saves ``state_dict()`` at iteration ``at`` and stops the fit there, as a kill would."""

    def __init__(self, at: int):
        self.at = at
        self.saved = None

    def on_iteration_end(self, state: TrainState) -> None:
        if state.iteration == self.at:
            self.saved = state.model.state_dict()
            raise StopTraining("interrupted")
