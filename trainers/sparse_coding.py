r"""Sparse coding by alternating minimisation (UFLDL sparse coding exercise), plain and topographic.

Objective (UFLDL's scaling), on a mini-batch ``x`` (``n × b``) with codes ``s`` (``k × b``) and
basis ``A`` (``n × k``):

.. math::
    J(A, s) = \frac{1}{b} \lVert A s - x \rVert_F^2
              + \alpha \sum \sqrt{V (s \circ s) + \epsilon} + \gamma \lVert A \rVert_F^2

(``V = I`` for plain sparse coding, a torus grouping matrix for the topographic variant): exactly
the exercise's cost, ``sparseCodingFeatureCost.m`` (``‖As − x‖²/b + λ Σ√(V s² + ε)``) plus the
weight decay of ``sparseCodingWeightCost.m``, with ``α = λ`` (ratio 1; ``V`` the exercise's
``groupMatrix`` of ``pool × pool`` torus windows).

Each outer iteration draws a fresh mini-batch of ``b = batch_size`` columns (UFLDL: 2000),
warm-starts ``s = Aᵀx`` with row ``i`` scaled by ``1/‖A_i‖²``, runs ``inner_iter`` iterations of
the s-step solver on the bound term ``Reconstruction.fixed_basis(A, x)`` (so an evaluation costs
one ``k × k × b`` GEMM), then sets ``A`` in closed form.

A-step, ``constraint="weight_decay"`` (UFLDL):
    ``A = x sᵀ (s sᵀ + γ b I)⁻¹``, the exact minimiser of J over A, then the **scale step**
    (:func:`~trainers.coding_steps.balance_scales`): atom ``i`` times ``t_i``, its codes divided
    by ``t_i`` (``As`` unchanged), with ``t`` lowering ``α Σ√(…) + γ‖A‖²``. Without it the
    scheme feeds back on itself when the s-step stops short (large α/√ε, small ``inner_iter``):
    oversized codes make the A-step shrink the atoms, whose warm-started codes grow further
    (issue 13: ``‖A‖²`` 126 → 1.2e-11 and J 170 → 1.9e9 in 50 iterations at α = 1e-3); the step
    never raises J and keeps the atoms at the norms where the two terms balance.
A-step, ``constraint="unit_norm"`` (scikit-learn, SPAMS; γ unused):
    the least-squares update ``A = x sᵀ (s sᵀ)⁻¹`` (MOD, Engan et al. 1999), then every column
    rescaled to unit norm with the inverse scale moved into the matching row of ``s`` (``As``
    unchanged), or, when that gives the lower J, one sweep of exact per-atom minimisation on
    the unit sphere with the codes kept (:func:`~trainers.coding_steps.sphere_sweep`; MOD's
    rescaling blows up the codes of atoms the codes barely use). Atoms that the codes no longer
    use are re-seeded with a random data column of
    the batch (drawn from the step stream of :mod:`trainers.minibatch`, not from the Generator
    that draws the batches). Fixing the atom norms removes the scale ambiguity between ``A``
    and ``s``, so α alone sets the sparsity; MOD's joint least-squares update recovers a
    planted dictionary faster than one projected-gradient step per block would.

Divergence (:mod:`trainers.divergence`): besides a non-finite objective, an objective growing
past 3× its lowest (smoothed over at least 5 iterations and 500 examples) or, with weight
decay, ``‖A‖_F`` collapsing below 1e-3 of its largest stops the fit with ``TrainingDiverged``
naming α, ``inner_iter`` and ``constraint`` as the knobs; an ill-conditioned A-step warns once
(:class:`~trainers.coding_steps.IllConditionedWarning`) with what to change.

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

from sparselearn.objectives import Reconstruction, Sparsity, WeightDecay

from .base import BaseTrainer, NonFiniteObjective, guarded
from .coding_safety import CodingSafetyMixin
from .coding_steps import mean_squared_residual, projection_codes
from .coding_transform import CodingTransformMixin
from .minibatch import MiniBatchMixin
from .parts import IS_GROUPING, IS_PENALTY, PartsMixin
from .solvers import (
    SolverResult,
    accelerated_gradient,
    lbfgs,
    nonlinear_cg,
)
from .state import Callback
from .timing import EvalClock
from .validation import COMMON_PARAMETERS, IS_INITIAL_MATRIX, OR_NONE, Interval, Options

__all__ = ["SC_PARAMETERS", "SparseCoding"]

#: Constraints of the parameters of the sparse-coding estimators.
SC_PARAMETERS = {
    **COMMON_PARAMETERS,
    "n_components": OR_NONE(Interval(int, 1, None)),
    "alpha": Interval(float, 0.0, None),
    "epsilon": Interval(float, 0.0, None, closed="neither"),
    "penalty": IS_PENALTY,
    "grouping": IS_GROUPING,
    "gamma": Interval(float, 0.0, None),
    "constraint": Options(["weight_decay", "unit_norm"]),
    "batch_size": Interval(int, 1, None),
    "s_solver": Options(["accelerated", "lbfgs", "cg"]),
    "inner_iter": Interval(int, 1, None),
    "transform_max_iter": Interval(int, 1, None),
    "init": Options(["data", "random"]),
    "dict_init": IS_INITIAL_MATRIX,
}


class SparseCoding(PartsMixin, CodingSafetyMixin, CodingTransformMixin, MiniBatchMixin,
                   BaseTrainer):
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

    _parameter_constraints: ClassVar[dict] = dict(SC_PARAMETERS)
    _param_names: ClassVar[tuple[str, ...]] = ("A",)
    #: every step works on an F-ordered batch (see the module docstring)
    _batch_order: ClassVar[str] = "F"

    def __init__(
        self,
        n_components: int | None = None,
        *,
        alpha: float = 5e-4,
        epsilon: float = 1e-5,
        penalty: Any = "smoothed_l1",
        grouping: Any = None,
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
        self.penalty = penalty
        self.grouping = grouping
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

    # -- the parts: penalty and grouping ----------------------------------------------------
    def _setup(self, x: np.ndarray) -> None:
        owner = type(self).__name__
        penalty, V = self._build_parts(x.shape[0])
        self._b = min(self.batch_size, x.shape[1])
        self._ill_conditioned_warned = False
        self._sparsity = Sparsity(penalty, V)
        if self.s_solver == "accelerated" and self._sparsity.curvature() is None:
            raise ValueError(
                f"{owner}: s_solver='accelerated' needs a curvature bound of the penalty, and "
                f"this layer table gives none (only tables of the form square, [V], then "
                f"element-wise rows do); use s_solver='lbfgs' or 'cg'"
            )

    def _sparsity_curvature(self) -> float:
        """Bound on the Hessian norm of the unweighted sparsity term (the penalty's)."""
        return self._sparsity.curvature()

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
        s0 = projection_codes(A, x)
        fun = self._objective(A, x, clock)
        if self.s_solver == "accelerated":
            result = accelerated_gradient(fun, s0, self._lipschitz(A), max_iter)
        elif self.s_solver == "lbfgs":
            result = lbfgs(fun, s0, max_iter)
        else:
            result = nonlinear_cg(fun, s0, max_iter)
        return result.x, result

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
        encoding_error = clock.call(mean_squared_residual, A, s, batch)
        encoding_sparsity = float(np.mean(np.abs(s)))
        A, s = self._update_basis(batch, s, rng, A)
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


def __getattr__(name: str) -> Any:
    """``OnlineDictionaryLearning`` and ``TopographicSparseCoding``, still importable from here."""
    if name == "OnlineDictionaryLearning":
        from .dictionary import OnlineDictionaryLearning
        return OnlineDictionaryLearning
    if name == "TopographicSparseCoding":
        from .topographic_sparse_coding import TopographicSparseCoding
        return TopographicSparseCoding
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
