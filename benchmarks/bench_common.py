"""Shared pieces of the benchmark modules: timing, contender discovery, markdown output.

Not a comparison of its own: :mod:`run` (``benchmarks/run.py``) drives the ``bench_*`` modules,
each of which returns a :class:`Section`. Nothing here sets thread counts; ``run.py`` does that
once, before any numeric library is imported.
"""

from __future__ import annotations

import gc
import importlib
import importlib.metadata
import statistics
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

#: Every contender name ``--contenders`` accepts.
CONTENDERS: tuple[str, ...] = ("ours", "torch", "jax", "sklearn", "picard", "spams")

#: The import name of each optional contender.
_MODULES = {
    "torch": "torch",
    "jax": "jax",
    "sklearn": "sklearn",
    "picard": "picard",
    "spams": "spams",
}

#: Distribution names where they differ from the import name (for the version).
_DISTRIBUTIONS = {"spams": "spams-bin", "picard": "python-picard", "sklearn": "scikit-learn"}


@dataclass
class Target:
    """One target of issue 7 and whether this run met it.

    ``met`` is ``None`` when the target could not be judged (a contender is missing).
    """

    name: str
    met: bool | None
    measured: str
    detail: str = ""


@dataclass
class Section:
    """What one ``bench_*`` module reports: markdown body, targets, skipped contenders."""

    name: str
    title: str
    body: str
    targets: list[Target] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    seconds: float = 0.0
    #: Why a target was missed and what would close it (markdown), for the closing note.
    notes: str = ""


@dataclass
class Settings:
    """Run-wide settings handed to every ``bench_*.run``."""

    quick: bool = False
    threads: int = 1
    contenders: tuple[str, ...] = CONTENDERS
    seed: int = 0
    work_dir: str | None = None
    #: Folder for the sections' pictures (PNG); None: no pictures.
    images_dir: str | None = None
    #: How the markdown links to ``images_dir`` (relative to RESULTS.md).
    images_link: str = "images"
    #: ICA problem grid: ``"small"`` or ``"full"`` (``--ica-sizes``).
    ica_sizes: str = "full"

    def wants(self, name: str) -> bool:
        """Whether contender ``name`` was selected on the command line."""
        return name in self.contenders


def available(name: str) -> tuple[bool, str]:
    """Whether an optional contender imports; returns ``(ok, version or reason)``."""
    if name == "ours":
        return True, "this checkout"
    try:
        module = importlib.import_module(_MODULES[name])
    except Exception as error:  # noqa: BLE001 - any import failure means "skipped"
        return False, f"not importable ({type(error).__name__}: {error})"
    version = getattr(module, "__version__", None)
    if version is None:
        try:
            version = importlib.metadata.version(_DISTRIBUTIONS.get(name, name))
        except importlib.metadata.PackageNotFoundError:
            version = "unknown"
    return True, str(version)


def contenders_for(
    settings: Settings, names: Sequence[str]
) -> tuple[list[str], list[str]]:
    """Split ``names`` into the ones to run and notes on the ones skipped (never faked)."""
    run, skipped = [], []
    for name in names:
        if not settings.wants(name):
            continue
        ok, info = available(name)
        if ok:
            run.append(name)
        else:
            skipped.append(f"{name}: {info}")
    return run, skipped


def time_call(fn: Callable[[], Any], repeat: int, warmup: int = 1) -> tuple[float, list[float]]:
    """Median wall time of ``fn()`` over ``repeat`` calls after ``warmup`` untimed calls.

    The garbage collector is paused while timing (as ``timeit`` does).
    """
    for _ in range(warmup):
        fn()
    times = []
    enabled = gc.isenabled()
    gc.disable()
    try:
        for _ in range(max(1, repeat)):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
    finally:
        if enabled:
            gc.enable()
    return statistics.median(times), times


