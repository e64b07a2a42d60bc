r"""Online dictionary learning with an exact L1 penalty (Mairal et al. 2010).

:class:`OnlineDictionaryLearning` learns unit-ball atoms from mini-batches: lasso codes by FISTA
(:func:`trainers.lasso.lasso_fista`), running sufficient statistics with a forgetting factor,
and block-coordinate sweeps over the atoms. The steps are plain functions in
:mod:`trainers.dictionary_steps` (``_bcd_atoms`` and ``_initial_atoms`` here are their old
names); :mod:`trainers.sparse_coding` re-exports :class:`OnlineDictionaryLearning` for older
imports.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from .base import BaseTrainer, NonFiniteObjective
from .columns import column_blocks
from .dictionary_steps import bcd_atoms as _bcd_atoms
from .dictionary_steps import (
    check_statistics,
    forget_weight,
    lasso_codes,
    surrogate,
    update_statistics,
)
from .dictionary_steps import initial_atoms as _initial_atoms  # noqa: F401 (trainers.minibatch)
from .input_checks import DataSummary, check_lasso_codes
from .lasso import LassoResult
from .minibatch import MiniBatchMixin
from .state import Callback
from .timing import EvalClock
from .validation import COMMON_PARAMETERS, IS_INITIAL_MATRIX, OR_NONE, Interval, Options

__all__ = ["OnlineDictionaryLearning"]


_ONLINE = {
    **COMMON_PARAMETERS,
    "n_components": OR_NONE(Interval(int, 1, None)),
    "alpha": Interval(float, 0.0, None),
    "batch_size": Interval(int, 1, None),
    "inner_iter": Interval(int, 1, None),
    "code_tol": Interval(float, 0.0, None),
    "transform_max_iter": Interval(int, 1, None),
    "transform_tol": Interval(float, 0.0, None),
    "dict_sweeps": Interval(int, 1, None),
    "forget_rate": Interval(float, 0.0, None),
    "init": Options(["data", "random"]),
    "dict_init": IS_INITIAL_MATRIX,
}


class OnlineDictionaryLearning(MiniBatchMixin, BaseTrainer):
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

    1. **codes**: the batch of lassos by :func:`trainers.lasso.lasso_fista` on ``G = AᵀA`` and
       ``Aᵀx`` (one ``k × k × b`` GEMM per iteration), warm-started at ``soft(Aᵀx, α)`` (the
       solution were the atoms orthonormal); at most ``inner_iter`` iterations, fewer when
       the relative change of the codes falls below ``code_tol``. The codes need not be
       converged: the statistics average over many batches;
    2. **statistics**: the running sums of the paper, ``𝐀 ← β𝐀 + s sᵀ/b`` (``k × k``) and
       ``𝐁 ← β𝐁 + x sᵀ/b`` (``n × k``), with the forgetting factor of its §3.4.2,
       ``β_t = (1 − 1/t)^ρ`` (``t`` = 1-based batch count, ``ρ = forget_rate``), so batch ``i``
       weighs ``(i/t)^ρ`` at time ``t``. The statistics are weighted *sums*; their total
       weight ``w_t = β_t w_{t−1} + 1`` (``w_1 = 1``; about ``t/(ρ + 1)`` for large ``t``) is
       kept alongside, and ``𝐀/w``, ``𝐁/w`` are weighted means over the batches seen
       (``ρ = 0`` gives every batch the weight 1: ``w_t = t`` and a plain mean). The atom
       update is invariant to this common scale, so only the reported surrogate is divided
       by ``w``. A larger ρ forgets the statistics of the early, poor atoms sooner (the
       measured effect of ρ and of ``inner_iter``: ``benchmarks/RESULTS.md``, "Dictionary
       learning" and "Design measurements");
    3. **atoms**: ``dict_sweeps`` block-coordinate sweeps on the surrogate
       ``½ tr(Aᵀ A 𝐀) − tr(Aᵀ 𝐁)``: for ``j = 1..k``,
       ``u = a_j + (𝐁_j − A 𝐀_j)/𝐀_jj`` and ``a_j = u / max(‖u‖, 1)`` (exact minimisation over
       ``a_j`` on the unit ball). An atom with ``𝐀_jj ≤ 10⁻⁶·mean(diag 𝐀)`` (unused) is
       replaced by a random example of the batch, normalised, and its rows of the statistics
       are cleared. The example is drawn from the *step stream*, not from the Generator that
       draws the batches (see :mod:`trainers.minibatch`), so that ``fit`` is exactly "draw a
       batch, then :meth:`partial_fit` on it".

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
    inner_iter : int
        Most FISTA iterations for the codes of one batch (called ``code_max_iter`` before;
        same value and meaning).
    code_tol : float
        Stop the code solver when the relative change of the codes between two checks (every 5
        iterations) is at most this (0: always ``inner_iter``).
    transform_max_iter, transform_tol : int, float
        The same for :meth:`transform`.
    dict_sweeps : int
        Block-coordinate sweeps over the atoms per batch.
    forget_rate : float
        Forgetting exponent ρ ≥ 0 of the running statistics (see above).
    init : {"data", "random"}
        Initial atoms: random examples, or Gaussian noise; normalised to unit norm. Ignored
        when ``dict_init`` is given.
    tol : float
        Stop when the relative change of the batch objective between outer iterations is below
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
        model works in, i.e. after the ``preprocessor``; replaces ``init``. Atoms longer than
        1 are scaled onto the unit ball, as every atom update does (a fitted model's
        ``components_`` are taken as they are). The array passed is not modified.
    blas_threads : int or None
        Maximum BLAS threads used by fit/transform/inverse_transform (threadpoolctl); None
        leaves the BLAS default (the default 1 is measured in the README, "Performance notes").
        :meth:`partial_fit` and :meth:`objective` run under the same limit.

    Attributes
    ----------
    components_ : ndarray of shape (n_components, n_features)
        The atoms, columns of ``A``, as rows (norm ≤ 1).
    n_iter_ : int
    history_ : list of dict
        One record per outer iteration, measured on its batch with the codes solved for the
        atoms before that iteration's update (what :meth:`transform` delivers):
        ``objective`` (mean ``½‖x − As‖² + α‖s‖₁``), ``half_squared_error`` (mean
        ``½‖x − As‖²``), ``l1`` (mean ``‖s‖₁``), ``reconstruction_error`` (mean ``‖x − As‖²``),
        ``sparsity`` (mean ``|s|``), ``nonzeros`` (mean non-zeros per code), ``code_iter``
        (FISTA iterations used), ``code_change`` (its last relative change), ``surrogate``
        (``(½ tr(AᵀA 𝐀) − tr(Aᵀ𝐁)) / w`` after the atom update: the weighted mean over the
        batches seen of ``½‖A s_i‖² − x_iᵀA s_i`` per example, i.e. of ``½‖x_i − A s_i‖² −
        ½‖x_i‖²``, with the codes each batch got), ``replaced (atoms re-seeded), ``step_size``
        (the code solver's ``1/L``), ``code_time`` (seconds in the code solver; the code step
        counts as objective evaluation), ``wall_time``, ``eval_time``, ``eval_share``.

    Notes
    -----
    ``state_dict()["solver_state"]`` holds ``𝐀`` (``"gram"``), ``𝐁`` (``"cross"``), the
    number of batches seen (``"batches"``), the statistics' total weight ``w`` (``"weight"``)
    and the state of the step stream (``"step_rng"``), so a resumed fit is bit-identical to an
    uninterrupted one.

    :meth:`partial_fit` makes one outer iteration (codes, statistics, atoms) on the batch it
    is given; ``fit`` is a batch draw followed by the same step, so the batches ``fit`` drew,
    passed in order to ``partial_fit`` of a fresh model with the same ``random_state`` and
    ``dict_init`` (or ``init="random"``), give the same atoms bit for bit. The running
    statistics weigh each call's batch by ``1/b`` for its own size ``b``.
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
        inner_iter: int = 10,
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
        dict_init: Any = None,
        blas_threads: int | None = 1,
    ) -> None:
        self.n_components = n_components
        self.alpha = alpha
        self.batch_size = batch_size
        self.max_iter = max_iter
        self.inner_iter = inner_iter
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
        self.dict_init = dict_init
        self.blas_threads = blas_threads

    # -- BaseTrainer hooks ------------------------------------------------------------------
    def _setup(self, x: np.ndarray) -> None:
        self._k = self.n_components if self.n_components is not None else x.shape[0]
        self._b = min(self.batch_size, x.shape[1])

    def _check_input(self, x: np.ndarray) -> DataSummary:
        summary = super()._check_input(x)  # then: not every code zero (trainers.input_checks)
        check_lasso_codes(type(self).__name__, self._input_name(), summary, self.alpha)
        return summary

    def _param_shape(self, name: str) -> tuple[int, ...]:
        return (self._n, self._k)

    def _dict_init_kind(self) -> str:
        return "unit_ball"

    def _initial_solver_state(self) -> dict[str, Any]:
        return {"gram": np.zeros((self._k, self._k), dtype=self._dtype),
                "cross": np.zeros((self._n, self._k), dtype=self._dtype),
                "batches": 0, "weight": 0.0, **super()._initial_solver_state()}

    def _prepare(self, x: np.ndarray) -> None:
        """Check the running statistics (from a resume state) and bring them to the dtype."""
        super()._prepare(x)  # the step stream
        check_statistics(self._solver_state, self._k, self._n, self._dtype, self.forget_rate,
                         type(self).__name__)

    def _codes(self, A: np.ndarray, x: np.ndarray, max_iter: int, tol: float) -> LassoResult:
        """Lasso codes of the columns of ``x`` for atoms ``A`` (FISTA on the Gram form)."""
        return lasso_codes(A, x, self.alpha, max_iter, tol)

    def _beta(self, t: int) -> float:
        """Weight ``β = (t/(t+1))^ρ`` of the past statistics when adding batch ``t`` (0-based)."""
        return forget_weight(t, self.forget_rate)

    def _step(
        self, batch: np.ndarray, params: dict[str, np.ndarray], rng: np.random.Generator,
        clock: EvalClock,
    ) -> tuple[dict[str, np.ndarray], dict[str, float], dict[str, Any]]:
        """Codes of the (C-ordered) batch, then the statistics, then a sweep over the atoms.

        ``rng`` is the step stream (re-seeds of unused atoms).
        """
        A = params["A"]
        b = batch.shape[1]
        with clock.section("code_step"):
            result = clock.call(self._codes, A, batch, self.inner_iter, self.code_tol)
        code_time, _ = clock.sections.pop("code_step")
        s = result.s
        residual = A @ s
        residual -= batch
        squared = float(np.einsum("ij,ij->", residual, residual)) / b
        l1 = float(np.abs(s).sum()) / b
        measured = {
            "objective": 0.5 * squared + self.alpha * l1,
            "half_squared_error": 0.5 * squared,
            "l1": l1,
            "reconstruction_error": squared,
            "sparsity": l1 / s.shape[0],
            "nonzeros": float(np.count_nonzero(s)) / b,
        }
        if not np.isfinite(measured["objective"]):
            raise NonFiniteObjective(f"objective is {measured['objective']!r}")
        state = self._solver_state
        t = int(state["batches"])
        gram, cross = update_statistics(state["gram"], state["cross"], s, batch, self._beta(t))
        A, replaced = _bcd_atoms(A, gram, cross, self.dict_sweeps, batch, rng)
        if not np.isfinite(A).all():
            raise NonFiniteObjective("the atom update produced non-finite atoms")
        weight = self._beta(t) * float(state["weight"]) + 1.0
        value = surrogate(A, gram, cross)
        self._solver_state = {**state, "gram": gram, "cross": cross, "batches": t + 1,
                              "weight": weight}
        extras = {
            "code_iter": result.n_iter,
            "code_change": result.change,
            "surrogate": value / weight,
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
        r"""Mean per-example lasso cost of ``X`` with codes ``S`` for the fitted atoms.

        .. math::
            \frac{1}{m}\sum_{i=1}^{m} \tfrac12\lVert x_i - A s_i\rVert^2
            + \alpha \lVert s_i\rVert_1

        Parameters
        ----------
        X : array_like of shape (n_samples, n_features)
            Data (raw when a ``preprocessor`` is set); must be finite and have the fitted
            number of features after preprocessing.
        S : array_like of shape (n_samples, n_components), optional
            Codes, one row per example; must be finite. Default: :meth:`transform` ``(X)``.

        Returns
        -------
        float
            The mean cost per example.

        Raises
        ------
        ValueError
            If ``X`` or ``S`` has the wrong shape or holds NaN or infinite values.
        """
        self._check_fitted()
        with self._threads():
            return self._objective_value(X, S)

    def _objective_value(self, X: Any, S: Any | None) -> float:
        """:meth:`objective` under the BLAS thread limit."""
        owner = type(self).__name__
        x = self._to_columns(X, self._dtype)
        A = self._params["A"]
        n, k = A.shape
        m = x.shape[1]
        if x.shape[0] != n:
            raise ValueError(
                f"{owner}: X must have {n} features after preprocessing; got {x.shape[0]}"
            )
        if S is None:
            s = self._encode(x)
        else:
            S = np.asarray(S)
            if S.shape != (m, k):
                raise ValueError(
                    f"{owner}: S must have shape (n_samples, n_components) = {(m, k)}; "
                    f"got {S.shape}"
                )
            if S.dtype.kind not in "fiub":
                raise ValueError(f"{owner}: S must hold real numbers; got dtype {S.dtype}")
            s = np.ascontiguousarray(S.T, dtype=self._dtype)
            if not np.isfinite(s).all():
                raise ValueError(f"{owner}: S holds NaN or infinite values")
        residual = A @ s - x
        value = 0.5 * float(np.einsum("ij,ij->", residual, residual)) + self.alpha * float(
            np.abs(s).sum())
        return value / m

