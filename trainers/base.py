"""The estimator base shared by every trainer: fit loop, history, callbacks, checkpoints.

A trainer is an alternating minimisation over blocks of variables. A subclass supplies

- ``_parameter_constraints``: the declarative table of its constructor parameters;
- ``_initialize(x, rng)``: first parameters (and anything fixed for the fit, e.g. ``x xᵀ``);
- ``_iterate(x, params, rng, clock)``: one outer iteration (each block once, with its solver),
  returning new parameters, the data the record is measured on and record extras;
- ``_measure(data, params, clock)``: objective, per-term values, reconstruction error, sparsity;
- ``_encode(x)`` and ``_decode(s)``: the model applied to new data (one example per column).

Everything else — scikit-learn boundary (``X`` is ``(n_samples, n_features)``, transposed to the
seed's one-example-per-column convention inside), dtype handling, the ``numpy.random.Generator``,
history records, callbacks, :class:`~sparselearn.trainers.state.StopTraining` and divergence —
lives here once. Checkpoints (``state_dict()``, bit-identical resume, loading a saved model) come
from :class:`~sparselearn.trainers.persistence.PersistenceMixin`, the fit's Generator from
:mod:`trainers.rng`, and :class:`NonFiniteObjective`/:func:`guarded` from
:mod:`trainers.divergence` (all re-exported here).
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from typing import Any, ClassVar

import numpy as np
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.utils.validation import check_array, check_is_fitted

from .columns import all_finite, default_block, iter_column_blocks, release_pages
from .divergence import DivergenceMixin, NonFiniteObjective, guarded
from .input_checks import InputChecksMixin, validate_input
from .persistence import PersistenceMixin
from .rng import clone_bit_generator as _clone_bit_generator  # noqa: F401 (trainers.minibatch)
from .rng import make_rng, plain
from .state import Callback, StopTraining, TrainingDiverged, TrainState
from .threads import blas_limit
from .timing import EvalClock
from .validation import IS_BLAS_THREADS, Constraint, validate_params

__all__ = ["BaseTrainer", "NonFiniteObjective", "NotFittedError", "guarded"]


class BaseTrainer(ClassNamePrefixFeaturesOutMixin, TransformerMixin, PersistenceMixin,
                  InputChecksMixin, DivergenceMixin, BaseEstimator):
    """Common machinery of the trainers (see the module docstring).

    A scikit-learn transformer: ``get_params``/``set_params``/``clone``, input validation with
    scikit-learn's own messages, ``n_features_in_``, ``feature_names_in_``,
    ``get_feature_names_out`` and ``set_output``. ``fit``, ``transform`` and
    ``inverse_transform`` run with at most ``blas_threads`` BLAS threads (threadpoolctl).
    """

    _parameter_constraints: ClassVar[dict[str, Constraint]] = {}
    #: names of the fitted parameters in ``params``, in the seed's orientation
    _param_names: ClassVar[tuple[str, ...]] = ()
    #: constraints every trainer shares
    _base_constraints: ClassVar[dict[str, Constraint]] = {"blas_threads": IS_BLAS_THREADS}

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        fixed = getattr(self, "dtype", None)
        tags.transformer_tags.preserves_dtype = (
            ["float64", "float32"] if fixed is None else [np.dtype(fixed).name])
        return tags

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "_params")

    @property
    def _n_features_out(self) -> int:
        return int(self.components_.shape[0])

    def _validate_params(self) -> None:
        table = {**self._base_constraints, **self._parameter_constraints}
        validate_params(type(self).__name__, self.get_params(deep=False), table)
        self._check_param_relations()

    def _check_param_relations(self) -> None:
        """Checks across parameters; subclasses override."""

    def _threads(self):
        """Context limiting BLAS threads to ``blas_threads`` (no limit when None)."""
        threads = getattr(self, "blas_threads", None)
        if not IS_BLAS_THREADS(threads):
            raise ValueError(f"{type(self).__name__}: parameter 'blas_threads' must be "
                             f"{IS_BLAS_THREADS.expected}; got {threads!r}.")
        return nullcontext() if threads is None else blas_limit(threads)

    # -- data boundary ----------------------------------------------------------------------
    def _resolve_dtype(self, X: Any) -> np.dtype:
        if self.dtype is not None:
            return np.dtype(self.dtype)
        dtype = getattr(X, "dtype", None)
        if dtype in (np.float32, np.float64):
            return np.dtype(dtype)
        return np.dtype(np.float64)

    def _to_columns(self, X: Any, dtype: np.dtype | None, name: str = "X",
                    reset: bool = False) -> np.ndarray:
        """``(n_samples, n_features)`` → preprocessed ``n × m`` array of ``dtype``.

        ``X`` is validated by scikit-learn (``validate_data``: 2-D, numeric, not complex or
        sparse, ``n_features_in_``/``feature_names_in_`` set when ``reset``, else checked); an
        empty ``X`` gives ``"X has n_samples=0 ..."`` (:mod:`trainers.input_checks`).

        Without a ``preprocessor`` and when ``X`` already has ``dtype``, the result is the
        transposed **view** ``X.T``: nothing is copied, also when ``X`` is a memory map
        (``np.load(path, mmap_mode="r")``), whose pages are then read block by block and
        released again. For a C-ordered ``X`` the view is F-ordered (each example a contiguous
        column); BLAS reads it as it is, and every evaluation on it is deterministic, so a
        resumed fit on the same ``X`` stays bit-identical.

        A dtype conversion needs a new array, converted block by block from a memory map so
        that the map's pages do not stay resident. A ``preprocessor`` (any fitted transformer
        with scikit-learn's orientation, e.g. :class:`~sparselearn.patches.Whitener` or
        ``PCA(whiten=True)``) is applied to ``X`` and its output transposed the same way.

        Finiteness is checked in column blocks (bounded memory): NaN or infinity is a
        ``ValueError`` naming ``name``."""
        owner = type(self).__name__
        original = X
        X = validate_input(self, X, name, reset=reset)
        if X.dtype.kind not in "fiub":
            raise ValueError(f"{owner}: {name} must hold real numbers; got dtype {X.dtype}")
        if dtype is None:
            dtype = self._resolve_dtype(X)
        dtype = np.dtype(dtype)
        if self.preprocessor is not None:
            if not all_finite(X.T):
                raise ValueError(f"Input {name} holds NaN or infinite values ({owner})")
            # a DataFrame goes in as it is, so a transformer fitted on named columns sees them
            processed = np.asarray(self.preprocessor.transform(
                original if hasattr(original, "columns") else X))
            release_pages(X)  # the preprocessor may have read all of a memory-mapped X
            if processed.ndim != 2 or processed.shape[0] != X.shape[0]:
                raise ValueError(
                    f"{owner}: preprocessor.transform must return (n_samples, n_outputs) = "
                    f"({X.shape[0]}, ...); got shape {processed.shape}"
                )
            X = processed
        if X.dtype == dtype:
            x = X.T  # a view, no copy
        else:
            x = np.empty((X.shape[1], X.shape[0]), dtype=dtype)
            for start, stop, part in iter_column_blocks(X.T, default_block(X.shape[1])):
                x[:, start:stop] = part
        if not all_finite(x):
            raise ValueError(f"Input {name} holds NaN or infinite values ({owner})")
        return x

    def _check_fitted(self) -> None:
        check_is_fitted(self)

    # -- subclass hooks ---------------------------------------------------------------------
    def _initialize(self, x: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def _prepare(self, x: np.ndarray) -> None:
        """Precompute what is fixed for the whole fit (e.g. ``x xᵀ``); also run on resume."""

    def _initial_solver_state(self) -> dict[str, Any]:
        return {}

    def _iterate(
        self, x: np.ndarray, params: dict[str, np.ndarray], rng: np.random.Generator,
        clock: EvalClock,
    ) -> tuple[dict[str, np.ndarray], Any, dict[str, Any]]:
        raise NotImplementedError

    def _measure(self, data: Any, params: dict[str, np.ndarray], clock: EvalClock) -> dict:
        raise NotImplementedError

    def _converged(self, history: list[dict]) -> bool:
        tol = getattr(self, "tol", 0.0) or 0.0
        if tol <= 0 or len(history) < 2:
            return False
        previous, current = history[-2]["objective"], history[-1]["objective"]
        return abs(previous - current) <= tol * max(abs(previous), 1e-300)

    # -- fitting ----------------------------------------------------------------------------
    def fit(self, X: Any, y: Any = None, resume: dict[str, Any] | None = None) -> BaseTrainer:
        """Learn the parameters from ``X`` of shape ``(n_samples, n_features)``.

        Parameters
        ----------
        X : array_like of shape (n_samples, n_features)
            Training data, one example per **row** (scikit-learn convention); transposed inside
            to one example per column. If ``preprocessor`` is set, ``X`` is raw data and
            ``preprocessor.transform`` is applied first.
        y : ignored
        resume : dict, optional
            A ``state_dict()`` (or ``TrainingDiverged.last_state``) to continue from. With the
            same data, seed and thread count the result is bit-identical to an uninterrupted fit.

        Returns
        -------
        self
        """
        self._validate_params()
        # a fit that fails part-way leaves an unfitted model, never a mix of two fits
        self.__dict__.pop("_params", None)
        with self._threads():
            return self._fit(X, resume)

    def _fit(self, X: Any, resume: dict[str, Any] | None) -> BaseTrainer:
        x = self._to_columns(X, None, reset=True)
        self._begin(x, resume, check=True)
        self._prepare(x)
        clock, start = self._clocks()
        rng = self._rng
        state = TrainState(self.n_iter_, self.max_iter, self._params, None, self.history_, self)
        with self._callback_session(state, finished="max_iter") as callbacks:
            while self.n_iter_ < self.max_iter:
                self._advance(lambda: self._iterate(x, self._params, rng, clock), clock, start,
                              state, callbacks, growth=True)
                if state.stop:
                    break
                if self._converged(self.history_):
                    state.stop, state.stop_reason = True, "converged"
                    break
        self._warn_if_not_converged()
        return self

    def _begin(self, x: np.ndarray, resume: dict[str, Any] | None, check: bool = False) -> None:
        """Sizes, Generator, first (or resumed) parameters; ``check``: the input checks first."""
        self._dtype = x.dtype
        self._n, self._m = x.shape
        self._setup(x)
        if check:
            self._check_input(x)
        rng = make_rng(self.random_state)
        if resume is None:
            params = {k: np.ascontiguousarray(v) for k, v in self._initialize(x, rng).items()}
            iteration, history, solver_state = 0, [], self._initial_solver_state()
        else:
            params, iteration, history, solver_state = self._load_state(
                resume, rng, type(self).__name__)
        self._params = params
        self._rng = rng
        self._solver_state = solver_state
        self.history_ = history
        self.n_iter_ = iteration
        self._reset_divergence(history, params)

    def _clocks(self) -> tuple[EvalClock, float]:
        """The evaluation clock and the wall-clock origin, continuing the history's times."""
        history = self.history_
        clock = EvalClock(history[-1]["eval_time"] if history else 0.0)
        start = time.perf_counter() - (history[-1]["wall_time"] if history else 0.0)
        return clock, start

    @contextmanager
    def _callback_session(self, state: TrainState, finished: str) -> Iterator[list[Callback]]:
        """``on_train_begin`` / ``on_train_end`` around a fit (yields the callbacks);
        :class:`StopTraining` ends it cleanly; ``stop_reason_`` is the state's reason, or
        ``finished`` when none was set."""
        callbacks: list[Callback] = list(self.callbacks or [])
        for callback in callbacks:
            callback.on_train_begin(state)
        try:
            yield callbacks
        except StopTraining as stop:
            state.stop, state.stop_reason = True, str(stop) or "stopped"
        finally:
            state.params = self._params
            self.stop_reason_ = state.stop_reason or finished
            state.stop_reason = self.stop_reason_
            for callback in callbacks:
                callback.on_train_end(state)

    def _advance(self, step: Callable[[], tuple[dict[str, np.ndarray], Any, dict[str, Any]]],
                 clock: EvalClock, start: float, state: TrainState,
                 callbacks: list[Callback], growth: bool = False) -> None:
        """One outer iteration: ``step()``, its record, the divergence tests, the callbacks.

        A non-finite iterate or objective restores the state before the step and raises
        :class:`TrainingDiverged`. So do the collapse test and, with ``growth`` (``fit``), the
        growth test of :class:`~trainers.divergence.DivergenceMonitor`, which restore the
        state after the iteration with the lowest objective (before any callback sees the
        offending record). A callback that sets ``state.stop`` ends the fit.
        """
        last_state = self.state_dict()
        self._remember_good_state(last_state)
        measured: dict[str, Any] | None = None
        try:
            # an iterate that blows up overflows on its way to a non-finite objective, which
            # is reported below as TrainingDiverged: no RuntimeWarnings before it
            with np.errstate(over="ignore", invalid="ignore"):
                new_params, data, extras = step()
                # one memory layout everywhere: BLAS rounding depends on it, and a resumed fit
                # (parameters restored C-ordered) must be bit-identical
                new_params = {k: np.ascontiguousarray(v) for k, v in new_params.items()}
                measured = self._measure(data, new_params, clock)
            if not math.isfinite(measured["objective"]):
                raise NonFiniteObjective(f"objective is {measured['objective']!r}")
        except NonFiniteObjective as error:
            self._restore(last_state)
            value = measured["objective"] if measured is not None else float("nan")
            state.stop, state.stop_reason = True, f"diverged: {error}"
            raise TrainingDiverged(self.n_iter_ + 1, last_state, value) from None
        self._check_divergence(float(measured["objective"]), new_params, growth, state)
        self._params = new_params
        self.n_iter_ += 1
        wall = time.perf_counter() - start
        record = {"iteration": self.n_iter_, **measured, **extras,
                  "wall_time": wall, "eval_time": clock.eval_time,
                  "eval_share": clock.eval_time / wall if wall > 0 else float("nan")}
        record = {k: plain(v) for k, v in record.items()}
        self.history_.append(record)
        state.iteration, state.params, state.record = self.n_iter_, self._params, record
        for callback in callbacks:
            callback.on_iteration_end(state)
        if state.stop:
            state.stop_reason = state.stop_reason or "stopped by callback"

    def _warn_if_not_converged(self) -> None:
        """``ConvergenceWarning`` when ``max_iter`` ended a fit whose ``tol > 0`` was unmet."""
        tol = getattr(self, "tol", 0.0) or 0.0
        if self.stop_reason_ == "max_iter" and tol > 0 and self.max_iter > 0:
            warnings.warn(
                f"{type(self).__name__} stopped at max_iter={self.max_iter} before the relative "
                f"change of the objective fell below tol={tol:g}; increase max_iter (or tol) "
                "for a converged fit.",
                ConvergenceWarning, stacklevel=4,
            )

    def _setup(self, x: np.ndarray) -> None:
        """Derived sizes before initialisation; by default ``k = n_components`` (or
        ``n_features``), the size :meth:`_param_shape` and :attr:`components_` use."""
        self._k = getattr(self, "n_components", None) or x.shape[0]

    @property
    def components_(self) -> np.ndarray:
        """The learned bases as rows, ``(n_components, n_features)``: ``W`` itself, or ``Aᵀ``."""
        self._check_fitted()
        name = self._param_names[0]
        P = self._params[name]
        return P.copy() if name == "W" else np.ascontiguousarray(P.T)

    # -- applying the model -----------------------------------------------------------------
    def _encode(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _decode(self, s: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def transform(self, X: Any) -> np.ndarray:
        """Encode ``X`` ``(n_samples, n_features)``; returns ``(n_samples, n_components)``."""
        self._check_fitted()
        with self._threads():
            x = self._to_columns(X, self._dtype)
            if x.shape[0] != self._n:
                raise ValueError(
                    f"{type(self).__name__}: X must have {self._n} features after "
                    f"preprocessing; got {x.shape[0]}"
                )
            return np.ascontiguousarray(self._encode(x).T)

    def score(self, X: Any, y: Any = None) -> float:
        """Minus the training objective per example on ``X`` (higher is better), so that
        ``GridSearchCV`` and ``cross_val_score`` work without a ``scoring`` argument."""
        return -float(self.objective(X))

    def fit_transform(self, X: Any, y: Any = None, **fit_params: Any) -> np.ndarray:
        """``fit(X).transform(X)``."""
        return self.fit(X, y, **fit_params).transform(X)

    def inverse_transform(self, X: Any) -> np.ndarray:
        """Reconstruct data from codes ``X`` of shape ``(n_samples, n_components)``.

        Returns ``(n_samples, n_features)``, in the input space of the preprocessor when a
        ``preprocessor`` is set.
        """
        self._check_fitted()
        owner = type(self).__name__
        S = check_array(X, dtype="numeric", input_name="X")
        n_components = self._n_features_out
        if S.shape[1] != n_components:
            raise ValueError(
                f"{owner}: X must have shape (n_samples, {n_components}) (codes); "
                f"got {S.shape}"
            )
        with self._threads():
            x = self._decode(np.ascontiguousarray(S.T, dtype=self._dtype))
            if self.preprocessor is None:
                return np.ascontiguousarray(x.T)
            if not callable(getattr(self.preprocessor, "inverse_transform", None)):
                raise ValueError(
                    f"{owner}: inverse_transform needs a preprocessor with inverse_transform; "
                    f"{type(self.preprocessor).__name__} has none")
            return np.ascontiguousarray(self.preprocessor.inverse_transform(x.T),
                                        dtype=self._dtype)

