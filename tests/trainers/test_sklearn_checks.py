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

# scikit-learn's checks fit on data far from white on purpose: the warning is expected
pytestmark = pytest.mark.filterwarnings(
    "ignore::sparselearn.trainers.input_checks.DegenerateInputWarning")

ESTIMATORS = [getattr(sparselearn, name) for name in (
    "SparseCoding", "TopographicSparseCoding", "OnlineDictionaryLearning",
    "OrthonormalICA", "RICA", "TopographicICA")]


def _fast(cls):
    return cls(max_iter=3)


VARIANTS = [
    sparselearn.RICA(max_iter=3, whiten="unit-variance"),
    sparselearn.OrthonormalICA(max_iter=3, whiten="unit-variance", solver="fixed_point"),
    sparselearn.RICA(max_iter=3, dtype="float32"),
    sparselearn.SparseCoding(max_iter=3, dtype="float32", constraint="unit_norm"),
    sparselearn.OnlineDictionaryLearning(max_iter=3, dtype="float64"),
]


@parametrize_with_checks([_fast(cls) for cls in ESTIMATORS] + VARIANTS)
def test_sklearn_compatible_estimator(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        check(estimator)


def test_every_public_estimator_is_checked():
    """A new estimator exported by sparselearn.trainers must be added to the checks above."""
    public = {name for name in trainers.__all__
              if inspect.isclass(getattr(trainers, name))
              and issubclass(getattr(trainers, name), BaseTrainer)
              and getattr(trainers, name) is not BaseTrainer}  # the base of new trainers
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


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_blas_threads_is_honoured_and_validated(cls, rng_data):
    """Inside fit (seen from a callback) BLAS runs on ``blas_threads`` threads; the outer
    limit is restored after; a bad value is refused naming the parameter."""
    from threadpoolctl import threadpool_info, threadpool_limits

    from sparselearn.trainers import Callback

    def blas() -> set[int]:
        return {int(i["num_threads"]) for i in threadpool_info() if i["user_api"] == "blas"}

    seen: list[set[int]] = []

    class Look(Callback):
        def on_iteration_end(self, state):
            seen.append(blas())

    with threadpool_limits(2, user_api="blas"):
        for threads, expected in ((1, {1}), (None, {2})):
            seen.clear()
            cls(max_iter=2, random_state=0, blas_threads=threads,
                callbacks=[Look()]).fit(rng_data)
            assert seen and all(s == expected for s in seen), (threads, seen)
            assert blas() == {2}
    for bad in (0, -1, 1.5, "abc", [1], True):
        with pytest.raises(ValueError, match=r"parameter 'blas_threads' must be"):
            cls(max_iter=1, blas_threads=bad).fit(rng_data)
    model = cls(max_iter=1, random_state=0).fit(rng_data).set_params(blas_threads="abc")
    with pytest.raises(ValueError, match=r"parameter 'blas_threads' must be"):
        model.transform(rng_data)


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_a_generator_passed_in_is_not_advanced(cls, rng_data):
    generator = np.random.default_rng(5)
    before = generator.bit_generator.state
    cls(max_iter=2, random_state=generator).fit(rng_data)
    assert generator.bit_generator.state == before


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_a_failed_refit_leaves_an_unfitted_model(cls, rng_data):
    """Never a mix of two fits: a refit that fails part-way (here: a wrong initial basis)
    leaves the model unfitted, not the old parameters with the new data's state."""
    model = cls(max_iter=2, random_state=0).fit(rng_data)
    name = "w_init" if "w_init" in model.get_params() else "dict_init"
    model.set_params(**{name: np.ones((2, 3))})
    with pytest.raises(ValueError, match=f"{name} must have shape"):
        model.fit(5.0 * rng_data + 1.0)
    with pytest.raises(NotFittedError):
        model.transform(rng_data)


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_float32_stays_float32_through_a_preprocessor(cls, rng_data):
    from sklearn.decomposition import PCA

    X = rng_data.astype(np.float32)
    model = cls(max_iter=2, random_state=0, preprocessor=PCA(5, whiten=True).fit(X)).fit(X)
    codes = model.transform(X[:4])
    assert codes.dtype == np.float32
    assert model.inverse_transform(codes).dtype == np.float32


def test_a_transformer_without_inverse_is_a_preprocessor_until_inverse_transform(rng_data):
    from sklearn.preprocessing import Normalizer

    model = sparselearn.RICA(max_iter=2, random_state=0, preprocessor=Normalizer()).fit(rng_data)
    codes = model.transform(rng_data[:3])
    with pytest.raises(ValueError, match="preprocessor with inverse_transform; Normalizer"):
        model.inverse_transform(codes)


def test_a_preprocessor_fitted_on_a_dataframe_sees_the_dataframe(rng_data):
    pd = pytest.importorskip("pandas")
    from sklearn.preprocessing import StandardScaler

    frame = pd.DataFrame(rng_data, columns=[f"p{i}" for i in range(9)])
    scaler = StandardScaler().fit(frame)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # "X does not have valid feature names"
        model = sparselearn.RICA(max_iter=2, tol=0.0, random_state=0, preprocessor=scaler)
        model.fit(frame)
        model.transform(frame)


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_score_is_minus_the_objective_and_grid_search_needs_no_scoring(cls, rng_data):
    from sklearn.model_selection import GridSearchCV

    model = cls(max_iter=2, random_state=0).fit(rng_data)
    assert model.score(rng_data[:50]) == -model.objective(rng_data[:50])
    search = GridSearchCV(cls(random_state=0), {"max_iter": [1, 3]}, cv=2).fit(rng_data)
    assert np.isfinite(search.best_score_) and search.best_params_["max_iter"] in (1, 3)
