"""BLAS threads: the estimators' ``blas_threads`` default, measured on the README's snippet.

Times ``RICA(n_components=128).fit`` on 20,000 ZCA-whitened 8×8 natural patches (the README's
first Python snippet) with ``blas_threads`` = 1, 2 and None (the BLAS default, every core), on
an idle machine and next to a busy neighbour (one process spinning a matrix product, as on a
shared machine or beside another job). Prints a markdown table.

Usage: ``python benchmarks/bench_threads.py [--max-iter N] [--repeats R]``
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import time
import warnings

import numpy as np


def _busy(stop: mp.Event) -> None:  # pragma: no cover - runs in a child process
    a = np.random.default_rng(0).standard_normal((400, 400))
    while not stop.is_set():
        a = np.tanh(a @ a)


def _data() -> np.ndarray:
    from sparselearn.patches import Whitener, remove_patch_mean, sample_patches

    X = remove_patch_mean(sample_patches("natural", (8, 8), 20_000,
                                         np.random.default_rng(0))).T
    return Whitener("zca", epsilon=1e-3).fit_transform(X)


def _time_fit(X: np.ndarray, threads: int | None, max_iter: int) -> float:
    from sparselearn import RICA

    start = time.perf_counter()
    RICA(n_components=128, random_state=0, max_iter=max_iter, blas_threads=threads).fit(X)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--max-iter", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    warnings.filterwarnings("ignore", message=".*stopped at max_iter")
    X = _data()
    rows = []
    for load in ("idle", "busy neighbour"):
        stop = mp.Event()
        worker = None
        if load != "idle":
            worker = mp.Process(target=_busy, args=(stop,), daemon=True)
            worker.start()
            time.sleep(1.0)
        for threads in (1, 2, None):
            best = min(_time_fit(X, threads, args.max_iter) for _ in range(args.repeats))
            rows.append((load, threads, best))
        if worker is not None:
            stop.set()
            worker.join(5)
    print(f"RICA(n_components=128), 20,000 × 64 whitened patches, max_iter={args.max_iter}, "
          f"{os.cpu_count()} cores, best of {args.repeats}\n")
    print("| machine | blas_threads | fit time (s) | vs blas_threads=1 |")
    print("|---|---|---|---|")
    for load, threads, seconds in rows:
        base = next(s for lo, t, s in rows if lo == load and t == 1)
        print(f"| {load} | {threads} | {seconds:.2f} | {seconds / base:.2f}× |")


if __name__ == "__main__":
    main()
