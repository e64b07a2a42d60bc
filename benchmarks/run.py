"""Run the side-by-side benchmarks of issue 7 and write ``benchmarks/RESULTS.md``.

Usage::

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE \\
        python benchmarks/run.py [--only NAME ...] [--threads 1] [--quick]
        [--contenders ours,torch,...] [--output PATH] [--ica-sizes small|full]

Sections (``--only``): ``gradients``, ``ica``, ``profile``, ``dictionary``, ``scale``. The
time–quality curves are written as PNG pictures into ``images/`` next to the output file and
linked from it.

Threads are pinned for every contender alike, in this order, before anything numeric is
imported: the process is confined to N CPUs with ``os.sched_setaffinity`` (jax 0.10's XLA CPU
runtime ignores its thread flags, see :func:`pin_cpus`); ``OMP_NUM_THREADS``,
``OPENBLAS_NUM_THREADS``, ``MKL_NUM_THREADS`` and ``XLA_FLAGS=--xla_cpu_multi_thread_eigen=false
intra_op_parallelism_threads=N`` are set (XLA reads its flags once, when jax is first imported,
so they cannot be set later); then, once every contender is imported,
``threadpoolctl.threadpool_limits(N)`` for every BLAS/OpenMP pool in the process and
``torch.set_num_threads(N)``. The scale section runs each size in a fresh subprocess that
inherits the affinity and the variables and repeats the threadpoolctl pin.

SPAMS ships its own OpenBLAS 0.3.15, whose CPU detection picks the SSE3 "Barcelona" kernel on
this machine's AMD EPYC when ``OPENBLAS_CORETYPE`` is unset; if it is unset, ``run.py`` sets it
to ``Haswell`` (AVX2) just before importing SPAMS, so that only SPAMS' library (loaded then)
reads it. RESULTS.md lists the kernel every BLAS in the process actually runs.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SECTIONS = ("gradients", "ica", "profile", "dictionary", "scale")
#: The folder, next to the output markdown, that holds its pictures.
IMAGES = "images"
_ORIGINAL_BLAS_ENV = {k: os.environ.get(k) for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="+", choices=SECTIONS, default=None,
                        help="run only these sections")
    parser.add_argument("--threads", type=int, default=1, help="threads for every contender")
    parser.add_argument("--quick", action="store_true", help="tiny sizes (about a minute)")
    parser.add_argument("--contenders", default=None,
                        help="comma-separated subset of ours,torch,jax,sklearn,picard,spams")
    parser.add_argument("--output", default=str(HERE / "RESULTS.md"), help="markdown file")
    parser.add_argument("--work-dir", default=None,
                        help="folder for the scale section's .npy files (default: a temp dir)")
    parser.add_argument("--ica-sizes", choices=("small", "full"), default="full",
                        help="ICA problem grid: the first problem of each kind, or all")
    args = parser.parse_args(argv)
    if args.threads < 1:
        parser.error("--threads must be at least 1")
    return args


def pin_cpus(threads: int) -> str:
    """Confine the process (and its subprocesses) to ``threads`` CPUs; returns a description.

    The thread variables alone do not hold every contender: jax 0.10's XLA CPU runtime ignores
    ``intra_op_parallelism_threads`` and kept 1.8 cores busy on this 2-core machine. The
    affinity mask bounds every library alike, whatever its own settings.
    """
    if not hasattr(os, "sched_setaffinity"):
        return "no sched_setaffinity on this platform: threads pinned by library settings only"
    allowed = sorted(os.sched_getaffinity(0))
    if threads >= len(allowed):
        return f"all {len(allowed)} CPUs allowed (--threads {threads})"
    chosen = set(allowed[-threads:])
    os.sched_setaffinity(0, chosen)
    return f"process confined to CPU(s) {sorted(chosen)} of {allowed} (sched_setaffinity)"


def pin_threads_env(threads: int) -> None:
    """Set the thread variables every numeric library reads when it is loaded."""
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(threads)
    flags = os.environ.get("XLA_FLAGS", "")
    extra = (f"--xla_cpu_multi_thread_eigen={'true' if threads > 1 else 'false'} "
             f"intra_op_parallelism_threads={threads}")
    os.environ["XLA_FLAGS"] = f"{flags} {extra}".strip()
    os.environ.setdefault("JAX_PLATFORMS", "cpu")


def import_contenders(wanted: tuple[str, ...]) -> dict[str, str]:
    """Import every wanted optional contender once (so threadpoolctl sees its pools)."""
    from bench_common import available

    versions = {}
    for name in wanted:
        if name == "spams" and os.environ.get("OPENBLAS_CORETYPE") is None:
            os.environ["OPENBLAS_CORETYPE"] = "Haswell"  # read only by SPAMS' own OpenBLAS
            versions["spams"] = available(name)[1]
            del os.environ["OPENBLAS_CORETYPE"]
            continue
        versions[name] = available(name)[1]
    return versions


def pin_threads_runtime(threads: int):
    """threadpoolctl for every loaded pool, plus torch's intra-op pool."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # the environment variables set earlier still apply
        limiter = None
    else:
        limiter = threadpool_limits(limits=threads)
    if "torch" in sys.modules:
        import torch

        torch.set_num_threads(threads)
    return limiter


