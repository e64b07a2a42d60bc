"""What the command-line scripts share: error reporting and exit statuses.

Exit statuses: 0 done; 1 training failed (e.g. divergence) or an unexpected error; 2 a usage
error (bad config, override, missing file, not a run directory, a damaged run file) or an
environment error (permission denied, disk full, missing device, out of memory: the message
names the file); 128 + signal number when a run was interrupted by SIGINT/SIGTERM after
writing its checkpoint.
"""

from __future__ import annotations

import errno
import sys
import traceback
import warnings
from collections.abc import Callable

from sparselearn.experiments.errors import TrainingFailed, UsageError

__all__ = ["ENVIRONMENT_ERRNOS", "EXIT_OK", "EXIT_FAILED", "EXIT_USAGE", "run_cli"]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2

#: ``OSError`` numbers reported as environment errors (exit 2, the file named) rather than as
#: unexpected ones.
ENVIRONMENT_ERRNOS = frozenset(
    getattr(errno, name) for name in ("EACCES", "EPERM", "EROFS", "ENOSPC", "EDQUOT", "EIO",
                                      "ENODEV", "ENXIO", "ENOENT", "ENOTDIR", "EISDIR",
                                      "EMFILE", "ENFILE", "ENAMETOOLONG", "ESTALE")
    if hasattr(errno, name))


def run_cli(main: Callable[[], int], debug: bool = False, prog: str = "sparselearn") -> int:
    """Call ``main()`` and turn exceptions into one line on stderr and an exit status.

    With ``debug`` the traceback is printed too. Warnings (e.g. a fit that ended on
    ``max_iter`` before ``tol``, a deprecated config key) are printed as one line each,
    ``<prog>: warning: <message>``, without the source line (``--debug`` keeps Python's
    format).
    """
    shown = warnings.showwarning
    if not debug:
        warnings.showwarning = _one_line_warning(prog)
    try:
        return main()
    except UsageError as exc:
        status, text, error = EXIT_USAGE, f"{prog}: error: {exc}", exc
    except TrainingFailed as exc:
        status, text, error = EXIT_FAILED, f"{prog}: training failed: {exc}", exc
    except KeyboardInterrupt as exc:
        status, text = 130, f"{prog}: aborted (the last periodic checkpoint is kept)"
        error = exc
    except MemoryError as exc:
        status, error = EXIT_USAGE, exc
        text = (f"{prog}: error: out of memory ({exc or 'MemoryError'}); lower data.count, "
                f"model.n_components or trainer.batch_size")
    except Exception as exc:  # noqa: BLE001 - last line of defence of a CLI
        error = exc
        if isinstance(exc, OSError) and exc.errno in ENVIRONMENT_ERRNOS:
            status, text = EXIT_USAGE, f"{prog}: error: {_os_error(exc)}"
        else:
            status = EXIT_FAILED
            text = (f"{prog}: unexpected error: {type(exc).__name__}: {exc}"
                    + ("" if debug else " (rerun with --debug for the traceback)"))
    finally:
        warnings.showwarning = shown
    if debug:
        traceback.print_exception(error)
    print(text, file=sys.stderr)
    return status


def _os_error(exc: OSError) -> str:
    """``FILE: reason`` (both files of a rename) from an ``OSError``."""
    reason = exc.strerror or str(exc)
    files = [str(name) for name in (exc.filename, exc.filename2) if name is not None]
    return f"{' -> '.join(files)}: {reason}" if files else reason


def _one_line_warning(prog: str) -> Callable[..., None]:
    def show(message, category, filename, lineno, file=None, line=None) -> None:
        print(f"{prog}: warning: {message}", file=sys.stderr if file is None else file)

    return show
