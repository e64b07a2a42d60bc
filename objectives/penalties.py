r"""Sparsity penalties: smooth functions :math:`\varphi` of the pooled energies of responses.

A penalty acts on the responses ``y`` (the codes ``s`` in sparse coding, ``Wx`` in ICA) through
their pooled energies :math:`u = V (y \circ y) \ge 0` (``V = I`` when there is no grouping):

.. math:: F(y) = \sum \varphi(u), \qquad
          \nabla_y F = 2\, y \circ V^T \varphi'(u).

A penalty provides :math:`\varphi`, :math:`\varphi'`, :math:`\varphi''` (element-wise, on arrays
of any float dtype, which they keep) and a curvature bound
:math:`\sup_y |\tfrac{d^2}{dy^2} \varphi(y^2)|` (the step of accelerated gradient methods); the
sparsity terms of :mod:`objectives.sparsity` do the rest. For the fixed-point ICA step the
one-dimensional contrast :math:`g(y) = \tfrac{d}{dy}\varphi(y^2) = 2y\varphi'(y^2)` and its slope
:math:`g'(y) = 2\varphi'(y^2) + 4y^2\varphi''(y^2)` come from the same three functions.

Built in (:data:`PENALTIES`): ``smoothed_l1`` :math:`\sqrt{u + \epsilon}` (the seed's, UFLDL's)
and ``cauchy`` :math:`\log(1 + u/\sigma^2)`. A new penalty is a subclass with ``name``,
:meth:`Penalty.phi`, :meth:`Penalty.dphi` and :meth:`Penalty.d2phi`, registered with
:func:`register_penalty`; see ``docs/extending.md``.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from ._sums import _ones, fast_total

__all__ = ["PENALTIES", "CauchyPenalty", "Penalty", "SmoothedL1Penalty", "make_penalty",
           "register_penalty"]


def positive_number(value: Any, label: str, owner: str) -> float:
    """``value`` as a Python float (so float32 arrays stay float32); must be finite and > 0."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{owner}: {label} must be a positive number; got {value!r}") from None
    if isinstance(value, bool) or not math.isfinite(number) or number <= 0.0:
        raise ValueError(f"{owner}: {label} must be a positive finite number; got {value!r}")
    return number


