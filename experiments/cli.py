"""What the command-line scripts share: error reporting and exit statuses.

Exit statuses: 0 done; 1 training failed (e.g. divergence) or an unexpected error; 2 a usage
error (bad config, override, missing file, not a run directory); 128 + signal number when a
run was interrupted by SIGINT/SIGTERM after writing its checkpoint.
"""

from __future__ import annotations

import sys
import traceback
import warnings
from collections.abc import Callable

from sparselearn.experiments.errors import TrainingFailed, UsageError

__all__ = ["EXIT_OK", "EXIT_FAILED", "EXIT_USAGE", "run_cli"]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


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
    except Exception as exc:  # noqa: BLE001 - last line of defence of a CLI
        status, error = EXIT_FAILED, exc
        text = (f"{prog}: unexpected error: {type(exc).__name__}: {exc}"
                + ("" if debug else " (rerun with --debug for the traceback)"))
    finally:
        warnings.showwarning = shown
    if debug:
        traceback.print_exception(error)
    print(text, file=sys.stderr)
    return status


def _one_line_warning(prog: str) -> Callable[..., None]:
    def show(message, category, filename, lineno, file=None, line=None) -> None:
        print(f"{prog}: warning: {message}", file=sys.stderr if file is None else file)

    return show
