"""BLAS thread limits for fits and transforms (threadpoolctl).

The matrices of patch models are small (n = 64 to 256 pixels): one BLAS thread is as fast as
several on an idle machine and several times faster on a busy one, so the estimators default
to ``blas_threads=1``.

The limit is process-wide (BLAS libraries have one thread count per process): estimators fitted
concurrently in threads of one process share it, and the first to finish restores the count it
found. Run concurrent fits in processes (as the sweeps do), or set ``blas_threads=None`` and
limit the threads once around them.
"""

from __future__ import annotations

import threading
from contextlib import AbstractContextManager

from threadpoolctl import ThreadpoolController

__all__ = ["blas_limit"]

_CONTROLLER: ThreadpoolController | None = None
_LOCK = threading.Lock()


def _controller() -> ThreadpoolController:
    """One controller per process (inspecting the loaded libraries costs milliseconds)."""
    global _CONTROLLER
    with _LOCK:
        if _CONTROLLER is None:
            _CONTROLLER = ThreadpoolController()
        return _CONTROLLER


def blas_limit(threads: int) -> AbstractContextManager:
    """A context in which BLAS uses at most ``threads`` threads (restored on exit).

    Parameters
    ----------
    threads : int
        Maximum number of BLAS threads, at least 1.
    """
    return _controller().limit(limits=int(threads), user_api="blas")
