"""Where sweep runs execute: local worker processes, or a Dask cluster.

Both are used through the same small interface (:class:`SweepExecutor`): ``submit`` returns a
``concurrent.futures.Future``, ``slots()`` says how many runs to keep in flight, and
``recover(exc)`` tells the sweep whether an exception from a future means a lost worker (and
restarts a broken local pool).

Local processes are started with the ``spawn`` method and an initializer that pins BLAS to one
thread (``OMP_NUM_THREADS``, ``OPENBLAS_NUM_THREADS``, ``MKL_NUM_THREADS``) *before* numpy loads
in the worker, so N workers use N cores instead of fighting over them; workers ignore SIGINT so
that Ctrl-C reaches only the sweep process, which stops them cleanly at an iteration boundary.

Workers die with their sweep, however it ends (even ``kill -9``): a local worker watches its
parent (``prctl(PR_SET_PDEATHSIG)`` on Linux, and on every system a thread that polls
``os.getppid()`` every :data:`PARENT_POLL` seconds) and exits when the sweep process is gone;
the multiprocessing resource tracker then exits too. The worker processes of a Dask
``LocalCluster`` do the same by themselves (distributed exits a worker whose parent's pipe
closes).
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import os
from collections.abc import Callable
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from sparselearn.experiments.errors import UsageError

__all__ = ["SweepExecutor", "LocalExecutor", "DaskExecutor", "make_executor",
           "check_executor_options", "WORKER_ENV", "DASK_MISSING", "PARENT_POLL"]

#: Environment of local worker processes, set before anything is imported there.
WORKER_ENV = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
              "VECLIB_MAXIMUM_THREADS": "1", "NUMEXPR_NUM_THREADS": "1", "MPLBACKEND": "Agg"}

#: Message when Dask is asked for but not installed.
DASK_MISSING = ("--scheduler needs Dask distributed, which is an optional extra: "
                "pip install 'sparselearn[distributed]' (in a checkout: pip install -e "
                "'.[distributed]')")

#: Seconds between a local worker's checks that its sweep process is still alive.
PARENT_POLL = 0.5

# The initializer runs in a fresh spawned worker before the first task is unpickled. It must not
# import sparselearn (that loads numpy, whose BLAS reads its thread count once, at load time), so
# it is the builtin ``exec`` of this snippet rather than a function of this package.
# Parent death: PR_SET_PDEATHSIG fires when the *thread* that spawned the worker ends, which
# need not be the end of the sweep process, so it raises SIGUSR1, whose handler checks the
# parent; the polling thread covers systems without prctl and a signal missed while the main
# thread is busy in C code.
_INIT_SNIPPET = """\
import os, signal, sys, threading, time
os.environ.update({env!r})
signal.signal(signal.SIGINT, signal.SIG_IGN)
_parent = {parent}
def _orphaned():
    return os.getppid() != _parent
def _exit_if_orphaned(*_):
    if _orphaned():
        os._exit(70)
if sys.platform.startswith("linux"):
    try:
        import ctypes
        signal.signal(signal.SIGUSR1, _exit_if_orphaned)
        ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGUSR1), 0, 0, 0)
    except Exception:
        pass
def _watch():
    while True:
        _exit_if_orphaned()
        time.sleep({poll!r})
