r"""Sparse coding by alternating minimisation (UFLDL sparse coding exercise), plain and topographic.

Objective (UFLDL scaling, DESIGN.md §3), on a mini-batch ``x`` (``n × b``) with codes ``s``
(``k × b``) and basis ``A`` (``n × k``):

.. math::
    J(A, s) = \frac{1}{b} \lVert A s - x \rVert_F^2
              + \lambda \sum \sqrt{V (s \circ s) + \epsilon} + \gamma \lVert A \rVert_F^2

(``V = I`` for plain sparse coding, a torus grouping matrix for the topographic variant). Each
outer iteration draws a fresh mini-batch of ``b = batch_size`` columns (UFLDL: 2000), warm-starts
``s = Aᵀx`` with row ``i`` scaled by ``1/‖A_i‖²``, runs ``s_max_iter`` iterations of the s-step
solver on the bound term ``Reconstruction.fixed_basis(A, x)`` (so an evaluation costs one
``k × k × b`` GEMM), then sets ``A`` in closed form.

A-step, ``constraint="weight_decay"`` (UFLDL):
    ``A = x sᵀ (s sᵀ + γ b I)⁻¹``, the exact minimiser of J over A.
A-step, ``constraint="unit_norm"`` (scikit-learn, SPAMS; γ unused):
    the least-squares update ``A = x sᵀ (s sᵀ)⁻¹`` (MOD, Engan et al. 1999), then every column
    rescaled to unit norm with the inverse scale moved into the matching row of ``s`` (``As``
    unchanged). Atoms that the codes no longer use are re-seeded with a random data column of
    the batch. Fixing the atom norms removes the scale ambiguity between ``A`` and ``s``, so λ
    alone sets the sparsity; MOD's joint least-squares update recovers a planted dictionary
    faster than one projected-gradient step per block would.

Because the reconstruction is divided by ``b`` but the sparsity is not, λ is tied to the batch
size: per example the s-step solves ``‖As_j − x_j‖² + bλ Σ√(s_j² + ε)``. ``transform`` uses the
same per-example problem (with the ``b`` of the fit) whatever the number of rows it is given,
solves it in column blocks (bounded memory, also for a memory-mapped ``X``) and, with the
default accelerated solver, restarts the momentum per example, so the code of an example does
not depend on the other examples passed with it.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import scipy.linalg

from objectives import Reconstruction, SmoothedL1, TopographicL1, WeightDecay, grouping_matrix

from .base import BaseTrainer, NonFiniteObjective, guarded
from .columns import column_blocks, take_columns
from .solvers import (
    LassoResult,
    SolverResult,
    accelerated_gradient,
    lasso_fista,
    lbfgs,
    nonlinear_cg,
)
from .state import Callback
from .timing import EvalClock
from .validation import (
    IS_CALLBACKS,
    IS_DTYPE,
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
    "lambda_": Interval(float, 0.0, None),
    "epsilon": Interval(float, 0.0, None, closed="neither"),
    "gamma": Interval(float, 0.0, None),
    "constraint": Options(["weight_decay", "unit_norm"]),
    "batch_size": Interval(int, 1, None),
    "max_iter": Interval(int, 0, None),
    "s_solver": Options(["accelerated", "lbfgs", "cg"]),
    "s_max_iter": Interval(int, 1, None),
    "transform_max_iter": Interval(int, 1, None),
    "init": Options(["data", "random"]),
    "tol": Interval(float, 0.0, None),
    "random_state": IS_RANDOM_STATE,
    "dtype": IS_DTYPE,
    "callbacks": IS_CALLBACKS,
    "preprocessor": IS_PREPROCESSOR,
}


class SparseCoding(BaseTrainer):
    r"""Sparse coding with a smoothed L1 penalty, learned by alternating minimisation.

    Minimises, per mini-batch ``x`` of ``b`` examples (one per column inside; see the module
    docstring for the A-step variants),

    .. math::
        J(A, s) = \frac{1}{b}\lVert A s - x\rVert_F^2 + \lambda \sum \sqrt{s^2 + \epsilon}
                  + \gamma \lVert A\rVert_F^2 .

    At the boundary ``X`` is ``(n_samples, n_features)`` (scikit-learn); it is transposed to
    ``x`` of shape ``n × m`` inside, so ``A`` is ``n_features × n_components`` and
    ``components_ = Aᵀ`` holds one atom per row.

    Parameters
    ----------
    n_components : int or None
        Number of atoms ``k`` (default: ``n_features``).
    lambda_ : float
        Sparsity weight λ. The default 5e-4 (with ``batch_size=2000``: a per-example L1 weight
        ``bλ = 1``) suits whitened data of unit variance; UFLDL's 5e-5 was chosen for its own,
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
    s_max_iter : int
        Iterations of the s-step solver per outer iteration.
    transform_max_iter : int
        Iterations of the s-step solver in :meth:`transform`.
    init : {"data", "random"}
        Initial atoms: random data columns, or Gaussian noise; normalised to unit norm.
    tol : float
        Stop when the relative change of the objective between outer iterations is below
        ``tol`` (0 disables; mini-batch objectives are noisy).
    random_state : None, int or numpy Generator
        Seed of the Generator behind every random draw.
    dtype : None, float32 or float64
        Computation dtype (default: that of ``X``, float64 for integers).
    callbacks : list of Callback
        See :class:`trainers.Callback`.
    preprocessor : object with transform/inverse_transform, optional
        A fitted whitener applied (on ``n × m`` arrays) to raw data in ``fit``/``transform``
        and inverted by ``inverse_transform``.

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
    """

    _parameter_constraints: ClassVar[dict] = dict(_COMMON)
    _param_names: ClassVar[tuple[str, ...]] = ("A",)

    def __init__(
        self,
        n_components: int | None = None,
        *,
        lambda_: float = 5e-4,
        epsilon: float = 1e-5,
        gamma: float = 1e-2,
        constraint: str = "weight_decay",
        batch_size: int = 2000,
        max_iter: int = 200,
        s_solver: str = "accelerated",
        s_max_iter: int = 50,
        transform_max_iter: int = 300,
        init: str = "data",
        tol: float = 0.0,
        random_state: Any = None,
        dtype: Any = None,
        callbacks: list[Callback] | None = None,
        preprocessor: Any = None,
    ) -> None:
        self.n_components = n_components
        self.lambda_ = lambda_
        self.epsilon = epsilon
        self.gamma = gamma
        self.constraint = constraint
        self.batch_size = batch_size
        self.max_iter = max_iter
        self.s_solver = s_solver
        self.s_max_iter = s_max_iter
        self.transform_max_iter = transform_max_iter
        self.init = init
        self.tol = tol
        self.random_state = random_state
        self.dtype = dtype
        self.callbacks = callbacks
        self.preprocessor = preprocessor

    # -- the pieces that differ between the plain and topographic variants -------------------
    def _sparsity_term(self):
        return SmoothedL1(self.epsilon)

    def _sparsity_curvature(self) -> float:
        """Bound on the second derivative of the unweighted sparsity term: 1/√ε."""
        return 1.0 / np.sqrt(self.epsilon)

    # -- BaseTrainer hooks ------------------------------------------------------------------
    def _setup(self, x: np.ndarray) -> None:
        self._k = self.n_components if self.n_components is not None else x.shape[0]
        self._b = min(self.batch_size, x.shape[1])
        self._sparsity = self._sparsity_term()

    def _param_shape(self, name: str) -> tuple[int, ...]:
        return (self._n, self._k)

    def _initialize(self, x: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
        return {"A": _initial_atoms(x, self._k, self.init, rng)}

    def _objective(self, A: np.ndarray, x: np.ndarray, clock: EvalClock):
        """The bound s-step objective ``s -> J(A, s)`` (without the constant weight decay)."""
        term = clock.call(Reconstruction.fixed_basis, A, x)
        total = (1.0 / self._b) * term + self.lambda_ * self._sparsity

        def fun(s: np.ndarray) -> tuple[float, np.ndarray]:
            return total.value_and_grad({"s": s}, "s")

        return guarded(clock.timed(fun))

    def _lipschitz(self, A: np.ndarray) -> float:
        """``L = (2/b)‖A‖₂² + λ·c/√ε`` bounds the Hessian of the s-step objective."""
        with np.errstate(over="ignore", invalid="ignore"):
            top = np.float64(np.linalg.norm(A, 2)) ** 2
        lipschitz = 2.0 * top / self._b + self.lambda_ * self._sparsity_curvature()
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
            gram[np.diag_indices(k)] += self.gamma * b
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
            picks = rng.choice(b, size=int(dead.sum()), replace=False)
            fresh = x[:, picks]
            fresh_norms = np.linalg.norm(fresh, axis=0)
            fresh_norms[fresh_norms == 0] = 1.0
            A[:, dead] = fresh / fresh_norms
            s[dead] = 0
            norms[dead] = 1.0
        A = A / norms
        return A.astype(x.dtype, copy=False), s

    def _iterate(self, x, params, rng, clock):
        m = x.shape[1]
        if self._b < m:
            batch = take_columns(x, np.sort(rng.choice(m, size=self._b, replace=False)))
        else:
            batch = x
        A = params["A"]
        with clock.section("s_step"):
            s, result = self._solve_codes(A, batch, self.s_max_iter, clock)
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
        total = (1.0 / self._b) * Reconstruction() + self.lambda_ * self._sparsity
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

        Every column's problem ``(1/b)‖A s_j − x_j‖² + λ Σ√(V(s_j∘s_j) + ε)`` uses the ``b``
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
            \\frac{1}{b}\\lVert A s - x\\rVert^2 + \\lambda \\sum\\sqrt{V(s\\circ s)+\\epsilon}

        (the weight decay, constant in ``s``, is left out). ``S`` is ``(n_samples,
        n_components)``. More than :attr:`_transform_block` examples are evaluated in column
        blocks (of ``X`` and the matching rows of ``S``) and the values summed, so the memory
        does not grow with ``m``; the result equals the one-block evaluation up to rounding.
        """
        self._check_fitted()
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
        total = (1.0 / self._b) * Reconstruction() + self.lambda_ * self._sparsity
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


