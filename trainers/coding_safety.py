"""The A-step with its scale step and conditioning warning, and the divergence hooks of the
sparse-coding estimators (:mod:`trainers.coding_steps`, :mod:`trainers.divergence`)."""

from __future__ import annotations

import warnings

import numpy as np

from .coding_steps import IllConditionedWarning, balance_scales, update_basis

__all__ = ["CodingSafetyMixin"]


class CodingSafetyMixin:
    """For :class:`~trainers.sparse_coding.SparseCoding`: the estimator provides ``alpha``,
    ``gamma``, ``constraint``, ``inner_iter``, ``s_solver``, ``_b``, ``_k`` and ``_sparsity``.
    """

    def _batch_objective(self, x: np.ndarray):
        """``(A, s) -> J`` on the batch ``x`` without the weight decay (unit-norm A-step)."""
        def score(A: np.ndarray, s: np.ndarray) -> float:
            residual = A @ s
            residual -= x
            value = float(np.einsum("ij,ij->", residual, residual)) / self._b
            return value + self.alpha * self._sparsity.value({"s": s})

        return score

    def _update_basis(
        self, x: np.ndarray, s: np.ndarray, rng: np.random.Generator, A: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Closed-form A-step (:func:`~trainers.coding_steps.update_basis`), then, with weight
        decay, the scale step (:func:`~trainers.coding_steps.balance_scales`)."""
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", IllConditionedWarning)
            A, s = update_basis(x, s, self.constraint, self.gamma * self._b, rng, A=A,
                                score=self._batch_objective(x))
        for record in caught:
            if issubclass(record.category, IllConditionedWarning):
                self._warn_ill_conditioned(str(record.message))
            else:
                warnings.warn_explicit(record.message, record.category, record.filename,
                                       record.lineno)
        if self.constraint == "weight_decay":
            A, s = balance_scales(A, s, self._sparsity, self.alpha, self.gamma)
        return A, s

    def _warn_ill_conditioned(self, detail: str) -> None:
        """One :class:`IllConditionedWarning` per fit, saying what to change."""
        if self.__dict__.get("_ill_conditioned_warned"):
            return
        self._ill_conditioned_warned = True
        if self.constraint == "weight_decay":
            advice = (f"raise gamma (now {self.gamma:g}) or lower alpha (now {self.alpha:g}); "
                      "constraint='unit_norm' fixes the atom norms instead")
        else:
            advice = (f"lower alpha (now {self.alpha:g}) or n_components (now {self._k}): "
                      "some atoms have (nearly) no codes, or collinear ones")
        warnings.warn(
            f"{type(self).__name__}: the A-step's linear system is ill-conditioned at outer "
            f"iteration {self.n_iter_ + 1} ({detail}); the atoms it gives are unreliable. "
            f"To fix: {advice}.", IllConditionedWarning, stacklevel=2)

    # -- divergence (trainers.divergence) -----------------------------------------------------
    def _divergence_scale(self, params: dict[str, np.ndarray]) -> float | None:
        """``‖A‖_F`` with weight decay (unit-norm atoms cannot collapse)."""
        if self.constraint != "weight_decay":
            return None
        return float(np.linalg.norm(params["A"]))

    def _scale_name(self) -> str:
        return "the norm of the basis ‖A‖_F"

    def _divergence_hint(self, kind: str) -> str:
        return (f"likely cause: alpha={self.alpha:g} is too large for the scale of the data "
                f"(per example the codes pay b*alpha = {self._b * self.alpha:g} per unit) or "
                f"the s-step ({self.inner_iter} iterations of {self.s_solver!r}) stops far "
                "from its minimum; lower alpha, raise inner_iter, or use "
                "constraint='unit_norm'")