def machine_lines() -> list[str]:
    """CPU, cores, memory and load of this machine."""
    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = "unknown"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                memory = f"{int(line.split()[1]) / 2**20:.1f} GiB"
    except OSError:
        pass
    load = "/".join(f"{v:.2f}" for v in os.getloadavg())
    return [f"- CPU: {cpu}, {os.cpu_count()} logical cores, memory {memory}",
            f"- Python {platform.python_version()} on {platform.platform()}",
            f"- load average (1/5/15 min) at start: {load}"]


def blas_lines() -> list[str]:
    """Kernel and thread count of every thread pool threadpoolctl sees."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return ["  - threadpoolctl is not installed: threads pinned by environment variables only"]

    lines = []
    for pool in threadpool_info():
        name = Path(pool.get("filepath", "?")).name
        arch = pool.get("architecture") or "—"
        lines.append(f"  - {pool.get('internal_api')} {pool.get('version') or ''} ({name}): "
                     f"kernel {arch}, {pool.get('num_threads')} thread(s)")
    return lines


def library_lines(versions: dict[str, str]) -> list[str]:
    """Versions of numpy/scipy and every contender."""
    import numpy
    import scipy

    parts = [f"numpy {numpy.__version__}", f"scipy {scipy.__version__}"]
    parts += [f"{name} {info}" for name, info in versions.items()]
    return ["- libraries: " + ", ".join(parts)]


def code_lines() -> list[str]:
    """The commit measured and whether the working tree differs from it (read-only git)."""
    import subprocess

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=HERE.parent, capture_output=True, text=True,
                              check=False)
        return done.stdout.rstrip() if done.returncode == 0 else ""

    commit = git("rev-parse", "--short", "HEAD")
    if not commit:
        return ["- code: not a git checkout"]
    changed = [line for line in git("status", "--porcelain").splitlines() if line.strip()]
    rooms = sorted({line[3:].split("/")[0] for line in changed})
    extra = (f" + uncommitted changes in {len(changed)} path(s) ({', '.join(rooms)})"
             if changed else "")
    return [f"- code: commit {commit}{extra}"]


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


#: The hand-kept section of RESULTS.md, carried over from the file being replaced.
KEPT_SECTION = "## Design measurements"


def kept_section(path: Path) -> str:
    """The :data:`KEPT_SECTION` of the markdown file at ``path`` (to the next ``## `` heading
    or the end), or "" when the file or the section is absent."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return ""
    start = text.find(f"\n{KEPT_SECTION}\n")
    if start < 0:
        return ""
    end = text.find("\n## ", start + 1)
    return text[start + 1:end if end >= 0 else len(text)].rstrip()


