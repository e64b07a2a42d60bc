r"""What the mini-batch trainers share: one outer iteration as a step on a given batch.

:class:`SparseCoding`, :class:`TopographicSparseCoding` and :class:`OnlineDictionaryLearning`
draw a mini-batch per outer iteration and then update the atoms from that batch alone. Their
``fit`` is therefore exactly

1. draw the batch's indices with the model's Generator (:meth:`MiniBatchMixin._draw_batch`,
   the only draw ``fit`` itself makes after the initialisation), then
2. :meth:`_step` on the gathered batch,

and :meth:`MiniBatchMixin.partial_fit` is step 2 on the batch the caller gives. For the two to
agree bit for bit, the randomness *inside* a step (re-seeding an unused atom with an example of
the batch) comes from a second stream, the **step stream**, and not from the Generator that
draws the batches: with one stream, the draws of a re-seed would shift every later batch of
``fit``, which ``partial_fit`` (given its batches) cannot reproduce.

Randomness, precisely. ``random_state`` gives the model's Generator (``state_dict()
["rng_state"]``), as for every trainer. Before its first draw, the step stream is derived from
it without advancing it: ``bit_generator.jumped()`` (for PCG64 a jump by about
``0.618·2¹²⁸`` draws, for MT19937 by ``2¹²⁸``: non-overlapping in any practical run); a bit
generator without ``jumped`` (SFC64) seeds a PCG64 from the first draws of a *copy* of the
Generator. The initialisation (``init="data"``/``"random"``) and the batch indices are drawn
from the model's Generator, the re-seeds from the step stream, whose state is kept in
``state_dict()["solver_state"]["step_rng"]`` (a bit generator state, like ``rng_state``) so that
a resumed fit stays bit-identical. A state written before the split has no ``step_rng``; its
step stream is then derived from the resumed Generator the same way (deterministic: resuming the
same state twice gives the same model).

Layout. BLAS rounding depends on the memory layout of the batch, so every step brings its
batch to one layout first (:attr:`MiniBatchMixin._batch_order`: C for the dictionary learner,
whose steps always worked on C-ordered batches; F, each example a contiguous column, for sparse
coding, the layout of the no-copy view ``X.T`` of a C-ordered ``X``). The gathered batch of
``fit`` and the ``X.T`` of ``partial_fit(X[batch])`` then hold the same bytes in the same order.

Test hook: set ``model._batch_log = []`` before ``fit`` and every outer iteration appends the
indices of its batch (``np.arange(m)`` when the batch is all of ``X``); ``partial_fit(X[i])`` for
those ``i`` in order, on a fresh model with the same ``random_state`` and a ``dict_init`` (or
``init="random"``), gives the atoms of that ``fit`` bit for bit.
"""

from __future__ import annotations

import copy
from typing import Any, ClassVar

import numpy as np

from .base import _clone_bit_generator
from .columns import take_columns
from .state import TrainState
from .timing import EvalClock

__all__ = ["STEP_RNG", "MiniBatchMixin", "checked_dict_init", "generator_from_state",
           "step_stream"]

#: Key of the step stream's bit generator state in ``solver_state``.
STEP_RNG = "step_rng"


def step_stream(rng: np.random.Generator) -> dict[str, Any]:
    """State of the step stream derived from ``rng``, which is not advanced.

    Parameters
    ----------
    rng : numpy.random.Generator
        The model's Generator, before its first draw (or as restored from an old state).

    Returns
    -------
    dict
        A bit generator state (``bit_generator.state``) for :func:`generator_from_state`.
    """
    bit_generator = rng.bit_generator
    jumped = getattr(bit_generator, "jumped", None)
    if callable(jumped):
        return copy.deepcopy(jumped().state)
    probe = np.random.Generator(_clone_bit_generator(bit_generator))
    seed = probe.integers(0, 2**32, size=8, dtype=np.uint64)
    return np.random.PCG64(np.random.SeedSequence([int(v) for v in seed])).state


def generator_from_state(state: dict[str, Any]) -> np.random.Generator:
    """A Generator whose bit generator has ``state`` (a ``bit_generator.state`` dict).

    Raises
    ------
    ValueError
        If ``state`` is not the state of one of numpy's bit generators.
    """
    try:
        kind = getattr(np.random, str(state["bit_generator"]))
        if not (isinstance(kind, type) and issubclass(kind, np.random.BitGenerator)):
            raise TypeError(f"{state['bit_generator']!r} is not a numpy bit generator")
        bit_generator = kind()
        bit_generator.state = copy.deepcopy(state)
    except (AttributeError, KeyError, TypeError, ValueError) as error:
        raise ValueError(f"not a numpy bit generator state ({error})") from None
    return np.random.Generator(bit_generator)


