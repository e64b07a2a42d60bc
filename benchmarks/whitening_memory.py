"""Peak memory of whitening a patches file larger than the chunk size, through a memmap.

Creates a ``rows × n`` float64 ``.npy`` patches file (default 1,000,000 × 64, about 0.5 GB; one
patch per row, scikit-learn layout) with correlated columns, then, in a fresh child process,
fits a ZCA :class:`patches.Whitener` (a scikit-learn transformer: one patch per row, as on
disk, so no transpose) through ``np.load(..., mmap_mode="r")``, reading chunks of rows, and
writes the whitened data chunk by chunk into a second ``.npy`` file
(``transform(..., out=memmap)``). The child reports

* peak resident set size (``resource.getrusage(...).ru_maxrss``, which includes file pages
  mapped by the memmap) and the RSS right after imports;
* the peak of Python/numpy heap allocations (``tracemalloc``);

against the file size. ``--no-release`` repeats the measurement with the memmap page release
switched off, to show what the plain memmap would cost in RSS.

Usage::

    python benchmarks/whitening_memory.py [--path FILE.npy] [--rows 1000000] [--n 64]
                                          [--chunk-size ROWS] [--no-release] [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def rss_mib() -> float:
    """Current resident set size in MiB (Linux /proc; 0 elsewhere)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def peak_rss_mib() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024


def create(path: Path, rows: int, n: int, seed: int = 0) -> None:
    """Write correlated Gaussian patches (one per row) in 100,000-row blocks."""
    from sparselearn.objectives.blocks import release_pages as _release_pages

    rng = np.random.default_rng(seed)
    mixing = rng.standard_normal((n, n)) / np.sqrt(n) + np.eye(n)
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float64, shape=(rows, n))
    for start in range(0, rows, 100_000):
        stop = min(start + 100_000, rows)
        out[start:stop] = rng.standard_normal((stop - start, n)) @ mixing.T + 0.5
        _release_pages(out)
    out.flush()
    del out


def measure(path: Path, chunk_size: int | None, release: bool) -> dict:
    """Runs in a fresh process: fit + transform through the memmap, report memory."""
    import tracemalloc

    import sparselearn.patches.whitening as whitening
    from sparselearn import patches

    if not release:
        whitening.release_pages = lambda arr: None  # the plain-memmap baseline
    after_imports = rss_mib()
    tracemalloc.start()
    start = time.perf_counter()
    data = np.load(path, mmap_mode="r")  # (rows, n): one patch per row, read in place
    w = patches.Whitener("zca", epsilon=1e-6, chunk_size=chunk_size).fit(data)
    fit_s = time.perf_counter() - start
    out_path = path.with_name(path.stem + "_white.npy")
    out = np.lib.format.open_memmap(out_path, mode="w+", dtype=np.float64, shape=data.shape)
    w.transform(data, out=out)
    out.flush()
    total_s = time.perf_counter() - start
    _, heap_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    peak_rss = peak_rss_mib()  # before the check below, which reads the output again
    # check on the first 50,000 whitened patches: covariance ≈ identity (sampling error only)
    sample = np.asarray(out[:50_000])
    err = float(np.abs(np.cov(sample, rowvar=False) - np.eye(data.shape[1])).max())
    del out
    os.unlink(out_path)
    return {
        "release_pages": release,
        "rss_after_imports_mib": round(after_imports, 1),
        "peak_rss_mib": round(peak_rss, 1),
        "heap_peak_mib": round(heap_peak / 2**20, 1),
        "fit_s": round(fit_s, 2),
        "fit_and_transform_s": round(total_s, 2),
        "sample_cov_max_abs_dev_from_identity": round(err, 4),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--path", type=Path, help="where to create the .npy (default: temp dir)")
    parser.add_argument("--rows", type=int, default=1_000_000, help="number of patches m")
    parser.add_argument("--n", type=int, default=64, help="patch length n")
    parser.add_argument("--chunk-size", type=int, default=None, help="rows (patches) per chunk")
    parser.add_argument("--no-release", action="store_true",
                        help="also measure with the memmap page release switched off")
    parser.add_argument("--keep", action="store_true", help="keep the created file")
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--plain", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.measure is not None:  # child process
        print(json.dumps(measure(args.measure, args.chunk_size, release=not args.plain)))
        return

    tmpdir = None
    if args.path is None:
        tmpdir = Path(tempfile.mkdtemp(prefix="whitening_memory_"))
        path = tmpdir / "patches.npy"
    else:
        path = args.path
    try:
        start = time.perf_counter()
        create(path, args.rows, args.n)
        file_mib = path.stat().st_size / 2**20
        print(f"created {path} ({args.rows} × {args.n} float64, {file_mib:.0f} MiB) in "
              f"{time.perf_counter() - start:.1f} s")
        runs = [False, True] if args.no_release else [False]
        for plain in runs:
            cmd = [sys.executable, __file__, "--measure", str(path)]
            if args.chunk_size:
                cmd += ["--chunk-size", str(args.chunk_size)]
            if plain:
                cmd.append("--plain")
            result = json.loads(subprocess.run(cmd, check=True, capture_output=True,
                                               text=True).stdout.strip().splitlines()[-1])
            result["file_mib"] = round(file_mib, 1)
            result["peak_rss_over_file"] = round(result["peak_rss_mib"] / file_mib, 3)
            result["heap_peak_over_file"] = round(result["heap_peak_mib"] / file_mib, 3)
            print(json.dumps(result, indent=2))
    finally:
        if args.keep:
            print(f"kept {path}")
        elif tmpdir is not None:
            shutil.rmtree(tmpdir)


if __name__ == "__main__":
    main()
