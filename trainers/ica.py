r"""ICA trainers: orthonormal ICA (UFLDL), reconstruction ICA (Le et al. 2011), topographic ICA.

All three learn a filter matrix ``W`` (``k × n``, one filter per row) on whitened data ``x``
(``n × m``, one example per column inside; ``X`` is ``(n_samples, n_features)`` at the
boundary) and encode by the responses ``W x``.

Orthonormal ICA
    .. math:: \min_W \frac{1}{m} \sum \sqrt{(W x)^2 + \epsilon} \quad\text{s.t.}\quad W W^T = I

    by projected gradient (default): a gradient step, then the symmetric projection
    ``W ← (WWᵀ)^(−1/2) W`` (computed from the SVD ``W = UΣVᵀ`` as ``UVᵀ``), with an Armijo
    backtracking line search that shrinks the step on failure and doubles it after success;
    or (``solver="fixed_point"``) by the symmetric FastICA-style fixed-point (approximate
    Newton) iteration on the same objective, see :class:`OrthonormalICA`.
RICA
    .. math::
        J(W) = \frac{\alpha}{m} \sum \sqrt{(W x)^2 + \epsilon}
               + \frac{1}{m} \lVert W^T W x - x \rVert_F^2

    minimised by L-BFGS (scipy) without constraint; ``k > n`` (overcomplete) is allowed. The
    reconstruction uses the covariance form ``ICAReconstruction.from_data(x)`` (``C = x xᵀ``), so
    its cost does not grow with ``m``. Both terms are divided by ``m``, so α (``alpha``) is a
    per-example weight and the defaults do not depend on the number of examples (the UFLDL
    exercise's λ, which multiplies the undivided sparsity sum, equals this α divided by ``m``).

    With ``row_norm="unit"`` (the default) the cost is evaluated at the filters scaled to unit
    rows, ``J(W̃)`` with ``w̃ᵢ = wᵢ/‖wᵢ‖`` (UFLDL's ``l2rowscaled``/``l2rowscaledg``, Le et al.
    2011), so no filter can shrink to zero: see :class:`RowNormalized`.
Topographic ICA
    RICA whose sparsity pools squared responses over torus neighbourhoods,
    ``Σ √(V (Wx)² + ε)`` with ``V = grouping_matrix(grid, pool)``.

Each outer iteration is a fixed chunk: ``inner_iter`` accepted projected-gradient steps, or
``inner_iter`` accepted fixed-point steps out of at most ``inner_iter + 20`` tries (an uphill
step is rejected and the damping raised; the chunk ends early when the tries run out or a step
no longer changes ``W``), or one L-BFGS run of ``inner_iter`` iterations. Checkpoints fall on
chunk boundaries, and a resumed fit is bit-identical to an uninterrupted one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from sparselearn.objectives import (
    ICAReconstruction,
    ICASparsity,
    Term,
    TopographicICASparsity,
    grouping_matrix,
)
from sparselearn.objectives.blocks import block_columns, iter_column_blocks

from .base import BaseTrainer, NonFiniteObjective, guarded
from .solvers import lbfgs, projected_gradient
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

__all__ = [
    "OrthonormalICA",
    "RICA",
    "RowNormalized",
    "TopographicICA",
    "normalize_rows",
    "range_projector",
    "symmetric_orthonormalize",
]

_COMMON = {
    "n_components": OR_NONE(Interval(int, 1, None)),
    "epsilon": Interval(float, 0.0, None, closed="neither"),
    "max_iter": Interval(int, 0, None),
    "inner_iter": Interval(int, 1, None),
    "tol": Interval(float, 0.0, None),
    "random_state": IS_RANDOM_STATE,
    "dtype": IS_DTYPE,
    "callbacks": IS_CALLBACKS,
    "preprocessor": IS_PREPROCESSOR,
    "whiten": Options((False, "unit-variance")),
    "w_init": IS_INITIAL_MATRIX,
}


def symmetric_orthonormalize(W: np.ndarray) -> np.ndarray:
    """``(W Wᵀ)^(−1/2) W``, the orthonormal matrix nearest to ``W`` (rows orthonormal)."""
    U, _, Vt = np.linalg.svd(W, full_matrices=False)
    return (U @ Vt).astype(W.dtype, copy=False)


def normalize_rows(W: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows of ``W`` scaled to unit L2 norm, and the norms (``k × 1``), in ``W``'s dtype.

    Each row is first divided by its largest magnitude, so the result is exact for any finite
    ``W`` (no overflow of the squares; the returned norm itself may overflow to inf). A zero row
    is left at zero (its norm is replaced by the smallest normal number of the dtype, so nothing
    is divided by zero).
    """
    tiny = np.finfo(W.dtype).tiny
    peak = np.maximum(np.abs(W).max(axis=1, keepdims=True), tiny)
    V = W / peak
    scaled_norms = np.sqrt(np.einsum("ij,ij->i", V, V))[:, None]
    np.maximum(scaled_norms, tiny, out=scaled_norms)
    V /= scaled_norms
    with np.errstate(over="ignore"):
        norms = scaled_norms * peak
    return V, np.maximum(norms, tiny, out=norms)


