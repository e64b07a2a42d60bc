"""Scale: fit time and peak resident memory of RICA and sparse coding against m.

Data: m = 10⁴, 10⁵, 10⁶ grey 8 × 8 natural patches (patch mean removed, ZCA ε = 0.01 fitted on
the first 10⁵), written once to a float64 ``.npy`` file of shape ``(m, 64)`` (C order: one
example per row, the scikit-learn orientation a user would save) and opened with
``np.load(mmap_mode="r")``; size m is the first m rows. The 1024-filter RICA reads a second
file, 16 × 16 patches prepared the same way, in float32 (``(10⁶, 256)``: 977 MiB), at
m = 10⁵ and 10⁶ only.

Each (model, m) runs in a fresh subprocess (``python bench_scale.py --worker ...``) so that its
peak is its own: ``VmHWM`` (peak resident set, what the target is judged on) from
``/proc/self/status`` at the end, split by a 10 ms sampler into peak anonymous memory
(``RssAnon``: arrays the process allocated) and peak file-backed memory (``RssFile``: pages of
the memory-mapped file that are mapped in, plus the shared libraries). ``baseline`` is the
resident set after the imports, before the data is touched.

Models: ``RICA(n_components=64, alpha=0.1, epsilon=1e-2, max_iter=2, inner_iter=5)`` (full
batch: every L-BFGS iteration is a pass over the m examples) and
``RICA(n_components=1024, alpha=0.1, epsilon=1e-2, max_iter=1, inner_iter=3)`` on the
16 × 16 float32 file (4× overcomplete: each L-BFGS evaluation is two 1024 × 256 × m products),
``SparseCoding(n_components=128, constraint="unit_norm", batch_size=2000, max_iter=10)``
(mini-batch: a pass is m/2000 outer iterations) and ``OnlineDictionaryLearning(n_components=128,
alpha=0.3, batch_size=1024, max_iter=10, inner_iter=8)`` (a pass is m/1024 batches).
``setup`` is the time before the first outer iteration (finite check, ``xxᵀ``); ``time/pass``
comes from the steady outer iterations (history ``wall_time``): RICA's time per L-BFGS
iteration, the mini-batch models' time per outer iteration × m/batch size. "Linear in m" is
judged on time/pass per example between m = 10⁵ and 10⁶ (within a factor 1.5).

How the library keeps memory flat (issue 7): ``fit`` takes the memory map as it is — ``x`` is
the transposed view ``X.T``, no copy (``BaseTrainer._to_columns``), with the finite check in
column blocks; RICA builds ``x xᵀ`` and evaluates the sparsity term's value and gradient and the
record's mean ``|Wx|`` over column blocks (``objectives.blocks``: ``k × b`` work arrays of
about 1 MiB), releasing the mapped pages after every 16 MiB read (``madvise(MADV_DONTNEED)``);
sparse coding reads each mini-batch with ``os.preadv`` from the file
(``trainers.columns.take_columns``) instead of through the map — this kernel's page cache holds
the file in large folios and a fault maps a whole folio, so gathering 2000 random rows through
``np.memmap`` would map nearly the whole file. (The streaming prototypes that used to sit here
are gone: the library now does what they did, and RICA's time per pass is no worse.)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
MODELS = ("rica", "sc", "online", "rica1024")
LABELS = {"rica": "RICA", "sc": "SparseCoding (unit_norm)",
          "online": "OnlineDictionaryLearning",
          "rica1024": "RICA, 1024 filters, 16×16, float32"}
#: examples per outer iteration of the mini-batch models
BATCH = {"sc": 2000, "online": 1024}
#: the data file each model reads: (patch side, dtype)
DATA = {"rica": (8, "float64"), "sc": (8, "float64"), "online": (8, "float64"),
        "rica1024": (16, "float32")}
N_FEATURES = 64


# -- measurement inside the worker ----------------------------------------------------------
def _status() -> dict[str, int]:
    out = {}
    with open("/proc/self/status") as handle:
        for line in handle:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM", "RssAnon", "RssFile"):
                out[key] = int(rest.split()[0]) * 1024
    return out


class PeakSampler:
    """Samples RssAnon and RssFile every ``interval`` seconds in a daemon thread."""

    def __init__(self, interval: float = 0.01) -> None:
        self.interval = interval
        self.anon = 0
        self.file = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.sample()
            time.sleep(self.interval)

    def sample(self) -> None:
        status = _status()
        self.anon = max(self.anon, status.get("RssAnon", 0))
        self.file = max(self.file, status.get("RssFile", 0))

    def __enter__(self) -> PeakSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()


def worker(model: str, m: int, path: str, threads: int) -> dict[str, Any]:
    """Fit one model on the first ``m`` examples of ``path``; return timings and memory."""
    import numpy as np

    from sparselearn.trainers import RICA, OnlineDictionaryLearning, SparseCoding

    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # the inherited environment variables still apply
        limiter = None
    else:
        limiter = threadpool_limits(threads)
    baseline = _status()["VmRSS"]
    data = np.load(path, mmap_mode="r")
    X = data[:m]
    if model == "rica":
        estimator = RICA(n_components=64, alpha=0.1, epsilon=1e-2, max_iter=2,
                             inner_iter=5, random_state=0, blas_threads=None)
    elif model == "rica1024":
        estimator = RICA(n_components=1024, alpha=0.1, epsilon=1e-2, max_iter=1,
                         inner_iter=3, random_state=0, blas_threads=None)
    elif model == "sc":
        estimator = SparseCoding(n_components=128, constraint="unit_norm", alpha=3e-4,
                           epsilon=1e-4, batch_size=BATCH["sc"], max_iter=10, inner_iter=50,
                           random_state=0, blas_threads=None)
    else:
        estimator = OnlineDictionaryLearning(n_components=128, alpha=0.3,
                                             batch_size=BATCH["online"], max_iter=10,
                                             inner_iter=8, random_state=0,
                                             blas_threads=None)
    with PeakSampler() as sampler:
        start = time.perf_counter()
        estimator.fit(X)
        seconds = time.perf_counter() - start
    status = _status()
    history = estimator.history_
    setup = seconds - history[-1]["wall_time"]
    if model.startswith("rica"):
        # per L-BFGS iteration, over the whole run after set-up (each one a pass)
        iterations = int(sum(r.get("lbfgs_iter", 0) for r in history))
        per_pass = history[-1]["wall_time"] / max(iterations, 1)
    else:
        iterations = len(history)
        steady = (history[-1]["wall_time"] - history[0]["wall_time"]) / max(iterations - 1, 1)
        per_pass = steady * m / BATCH[model]
    del limiter
    return {"model": model, "m": m, "seconds": seconds, "iterations": iterations,
            "setup": setup, "per_pass": per_pass, "peak_rss": status["VmHWM"],
            "peak_anon": sampler.anon, "peak_file": sampler.file, "baseline": baseline,
            "eval_time": history[-1]["eval_time"] if history else float("nan"),
            "dtype": str(estimator.components_.dtype), "n_features": int(X.shape[1])}


# -- data ---------------------------------------------------------------------------------
def make_data(folder: Path, m_max: int, seed: int, side: int = 8,
              dtype: str = "float64") -> Path:
    """Write ``m_max`` whitened ``side × side`` patches as an ``(m_max, side²)`` ``.npy`` of
    ``dtype``, chunk by chunk; return its path."""
    import numpy as np

    from sparselearn.patches import Whitener, remove_patch_mean, sample_patches

    suffix = "" if (side, dtype) == (8, "float64") else f"_{side}x{side}_{dtype}"
    path = folder / f"patches_rows_{m_max}{suffix}.npy"
    if path.exists():
        return path
    rng = np.random.default_rng(seed)
    fit_count = min(m_max, 100_000)
    whitener = Whitener(method="zca", epsilon=0.01).fit(
        remove_patch_mean(sample_patches("natural", (side, side), fit_count, rng)).T)
    rows = np.lib.format.open_memmap(path, mode="w+", dtype=np.dtype(dtype),
                                     shape=(m_max, side * side))
    chunk = 100_000
    for start in range(0, m_max, chunk):
        count = min(chunk, m_max - start)
        x = remove_patch_mean(sample_patches("natural", (side, side), count, rng))
        rows[start:start + count] = whitener.transform(x.T)
    rows.flush()
    del rows
    return path


def _sizes(model: str, sizes: list[int]) -> list[int]:
    """The sizes a model runs at: the 1024-filter RICA only at the two largest (cost)."""
    return sizes[-2:] if model == "rica1024" else sizes


def _spawn(model: str, m: int, path: Path, threads: int) -> dict[str, Any]:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", "--model", model,
           "--m", str(m), "--path", str(path), "--threads", str(threads)]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(HERE.parent), env.get("PYTHONPATH", "")])
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        return {"model": model, "m": m, "error": f"exit {done.returncode}: {tail[0]}"}
    return json.loads(done.stdout.strip().splitlines()[-1])


def run(settings):
    """Every model at every m in fresh subprocesses; judge the memory and linearity targets."""
    from bench_common import Section, contenders_for, fmt, table

    names, skipped = contenders_for(settings, ["ours"])
    if "ours" not in names:
        return Section("scale", "Scale", "Only our trainers are measured here.", [], skipped)
    sizes = [2_000, 20_000] if settings.quick else [10_000, 100_000, 1_000_000]
    owned = settings.work_dir is None
    folder = Path(settings.work_dir or tempfile.mkdtemp(prefix="sparselearn-bench-"))
    folder.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    paths = {key: make_data(folder, sizes[-1], settings.seed, *key)
             for key in sorted(set(DATA.values()))}
    data_seconds = time.perf_counter() - started
    results = []
    for model in MODELS:
        for m in _sizes(model, sizes):
            results.append(_spawn(model, m, paths[DATA[model]], settings.threads))
    if owned:
        for path in paths.values():
            path.unlink(missing_ok=True)
        folder.rmdir()
    mib = 2.0**20
    table_rows = []
    for r in results:
        if "error" in r:
            table_rows.append([LABELS[r["model"]], r["m"], f"failed: {r['error']}"]
                              + [None] * 9)
            continue
        r["per_pass_per_example"] = r["per_pass"] / r["m"]
        table_rows.append([
            LABELS[r["model"]], f"{r['m']:,}", _data_label(r), fmt(r["seconds"]),
            fmt(r["setup"]),
            r["iterations"], fmt(r["per_pass"]), fmt(1e9 * r["per_pass_per_example"]),
            fmt(r["peak_rss"] / mib), fmt(r["peak_anon"] / mib), fmt(r["peak_file"] / mib),
            fmt(r["baseline"] / mib),
        ])
    body = [
        f"Data written once ({data_seconds:.0f} s, not counted). Each row is one fresh "
        "subprocess; `setup` is the part of the fit before the first outer iteration; "
        "`time/pass` is the steady time per pass over the m examples (RICA: per L-BFGS "
        "iteration; mini-batch models: per outer iteration × m/batch size); memory in MiB "
        "(`peak file-backed` includes about 35 MiB of shared libraries).",
        "",
        table(["model", "m", "data", "fit [s]", "setup [s]", "iterations", "time/pass [s]",
               "ns / example / pass", "peak RSS", "peak anon", "peak file-backed",
               "baseline"], table_rows),
    ]
    targets = _judge(results, sizes)
    return Section("scale", "Scale", "\n".join(body), targets, skipped,
                   notes=_notes(targets, results, sizes))


def _data_label(r: dict[str, Any]) -> str:
    side, dtype = DATA[r["model"]]
    return f"{side}×{side} {r.get('dtype', dtype)}"


def _notes(targets, results: list[dict[str, Any]], sizes: list[int]) -> str:
    """Where the memory goes at the largest m when a target is missed (empty when all met)."""
    if not any(t.met is False for t in targets):
        return ""
    big, mid = sizes[-1], sizes[-2]
    mib = 2.0**20
    data_mib = ", ".join(
        f"{big * side * side * (4 if dtype == 'float32' else 8) / mib:.0f} MiB ({side}×{side} "
        f"{dtype})" for side, dtype in sorted(set(DATA.values())))
    parts = []
    for model in MODELS:
        by_m = {r["m"]: r for r in results if r["model"] == model and "error" not in r}
        if big not in by_m or mid not in by_m:
            continue
        b, a = by_m[big], by_m[mid]
        parts.append(
            f"{LABELS[model]}: peak RSS {a['peak_rss'] / mib:.0f} → {b['peak_rss'] / mib:.0f} "
            f"MiB (m={mid:,} → {big:,}); anonymous {a['peak_anon'] / mib:.0f} → "
            f"{b['peak_anon'] / mib:.0f} MiB, file-backed {a['peak_file'] / mib:.0f} → "
            f"{b['peak_file'] / mib:.0f} MiB.")
    parts.append(
        f"The files hold {data_mib} at m={big:,}. Growth in anonymous memory means a "
        "copy or a k × m work array (look for arrays sized by m outside "
        "`objectives.blocks.iter_column_blocks`); growth in file-backed memory means mapped "
        "pages that were not released (`trainers.columns.release_pages`) or a gather through "
        "the map instead of `take_columns`.")
    return " ".join(parts)


def _judge(results: list[dict[str, Any]], sizes: list[int]):
    from bench_common import Target

    big, mid = sizes[-1], sizes[-2]
    targets = []
    for model in MODELS:
        label = LABELS[model]
        by_m = {r["m"]: r for r in results if r["model"] == model and "error" not in r}
        if big not in by_m or mid not in by_m:
            continue
        ratio = by_m[big]["peak_rss"] / by_m[mid]["peak_rss"]
        anon = by_m[big]["peak_anon"] / max(by_m[mid]["peak_anon"], 1)
        targets.append(Target(
            f"Scale: {label} peak memory at m={big:,} ≤ 1.5× that at m={mid:,}",
            ratio <= 1.5,
            f"{ratio:.2f}× (anonymous memory alone {anon:.2f}×)", ""))
        lin = by_m[big]["per_pass_per_example"] / by_m[mid]["per_pass_per_example"]
        targets.append(Target(
            f"Scale: {label} time per pass linear in m",
            1 / 1.5 <= lin <= 1.5,
            f"time per pass per example at m={big:,} / at m={mid:,} = {lin:.2f}", ""))
    return targets


def main(argv: list[str] | None = None) -> int:
    """Worker entry point (``--worker``); the section itself runs from ``run.py``."""
    parser = argparse.ArgumentParser(description="scale benchmark worker")
    parser.add_argument("--worker", action="store_true")
    parser.add_argument("--model", choices=list(MODELS))
    parser.add_argument("--m", type=int)
    parser.add_argument("--path")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    if not args.worker:
        parser.error("run benchmarks/run.py --only scale instead")
    print(json.dumps(worker(args.model, args.m, args.path, args.threads)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
