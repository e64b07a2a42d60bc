"""Generic callbacks: a tqdm progress bar and early stopping on a history key.

The experiments room adds its own (metrics file, checkpoints, signal-triggered stop); these two
need no files and are useful in a notebook.
"""

from __future__ import annotations

import math
from typing import Any

from .state import Callback, TrainState

__all__ = ["EarlyStopping", "ProgressCallback"]


class ProgressCallback(Callback):
    """A tqdm bar over outer iterations showing the objective and the evaluation share.

    Parameters
    ----------
    keys : tuple of str
        Record keys shown in the bar's postfix.
    **tqdm_kwargs
        Passed to ``tqdm.tqdm`` (e.g. ``leave=False``, ``file=...``, ``disable=True``).
    """

    def __init__(self, keys: tuple[str, ...] = ("objective", "eval_share"), **tqdm_kwargs: Any):
        self.keys = tuple(keys)
        self.tqdm_kwargs = tqdm_kwargs
        self._bar = None

    def on_train_begin(self, state: TrainState) -> None:
        from tqdm.auto import tqdm

        self._bar = tqdm(total=state.max_iter, initial=state.iteration, **self.tqdm_kwargs)

    def on_iteration_end(self, state: TrainState) -> None:
        if self._bar is None or state.record is None:
            return
        self._bar.update(state.iteration - self._bar.n)
        self._bar.set_postfix({k: state.record[k] for k in self.keys if k in state.record},
                              refresh=False)

    def on_train_end(self, state: TrainState) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


class EarlyStopping(Callback):
    """Stop when ``record[monitor]`` has not improved by ``min_delta`` (relative) for ``patience``.

    Parameters
    ----------
    monitor : str
        History key to watch (lower is better).
    patience : int
        Outer iterations without improvement before stopping.
    min_delta : float
        Relative improvement that counts: ``new < best·(1 − min_delta)`` (for positive values).
    """

    def __init__(self, monitor: str = "objective", patience: int = 10, min_delta: float = 1e-4):
        if patience < 1:
            raise ValueError(f"EarlyStopping: parameter 'patience' must be >= 1; got {patience!r}.")
        self.monitor = monitor
        self.patience = int(patience)
        self.min_delta = float(min_delta)
        self.best = math.inf
        self.wait = 0

    def on_train_begin(self, state: TrainState) -> None:
        self.best = math.inf
        self.wait = 0
        for record in state.history:
            self._update(record[self.monitor])

    def _update(self, value: float) -> None:
        if value < self.best - self.min_delta * abs(self.best if math.isfinite(self.best) else 0):
            self.best = value
            self.wait = 0
        else:
            self.wait += 1

    def on_iteration_end(self, state: TrainState) -> None:
        if state.record is None:
            return
        self._update(state.record[self.monitor])
        if self.wait >= self.patience:
            state.stop = True
            state.stop_reason = (
                f"early stopping: {self.monitor} did not improve for {self.patience} iterations"
            )
