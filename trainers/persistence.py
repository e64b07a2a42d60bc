"""Checkpoints of a trainer: ``state_dict()``, restoring it, and loading a saved model.

:class:`PersistenceMixin` is a base of :class:`~sparselearn.trainers.base.BaseTrainer`. A state
is ``{"params", "rng_state", "iteration", "history", "solver_state"}``, taken at an
outer-iteration boundary; with the same data, seed and thread count, a fit resumed from it is
bit-identical to an uninterrupted one. The subclass supplies ``_param_names`` and
``_param_shape(name)``; the base supplies ``_check_fitted``, ``_validate_params`` and
``_setup``.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

import numpy as np

from .rng import make_rng

if TYPE_CHECKING:
    from .base import BaseTrainer

__all__ = ["FEATURE_AXIS", "PersistenceMixin"]

#: Axis of each fitted parameter that runs over the (preprocessed) features.
FEATURE_AXIS = {"W": 1, "A": 0}

#: Keys every resume state must have.
STATE_KEYS = frozenset({"params", "rng_state", "iteration", "history", "solver_state"})


class PersistenceMixin:
    """``state_dict`` / resume / load of a fitted trainer (see the module docstring)."""

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to resume bit-for-bit, taken at an outer-iteration boundary.

        Returns
        -------
        dict
            ``{"params": {name: ndarray}, "rng_state": dict, "iteration": int,
            "history": list[dict], "solver_state": dict}`` (deep copies).
        """
        self._check_fitted()
        return {
            "params": {k: v.copy() for k, v in self._params.items()},
            "rng_state": copy.deepcopy(self._rng.bit_generator.state),
            "iteration": int(self.n_iter_),
            "history": [dict(r) for r in self.history_],
            "solver_state": copy.deepcopy(self._solver_state),
        }

    def _restore(self, state: dict[str, Any]) -> None:
        """Put this fit back into ``state`` (one of its own ``state_dict()``s)."""
        self._params = {k: v.copy() for k, v in state["params"].items()}
        self._rng.bit_generator.state = copy.deepcopy(state["rng_state"])
        self.n_iter_ = state["iteration"]
        self._solver_state = copy.deepcopy(state["solver_state"])
        del self.history_[state["iteration"]:]

    def _load_state(self, resume: dict[str, Any], rng: np.random.Generator, owner: str):
        """Check a resume state; returns ``(params, iteration, history, solver_state)``.

        Sets ``rng``'s state from it. Raises ``ValueError`` naming ``owner`` and the missing
        key, the parameter of the wrong shape, or the rng state that does not fit.
        """
        missing = STATE_KEYS - set(resume)
        if missing:
            raise ValueError(f"{owner}: resume state lacks {', '.join(sorted(missing))}")
        params = {}
        for name in self._param_names:
            if name not in resume["params"]:
                raise ValueError(f"{owner}: resume state has no parameter {name!r}")
            value = np.array(resume["params"][name], dtype=self._dtype, copy=True, order="C")
            expected = self._param_shape(name)
            if value.shape != expected:
                raise ValueError(
                    f"{owner}: resume parameter {name!r} must have shape {expected}; "
                    f"got {value.shape}"
                )
            params[name] = value
        try:
            rng.bit_generator.state = copy.deepcopy(resume["rng_state"])
        except (TypeError, ValueError, KeyError) as error:
            raise ValueError(
                f"{owner}: resume rng_state does not fit the generator: {error}"
            ) from None
        history = [dict(r) for r in resume["history"]]
        return params, int(resume["iteration"]), history, copy.deepcopy(resume["solver_state"])

    def _param_shape(self, name: str) -> tuple[int, ...]:
        """Shape of a parameter: ``(k, n)`` for filters ``W``, ``(n, k)`` for atoms ``A``."""
        return (self._k, self._n) if name == "W" else (self._n, self._k)

    def _load_fitted(self, state: dict[str, Any], n_features_in: int, n_samples: int,
                     dtype: Any) -> BaseTrainer:
        """Turn this unfitted estimator into the fitted model of a saved ``state``.

        Parameters
        ----------
        state : dict
            A ``state_dict()``: ``params`` are required; ``rng_state``, ``iteration``,
            ``history`` and ``solver_state`` are taken when present.
        n_features_in : int
            Features of the raw input (before the ``preprocessor``).
        n_samples : int
            Examples the model was fitted on (it sets the batch size of mini-batch trainers,
            which enters their per-example trade-off).
        dtype : dtype
            The fitted dtype.

        The result transforms new data; training it further needs the data (``fit`` with
        ``resume=``).
        """
        self._validate_params()
        owner = type(self).__name__
        self._dtype = np.dtype(dtype)
        first = np.asarray(state["params"][self._param_names[0]])
        n = int(first.shape[FEATURE_AXIS[self._param_names[0]]])
        self._n, self._m = n, int(n_samples)
        self._setup(np.broadcast_to(np.zeros((), dtype=self._dtype), (n, self._m)))
        rng = make_rng(self.random_state)
        full = {"rng_state": rng.bit_generator.state, "iteration": 0, "history": [],
                "solver_state": {}, **state}
        params, iteration, history, solver_state = self._load_state(full, rng, owner)
        self._params, self._rng, self._solver_state = params, rng, solver_state
        self.history_, self.n_iter_ = history, iteration
        self.n_features_in_ = int(n_features_in)
        self.stop_reason_ = state.get("stop_reason")
        return self
