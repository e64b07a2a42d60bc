"""From a config's ``data`` section to the training data: sample → normalise → fit whitening."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from sparselearn.experiments.errors import DataError

__all__ = ["Data", "build_data", "data_rng"]


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


def build_data(config: Mapping[str, Any]) -> Data:
    """Sample and normalise the patches, and fit the whitener (deterministic in the seed).

    Raises
    ------
    DataError
        The source cannot be read or sampled (missing or unreadable file, patch larger than an
        image, missing ``.mat`` variable, ...): the message of ``patches`` with the key path.
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
        raise DataError(f"data (source {data['source']!r}): {exc}") from exc
    return Data(np.ascontiguousarray(x, dtype=dtype), whitener, (height, width), channels)