def time_interleaved(
    fns: dict[str, Callable[[], Any]], repeat: int, warmup: int = 1,
    cpu_share: dict[str, float] | None = None,
) -> dict[str, float]:
    """Median wall time of each ``fn``, timed round-robin (one call of each per round).

    Interleaving makes a burst of load from other processes hit every contender alike, so
    ratios stay meaningful on a shared machine. The garbage collector is paused while timing.
    If ``cpu_share`` is given it receives, per label, process CPU time / wall time over the
    timed calls (about the number of cores a contender kept busy).
    """
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    times: dict[str, list[float]] = {label: [] for label in fns}
    cpu: dict[str, float] = {label: 0.0 for label in fns}
    enabled = gc.isenabled()
    gc.disable()
    try:
        for _ in range(max(1, repeat)):
            for label, fn in fns.items():
                cpu_start = time.process_time()
                start = time.perf_counter()
                fn()
                times[label].append(time.perf_counter() - start)
                cpu[label] += time.process_time() - cpu_start
    finally:
        if enabled:
            gc.enable()
    if cpu_share is not None:
        for label, values in times.items():
            cpu_share[label] = cpu[label] / max(sum(values), 1e-12)
    return {label: statistics.median(values) for label, values in times.items()}


@dataclass
class Curve:
    """One contender's time–quality curve: one point per budget, in budget order.

    ``points`` are ``(budget, seconds, quality)``; lower quality values are better (Amari
    distance, objective). ``own`` marks the point of the contender's own stopping rule.
    """

    label: str
    dtype: str
    unit: str
    points: list[tuple[float, float, float]] = field(default_factory=list)
    own: tuple[float, float, float] | None = None

    def time_to(self, quality: float) -> tuple[float, float] | None:
        """``(seconds, budget)`` of the first point at or below ``quality``, else None."""
        for budget, seconds, value in self.points:
            if value <= quality:
                return seconds, budget
        return None

    def best(self) -> float:
        """The lowest quality value on the curve (NaN when empty)."""
        return min((q for _, _, q in self.points), default=float("nan"))


def timed_fit(fn: Callable[[], Any], min_seconds: float = 1.0,
              max_repeat: int = 3) -> tuple[float, Any]:
    """Median wall time of ``fn()`` and its last result: repeated (up to ``max_repeat``) while
    the calls so far took less than ``min_seconds`` in all, so short fits are not one noisy
    sample while long ones are paid once."""
    times, result = [], None
    while len(times) < max(1, max_repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
        if sum(times) >= min_seconds:
            break
    return statistics.median(times), result


def geometric_budgets(below: float, first: float = 1, factor: float = 1.6,
                      integer: bool = True) -> list[float]:
    """Budgets ``first, first·factor, ...`` strictly below ``below`` (rounded and distinct
    when ``integer``)."""
    out: list[float] = []
    value = float(first)
    while value < below:
        budget = round(value) if integer else value
        if not out or budget > out[-1]:
            out.append(budget)
        value *= factor
    return [b for b in out if b < below]


def image_markdown(settings: Settings, name: str, written: bool, alt: str) -> str:
    """The markdown that shows picture ``name`` (a line saying why when it was not written)."""
    if not written:
        return f"_(picture {name} not written: no images folder for this run)_"
    return f"![{alt}]({settings.images_link}/{name})"


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A GitHub markdown table."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    for row in rows:
        lines.append("| " + " | ".join(_cell(v) for v in row) + " |")
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return fmt(value)
    return str(value)


def fmt(value: float, digits: int = 3) -> str:
    """Compact float formatting for tables."""
    if value != value:  # NaN
        return "n/a"
    if value == 0:
        return "0"
    magnitude = abs(value)
    if magnitude >= 1e5 or magnitude < 1e-3:
        return f"{value:.{digits - 1}e}"
    return f"{value:.{digits}g}"


def ms(seconds: float) -> str:
    """Seconds as milliseconds with three significant digits."""
    return fmt(seconds * 1e3)


def verdict(met: bool | None) -> str:
    """The word used in the tables for a target."""
    return {True: "met", False: "**missed**", None: "not judged"}[met]
