#!/usr/bin/env python
"""Check every objective's gradient: closed form vs finite differences, vs its layer table, and
the precomputed forms vs the direct ones, on random square, overcomplete and undercomplete
problems. Prints one row per term and variable; exits 1 if any error exceeds its tolerance.

Usage: python scripts/check_gradients.py [--dtype float64|float32] [--seed N] [--debug]
"""

from __future__ import annotations

import argparse
import sys
import time
import traceback
from pathlib import Path

try:
    from sparselearn import objectives  # noqa: F401
except ImportError:  # running from a checkout that is not installed
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sparselearn.objectives.check_suite import TOLERANCES, format_report, run_checks


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a non-negative integer; got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be a non-negative integer; got {text!r}")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dtype", choices=sorted(TOLERANCES), default="float64")
    parser.add_argument("--seed", type=_seed, default=0, help="random seed (default 0)")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    args = parser.parse_args(argv)  # exits 2 with a message on bad arguments
    try:
        start = time.perf_counter()
        rows = run_checks(args.dtype, args.seed)
        tolerances = TOLERANCES[args.dtype]
        print(format_report(rows, tolerances))
        failed = [row for row in rows if row.worst(tolerances) > 1.0]
        elapsed = time.perf_counter() - start
        print(
            f"{len(rows)} checks, {len(failed)} failed, dtype {args.dtype}, seed {args.seed}, "
            f"{elapsed:.2f} s"
        )
        return 1 if failed else 0
    except Exception as error:  # a clean message for users, the traceback on request
        if args.debug:
            traceback.print_exc()
        else:
            print(
                f"check_gradients: error: {error} (rerun with --debug for details)", file=sys.stderr
            )
        return 1


if __name__ == "__main__":
    sys.exit(main())
