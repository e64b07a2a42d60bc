#!/usr/bin/env python
"""Run a sweep: a grid of configs, on local worker processes or a Dask cluster.

Usage::

    python scripts/sweep.py SWEEP [KEY=VALUE ...] [--workers N] [--scheduler ADDRESS]
                            [--out DIR] [--dry-run] [--quiet]
    python scripts/sweep.py --resume DIR [--workers N] [--scheduler ADDRESS]
    python scripts/sweep.py --report DIR

Overrides (dotted keys, as for train.py) apply to every run and may not touch a varied key.
``--scheduler local`` starts a Dask LocalCluster; ``--scheduler tcp://HOST:PORT`` uses a running
Dask scheduler (needs ``pip install -e '.[distributed]'``). Ctrl-C stops the runs in flight at
their next iteration boundary with a checkpoint; ``--resume DIR`` continues. Exit status: 0 every
run finished, 1 some run failed, 2 usage error, 130/143 interrupted.
"""

from __future__ import annotations

import argparse
import sys


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line arguments."""
    parser = argparse.ArgumentParser(
        prog="sweep.py", description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Example: python scripts/sweep.py configs/sweep_ica_lambda.yaml --workers 2")
    parser.add_argument("sweep", nargs="?", help="sweep YAML file")
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE",
                        help="dotted overrides for every run, e.g. trainer.max_iter=5")
    parser.add_argument("--workers", type=int, metavar="N",
                        help="worker processes (default 1; with --scheduler local: the "
                             "LocalCluster's workers)")
    parser.add_argument("--scheduler", metavar="ADDRESS",
                        help="'local' (a Dask LocalCluster) or tcp://HOST:PORT of a Dask "
                             "scheduler; default: local processes without Dask")
    parser.add_argument("--out", metavar="DIR",
                        help="sweep directory to create (default: output.root/NAME-TIMESTAMP)")
    parser.add_argument("--resume", metavar="DIR",
                        help="continue a sweep: skip finished runs, rerun the others")
    parser.add_argument("--report", metavar="DIR",
                        help="redraw summary.csv and the pictures of a sweep, and exit")
    parser.add_argument("--dry-run", action="store_true",
                        help="validate the sweep, list its runs and exit")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    return parser.parse_args(argv)


def main(args: argparse.Namespace) -> int:
    """Run the command; exceptions are turned into exit statuses by ``run_cli``."""
    from sparselearn.experiments import ConfigError, install_stop_handlers
    from sparselearn.experiments.signals import LAST_SIGNAL
    from sparselearn.experiments.sweeps import load_sweep, redraw_report, resume_sweep, run_sweep
    from sparselearn.experiments.sweeps.cli import format_plan, format_result

    if args.report or args.resume:
        flag = "--report" if args.report else "--resume"
        if args.sweep or args.overrides or args.out or args.dry_run \
                or (args.report and args.resume):
            raise ConfigError(f"{flag} takes everything from the sweep directory; do not pass "
                              f"SWEEP, overrides, --out or --dry-run with it")
    elif not args.sweep:
        raise ConfigError("no sweep file given; usage: sweep.py SWEEP [KEY=VALUE ...] or "
                          "sweep.py --resume DIR or sweep.py --report DIR")
    if args.report:
        for name, path in redraw_report(args.report).items():
            print(f"{name}: {path}")
        return 0
    options = {"workers": args.workers, "scheduler": args.scheduler,
               "progress": not args.quiet}
    if args.resume:
        install_stop_handlers()
        result = resume_sweep(args.resume, **options)
    else:
        plan = load_sweep(args.sweep, args.overrides)
        if args.dry_run:
            print(format_plan(plan, args.out))
            return 0
        install_stop_handlers()
        result = run_sweep(plan, args.out, **options)
    print(format_result(result))
    if result.interrupted:
        return 128 + LAST_SIGNAL.get("signum", 2)
    return 1 if result.failed else 0


if __name__ == "__main__":
    arguments = parse_args()
    from sparselearn.experiments.cli import run_cli

    sys.exit(run_cli(lambda: main(arguments), debug=arguments.debug, prog="sweep.py"))