def checked_dict_init(owner: str, dict_init: Any, k: int, n: int, dtype: np.dtype,
                      atoms: str) -> np.ndarray:
    """``dict_init`` (``k × n``, atoms as rows) checked and copied to an ``n × k`` array.

    Parameters
    ----------
    owner : str
        Class name for the messages.
    dict_init : array_like
        The user's initial atoms, one per row; never modified.
    k, n : int
        Expected number of atoms and of features (after the preprocessor).
    dtype : dtype
        The fit's dtype.
    atoms : str
        What the model's atoms must satisfy: ``"any"`` (kept as given), ``"unit_norm"`` (each
        atom divided by its norm; zero atoms stay zero) or ``"unit_ball"`` (atoms longer than 1
        divided by their norm).

    Returns
    -------
    ndarray of shape (n, k)
        C-ordered, of ``dtype``: the atoms as columns of ``A``.

    Raises
    ------
    ValueError
        ``"<owner>: dict_init must have shape (k, n); got (a, b) ..."`` for a wrong shape; also
        for non-real or non-finite values.
    """
    D = np.asarray(dict_init)
    if D.shape != (k, n):
        raise ValueError(
            f"{owner}: dict_init must have shape {(k, n)}; got {D.shape} (one atom per row: "
            f"n_components atoms of the {n} features the model sees, after the preprocessor)"
        )
    if D.dtype.kind not in "fiub":
        raise ValueError(f"{owner}: dict_init must hold real numbers; got dtype {D.dtype}")
    A = np.array(D.T, dtype=dtype, order="C", copy=True)
    if not np.isfinite(A).all():
        raise ValueError(f"{owner}: dict_init holds NaN or infinite values")
    if atoms != "any":
        norms = np.linalg.norm(A, axis=0)
        scale = norms > 1.0 if atoms == "unit_ball" else norms > 0.0
        A[:, scale] /= norms[scale].astype(dtype)
    return A


