r"""Reconstruction ICA (Le et al. 2011) and its topographic preset.

.. math::
    J(W) = \frac{\alpha}{m} \sum \varphi\big(V (W x)^{\circ 2}\big)
           + \frac{1}{m} \lVert W^T W x - x \rVert_F^2

(by default :math:`\varphi(u) = \sqrt{u+\epsilon}`, ``V = I``), minimised by L-BFGS
(:mod:`trainers.lbfgs`) without constraint; ``k > n`` (overcomplete) is allowed. The
reconstruction uses the covariance form ``ICAReconstruction.from_data(x)`` (``C = x xᵀ``), so
its cost does not grow with ``m``.

**UFLDL's scaling.** UFLDL's ``softICACost.m`` minimises
:math:`\lambda_U \sum\sqrt{(Wx)^2+\epsilon} + \tfrac12\lVert W^TWx - x\rVert^2`; with
:math:`\alpha = 2\lambda_U` this objective is exactly :math:`2/m` times UFLDL's at the same
``W`` (the same minimiser; ``V = I``, UFLDL has no pooled variant). UFLDL evaluates it at the
rows scaled by ``l2rowscaled``, :math:`w_i/\sqrt{\lVert w_i\rVert^2 + 10^{-5}}`, where
``row_norm="unit"`` uses :math:`w_i/\lVert w_i\rVert` (:class:`RowNormalized`): UFLDL's rows are
these times :math:`\lVert w_i\rVert/\sqrt{\lVert w_i\rVert^2 + 10^{-5}}`, i.e.
:math:`1 - 5\cdot 10^{-6}` for unit rows.

Each outer iteration is ``inner_iter`` iterations of **one** L-BFGS run: its state (iterate,
value, gradient and ``(s, y)`` memory) lives in ``solver_state["lbfgs"]``, so ``max_iter`` chunks
of ``inner_iter`` give bit for bit the result of one run of ``max_iter · inner_iter`` iterations,
checkpoints fall on the chunk boundaries and a resumed fit is bit-identical to an uninterrupted
one.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from sparselearn.objectives import ICAReconstruction
from sparselearn.objectives.row_normalized import RowNormalized

from .base import NonFiniteObjective, guarded
from .ica_base import ICA_PARAMETERS, ICABase
from .lbfgs import CONVERGED, check_lbfgs_state, lbfgs_start, lbfgs_steps
from .state import Callback
from .validation import OR_NONE, TORUS_CONSTRAINTS, Interval, Options, check_torus

__all__ = ["RICA", "TopographicICA"]


class RICA(ICABase):
    r"""Reconstruction ICA (Le et al. 2011): sparse responses plus a soft orthonormality.

    .. math::
        J(W) = \frac{\alpha}{m}\sum \sqrt{(Wx)^2 + \epsilon}
               + \frac{1}{m}\lVert W^T W x - x\rVert_F^2

    minimised with L-BFGS (:mod:`trainers.lbfgs`): ``inner_iter`` iterations per outer iteration
    of one run whose memory carries over (``solver_state["lbfgs"]``), so the chunking does not
    change the result. ``X`` is ``(n_samples, n_features)``, transposed inside; use whitened
    data. ``n_components > n_features`` (overcomplete) is allowed.

    **Unit-norm rows** (``row_norm="unit"``, the default; as UFLDL's ``softICACost.m`` up to the
    ``10⁻⁵`` in its ``l2rowscaled``, and Le et al. 2011). Unconstrained, the reconstruction
    term is already zero for any ``n`` orthonormal rows, so in an overcomplete basis (or on data
    of rank ``r < n``, e.g. ZCA-whitened patches with the patch mean removed, rank ``n − 1``)
    only about ``r`` filters keep norm 1 and the sparsity term shrinks the others to zero. With
    ``row_norm="unit"`` the cost is evaluated at the rows scaled to unit length,

    .. math::
        \tilde w_i = \frac{w_i}{\lVert w_i \rVert}, \qquad
        J_{unit}(W) = J(\tilde W), \qquad
        \frac{\partial J_{unit}}{\partial w_i}
        = \frac{g_i - (g_i \cdot \tilde w_i)\,\tilde w_i}{\lVert w_i \rVert},
        \quad g_i = \frac{\partial J}{\partial \tilde w_i}(\tilde W)

    (:class:`RowNormalized`), and after every L-BFGS chunk the stored parameters
    (``components_``, ``state_dict()["params"]``) are the unit-norm rows ``W̃`` the cost was
    evaluated at. The reconstruction term then acts as a frame potential (``‖W̃ᵀW̃ − I‖²``
    weighted by the data covariance) that spreads the ``k`` unit filters into a near-tight frame
    instead of killing ``k − r`` of them. When the training data are rank-deficient (``x xᵀ``
    singular, e.g. ``r = n − 1`` after per-patch mean removal) the rows are first projected onto
    the data's range,
    ``w̃ᵢ = P wᵢ / ‖P wᵢ‖`` with ``P`` the orthogonal projector onto the range of ``x xᵀ``
    (:func:`range_projector`; the gradient gains a factor ``P`` on the right): a unit row in the
    null space costs nothing in either term, and without ``P`` the surplus filters collapse onto
    it (the constant patch) instead of shrinking. On full-rank data ``P`` is not used.
    ``row_norm=None`` keeps the unconstrained form above.

    **The L-BFGS memory** carries over from one outer iteration to the next (its state is
    ``solver_state["lbfgs"]``). With ``row_norm="unit"`` the L-BFGS uses that ``J_unit`` is
    invariant to positive row scaling: after every step it scales its iterate back to unit rows
    and carries the gradient and the ``(s, y)`` pairs into the rescaled coordinates
    (:func:`~sparselearn.trainers.lbfgs.lbfgs_steps`, ``unit_rows=True``), so the pairs stay
    valid and the row norms do not drift upwards (left alone they reach 2.8–4.2 in 500
    iterations of the ``configs/rica.yaml`` problem, which then ends 6e-5 higher).

    Parameters
    ----------
    n_components : int or None
        Number of filters ``k`` (default ``n_features``).
    alpha : float
        Sparsity weight α per example (called ``lambda_`` before; same value and meaning);
        UFLDL's ``softICACost.m`` λ is ``α/2`` (module docstring).
    row_norm : {"unit", None}
        ``"unit"``: evaluate the cost at unit-norm rows and store those (default); ``None``:
        unconstrained ``W`` (overcomplete bases then lose filters to zero norm).
    epsilon : float
        Smoothing ε of the smoothed L1 penalty.
    penalty : str, mapping, Penalty or layer table
        The sparsity penalty φ (default ``"smoothed_l1"`` with ``epsilon``); see
        :mod:`trainers.parts`. L-BFGS needs only value and gradient, so a layer table works.
    grouping : None or mapping
        Pool the squared responses over a torus (``{"grid": (r, c), "pool": 3}``); see
        :class:`TopographicICA`, the preset.
    max_iter : int
        Outer iterations (L-BFGS chunks).
    inner_iter : int
        L-BFGS iterations per outer iteration.
    lbfgs_memory : int
        Correction pairs ``(s, y)`` the L-BFGS keeps, across outer iterations and checkpoints
        (default 10: on ``configs/rica.yaml`` 5, 20, 50 or 100 pairs end 500 iterations no
        lower; figures in :mod:`trainers.lbfgs`).
    lbfgs_tol : float
        Stop when one L-BFGS iteration lowers the objective by at most ``lbfgs_tol`` relative
        to its value, ``(f − f⁺) / max(|f|, |f⁺|) ≤ lbfgs_tol`` (L-BFGS-B's ``ftol``); the fit
        then ends with ``stop_reason_ = "converged"``, as it does (with ``lbfgs_tol > 0``)
        when the line search can make no further progress. 0 (default): only ``tol`` and
        ``max_iter`` end the fit.
    tol : float
        Stop when the relative objective change between outer iterations is below ``tol``.
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
        Filters as rows (unit L2 norm with ``row_norm="unit"``; ``W @ whitening_`` with
        ``whiten``).
    mean_, mixing_, whitening_
        As in :class:`OrthonormalICA`.
    history_ : list of dict
        Records with ``objective``, ``ica_sparsity`` (or ``topographic_ica_sparsity``),
        ``ica_reconstruction``, ``reconstruction_error``, ``sparsity``, ``step_size`` (NaN),
        ``lbfgs_iter`` and ``lbfgs_eval`` (L-BFGS iterations and objective evaluations of the
        outer iteration), ``wall_time``, ``eval_time``, ``eval_share``.
    """

    _parameter_constraints: ClassVar[dict] = {
        **ICA_PARAMETERS, "alpha": Interval(float, 0.0, None),
        "row_norm": OR_NONE(Options(("unit",))),
        "lbfgs_memory": Interval(int, 1, None), "lbfgs_tol": Interval(float, 0.0, 1.0),
    }

    def __init__(
        self,
        n_components: int | None = None,
        *,
        alpha: float = 0.1,
        row_norm: str | None = "unit",
        epsilon: float = 1e-2,
        penalty: Any = "smoothed_l1",
        grouping: Any = None,
        max_iter: int = 50,
        inner_iter: int = 20,
        lbfgs_memory: int = 10,
        lbfgs_tol: float = 0.0,
        tol: float = 1e-9,
        random_state: Any = None,
        dtype: Any = None,
        callbacks: list[Callback] | None = None,
        preprocessor: Any = None,
        whiten: str | bool = False,
        w_init: Any = None,
        blas_threads: int | None = 1,
    ) -> None:
        self.n_components = n_components
        self.alpha = alpha
        self.row_norm = row_norm
        self.epsilon = epsilon
        self.penalty = penalty
        self.grouping = grouping
        self.max_iter = max_iter
        self.inner_iter = inner_iter
        self.lbfgs_memory = lbfgs_memory
        self.lbfgs_tol = lbfgs_tol
        self.tol = tol
        self.random_state = random_state
        self.dtype = dtype
        self.callbacks = callbacks
        self.preprocessor = preprocessor
        self.whiten = whiten
        self.w_init = w_init
        self.blas_threads = blas_threads

    def _initialize(self, x, rng):
        W = self._initial_W(x, rng)
        W /= np.linalg.norm(W, axis=1, keepdims=True)
        return {"W": W}

    def _objective_terms(self, x: np.ndarray, reconstruction=None):
        m = x.shape[1]
        if reconstruction is None:
            reconstruction = ICAReconstruction.from_data(x)
        return (self.alpha / m) * self._sparsity + (1.0 / m) * reconstruction

    def _prepare(self, x: np.ndarray) -> None:
        super()._prepare(x)
        if "lbfgs" in self._solver_state:  # a resume state: refuse one of another model
            check_lbfgs_state(self._solver_state["lbfgs"], (self._k, self._n),
                              type(self).__name__)

    def _iterate(self, x, params, rng, clock):
        total = self._objective_terms(x, self._reconstruction)
        if self.row_norm == "unit":
            total = RowNormalized(total, "W", self._range_projector)

        def fun(W: np.ndarray) -> tuple[float, np.ndarray]:
            return total.value_and_grad({"W": W, "x": x}, "W")

        fun = guarded(clock.timed(fun))
        state = self._solver_state.get("lbfgs")
        # the run continues from its own iterate while params["W"] is what it last stored;
        # it starts afresh at params["W"] on the first iteration, for a model restored from its
        # parameters alone, and when a callback or an edited state changed the parameters
        started = state is None or not np.array_equal(self._stored_W(state, total), params["W"])
        if started:
            state = lbfgs_start(fun, params["W"])
        state, result = lbfgs_steps(fun, state, self.inner_iter, x.dtype, self.lbfgs_memory,
                                    self.lbfgs_tol, unit_rows=self.row_norm == "unit")
        self._solver_state = {**self._solver_state, "lbfgs": state}
        return {"W": self._stored_W(state, total)}, x, {
            "step_size": float("nan"), "lbfgs_iter": result.n_iter,
            "lbfgs_eval": result.n_eval + started}

    def _stored_W(self, state: dict, total) -> np.ndarray:
        """The parameters stored for an L-BFGS state: its iterate in the model's dtype, scaled to
        the unit rows the cost is evaluated at with ``row_norm="unit"``."""
        W = np.asarray(state["x"]).astype(self._dtype)
        if self.row_norm != "unit":
            return W
        if not np.isfinite(W).all():
            raise NonFiniteObjective("iterate is not finite")
        return total.unit_rows(W)

    def _converged(self, history: list[dict]) -> bool:
        """Converged by ``tol`` (between outer iterations) or, with ``lbfgs_tol > 0``, inside
        the L-BFGS (its relative decrease, a zero gradient, or a line search that can make no
        further progress)."""
        state = self._solver_state.get("lbfgs") or {}
        return ((self.lbfgs_tol > 0 and state.get("message") in CONVERGED)
                or super()._converged(history))

    def _measure(self, x, params, clock):
        W = params["W"]
        m = x.shape[1]
        sparsity = self._sparsity
        value = clock.call(sparsity.value, {"W": W, "x": x})
        common = self._common_record(x, W, clock)
        objective = (self.alpha * value + common["ica_reconstruction"]) / m
        return {"objective": objective, sparsity.name: value, **common}


class TopographicICA(RICA):
    r"""Topographic ICA: RICA with responses pooled over torus neighbourhoods.

    .. math::
        J(W) = \frac{\alpha}{m}\sum \sqrt{V (Wx)^{\circ 2} + \epsilon}
               + \frac{1}{m}\lVert W^T W x - x\rVert_F^2

    with ``V = grouping_matrix(grid, pool, wrap)``: the ``k = rows·cols`` filters on a torus,
    one group per cell pooling the ``pool × pool`` block starting there. ``X`` is
    ``(n_samples, n_features)``, transposed inside. Other parameters as :class:`RICA`; in
    particular ``row_norm="unit"`` (default) evaluates the cost at unit-norm rows, which keeps
    every unit of an overcomplete torus (e.g. 121 filters on 11 × 11 for 8 × 8 patches) alive.

    The number of filters is set by ``grid`` alone (there is no ``n_components`` parameter).

    Parameters
    ----------
    grid : (int, int)
        Torus shape ``(rows, cols)``; the model has ``rows·cols`` filters.
    pool : int
        Side of the pooling neighbourhood (at most ``min(grid)``).
    wrap : bool
        Torus (True) or open grid.
    alpha : float
        Sparsity weight α per example (called ``lambda_`` before; same value and meaning).
    row_norm, epsilon, penalty, max_iter, inner_iter, lbfgs_memory, lbfgs_tol, tol, \
random_state, dtype, callbacks, preprocessor, whiten, w_init, blas_threads
        As in :class:`RICA`.

    Attributes
    ----------
    n_components_ : int
        Number of filters, ``rows·cols``.
    grouping_ : ndarray of shape (rows·cols, rows·cols)
        The grouping matrix ``V``.
    components_, n_iter_, history_
        As in :class:`RICA` (``topographic_ica_sparsity`` in place of ``ica_sparsity``).
    """

    _parameter_constraints: ClassVar[dict] = {
        **{name: c for name, c in RICA._parameter_constraints.items()
           if name not in ("n_components", "grouping")},
        **TORUS_CONSTRAINTS,
    }

    def __init__(
        self,
        grid: tuple[int, int] = (8, 8),
        *,
        pool: int = 3,
        wrap: bool = True,
        alpha: float = 0.1,
        row_norm: str | None = "unit",
        epsilon: float = 1e-2,
        penalty: Any = "smoothed_l1",
        max_iter: int = 50,
        inner_iter: int = 20,
        lbfgs_memory: int = 10,
        lbfgs_tol: float = 0.0,
        tol: float = 1e-9,
        random_state: Any = None,
        dtype: Any = None,
        callbacks: list[Callback] | None = None,
        preprocessor: Any = None,
        whiten: str | bool = False,
        w_init: Any = None,
        blas_threads: int | None = 1,
    ) -> None:
        self.grid = grid
        self.pool = pool
        self.wrap = wrap
        self.alpha = alpha
        self.row_norm = row_norm
        self.epsilon = epsilon
        self.penalty = penalty
        self.max_iter = max_iter
        self.inner_iter = inner_iter
        self.lbfgs_memory = lbfgs_memory
        self.lbfgs_tol = lbfgs_tol
        self.tol = tol
        self.random_state = random_state
        self.dtype = dtype
        self.callbacks = callbacks
        self.preprocessor = preprocessor
        self.whiten = whiten
        self.w_init = w_init
        self.blas_threads = blas_threads

    def _check_param_relations(self) -> None:
        check_torus(type(self).__name__, self.grid, self.pool)

    def _torus(self) -> tuple:
        return tuple(self.grid), self.pool, self.wrap
