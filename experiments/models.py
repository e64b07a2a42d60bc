"""From a config's ``model`` and ``trainer`` sections to a configured estimator."""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from sparselearn.experiments.schema import iter_fields
from sparselearn.trainers.kinds import KINDS

__all__ = ["ESTIMATORS", "estimator_class", "estimator_kwargs", "build_estimator"]

#: model.kind → estimator class name in ``trainers`` (from :data:`trainers.kinds.KINDS`).
ESTIMATORS = {kind: cls.__name__ for kind, cls in KINDS.items()}


def estimator_class(kind: str) -> type:
    """The trainers class for ``kind`` (:data:`trainers.kinds.KINDS`)."""
    return KINDS[kind]


def estimator_kwargs(config: Mapping[str, Any]) -> dict[str, Any]:
    """Constructor arguments for the config's estimator (schema keys with ``estimator_arg``)."""
    kind = config["model"]["kind"]
    accepted = inspect.signature(estimator_class(kind)).parameters
    kwargs: dict[str, Any] = {}
    for path, field in iter_fields():
        arg = field.arg_for(kind)
        if arg is None:
            continue
        section, key = path.rsplit(".", 1)
        value = config[section].get(key)
        if value is None or arg not in accepted:
            continue
        kwargs[arg] = field.to_estimator(value)
    return kwargs


def build_estimator(config: Mapping[str, Any], callbacks: Sequence[Any] = (),
                    preprocessor: Any = None, blas_threads: int | None = 1) -> Any:
    """An unfitted estimator configured by ``config``.

    Parameters
    ----------
    config : mapping
        A resolved config.
    callbacks : sequence of trainers.Callback
    preprocessor : object, optional
        The fitted whitener, stored by the estimator for ``transform`` of raw data.
    blas_threads : int or None
        The estimator's ``blas_threads``: at most this many BLAS threads in ``fit`` and
        ``transform`` (None: the BLAS default). Ignored by a class without the parameter.
    """
    kind = config["model"]["kind"]
    cls = estimator_class(kind)
    accepted = inspect.signature(cls).parameters
    kwargs = estimator_kwargs(config)
    extra = {"random_state": config["seed"], "callbacks": list(callbacks),
             "preprocessor": preprocessor, "dtype": np.dtype(config["data"]["dtype"]),
             "blas_threads": blas_threads}
    kwargs.update({k: v for k, v in extra.items() if k in accepted})
    return cls(**kwargs)