def _initial_atoms(x: np.ndarray, k: int, init: str, rng: np.random.Generator) -> np.ndarray:
    """``k`` unit-norm atoms (``n × k``): random data columns (``"data"``) or Gaussian noise."""
    n, m = x.shape
    if init == "data":
        count = min(k, m)
        A = np.empty((n, k), dtype=x.dtype)
        A[:, :count] = take_columns(x, rng.choice(m, size=count, replace=False))
        A[:, count:] = rng.standard_normal((n, k - count))
    else:
        A = rng.standard_normal((n, k)).astype(x.dtype)
    norms = np.linalg.norm(A, axis=0)
    norms[norms == 0] = 1.0
    return (A / norms).astype(x.dtype)


def _column_fista(
    fun: Any, s0: np.ndarray, lipschitz: float, max_iter: int
) -> np.ndarray:
    """:func:`trainers.solvers.accelerated_gradient` with the restart decided per column.

    For an objective that is a sum of per-column terms (the s-step's: every code column has its
    own problem), each column runs its own accelerated iteration: step ``1/L``, momentum
    ``τ_j`` and the gradient restart ``τ_j ← 1`` when ``⟨∇f(y)_j, x⁺_j − x_j⟩ > 0``. A column's
    iterates then do not depend on the other columns (the shared restart of the training
    s-step does), so solving the columns in blocks gives the codes of a whole-batch solve.
    Returns the last ``x``.
    """
    if not (np.isfinite(lipschitz) and lipschitz > 0):
        raise ValueError(f"_column_fista: lipschitz must be a positive float; got {lipschitz!r}")
    step = s0.dtype.type(-1.0 / lipschitz)
    x = s0.copy()
    y = s0.copy()
    x_new = np.empty_like(s0)
    delta = np.empty_like(s0)
    tau = np.ones(s0.shape[1])
    for _ in range(int(max_iter)):
        _, grad = fun(y)
        np.multiply(grad, step, out=x_new)  # x_new = y − ∇f(y)/L
        x_new += y
        np.subtract(x_new, x, out=delta)
        tau[np.einsum("ij,ij->j", grad, delta) > 0.0] = 1.0
        tau_new = 0.5 * (1.0 + np.sqrt(1.0 + 4.0 * tau * tau))
        np.multiply(delta, ((tau - 1.0) / tau_new).astype(s0.dtype), out=y)
        y += x_new
        x, x_new, tau = x_new, x, tau_new
    return x


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
        J(A, s) = \frac{1}{b}\lVert A s - x\rVert_F^2 + \lambda \sum \sqrt{V (s\circ s) + \epsilon}
                  + \gamma \lVert A\rVert_F^2 ,

    with ``V = grouping_matrix(grid, pool, wrap=True)``: the ``k = rows·cols`` features sit on a
    ``rows × cols`` torus and each grid cell pools the ``pool × pool`` block starting there
    (UFLDL: 121 features on 11 × 11, pool 3). ``X`` is ``(n_samples, n_features)``, transposed
    inside. Parameters as :class:`SparseCoding`, plus:

    Parameters
    ----------
    grid : (int, int)
        Torus shape; ``n_components`` must be ``rows·cols`` (or None).
    pool : int
        Side of the square pooling neighbourhood.
    """

    _parameter_constraints: ClassVar[dict] = {**_COMMON, **TORUS_CONSTRAINTS}

    def __init__(
        self,
        n_components: int | None = None,
        *,
        grid: tuple[int, int] = (11, 11),
        pool: int = 3,
        wrap: bool = True,
        lambda_: float = 5e-4,
        epsilon: float = 1e-5,
        gamma: float = 1e-2,
        constraint: str = "weight_decay",
        batch_size: int = 2000,
        max_iter: int = 200,
        s_solver: str = "accelerated",
        s_max_iter: int = 50,
        transform_max_iter: int = 300,
        init: str = "data",
        tol: float = 0.0,
        random_state: Any = None,
        dtype: Any = None,
        callbacks: list[Callback] | None = None,
        preprocessor: Any = None,
    ) -> None:
        super().__init__(
            n_components, lambda_=lambda_, epsilon=epsilon, gamma=gamma, constraint=constraint,
            batch_size=batch_size, max_iter=max_iter, s_solver=s_solver, s_max_iter=s_max_iter,
            transform_max_iter=transform_max_iter, init=init, tol=tol, random_state=random_state,
            dtype=dtype, callbacks=callbacks, preprocessor=preprocessor,
        )
        self.grid = grid
        self.pool = pool
        self.wrap = wrap

    def _check_param_relations(self) -> None:
        check_torus(type(self).__name__, self.n_components, self.grid, self.pool)

    def _setup(self, x: np.ndarray) -> None:
        rows, cols = self.grid
        self.n_components_ = rows * cols
        super()._setup(x)
        self._k = rows * cols
        self.grouping_ = grouping_matrix((rows, cols), pool=self.pool, wrap=self.wrap)

    def _sparsity_term(self):
        rows, cols = self.grid
        V = grouping_matrix((rows, cols), pool=self.pool, wrap=self.wrap)
        return TopographicL1(V, self.epsilon)

    def _sparsity_curvature(self) -> float:
        """Bound ``max_j Σ_g V_gj / √ε`` on the Hessian norm of ``Σ√(V(s∘s)+ε)``."""
        V = self._sparsity.V
        return float(V.sum(axis=0).max()) / np.sqrt(self.epsilon)


_ONLINE = {
    "n_components": OR_NONE(Interval(int, 1, None)),
    "alpha": Interval(float, 0.0, None),
    "batch_size": Interval(int, 1, None),
    "max_iter": Interval(int, 0, None),
    "code_max_iter": Interval(int, 1, None),
    "code_tol": Interval(float, 0.0, None),
    "transform_max_iter": Interval(int, 1, None),
    "transform_tol": Interval(float, 0.0, None),
    "dict_sweeps": Interval(int, 1, None),
    "forget_rate": Interval(float, 0.0, None),
    "init": Options(["data", "random"]),
    "tol": Interval(float, 0.0, None),
    "random_state": IS_RANDOM_STATE,
    "dtype": IS_DTYPE,
    "callbacks": IS_CALLBACKS,
    "preprocessor": IS_PREPROCESSOR,
}


class OnlineDictionaryLearning(BaseTrainer):
    r"""Sparse coding with an exact L1 penalty, learned online (Mairal et al. 2010).

    Minimises the expected per-example lasso cost over unit-ball atoms,

    .. math::
        \min_{A:\ \lVert a_j\rVert \le 1}\ \frac{1}{m}\sum_{i=1}^{m}\ \min_{s_i}\
        \tfrac12\lVert x_i - A s_i\rVert^2 + \alpha \lVert s_i\rVert_1 ,

    the objective of scikit-learn's ``MiniBatchDictionaryLearning`` and SPAMS' ``trainDL``
    (``mode=2`` with ``lambda2=0``): ``alpha`` is their α, per example, whatever the batch size.

    Each outer iteration draws a mini-batch ``x`` of ``b = batch_size`` examples (without
    replacement inside the batch; gathered by :func:`trainers.columns.take_columns`, which reads
    the rows of a memory-mapped ``X`` without mapping its pages), then

    1. **codes**: the batch of lassos by :func:`trainers.solvers.lasso_fista` on ``G = AᵀA`` and
       ``Aᵀx`` (one ``k × k × b`` GEMM per iteration), warm-started at ``soft(Aᵀx, α)`` (the
       solution were the atoms orthonormal); at most ``code_max_iter`` iterations, fewer when
       the relative change of the codes falls below ``code_tol``. The codes need not be
       converged: the statistics average over many batches, and a few iterations on more
       batches learn a better dictionary in the same time than many on fewer;
    2. **statistics**: the running sums of the paper, ``𝐀 ← β𝐀 + s sᵀ/b`` (``k × k``) and
       ``𝐁 ← β𝐁 + x sᵀ/b`` (``n × k``), with the forgetting factor of its §3.4.2,
       ``β_t = (1 − 1/t)^ρ`` (``t`` = 1-based batch count, ``ρ = forget_rate``), so batch ``i``
       weighs ``(i/t)^ρ`` at time ``t``: ``ρ = 0`` is a plain mean over all batches, and a
       larger ρ forgets the statistics of the early, poor atoms sooner (on whitened natural
       patches ρ = 8 reached SPAMS' held-out objective in 2-3 passes where ρ = 1, close to
       scikit-learn's schedule, stayed 2-3 % above it after 10);
    3. **atoms**: ``dict_sweeps`` block-coordinate sweeps on the surrogate
       ``½ tr(Aᵀ A 𝐀) − tr(Aᵀ 𝐁)``: for ``j = 1..k``,
       ``u = a_j + (𝐁_j − A 𝐀_j)/𝐀_jj`` and ``a_j = u / max(‖u‖, 1)`` (exact minimisation over
       ``a_j`` on the unit ball). An atom with ``𝐀_jj ≤ 10⁻⁶·mean(diag 𝐀)`` (unused) is
       replaced by a random example of the batch, normalised, and its rows of the statistics
       are cleared.

    No state of size ``k × m`` is kept: memory is the data (or its mapping) plus ``O(b(n + k))``.

    Parameters
    ----------
    n_components : int or None
        Number of atoms ``k`` (default: ``n_features``).
    alpha : float
        L1 weight α of the per-example objective ``½‖x − As‖² + α‖s‖₁``.
    batch_size : int
        Examples per outer iteration (all of them if fewer).
    max_iter : int
        Outer iterations, i.e. mini-batches (one pass over ``m`` examples is ``m / batch_size``
        of them). ``0`` leaves the initial atoms.
    code_max_iter : int
        Most FISTA iterations for the codes of one batch.
    code_tol : float
        Stop the code solver when the relative change of the codes between two checks (every 5
        iterations) is at most this (0: always ``code_max_iter``).
    transform_max_iter, transform_tol : int, float
        The same for :meth:`transform`.
    dict_sweeps : int
        Block-coordinate sweeps over the atoms per batch.
    forget_rate : float
        Forgetting exponent ρ ≥ 0 of the running statistics (see above).
    init : {"data", "random"}
        Initial atoms: random examples, or Gaussian noise; normalised to unit norm.
    tol : float
        Stop when the relative change of the batch objective between outer iterations is below
        ``tol`` (0 disables; mini-batch objectives are noisy).
    random_state : None, int or numpy Generator
        Seed of the Generator behind every random draw.
    dtype : None, float32 or float64
        Computation dtype (default: that of ``X``, float64 for integers). float32 halves the
        time of the code solver's GEMMs.
    callbacks : list of Callback
        See :class:`trainers.Callback`.
    preprocessor : object with transform/inverse_transform, optional
        A fitted whitener applied (on ``n × m`` arrays) to raw data in ``fit``/``transform``
        and inverted by ``inverse_transform``.

    Attributes
    ----------
    components_ : ndarray of shape (n_components, n_features)
        The atoms, columns of ``A``, as rows (norm ≤ 1).
    n_iter_ : int
    history_ : list of dict
        One record per outer iteration, measured on its batch with the codes solved for the
        atoms before that iteration's update (what :meth:`transform` delivers):
        ``objective`` (mean ``½‖x − As‖² + α‖s‖₁``), ``reconstruction`` (mean ``½‖x − As‖²``),
        ``l1`` (mean ``‖s‖₁``), ``reconstruction_error`` (mean ``‖x − As‖²``), ``sparsity``
        (mean ``|s|``), ``nonzeros`` (mean non-zeros per code), ``code_iter`` (FISTA
        iterations used), ``code_change`` (its last relative change), ``surrogate`` (the
        surrogate after the atom update), ``replaced`` (atoms re-seeded), ``step_size``
        (the code solver's ``1/L``), ``code_time`` (seconds in the code solver; the code step
        counts as objective evaluation), ``wall_time``, ``eval_time``, ``eval_share``.

    Notes
    -----
    ``state_dict()["solver_state"]`` holds ``𝐀`` (``"gram"``), ``𝐁`` (``"cross"``) and the
    number of batches seen, so a resumed fit is bit-identical to an uninterrupted one.
    """

    _parameter_constraints: ClassVar[dict] = dict(_ONLINE)
    _param_names: ClassVar[tuple[str, ...]] = ("A",)

    def __init__(
        self,
        n_components: int | None = None,
        *,
        alpha: float = 1.0,
        batch_size: int = 1024,
        max_iter: int = 100,
        code_max_iter: int = 10,
        code_tol: float = 1e-3,
        transform_max_iter: int = 1000,
        transform_tol: float = 1e-6,
        dict_sweeps: int = 1,
        forget_rate: float = 8.0,
        init: str = "data",
        tol: float = 0.0,
        random_state: Any = None,
        dtype: Any = None,
        callbacks: list[Callback] | None = None,
        preprocessor: Any = None,
    ) -> None:
        self.n_components = n_components
        self.alpha = alpha
        self.batch_size = batch_size
        self.max_iter = max_iter
        self.code_max_iter = code_max_iter
        self.code_tol = code_tol
        self.transform_max_iter = transform_max_iter
        self.transform_tol = transform_tol
        self.dict_sweeps = dict_sweeps
        self.forget_rate = forget_rate
        self.init = init
        self.tol = tol
        self.random_state = random_state
        self.dtype = dtype
        self.callbacks = callbacks
        self.preprocessor = preprocessor

    # -- BaseTrainer hooks ------------------------------------------------------------------
    def _setup(self, x: np.ndarray) -> None:
        self._k = self.n_components if self.n_components is not None else x.shape[0]
        self._b = min(self.batch_size, x.shape[1])

    def _param_shape(self, name: str) -> tuple[int, ...]:
        return (self._n, self._k)

    def _initialize(self, x: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
        return {"A": _initial_atoms(x, self._k, self.init, rng)}

    def _initial_solver_state(self) -> dict[str, Any]:
        return {"gram": np.zeros((self._k, self._k), dtype=self._dtype),
                "cross": np.zeros((self._n, self._k), dtype=self._dtype),
                "batches": 0}

    def _prepare(self, x: np.ndarray) -> None:
        """Check the running statistics (from a resume state) and bring them to the dtype."""
        owner = type(self).__name__
        state = self._solver_state
        missing = {"gram", "cross", "batches"} - set(state)
        if missing:
            raise ValueError(f"{owner}: resume solver_state lacks {', '.join(sorted(missing))}")
        for key, shape in (("gram", (self._k, self._k)), ("cross", (self._n, self._k))):
            value = np.asarray(state[key], dtype=self._dtype)
            if value.shape != shape:
                raise ValueError(
                    f"{owner}: resume solver_state {key!r} must have shape {shape}; "
                    f"got {value.shape}"
                )
            state[key] = np.ascontiguousarray(value)
        state["batches"] = int(state["batches"])

    def _codes(self, A: np.ndarray, x: np.ndarray, max_iter: int, tol: float) -> LassoResult:
        """Lasso codes of the columns of ``x`` for atoms ``A`` (FISTA on the Gram form)."""
        G = A.T @ A
        small = A @ A.T if A.shape[0] < A.shape[1] else G
        lipschitz = float(np.linalg.eigvalsh(small.astype(np.float64))[-1])
        if not np.isfinite(lipschitz):
            raise NonFiniteObjective("the atoms are not finite")
        Atx = A.T @ x
        # warm start soft(Aᵀx, α): the exact solution were the atoms orthonormal (G = I)
        s0 = Atx - np.clip(Atx, -self.alpha, self.alpha)
        return lasso_fista(G, Atx, self.alpha, max_iter, tol=tol, lipschitz=lipschitz, s0=s0)

    def _beta(self, t: int) -> float:
        """Weight ``β = (t/(t+1))^ρ`` of the past statistics when adding batch ``t`` (0-based)."""
        return (t / (t + 1.0)) ** self.forget_rate if t > 0 else 0.0

    def _iterate(
        self, x: np.ndarray, params: dict[str, np.ndarray], rng: np.random.Generator,
        clock: EvalClock,
    ) -> tuple[dict[str, np.ndarray], dict[str, float], dict[str, Any]]:
        """Codes of a fresh batch, then the statistics, then a sweep over the atoms."""
        m = x.shape[1]
        if self._b < m:
            batch = take_columns(x, np.sort(rng.choice(m, size=self._b, replace=False)))
        else:
            batch = np.ascontiguousarray(x)
        A = params["A"]
        b = batch.shape[1]
        with clock.section("code_step"):
            result = clock.call(self._codes, A, batch, self.code_max_iter, self.code_tol)
        code_time, _ = clock.sections.pop("code_step")
        s = result.s
        residual = A @ s
        residual -= batch
        squared = float(np.einsum("ij,ij->", residual, residual)) / b
        l1 = float(np.abs(s).sum()) / b
        measured = {
            "objective": 0.5 * squared + self.alpha * l1,
            "reconstruction": 0.5 * squared,
            "l1": l1,
            "reconstruction_error": squared,
            "sparsity": l1 / s.shape[0],
            "nonzeros": float(np.count_nonzero(s)) / b,
        }
        if not np.isfinite(measured["objective"]):
            raise NonFiniteObjective(f"objective is {measured['objective']!r}")
        state = self._solver_state
        t = int(state["batches"])
        beta = s.dtype.type(self._beta(t))
        scale = s.dtype.type(1.0 / b)
        gram = state["gram"] * beta
        gram += (s @ s.T) * scale
        cross = state["cross"] * beta
        cross += (batch @ s.T) * scale
        A, replaced = _bcd_atoms(A, gram, cross, self.dict_sweeps, batch, rng)
        if not np.isfinite(A).all():
            raise NonFiniteObjective("the atom update produced non-finite atoms")
        surrogate = 0.5 * float(np.einsum("ij,ij->", A.T @ A, gram)) - float(
            np.einsum("ij,ij->", A, cross))
        self._solver_state = {"gram": gram, "cross": cross, "batches": t + 1}
        extras = {
            "code_iter": result.n_iter,
            "code_change": result.change,
            "surrogate": surrogate,
            "replaced": replaced,
            "step_size": result.step_size,
            "code_time": code_time,
        }
        return {"A": A}, measured, extras

    def _measure(
        self, data: dict[str, float], params: dict[str, np.ndarray], clock: EvalClock
    ) -> dict[str, float]:
        """The batch values measured in :meth:`_iterate` (with the atoms the codes saw)."""
        return dict(data)

    # -- model ------------------------------------------------------------------------------
    @property
    def components_(self) -> np.ndarray:
        """Atoms as rows, ``(n_components, n_features)``."""
        self._check_fitted()
        return np.ascontiguousarray(self._params["A"].T)

    def _encode(self, x: np.ndarray) -> np.ndarray:
        A = self._params["A"]
        out = np.empty((A.shape[1], x.shape[1]), dtype=x.dtype)
        # blocks of columns bound the solver's k × block work arrays (and a memmap's pages)
        for start, stop, block in column_blocks(x, block=8192):
            out[:, start:stop] = self._codes(A, block, self.transform_max_iter,
                                             self.transform_tol).s
        return out

    def _decode(self, s: np.ndarray) -> np.ndarray:
        return self._params["A"] @ s

    def objective(self, X: Any, S: Any | None = None) -> float:
        """Mean ``½‖x − As‖² + α‖s‖₁`` per example of ``X`` with codes ``S``.

        ``S`` defaults to :meth:`transform` ``(X)``.
        """
        self._check_fitted()
        x = self._to_columns(X, self._dtype)
        A = self._params["A"]
        s = self._encode(x) if S is None else np.ascontiguousarray(
            np.asarray(S, dtype=self._dtype).T)
        residual = A @ s - x
        value = 0.5 * float(np.einsum("ij,ij->", residual, residual)) + self.alpha * float(
            np.abs(s).sum())
        return value / x.shape[1]


def _bcd_atoms(
    A: np.ndarray, gram: np.ndarray, cross: np.ndarray, sweeps: int, batch: np.ndarray,
    rng: np.random.Generator,
) -> tuple[np.ndarray, int]:
    """Block-coordinate descent on ``½ tr(AᵀA 𝐀) − tr(Aᵀ𝐁)`` over unit-ball atoms.

    Updates ``gram``/``cross`` in place where an unused atom is re-seeded (its row and column of
    ``𝐀`` and its column of ``𝐁`` are cleared). Returns the new ``A`` (``n × k``) and the number
    of re-seeded atoms.
    """
    k = A.shape[1]
    D = np.array(A.T, order="C")  # atoms as contiguous rows
    Bt = np.ascontiguousarray(cross.T)
    diag = np.diagonal(gram).copy()
    floor = 1e-6 * max(float(diag.mean()), float(np.finfo(A.dtype).tiny))
    replaced = 0
    one = A.dtype.type(1.0)
    for sweep in range(int(sweeps)):
        for j in range(k):
            d = diag[j]
            if d <= floor:
                if sweep == 0:
                    pick = batch[:, int(rng.integers(batch.shape[1]))]
                    norm = float(np.linalg.norm(pick))
                    D[j] = pick / norm if norm > 0 else rng.standard_normal(D.shape[1])
                    D[j] /= max(float(np.linalg.norm(D[j])), 1e-300)
                    gram[j, :] = 0
                    gram[:, j] = 0
                    cross[:, j] = 0
                    Bt[j] = 0
                    replaced += 1
                continue
            u = Bt[j] - gram[j] @ D
            u *= one / d
            u += D[j]
            norm = float(np.sqrt(u @ u))
            if norm > 1.0:
                u *= one / A.dtype.type(norm)
            D[j] = u
    return np.ascontiguousarray(D.T), replaced
