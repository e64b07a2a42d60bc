"""ICA: orthonormal ICA and complete RICA vs FastICA (logcosh) and Picard (ortho True/False).

Data: ``patches.ica_mixture`` Laplace sources, condition number 4 (n = 32, m = 20,000 and
n = 64, m = 50,000), whitened once by ZCA (``patches.Whitener(epsilon=0)``, not timed; every
contender gets the same whitened matrix and is told not to whiten or centre again). Quality is
``patches.amari_distance(W P, mixing)`` with ``P`` the whitening matrix (normalised to [0, 1] by
2k(k−1), as in the project).

*Time to Amari ≤ t*: the smallest iteration budget whose fit reaches ``t`` (ours: outer
iterations, found from a callback trace with the Amari computation excluded from the clock;
FastICA and Picard: ``max_iter``, found by a geometric search then bisection, every fit being
deterministic for a fixed ``random_state``), then the median wall time of three fits with exactly
that budget. *Final Amari* is that of a fit with the contender's default stopping rule.

The target compares the fastest of ours (any estimator) with Picard (ortho=True) per problem. A
problem where no contender at all reaches the threshold (every final Amari above it: the
statistical floor of that m, e.g. about 0.0052 at n = 32, m = 20,000) cannot decide it and is
reported as such; the target is met when it is met on every problem that can decide it (at
least one), missed when it is missed on any.

Our settings (documented, not tuned per problem): ``OrthonormalICA(epsilon=1e-6,
inner_iter=5)`` (projected gradient, the default solver);
``OrthonormalICA(solver="fixed_point", epsilon=1e-6, inner_iter=1)`` (one accepted fixed-point
step per outer iteration, so the trace resolves single steps; each step is one fused pass over
the data, two ``k × n × m`` products); ``RICA(alpha=0.5, epsilon=1e-4, inner_iter=10)``
(RICA's default λ = 0.1, ε = 1e-2 are meant for natural-image features and converge several
times slower here).
"""

from __future__ import annotations

import statistics
import time
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
from bench_common import Section, Settings, Target, contenders_for, fmt, table, verdict

THRESHOLDS = (0.005, 0.01)
FIXED_POINT_KEY = 'ours OrthonormalICA(solver="fixed_point")'


def _problems(quick: bool) -> list[tuple[int, int]]:
    return [(8, 10000)] if quick else [(32, 20000), (64, 50000)]


def _ours_trace(make: Callable[..., Any], X: np.ndarray, P: np.ndarray,
                mixing: np.ndarray, max_iter: int) -> tuple[list[tuple[int, float]], float]:
    """Amari after every outer iteration of one fit (stopping rule ``tol=1e-9`` or
    ``max_iter``); returns the trace and the final Amari."""
    from sparselearn.patches import amari_distance
    from sparselearn.trainers import Callback

    class Trace(Callback):
        def __init__(self) -> None:
            self.points: list[tuple[int, float]] = []

        def on_iteration_end(self, state) -> None:
            self.points.append((state.iteration, amari_distance(state.params["W"] @ P, mixing)))

    trace = Trace()
    make(max_iter, [trace], 1e-9).fit(X)
    return trace.points, trace.points[-1][1] if trace.points else float("nan")


def _first_budget(fit: Callable[[int], tuple[float, int]], threshold: float,
                  max_budget: int) -> int | None:
    """Smallest budget b with ``fit(b)[0] <= threshold`` (``fit`` returns (amari, n_iter))."""
    cache: dict[int, tuple[float, int]] = {}

    def probe(b: int) -> tuple[float, int]:
        if b not in cache:
            cache[b] = fit(b)
        return cache[b]

    low, budget = 0, 1
    while True:
        amari, used = probe(budget)
        if amari <= threshold:
            break
        # stopped before the budget ran out (converged) above t, or out of budget. Picard counts
        # iterations from 0 (it reports max_iter − 1 when the budget runs out), hence the − 1.
        if used < budget - 1 or budget >= max_budget:
            return None
        low, budget = budget, min(max_budget, max(budget + 1, int(budget * 1.6)))
    high = budget
    while high - low > 1:
        mid = (low + high) // 2
        if probe(mid)[0] <= threshold:
            high = mid
        else:
            low = mid
    return high