class Penalty:
    r"""A smooth sparsity penalty :math:`\varphi(u)` on pooled energies :math:`u \ge 0`.

    Subclasses set ``name`` and implement :meth:`phi`, :meth:`dphi` and :meth:`d2phi`; they may
    override the fused methods (:meth:`value_and_weight`, :meth:`slope`) for speed, and
    :meth:`curvature` when :math:`\varphi` is not concave. Parameters are keyword arguments of
    ``__init__`` stored under their own names (as in scikit-learn), which gives
    :meth:`get_params`, ``repr`` and equality.
    """

    name: ClassVar[str] = "penalty"

    # -- the function ---------------------------------------------------------------------
    def phi(self, u: np.ndarray) -> np.ndarray:
        r""":math:`\varphi(u)`, element-wise."""
        raise NotImplementedError

    def dphi(self, u: np.ndarray) -> np.ndarray:
        r""":math:`\varphi'(u)`, element-wise."""
        raise NotImplementedError

    def d2phi(self, u: np.ndarray) -> np.ndarray:
        r""":math:`\varphi''(u)`, element-wise (only the fixed-point ICA solver needs it)."""
        raise NotImplementedError(f"penalty {self.name!r} has no second derivative (d2phi)")

    def curvature(self) -> float:
        r"""A bound on :math:`\sup_y |\tfrac{d^2}{dy^2}\varphi(y^2)|`: :math:`2\varphi'(0)`.

        Exact for concave, increasing :math:`\varphi` (every sparsity penalty of this form:
        :math:`\tfrac{d^2}{dy^2}\varphi(y^2) = 2\varphi'(u) + 4u\varphi''(u) \le 2\varphi'(0)`);
        override otherwise. With a grouping the trainers multiply it by the largest column
        sum of ``V``.
        """
        return 2.0 * abs(float(self.dphi(np.zeros(1))[0]))

    # -- fused forms (override for speed; the defaults use phi/dphi/d2phi) -----------------
    def value_and_weight(self, u: np.ndarray, coef: float = 1.0) -> float:
        r"""Return :math:`\sum\varphi(u)` and overwrite ``u`` with :math:`2c\,\varphi'(u)`."""
        value = float(np.sum(self.phi(u), dtype=np.float64))
        np.multiply(self.dphi(u), 2.0 * float(coef), out=u, casting="same_kind")
        return value

    def value_sum(self, u: np.ndarray) -> float:
        r""":math:`\sum\varphi(u)` (``u`` may be overwritten)."""
        return float(np.sum(self.phi(u), dtype=np.float64))

    def slope(self, u: np.ndarray) -> np.ndarray:
        r""":math:`g'(y) = 2\varphi'(u) + 4u\varphi''(u)` at :math:`u = y^2` (a fresh array)."""
        return 2.0 * self.dphi(u) + 4.0 * u * self.d2phi(u)

    def for_slope(self, variance: float, smoothing: float | None = None) -> Penalty:
        """The penalty whose :meth:`slope` estimates the fixed-point curvature on data of this
        mean response variance (default: this penalty); ``smoothing``, relative to the
        variance, asks for a resolution other than the fixed point's (the quasi-Newton
        solver's pair curvature)."""
        return self

    def smoothed(self, level: float) -> Penalty | None:
        """A smoother member of this penalty's family at smoothing ``level`` (in the units of
        ``u``), for the fixed-point solver's smooth start; None (the default): no such family,
        the solver starts on this penalty."""
        return None

    def contrast(self, Y: np.ndarray, u: np.ndarray, slope_penalty: Penalty,
                 spare: tuple[np.ndarray, np.ndarray],
                 with_slope: bool = True) -> tuple[float, np.ndarray | None]:
        r"""The fixed-point step's element-wise work on one block of responses.

        With ``u = Y∘Y``: overwrite ``Y`` with :math:`g(Y) = 2Y\varphi'(u)` and return
        :math:`\sum\varphi(u)` and (``with_slope``, else None) the row sums of :math:`g'(Y)`
        under ``slope_penalty`` (float64, one per row). ``u`` and the two ``spare`` arrays (of
        ``Y``'s shape and dtype) may be overwritten.
        """
        slope = (slope_penalty.slope(u).sum(axis=1, dtype=np.float64) if with_slope
                 else None)
        value = self.value_and_weight(u)
        Y *= u
        return value, slope

    def table(self) -> list[dict] | None:
        """Layer-table rows (the engine's form) mapping ``u`` to :math:`\\sum\\varphi(u)`, or
        None when the engine has no activations for it."""
        return None

    # -- parameters -----------------------------------------------------------------------
    @classmethod
    def _param_names(cls) -> tuple[str, ...]:
        parameters = list(inspect.signature(cls.__init__).parameters.values())[1:]
        return tuple(p.name for p in parameters
                     if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD))

    def get_params(self) -> dict[str, Any]:
        """The constructor's parameters and their values."""
        return {name: getattr(self, name) for name in self._param_names()}

    def to_config(self) -> dict[str, Any]:
        """``{"name": ..., **params}``: the mapping :func:`make_penalty` accepts."""
        return {"name": self.name, **self.get_params()}

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.get_params() == self.get_params()

    def __hash__(self) -> int:
        return hash((type(self), tuple(sorted(self.get_params().items()))))

    def __repr__(self) -> str:
        inner = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({inner})"


#: Smoothing of the smoothed L1's fixed-point curvature estimate, relative to the mean response
#: variance (1 on white data): ``ε_D = max(ε, CURVATURE_SMOOTHING · σ²)``.
CURVATURE_SMOOTHING = 1e-2

#: Registered penalties, by name.
PENALTIES: dict[str, type[Penalty]] = {}