def render(sections, header: list[str], total: float, args: argparse.Namespace) -> str:
    """The whole RESULTS.md (the hand-kept section of the file at ``args.output`` included)."""
    from bench_common import table, verdict

    out = ["# Benchmark results", "",
           "Generated by `benchmarks/run.py` (see `benchmarks/README.md`); do not edit by hand,",
           f"except the section \"{KEPT_SECTION[3:]}\" at the end, which it carries over.",
           "", *header, f"- total run time: {total:.0f} s", ""]
    targets = [(s.title, t) for s in sections for t in s.targets]
    if targets:
        out += ["## Targets", "",
                table(["section", "target", "verdict", "measured", "detail"],
                      [[title, t.name, verdict(t.met), t.measured, t.detail]
                       for title, t in targets]), ""]
    for section in sections:
        out += [f"## {section.title}", "", f"_Section time: {section.seconds:.0f} s._", ""]
        if section.skipped:
            out += ["Skipped contenders: " + "; ".join(section.skipped) + ".", ""]
        out += [section.body, ""]
    notes = [(s.title, s.notes) for s in sections if s.notes]
    if notes:
        out += ["## Closing note: why the misses, and what would close them", ""]
        for title, text in notes:
            out += [f"**{title}.** {text}", ""]
    kept = kept_section(Path(args.output))
    if kept:
        out += [kept, ""]
    return "\n".join(out).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    args = parse_args(argv)
    affinity = pin_cpus(args.threads)
    pin_threads_env(args.threads)
    sys.path.insert(0, str(HERE))
    sys.path.insert(0, str(HERE.parent))
    import bench_common

    if args.contenders:
        wanted = tuple(c.strip() for c in args.contenders.split(",") if c.strip())
        unknown = set(wanted) - set(bench_common.CONTENDERS)
        if unknown:
            print(f"unknown contenders: {', '.join(sorted(unknown))}", file=sys.stderr)
            return 2
    else:
        wanted = bench_common.CONTENDERS
    import numpy  # noqa: F401  (loads numpy's BLAS before the pin)

    versions = import_contenders(tuple(c for c in wanted if c != "ours"))
    limiter = pin_threads_runtime(args.threads)
    settings = bench_common.Settings(
        quick=args.quick, threads=args.threads, contenders=wanted, work_dir=args.work_dir,
        images_dir=str(Path(args.output).resolve().parent / IMAGES), images_link=IMAGES,
        ica_sizes=args.ica_sizes)
    blas_env = ", ".join(f"{k}={'unset' if v is None else v}"
                         for k, v in _ORIGINAL_BLAS_ENV.items())
    header = [
        f"- date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M UTC}",
        *machine_lines(),
        *code_lines(),
        f"- threads per contender: {args.threads} (threadpoolctl, torch.set_num_threads, "
        "XLA_FLAGS); mode: " + ("--quick" if args.quick else "full")
        + f", ICA sizes: {args.ica_sizes}",
        f"- CPU affinity: {affinity}",
        f"- BLAS environment at start: {blas_env}",
        "- thread pools in the process (threadpoolctl):",
        *blas_lines(),
        *library_lines(versions),
    ]
    modules = {name: f"bench_{name}" for name in SECTIONS}
    sections = []
    start = time.perf_counter()
    for name in args.only or SECTIONS:
        began = time.perf_counter()
        print(f"[run.py] {name} ...", flush=True)
        module = __import__(modules[name])
        section = module.run(settings)
        section.seconds = time.perf_counter() - began
        sections.append(section)
        print(f"[run.py] {name} done in {section.seconds:.0f} s", flush=True)
        for target in section.targets:
            print(f"  {bench_common.verdict(target.met)}: {target.name} — {target.measured}",
                  flush=True)
    total = time.perf_counter() - start
    header.append(f"- load average at end: {'/'.join(f'{v:.2f}' for v in os.getloadavg())}")
    write_atomic(Path(args.output), render(sections, header, total, args))
    print(f"[run.py] wrote {args.output} ({total:.0f} s)")
    del limiter
    return 0


if __name__ == "__main__":
    sys.exit(main())