def _median_time(fn: Callable[[], Any], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def run(settings: Settings) -> Section:
    """Both problems, every contender: time to each Amari threshold and final Amari."""
    from sparselearn.patches import Whitener, ica_mixture

    names, skipped = contenders_for(settings, ["ours", "sklearn", "picard"])
    repeat = 1 if settings.quick else 3
    warnings.filterwarnings("ignore", message=".*did not converge.*")
    warnings.filterwarnings("ignore", message=".*(C|c)onverge.*")
    warnings.filterwarnings("ignore", message="Ignoring n_components with whiten=False")
    rows: list[list[Any]] = []
    results: dict[tuple[int, int], dict[str, dict[str, Any]]] = {}
    for n, m in _problems(settings.quick):
        rng = np.random.default_rng(settings.seed)
        x, _, mixing = ica_mixture(n, m, rng, condition=4.0, distribution="laplace")
        whitener = Whitener(method="zca", epsilon=0.0)
        X = whitener.fit_transform(x.T)  # (m, n): scikit-learn orientation for ours and FastICA
        P = whitener.whitening_matrix_
        xw = np.ascontiguousarray(X.T)  # n × m for picard
        per: dict[str, dict[str, Any]] = {}
        contenders = _contenders(names, n, xw, X, P, mixing)
        for label, spec in contenders.items():
            try:
                per[label] = _measure(spec, threshold_list=THRESHOLDS, repeat=repeat)
            except Exception as error:  # noqa: BLE001 - report, never fake
                per[label] = {"error": f"{type(error).__name__}: {error}"}
        results[(n, m)] = per
        for label, r in per.items():
            if "error" in r:
                rows.append([f"n={n}, m={m}", label, f"failed: {r['error']}", None, None,
                             None, None, None])
                continue
            rows.append([
                f"n={n}, m={m}", label,
                *(_time_cell(r, t) for t in THRESHOLDS),
                fmt(r["final_amari"]), fmt(r["final_time"]), r["final_iter"],
                r["budget_unit"],
            ])
    body = [
        "Times in seconds (median of "
        f"{repeat} fit(s) with the smallest budget that reaches the threshold; the budget in "
        "brackets). `final` is a fit with the contender's own stopping rule.",
        "",
        table(["problem", "contender", "time to Amari ≤ 0.005", "time to Amari ≤ 0.01",
               "final Amari", "final fit [s]", "final iterations", "budget unit"], rows),
        "",
        "The Amari distance of every method levels off at a statistical floor set by m "
        "(the estimate of W from m samples, not the optimiser); where that floor is above "
        "0.005 no method can reach the target, and the table says `not reached`. The 0.01 "
        "column is a reachable proxy reported alongside.",
        *_floor_lines(results),
    ]
    targets = _judge(results)
    return Section("ica", "ICA", "\n".join(body), targets, skipped,
                   notes=_notes(targets, results))


def _notes(targets: list[Target], results: dict) -> str:
    """Why the ICA target was missed and what would close it, from this run's numbers."""
    if not targets or all(t.met is not False for t in targets):
        return ""
    parts = []
    for (n, m), per in results.items():
        ref = per.get("Picard (ortho=True)", {}).get("to", {}).get(0.005)
        ortho = per.get("ours OrthonormalICA", {})
        proto = per.get(FIXED_POINT_KEY, {}).get("to", {}).get(0.005)
        hit = ortho.get("to", {}).get(0.005)
        floor = min((r["final_amari"] for r in per.values() if "final_amari" in r),
                    default=float("nan"))
        if ref is None or hit is None:
            parts.append(f"n={n}, m={m}: the best final Amari of any method is {floor:.4f}, "
                         "the statistical floor of this sample size, so 0.005 is out of reach "
                         "for Picard" + (" and ours." if hit is None else "."))
            continue
        line = (f"n={n}, m={m}: OrthonormalICA (projected gradient) needs {hit[1]} outer "
                f"iterations × 5 steps ({hit[0]:.2f} s) against Picard's {ref[1]} "
                f"preconditioned L-BFGS iterations ({ref[0]:.2f} s)")
        if proto is not None:
            line += (f"; OrthonormalICA(solver=\"fixed_point\") reaches it in "
                     f"{proto[1]} fixed-point steps, {proto[0]:.2f} s = {proto[0] / ref[0]:.2f}× "
                     "Picard's time")
        parts.append(line + ".")
    parts.append(
        "Where to look: the fixed-point solver costs one fused pass over the data per step "
        "(`trainers/ica.py`, `_fixed_point_pass`: Wx, the element-wise root, ratio and "
        "slope in cache-sized column blocks, and g(Wx) xᵀ) and converges in about 7 steps "
        "from a random start on these mixtures; a miss by a small factor under heavy machine "
        "load should be re-measured before anything else. The projected gradient converges "
        "linearly with about two evaluations per accepted step.")
    return " ".join(parts)


def _floor_lines(results: dict) -> list[str]:
    """One sentence per problem that no contender can decide at 0.005 (the floor above it)."""
    lines = []
    for (n, m), per in results.items():
        finals = [r["final_amari"] for r in per.values() if "final_amari" in r]
        if finals and all(r.get("to", {}).get(0.005) is None for r in per.values()):
            lines.append(f"At n={n}, m={m} the best final Amari of any contender is "
                         f"{min(finals):.4f}: the floor of this sample size is above 0.005, "
                         "so this problem cannot decide the 0.005 target (judged on the "
                         "others; the 0.01 proxy is judged here too).")
    return ["", *lines] if lines else []


def _time_cell(r: dict[str, Any], threshold: float) -> str:
    hit = r["to"].get(threshold)
    if hit is None:
        return "not reached"
    seconds, budget = hit
    return f"{fmt(seconds)} ({budget})"


def _contenders(names, n, xw, X, P, mixing) -> dict[str, dict[str, Any]]:
    from sparselearn.patches import amari_distance

    out: dict[str, dict[str, Any]] = {}
    if "ours" in names:
        from sparselearn.trainers import RICA, OrthonormalICA

        def ortho(max_iter: int, callbacks: list | None = None, tol: float = 0.0):
            return OrthonormalICA(n_components=n, epsilon=1e-6, inner_iter=5,
                                  max_iter=max_iter, tol=tol, random_state=0,
                                  callbacks=callbacks, blas_threads=None)

        def rica(max_iter: int, callbacks: list | None = None, tol: float = 0.0):
            return RICA(n_components=n, alpha=0.5, epsilon=1e-4, inner_iter=10,
                        max_iter=max_iter, tol=tol, random_state=0, callbacks=callbacks,
                        blas_threads=None)

        out["ours OrthonormalICA"] = {"kind": "ours", "make": ortho, "X": X, "P": P,
                                      "mixing": mixing, "max_budget": 100,
                                      "unit": "outer it. × 5 steps"}
        out["ours RICA (complete)"] = {"kind": "ours", "make": rica, "X": X, "P": P,
                                       "mixing": mixing, "max_budget": 60,
                                       "unit": "outer it. × 10 L-BFGS it."}

        def ortho_fp(max_iter: int, callbacks: list | None = None, tol: float = 0.0):
            return OrthonormalICA(n_components=n, epsilon=1e-6, inner_iter=1,
                                  solver="fixed_point", max_iter=max_iter, tol=tol,
                                  random_state=0, callbacks=callbacks, blas_threads=None)

        out[FIXED_POINT_KEY] = {"kind": "ours", "make": ortho_fp, "X": X, "P": P,
                                "mixing": mixing, "max_budget": 200,
                                "unit": "outer it. × 1 accepted fixed-point step"}
    if "sklearn" in names:
        from sklearn.decomposition import FastICA

        def fastica(budget: int | None):
            kwargs = {} if budget is None else {"max_iter": budget}
            model = FastICA(n_components=n, algorithm="parallel", whiten=False,
                            fun="logcosh", random_state=0, **kwargs).fit(X)
            return amari_distance(model.components_ @ P, mixing), int(model.n_iter_)

        out["FastICA (logcosh)"] = {"kind": "peer", "fit": fastica, "max_budget": 200,
                                    "unit": "max_iter"}
    if "picard" in names:
        import picard

        for ortho_flag in (True, False):
            def fit(budget: int | None, ortho_flag: bool = ortho_flag):
                kwargs = {} if budget is None else {"max_iter": budget}
                _, W, _, used = picard.picard(xw, ortho=ortho_flag, whiten=False,
                                              centering=False, random_state=0,
                                              return_n_iter=True, **kwargs)
                return amari_distance(W @ P, mixing), int(used)

            out[f"Picard (ortho={ortho_flag})"] = {"kind": "peer", "fit": fit,
                                                  "max_budget": 500, "unit": "max_iter"}
    return out


def _measure(spec: dict[str, Any], threshold_list: tuple[float, ...], repeat: int) -> dict:
    to: dict[float, tuple[float, int] | None] = {}
    if spec["kind"] == "ours":
        make, X = spec["make"], spec["X"]
        start = time.perf_counter()
        trace, final = _ours_trace(make, X, spec["P"], spec["mixing"], spec["max_budget"])
        final_time = time.perf_counter() - start
        final_iter = trace[-1][0] if trace else 0
        for t in threshold_list:
            budget = next((i for i, a in trace if a <= t), None)
            if budget is None:
                to[t] = None
                continue
            seconds = _median_time(lambda b=budget: make(b).fit(X), repeat)
            to[t] = (seconds, budget)
    else:
        fit = spec["fit"]
        start = time.perf_counter()
        final, final_iter = fit(None)
        final_time = time.perf_counter() - start
        for t in threshold_list:
            budget = _first_budget(fit, t, spec["max_budget"])
            if budget is None:
                to[t] = None
                continue
            seconds = _median_time(lambda b=budget: fit(b), repeat)
            to[t] = (seconds, budget)
    return {"to": to, "final_amari": final, "final_time": final_time,
            "final_iter": final_iter, "budget_unit": spec["unit"]}


def _judge(results: dict) -> list[Target]:
    targets = []
    for threshold, label in ((0.005, "target"), (0.01, "proxy")):
        parts, oks = [], []
        for (n, _m), per in results.items():
            ref = per.get("Picard (ortho=True)", {}).get("to", {}).get(threshold, "missing")
            ours = {k: v["to"].get(threshold) for k, v in per.items()
                    if k.startswith("ours") and "to" in v}
            best = min((v[0] for v in ours.values() if v is not None), default=None)
            if ref == "missing" or not ours:
                oks.append(None)
                parts.append(f"n={n}: not judged (contender missing)")
                continue
            if best is None:
                if ref is None and all(v.get("to", {}).get(threshold) is None
                                       for v in per.values() if "error" not in v):
                    oks.append("floor")
                    floor = min((v["final_amari"] for v in per.values()
                                 if "final_amari" in v), default=float("nan"))
                    parts.append(f"n={n}: no contender reaches {threshold} (best final Amari "
                                 f"{floor:.4f}, the floor of this m): cannot decide")
                    continue
                oks.append(False if ref is not None else None)
                parts.append(f"n={n}: ours never reaches {threshold}" +
                             ("" if ref is not None else ", nor does Picard"))
                continue
            if ref is None:
                oks.append(True)
                parts.append(f"n={n}: ours {best:.2f} s, Picard never reaches it")
                continue
            oks.append(best <= ref[0])
            parts.append(f"n={n}: ours {best:.2f} s vs Picard(ortho) {ref[0]:.2f} s "
                         f"= {best / ref[0]:.2f}×")
        if any(o is False for o in oks):
            met = False
        elif any(o is True for o in oks) and all(o in (True, "floor") for o in oks):
            met = True
        else:
            met = None
        name = (f"ICA: ours reaches Amari ≤ {threshold} no slower than Picard (ortho=True)"
                + (" [proxy threshold]" if label == "proxy" else ""))
        targets.append(Target(name, met, "; ".join(parts), verdict(met)))
    return targets