_exit_if_orphaned()
threading.Thread(target=_watch, name="sparselearn-parent-watch", daemon=True).start()
"""


class SweepExecutor:
    """Interface of the sweep executors."""

    #: One line for the sweep's log, e.g. "2 local worker processes".
    description: str = ""

    def slots(self) -> int:
        """How many runs to keep in flight."""
        raise NotImplementedError

    def submit(self, fn: Callable[..., Any], *args: Any) -> cf.Future:
        """Schedule ``fn(*args)``."""
        raise NotImplementedError

    def recover(self, exc: BaseException) -> bool:
        """True when ``exc`` (raised by a future) means the worker was lost.

        Restarts whatever the loss broke, so that later submissions work.
        """
        raise NotImplementedError

    def close(self, kill: bool = False) -> None:
        """Release the workers; ``kill``: do not wait for runs in flight."""
        raise NotImplementedError

    def __enter__(self) -> SweepExecutor:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close(kill=exc_info[0] is not None)


class LocalExecutor(SweepExecutor):
    """``concurrent.futures.ProcessPoolExecutor`` with N spawned, single-BLAS-thread workers.

    A worker that dies breaks the whole pool (every run in flight fails with
    ``BrokenProcessPool``); :meth:`recover` then starts a new pool.
    """

    def __init__(self, workers: int = 1) -> None:
        if workers < 1:
            raise UsageError(f"--workers: expected at least 1, found {workers}")
        self.workers = int(workers)
        self.description = f"{workers} local worker process{'es' if workers > 1 else ''}"
        self._pool = self._start()

    def _start(self) -> cf.ProcessPoolExecutor:
        return cf.ProcessPoolExecutor(
            max_workers=self.workers, mp_context=multiprocessing.get_context("spawn"),
            initializer=exec, initargs=(_INIT_SNIPPET.format(env=WORKER_ENV, parent=os.getpid(),
                                                             poll=PARENT_POLL), {}))

    def slots(self) -> int:
        return self.workers

    def submit(self, fn: Callable[..., Any], *args: Any) -> cf.Future:
        try:
            return self._pool.submit(fn, *args)
        except BrokenProcessPool:
            # A worker died since the last poll: the runs in flight will report the loss through
            # their futures (and be retried); this one never started, so it goes to a new pool.
            self._kill(self._pool)
            self._pool = self._start()
            return self._pool.submit(fn, *args)

    def recover(self, exc: BaseException) -> bool:
        if isinstance(exc, BrokenProcessPool):
            if getattr(self._pool, "_broken", True):
                self._kill(self._pool)
                self._pool = self._start()
            return True
        return not isinstance(exc, cf.CancelledError)

    @staticmethod
    def _kill(pool: cf.ProcessPoolExecutor) -> None:
        # ProcessPoolExecutor has no public way to stop a running task (Python < 3.14); its
        # worker processes are in ``_processes``.
        for process in list((getattr(pool, "_processes", None) or {}).values()):
            if process.is_alive():
                process.kill()
        pool.shutdown(wait=False, cancel_futures=True)

    def close(self, kill: bool = False) -> None:
        if kill:
            self._kill(self._pool)
        else:
            self._pool.shutdown(wait=True)


class DaskExecutor(SweepExecutor):
    """Runs on a Dask distributed cluster through ``Client.get_executor()``.

    Parameters
    ----------
    address : str
        ``tcp://HOST:PORT`` of a running scheduler, or ``"local"`` to start a ``LocalCluster``
        on this machine (worker processes, one thread each, loopback only, no dashboard).
    workers : int, optional
        Workers of the local cluster (default 1; ignored for an existing cluster).
    """

    def __init__(self, address: str, workers: int | None = None) -> None:
        try:
            import dask
            from dask.distributed import Client, LocalCluster
        except ImportError:
            raise UsageError(DASK_MISSING) from None
        self._cluster = None
        if address == "local":
            count = 1 if workers is None else int(workers)
            if count < 1:
                raise UsageError(f"--workers: expected at least 1, found {workers}")
            # A run whose worker dies is retried once by the sweep itself, not by Dask.
            with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
                self._cluster = LocalCluster(n_workers=count, threads_per_worker=1,
                                             processes=True, host="127.0.0.1",
                                             dashboard_address=None)
            self._client = Client(self._cluster)
            self.description = (f"Dask LocalCluster, {count} worker process"
                                f"{'es' if count > 1 else ''} ({self._cluster.scheduler_address})")
        else:
            try:
                self._client = Client(address, timeout="20s")
            except (OSError, TimeoutError) as exc:
                raise UsageError(f"--scheduler {address}: cannot connect to the Dask scheduler "
                                 f"({exc})") from None
            self.description = f"Dask cluster at {address}"
        self._executor = self._client.get_executor(pure=False)

    def slots(self) -> int:
        try:
            return max(1, sum(self._client.nthreads().values()))
        except Exception:  # noqa: BLE001 - scheduler briefly unreachable: keep one in flight
            return 1

    def submit(self, fn: Callable[..., Any], *args: Any) -> cf.Future:
        return self._executor.submit(fn, *args)

    def recover(self, exc: BaseException) -> bool:
        return not isinstance(exc, cf.CancelledError)

    def close(self, kill: bool = False) -> None:
        try:
            self._executor.shutdown(wait=not kill)
        finally:
            self._client.close()
            if self._cluster is not None:
                self._cluster.close()


def check_executor_options(scheduler: str | None = None, workers: int | None = None) -> None:
    """Check ``--scheduler`` and ``--workers`` before anything is created or started.

    Raises
    ------
    UsageError
        ``workers`` is not an integer >= 1, ``scheduler`` is neither ``"local"`` nor an
        address, or Dask is asked for and not installed.
    """
    if workers is not None and (not isinstance(workers, int) or isinstance(workers, bool)
                                or workers < 1):
        raise UsageError(f"--workers: expected an integer >= 1 (worker processes), found "
                         f"{workers!r}")
    if scheduler is None:
        return
    if not isinstance(scheduler, str) or (
            scheduler != "local" and not scheduler.startswith(_ADDRESS_SCHEMES)):
        raise UsageError(f"--scheduler: expected 'local' or an address such as "
                         f"tcp://HOST:PORT, found {scheduler!r}")
    try:
        import dask.distributed  # noqa: F401
    except ImportError:
        raise UsageError(DASK_MISSING) from None


_ADDRESS_SCHEMES = ("tcp://", "tls://", "inproc://", "ucx://", "ws://", "wss://")


def make_executor(scheduler: str | None = None, workers: int | None = None) -> SweepExecutor:
    """The executor for ``--scheduler`` (None: local processes) and ``--workers`` (default 1);
    both are checked first (:func:`check_executor_options`)."""
    check_executor_options(scheduler, workers)
    if scheduler is None:
        return LocalExecutor(1 if workers is None else workers)
    return DaskExecutor(scheduler, workers)
