"""Closed-form objectives vs a naive transcription of DESIGN.md §3, at UFLDL sizes.

Sparse coding: n = 64 pixels, k = 121 features (11 × 11 topographic grid, 3 × 3 pooling),
m = 2000 / 10000 patches. RICA: n = 64, k = 128, m = 10000. Each row times one
``value_and_grad`` call (best of ``--repeat``) in float64 and float32 and prints
naive / ours (> 1 means ours is faster).

BLAS runs single-threaded unless OPENBLAS_NUM_THREADS / OMP_NUM_THREADS / MKL_NUM_THREADS are
set: on a shared machine multi-threaded timings are mostly noise.

Usage: python benchmarks/gradients_flops.py [--repeat 7] [--quick]
"""

from __future__ import annotations

import argparse
import os
import time

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402  (after the thread settings)

from sparselearn.objectives import (  # noqa: E402
    ICAReconstruction,
    ICASparsity,
    Reconstruction,
    TopographicL1,
    grouping_matrix,
)

EPS = 1e-2


def best_time(fn, repeat):
    fn()
    best = np.inf
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def naive_reconstruction_s(A, s, x):
    return np.sum((A @ s - x) ** 2), 2 * A.T @ (A @ s - x)


def naive_topographic(V, s):
    return np.sum(np.sqrt(V @ (s * s) + EPS)), s * (V.T @ (1 / np.sqrt(V @ (s * s) + EPS)))


def naive_ica_reconstruction(W, x):
    r = W.T @ W @ x - x
    return np.sum(r**2), 2 * W @ r @ x.T + 2 * (W @ x) @ r.T


def naive_ica_sparsity(W, x):
    Y = W @ x
    return np.sum(np.sqrt(Y**2 + EPS)), (Y / np.sqrt(Y**2 + EPS)) @ x.T


def sparse_coding_rows(dtype, m, rng):
    """Rows for the sparse-coding terms at n = 64, k = 121 and m patches."""
    n, k = 64, 121
    V = grouping_matrix((11, 11), pool=3)
    Vd = V.astype(dtype)
    A = rng.standard_normal((n, k)).astype(dtype)
    s = rng.standard_normal((k, m)).astype(dtype)
    x = rng.standard_normal((n, m)).astype(dtype)
    env = {"A": A, "s": s, "x": x}
    fixed = Reconstruction.fixed_basis(A, x)
    topo = TopographicL1(V, EPS)
    return [
        (
            f"reconstruction ∇s  m={m}",
            lambda: naive_reconstruction_s(A, s, x),
            lambda: Reconstruction().value_and_grad(env, "s"),
        ),
        (
            f"  .fixed_basis ∇s  m={m}",
            lambda: naive_reconstruction_s(A, s, x),
            lambda: fixed.value_and_grad(env, "s"),
        ),
        (
            f"topographic_l1 ∇s  m={m}",
            lambda: naive_topographic(Vd, s),
            lambda: topo.value_and_grad(env, "s"),
        ),
    ]


def rica_rows(dtype, m, rng):
    """Rows for the RICA terms at n = 64, k = 128 and m patches."""
    n, k = 64, 128
    W = (rng.standard_normal((k, n)) / 8).astype(dtype)
    x = rng.standard_normal((n, m)).astype(dtype)
    env = {"W": W, "x": x}
    cov = ICAReconstruction.from_data(x)
    return [
        (
            f"ica_reconstruction ∇W m={m}",
            lambda: naive_ica_reconstruction(W, x),
            lambda: ICAReconstruction().value_and_grad(env, "W"),
        ),
        (
            f"  .from_data ∇W      m={m}",
            lambda: naive_ica_reconstruction(W, x),
            lambda: cov.value_and_grad(env, "W"),
        ),
        (
            f"ica_sparsity ∇W     m={m}",
            lambda: naive_ica_sparsity(W, x),
            lambda: ICASparsity(EPS).value_and_grad(env, "W"),
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help="m = 2000 only")
    args = parser.parse_args()
    m_values = (2000,) if args.quick else (2000, 10000)
    print(f"{'term':<28} {'dtype':<8} {'naive ms':>9} {'ours ms':>9} {'ratio':>6}")
    for dtype in (np.float64, np.float32):
        rng = np.random.default_rng(0)
        table = [row for m in m_values for row in sparse_coding_rows(dtype, m, rng)]
        table += rica_rows(dtype, m_values[-1], rng)
        for label, naive, ours in table:
            _, grad = ours()
            assert grad.dtype == dtype
            t_naive = best_time(naive, args.repeat)
            t_ours = best_time(ours, args.repeat)
            print(
                f"{label:<28} {np.dtype(dtype).name:<8} {t_naive * 1e3:9.2f} "
                f"{t_ours * 1e3:9.2f} {t_naive / t_ours:6.1f}"
            )


if __name__ == "__main__":
    main()
