r"""Sparse coding by alternating minimisation (UFLDL sparse coding exercise), plain and topographic.

Objective (UFLDL scaling, DESIGN.md §3), on a mini-batch ``x`` (``n × b``) with codes ``s``
(``k × b``) and basis ``A`` (``n × k``):

.. math::
    J(A, s) = \frac{1}{b} \lVert A s - x \rVert_F^2
              + \alpha \sum \sqrt{V (s \circ s) + \epsilon} + \gamma \lVert A \rVert_F^2

(``V = I`` for plain sparse coding, a torus grouping matrix for the topographic variant). Each
outer iteration draws a fresh mini-batch of ``b = batch_size`` columns (UFLDL: 2000), warm-starts
``s = Aᵀx`` with row ``i`` scaled by ``1/‖A_i‖²``, runs ``inner_iter`` iterations of the s-step
solver on the bound term ``Reconstruction.fixed_basis(A, x)`` (so an evaluation costs one
``k × k × b`` GEMM), then sets ``A`` in closed form.

A-step, ``constraint="weight_decay"`` (UFLDL):
    ``A = x sᵀ (s sᵀ + γ b I)⁻¹``, the exact minimiser of J over A.
A-step, ``constraint="unit_norm"`` (scikit-learn, SPAMS; γ unused):
    the least-squares update ``A = x sᵀ (s sᵀ)⁻¹`` (MOD, Engan et al. 1999), then every column
    rescaled to unit norm with the inverse scale moved into the matching row of ``s`` (``As``
    unchanged). Atoms that the codes no longer use are re-seeded with a random data column of
    the batch (drawn from the step stream of :mod:`trainers.minibatch`, not from the Generator
    that draws the batches). Fixing the atom norms removes the scale ambiguity between ``A``
    and ``s``, so α alone sets the sparsity; MOD's joint least-squares update recovers a
    planted dictionary faster than one projected-gradient step per block would.

Because the reconstruction is divided by ``b`` but the sparsity is not, α is tied to the batch
size: per example the s-step solves ``‖As_j − x_j‖² + bα Σ√(s_j² + ε)``. ``transform`` uses the
same per-example problem (with the ``b`` of the fit) whatever the number of rows it is given,
solves it in column blocks (bounded memory, also for a memory-mapped ``X``) and, with the
default accelerated solver, restarts the momentum per example, so the code of an example does
not depend on the other examples passed with it.

``fit`` is a batch draw followed by the step ``partial_fit`` makes on a batch it is given
(s-step, then A-step; :mod:`trainers.minibatch`), so the same batches in the same order give the
same basis bit for bit. Every step works on its batch F-ordered (each example a contiguous
column), the layout of the no-copy view ``X.T`` of a C-ordered ``X``.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import scipy.linalg

from sparselearn.objectives import (
    Reconstruction,
    SmoothedL1,
    TopographicL1,
    WeightDecay,
    grouping_matrix,
)

from .base import BaseTrainer, NonFiniteObjective, guarded
from .columns import column_blocks
from .dictionary import OnlineDictionaryLearning
from .minibatch import MiniBatchMixin
from .solvers import (
    SolverResult,
    accelerated_gradient,
    lbfgs,
    nonlinear_cg,
)
from .state import Callback
from .timing import EvalClock
from .validation import (
    IS_CALLBACKS,
    IS_DTYPE,
    IS_INITIAL_MATRIX,
    IS_PREPROCESSOR,
    IS_RANDOM_STATE,
    OR_NONE,
    TORUS_CONSTRAINTS,
    Interval,
    Options,
    check_torus,
)

__all__ = ["OnlineDictionaryLearning", "SparseCoding", "TopographicSparseCoding"]

_COMMON = {
    "n_components": OR_NONE(Interval(int, 1, None)),
    "alpha": Interval(float, 0.0, None),
    "epsilon": Interval(float, 0.0, None, closed="neither"),
    "gamma": Interval(float, 0.0, None),
    "constraint": Options(["weight_decay", "unit_norm"]),
    "batch_size": Interval(int, 1, None),
    "max_iter": Interval(int, 0, None),
    "s_solver": Options(["accelerated", "lbfgs", "cg"]),
    "inner_iter": Interval(int, 1, None),
    "transform_max_iter": Interval(int, 1, None),
    "init": Options(["data", "random"]),
    "tol": Interval(float, 0.0, None),
    "random_state": IS_RANDOM_STATE,
    "dtype": IS_DTYPE,
    "callbacks": IS_CALLBACKS,
    "preprocessor": IS_PREPROCESSOR,
    "dict_init": IS_INITIAL_MATRIX,
}


class SparseCoding(MiniBatchMixin, BaseTrainer):
    r"""Sparse coding with a smoothed L1 penalty, learned by alternating minimisation.

    Minimises, per mini-batch ``x`` of ``b`` examples (one per column inside; see the module
    docstring for the A-step variants),

    .. math::
        J(A, s) = \frac{1}{b}\lVert A s - x\rVert_F^2 + \alpha \sum \sqrt{s^2 + \epsilon}
                  + \gamma \lVert A\rVert_F^2 .

    At the boundary ``X`` is ``(n_samples, n_features)`` (scikit-learn); it is transposed to
    ``x`` of shape ``n × m`` inside, so ``A`` is ``n_features × n_components`` and
    ``components_ = Aᵀ`` holds one atom per row.

    Parameters
    ----------
    n_components : int or None
        Number of atoms ``k`` (default: ``n_features``).
    alpha : float
        Sparsity weight α (UFLDL's λ; the parameter was called ``lambda_`` before, same value and
        meaning). The default 5e-4 (with ``batch_size=2000``: a per-example L1 weight
        ``bα = 1``) suits whitened data of unit variance; UFLDL's 5e-5 was chosen for its own,
        smaller-scale IMAGES.mat and leaves the codes almost dense on unit-variance data
        (reconstruction error 0.1 % of the energy; localisation and orientation barely above
        random after 40 outer iterations on 64 atoms).
    epsilon : float
        Smoothing ε of the L1 penalty (UFLDL: 1e-5).
    gamma : float
        Weight decay γ on ``A`` (``constraint="weight_decay"`` only; UFLDL: 1e-2).
    constraint : {"weight_decay", "unit_norm"}
        How the scale of ``A`` is fixed.
    batch_size : int
        Examples per outer iteration, redrawn each time (all of them if fewer).
    max_iter : int
        Outer iterations (UFLDL: 200). ``0`` leaves the initial basis.
    s_solver : {"accelerated", "lbfgs", "cg"}
        s-step solver; see :mod:`trainers.solvers` for the measured choice of the default.
    inner_iter : int
        Iterations of the s-step solver per outer iteration (called ``s_max_iter`` before).
    transform_max_iter : int
        Iterations of the s-step solver in :meth:`transform`.
    init : {"data", "random"}
        Initial atoms: random data columns, or Gaussian noise; normalised to unit norm.
        Ignored when ``dict_init`` is given.
    tol : float
        Stop when the relative change of the objective between outer iterations is below
        ``tol`` (0 disables; mini-batch objectives are noisy).
    random_state : None, int, numpy Generator, RandomState or SeedSequence
        Seed of the Generator behind every random draw (the batches and ``init``; the
        re-seeds of unused atoms come from a stream derived from it, see
        :mod:`trainers.minibatch`).
    dtype : None, float32 or float64
        Computation dtype (default: that of ``X``, float64 for integers).
    callbacks : list of Callback
        See :class:`~sparselearn.trainers.Callback`.
    preprocessor : fitted transformer, optional
        Any fitted scikit-learn-style transformer (``transform``/``inverse_transform`` on
        ``(n_samples, n_features)``, e.g. :class:`~sparselearn.patches.Whitener` or
        ``PCA(whiten=True)``), applied to raw data in ``fit``/``transform`` and inverted by
        ``inverse_transform``.
    dict_init : array-like of shape (n_components, n_features), optional
        Initial atoms, one per row (scikit-learn's name and orientation), in the space the
        model works in, i.e. after the ``preprocessor``; replaces ``init``. With
        ``constraint="unit_norm"`` each atom is scaled to unit norm, as every A-step does;
        with ``"weight_decay"`` (which fixes no norm) the atoms are used as given. The array
        passed is not modified.
    blas_threads : int or None
        Maximum BLAS threads used by fit/transform/inverse_transform (threadpoolctl); None
        leaves the BLAS default. The matrices are small, so one thread is as fast on an idle
        machine and much faster on a busy one. :meth:`partial_fit` and :meth:`objective` run
        under the same limit.

    Attributes
    ----------
    components_ : ndarray of shape (n_components, n_features)
        The atoms, columns of ``A``, as rows.
    n_iter_ : int
    history_ : list of dict
        One record per outer iteration: ``objective``, ``reconstruction``, ``smoothed_l1`` (or
        ``topographic_l1``), ``weight_decay`` (unweighted term values on the batch, after the
        A-step), ``reconstruction_error`` (mean ‖As − x‖² per example and ``sparsity`` (mean
        |s|) of the s-step's codes with the basis they were solved for, i.e. the encoding error
        that :meth:`transform` delivers),
        ``step_size`` (the s-step's 1/L, NaN for scipy solvers), ``s_step_time``,
        ``s_step_eval_share`` (share of the s-step inside the objective), ``wall_time``,
        ``eval_time``, ``eval_share``.

    Notes
    -----
    :meth:`partial_fit` makes one outer iteration (s-step, then the closed-form A-step) on the
    batch it is given. Its first call fixes ``b = min(batch_size, len(X))``, the batch size
    the objective's per-example trade-off ``bα`` is tied to (as ``fit`` fixes it from the
    number of examples); later batches of another size are solved with the same per-example
    problem. ``state_dict()["solver_state"]`` holds the step stream (``"step_rng"``).
    """

    _parameter_constraints: ClassVar[dict] = dict(_COMMON)
    _param_names: ClassVar[tuple[str, ...]] = ("A",)
    #: every step works on an F-ordered batch (see the module docstring)
    _batch_order: ClassVar[str] = "F"

    def __init__(
        self,
        n_components: int | None = None,
        *,
        alpha: float = 5e-4,
        epsilon: float = 1e-5,
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
        self.n_components = n_components
        self.alpha = alpha
        self.epsilon = epsilon
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

    # -- the pieces that differ between the plain and topographic variants -------------------
    def _sparsity_term(self):
        return SmoothedL1(self.epsilon)

    def _sparsity_curvature(self) -> float:
        """Bound on the second derivative of the unweighted sparsity term: 1/√ε."""
        return 1.0 / np.sqrt(self.epsilon)

    # -- BaseTrainer hooks ------------------------------------------------------------------
    def _n_atoms(self, x: np.ndarray) -> int:
        """Number of atoms ``k`` for data ``x`` (``n × m``)."""
        return self.n_components if self.n_components is not None else x.shape[0]

    def _setup(self, x: np.ndarray) -> None:
        self._k = self._n_atoms(x)
        self._b = min(self.batch_size, x.shape[1])
        self._sparsity = self._sparsity_term()

    def _param_shape(self, name: str) -> tuple[int, ...]:
        return (self._n, self._k)

    def _dict_init_kind(self) -> str:
        return "unit_norm" if self.constraint == "unit_norm" else "any"

    def _objective(self, A: np.ndarray, x: np.ndarray, clock: EvalClock):
        """The bound s-step objective ``s -> J(A, s)`` (without the constant weight decay)."""
        term = clock.call(Reconstruction.fixed_basis, A, x)
        total = (1.0 / self._b) * term + self.alpha * self._sparsity

        def fun(s: np.ndarray) -> tuple[float, np.ndarray]:
            return total.value_and_grad({"s": s}, "s")

        return guarded(clock.timed(fun))

    def _lipschitz(self, A: np.ndarray) -> float:
        """``L = (2/b)‖A‖₂² + α·c/√ε`` bounds the Hessian of the s-step objective."""
        with np.errstate(over="ignore", invalid="ignore"):
            top = np.float64(np.linalg.norm(A, 2)) ** 2
        lipschitz = 2.0 * top / self._b + self.alpha * self._sparsity_curvature()
        if not np.isfinite(lipschitz):
            raise NonFiniteObjective("the basis is not finite")
        return float(lipschitz)

    def _solve_codes(
        self, A: np.ndarray, x: np.ndarray, max_iter: int, clock: EvalClock
    ) -> tuple[np.ndarray, SolverResult]:
        """Warm start ``s = Aᵀx`` (rows scaled by ``1/‖A_i‖²``), then the s-step solver."""
        norms = np.einsum("ij,ij->j", A, A)
        norms[norms == 0] = 1.0
        s0 = (A.T @ x) / norms[:, None]
        fun = self._objective(A, x, clock)
        if self.s_solver == "accelerated":
            result = accelerated_gradient(fun, s0, self._lipschitz(A), max_iter)
        elif self.s_solver == "lbfgs":
            result = lbfgs(fun, s0, max_iter)
        else:
            result = nonlinear_cg(fun, s0, max_iter)
        return result.x, result

    def _update_basis(
        self, x: np.ndarray, s: np.ndarray, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        """Closed-form A-step; returns the new ``A`` and the (possibly rescaled) codes."""
        k, b = s.shape
        gram = s @ s.T
        cross = x @ s.T
        if self.constraint == "weight_decay":
            # J's reconstruction is divided by the fit's b (a partial_fit batch may differ)
            gram[np.diag_indices(k)] += self.gamma * self._b
            A = _solve_right(cross, gram)
            return A, s
        # unit norm: least squares (MOD) with a tiny ridge for rank safety, then renormalise
        ridge = 1e-10 * max(float(np.trace(gram)) / k, np.finfo(x.dtype).tiny)
        gram[np.diag_indices(k)] += ridge
        A = _solve_right(cross, gram)
        norms = np.linalg.norm(A, axis=0)
        usage = np.sqrt(np.einsum("ij,ij->i", s, s))
        dead = (norms <= 1e-12 * max(norms.max(), 1e-300)) | (
            usage <= 1e-6 * max(usage.max(), 1e-300)
        )
        s = s * norms[:, None].astype(s.dtype)
        if dead.any():
            count = int(dead.sum())
            # distinct examples where the batch has enough (a small partial_fit batch may not)
            picks = rng.choice(b, size=count, replace=count > b)
            fresh = x[:, picks]
            fresh_norms = np.linalg.norm(fresh, axis=0)
            fresh_norms[fresh_norms == 0] = 1.0
            A[:, dead] = fresh / fresh_norms
            s[dead] = 0
            norms[dead] = 1.0
        A = A / norms
        return A.astype(x.dtype, copy=False), s

    def _step(
        self, batch: np.ndarray, params: dict[str, np.ndarray], rng: np.random.Generator,
        clock: EvalClock,
    ) -> tuple[dict[str, np.ndarray], tuple[np.ndarray, np.ndarray], dict[str, Any]]:
        """s-step on the (F-ordered) batch, then the A-step; ``rng`` is the step stream."""
        A = params["A"]
        with clock.section("s_step"):
            s, result = self._solve_codes(A, batch, self.inner_iter, clock)
        wall, inside = clock.sections.pop("s_step")
        # the encoding error: codes from the s-step with the basis they were solved for, which
        # is what transform() delivers (the error right after the A-step is optimistic, since
        # that step refits A to this very batch)
        encoding_error = clock.call(_mean_squared_residual, A, s, batch)
        encoding_sparsity = float(np.mean(np.abs(s)))
        A, s = self._update_basis(batch, s, rng)
        if not np.isfinite(A).all():
            raise NonFiniteObjective("the A-step produced non-finite atoms")
        extras = {
            "step_size": result.step_size,
            "s_step_time": wall,
            "s_step_eval_share": inside / wall if wall > 0 else float("nan"),
            "reconstruction_error": encoding_error,
            "sparsity": encoding_sparsity,
        }
        return {"A": A}, (batch, s), extras

    def _full_objective(self):
        total = (1.0 / self._b) * Reconstruction() + self.alpha * self._sparsity
        if self.constraint == "weight_decay":
            total = total + self.gamma * WeightDecay()
        return total

    def _measure(self, data, params, clock):
        x, s = data
        A = params["A"]
        total = self._full_objective()
        variables = {"A": A, "s": s, "x": x}
        try:
            values = clock.call(total.values, variables)
        except ValueError:
            if not (np.isfinite(A).all() and np.isfinite(s).all()):
                raise NonFiniteObjective("parameters are not finite") from None
            raise
        pairs = zip(total.keys, total.terms, strict=True)
        objective = sum(c * values[key] for key, (c, _) in pairs)
        m = x.shape[1]
        return {
            "objective": float(objective),
            **values,
            "reconstruction_error": values["reconstruction"] / m,
            "sparsity": float(np.mean(np.abs(s))),
        }

    # -- model ------------------------------------------------------------------------------
    @property
    def components_(self) -> np.ndarray:
        """Atoms as rows, ``(n_components, n_features)``."""
        self._check_fitted()
        return np.ascontiguousarray(self._params["A"].T)

    #: Columns per block of :meth:`transform` and :meth:`objective`: the solver's work arrays
    #: are ``k × block`` (and a memory-mapped ``X`` is read, and its pages released, block by
    #: block), so their memory does not grow with the number of examples.
    _transform_block: ClassVar[int] = 8192

    def _encode(self, x: np.ndarray) -> np.ndarray:
        """Codes of the columns of ``x``, solved in column blocks of :attr:`_transform_block`.

        Every column's problem ``(1/b)‖A s_j − x_j‖² + α Σ√(V(s_j∘s_j) + ε)`` uses the ``b``
        of the fit (not the number of columns given), so it is the same in every block. With
        ``s_solver="accelerated"`` the solver is run column by column (:func:`_column_fista`:
        momentum and restart per column; the training s-step restarts globally), so a column's
        code does not depend on the other columns, and blocked codes equal the whole-batch
        solve up to rounding. The scipy solvers (``"lbfgs"``, ``"cg"``) share one line search
        per block, so with them the codes of more than one block's worth of examples depend
        (within the solver's accuracy) on the block boundaries.
        """
        A = self._params["A"]
        m = x.shape[1]
        step = max(1, int(self._transform_block))
        if m <= step:  # one block: x as given (a view), no copy
            return self._encode_block(A, x)
        out = np.empty((A.shape[1], m), dtype=x.dtype)
        for start, stop, block in column_blocks(x, block=step):
            out[:, start:stop] = self._encode_block(A, block)
        return out

    def _encode_block(self, A: np.ndarray, x: np.ndarray) -> np.ndarray:
        """Codes of one block of columns (see :meth:`_encode`)."""
        clock = EvalClock()
        if self.s_solver != "accelerated":
            return self._solve_codes(A, x, self.transform_max_iter, clock)[0]
        norms = np.einsum("ij,ij->j", A, A)
        norms[norms == 0] = 1.0
        s0 = (A.T @ x) / norms[:, None]
        fun = self._objective(A, x, clock)
        return _column_fista(fun, s0, self._lipschitz(A), self.transform_max_iter)

    def _decode(self, s: np.ndarray) -> np.ndarray:
        return self._params["A"] @ s

    def objective(self, X: Any, S: Any | None = None) -> float:
        """``J(A, s)`` per example on data ``X`` with codes ``S`` (default: the warm start).

        Uses the fitted per-example trade-off, i.e. ``J / m`` with ``m = len(X)`` of

        .. math::
            \\frac{1}{b}\\lVert A s - x\\rVert^2 + \\alpha \\sum\\sqrt{V(s\\circ s)+\\epsilon}

        (the weight decay, constant in ``s``, is left out). ``S`` is ``(n_samples,
        n_components)``. More than :attr:`_transform_block` examples are evaluated in column
        blocks (of ``X`` and the matching rows of ``S``) and the values summed, so the memory
        does not grow with ``m``; the result equals the one-block evaluation up to rounding.
        """
        self._check_fitted()
        with self._threads():
            return self._objective_value(X, S)

    def _objective_value(self, X: Any, S: Any | None) -> float:
        """:meth:`objective` under the BLAS thread limit."""
        x = self._to_columns(X, self._dtype)
        A = self._params["A"]
        k, m = A.shape[1], x.shape[1]
        if S is not None:
            S = np.asarray(S)
            if S.shape != (m, k):
                raise ValueError(
                    f"{type(self).__name__}: S must have shape (n_samples, n_components) = "
                    f"{(m, k)}; got {S.shape}"
                )
        total = (1.0 / self._b) * Reconstruction() + self.alpha * self._sparsity
        norms = np.einsum("ij,ij->j", A, A) if S is None else None

        def codes(part: np.ndarray, start: int, stop: int) -> np.ndarray:
            if S is None:
                return (A.T @ part) / norms[:, None]
            return np.ascontiguousarray(np.asarray(S[start:stop], dtype=self._dtype).T)

        step = max(1, int(self._transform_block))
        if m <= step:  # one block: x as given (a view)
            return total.value({"A": A, "s": codes(x, 0, m), "x": x}) / m
        value = 0.0
        for start, stop, part in column_blocks(x, block=step):
            value += total.value({"A": A, "s": codes(part, start, stop), "x": part})
        return value / m


def _column_fista(
    fun: Any, s0: np.ndarray, lipschitz: float, max_iter: int
) -> np.ndarray:
    """:func:`trainers.solvers.accelerated_gradient` with the restart decided per column.

    Each code column has its own problem, so its iterates must not depend on the other columns
    (the shared restart of the training s-step makes them do): solving the columns in blocks
    then gives the codes of a whole-batch solve. Returns the last ``x``.
    """
    return accelerated_gradient(fun, s0, lipschitz, max_iter, per_column=True).x


def _mean_squared_residual(A: np.ndarray, s: np.ndarray, x: np.ndarray) -> float:
    """Mean over examples of ``‖A s_j − x_j‖²``."""
    R = A @ s
    R -= x
    return float(np.einsum("ij,ij->", R, R)) / x.shape[1]


def _solve_right(cross: np.ndarray, gram: np.ndarray) -> np.ndarray:
    """``cross @ inv(gram)`` for symmetric positive definite ``gram`` (Cholesky)."""
    try:
        return scipy.linalg.solve(gram, cross.T, assume_a="pos", check_finite=False).T
    except (np.linalg.LinAlgError, scipy.linalg.LinAlgError):
        return scipy.linalg.lstsq(gram, cross.T, check_finite=False)[0].T


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
    epsilon, gamma, constraint, batch_size, max_iter, s_solver, inner_iter
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
        **{name: c for name, c in _COMMON.items() if name != "n_components"},
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

    def _n_atoms(self, x: np.ndarray) -> int:
        rows, cols = self.grid
        return rows * cols

    def _setup(self, x: np.ndarray) -> None:
        self.grouping_ = grouping_matrix(tuple(self.grid), pool=self.pool, wrap=self.wrap)
        super()._setup(x)  # builds the sparsity term on grouping_
        self.n_components_ = self._k

    def _sparsity_term(self):
        return TopographicL1(self.grouping_, self.epsilon)

    def _sparsity_curvature(self) -> float:
        """Bound ``max_j Σ_g V_gj / √ε`` on the Hessian norm of ``Σ√(V(s∘s)+ε)``."""
        V = self._sparsity.V
        return float(V.sum(axis=0).max()) / np.sqrt(self.epsilon)
