"""Do the features help? Encode labelled images with a run's filters, train a linear
classifier, compare against baselines (:func:`evaluate`, ``sparselearn evaluate``).

Modules: :mod:`.datasets` (digits, lfw, mnist5k, image folders), :mod:`.encoding` (dense
patches, soft threshold, quadrant pooling), :mod:`.baselines` (raw and whitened pixels, random
filters, k-means, dictionary learning, FastICA), :mod:`.classifier` (CV choice, test, paired
comparison), :mod:`.report` (JSON, chart, table) and
:mod:`.runner` (:func:`evaluate`).
"""

from sparselearn.experiments.evaluation.datasets import (
    DATASETS,
    Dataset,
    DatasetError,
    load_dataset,
    load_image_folder,
    split_dataset,
)
from sparselearn.experiments.evaluation.runner import (
    ALPHA_GRID,
    C_GRID,
    CLASSIFIERS,
    ENCODERS,
    Evaluation,
    evaluate,
    fit_classifier,
    paired_comparison,
    parse_alphas,
    parse_baselines,
)

__all__ = ["ALPHA_GRID", "CLASSIFIERS", "C_GRID", "DATASETS", "ENCODERS", "Dataset",
           "DatasetError", "Evaluation", "evaluate", "fit_classifier", "load_dataset",
           "load_image_folder", "paired_comparison", "parse_alphas", "parse_baselines",
           "split_dataset"]
