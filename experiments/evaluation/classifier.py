"""The linear classifier of ``evaluate``: a feature set and C chosen by cross-validation on
the training split, one test; the paired comparison of two contenders on the same images."""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from sparselearn.experiments.evaluation.datasets import DatasetError

__all__ = ["C_GRID", "LOGISTIC_TOL", "fit_classifier", "paired_comparison"]

#: Regularisation grid searched by cross-validation on the training split. C = 0.001 is never
#: chosen on mnist5k, but it starts the warm-started path: without it the fits at C = 1 and 10
#: end elsewhere (lbfgs stops on its tolerance) and the choices and accuracies change.
C_GRID = (1e-3, 1e-2, 1e-1, 1.0, 10.0)
#: Stopping tolerance of LogisticRegression (scikit-learn's default; 1e-3 stopped warm-started
#: fits at large C before they moved).
LOGISTIC_TOL = 1e-4


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
