"""A stop flag that SIGINT/SIGTERM set, honoured by training at the next iteration boundary.

The script layer calls :func:`install_stop_handlers`; :func:`experiments.run_training` polls the
returned event (or :data:`STOP_REQUESTED` by default) after every outer iteration. A second
signal while stopping restores the default behaviour and aborts at once.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Callable
from types import FrameType

__all__ = ["LAST_SIGNAL", "STOP_REQUESTED", "install_stop_handlers", "restore_handlers"]

#: Set when a stop was requested (per process).
STOP_REQUESTED = threading.Event()
#: The signal that set :data:`STOP_REQUESTED` last (``{"signum": int}``), for exit statuses.
LAST_SIGNAL: dict[str, int] = {}
_previous: dict[int, Callable | int | None] = {}


def _handler(signum: int, frame: FrameType | None) -> None:
    name = signal.Signals(signum).name
    if STOP_REQUESTED.is_set():
        restore_handlers()
        if signum == signal.SIGINT:
            raise KeyboardInterrupt
        signal.raise_signal(signum)
        return
    STOP_REQUESTED.set()
    LAST_SIGNAL["signum"] = signum
    sys.stderr.write(f"\n{name}: stopping after the current iteration and writing a checkpoint "
                     f"(send it again to abort at once)\n")
    sys.stderr.flush()


def install_stop_handlers(signals: tuple[int, ...] = (signal.SIGINT, signal.SIGTERM)
                          ) -> threading.Event:
    """Route ``signals`` to :data:`STOP_REQUESTED`; return the event. Main thread only."""
    STOP_REQUESTED.clear()
    LAST_SIGNAL.clear()
    for signum in signals:
        _previous[signum] = signal.signal(signum, _handler)
    return STOP_REQUESTED


def restore_handlers() -> None:
    """Put back the handlers that :func:`install_stop_handlers` replaced."""
    for signum, previous in list(_previous.items()):
        signal.signal(signum, previous if previous is not None else signal.SIG_DFL)
        del _previous[signum]
