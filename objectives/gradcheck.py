"""Gradient checking by central differences, as in UFLDL's ``computeNumericalGradient``.

The figure of merit is UFLDL's relative error

.. math:: \\frac{\\lVert g_{num} - g_{ana} \\rVert}{\\lVert g_{num} + g_{ana} \\rVert},

which is about 1e-9 or smaller in float64 for a correct gradient on a well-scaled problem.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from ._validation import as_float_array
from .base import Term


def relative_error(numerical: Any, analytic: Any) -> float:
    """UFLDL's :math:`\\lVert a - b \\rVert / \\lVert a + b \\rVert` (0 when both are zero)."""
    a = np.asarray(numerical, dtype=np.float64)
    b = np.asarray(analytic, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"relative_error: shapes differ: {a.shape} and {b.shape}")
    diff = float(np.linalg.norm(a - b))
    total = float(np.linalg.norm(a + b))
    if diff == 0.0:
        return 0.0
    return diff / total if total > 0.0 else float("inf")


def default_step(dtype: Any) -> float:
    """Relative step :math:`\\epsilon_{mach}^{1/3}` (about 6e-6 in float64, 5e-3 in float32)."""
    return float(np.cbrt(np.finfo(dtype).eps))


def numerical_gradient(
    fun: Callable[[np.ndarray], float],
    x: np.ndarray,
    step: float | None = None,
    indices: np.ndarray | None = None,
) -> np.ndarray:
    """Central-difference gradient of ``fun`` at ``x``.

    Entry i uses :math:`h_i = \\text{step} \\cdot \\max(|x_i|, \\bar x)`, with
    :math:`\\bar x` the root mean square of ``x`` (1 if ``x`` is all zeros), so that the step
    follows the scale of the problem, and the step actually representable in ``x``'s dtype:
    :math:`(f(x + h_i e_i) - f(x - h_i e_i)) / (2 h_i)`.

    Parameters
    ----------
    fun : callable
        Scalar function of an array shaped like ``x``; called with one work array that is
        modified in place between calls.
    x : ndarray
        Point of evaluation (not modified).
    step : float, optional
        Relative step; default :func:`default_step` of ``x``'s dtype.
    indices : array of int, optional
        Flat indices to differentiate (others are left at 0); default all.

    Returns
    -------
    ndarray shaped like ``x``, in float64.
    """
    x = as_float_array(x, "x")
    if step is None:
        step = default_step(x.dtype)
    typical = float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))) or 1.0
    work = np.array(x, copy=True)
    flat = work.reshape(-1)  # a view: work is a fresh contiguous copy
    grad = np.zeros(x.size, dtype=np.float64)
    for i in range(x.size) if indices is None else np.asarray(indices).ravel():
        original = flat[i]
        h = step * max(typical, abs(float(original)))
        flat[i] = original + h
        upper = flat[i]
        f_plus = float(fun(work))
        flat[i] = original - h
        lower = flat[i]
        f_minus = float(fun(work))
        flat[i] = original
        grad[i] = (f_plus - f_minus) / (float(upper) - float(lower))
    return grad.reshape(x.shape)


def check_gradient(
    term: Term,
    variables: Mapping[str, Any],
    wrt: str,
    step: float | None = None,
    max_entries: int | None = None,
    rng: np.random.Generator | None = None,
) -> float:
    """Relative error between ``term``'s gradient and central differences of its value.

    Parameters
    ----------
    term : Term
        Anything with ``value`` and ``value_and_grad``.
    variables : mapping
        Point of evaluation.
    wrt : str
        Variable to check.
    step : float, optional
        Relative finite-difference step (see :func:`numerical_gradient`).
    max_entries : int, optional
        Check only this many randomly chosen entries (drawn from ``rng``); default all.
    rng : numpy.random.Generator, optional
        Needed with ``max_entries``.

    Returns
    -------
    float
        :func:`relative_error` of the numerical and analytic gradients (over the checked entries).
    """
    if wrt not in variables:
        raise ValueError(f"check_gradient: missing variable '{wrt}'")
    x = as_float_array(variables[wrt], f"variable '{wrt}'")
    _, analytic = term.value_and_grad(variables, wrt)
    indices = None
    if max_entries is not None and max_entries < x.size:
        if rng is None:
            raise ValueError("check_gradient: max_entries needs an rng (numpy Generator)")
        indices = rng.choice(x.size, size=max_entries, replace=False)
    others = dict(variables)

    def fun(value: np.ndarray) -> float:
        others[wrt] = value
        return term.value(others)

    numerical = numerical_gradient(fun, x, step, indices)
    if indices is not None:
        return relative_error(numerical.ravel()[indices], np.asarray(analytic).ravel()[indices])
    return relative_error(numerical, analytic)
