"""The fit's random Generator and the plain-record helper shared by the trainers.

:func:`make_rng` turns a ``random_state`` into the Generator a fit draws from, without ever
advancing the object passed; :func:`clone_bit_generator` copies a bit generator's state (used
for the step stream of :mod:`trainers.minibatch`); :func:`plain` turns numpy scalars of a
history record into Python scalars.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np

__all__ = ["clone_bit_generator", "make_rng", "plain"]


def make_rng(random_state: Any) -> np.random.Generator:
    """The fit's Generator from ``random_state``; the object passed is never advanced.

    An int or SeedSequence seeds a new PCG64 Generator; a Generator or a legacy
    ``RandomState`` is copied (its bit generator's state), so fitting twice with the same
    object gives the same model; None draws fresh entropy.

    Parameters
    ----------
    random_state : None, int, SeedSequence, numpy Generator or RandomState
        The seed or the generator to copy.

    Returns
    -------
    numpy.random.Generator
        A Generator owned by the fit.
    """
    if isinstance(random_state, np.random.Generator):
        return np.random.Generator(clone_bit_generator(random_state.bit_generator))
    if isinstance(random_state, np.random.RandomState):
        state = random_state.get_state(legacy=False)
        bit_generator = np.random.MT19937()
        bit_generator.state = {"bit_generator": "MT19937", "state": state["state"]}
        return np.random.Generator(bit_generator)
    return np.random.default_rng(random_state)


def clone_bit_generator(bit_generator: np.random.BitGenerator) -> np.random.BitGenerator:
    """A new bit generator of the same type in a (deep) copy of ``bit_generator``'s state."""
    clone = type(bit_generator)()
    clone.state = copy.deepcopy(bit_generator.state)
    return clone


def plain(value: Any) -> Any:
    """numpy scalars → Python scalars so that records are plain dicts; else ``value``."""
    if isinstance(value, np.generic):
        return value.item()
    return value
