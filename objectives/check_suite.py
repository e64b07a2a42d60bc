"""The gradient report behind ``sparselearn check-gradients``.

For every term and every variable it can differentiate, on random problems with square,
overcomplete (k > n) and undercomplete (k < n) shapes, the report holds three relative errors:

``fd``
    closed form vs central finite differences (:func:`objectives.gradcheck.check_gradient`);
``table``
    closed form vs the term's layer-table network (value and gradient);
``direct``
    for the precomputed (bound) forms only: precomputed vs the direct term (value and gradient).

Tolerances: float64 1e-8 everywhere (UFLDL's threshold; ε = 1e-2 in the square-root terms);
float32 1e-3 for finite differences and 1e-4 for the exact comparisons.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from .base import Term
from .gradcheck import check_gradient, relative_error
from .ica import ICAReconstruction
from .penalties import PENALTIES, make_penalty
from .reconstruction import Reconstruction, WeightDecay
from .sparsity import ICASparsity, ResponseSparsity, Sparsity, TopographicL1
from .table_penalty import TablePenalty
from .topographic import grouping_matrix

EPSILON = 1e-2

#: The seed's Example 2, the topographic smoothed L1, as a layer table on the responses y.
SEED_EXAMPLE_2 = [
    {"weight": "I", "activation": "square"},
    {"weight": "V", "activation": "identity"},
    {"weight": "I", "activation": {"add_epsilon": EPSILON}},
    {"weight": None, "activation": "sqrt"},
]

#: (label, n, grid, m) with k = rows * cols of the grid.
SHAPES = (
    ("square", 9, (3, 3), 4),
    ("overcomplete", 5, (2, 4), 4),
    ("undercomplete", 7, (2, 2), 4),
    ("very overcomplete", 3, (2, 4), 5),
    ("one example", 4, (2, 3), 1),
)

TOLERANCES = {
    "float64": {"fd": 1e-8, "table": 1e-8, "direct": 1e-8},
    "float32": {"fd": 1e-3, "table": 1e-4, "direct": 1e-4},
}


@dataclass
class CheckRow:
    """One line of the report: a term, a variable, a problem shape and its errors."""

    term: str
    wrt: str
    shape: str
    fd: float
    table: float | None = None
    direct: float | None = None

    def worst(self, tolerances: Mapping[str, float]) -> float:
        """Largest error divided by its tolerance (≤ 1 means pass)."""
        ratios = [
            getattr(self, key) / tol
            for key, tol in tolerances.items()
            if getattr(self, key) is not None
        ]
        return max(ratios) if all(np.isfinite(ratios)) else float("inf")


def _value_grad_error(first: Term, second: Term, variables: Mapping[str, Any], wrt: str) -> float:
    v1, g1 = first.value_and_grad(variables, wrt)
    v2, g2 = second.value_and_grad(variables, wrt)
    value_error = abs(v1 - v2) / max(abs(v1), abs(v2), np.finfo(float).tiny)
    return max(value_error, relative_error(g1, g2))


def _penalties() -> Iterator[Any]:
    """Every registered penalty (the smoothed L1 at :data:`EPSILON`), then the seed's
    Example 2 written as a table."""
    for name in sorted(PENALTIES):
        yield make_penalty(name, {"epsilon": EPSILON})
    yield TablePenalty({"input": "y", "name": "seed_example_2", "layers": SEED_EXAMPLE_2})


def _sparsity_terms(V: np.ndarray) -> Iterator[tuple[str, Term, None]]:
    """Each penalty on codes and on responses, with and without the grouping ``V`` (a table
    that reads ``V`` only with it)."""
    for penalty in _penalties():
        groupings = [V] if isinstance(penalty, TablePenalty) and penalty.uses_grouping \
            else [None, V]
        for grouping in groupings:
            for term in (Sparsity(penalty, grouping), ResponseSparsity(penalty, grouping)):
                yield term.name, term, None


def _problems(
    dtype: np.dtype, rng: np.random.Generator
) -> Iterator[tuple[str, list[tuple[str, Term, Term | None]], dict]]:
    for label, n, grid, m in SHAPES:
        k = grid[0] * grid[1]
        V = grouping_matrix(grid, pool=2)
        variables = {
            "A": rng.standard_normal((n, k)),
            "s": rng.standard_normal((k, m)),
            "x": rng.standard_normal((n, m)),
            "W": rng.standard_normal((k, n)) / np.sqrt(n),
        }
        variables = {key: value.astype(dtype) for key, value in variables.items()}
        A, s, x = variables["A"], variables["s"], variables["x"]
        terms: list[tuple[str, Term, Term | None]] = [
            ("reconstruction", Reconstruction(), None),
            ("weight_decay", WeightDecay(), None),
            *_sparsity_terms(V),
            ("ica_reconstruction", ICAReconstruction(), None),
            (
                "ufldl_objective",
                (1 / m) * Reconstruction() + 0.5 * TopographicL1(V, EPSILON) + 0.01 * WeightDecay(),
                None,
            ),
            ("rica_objective", 0.5 * ICASparsity(EPSILON) + ICAReconstruction(), None),
            ("reconstruction.fixed_basis", Reconstruction.fixed_basis(A, x), Reconstruction()),
            ("reconstruction.fixed_codes", Reconstruction.fixed_codes(s, x), Reconstruction()),
            ("ica_reconstruction.from_data", ICAReconstruction.from_data(x), ICAReconstruction()),
        ]
        yield f"{label} n={n} k={k} m={m}", terms, variables


def run_checks(dtype: Any = np.float64, seed: int = 0) -> list[CheckRow]:
    """Build the random problems (from ``seed``) and return one :class:`CheckRow` per
    (problem, term, variable)."""
    dtype = np.dtype(dtype)
    rng = np.random.default_rng(seed)
    rows = []
    for shape, terms, variables in _problems(dtype, rng):
        for label, term, direct in terms:
            try:
                network = term.as_network()
            except NotImplementedError:  # a registered penalty without a layer table
                network = None
            for wrt in term.wrt:
                rows.append(
                    CheckRow(
                        term=label,
                        wrt=wrt,
                        shape=shape,
                        fd=check_gradient(term, variables, wrt),
                        table=None if network is None
                        else _value_grad_error(term, network, variables, wrt),
                        direct=None
                        if direct is None
                        else _value_grad_error(term, direct, variables, wrt),
                    )
                )
    return rows


def format_report(rows: list[CheckRow], tolerances: Mapping[str, float]) -> str:
    """The report as a fixed-width text table, one line per row, with a status column."""

    def cell(value: float | None) -> str:
        return "-" if value is None else f"{value:.2e}"

    header = f"{'problem':<32} {'term':<30} {'wrt':<3} {'fd':>9} {'table':>9} {'direct':>9}  status"
    lines = [header, "-" * len(header)]
    for row in rows:
        status = "ok" if row.worst(tolerances) <= 1.0 else "FAIL"
        lines.append(
            f"{row.shape:<32} {row.term:<30} {row.wrt:<3} "
            f"{cell(row.fd):>9} {cell(row.table):>9} {cell(row.direct):>9}  {status}"
        )
    tol = ", ".join(f"{key} ≤ {value:g}" for key, value in tolerances.items())
    lines.append(f"tolerances: {tol}")
    return "\n".join(lines)
