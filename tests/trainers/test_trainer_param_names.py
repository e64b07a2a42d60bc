"""One name per role in the estimators' constructors (scikit-learn conventions).

The sparsity weight is ``alpha`` everywhere, the inner-iteration knob ``inner_iter``, no
constructor parameter ends with ``_`` (scikit-learn reads such names as fitted attributes), and
the topographic estimators take their size from ``grid`` alone.
"""

from __future__ import annotations

import inspect

import numpy as np
import pytest

from sparselearn.trainers import (
    RICA,
    OnlineDictionaryLearning,
    OrthonormalICA,
    SparseCoding,
    TopographicICA,
    TopographicSparseCoding,
)

ESTIMATORS = [SparseCoding, TopographicSparseCoding, OnlineDictionaryLearning, OrthonormalICA,
              RICA, TopographicICA]
WITH_SPARSITY_WEIGHT = [cls for cls in ESTIMATORS if cls is not OrthonormalICA]
TOPOGRAPHIC = [TopographicSparseCoding, TopographicICA]


def _parameters(cls) -> list[str]:
    return [name for name in inspect.signature(cls).parameters]


@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda cls: cls.__name__)
def test_no_constructor_parameter_ends_with_an_underscore(cls):
    names = _parameters(cls)
    assert names
    assert [name for name in names if name.endswith("_")] == []
    # hence an unfitted model carries no attribute that reads as fitted
    model = cls()
    assert [name for name in vars(model) if name.endswith("_") and not name.startswith("__")] == []


@pytest.mark.parametrize("cls", WITH_SPARSITY_WEIGHT, ids=lambda cls: cls.__name__)
def test_the_sparsity_weight_is_alpha(cls):
    names = _parameters(cls)
    assert "alpha" in names and "lambda_" not in names
    assert cls(alpha=0.25).get_params()["alpha"] == 0.25
    with pytest.raises(TypeError, match="lambda_"):
        cls(lambda_=0.25)


@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda cls: cls.__name__)
def test_the_inner_iterations_are_inner_iter(cls):
    names = _parameters(cls)
    assert "inner_iter" in names
    assert not {"s_max_iter", "code_max_iter"} & set(names)


@pytest.fixture(scope="module")
def data() -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.laplace(size=(400, 16)) @ np.linalg.qr(rng.standard_normal((16, 16)))[0]


@pytest.mark.filterwarnings("ignore:.*stopped at max_iter")  # two iterations, on purpose
@pytest.mark.parametrize("cls", TOPOGRAPHIC, ids=lambda cls: cls.__name__)
@pytest.mark.parametrize("grid", [(3, 4), (4, 4)])
def test_topographic_size_is_the_grid_product(cls, grid, data):
    assert "n_components" not in _parameters(cls)
    with pytest.raises(TypeError, match="n_components"):
        cls(n_components=grid[0] * grid[1])
    extra = {"batch_size": 200} if cls is TopographicSparseCoding else {}
    model = cls(grid, max_iter=2, inner_iter=3, random_state=0, **extra).fit(data)
    k = grid[0] * grid[1]
    assert model.n_components_ == k
    assert model.components_.shape == (k, data.shape[1])
    assert model.grouping_.shape == (k, k)
    assert model.transform(data[:5]).shape == (5, k)


@pytest.mark.parametrize("cls", TOPOGRAPHIC, ids=lambda cls: cls.__name__)
def test_topographic_pool_must_fit_on_the_grid(cls, data):
    with pytest.raises(ValueError, match=rf"^{cls.__name__}: parameter 'pool' must be at most "
                                         r"min\(grid\) = 3; got 4\."):
        cls((3, 5), pool=4, max_iter=1).fit(data)
