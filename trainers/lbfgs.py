r"""L-BFGS whose memory survives between calls: the state is plain arrays a checkpoint can hold.

:func:`lbfgs_start` evaluates the objective at the start and returns a state;
:func:`lbfgs_steps` takes ``max_iter`` iterations from a state and returns the new state. A run
of ``a + b`` iterations split into calls of ``a`` and ``b`` is **bit-identical** to one call of
``a + b``: everything the next iteration depends on (the iterate, its value and gradient, the
``(s, y)`` pairs in order) is in the state, and nothing is evaluated again at a call boundary.
The trainers keep the state in ``solver_state``, so checkpoints and resume continue the memory
(RICA's outer iterations are chunks of one L-BFGS run, not restarts).

The method (Nocedal & Wright, *Numerical Optimization*, 2nd ed., algorithms 7.4 and 7.5):

- direction ``d = −H g`` by the two-loop recursion over the last ``memory`` pairs
  ``s = x⁺ − x``, ``y = g⁺ − g``, with ``H₀ = (sᵀy / yᵀy) I`` from the newest pair; a pair
  with ``sᵀy ≤ 2.2e-16 · yᵀy`` is not stored (no curvature information);
- without pairs (the first iteration) ``d = −g / ‖g‖``: the first trial step has length 1, as
  in L-BFGS-B;
- step length by ``scipy.optimize.line_search`` (strong Wolfe conditions, ``c₁ = 1e-4``,
  ``c₂ = 0.9``, first trial step 1). A trial point whose objective is not finite counts as
  ``+inf`` (the search shrinks the step). When the search fails, the memory is dropped, the
  objective is evaluated afresh at the iterate and one steepest-descent search is tried; when
  that fails too (the objective cannot be lowered at its floating-point precision) the call
  ends with ``message = "line search failed"``. The next call tries the same again, so split
  runs stay identical to one run there too.

The state is float64 whatever the dtype the objective is evaluated in (as scipy's L-BFGS-B);
``fun`` receives arrays of the caller's ``dtype`` and the shape of the start.

**Objectives invariant to row scaling** (``unit_rows=True``; RICA with ``row_norm="unit"``):
when ``f(D x) = f(x)`` for every positive diagonal ``D`` scaling the rows of a 2-D ``x``, the
iterate is scaled back to unit rows after every step, ``x ← D⁻¹x`` with ``D`` its row norms,
and the state is carried into the new coordinates with it: ``g ← D g``, ``s ← D⁻¹ s``,
``y ← D y`` (row by row). In those coordinates ``f`` is the same function, so the pairs stay
exact secant pairs (``sᵀy`` is unchanged), while the row norms of the iterate stay 1 instead of
drifting upwards (the gradient is orthogonal to the rows), which would shrink the gradient by
``1/‖wᵢ‖`` and make the curvature uneven over the rows. Being part of every iteration, it keeps
split runs bit-identical to one run.

**Measured** on the ``configs/rica.yaml`` problem (128 filters, 10,000 whitened 8 × 8
patches, one BLAS thread), 500 iterations from the same start: 25 calls of 20 iterations
40.302086, bit-identical to one call of 500; scipy's L-BFGS-B (memory 10) 40.303584 in one run
and 40.310604 restarted every 20 iterations (RICA before this module). Memory 5, 10, 20, 50, 100:
40.304189, 40.302086, 40.303978, 40.303966, 40.304437 (10 is the default); without
``unit_rows`` 40.304498, its row norms grown to 2.8–4.2. Bookkeeping outside ``fun`` is about
2–3 ms per iteration against 30–40 ms per evaluation, as for L-BFGS-B, and a run needs fewer
evaluations (515 for 500 iterations; L-BFGS-B restarted every 20: 570).

Stopping: ``max_iter`` iterations (``"max_iter"``), a zero gradient (``"converged: zero
gradient"``), or, with ``tol > 0``, an iteration whose relative decrease
``(f − f⁺) / max(|f|, |f⁺|)`` is at most ``tol`` (``"converged"``, the ``ftol`` test of
L-BFGS-B).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np
import scipy.optimize

from sparselearn.objectives.row_normalized import normalize_rows

from .divergence import NonFiniteObjective
from .solvers import Objective, SolverResult

__all__ = ["CONVERGED", "check_lbfgs_state", "lbfgs_start", "lbfgs_steps"]

#: Messages of a call that ended because no further progress is expected.
CONVERGED = ("converged", "converged: zero gradient", "line search failed")

#: Pairs with ``sᵀy`` at or below this multiple of ``yᵀy`` are skipped (L-BFGS-B's test).
_CURVATURE_EPS = float(np.finfo(np.float64).eps)

_STATE_ARRAYS = ("x", "grad", "s", "y")


class _Evaluator:
    """``fun`` on flat float64 points, remembering the last one (the line search asks for the
    value and the gradient at the same point separately); counts real evaluations."""

    def __init__(self, fun: Objective, shape: tuple[int, ...], dtype: np.dtype) -> None:
        self.fun, self.shape, self.dtype = fun, shape, dtype
        self.count = 0
        self._point: np.ndarray | None = None
        self._result: tuple[float, np.ndarray] = (math.inf, np.empty(0))

    def __call__(self, z: np.ndarray) -> tuple[float, np.ndarray]:
        if self._point is not None and np.array_equal(z, self._point):
            return self._result
        self.count += 1
        try:
            value, grad = self.fun(z.reshape(self.shape).astype(self.dtype, copy=False))
            value = float(value)
            grad = np.array(grad, dtype=np.float64).ravel()  # a copy: fun may reuse buffers
            if not (math.isfinite(value) and np.isfinite(grad).all()):
                raise NonFiniteObjective(f"objective is {value!r}")
        except NonFiniteObjective:  # a trial step too long: the search shrinks it
            value, grad = math.inf, np.full(z.size, np.nan)
        self._point, self._result = np.array(z, copy=True), (value, grad)
        return self._result

    def value(self, z: np.ndarray) -> float:
        return self(z)[0]

    def grad(self, z: np.ndarray) -> np.ndarray:
        return self(z)[1]

    def at_start(self, z: np.ndarray) -> tuple[float, np.ndarray]:
        """Value and gradient where the iteration stands; these must be finite."""
        value, grad = self(z)
        if not math.isfinite(value):
            raise NonFiniteObjective("objective is not finite at the L-BFGS iterate")
        return value, grad


def lbfgs_start(fun: Objective, x0: np.ndarray) -> dict[str, Any]:
    """The state before the first iteration: ``x0`` (as float64), ``fun(x0)``, no pairs.

    Parameters
    ----------
    fun : callable
        ``x -> (value, grad)`` on arrays of ``x0``'s shape and dtype.
    x0 : ndarray
        Start; not modified.

    Returns
    -------
    dict
        ``{"x", "value", "grad", "s", "y", "n_iter", "n_eval", "message"}``: float64 arrays
        (``s`` and ``y`` of shape ``(pairs, x0.size)``, oldest first), Python scalars and a
        string, all a checkpoint can store.

    Raises
    ------
    NonFiniteObjective
        ``fun(x0)`` is not finite.
    """
    x = np.array(x0, dtype=np.float64, copy=True)
    evaluate = _Evaluator(fun, x.shape, np.asarray(x0).dtype)
    value, grad = evaluate.at_start(x.ravel())
    empty = np.empty((0, x.size))
    return {"x": x, "value": value, "grad": grad.reshape(x.shape), "s": empty,
            "y": empty.copy(), "n_iter": 0, "n_eval": 1, "message": "start"}


def check_lbfgs_state(state: Any, shape: tuple[int, ...], owner: str,
                      where: str = "solver_state['lbfgs']") -> None:
    """Raise ``ValueError`` naming ``owner`` and the key when ``state`` is not an L-BFGS state
    for parameters of ``shape`` (a resume state from another model or a damaged file)."""
    if not isinstance(state, Mapping):
        raise ValueError(f"{owner}: resume {where} must be a dict; got {type(state).__name__}")
    missing = sorted({*_STATE_ARRAYS, "value", "n_iter", "n_eval"} - set(state))
    if missing:
        raise ValueError(f"{owner}: resume {where} lacks {', '.join(missing)}")
    size = math.prod(shape)
    expected = {"x": tuple(shape), "grad": tuple(shape)}
    for key in _STATE_ARRAYS:
        value = np.asarray(state[key])
        want = expected.get(key)
        ok = value.shape == want if want else (value.ndim == 2 and value.shape[1] == size)
        if not ok or value.dtype != np.float64 or not np.isfinite(value).all():
            form = want if want else f"(pairs, {size})"
            raise ValueError(f"{owner}: resume {where}[{key!r}] must be a finite float64 array "
                             f"of shape {form}; got {value.dtype} {value.shape}")
    if np.shape(state["s"]) != np.shape(state["y"]):
        raise ValueError(f"{owner}: resume {where}['s'] and ['y'] must have the same shape; "
                         f"got {np.shape(state['s'])} and {np.shape(state['y'])}")
    if not isinstance(state["value"], float) or not math.isfinite(state["value"]):
        raise ValueError(f"{owner}: resume {where}['value'] must be a finite float; "
                         f"got {state['value']!r}")


def _direction(g: np.ndarray, S: list[np.ndarray], Y: list[np.ndarray]) -> np.ndarray:
    """``−H g`` by the two-loop recursion (pairs oldest first); ``−g/‖g‖`` without pairs."""
    if not S:
        return g / -np.linalg.norm(g)
    rho = [1.0 / np.dot(s, y) for s, y in zip(S, Y, strict=True)]
    q = g.copy()
    a = np.empty(len(S))
    for i in range(len(S) - 1, -1, -1):
        a[i] = rho[i] * np.dot(S[i], q)
        q -= a[i] * Y[i]
    q *= np.dot(S[-1], Y[-1]) / np.dot(Y[-1], Y[-1])
    for i in range(len(S)):
        q += (a[i] - rho[i] * np.dot(Y[i], q)) * S[i]
    return -q


def _line_search(evaluate: _Evaluator, x: np.ndarray, value: float, grad: np.ndarray,
                 d: np.ndarray) -> tuple[np.ndarray, float, np.ndarray] | None:
    """Strong-Wolfe step along ``d``: ``(x⁺, f⁺, g⁺)``, or None when the search fails."""
    with warnings.catch_warnings():  # failure is reported by the None step below
        warnings.filterwarnings("ignore", "The line search algorithm", RuntimeWarning)
        alpha = scipy.optimize.line_search(evaluate.value, evaluate.grad, x, d, gfk=grad,
                                           old_fval=value, c1=1e-4, c2=0.9)[0]
    if alpha is None or not alpha > 0:
        return None
    z = x + alpha * d  # the point the search evaluated (same expression, same bits)
    f, g = evaluate(z)
    return (z, f, g) if math.isfinite(f) and f <= value else None


def _to_unit_rows(x: np.ndarray, grad: np.ndarray, S: list[np.ndarray], Y: list[np.ndarray],
                  shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Carry the state into the coordinates where the iterate has unit rows
    (``unit_rows=True``): returns the new iterate and gradient; the pairs change in place."""
    unit, norms = normalize_rows(x.reshape(shape))
    scale = np.broadcast_to(norms, shape).ravel()
    for s, y in zip(S, Y, strict=True):
        s /= scale
        y *= scale
    return unit.ravel(), grad * scale


