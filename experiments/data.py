"""From a config's ``data`` section to the training data: sample → normalise → fit whitening.

:func:`check_memory` estimates, before anything is allocated, what a run needs and refuses
what cannot fit.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from sparselearn.experiments.errors import ConfigError, DataError

__all__ = ["Data", "available_memory", "build_data", "check_memory", "data_rng",
           "estimate_memory"]

_GIB = 1024 ** 3


@dataclass
class Data:
    """The prepared data of one run.

    Attributes
    ----------
    x : ndarray, shape (n, m)
        Normalised patches, one example per column, *before* whitening: the estimator gets
        the whitener as its ``preprocessor`` and applies it itself.
    whitener : patches.Whitener or None
        Whitener fitted on ``x.T`` (a scikit-learn transformer on ``(n_samples, n_features)``
        arrays, one patch per row; also maps filters and bases back to pixels).
    patch_shape : (int, int)
    channels : int
    """

    x: np.ndarray
    whitener: Any
    patch_shape: tuple[int, int]
    channels: int


def data_rng(seed: int) -> np.random.Generator:
    """The Generator used for sampling patches: independent of the model's stream."""
    return np.random.default_rng([int(seed), 1])


def estimate_memory(config: Mapping[str, Any]) -> dict[str, int]:
    """Bytes a run needs at least, by part, from its resolved config.

    The parts: ``data`` (the sampled patches, ``data.count`` × pixels per patch × the dtype's
    size), ``normalised`` (the normalised copy), ``whitened`` (the copy the model trains on,
    with ``data.whitening.n_components`` dimensions when PCA keeps fewer) and ``model`` (two
    ``model.n_components`` × examples work arrays: responses or codes, and their gradient;
    examples is ``trainer.batch_size`` when set).
    """
    data, model = config["data"], config["model"]
    height, width = data["patch_size"]
    pixels = height * width * (3 if data["colour"] else 1)
    count = int(data["count"])
    size = np.dtype(data["dtype"]).itemsize
    whitening = data["whitening"]
    dims = pixels
    if whitening["method"] != "none" and isinstance(whitening.get("n_components"), int):
        dims = min(pixels, whitening["n_components"])
    batch = config["trainer"].get("batch_size") or count
    parts = {"data": count * pixels * size,
             "normalised": count * pixels * size if data["normalisation"] != "none" else 0,
             "whitened": count * dims * size if whitening["method"] != "none" else 0,
             "model": 2 * int(model["n_components"] or 0) * min(batch, count) * size}
    return parts


def available_memory() -> int | None:
    """Bytes this process may still allocate: ``MemAvailable`` of ``/proc/meminfo`` (or the
    free physical pages), capped by a cgroup v2 ``memory.max``; None when unknown."""
    available = None
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    available = int(line.split()[1]) * 1024
                    break
    except (OSError, ValueError, IndexError):
        pass
    if available is None:
        try:
            available = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):
            return None
    try:
        with open("/sys/fs/cgroup/memory.max", encoding="ascii") as handle:
            limit = handle.read().strip()
        with open("/sys/fs/cgroup/memory.current", encoding="ascii") as handle:
            used = int(handle.read().strip())
        if limit != "max":
            available = min(available, max(0, int(limit) - used))
    except (OSError, ValueError):
        pass
    return available


def check_memory(config: Mapping[str, Any], origin: str = "config",
                 available: int | None = None) -> int:
    """Refuse, before allocating anything, a run whose data cannot fit in memory.

    Parameters
    ----------
    config : mapping
        Resolved config.
    origin : str
        Where the config came from (file), for the message.
    available : int, optional
        Bytes available; default :func:`available_memory` (no check when unknown).

    Returns
    -------
    int
        The estimate in bytes (:func:`estimate_memory`, summed).

    Raises
    ------
    ConfigError
        Naming ``data.count`` with the estimate and what is available.
    """
    parts = estimate_memory(config)
    total = sum(parts.values())
    available = available_memory() if available is None else available
    if available is not None and total > available:
        detail = ", ".join(f"{name} {value / _GIB:.3g}" for name, value in parts.items()
                           if value)
        data = config["data"]
        raise ConfigError(
            f"{origin}: data.count: {data['count']} patches of {data['patch_size'][0]}x"
            f"{data['patch_size'][1]}{' colour' if data['colour'] else ''} {data['dtype']} "
            f"need about {total / _GIB:.3g} GiB of memory ({detail} GiB), but only "
            f"{available / _GIB:.3g} GiB is available; lower data.count (or "
            f"model.n_components, trainer.batch_size)")
    return total


def build_data(config: Mapping[str, Any], origin: str = "config") -> Data:
    """Sample and normalise the patches, and fit the whitener (deterministic in the seed).

    Parameters
    ----------
    config : mapping
        Resolved config.
    origin : str
        Where the config came from (its file), for messages.

    Raises
    ------
    DataError
        The source cannot be read or sampled (missing or unreadable file, patch larger than an
        image, missing ``.mat`` variable, ...): ``origin``, ``data.source`` and the message of
        ``patches``.
    """
    from sparselearn import patches

    data = config["data"]
    height, width = data["patch_size"]
    channels = 3 if data["colour"] else 1
    dtype = np.dtype(data["dtype"])
    try:
        x = patches.sample_patches(
            data["source"], (height, width), data["count"], data_rng(config["seed"]),
            colour=data["colour"], share=data["share"], kind=data["layout"],
            variable=data["variable"], dtype=dtype)
        method = data["normalisation"]
        options = {"channels": channels} if method == "patch_mean" else {}
        x = patches.normalise(x, method, **options)
        whitening = data["whitening"]
        whitener = None
        if whitening["method"] != "none":
            whitener = patches.Whitener(method=whitening["method"],
                                        epsilon=whitening["epsilon"],
                                        n_components=whitening["n_components"])
            whitener.fit(x.T)  # (m, n) view, one patch per row: no copy
    except (ValueError, OSError) as exc:
        raise DataError(f"{origin}: data.source {data['source']}: {exc}") from exc
    return Data(np.ascontiguousarray(x, dtype=dtype), whitener, (height, width), channels)