def register_penalty(cls: type[Penalty]) -> type[Penalty]:
    """Register a :class:`Penalty` subclass under its ``name`` (usable as a decorator).

    Registered names are what ``penalty=`` and the YAML key ``model.penalty`` accept; the
    gradient-check suite checks every registered penalty.
    """
    if not (isinstance(cls, type) and issubclass(cls, Penalty)):
        raise TypeError(f"register_penalty: expected a Penalty subclass; got {cls!r}")
    name = cls.name
    if not isinstance(name, str) or not name.isidentifier() or name == Penalty.name:
        raise ValueError(f"register_penalty: {cls.__name__} needs a 'name' (an identifier); "
                         f"got {name!r}")
    known = PENALTIES.get(name)
    if known is not None and known is not cls and known.__qualname__ != cls.__qualname__:
        raise ValueError(f"register_penalty: the name {name!r} is taken by {known.__name__}")
    PENALTIES[name] = cls
    return cls


def make_penalty(spec: Any, defaults: Mapping[str, Any] | None = None,
                 owner: str = "penalty") -> Penalty:
    """A :class:`Penalty` from a name, a mapping ``{"name": ..., **params}`` or a penalty.

    ``defaults`` (e.g. the estimator's ``epsilon``) fill parameters the spec leaves out, where
    the penalty has them. Errors name ``owner``, the spec and the registered names.
    """
    if isinstance(spec, Penalty):
        return spec
    if isinstance(spec, str):
        name, params = spec, {}
    elif isinstance(spec, Mapping) and "name" in spec:
        params = dict(spec)
        name = params.pop("name")
    else:
        raise ValueError(f"{owner}: expected a penalty name ({', '.join(sorted(PENALTIES))}), "
                         f"a mapping with 'name', or a Penalty; got {spec!r}")
    cls = PENALTIES.get(name)
    if cls is None:
        raise ValueError(f"{owner}: unknown penalty {name!r}; known: "
                         f"{', '.join(sorted(PENALTIES))} (register_penalty adds one)")
    accepted = cls._param_names()
    for key in params:
        if key not in accepted:
            raise ValueError(f"{owner}: penalty {name!r} has no parameter {key!r}; it takes "
                             f"{', '.join(accepted) or 'none'}")
    for key, value in (defaults or {}).items():
        if key in accepted and key not in params and value is not None:
            params[key] = value
    return cls(**params)


