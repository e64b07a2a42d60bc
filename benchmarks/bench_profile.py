"""Profile of one fixed-point ICA step against its two matrix products (issue 15, point 1).

Data: ``x`` = n × m white Laplace samples (n = 100, m = 100,000; ``--quick``: n = 16,
m = 5,000), ``W`` a random orthonormal k × n (k = n), float64 and float32. Timed round-robin
(:func:`bench_common.time_interleaved`, median of ``repeat`` rounds after one warm-up):

- ``trainers.fixed_point.fixed_point_pass(W, x, penalty, slope_penalty)``: the pass a step
  makes (``Wx``, the element-wise work, ``g(Wx) xᵀ``), with ``penalty`` the default
  ``SmoothedL1Penalty`` of ``OrthonormalICA`` and ``slope_penalty = penalty.for_slope(1)``
  (unit variance, as the trainer does on white data);
- the same pass without the record's sums (``record=False``: ``Σ|y|`` skipped, as in every
  step but the last of an outer iteration), and a smooth-start pass (``step_penalty`` the
  penalty smoothed to 10, unit variance);
- the two bare products over the same column blocks the pass uses, written into preallocated
  arrays: ``Y = W x_b`` and ``G += Y x_bᵀ`` (the floor: 2 k n m multiply-adds each);
- the element-wise part alone over the same blocks: ``Σ|y|``, ``u = y²`` and
  ``Penalty.contrast(Y, u, slope_penalty, spare)`` (the block's responses are overwritten by
  g(y) and the next round reuses them: the work does not depend on the values);
- a trial of the quasi-Newton solver (the default after its hand-over): the same pass with
  ``pair_penalty`` (the pair curvature ``g′(Y)(Y∘Y)ᵀ`` on the blocks the slope is taken from),
  and its ``k × k`` work (``tangent_lbfgs.tangent_gradient``, the two-loop recursion over 7
  pairs, ``exp(E) W``);
- the rest of a step: ``trainers.linalg.symmetric_orthonormalize`` of a k × n matrix (one SVD);
- and, for reference, the wall time per accepted step inside a fit,
  ``OrthonormalICA(solver="fixed_point", inner_iter=1, max_iter=8)`` on the same white data
  (steady iterations 2-8 of the history's ``wall_time``, divided by the accepted steps; it
  includes rejected steps, records and callbacks), one fit per round of the round-robin
  (median over the rounds).
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import numpy as np
from bench_common import Section, Settings, contenders_for, fmt, ms, table, time_interleaved

DTYPES = ("float64", "float32")


def _block_width(k: int, m: int, dtype: np.dtype) -> int:
    """The pass's column-block width (``trainers.fixed_point.BLOCK_BYTES``, as it computes it)."""
    from sparselearn.trainers import fixed_point

    block_bytes = getattr(fixed_point, "BLOCK_BYTES", 1 << 19)
    return min(max(256, block_bytes // (dtype.itemsize * max(k, 1))), m)


def profile_fixed_point(n: int, m: int, dtype: str, repeat: int, seed: int = 0
                        ) -> tuple[list[list[Any]], dict[str, float]]:
    """Rows ``[piece, time ms, × the two products, GFLOP/s]`` and the raw medians (seconds).

    Parameters
    ----------
    n, m : int
        Dimension (k = n filters) and number of samples.
    dtype : {"float64", "float32"}
    repeat : int
        Rounds of the round-robin timing.
    seed : int

    Returns
    -------
    rows, medians
    """
    from sparselearn.objectives import SmoothedL1Penalty
    from sparselearn.patches import random_orthogonal
    from sparselearn.trainers import OrthonormalICA
    from sparselearn.trainers.fixed_point import fixed_point_pass
    from sparselearn.trainers.linalg import symmetric_orthonormalize

    dt = np.dtype(dtype)
    rng = np.random.default_rng(seed)
    x = (rng.laplace(size=(n, m)) / np.sqrt(2.0)).astype(dt)
    W = random_orthogonal(n, n, rng).astype(dt)
    k = W.shape[0]
    penalty = SmoothedL1Penalty(OrthonormalICA().epsilon)
    slope_penalty = penalty.for_slope(1.0)
    width = _block_width(k, m, dt)
    starts = list(range(0, m, width))
    blocks = [np.ascontiguousarray(x[:, s:s + width]) for s in starts]
    views = [x[:, s:s + width] for s in starts]  # what the pass sees
    Y = [np.empty((k, b.shape[1]), dt) for b in blocks]
    T = [np.empty_like(y) for y in Y]
    spare = [(np.empty_like(y), np.empty_like(y)) for y in Y]
    G, G_block = np.zeros((k, n), dt), np.empty((k, n), dt)
    for y, b in zip(Y, views, strict=True):
        np.matmul(W, b, out=y)

    def products() -> None:
        G.fill(0)
        for y, b in zip(Y, views, strict=True):
            np.matmul(W, b, out=y)
            np.matmul(y, b.T, out=G_block)
            np.add(G, G_block, out=G)

    def first_product() -> None:
        for y, b in zip(Y, views, strict=True):
            np.matmul(W, b, out=y)

    def second_product() -> None:
        G.fill(0)
        for y, b in zip(Y, views, strict=True):
            np.matmul(y, b.T, out=G_block)
            np.add(G, G_block, out=G)

    from sparselearn.trainers import fixed_point

    every = getattr(fixed_point, "SLOPE_EVERY", 1)

    def elementwise() -> None:
        for index, (y, t, s) in enumerate(zip(Y, T, spare, strict=True)):
            float(np.abs(y, out=t).sum(dtype=np.float64))
            np.multiply(y, y, out=t)
            if every == 1:
                penalty.contrast(y, t, slope_penalty, s)
            else:
                penalty.contrast(y, t, slope_penalty, s, index % every == 0)

    smooth = penalty.smoothed(10.0) if hasattr(penalty, "smoothed") else None
    from sparselearn.trainers import tangent_lbfgs

    pair_penalty = penalty.for_slope(1.0, tangent_lbfgs.PAIR_SMOOTHING)
    trial = fixed_point_pass(W, x, penalty, slope_penalty, pair_penalty=pair_penalty)
    pairs_S = [0.01 * rng.standard_normal((k, k)) for _ in range(tangent_lbfgs.MEMORY)]
    pairs_Y = [s_ + 0.001 * rng.standard_normal((k, k)) for s_ in pairs_S]

    def rotation() -> None:
        A, h = tangent_lbfgs.tangent_gradient(trial, W)
        D = tangent_lbfgs._direction(A, h, pairs_S, pairs_Y)
        tangent_lbfgs._rotate(W, 0.01 * D)

    M = W + 0.01 * rng.standard_normal(W.shape).astype(dt)
    fns = {
        "fixed_point_pass (Wx, element-wise, g(Wx)xᵀ)":
            lambda: fixed_point_pass(W, x, penalty, slope_penalty),
        "  without the record's sums (record=False: a step that is not the last of an outer "
        "iteration)": lambda: fixed_point_pass(W, x, penalty, slope_penalty, record=False),
        "  smooth start, without the record's sums":
            lambda: fixed_point_pass(W, x, penalty, smooth, step_penalty=smooth, level=10.0,
                                     record=False),
        "  a quasi-Newton trial (record=False, with the pair curvature g′(Y)(Y∘Y)ᵀ)":
            lambda: fixed_point_pass(W, x, penalty, slope_penalty, record=False,
                                     pair_penalty=pair_penalty),
        "  its k × k work (relative gradient, two-loop over 7 pairs, exp(E) W)": rotation,
        "the two products alone (Wx_b, g x_bᵀ; same blocks)": products,
        "  Wx alone": first_product,
        "  g(Wx) xᵀ alone": second_product,
        "element-wise alone (Σ|y|, y², Penalty.contrast)": elementwise,
        "symmetric_orthonormalize (k × n SVD)": lambda: symmetric_orthonormalize(M),
    }
    fit_label = "one accepted step inside OrthonormalICA(solver=\"fixed_point\").fit"
    steps: list[float] = []
    fns[fit_label] = lambda: steps.append(_step_in_fit(x, dt))  # interleaved with the rest
    medians = time_interleaved(fns, repeat)
    medians[fit_label] = statistics.median(steps)
    floor = medians["the two products alone (Wx_b, g x_bᵀ; same blocks)"]
    flop = {"fixed_point_pass (Wx, element-wise, g(Wx)xᵀ)": 4.0 * k * n * m,
            "the two products alone (Wx_b, g x_bᵀ; same blocks)": 4.0 * k * n * m,
            "  Wx alone": 2.0 * k * n * m, "  g(Wx) xᵀ alone": 2.0 * k * n * m,
            "  without the record's sums (record=False: a step that is not the last of an outer "
            "iteration)": 4.0 * k * n * m,
            "  smooth start, without the record's sums": 4.0 * k * n * m,
            "  a quasi-Newton trial (record=False, with the pair curvature g′(Y)(Y∘Y)ᵀ)":
                4.0 * k * n * m + 2.0 * k * k * m / every,
            "one accepted step inside OrthonormalICA(solver=\"fixed_point\").fit":
                4.0 * k * n * m}
    rows = []
    for label, seconds in medians.items():
        rate = flop.get(label)
        rows.append([label, ms(seconds), f"{seconds / floor:.2f}×",
                     fmt(rate / seconds / 1e9) if rate and seconds == seconds else "—"])
    return rows, medians


def _step_in_fit(x: np.ndarray, dt: np.dtype) -> float:
    """Wall time per accepted fixed-point step over outer iterations 2-8 of one fit."""
    from sparselearn.trainers import OrthonormalICA

    model = OrthonormalICA(solver="fixed_point", inner_iter=1, max_iter=8, tol=0.0,
                           random_state=0, dtype=dt, blas_threads=None)
    model.fit(x.T)
    history = model.history_
    if len(history) < 3:
        return float("nan")
    steps = sum(int(r.get("inner_steps", 1) or 0) for r in history[1:])
    return (history[-1]["wall_time"] - history[0]["wall_time"]) / max(steps, 1)


def run(settings: Settings) -> Section:
    """The profile table in both dtypes."""
    names, skipped = contenders_for(settings, ["ours"])
    if "ours" not in names:
        return Section("profile", "Profile: fixed-point ICA step", "Ours only.", [], skipped)
    n, m = (16, 5000) if settings.quick else (100, 100_000)
    repeat = 3 if settings.quick else 9
    rows, failures = [], []
    for dtype in DTYPES:
        began = time.perf_counter()
        try:
            part, _ = profile_fixed_point(n, m, dtype, repeat, settings.seed)
        except Exception as error:  # noqa: BLE001 - reported, never faked
            failures.append(f"{dtype}: {type(error).__name__}: {error}")
            continue
        rows += [[dtype, *row] for row in part]
        print(f"  [profile] {dtype}: {time.perf_counter() - began:.0f} s", flush=True)
    body = [
        f"n = k = {n}, m = {m:,} white Laplace data, median of {repeat} rounds timed "
        "round-robin (see the docstring of `bench_profile.py`). `× products` is the time over "
        "that of the two bare products on the same column blocks (the floor of a step: "
        "issue 15 asks for at most about 2× plus one fused element-wise pass); `GFLOP/s` "
        "counts 2 k n m per product.",
        "",
        table(["dtype", "piece", "time [ms]", "× products", "GFLOP/s"], rows),
    ]
    if failures:
        body += ["", "Failed: " + "; ".join(failures)]
    return Section("profile", "Profile: fixed-point ICA step", "\n".join(body), [], skipped)