def lbfgs_steps(fun: Objective, state: Mapping[str, Any], max_iter: int, dtype: Any = None,
                memory: int = 10, tol: float = 0.0, unit_rows: bool = False,
                ) -> tuple[dict[str, Any], SolverResult]:
    """``max_iter`` L-BFGS iterations continuing ``state`` (see the module docstring).

    Parameters
    ----------
    fun : callable
        ``x -> (value, grad)`` on arrays of ``state["x"]``'s shape and of ``dtype``.
    state : dict
        From :func:`lbfgs_start` or a previous call (not modified).
    max_iter : int
        Iterations (accepted steps) to take at most.
    dtype : dtype, optional
        What ``fun`` is evaluated in (default float64); the result's ``x`` has it too.
    memory : int
        Pairs kept (the newest ``memory`` of the state's are used).
    tol : float
        Relative-decrease stop (0: none).
    unit_rows : bool
        ``fun`` is invariant to positive row scaling of a 2-D ``x``: keep the iterate at unit
        rows (see the module docstring).

    Returns
    -------
    state : dict
        The new state (``n_iter`` and ``n_eval`` count from the start, ``message`` is this
        call's).
    result : SolverResult
        ``x`` in ``dtype``, ``value`` at ``x``, this call's iterations and evaluations.
    """
    dtype = np.dtype(np.float64 if dtype is None else dtype)
    shape = np.shape(state["x"])
    evaluate = _Evaluator(fun, shape, dtype)
    x = np.array(state["x"], dtype=np.float64).ravel()
    value, grad = float(state["value"]), np.array(state["grad"], dtype=np.float64).ravel()
    # the pairs as lists of rows (copies): appending and dropping one moves no data
    S = list(np.array(state["s"], dtype=np.float64)[-memory:])
    Y = list(np.array(state["y"], dtype=np.float64)[-memory:])
    message, n_iter, fresh = "max_iter", 0, False
    while n_iter < max_iter:
        if not grad.any():
            message = "converged: zero gradient"
            break
        d = _direction(grad, S, Y)
        step = _line_search(evaluate, x, value, grad, d) if np.dot(grad, d) < 0 else None
        if step is None:
            if fresh:
                message = "line search failed"
                break
            # the memory, or the value of a state resumed on other data, may be stale: drop
            # the memory, evaluate afresh at the iterate and try steepest descent once more
            S, Y = [], []
            value, grad = evaluate.at_start(x)
            fresh = True
            continue
        fresh = False
        z, f, g = step
        s, y = z - x, g - grad
        if np.dot(s, y) > _CURVATURE_EPS * np.dot(y, y):
            S.append(s)
            Y.append(y)
            if len(S) > memory:
                del S[0], Y[0]
        if unit_rows:
            z, g = _to_unit_rows(z, g, S, Y, shape)
        decrease = value - f
        x, value, grad = z, f, g
        n_iter += 1
        if tol > 0 and decrease <= tol * max(abs(value), abs(value + decrease), 1e-300):
            message = "converged"
            break
    pairs = (len(S), x.size)
    new_state = {"x": x.reshape(shape), "value": value, "grad": grad.reshape(shape),
                 "s": np.array(S).reshape(pairs), "y": np.array(Y).reshape(pairs),
                 "n_iter": int(state["n_iter"]) + n_iter,
                 "n_eval": int(state["n_eval"]) + evaluate.count, "message": message}
    result = SolverResult(x.reshape(shape).astype(dtype), value, n_iter, evaluate.count,
                          message=message)
    return new_state, result
