#!/usr/bin/env python
"""Train one model from a YAML config and write a run directory.

Usage::

    python scripts/train.py CONFIG [KEY=VALUE ...] [--out DIR] [--quiet] [--print-config]
    python scripts/train.py --resume RUN_DIR

Overrides use dotted keys (``trainer.max_iter=50 model.lambda=0.1``), typed by the schema.
Ctrl-C or SIGTERM stops at the next iteration boundary and writes a checkpoint; ``--resume``
continues it. Exit status: 0 done, 1 training failed, 2 usage error, 130/143 interrupted.
"""

from __future__ import annotations

import argparse
import os
import sys

BLAS_THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line arguments."""
    parser = argparse.ArgumentParser(
        prog="train.py", description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Example: python scripts/train.py configs/ica.yaml trainer.max_iter=50")
    parser.add_argument("config", nargs="?", help="YAML config file")
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE",
                        help="dotted overrides, e.g. trainer.max_iter=50 model.lambda=0.1")
    parser.add_argument("--out", metavar="DIR",
                        help="run directory to create (default: output.root/output.name)")
    parser.add_argument("--resume", metavar="RUN_DIR",
                        help="continue an interrupted run from its checkpoint")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--print-config", action="store_true",
                        help="print the fully resolved config and exit")
    parser.add_argument("--threads", type=int, metavar="N",
                        help="BLAS threads (default 1 unless OMP_NUM_THREADS or "
                             "OPENBLAS_NUM_THREADS is set; 0 leaves the BLAS default). The "
                             "matrices here are small: one thread is as fast on an idle machine "
                             "and up to 10x faster on a busy one")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    return parser.parse_args(argv)


def limit_blas_threads(threads: int | None) -> None:
    """Fix the BLAS thread count; must run before numpy is first imported."""
    if threads is None:
        if any(name in os.environ for name in BLAS_THREAD_VARIABLES):
            return
        threads = 1
    if threads > 0:
        for name in BLAS_THREAD_VARIABLES:
            os.environ[name] = str(threads)


def main(args: argparse.Namespace) -> int:
    """Run the command; exceptions are turned into exit statuses by ``run_cli``."""
    from sparselearn.experiments import (
        ConfigError,
        format_config,
        format_summary,
        install_stop_handlers,
        load_config,
        run_training,
    )
    from sparselearn.experiments.rundir import CONFIG, check_run_dir
    from sparselearn.experiments.signals import LAST_SIGNAL

    if args.resume:
        if args.config or args.overrides or args.out:
            raise ConfigError("--resume takes the config and folder from RUN_DIR; do not pass "
                              "CONFIG, overrides or --out with it")
        run_dir = check_run_dir(args.resume)
        if args.print_config:
            print(format_config(load_config(run_dir / CONFIG)), end="")
            return 0
    elif not args.config:
        raise ConfigError("no config given; usage: train.py CONFIG [KEY=VALUE ...] "
                          "or train.py --resume RUN_DIR")
    else:
        config = load_config(args.config, args.overrides)
        if args.print_config:
            print(format_config(config), end="")
            return 0

    install_stop_handlers()
    if args.resume:
        result = run_training(None, args.resume, resume=True, progress=not args.quiet)
    else:
        result = run_training(config, args.out, progress=not args.quiet)
    print(format_summary(result))
    if result.status == "interrupted":
        return 128 + LAST_SIGNAL.get("signum", 2)
    return 0


if __name__ == "__main__":
    arguments = parse_args()
    limit_blas_threads(arguments.threads)
    from sparselearn.experiments.cli import run_cli

    sys.exit(run_cli(lambda: main(arguments), debug=arguments.debug, prog="train.py"))