@register_penalty
class SmoothedL1Penalty(Penalty):
    r"""The seed's smoothed L1: :math:`\varphi(u) = \sqrt{u + \epsilon}`.

    :math:`\varphi' = \tfrac12 (u+\epsilon)^{-1/2}`,
    :math:`\varphi'' = -\tfrac14 (u+\epsilon)^{-3/2}`, curvature bound :math:`1/\sqrt\epsilon`,
    contrast slope :math:`g'(y) = \epsilon / (y^2 + \epsilon)^{3/2}`.

    Parameters
    ----------
    epsilon : float
        Smoothing :math:`\epsilon > 0`.
    """

    name = "smoothed_l1"

    def __init__(self, epsilon: float = 1e-2) -> None:
        self.epsilon = positive_number(epsilon, "epsilon", type(self).__name__)

    def phi(self, u):
        return np.sqrt(u + self.epsilon)

    def dphi(self, u):
        return 0.5 / np.sqrt(u + self.epsilon)

    def d2phi(self, u):
        root = np.sqrt(u + self.epsilon)
        return -0.25 / (root * root * root)

    def curvature(self) -> float:
        return 1.0 / math.sqrt(self.epsilon)

    def value_and_weight(self, u, coef=1.0):
        u += self.epsilon
        np.sqrt(u, out=u)
        value = fast_total(u)
        np.divide(float(coef), u, out=u)
        return value

    def value_sum(self, u):
        u += self.epsilon
        np.sqrt(u, out=u)
        return fast_total(u)

    def slope(self, u):
        root = np.sqrt(u + self.epsilon)
        root *= root * root
        return np.divide(self.epsilon, root, out=root)

    def contrast(self, Y, u, slope_penalty, spare, with_slope=True):
        """Fused: one square root per entry, ``g(Y) = Y/√(u+ε)``, slope ``ε_D/(u+ε_D)^{3/2}``;
        sums by BLAS (:mod:`objectives._sums`)."""
        if not isinstance(slope_penalty, SmoothedL1Penalty):
            return super().contrast(Y, u, slope_penalty, spare, with_slope)
        R, S = spare
        eps, eps_d = self.epsilon, slope_penalty.epsilon
        ones = _ones(u.dtype, u.shape[1])
        slope = None
        if eps_d == eps:
            u += eps
            np.sqrt(u, out=R)
            value = fast_total(R)
            np.divide(Y, R, out=Y)  # g(y)
            if with_slope:
                u *= R  # (y² + ε)^{3/2}
                np.divide(eps_d, u, out=u)
                slope = np.dot(u, ones).astype(np.float64, copy=False)
            return value, slope
        if with_slope:
            np.add(u, eps_d, out=R)
            np.sqrt(R, out=S)
            R *= S  # (y² + ε_D)^{3/2}
            np.divide(eps_d, R, out=R)
            slope = np.dot(R, ones).astype(np.float64, copy=False)
        u += eps
        np.sqrt(u, out=u)
        value = fast_total(u)
        np.divide(Y, u, out=Y)  # g(y)
        return value, slope

    def for_slope(self, variance: float, smoothing: float | None = None) -> Penalty:
        """ε_D = max(ε, s σ²), ``s = smoothing`` (default 0.01): the slope estimated from the
        responses within about √s σ of zero instead of √ε (see ``docs/fixed_point_ica.md``)."""
        share = CURVATURE_SMOOTHING if smoothing is None else smoothing
        eps_d = max(self.epsilon, share * float(variance))
        return self if eps_d == self.epsilon else SmoothedL1Penalty(eps_d)

    def smoothed(self, level: float) -> Penalty | None:
        """:math:`\\sqrt{u + \\max(\\epsilon, \\text{level})}`: for a large level nearly
        quadratic in ``u`` (a kurtosis-like contrast, which unmixes a random start quickly)."""
        return None if level <= self.epsilon else SmoothedL1Penalty(level)

    def table(self) -> list[dict]:
        return [{"weight": "I", "activation": {"add_epsilon": self.epsilon}},
                {"weight": None, "activation": "sqrt"}]


@register_penalty
class CauchyPenalty(Penalty):
    r"""Cauchy (log) penalty :math:`\varphi(u) = \log(1 + u/\sigma^2)`.

    :math:`\varphi' = 1/(\sigma^2 + u)`, :math:`\varphi'' = -1/(\sigma^2 + u)^2`, curvature
    bound :math:`2/\sigma^2`. The negative log-density of a Cauchy prior (Olshausen & Field
    1996) when ungrouped; not convex in ``y``.

    Parameters
    ----------
    sigma : float
        Scale :math:`\sigma > 0` of the responses below which the penalty is quadratic.
    """

    name = "cauchy"

    def __init__(self, sigma: float = 0.5) -> None:
        self.sigma = positive_number(sigma, "sigma", type(self).__name__)

    def phi(self, u):
        return np.log1p(u / (self.sigma * self.sigma))

    def dphi(self, u):
        return 1.0 / (u + self.sigma * self.sigma)

    def d2phi(self, u):
        d = 1.0 / (u + self.sigma * self.sigma)
        return -(d * d)

    def smoothed(self, level: float) -> Penalty | None:
        """:math:`\\log(1 + u/\\max(\\sigma^2, \\text{level}))`."""
        return None if level <= self.sigma ** 2 else CauchyPenalty(math.sqrt(level))

    def table(self) -> list[dict]:
        return [{"weight": "I", "activation": {"scale": 1.0 / (self.sigma * self.sigma)}},
                {"weight": "I", "activation": {"add_epsilon": 1.0}},
                {"weight": None, "activation": "log"}]


def penalty_names() -> tuple[str, ...]:
    """Names of the registered penalties, sorted."""
    return tuple(sorted(PENALTIES))