class RowNormalized(Term):
    r"""A term evaluated at the filters scaled to unit rows: :math:`G(W) = F(\tilde W)`.

    With :math:`\tilde w_i = w_i / \lVert w_i \rVert` for every row and
    :math:`g_i = \partial F / \partial \tilde w_i` (the wrapped term's gradient at
    :math:`\tilde W`), the chain rule through the Jacobian
    :math:`\partial \tilde w / \partial w = (I - \tilde w \tilde w^T) / \lVert w \rVert`
    gives, row by row,

    .. math::
        \frac{\partial G}{\partial w_i}
        = \frac{g_i - (g_i \cdot \tilde w_i)\, \tilde w_i}{\lVert w_i \rVert}

    (UFLDL's ``l2rowscaled(W, 1)`` and ``l2rowscaledg``). The gradient is orthogonal to every
    row, so a gradient method cannot change the norms to first order, and :math:`G` is invariant
    to positive row scaling: the constraint ``‖wᵢ‖ = 1`` without a projection. The wrapped
    term's own value and gradient are used unchanged (e.g. the covariance form of
    ``ICAReconstruction``); the extra cost is a few ``k × n`` passes.

    With a ``projector`` :math:`P` (symmetric, idempotent, ``n × n``) the rows are first
    projected, :math:`\tilde w_i = P w_i / \lVert P w_i \rVert`, and the gradient above
    (with :math:`\lVert P w_i \rVert`) is multiplied by :math:`P` on the right. The trainers
    use the projector onto the range of the data covariance: on rank-deficient data (patches
    with the mean removed have rank ``n − 1``) a unit row in the null space costs nothing in
    either RICA term, so without it the surplus filters of an overcomplete basis all collapse
    onto the null space (e.g. the constant patch) instead of dying to zero norm.

    Parameters
    ----------
    term : Term
        Any term differentiable in ``wrt``.
    wrt : str
        The variable whose rows are normalised (default ``"W"``).
    projector : ndarray (n, n), optional
        Orthogonal projector applied to the rows before normalising.
    """

    def __init__(self, term: Term, wrt: str = "W", projector: np.ndarray | None = None) -> None:
        if wrt not in term.wrt:
            raise ValueError(f"RowNormalized: {term!r} cannot be differentiated in {wrt!r}")
        self.term = term
        self.variables = term.variables
        self.wrt = (wrt,)
        self.name = term.name
        self.projector = projector

    def _scaled(self, variables: Mapping[str, Any]) -> tuple[dict, np.ndarray, np.ndarray]:
        W = np.asarray(variables[self.wrt[0]])
        if W.ndim != 2:
            raise ValueError(
                f"RowNormalized: {self.wrt[0]} must be a 2-D array (k, n); got shape {W.shape}"
            )
        if self.projector is not None:
            W = W @ self.projector.astype(W.dtype, copy=False)
        W_unit, norms = normalize_rows(W)
        return {**variables, self.wrt[0]: W_unit}, W_unit, norms

    def value(self, variables: Mapping[str, Any]) -> float:
        return self.term.value(self._scaled(variables)[0])

    def value_and_grad(self, variables: Mapping[str, Any], wrt: str) -> tuple[float, np.ndarray]:
        self._check_wrt(wrt)
        scaled, W_unit, norms = self._scaled(variables)
        value, g = self.term.value_and_grad(scaled, wrt)
        g = np.array(g, dtype=W_unit.dtype, copy=True)
        g -= np.einsum("ij,ij->i", g, W_unit)[:, None] * W_unit
        g /= norms
        if self.projector is not None:
            g = g @ self.projector.astype(g.dtype, copy=False)
        return value, g

    def unit_rows(self, W: np.ndarray) -> np.ndarray:
        """The rows :math:`\tilde W` the term is evaluated at (projected, unit norm)."""
        return self._scaled({self.wrt[0]: W})[1]

    def __repr__(self) -> str:
        return f"RowNormalized({self.term!r})"


def range_projector(C: np.ndarray, rtol: float | None = None) -> np.ndarray | None:
    """Orthogonal projector onto the range of the symmetric PSD ``C``; None if it has full rank.

    Eigenvalues at or below ``rtol · λ_max`` count as zero (default ``100 n ε`` of ``C``'s dtype,
    so float32 rounding of an exact zero is caught). Computed in float64, returned in ``C``'s
    dtype.
    """
    n = C.shape[0]
    if rtol is None:
        rtol = 100.0 * n * float(np.finfo(C.dtype).eps)
    eigenvalues, eigenvectors = np.linalg.eigh(np.asarray(C, dtype=np.float64))
    keep = eigenvalues > rtol * max(float(eigenvalues[-1]), 0.0)
    if keep.all():
        return None
    U = eigenvectors[:, keep]
    return (U @ U.T).astype(C.dtype)


def mean_abs_response(W: np.ndarray, x: np.ndarray, block: int | None = None) -> float:
    """Mean of ``|W x|`` over all ``k × m`` entries, accumulated over column blocks of ``x``.

    Parameters
    ----------
    W : ndarray of shape (k, n)
        Filters, one per row.
    x : ndarray of shape (n, m)
        Data, one example per column; may be (a view of) a memory map, whose pages are
        released block by block.
    block : int, optional
        Columns per block (default: about 1 MiB per ``k × block`` work array, see
        :func:`objectives.blocks.block_columns`).

    Returns
    -------
    float
        ``mean(|W x|)``; one block gives the same value as the direct evaluation, several
        blocks agree with it up to rounding.
    """
    k, m = W.shape[0], x.shape[1]
    step = block_columns(max(W.shape), np.result_type(W, x).itemsize, block,
                         owner="mean_abs_response")
    if m <= step:
        return float(np.mean(np.abs(W @ x)))
    total = 0.0
    for _, _, part in iter_column_blocks(x, step):
        Y = W @ part
        total += float(np.abs(Y, out=Y).sum())
    return total / (k * m)


