r"""A sparsity penalty written as a layer table (the seed's form), run by the engine.

``{input: y, layers: [...]}`` is a scalar function of the responses ``y`` (codes or ``Wx``),
in the format of :mod:`objectives.network`; it may read the grouping matrix ``V`` and no other
name. The seed's Example 2,

.. code-block:: yaml

    input: y
    layers:
      - {weight: I, activation: square}
      - {weight: V, activation: identity}
      - {weight: I, activation: {add_epsilon: 0.01}}
      - {weight: null, activation: sqrt}

is the topographic smoothed L1 :math:`\sum\sqrt{V(y\circ y) + \epsilon}`. Value and gradient come
from the seed's backpropagation (:class:`~objectives.network.Network`), so a table needs no
derivative written by hand; :meth:`TablePenalty.check_gradient` holds the gradient against
central differences, as a trainer does before it starts.

**Curvature.** A table of the form ``square`` (weight ``I`` or ``V``), optionally ``V`` →
identity, then rows with weight ``I`` or null and no operand is :math:`\sum\varphi(u)` of the
pooled energies :math:`u`; its curvature bound (the step of the accelerated s-step solver) is
:math:`2\varphi'(0)` times the largest column sum of ``V``, exact when :math:`\varphi` is concave,
with :math:`\varphi'(0)` computed by the engine. Other tables have no bound (None); they train
with solvers that need only value and gradient.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .gradcheck import check_gradient
from .network import Network, parse_table

__all__ = ["TablePenalty"]

_KEYS = ("input", "layers", "name")


class TablePenalty:
    """A penalty given as a layer table on the responses.

    Parameters
    ----------
    spec : mapping or list
        ``{"input": "y", "layers": [...], "name": ...}`` (``input`` defaults to ``"y"``,
        ``name`` to ``"table"``), or the list of rows alone.

    Raises
    ------
    ValueError
        The table is malformed (the message names the row and the key, see
        :func:`~objectives.network.parse_table`) or reads a name other than its input and ``V``.
    """

    def __init__(self, spec: Any) -> None:
        if isinstance(spec, Mapping):
            for key in spec:
                if key not in _KEYS:
                    raise ValueError(f"penalty table: unknown key {key!r}; allowed: "
                                     f"{', '.join(_KEYS)}")
            if "layers" not in spec:
                raise ValueError("penalty table: missing key 'layers'")
            layers, input_name = spec["layers"], spec.get("input", "y")
            name = spec.get("name", "table")
        elif isinstance(spec, Sequence) and not isinstance(spec, (str, bytes)):
            layers, input_name, name = spec, "y", "table"
        else:
            raise ValueError(f"penalty table: expected {{input: y, layers: [...]}}; got {spec!r}")
        if not isinstance(name, str) or not name.isidentifier():
            raise ValueError(f"penalty table: name must be an identifier; got {name!r}")
        parsed = parse_table(layers)
        probe = Network(layers, input=input_name)
        extra = [v for v in probe.variables if v not in (input_name, "V")]
        if extra:
            raise ValueError(f"penalty table: it may read only its input {input_name!r} and the "
                             f"grouping matrix 'V'; it reads {', '.join(extra)}")
        self.input = input_name
        self.name = name
        self.layers = [layer.to_data() for layer in parsed]
        self.uses_grouping = "V" in probe.variables
        self._parsed = parsed

    def to_config(self) -> dict[str, Any]:
        """``{"input": ..., "layers": ..., "name": ...}`` (what the constructor takes)."""
        return {"input": self.input, "layers": self.layers, "name": self.name}

    def bind_grouping(self, V: Any, owner: str) -> np.ndarray | None:
        """Check that a grouping is given exactly when the table reads ``V``; ``V`` or None."""
        if self.uses_grouping and V is None:
            raise ValueError(f"{owner}: the penalty table reads V, the grouping matrix; give a "
                             f"grouping (grid and pool)")
        if not self.uses_grouping and V is not None:
            raise ValueError(f"{owner}: a grouping is given but the penalty table does not read "
                             f"V (add a row with weight V, or drop the grouping)")
        return None if V is None else np.asarray(V, dtype=np.float64)

    def network(self, V: np.ndarray | None) -> Network:
        """The engine's network, ``V`` bound as a constant when the table reads it."""
        constants = {"V": V} if self.uses_grouping else None
        return Network(self.layers, input=self.input, constants=constants, name=self.name)

    def curvature(self, V: np.ndarray | None) -> float | None:
        """The curvature bound of the module docstring, or None for a table without it."""
        layers = self._parsed
        first = layers[0]
        if first.activation.name != "square" or first.weight is None:
            return None
        second = layers[1]
        if first.weight.name == "V":
            start, grouped = 1, True
        elif first.weight.name is not None:
            return None
        elif second.weight is not None and second.weight.name == "V" \
                and second.activation.name == "identity":
            start, grouped = 2, True
        else:
            start, grouped = 1, False
        rows = layers[start:]
        for layer in rows:
            if layer.weight is not None and layer.weight.name is not None:
                return None
            if layer.activation.operand is not None:
                return None
        if rows:
            phi = Network([layer.to_data() for layer in rows], input="u")
            slope = float(phi.grad({"u": np.zeros((1, 1))}, "u")[0, 0])
        else:
            slope = 1.0  # φ(u) = u
        if not np.isfinite(slope):
            return None
        columns = float(np.asarray(V).sum(axis=0).max()) if grouped and V is not None else 1.0
        return 2.0 * abs(slope) * columns

    def check_gradient(self, V: np.ndarray | None, k: int, rng: np.random.Generator,
                       m: int = 4) -> float:
        """Relative error of the engine's gradient against central differences on a random
        ``k × m`` sample of responses (float64)."""
        network = self.network(V)
        Y = rng.standard_normal((k, m))
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            return check_gradient(network, {self.input: Y}, self.input)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TablePenalty) and other.to_config() == self.to_config()

    def __hash__(self) -> int:
        return hash(repr(self.to_config()))

    def __repr__(self) -> str:
        return f"TablePenalty(name={self.name!r}, layers={len(self.layers)})"
