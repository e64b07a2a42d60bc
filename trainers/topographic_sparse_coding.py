"""Topographic sparse coding: :class:`SparseCoding` with its codes pooled over a torus."""

from __future__ import annotations

from typing import Any, ClassVar

from .sparse_coding import SC_PARAMETERS, SparseCoding
from .state import Callback
from .validation import TORUS_CONSTRAINTS, check_torus

__all__ = ["TopographicSparseCoding"]


class TopographicSparseCoding(SparseCoding):
    r"""Topographic sparse coding: the codes are pooled over neighbourhoods of a torus.

    .. math::
        J(A, s) = \frac{1}{b}\lVert A s - x\rVert_F^2 + \alpha \sum \sqrt{V (s\circ s) + \epsilon}
                  + \gamma \lVert A\rVert_F^2 ,

    with ``V = grouping_matrix(grid, pool, wrap=True)``: the ``k = rows·cols`` features sit on a
    ``rows × cols`` torus and each grid cell pools the ``pool × pool`` block starting there
    (UFLDL: 121 features on 11 × 11, pool 3). ``X`` is ``(n_samples, n_features)``, transposed
    inside. The number of atoms is set by ``grid`` alone (there is no ``n_components``
    parameter); the other parameters are those of :class:`SparseCoding`.

    Parameters
    ----------
    grid : (int, int)
        Torus shape ``(rows, cols)``; the model has ``rows·cols`` atoms.
    pool : int
        Side of the square pooling neighbourhood (at most ``min(grid)``).
    wrap : bool
        Torus (True) or open grid.
    alpha : float
        Sparsity weight α (called ``lambda_`` before; same value and meaning).
    epsilon, penalty, gamma, constraint, batch_size, max_iter, s_solver, inner_iter
        As in :class:`SparseCoding`.
    transform_max_iter, init, tol, random_state, dtype, callbacks, preprocessor
        As in :class:`SparseCoding`.
    dict_init : array-like of shape (rows·cols, n_features), optional
        Initial atoms, one per row, after the ``preprocessor``; replaces ``init`` and is
        treated as in :class:`SparseCoding` (unit norm with ``constraint="unit_norm"``). Not
        modified.
    blas_threads : int or None
        Maximum BLAS threads used by fit/transform/inverse_transform (threadpoolctl); None
        leaves the BLAS default. The matrices are small, so one thread is as fast on an idle
        machine and much faster on a busy one. :meth:`partial_fit` and :meth:`objective` run
        under the same limit.

    Attributes
    ----------
    n_components_ : int
        Number of atoms, ``rows·cols``.
    grouping_ : ndarray of shape (rows·cols, rows·cols)
        The grouping matrix ``V``.
    components_, n_iter_, history_
        As in :class:`SparseCoding` (``topographic_l1`` in place of ``smoothed_l1``).
    """

    _parameter_constraints: ClassVar[dict] = {
        **{name: c for name, c in SC_PARAMETERS.items()
           if name not in ("n_components", "grouping")},
        **TORUS_CONSTRAINTS,
    }

    def __init__(
        self,
        grid: tuple[int, int] = (11, 11),
        *,
        pool: int = 3,
        wrap: bool = True,
        alpha: float = 5e-4,
        epsilon: float = 1e-5,
        penalty: Any = "smoothed_l1",
        gamma: float = 1e-2,
        constraint: str = "weight_decay",
        batch_size: int = 2000,
        max_iter: int = 200,
        s_solver: str = "accelerated",
        inner_iter: int = 50,
        transform_max_iter: int = 300,
        init: str = "data",
        tol: float = 0.0,
        random_state: Any = None,
        dtype: Any = None,
        callbacks: list[Callback] | None = None,
        preprocessor: Any = None,
        dict_init: Any = None,
        blas_threads: int | None = 1,
    ) -> None:
        self.grid = grid
        self.pool = pool
        self.wrap = wrap
        self.alpha = alpha
        self.epsilon = epsilon
        self.penalty = penalty
        self.gamma = gamma
        self.constraint = constraint
        self.batch_size = batch_size
        self.max_iter = max_iter
        self.s_solver = s_solver
        self.inner_iter = inner_iter
        self.transform_max_iter = transform_max_iter
        self.init = init
        self.tol = tol
        self.random_state = random_state
        self.dtype = dtype
        self.callbacks = callbacks
        self.preprocessor = preprocessor
        self.dict_init = dict_init
        self.blas_threads = blas_threads

    def _check_param_relations(self) -> None:
        check_torus(type(self).__name__, self.grid, self.pool)

    def _torus(self) -> tuple:
        return tuple(self.grid), self.pool, self.wrap
