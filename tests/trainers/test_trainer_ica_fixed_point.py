"""OrthonormalICA(solver="fixed_point"): the symmetric fixed-point (approximate Newton) solver."""

from __future__ import annotations

import numpy as np
import pytest
from trainer_helpers import Interrupt

from sparselearn.patches import amari_distance
from sparselearn.trainers import OrthonormalICA


def _fixed_point(**kwargs) -> OrthonormalICA:
    return OrthonormalICA(solver="fixed_point", random_state=0, **kwargs)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_fixed_point_unmixes_a_16_source_laplace_mixture(laplace_mixture, dtype):
    """Same acceptance as the projected gradient: Amari distance ≤ 0.02, dtype kept."""
    model = _fixed_point().fit(laplace_mixture["X"].astype(dtype))
    assert model.components_.dtype == dtype
    unmixing = model.components_ @ laplace_mixture["whitening"]
    assert amari_distance(unmixing, laplace_mixture["mixing"]) <= 0.02
    W = model.components_.astype(np.float64)
    np.testing.assert_allclose(W @ W.T, np.eye(16), atol=1e-5)


def test_fixed_point_decreases_the_objective(laplace_mixture):
    """The sign of the step is the one that minimises Σ√(y² + ε): J never goes up."""
    model = _fixed_point(inner_iter=1, max_iter=30, tol=0.0).fit(laplace_mixture["X"])
    objective = [r["objective"] for r in model.history_]
    assert objective[-1] < objective[0]
    assert all(b <= a for a, b in zip(objective[:-1], objective[1:], strict=True))
    # the minimum reached by the projected gradient on these data is 11.3257 (ε = 1e-6)
    assert objective[-1] <= 11.326 < objective[0]
    record = model.history_[-1]
    assert np.isnan(record["step_size"]) and 0.0 < record["eval_share"] <= 1.0


def test_fixed_point_resume_is_bit_identical(laplace_mixture):
    X = laplace_mixture["X"][:5000]
    kwargs = dict(inner_iter=2, max_iter=5, tol=0.0)
    full = _fixed_point(**kwargs).fit(X)
    interrupt = Interrupt(2)
    _fixed_point(callbacks=[interrupt], **kwargs).fit(X)
    resumed = _fixed_point(**kwargs).fit(X, resume=interrupt.saved)
    assert resumed.n_iter_ == full.n_iter_ == 5
    assert np.array_equal(resumed.components_, full.components_)
    assert [r["objective"] for r in resumed.history_] == [r["objective"] for r in full.history_]


@pytest.mark.parametrize("solver", ["newton", "FIXED_POINT", None, 1])
def test_bad_solver_is_rejected_naming_the_parameter(laplace_mixture, solver):
    with pytest.raises(ValueError, match=r"^OrthonormalICA: parameter 'solver' must be one of "
                                         r"'auto', 'quasi_newton', 'fixed_point', "
                                         r"'projected_gradient'; got "):
        OrthonormalICA(solver=solver).fit(laplace_mixture["X"][:100])
