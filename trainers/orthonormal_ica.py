r"""Orthonormal ICA (UFLDL's ICA exercise): sparse responses under ``W Wᵀ = I``."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from sparselearn.objectives import Penalty

from .base import NonFiniteObjective, guarded
from .fixed_point import SMOOTH_START, ResponsePass, fixed_point_chunk, fixed_point_pass
from .ica_base import ICA_PARAMETERS, ICABase, mean_abs_response
from .linalg import symmetric_orthonormalize
from .solvers import projected_gradient
from .state import Callback
from .tangent_lbfgs import (
    MEMORY,
    MIN_CURVATURE,
    PAIR_SMOOTHING,
    SWITCH_RATIO,
    empty_memory,
    quasi_newton_chunk,
)
from .validation import OR_NONE, Interval, Options

__all__ = ["OrthonormalICA"]

#: The solvers built on the fused pass and the fixed-point curvature (a penalty with φ″).
NEWTON_SOLVERS = ("quasi_newton", "fixed_point")


class OrthonormalICA(ICABase):
    r"""ICA with orthonormal filters on whitened data (UFLDL ICA exercise).

    .. math:: \min_W \; J(W) = \frac{1}{m}\sum \varphi\big(V (Wx)^{\circ 2}\big)
              \quad \text{s.t.} \quad W W^T = I,

    by default :math:`\varphi(u) = \sqrt{u + \epsilon}` and ``V = I``. ``X`` is
    ``(n_samples, n_features)``, transposed inside to ``x`` (``n × m``); it must be white
    (identity covariance) for the constraint to make sense. ``n_components ≤ n_features``.

    **Solvers.** ``solver="fixed_point"``: the symmetric FastICA-style fixed-point step
    ``W ← sym((D + μI) W − G)`` with ``G = ∇J`` and ``D`` the mean slope of the contrast times
    the data's mean variance (:mod:`trainers.fixed_point`; derivation in
    ``docs/fixed_point_ica.md``), one fused pass over the data per step, uphill steps rejected
    and damped. From a random start (no ``w_init``) the fixed point first takes its steps on
    the penalty smoothed to ``10 σ²`` (:meth:`~objectives.Penalty.smoothed`; a kurtosis-like
    contrast that unmixes a random start in far fewer steps) until no row turns by more than
    ``1 − |cos| = 0.3`` in a step, then on φ itself. The smooth start lies inside the first
    outer iteration (its steps count in that record's ``inner_steps``); every record holds
    ``J``.
    ``solver="quasi_newton"``: the fixed point (with its smooth start) until a step goes
    uphill or an outer iteration lowers ``J`` by more than half the previous one's decrease
    (it converges linearly: the ICA model behind its curvature does not describe the data, as
    on natural image patches), then L-BFGS on the orthogonal group, ``W ← exp(E) W``, with
    the pair curvature of the responses as the initial Hessian (:mod:`trainers.tangent_lbfgs`,
    after Picard-O); one fused pass per trial step; the memory is part of ``solver_state``.
    Rotations keep the rows' span, so it needs ``n_components`` = the (whitened) features.
    ``solver="projected_gradient"``: a gradient step, then the symmetric
    projection ``W ← (WWᵀ)^(−1/2) W`` (``UVᵀ`` of the SVD), with an Armijo backtracking line
    search that shrinks the step on failure and doubles it after success. ``solver="auto"``
    (default): the quasi-Newton solver where it applies (a penalty with a second derivative,
    no grouping, a complete basis), the fixed point for fewer components than features, else
    the projected gradient; on ICA mixtures it takes the fixed point's
    steps, on natural image patches it reaches a given objective in a fraction of the fixed
    point's passes (``benchmarks/RESULTS.md``). Each outer iteration takes ``inner_iter``
    accepted steps (fixed point: at most ``inner_iter + 20`` tries); the history record at the
    end reuses the last pass (no extra pass over the data).

    Parameters
    ----------
    n_components : int or None
        Number of filters ``k`` (default ``n_features``).
    epsilon : float
        Smoothing ε of the smoothed L1 penalty (UFLDL's exercise: 1e-6 at its covariance
        ``I/m``, about 0.02 at unit variance).
    penalty : str, mapping, Penalty or layer table
        The sparsity penalty φ (default ``"smoothed_l1"`` with ``epsilon``); see
        :mod:`trainers.parts`. ``solver="fixed_point"`` needs a :class:`~objectives.Penalty`
        with ``d2phi`` (it uses φ″).
    grouping : None or mapping
        Pool the squared responses over a torus (``{"grid": (r, c), "pool": 3}``): a
        topographic orthonormal ICA; projected gradient only.
    step_size : float
        First trial step of the line search (``solver="projected_gradient"`` only).
    solver : {"auto", "quasi_newton", "fixed_point", "projected_gradient"}
        The solver (see *Solvers*); ``"auto"`` picks the quasi-Newton solver where it applies.
    max_iter : int
        Outer iterations (default 500, as Picard); each takes ``inner_iter`` accepted steps.
    inner_iter : int or None
        Steps per outer iteration (the unit of checkpoints and history records); None
        (default): 1 for the quasi-Newton and fixed-point solvers, whose record comes from the
        step's own pass (as FastICA counts its iterations), 10 for the projected gradient.
    tol : float
        Stop when the relative objective change between outer iterations is below ``tol``
        (default 1e-6, far below the sampling error of ``J`` at any useful ``m``; the fixed
        point's last digits of a nearly non-smooth ``J`` at ε = 1e-6 come slowly and do not
        move the filters).
    random_state, dtype, callbacks, preprocessor
        As in :class:`~sparselearn.trainers.SparseCoding`.
    whiten : {False, "unit-variance"}
        ``False`` (default): ``X`` is already white (the configs whiten in their data step).
        ``"unit-variance"``: centre ``X`` and whiten it inside ``fit`` (PCA to unit variance, as
        FastICA's ``whiten="unit-variance"``), so raw data can be passed; ``transform`` applies
        the same centring and whitening.
    w_init : array-like of shape (n_components, n_whitened_features), optional
        Initial filters (in the whitened space when ``whiten`` is set); replaces the random
        start and is processed like it (orthonormalised, or scaled to unit rows). Not modified.
    blas_threads : int or None
        Maximum BLAS threads used by ``fit``, ``transform`` and ``inverse_transform``
        (threadpoolctl); None leaves the BLAS default. Default 1: the matrices are small.

    Attributes
    ----------
    components_ : ndarray (n_components, n_features)
        Filters as rows (orthonormal, in the whitened space; ``W @ whitening_`` with
        ``whiten``).
    mean_ : ndarray (n_features,)
        Mean removed before whitening (zeros when ``whiten=False``).
    mixing_ : ndarray (n_features, n_components)
        Pseudo-inverse of ``components_``: ``transform(X) @ mixing_.T + mean_`` gives ``X``
        back for a complete model.
    whitening_ : ndarray (n_whitened_features, n_features)
        Only with ``whiten``: the whitening matrix applied to ``X − mean_``.
    history_ : list of dict
        Records with ``objective``, ``ica_sparsity`` (the sparsity term's name),
        ``ica_reconstruction``,
        ``reconstruction_error``, ``sparsity`` (mean |Wx|), ``step_size`` (last accepted step;
        NaN for ``"fixed_point"``, which records ``inner_steps`` and ``damping``, and
        ``"quasi_newton"``, which also records ``memory``: its L-BFGS pairs, 0 while the fixed
        point runs),
        ``wall_time``, ``eval_time``, ``eval_share``.
    """

    _parameter_constraints: ClassVar[dict] = {
        **ICA_PARAMETERS, "step_size": Interval(float, 0.0, None, closed="neither"),
        "inner_iter": OR_NONE(Interval(int, 1, None)),
        "solver": Options(("auto", "quasi_newton", "fixed_point", "projected_gradient"))}

    def __init__(
        self,
        n_components: int | None = None,
        *,
        epsilon: float = 1e-6,
        penalty: Any = "smoothed_l1",
        grouping: Any = None,
        step_size: float = 1.0,
        solver: str = "auto",
        max_iter: int = 500,
        inner_iter: int | None = None,
        tol: float = 1e-6,
        random_state: Any = None,
        dtype: Any = None,
        callbacks: list[Callback] | None = None,
        preprocessor: Any = None,
        whiten: str | bool = False,
        w_init: Any = None,
        blas_threads: int | None = 1,
    ) -> None:
        self.n_components = n_components
        self.epsilon = epsilon
        self.penalty = penalty
        self.grouping = grouping
        self.step_size = step_size
        self.solver = solver
        self.max_iter = max_iter
        self.inner_iter = inner_iter
        self.tol = tol
        self.random_state = random_state
        self.dtype = dtype
        self.callbacks = callbacks
        self.preprocessor = preprocessor
        self.whiten = whiten
        self.w_init = w_init
        self.blas_threads = blas_threads

    def _setup(self, x: np.ndarray) -> None:
        super()._setup(x)
        if self._k > x.shape[0]:
            raise ValueError(
                f"OrthonormalICA: parameter 'n_components' must be at most n_features = "
                f"{x.shape[0]} (orthonormal rows); got {self._k!r}."
            )
        # one fused pass gives value, Σ|y| (and the fixed-point step): a penalty, no pooling
        self._fused = isinstance(self._penalty, Penalty) and self._V is None
        newton = self._fused and type(self._penalty).d2phi is not Penalty.d2phi
        if self.solver in NEWTON_SOLVERS and not newton:
            raise ValueError(
                f"OrthonormalICA: solver={self.solver!r} needs a Penalty with a second "
                "derivative (d2phi) and no grouping; use solver='projected_gradient' for a "
                f"layer table or a grouping (penalty={self.penalty!r}, "
                f"grouping={self.grouping!r})"
            )
        # rotations exp(E) W keep the span of the rows: the quasi-Newton solver needs a
        # complete basis (k = n; always so after whiten="unit-variance")
        complete = self._k == x.shape[0]
        if self.solver == "quasi_newton" and not complete:
            raise ValueError(
                f"OrthonormalICA: solver='quasi_newton' needs n_components = the number of "
                f"(whitened) features, {x.shape[0]} (its rotations keep the rows' span); got "
                f"n_components={self._k}: use solver='fixed_point', or whiten='unit-variance' "
                "to whiten to n_components dimensions"
            )
        self._solver = self.solver if self.solver != "auto" else \
            ("projected_gradient" if not newton else
             "quasi_newton" if complete else "fixed_point")
        self._inner = self.inner_iter if self.inner_iter is not None else \
            (1 if self._solver in NEWTON_SOLVERS else 10)

    def _initialize(self, x, rng):
        return {"W": symmetric_orthonormalize(self._initial_W(x, rng))}

    def _whitened_dimension(self, rank: int, n: int) -> int:
        return self.n_components if self.n_components is not None else rank

    def _initial_solver_state(self) -> dict[str, Any]:
        # smoothing −1: the smooth start is still to come (its level is set from the data);
        # phase 1: the quasi-Newton solver has taken over from the fixed point (½: it takes
        # over at the next outer iteration)
        return {"step_size": float(self.step_size), "damping": 0.0, "smoothing": -1.0,
                "phase": 0.0, "decrease": 0.0}

    def _objective_terms(self, x: np.ndarray):
        return (1.0 / x.shape[1]) * self._sparsity

    def _prepare(self, x: np.ndarray) -> None:
        super()._prepare(x)
        self._pass_cache: ResponsePass | None = None  # the last pass, keyed by its W
        if self._fused:
            # the mean response variance σ² = tr(x xᵀ)/(n m): 1 on white data. The Newton
            # curvature of a row is E[g′]·σ² (the Hessian E[g′(y) x xᵀ] ≈ E[g′] C with C = σ²I), so
            # the step is the same whatever the overall scale of the data (with ε scaled as σ²)
            variance = float(np.trace(self._reconstruction.C, dtype=np.float64)) / x.size
            self._slope_penalty = self._penalty.for_slope(variance)
            self._pair_penalty = self._penalty.for_slope(variance, PAIR_SMOOTHING)
            self._curvature_scale = variance
        # the smooth start (fixed point from a random start only): see fixed_point_chunk
        start = SMOOTH_START * getattr(self, "_curvature_scale", 0.0)
        self._smooth_start = start if (
            self._solver in NEWTON_SOLVERS and self.w_init is None
            and self._penalty.smoothed(start) is not None) else 0.0

    def _cached_pass(self, W: np.ndarray) -> ResponsePass | None:
        """The cached pass if it was made at exactly this ``W`` (same fit, same data)."""
        cached = getattr(self, "_pass_cache", None)
        if cached is not None and np.array_equal(cached.W, W):
            return cached
        return None

    def _cache(self, result: ResponsePass) -> None:
        """Keep ``result`` with a private copy of its ``W`` (a callback may change ``W``)."""
        result.W = result.W.copy()
        self._pass_cache = result

    def _iterate(self, x, params, rng, clock):
        if self._solver in NEWTON_SOLVERS:
            return self._fixed_point_chunk(x, params["W"], clock)
        term = self._objective_terms(x)

        def fun(W: np.ndarray) -> tuple[float, np.ndarray]:
            return term.value_and_grad({"W": W, "x": x}, "W")

        result = projected_gradient(
            guarded(clock.timed(fun)), params["W"], symmetric_orthonormalize,
            self._solver_state["step_size"], self._inner,
        )
        self._solver_state["step_size"] = 2.0 * result.step_size
        return {"W": result.x}, x, {"step_size": result.step_size, "inner_evals": result.n_eval}

    def _fixed_point_chunk(self, x, W, clock):
        """``inner_iter`` accepted fixed-point steps (:func:`fixed_point_chunk`)."""
        penalty, slope_penalty = self._penalty, self._slope_penalty
        scale = self._curvature_scale
        state = self._solver_state

        def evaluate(W: np.ndarray, level: float | None, record: bool,
                     compare: float | None = None) -> ResponsePass:
            if level is None:  # the quasi-Newton phase also needs the pair curvature
                pairs = self._pair_penalty if state.get("phase", 0.0) >= 1.0 else None
                result = fixed_point_pass(
                    W, x, penalty, slope_penalty, record=record,
                    compare=None if compare is None else penalty.smoothed(compare),
                    pair_penalty=pairs)
            else:
                smooth = penalty.smoothed(level)
                result = fixed_point_pass(W, x, penalty, smooth.for_slope(scale),
                                          step_penalty=smooth, level=level, record=record)
            if not np.isfinite(result.step_value):
                if not np.isfinite(W).all():
                    raise NonFiniteObjective("iterate is not finite")
                raise NonFiniteObjective(f"objective is {result.step_value!r}")
            result.slope *= result.slope.dtype.type(scale)  # the curvature E[g′]·σ²
            return result

        evaluate = clock.timed(evaluate)
        # smoothing −1: the smooth start is still to come (it lies inside one chunk, so every
        # chunk after it starts from an unsmoothed pass)
        level = (self._smooth_start or None) if state.get("smoothing", 0.0) < 0 else None
        current = self._cached_pass(W)
        if current is None or current.G is None:
            current = evaluate(W, level, level is None)
        damping = float(state.get("damping", 0.0))
        quasi_newton = self._solver == "quasi_newton"
        steps, memory = 0, self._memory(W.shape[0])
        if not (quasi_newton and state.get("phase", 0.0) > 0.0):
            before = current.value if level is None else None
            W, current, damping, steps, uphill = fixed_point_chunk(
                evaluate, W, current, damping, self._inner, level, until_uphill=quasi_newton)
            if quasi_newton and before is not None:
                # the fixed point's curvature model fails where a step goes uphill or does not
                # at least halve the previous decrease (linear convergence): L-BFGS from then
                # on (phase ½: from the next chunk, whose first pass is a fixed-point pass
                # without pair curvatures, whether cached or made again after a resume)
                decrease = before - current.value
                slow = 0.0 < state.get("decrease", 0.0) * SWITCH_RATIO < decrease
                if slow and not uphill:
                    state["phase"], damping = 0.5, 0.0
                state["decrease"] = decrease
            if quasi_newton and uphill:  # (also right after the smooth start)
                state["phase"], damping = 1.0, 0.0
        if quasi_newton and state.get("phase", 0.0) > 0.0 and steps < self._inner:
            state["phase"] = 1.0  # the trial passes bring the pair curvatures
            W, current, memory, more = quasi_newton_chunk(
                evaluate, W, current, memory, self._inner - steps, x.shape[1],
                floor=MIN_CURVATURE * np.sqrt(self._curvature_scale))
            steps += more
        state["damping"] = damping
        state["smoothing"] = 0.0
        self._cache(current)
        record = {"step_size": float("nan"), "inner_steps": steps, "damping": damping}
        if quasi_newton:
            state["memory_s"], state["memory_y"] = memory["s"], memory["y"]
            state["memory_scale"] = memory["scale"]
            record["memory"] = len(memory["s"])
        return {"W": W}, x, record

    def _memory(self, k: int) -> dict[str, Any]:
        """The quasi-Newton memory of ``solver_state`` (checked: it may come from a file)."""
        state = self._solver_state
        if "memory_s" not in state:
            return empty_memory(k)
        memory = {"s": state["memory_s"], "y": state["memory_y"]} \
            if "memory_y" in state else None
        for key in ("s", "y"):
            value = None if memory is None else np.asarray(memory[key])
            if value is None or value.dtype != np.float64 or value.ndim != 3 or \
                    value.shape[1:] != (k, k) or value.shape[0] > MEMORY or \
                    not np.isfinite(value).all():
                found = "missing" if value is None else f"{value.dtype} {value.shape}"
                raise ValueError(
                    f"OrthonormalICA: resume solver_state['memory_{key}'] must be a finite "
                    f"float64 array of shape (pairs ≤ {MEMORY}, {k}, {k}); got {found}")
        if memory["s"].shape != memory["y"].shape:
            raise ValueError("OrthonormalICA: resume solver_state['memory_s'] and "
                             "['memory_y'] must have the same shape; got "
                             f"{memory['s'].shape} and {memory['y'].shape}")
        scale = state.get("memory_scale")
        if not isinstance(scale, float) or not 1.0 <= scale < np.inf:
            raise ValueError("OrthonormalICA: resume solver_state['memory_scale'] must be a "
                             f"finite float ≥ 1; got {scale!r}")
        memory["scale"] = scale
        return memory

    def _measure(self, x, params, clock):
        """The record at ``W``: the objective optimised, from the cached pass when there is one
        (else one value pass), and the reconstruction error from ``C = x xᵀ``."""
        W = params["W"]
        k, m = W.shape[0], x.shape[1]
        reconstruction = clock.call(self._reconstruction.value, {"W": W})
        if self._fused:
            current = self._cached_pass(W)
            if current is None or current.value is None or current.abs_sum is None:
                light = clock.call(fixed_point_pass, W, x, self._penalty, gradient=False)
                if current is None:
                    current = light
                else:  # keep the step's G and slope
                    current.value, current.abs_sum = light.value, light.abs_sum
                self._cache(current)
            value, sparsity = current.value, current.abs_sum / (k * m)
        else:
            value = clock.call(self._sparsity.value, {"W": W, "x": x})
            sparsity = clock.call(mean_abs_response, W, x)
        return {"objective": value / m, self._sparsity.name: value,
                "reconstruction_error": reconstruction / m, "sparsity": sparsity,
                "ica_reconstruction": reconstruction}
