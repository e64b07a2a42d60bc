#!/usr/bin/env python
"""Redraw the filter sheet and training curves of a run directory (finished or interrupted).

Usage::

    python scripts/visualize.py RUN_DIR [--out FILE] [--sort {variance,norm,orientation,...}]

Exit status: 0 done, 2 usage error (not a run directory, unknown sort key, ...).
"""

from __future__ import annotations

import argparse
import sys


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line arguments."""
    from sparselearn.plotting import SORT_KEYS

    parser = argparse.ArgumentParser(prog="visualize.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir", metavar="RUN_DIR", help="a folder written by train.py")
    parser.add_argument("--out", metavar="FILE",
                        help="filter sheet destination (default RUN_DIR/filters.png); the "
                             "curves go next to it as <stem>_curves.png")
    parser.add_argument("--sort", choices=SORT_KEYS,
                        help="sort tiles by a statistic (default: model order, torus order "
                             "for topographic models)")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    return parser.parse_args(argv)


def main(args: argparse.Namespace) -> int:
    """Redraw and say where the pictures are."""
    from sparselearn.experiments import redraw_run

    for name, path in redraw_run(args.run_dir, out=args.out, sort=args.sort).items():
        print(f"{name}: {path}")
    return 0


if __name__ == "__main__":
    arguments = parse_args()
    from sparselearn.experiments.cli import run_cli

    sys.exit(run_cli(lambda: main(arguments), debug=arguments.debug, prog="visualize.py"))
