"""Shared builders for the objectives tests (a plain module, not a conftest, so that it cannot
collide with other rooms' test helpers)."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from sparselearn.objectives import (
    ICAReconstruction,
    ICASparsity,
    Reconstruction,
    SmoothedL1,
    TopographicICASparsity,
    TopographicL1,
    WeightDecay,
    grouping_matrix,
)

EPS = 1e-2


def problem(n, rows, cols, m, seed=0, scale=1.0, dtype=np.float64):
    """Random sparse-coding and ICA variables with k = rows * cols, and a grouping matrix."""
    rng = np.random.default_rng(seed)
    k = rows * cols
    variables = {
        "A": scale * rng.standard_normal((n, k)),
        "s": scale * rng.standard_normal((k, m)),
        "x": scale * rng.standard_normal((n, m)),
        "W": scale * rng.standard_normal((k, n)) / np.sqrt(n),
    }
    variables = {key: value.astype(dtype) for key, value in variables.items()}
    V = grouping_matrix((rows, cols), pool=2)
    return variables, V


def all_terms(V, epsilon=EPS):
    """Every closed-form term, keyed by a readable label."""
    return {
        "reconstruction": Reconstruction(),
        "weight_decay": WeightDecay(),
        "smoothed_l1": SmoothedL1(epsilon),
        "topographic_l1": TopographicL1(V, epsilon),
        "ica_reconstruction": ICAReconstruction(),
        "ica_sparsity": ICASparsity(epsilon),
        "topographic_ica_sparsity": TopographicICASparsity(V, epsilon),
    }


TERM_LABELS = tuple(all_terms(np.eye(1)).keys())


@st.composite
def shapes(draw):
    """(n, rows, cols, m): k = rows·cols may be above, equal to or below n; m may be 1."""
    n = draw(st.integers(1, 6))
    rows = draw(st.integers(1, 3))
    cols = draw(st.integers(1, 3))
    m = draw(st.integers(1, 5))
    return n, rows, cols, m


def fd_tolerance(term, variables, wrt, base):
    """``base`` widened by the conditioning of central differences, |F| / (‖x‖ ‖∇F‖).

    Round-off in F(x ± h) is about eps·|F|, so a gradient that is tiny next to |F| / ‖x‖ (e.g.
    a single entry where F is nearly flat) cannot be measured to ``base`` by any difference
    quotient; a wrong gradient still errs by O(1) there.
    """
    value, grad = term.value_and_grad(variables, wrt)
    scale = float(np.linalg.norm(variables[wrt]) * np.linalg.norm(grad))
    condition = abs(value) / scale if scale > 0 else np.inf
    return base * max(1.0, condition)
