"""Filter sets to compare a run's filters against, each as a :class:`FilterBank`.

All but the raw-pixel baseline go through the same pipeline as the run (dense patches, the
run's normalisation and whitening, the same encoder, quadrant pooling, the same classifier):
random filters of the same count, the whitening itself (identity filters in whitened space,
i.e. ZCA- or PCA-whitened pixels), k-means centroids (Coates, Lee & Ng 2011) and scikit-learn's
``MiniBatchDictionaryLearning`` and ``FastICA`` learned on the run's own training patches.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from sparselearn.experiments.evaluation.encoding import FilterBank

__all__ = ["BASELINES", "LEARNED_BASELINES", "dictionary_filters", "fastica_filters",
           "kmeans_filters", "random_filters", "run_filters", "training_patches",
           "whitening_filters"]

#: Baseline names, in table order (``raw``: the image itself into the classifier).
BASELINES = ("raw", "whitened", "random", "kmeans", "dictionary", "fastica")
#: Baselines learned on the run's training patches.
LEARNED_BASELINES = ("kmeans", "dictionary", "fastica")


def _unit_rows(W: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(W, axis=1, keepdims=True)
    return W / np.where(norms > 0, norms, 1.0)


def run_filters(model: Any, name: str = "run") -> FilterBank:
    """The fitted model's ``components_`` (filters, or sparse-coding atoms used as filters, as
    Coates & Ng 2011 do) acting on whitened data, folded with its ``preprocessor``."""
    return FilterBank.from_whitened(name, model.components_, getattr(model, "preprocessor", None))


def whitening_filters(whitener: Any, n_out: int) -> FilterBank:
    """Identity filters in whitened space: the whitened pixels themselves (ZCA or PCA)."""
    method = getattr(whitener, "method", "none") if whitener is not None else "none"
    label = {"zca": "ZCA-whitened pixels", "pca": "PCA-whitened pixels"}.get(
        method, "normalised pixels")
    return FilterBank.from_whitened(label, np.eye(n_out), whitener)


def random_filters(k: int, n_out: int, whitener: Any, seed: int, draw: int = 0) -> FilterBank:
    """``k`` Gaussian filters of unit norm in whitened space (fixed ``seed``; ``draw``
    numbers independent sets drawn for the same seed)."""
    W = np.random.default_rng([seed, 7, draw]).standard_normal((k, n_out))
    return FilterBank.from_whitened(f"random filters (k={k})", _unit_rows(W), whitener)


def kmeans_filters(Y: np.ndarray, k: int, whitener: Any, seed: int) -> FilterBank:
    """Unit-norm k-means centroids of the whitened patches ``Y`` (m, n_out)."""
    from sklearn.cluster import MiniBatchKMeans

    km = MiniBatchKMeans(n_clusters=k, random_state=seed, n_init=3, batch_size=2048,
                         max_iter=50).fit(Y)
    return FilterBank.from_whitened(f"k-means (k={k})", _unit_rows(km.cluster_centers_),
                                    whitener)


def dictionary_filters(Y: np.ndarray, k: int, whitener: Any, seed: int) -> FilterBank:
    """Atoms of scikit-learn's ``MiniBatchDictionaryLearning`` on ``Y``, used as filters.

    Budget: 2 passes over ``Y`` in batches of 256, the batches' lasso codes by coordinate
    descent (``fit_algorithm="cd"``: the same objective as the default LARS, 1.6 s of CPU
    instead of 17 s for 128 atoms on 10,000 patches).
    """
    import warnings

    from sklearn.decomposition import MiniBatchDictionaryLearning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # coordinate descent's own ConvergenceWarning
        dl = MiniBatchDictionaryLearning(n_components=k, alpha=1.0, batch_size=256,
                                         max_iter=2, fit_algorithm="cd",
                                         random_state=seed).fit(Y)
    return FilterBank.from_whitened(f"MiniBatchDictionaryLearning (k={k})",
                                    _unit_rows(dl.components_), whitener)


def fastica_filters(Y: np.ndarray, k: int, whitener: Any, seed: int) -> FilterBank:
    """scikit-learn's ``FastICA`` unmixing rows on ``Y``; at most rank(Y) components."""
    import warnings

    from sklearn.decomposition import FastICA

    rank = int(np.linalg.matrix_rank(Y[: min(len(Y), 4000)]))
    n = min(k, rank)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # FastICA's own ConvergenceWarning
        ica = FastICA(n_components=n, whiten="unit-variance", max_iter=200,
                      random_state=seed).fit(Y)
    bank = FilterBank.from_whitened(f"FastICA (k={n})", ica.components_, whitener)
    bank.bias = bank.bias - ica.components_ @ ica.mean_  # FastICA centres Y first
    return bank


def training_patches(config: Mapping[str, Any], whitener: Any, count: int = 10_000,
                     seed: int = 0) -> np.ndarray:
    """The run's own training patches again (``experiments.data.build_data`` is
    deterministic in the seed), at most ``count`` of them, whitened: (m, n_out)."""
    from sparselearn.experiments.data import build_data

    x = build_data(config).x  # n × m, normalised
    if x.shape[1] > count:
        pick = np.sort(np.random.default_rng([seed, 3]).choice(x.shape[1], count,
                                                               replace=False))
        x = x[:, pick]
    X = np.ascontiguousarray(x.T, dtype=np.float64)
    return X if whitener is None else np.asarray(whitener.transform(X), dtype=np.float64)
