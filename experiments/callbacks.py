"""Training callbacks used by :func:`experiments.run_training`.

Each one has one job: a progress bar, the metrics file, periodic checkpoints, or turning a stop
request (a signal) into ``state.stop``. Trainers call them at outer-iteration boundaries.
"""

from __future__ import annotations

import contextlib
import csv
import errno
import io
import math
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from sparselearn.plotting.atomic import atomic_write_text
from sparselearn.trainers import Callback, TrainState

__all__ = ["ProgressCallback", "MetricsCallback", "CheckpointCallback", "StopCallback",
           "append_complete", "format_metrics"]


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else ("nan" if math.isnan(value)
                                                         else repr(value))
    return "" if value is None else str(value)


def format_metrics(records: Sequence[Mapping[str, Any]],
                   columns: Sequence[str] | None = None, header: bool = True) -> str:
    """CSV text of history records (floats written with full precision)."""
    if columns is None:
        columns = list(records[0]) if records else []
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    if header:
        writer.writerow(columns)
    for record in records:
        writer.writerow([_cell(record.get(c)) for c in columns])
    return buffer.getvalue()


class ProgressCallback(Callback):
    """A tqdm bar over outer iterations showing the objective (tqdm adds the rate)."""

    def __init__(self, enabled: bool = True, description: str = "training") -> None:
        self.enabled = enabled
        self.description = description
        self._bar = None

    def on_train_begin(self, state: TrainState) -> None:
        if not self.enabled:
            return
        from tqdm.auto import tqdm

        self._bar = tqdm(total=state.max_iter, initial=state.iteration, unit="it",
                         desc=self.description, dynamic_ncols=True, leave=True)

    def on_iteration_end(self, state: TrainState) -> None:
        if self._bar is None:
            return
        self._bar.update(state.iteration - self._bar.n)
        if state.record and "objective" in state.record:
            self._bar.set_postfix(objective=f"{state.record['objective']:.6g}", refresh=False)

    def on_train_end(self, state: TrainState) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


class MetricsCallback(Callback):
    """``metrics.csv``: one row per outer iteration, appended as it happens.

    At the start (including a resume) and at the end the file is rewritten atomically from the
    trainer's history, so it always matches the checkpointed history after a resume. In
    between, each row is appended with one ``write`` (cheap: no rewrite, no fsync); a write
    that fails part-way (a full disk) is cut back to the last complete row before the error
    is raised, so the file never ends in half a row that this process wrote. (A process killed
    inside that one ``write`` can still leave one; readers drop it, see
    :func:`experiments.runfiles.read_metrics_file`.)
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self.columns: list[str] | None = None

    def _rewrite(self, history: Sequence[Mapping[str, Any]]) -> None:
        if history:
            self.columns = list(history[0])
        atomic_write_text(self.path, format_metrics(history, self.columns)
                          if self.columns else "")

    def on_train_begin(self, state: TrainState) -> None:
        self.columns = None
        self._rewrite(state.history)

    def on_iteration_end(self, state: TrainState) -> None:
        if state.record is None:
            return
        if self.columns is None:
            self._rewrite(state.history)
            return
        append_complete(self.path,
                        format_metrics([state.record], self.columns, header=False).encode())

    def on_train_end(self, state: TrainState) -> None:
        self._rewrite(state.history)


def append_complete(path: str | os.PathLike, data: bytes) -> None:
    """Append ``data`` to ``path`` whole, or not at all.

    Raises
    ------
    OSError
        With ``filename`` set, after cutting the file back to its former length.
    """
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
    try:
        size = os.fstat(fd).st_size
        try:
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                if written <= 0:
                    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
                view = view[written:]
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, size)
            raise type(exc)(exc.errno, exc.strerror or str(exc), os.fspath(path)) from exc
    finally:
        os.close(fd)


class CheckpointCallback(Callback):
    """Call ``save(state)`` every ``every`` outer iterations, at the iteration boundary.

    The final state is the caller's to save once ``fit`` returns: ``on_train_end`` also runs
    when a fit fails, possibly part-way through an iteration (its random stream already
    advanced), where ``state_dict()`` is no valid checkpoint to resume bit for bit from.
    """

    def __init__(self, save: Callable[[TrainState], None], every: int) -> None:
        self.save = save
        self.every = int(every)
        self.last_saved: int | None = None

    def on_iteration_end(self, state: TrainState) -> None:
        if state.iteration % self.every == 0:
            self.save(state)
            self.last_saved = state.iteration


class StopCallback(Callback):
    """Stop at the next boundary once ``event`` is set (by a SIGINT/SIGTERM handler)."""

    def __init__(self, event: threading.Event) -> None:
        self.event = event
        self.stopped = False

    def on_iteration_end(self, state: TrainState) -> None:
        if self.event.is_set() and state.iteration < state.max_iter:
            state.stop = True
            state.stop_reason = "interrupted"
            self.stopped = True