class _ICABase(BaseTrainer):
    """Shared parts: ``W`` parameter, responses as codes, covariance precomputation.

    Memory stays bounded in the number of examples m: ``x`` may be a view of the caller's
    array or memory map (see ``BaseTrainer._to_columns``); ``x xᵀ``, the sparsity terms, the
    record's mean ``|Wx|`` and ``transform`` all run over column blocks
    (:func:`objectives.blocks.iter_column_blocks`), releasing mapped pages as they are read.
    """

    _param_names: ClassVar[tuple[str, ...]] = ("W",)

    def _setup(self, x: np.ndarray) -> None:
        self._k = self.n_components if self.n_components is not None else x.shape[0]

    # -- whitening inside fit (FastICA's whiten="unit-variance") ------------------------------
    def _to_columns(self, X: Any, dtype: np.dtype | None, name: str = "X",
                    reset: bool = False) -> np.ndarray:
        """The base class's columns, then centred and whitened when ``whiten`` is set."""
        x = super()._to_columns(X, dtype, name, reset)
        if reset:
            self._fit_whitening(x)
        if getattr(self, "_whitening", None) is None:
            return x
        K, mu = self._whitening
        return np.ascontiguousarray(K @ x - (K @ mu)[:, None])

    def _fit_whitening(self, x: np.ndarray) -> None:
        """``mean_`` and, with ``whiten="unit-variance"``, ``whitening_`` from ``x`` (n × m).

        ``whitening_ = Λ^(-1/2) Eᵀ`` from the eigendecomposition ``C = E Λ Eᵀ`` of the
        covariance of the centred data, keeping the ``r`` leading directions: the data's rank,
        or ``n_components`` for :class:`OrthonormalICA` when given. The whitened data
        ``whitening_ (x − mean_)`` then has identity covariance.
        """
        self.__dict__.pop("whitening_", None)
        n, m = x.shape
        if self.whiten is False:
            self._whitening = None
            self.mean_ = np.zeros(n, dtype=x.dtype)
            return
        total = np.zeros(n)
        scatter = np.zeros((n, n))
        for _, _, part in iter_column_blocks(x, block_columns(n, 8)):
            part = np.asarray(part, dtype=np.float64)
            total += part.sum(axis=1)
            scatter += part @ part.T
        mu = total / m
        covariance = scatter / m - np.outer(mu, mu)
        eigenvalues, eigenvectors = np.linalg.eigh(covariance)
        order = np.argsort(eigenvalues)[::-1]
        eigenvalues, eigenvectors = eigenvalues[order], eigenvectors[:, order]
        floor = max(float(eigenvalues[0]), 0.0) * n * 1e-10
        rank = int(np.sum(eigenvalues > floor)) if eigenvalues[0] > 0 else 0
        keep = self._whitened_dimension(rank, n)
        if rank == 0 or keep > rank:
            raise ValueError(
                f"{type(self).__name__}: whiten='unit-variance' needs centred data of rank at "
                f"least {max(keep, 1)}; got rank {rank} from n_samples={m}, n_features={n}. "
                f"Pass more samples, fewer n_components, or whiten=False for white data."
            )
        scale = np.sqrt(eigenvalues[:keep])
        K = (eigenvectors[:, :keep] / scale).T
        self.mean_ = mu.astype(x.dtype)
        self.whitening_ = K.astype(x.dtype)
        self._dewhitening = (eigenvectors[:, :keep] * scale).astype(x.dtype)
        self._whitening = (self.whitening_, self.mean_)

    def _whitened_dimension(self, rank: int, n: int) -> int:
        """Directions the whitening keeps: all of the data's rank (overcomplete models)."""
        return rank

    def _load_fitted(self, state, n_features_in, n_samples, dtype):
        if self.whiten is not False:
            raise ValueError(f"{type(self).__name__}: a model fitted with whiten="
                             f"{self.whiten!r} cannot be restored from its parameters alone")
        super()._load_fitted(state, n_features_in, n_samples, dtype)
        self._whitening = None
        self.mean_ = np.zeros(self._n, dtype=self._dtype)
        return self

    def _initial_W(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """``w_init`` (checked and copied) or a standard normal draw, ``k × n``."""
        shape = (self._k, x.shape[0])
        if self.w_init is None:
            return rng.standard_normal(shape).astype(x.dtype)
        W = np.array(self.w_init, dtype=x.dtype, copy=True)
        if W.shape != shape:
            space = "whitened features" if self.whiten else "features"
            raise ValueError(
                f"{type(self).__name__}: w_init must have shape {shape} (n_components, "
                f"{space}); got {W.shape}"
            )
        if not np.isfinite(W).all():
            raise ValueError(f"{type(self).__name__}: w_init holds NaN or infinite values")
        return W

    @property
    def mixing_(self) -> np.ndarray:
        """Pseudo-inverse of ``components_``, ``(n_features, n_components)``.

        For a complete model ``transform(X) @ mixing_.T + mean_`` reconstructs ``X`` (the input
        after ``preprocessor``, when one is set).
        """
        return np.linalg.pinv(self.components_)

    def _param_shape(self, name: str) -> tuple[int, ...]:
        return (self._k, self._n)

    def _prepare(self, x: np.ndarray) -> None:
        self._reconstruction = ICAReconstruction.from_data(x)  # C = x xᵀ, in column blocks
        # rows are normalised inside the data's range (see RowNormalized); None: full rank
        self._range_projector = (range_projector(self._reconstruction.C)
                                 if getattr(self, "row_norm", None) == "unit" else None)

    @property
    def components_(self) -> np.ndarray:
        """Unmixing filters as rows, ``(n_components, n_features)``: ``W``, or
        ``W @ whitening_`` when fitted with ``whiten`` (they act on ``X − mean_``)."""
        self._check_fitted()
        W = self._params["W"]
        if getattr(self, "_whitening", None) is None:
            return W.copy()
        return W @ self._whitening[0]

    def _encode(self, x: np.ndarray) -> np.ndarray:
        """``W x`` (k × m), formed block by block into an F-ordered array (``.T`` is C-ordered)."""
        W = self._params["W"]
        m = x.shape[1]
        step = block_columns(max(W.shape), np.result_type(W, x).itemsize)
        if m <= step:
            return W @ x
        out = np.empty((m, W.shape[0]), dtype=np.result_type(W, x)).T
        for start, stop, part in iter_column_blocks(x, step):
            out[:, start:stop] = W @ part
        return out

    def _decode(self, s: np.ndarray) -> np.ndarray:
        x = self._params["W"].T @ s
        if getattr(self, "_whitening", None) is None:
            return x
        return self._dewhitening @ x + self._whitening[1][:, None]

    def _sparsity_term(self):
        return ICASparsity(self.epsilon)

    def _common_record(self, x: np.ndarray, W: np.ndarray, clock: EvalClock) -> dict[str, float]:
        m = x.shape[1]
        reconstruction = clock.call(self._reconstruction.value, {"W": W})
        return {
            "reconstruction_error": reconstruction / m,
            "sparsity": clock.call(mean_abs_response, W, x),
            "ica_reconstruction": reconstruction,
        }

    def objective(self, X: Any) -> float:
        """The training objective per example, evaluated on ``X`` with the fitted ``W``."""
        self._check_fitted()
        x = self._to_columns(X, self._dtype)
        return self._objective_terms(x).value({"W": self._params["W"], "x": x})

    def _objective_terms(self, x: np.ndarray):
        raise NotImplementedError


#: Smoothing of the fixed-point solver's curvature estimate, relative to the mean response
#: variance (1 on white data): ``ε_D = max(ε, _CURVATURE_SMOOTHING · tr(x xᵀ) / (n m))``.
_CURVATURE_SMOOTHING = 1e-2

#: Bytes of one ``k × b`` work block of the fused pass (a few blocks stay in the L2 cache).
_BLOCK_BYTES = 1 << 19

#: Rejected (uphill) fixed-point steps allowed per outer iteration beyond ``inner_iter``; each
#: doubles the damping μ, so the last ones are projected-gradient steps of size ~1/μ.
_MAX_REJECTIONS = 20

#: The damping μ is dropped to zero once it falls below this share of the mean slope.
_MIN_DAMPING = 1e-3


class _ResponsePass:
    """What one pass over the data at ``W`` yields (see :func:`_fixed_point_pass`).

    Attributes
    ----------
    W : ndarray (k, n)
        The filters the pass was made at (the cache key).
    value : float
        ``Σ √(y² + ε)`` over all responses ``y = Wx``.
    abs_sum : float
        ``Σ |y|``.
    G : ndarray (k, n) or None
        ``(1/m) g(Wx) xᵀ`` with ``g(y) = y / √(y² + ε)``: the gradient of ``J``.
    slope : ndarray (k,) or None
        ``(1/m) Σ_j ε_D / (y_ij² + ε_D)^{3/2}``: the mean of ``g′`` per row, at smoothing ε_D.
    """

    __slots__ = ("W", "abs_sum", "G", "slope", "value")

    def __init__(self, W, value, abs_sum, G=None, slope=None) -> None:
        self.W, self.value, self.abs_sum, self.G, self.slope = W, value, abs_sum, G, slope


def _fixed_point_pass(W: np.ndarray, x: np.ndarray, epsilon: float,
                      slope_epsilon: float | None = None, gradient: bool = True) -> _ResponsePass:
    r"""One fused pass over ``x``: value, ``Σ|y|``, and (``gradient``) ``G`` and the mean slope.

    With ``Y = W x`` formed once, block by block of columns (so that the element-wise work
    stays in cache), and ``ε_D = slope_epsilon`` (default ``ε``):

    .. math::
        F = \sum \sqrt{Y^2 + \epsilon}, \qquad
        G = \frac{1}{m}\, \frac{Y}{\sqrt{Y^2 + \epsilon}}\, x^T, \qquad
        d_i = \frac{1}{m} \sum_j \frac{\epsilon_D}{(Y_{ij}^2 + \epsilon_D)^{3/2}}.

    Two matrix products ``k × n × m`` (``Wx`` and ``g(Y) xᵀ``) with ``gradient``, one without.
    Sums are accumulated in float64; ``G`` and ``slope`` are returned in ``W``'s dtype.

    Parameters
    ----------
    W : ndarray (k, n)
    x : ndarray (n, m)
        Same dtype as ``W``.
    epsilon : float
        ε of the objective.
    slope_epsilon : float, optional
        ε_D of the slope (curvature) estimate.
    gradient : bool
        Compute ``G`` and ``slope`` (else only the value and ``Σ|y|``).

    Returns
    -------
    _ResponsePass
    """
    k, n = W.shape
    m = x.shape[1]
    dtype = W.dtype
    eps_d = epsilon if slope_epsilon is None else slope_epsilon
    same = eps_d == epsilon
    width = max(256, _BLOCK_BYTES // (dtype.itemsize * max(k, 1)))
    width = min(width, m)
    n_buffers = 2 if not gradient else (3 if same else 4)
    flat = [np.empty(k * width, dtype) for _ in range(n_buffers)]
    value = abs_sum = 0.0
    G = np.zeros((k, n), np.float64) if gradient else None
    G_block = np.empty((k, n), dtype) if gradient else None
    slope = np.zeros(k, np.float64) if gradient else None
    for _, _, xb in iter_column_blocks(x, width):
        w = xb.shape[1]
        Y, T, *rest = (buffer[:k * w].reshape(k, w) for buffer in flat)
        np.matmul(W, xb, out=Y)
        abs_sum += float(np.abs(Y, out=T).sum(dtype=np.float64))
        np.multiply(Y, Y, out=T)  # y²
        if not gradient:
            T += epsilon
            np.sqrt(T, out=T)
            value += float(T.sum(dtype=np.float64))
            continue
        if same:
            (R,) = rest
            T += epsilon
            np.sqrt(T, out=R)
            value += float(R.sum(dtype=np.float64))
            np.divide(Y, R, out=Y)  # g(y)
            T *= R  # (y² + ε)^{3/2}
            np.divide(eps_d, T, out=T)
            slope += T.sum(axis=1, dtype=np.float64)
        else:
            R, S = rest
            np.add(T, eps_d, out=R)
            np.sqrt(R, out=S)
            R *= S  # (y² + ε_D)^{3/2}
            np.divide(eps_d, R, out=R)
            slope += R.sum(axis=1, dtype=np.float64)
            T += epsilon
            np.sqrt(T, out=T)
            value += float(T.sum(dtype=np.float64))
            np.divide(Y, T, out=Y)  # g(y)
        np.matmul(Y, xb.T, out=G_block)
        G += G_block
    if gradient:
        G = (G / m).astype(dtype, copy=False)
        slope = (slope / m).astype(dtype, copy=False)
    return _ResponsePass(W, value, abs_sum, G, slope)


class OrthonormalICA(_ICABase):
    r"""ICA with orthonormal filters on whitened data (UFLDL ICA exercise).

    .. math:: \min_W \; J(W) = \frac{1}{m}\sum \sqrt{(Wx)^2 + \epsilon}
              \quad \text{s.t.} \quad W W^T = I

    ``X`` is ``(n_samples, n_features)``, transposed inside to ``x`` (``n × m``); it must be
    white (identity covariance) for the constraint to make sense. ``n_components ≤ n_features``.

    **Solvers.** ``solver="projected_gradient"`` (default): Armijo projected gradient, see the
    module docstring. ``solver="fixed_point"``: with :math:`y = Wx` (``k × m``),

    .. math::
        g(y) = \frac{y}{\sqrt{y^2 + \epsilon}}, \qquad
        g'_{\epsilon_D}(y) = \frac{\epsilon_D}{(y^2 + \epsilon_D)^{3/2}}, \qquad
        G = \frac{1}{m} g(Wx)\, x^T = \nabla J(W), \qquad
        D = \operatorname{diag}\Big(\frac{1}{m}\sum_j g'_{\epsilon_D}(y_{ij})\Big),

    each step is

    .. math:: W \leftarrow \operatorname{sym}\big((D + \mu I) W - G\big), \qquad
              \operatorname{sym}(M) = (M M^T)^{-1/2} M,

    followed by flipping the sign of any row ``i`` with ``(W_new W_oldᵀ)_ii < 0`` (``J`` is
    even in every row, so this changes nothing but keeps ``components_`` from alternating).
    The damping μ is 0 except after an uphill step (see *Safeguard*).

    *What it optimises.* It is the one-unit Newton step of FastICA (Hyvärinen 1999) for the
    Lagrangian :math:`L(w) = \mathbb E\,G(w^T x) - \tfrac{\beta}{2}(\lVert w\rVert^2 - 1)`
    with the contrast :math:`G(y) = \sqrt{y^2 + \epsilon}` (so ``J`` itself, row by row), the
    Hessian approximated on white data by :math:`(\mathbb E\,g'(w^T x) - \beta) I`:

    .. math::
        w^+ = w - \frac{\mathbb E[x\, g(w^T x)] - \beta w}{\mathbb E[g'(w^T x)] - \beta}
            = \frac{\mathbb E[g'(w^T x)]\, w - \mathbb E[x\, g(w^T x)]}
                    {\mathbb E[g'(w^T x)] - \beta}.

    At a constrained *minimum* of ``J`` the Hessian on the tangent space,
    :math:`\mathbb E g' - \beta` with :math:`\beta = \mathbb E[y\, g(y)]`, is positive, so
    the Newton direction is a positive multiple of :math:`D w - \mathbb E[x g]`: that is the
    sign used here, the opposite of the textbook FastICA ``E[x g] − E[g′] w`` (the two differ by
    the sign of every row after ``sym``; for super-Gaussian sources, where the sparsity
    objective has its minima, :math:`\mathbb E g' > \mathbb E[y g]`, e.g. 2 p(0) ≈ 1.41 against
    E|y| ≈ 0.71 for unit Laplace sources). The symmetric orthonormalisation replaces FastICA's
    deflation so that all ``k`` rows move at once and stay orthonormal.

    *The curvature estimate.* For a small ε, ``g′`` is a spike of width √ε and
    :math:`\mathbb E g'(y) \to 2 p(0)` (twice the response density at zero), estimated from the
    few responses within about √ε of zero: with ε = 1e-6 and m = 50,000 about 70 of them, so
    ``D`` is noisy, and where it comes out too large the row barely moves (from a random start
    that costs 25 steps instead of 7 on 64 Laplace sources). ``D`` is therefore computed with
    ``ε_D = max(ε, 0.01 σ²)``, σ² the mean response variance ``tr(x xᵀ)/(n m)`` (1 on white
    data): the same target 2 p(0), estimated from the responses within about 0.1 σ of zero,
    biased low (1.25 against 1.41 for unit Laplace sources, a step about 1.3 times too long:
    the convergence is linear, fast, where the ideal Newton step would be quadratic; with
    ``ε_D = 0.1 σ²`` the steps overshoot twice and the iteration no longer converges). ``D``
    only scales the step: ``G`` is the exact gradient of ``J`` at the requested ε, and the
    fixed points below are those of ``J``, whatever ``D``.

    *Why a fixed point is a stationary point of the constrained problem.* ``sym(M) = W`` with
    ``W`` orthonormal rows means ``M = P W`` with ``P = (MMᵀ)^{1/2}`` symmetric positive
    definite (polar decomposition). With ``M = (D + μI)W − G`` this gives
    ``G = (D + μI − P) W = S W`` with ``S`` symmetric: hence ``G(I − WᵀW) = 0`` and
    ``G Wᵀ = S`` is symmetric, so the Riemannian
    gradient on the Stiefel manifold (canonical/embedded metric),
    ``grad J = G − ½(GWᵀ + WGᵀ) W − G(I − WᵀW)``, vanishes. Conversely at a stationary point
    ``G = SW`` with ``S = GWᵀ`` symmetric and the step returns ``W`` whenever ``D + μI − S`` is
    positive definite (near an ICA solution ``S ≈ diag(E[y g(y)])``, so this is the
    minimum condition above), up to the row signs that the alignment removes. The iteration
    is not a descent method in general: it converges (locally quadratically for independent
    sources) to the stationary points, and the safeguard below makes the recorded
    ``objective`` non-increasing. On data that are not an ICA mixture (natural image patches)
    it converges much more slowly than on independent sources, and more slowly than the
    projected gradient, which is why that stays the default.

    *Safeguard.* A step that raises ``J`` is rejected, the damping μ is raised (to the mean
    of ``D`` at the first rejection, doubled at each further one) and the step retried from
    the same ``W``; after an accepted step μ is quartered (and set to 0 once below 0.1 % of
    the mean of ``D``). As μ grows the step tends to the projected gradient step
    ``sym(W − G/μ)``, so for a large enough μ it goes downhill unless ``W`` is a stationary
    point. An outer iteration takes ``inner_iter`` accepted steps, or ends after
    ``inner_iter + 20`` tries (or a step too small to change ``W``): ``W`` then stays, the
    recorded objective repeats and the ``tol`` rule ends the fit. μ is solver state
    (``state_dict()["solver_state"]["damping"]``), so resuming is bit-identical.

    *Cost.* One fused pass over ``x`` per step (:func:`_fixed_point_pass`): ``Y = Wx`` formed
    once per block of columns, and from it, in cache, ``Σ√(y² + ε)``, ``Σ|y|``, ``g(Y)``, ``D``
    and ``G = g(Y) xᵀ/m``: two ``k × n × m`` products and one ``k × n`` SVD per step, no line
    search. The pass is made at the *new* ``W``, so its value decides acceptance and its
    ``G`` and ``D`` make the next step; the last one is cached with the ``W`` it belongs to
    and gives the history record (``objective``, ``sparsity`` = mean ``|Wx|``) without
    another pass, and the reconstruction error comes from ``C = x xᵀ`` (cost independent of
    ``m``). All passes count as objective evaluations (``eval_time``). ``step_size`` is not
    used (recorded as NaN); ``inner_steps`` records the accepted steps and ``damping`` the
    final μ.

    Parameters
    ----------
    n_components : int or None
        Number of filters ``k`` (default ``n_features``).
    epsilon : float
        Smoothing ε.
    step_size : float
        First trial step of the line search (``solver="projected_gradient"`` only).
    solver : {"projected_gradient", "fixed_point"}
        Projected gradient with line search (default) or the fixed-point iteration above.
    max_iter : int
        Outer iterations; each takes ``inner_iter`` accepted projected-gradient steps, or
        ``inner_iter`` accepted fixed-point steps (at most ``inner_iter + 20`` tries).
    inner_iter : int
        Steps per outer iteration (the unit of checkpoints and history records).
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
        Records with ``objective``, ``ica_sparsity``, ``ica_reconstruction``,
        ``reconstruction_error``, ``sparsity`` (mean |Wx|), ``step_size`` (last accepted step;
        NaN for ``"fixed_point"``, which records ``inner_steps`` and ``damping``),
        ``wall_time``, ``eval_time``, ``eval_share``.
    """

    _parameter_constraints: ClassVar[dict] = {
        **_COMMON, "step_size": Interval(float, 0.0, None, closed="neither"),
        "solver": Options(("projected_gradient", "fixed_point"))}

    def __init__(
        self,
        n_components: int | None = None,
        *,
        epsilon: float = 1e-6,
        step_size: float = 1.0,
        solver: str = "projected_gradient",
        max_iter: int = 300,
        inner_iter: int = 10,
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
        self.epsilon = epsilon
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

    def _initialize(self, x, rng):
        return {"W": symmetric_orthonormalize(self._initial_W(x, rng))}

    def _whitened_dimension(self, rank: int, n: int) -> int:
        return self.n_components if self.n_components is not None else rank

    def _initial_solver_state(self) -> dict[str, Any]:
        return {"step_size": float(self.step_size), "damping": 0.0}

    def _objective_terms(self, x: np.ndarray):
        return (1.0 / x.shape[1]) * self._sparsity_term()

    def _prepare(self, x: np.ndarray) -> None:
        super()._prepare(x)
        self._pass_cache: _ResponsePass | None = None  # the last pass, keyed by its W
        variance = float(np.trace(self._reconstruction.C, dtype=np.float64)) / x.size
        self._slope_epsilon = max(float(self.epsilon), _CURVATURE_SMOOTHING * variance)

    def _cached_pass(self, W: np.ndarray) -> _ResponsePass | None:
        """The cached pass if it was made at exactly this ``W`` (same fit, same data)."""
        cached = getattr(self, "_pass_cache", None)
        if cached is not None and np.array_equal(cached.W, W):
            return cached
        return None

    def _cache(self, result: _ResponsePass) -> None:
        """Keep ``result`` with a private copy of its ``W`` (a callback may change ``W``)."""
        result.W = result.W.copy()
        self._pass_cache = result

    def _iterate(self, x, params, rng, clock):
        if self.solver == "fixed_point":
            return self._fixed_point_chunk(x, params["W"], clock)
        term = self._objective_terms(x)

        def fun(W: np.ndarray) -> tuple[float, np.ndarray]:
            return term.value_and_grad({"W": W, "x": x}, "W")

        result = projected_gradient(
            guarded(clock.timed(fun)), params["W"], symmetric_orthonormalize,
            self._solver_state["step_size"], self.inner_iter,
        )
        self._solver_state["step_size"] = 2.0 * result.step_size
        return {"W": result.x}, x, {"step_size": result.step_size, "inner_evals": result.n_eval}

    def _fixed_point_chunk(self, x, W, clock):
        """``inner_iter`` accepted steps ``W ← sym(diag(d + μ) W − G)``, one pass each."""
        epsilon, slope_epsilon = self.epsilon, self._slope_epsilon

        def evaluate(W: np.ndarray) -> _ResponsePass:
            result = _fixed_point_pass(W, x, epsilon, slope_epsilon)
            if not np.isfinite(result.value):
                if not np.isfinite(W).all():
                    raise NonFiniteObjective("iterate is not finite")
                raise NonFiniteObjective(f"objective is {result.value!r}")
            return result

        evaluate = clock.timed(evaluate)
        current = self._cached_pass(W)
        if current is None or current.G is None:
            current = evaluate(W)
        damping = float(self._solver_state.get("damping", 0.0))
        steps = tries = 0
        while steps < self.inner_iter and tries < self.inner_iter + _MAX_REJECTIONS:
            tries += 1
            M = (current.slope + damping)[:, None] * W
            M -= current.G
            W_new = symmetric_orthonormalize(M)
            if not np.isfinite(W_new).all():
                raise NonFiniteObjective("iterate is not finite")
            W_new[np.einsum("ij,ij->i", W_new, W) < 0] *= -1  # J is even in every row
            if np.array_equal(W_new, W):  # damped to a standstill
                break
            new = evaluate(W_new)  # its G and slope make the next step
            if new.value <= current.value:
                W, current, steps = W_new, new, steps + 1
                damping = 0.0 if damping <= _MIN_DAMPING * float(np.mean(current.slope)) \
                    else 0.25 * damping
            else:  # uphill: reject, damp (towards a projected gradient step) and retry
                damping = max(2.0 * damping, float(np.mean(current.slope)))
        self._solver_state["damping"] = damping
        self._cache(current)
        return {"W": W}, x, {"step_size": float("nan"), "inner_steps": steps,
                             "damping": damping}

    def _measure(self, x, params, clock):
        """The record at ``W`` from the cached pass when there is one (else one value pass).

        The reconstruction error comes from the covariance ``C = x xᵀ``
        (``ICAReconstruction.from_data``, cost independent of ``m``).
        """
        W = params["W"]
        k, m = W.shape[0], x.shape[1]
        current = self._cached_pass(W)
        if current is None:
            current = clock.call(_fixed_point_pass, W, x, self.epsilon, gradient=False)
            self._cache(current)
        reconstruction = clock.call(self._reconstruction.value, {"W": W})
        return {"objective": current.value / m, "ica_sparsity": current.value,
                "reconstruction_error": reconstruction / m,
                "sparsity": current.abs_sum / (k * m),
                "ica_reconstruction": reconstruction}


class RICA(_ICABase):
    r"""Reconstruction ICA (Le et al. 2011): sparse responses plus a soft orthonormality.

    .. math::
        J(W) = \frac{\alpha}{m}\sum \sqrt{(Wx)^2 + \epsilon}
               + \frac{1}{m}\lVert W^T W x - x\rVert_F^2

    minimised with L-BFGS (``scipy.optimize.minimize(method="L-BFGS-B", jac=True)``), one run of
    ``inner_iter`` iterations per outer iteration. ``X`` is ``(n_samples, n_features)``,
    transposed inside; use whitened data. ``n_components > n_features`` (overcomplete) is allowed.

    **Unit-norm rows** (``row_norm="unit"``, the default; UFLDL's ``softICACost.m`` and Le et al.
    2011). Unconstrained, the reconstruction term is already zero for any ``n`` orthonormal
    rows, so in an overcomplete basis (or on data of rank ``r < n``, e.g. ZCA-whitened patches
    with the patch mean removed, rank ``n − 1``) only about ``r`` filters keep norm 1 and the
    sparsity term shrinks the others to zero. With ``row_norm="unit"`` the cost is evaluated at
    the rows scaled to unit length,

    .. math::
        \tilde w_i = \frac{w_i}{\lVert w_i \rVert}, \qquad
        J_{unit}(W) = J(\tilde W), \qquad
        \frac{\partial J_{unit}}{\partial w_i}
        = \frac{g_i - (g_i \cdot \tilde w_i)\,\tilde w_i}{\lVert w_i \rVert},
        \quad g_i = \frac{\partial J}{\partial \tilde w_i}(\tilde W)

    (:class:`RowNormalized`), and after every L-BFGS chunk ``W`` is replaced by ``W̃``, so the
    stored parameters (``components_``, ``state_dict()``) are the unit-norm rows the cost was
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

    Parameters
    ----------
    n_components : int or None
        Number of filters ``k`` (default ``n_features``).
    alpha : float
        Sparsity weight α per example (called ``lambda_`` before; same value and meaning).
    row_norm : {"unit", None}
        ``"unit"``: evaluate the cost at unit-norm rows and store those (default); ``None``:
        unconstrained ``W`` (overcomplete bases then lose filters to zero norm).
    epsilon : float
        Smoothing ε.
    max_iter : int
        Outer iterations (L-BFGS chunks).
    inner_iter : int
        L-BFGS iterations per outer iteration.
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
        ``lbfgs_iter``, ``wall_time``, ``eval_time``, ``eval_share``.
    """

    _parameter_constraints: ClassVar[dict] = {
        **_COMMON, "alpha": Interval(float, 0.0, None), "row_norm": OR_NONE(Options(("unit",))),
    }

    def __init__(
        self,
        n_components: int | None = None,
        *,
        alpha: float = 0.1,
        row_norm: str | None = "unit",
        epsilon: float = 1e-2,
        max_iter: int = 50,
        inner_iter: int = 20,
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

    def _initialize(self, x, rng):
        W = self._initial_W(x, rng)
        W /= np.linalg.norm(W, axis=1, keepdims=True)
        return {"W": W}

    def _objective_terms(self, x: np.ndarray, reconstruction=None):
        m = x.shape[1]
        if reconstruction is None:
            reconstruction = ICAReconstruction.from_data(x)
        return (self.alpha / m) * self._sparsity_term() + (1.0 / m) * reconstruction

    def _iterate(self, x, params, rng, clock):
        total = self._objective_terms(x, self._reconstruction)
        if self.row_norm == "unit":
            total = RowNormalized(total, "W", self._range_projector)

        def fun(W: np.ndarray) -> tuple[float, np.ndarray]:
            return total.value_and_grad({"W": W, "x": x}, "W")

        result = lbfgs(guarded(clock.timed(fun)), params["W"], self.inner_iter)
        W = result.x
        if self.row_norm == "unit":
            if not np.isfinite(W).all():
                raise NonFiniteObjective("iterate is not finite")
            W = total.unit_rows(W)  # store the unit rows the cost was evaluated at
        return {"W": W}, x, {"step_size": float("nan"), "lbfgs_iter": result.n_iter}

    def _measure(self, x, params, clock):
        W = params["W"]
        m = x.shape[1]
        sparsity = self._sparsity_term()
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
    row_norm, epsilon, max_iter, inner_iter, tol, random_state, dtype, callbacks, preprocessor, \
whiten, w_init, blas_threads
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
        **{name: c for name, c in RICA._parameter_constraints.items() if name != "n_components"},
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
        max_iter: int = 50,
        inner_iter: int = 20,
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

    def _check_param_relations(self) -> None:
        check_torus(type(self).__name__, self.grid, self.pool)

    def _setup(self, x: np.ndarray) -> None:
        rows, cols = self.grid
        self._k = rows * cols
        self.n_components_ = self._k
        self.grouping_ = grouping_matrix((rows, cols), pool=self.pool, wrap=self.wrap)
        self._pooled = TopographicICASparsity(self.grouping_, self.epsilon)

    def _sparsity_term(self):
        return self._pooled
