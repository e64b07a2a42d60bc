"""scikit-learn's own estimator checks over every public estimator, with no expected failures.

Each estimator is constructed with its defaults, only ``max_iter`` lowered for speed.
"""

from __future__ import annotations

import inspect
import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

import sparselearn
from sparselearn import trainers
from sparselearn.trainers.base import BaseTrainer

ESTIMATORS = [getattr(sparselearn, name) for name in (
    "SparseCoding", "TopographicSparseCoding", "OnlineDictionaryLearning",
    "OrthonormalICA", "RICA", "TopographicICA")]


def _fast(cls):
    return cls(max_iter=3)


@parametrize_with_checks([_fast(cls) for cls in ESTIMATORS])
def test_sklearn_compatible_estimator(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        check(estimator)


def test_every_public_estimator_is_checked():
    """A new estimator exported by sparselearn.trainers must be added to the checks above."""
    public = {name for name in trainers.__all__
              if inspect.isclass(getattr(trainers, name))
              and issubclass(getattr(trainers, name), BaseTrainer)}
    assert public == {cls.__name__ for cls in ESTIMATORS}


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_random_state_kinds(cls, rng_data):
    """int, RandomState and Generator all give reproducible fits; the object is not advanced."""
    results = []
    for random_state in (0, np.random.RandomState(0), np.random.default_rng(0)):
        state_before = (random_state.get_state(legacy=False) if isinstance(
            random_state, np.random.RandomState) else None)
        first = cls(max_iter=2, random_state=random_state).fit(rng_data).components_
        second = cls(max_iter=2, random_state=random_state).fit(rng_data).components_
        np.testing.assert_array_equal(first, second)
        if state_before is not None:
            assert random_state.get_state(legacy=False)["state"]["pos"] == \
                state_before["state"]["pos"]
        results.append(first)
    assert all(r.shape == results[0].shape for r in results)


@pytest.fixture
def rng_data():
    return np.random.default_rng(3).laplace(size=(300, 9))


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_feature_names_and_set_output(cls, rng_data):
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame(rng_data, columns=[f"p{i}" for i in range(9)])
    model = cls(max_iter=2, random_state=0).set_output(transform="pandas").fit(frame)
    np.testing.assert_array_equal(model.feature_names_in_, frame.columns)
    out = model.transform(frame)
    assert isinstance(out, pd.DataFrame)
    prefix = cls.__name__.lower()
    assert list(out.columns) == [f"{prefix}{i}" for i in range(out.shape[1])]
    assert list(model.get_feature_names_out()) == list(out.columns)


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_convergence_warning_when_max_iter_ends_the_fit(cls, rng_data):
    with pytest.warns(ConvergenceWarning, match="max_iter=2"):
        cls(max_iter=2, tol=1e-12, random_state=0).fit(rng_data)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        cls(max_iter=2, tol=0.0, random_state=0).fit(rng_data)  # no tolerance: no warning


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_pipeline_and_unfitted(cls, rng_data):
    with pytest.raises(NotFittedError, match="not fitted"):
        cls().transform(rng_data)
    pipe = make_pipeline(StandardScaler(), cls(max_iter=2, random_state=0)).fit(rng_data)
    alone = cls(max_iter=2, random_state=0).fit(StandardScaler().fit_transform(rng_data))
    np.testing.assert_allclose(pipe.transform(rng_data),
                               alone.transform(StandardScaler().fit_transform(rng_data)))
    assert clone(pipe).get_params(deep=True).keys() == pipe.get_params(deep=True).keys()


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_any_fitted_scikit_learn_transformer_is_a_preprocessor(cls, rng_data):
    """``preprocessor=PCA(whiten=True)`` (fitted) acts as whitening the data by hand."""
    from sklearn.decomposition import PCA

    pca = PCA(n_components=6, whiten=True).fit(rng_data)
    wrapped = cls(max_iter=2, random_state=0, preprocessor=pca).fit(rng_data)
    by_hand = cls(max_iter=2, random_state=0).fit(pca.transform(rng_data))
    assert wrapped.n_features_in_ == 9 and by_hand.n_features_in_ == 6
    np.testing.assert_allclose(wrapped.components_, by_hand.components_, rtol=1e-10,
                               atol=1e-12)
    np.testing.assert_allclose(wrapped.transform(rng_data),
                               by_hand.transform(pca.transform(rng_data)), rtol=1e-9, atol=1e-9)
    codes = wrapped.transform(rng_data[:5])
    np.testing.assert_allclose(wrapped.inverse_transform(codes),
                               pca.inverse_transform(by_hand.inverse_transform(codes)),
                               rtol=1e-9, atol=1e-9)
