"""Per-iteration overhead of the s-step solvers and the evaluation share of the trainers.

Run: ``python benchmarks/trainer_overhead.py`` (about a minute on two cores). Prints

1. the sparse-coding s-step at UFLDL sizes (k = 121 atoms, n = 64, batch m = 2000 → 242,000
   variables) solved by scipy L-BFGS-B, scipy CG and the accelerated gradient of
   :mod:`trainers.solvers`: wall time, share inside the objective, overhead per iteration and the
   objective gap to a long L-BFGS-B reference run;
2. ``eval_share`` and ``s_step_eval_share`` from the history of SparseCoding at UFLDL sizes and
   ``eval_share`` of RICA (64 × 64 on 20,000 whitened natural 8 × 8 patches).
"""

from __future__ import annotations

import time

import numpy as np

from sparselearn.objectives import Reconstruction, SmoothedL1
from sparselearn.patches import Whitener, remove_patch_mean, sample_patches
from sparselearn.trainers import RICA, SparseCoding
from sparselearn.trainers.solvers import accelerated_gradient, lbfgs, nonlinear_cg


def whitened_patches(count: int, seed: int = 0) -> np.ndarray:
    x = remove_patch_mean(sample_patches("natural", 8, count, np.random.default_rng(seed)))
    eigenvalues = np.linalg.eigvalsh(np.cov(x))
    z = Whitener("zca", epsilon=0.01 * float(eigenvalues.mean())).fit_transform(x.T).T  # n × m
    return z / np.sqrt(z.var(axis=1).mean())


def s_step_solvers(x: np.ndarray, iterations: int = 100) -> None:
    rng = np.random.default_rng(1)
    n, k, m = 64, 121, 2000
    A = rng.standard_normal((n, k))
    A /= np.linalg.norm(A, axis=0)
    batch = x[:, :m]
    lam, eps = SparseCoding().alpha, SparseCoding().epsilon
    term = (1.0 / m) * Reconstruction.fixed_basis(A, batch) + lam * SmoothedL1(eps)
    clock = [0.0]

    def fun(s):
        start = time.perf_counter()
        out = term.value_and_grad({"s": s}, "s")
        clock[0] += time.perf_counter() - start
        return out

    s0 = (A.T @ batch) / np.einsum("ij,ij->j", A, A)[:, None]
    reference = lbfgs(fun, s0, 3000, gtol=1e-12).value
    lipschitz = 2.0 * np.linalg.norm(A, 2) ** 2 / m + lam / np.sqrt(eps)
    print(f"s-step: k={k}, m={m} ({k * m} variables), {iterations} iterations")
    print(f"{'solver':<12}{'wall s':>9}{'in obj':>9}{'ms/it ovh':>11}{'J - J*':>12}")
    runs = {
        "L-BFGS-B": lambda: lbfgs(fun, s0, iterations),
        "CG": lambda: nonlinear_cg(fun, s0, iterations),
        "FISTA": lambda: accelerated_gradient(fun, s0, lipschitz, iterations),
        "FISTA x2": lambda: accelerated_gradient(fun, s0, lipschitz, 2 * iterations),
    }
    for name, run in runs.items():
        clock[0] = 0.0
        start = time.perf_counter()
        result = run()
        wall = time.perf_counter() - start
        gap = term.value({"s": result.x}) - reference
        overhead = (wall - clock[0]) / max(result.n_iter, 1) * 1e3
        print(f"{name:<12}{wall:9.3f}{clock[0] / wall:9.1%}{overhead:11.2f}{gap:12.3e}")


def trainer_shares(x: np.ndarray) -> None:
    model = SparseCoding(121, max_iter=10, random_state=0).fit(x.T)
    record = model.history_[-1]
    print(f"SparseCoding 121 atoms, batch 2000: eval_share {record['eval_share']:.1%}, "
          f"s_step_eval_share {record['s_step_eval_share']:.1%}")
    model = RICA(64, max_iter=5, random_state=0).fit(x.T)
    print(f"RICA 64 x 64, m = {x.shape[1]}: eval_share {model.history_[-1]['eval_share']:.1%}")


if __name__ == "__main__":
    patches = whitened_patches(20_000)
    s_step_solvers(patches)
    trainer_shares(patches)