class MiniBatchMixin:
    """``fit`` as batch draw + :meth:`_step`, ``partial_fit``, ``dict_init`` and the step stream.

    For a :class:`~sparselearn.trainers.base.BaseTrainer` subclass (list it first among the
    bases). The subclass supplies :meth:`_step` and :meth:`_initial_basis` (default:
    ``dict_init`` or :func:`trainers.dictionary._initial_atoms`); ``_setup`` must set ``_k``
    (atoms) and ``_b`` (batch size). See the module docstring.
    """

    #: memory layout every step's batch is brought to (see the module docstring)
    _batch_order: ClassVar[str] = "C"
    #: test hook: a list here collects the batch indices of every outer iteration of ``fit``
    _batch_log: list | None = None

    # -- hooks of the subclass ----------------------------------------------------------------
    def _step(
        self, batch: np.ndarray, params: dict[str, np.ndarray], rng: np.random.Generator,
        clock: EvalClock,
    ) -> tuple[dict[str, np.ndarray], Any, dict[str, Any]]:
        """One outer iteration on ``batch`` (``n × b``, laid out as :attr:`_batch_order`).

        ``rng`` is the step stream; :meth:`_run_step` stores its state afterwards. Returns what
        ``BaseTrainer._iterate`` returns.
        """
        raise NotImplementedError

    def _dict_init_kind(self) -> str:
        """How ``dict_init`` is normalised: ``"any"``, ``"unit_norm"`` or ``"unit_ball"``."""
        return "any"

    # -- BaseTrainer hooks ------------------------------------------------------------------
    def _initialize(self, x: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
        stream = step_stream(rng)  # before the first draw, and without one
        A = self._initial_basis(x, rng)
        self._initial_step_rng = stream
        return {"A": A}

    def _initial_basis(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """``dict_init`` (checked, copied, normalised) or the atoms of ``init`` (``n × k``)."""
        from .dictionary import _initial_atoms

        if self.dict_init is None:
            return _initial_atoms(x, self._k, self.init, rng)
        return checked_dict_init(type(self).__name__, self.dict_init, self._k, x.shape[0],
                                 x.dtype, self._dict_init_kind())

    def _initial_solver_state(self) -> dict[str, Any]:
        stream = self.__dict__.pop("_initial_step_rng", None)
        return {} if stream is None else {STEP_RNG: stream}

    def _prepare(self, x: np.ndarray) -> None:
        """Check the step stream of a resume state (derive it for a state without one)."""
        super()._prepare(x)
        state = self._solver_state
        if STEP_RNG not in state:
            state[STEP_RNG] = step_stream(self._rng)
            return
        try:
            generator_from_state(state[STEP_RNG])
        except ValueError as error:
            raise ValueError(
                f"{type(self).__name__}: resume solver_state {STEP_RNG!r} is {error}"
            ) from None

    def _draw_batch(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """The outer iteration's batch: ``_b`` distinct columns drawn with ``rng``, sorted."""
        m = x.shape[1]
        if self._b < m:
            index = np.sort(rng.choice(m, size=self._b, replace=False))
            batch = take_columns(x, index)
        else:
            index = None
            batch = x
        if isinstance(self._batch_log, list):
            self._batch_log.append(np.arange(m) if index is None else index)
        return batch

    def _iterate(
        self, x: np.ndarray, params: dict[str, np.ndarray], rng: np.random.Generator,
        clock: EvalClock,
    ) -> tuple[dict[str, np.ndarray], Any, dict[str, Any]]:
        """Draw the batch with the model's Generator, then the step ``partial_fit`` makes."""
        return self._run_step(self._draw_batch(x, rng), params, clock)

    def _run_step(
        self, batch: np.ndarray, params: dict[str, np.ndarray], clock: EvalClock
    ) -> tuple[dict[str, np.ndarray], Any, dict[str, Any]]:
        """:meth:`_step` on ``batch`` in the canonical layout, with the step stream."""
        batch = np.asarray(batch, order=self._batch_order)
        rng = generator_from_state(self._solver_state[STEP_RNG])
        out = self._step(batch, params, rng, clock)
        # _step may have replaced the solver state; the stream's new state goes into that one
        self._solver_state = {**self._solver_state, STEP_RNG: rng.bit_generator.state}
        return out

    # -- public -------------------------------------------------------------------------------
    def partial_fit(self, X: Any, y: Any = None) -> MiniBatchMixin:
        """One outer iteration of ``fit`` on the whole batch ``X``.

        The first call (on an unfitted model) initialises as ``fit`` would on ``X``: sizes
        (the batch size ``min(batch_size, len(X))``, which also sets the per-example trade-off
        where the model ties it to the batch size), dtype, ``n_features_in_`` and
        ``feature_names_in_``, the Generator from ``random_state`` and the atoms
        (``dict_init``, else ``init`` on this batch). Every call, also on a model fitted by
        ``fit`` or an earlier ``partial_fit``, then makes one step on all of ``X``: codes for
        the current atoms, then the atom update (and, for the dictionary learner, the running
        statistics before it), appending one record to ``history_`` and counting one more in
        ``n_iter_``. Later calls check the features of ``X`` against the first
        (scikit-learn's ``ValueError`` on a mismatch); ``max_iter`` and ``tol`` play no part.
        A model restored from its parameters alone (no ``solver_state``) starts its running
        statistics afresh.

        Callbacks see each call as a fit of one outer iteration (``on_train_begin``,
        ``on_iteration_end``, ``on_train_end``); ``StopTraining`` from one ends the call
        normally. A non-finite objective raises ``TrainingDiverged`` and keeps the model of the
        previous call.

        The batches ``fit`` draws, passed in the same order to a fresh model with the same
        ``random_state`` and initial atoms (``dict_init``, or ``init="random"``, whose draws do
        not depend on the data; ``init="data"`` picks its examples from all of ``X`` in
        ``fit`` but from the first batch here), give the atoms of ``fit`` bit for bit.

        Parameters
        ----------
        X : array_like of shape (n_samples, n_features)
            One mini-batch, one example per row (raw when a ``preprocessor`` is set).
        y : ignored

        Returns
        -------
        self
        """
        with self._threads():
            return self._partial_fit(X)

    def _partial_fit(self, X: Any) -> MiniBatchMixin:
        self._validate_params()
        if not self.__sklearn_is_fitted__():
            x = self._to_columns(X, None, reset=True)
            self._begin(x, None)
        else:
            x = self._to_columns(X, self._dtype)
            if x.shape[0] != self._n:
                raise ValueError(
                    f"{type(self).__name__}: X must have {self._n} features after "
                    f"preprocessing; got {x.shape[0]}"
                )
            if not self._solver_state:  # restored from its parameters alone: fresh statistics
                self._solver_state = self._initial_solver_state()
        self._prepare(x)
        clock, start = self._clocks()
        state = TrainState(self.n_iter_, self.max_iter, self._params, None, self.history_, self)
        with self._callback_session(state, finished="partial_fit") as callbacks:
            self._advance(lambda: self._run_step(x, self._params, clock), clock, start, state,
                          callbacks)
        return self
