"""Unit-norm filter rows for RICA and topographic ICA (``row_norm="unit"``).

Unconstrained, RICA's reconstruction ‖WᵀWx − x‖² is already zero for n orthonormal rows, so in
an overcomplete basis the sparsity term shrinks the surplus filters to zero norm (on 8 × 8
patches with the mean removed, rank 63: 63 live filters of 128). Evaluating the cost at the rows
scaled to unit norm (UFLDL's ``l2rowscaled``; Le et al. 2011) keeps every filter alive. These
tests pin the chained gradient, the stored parameters, and the basis on natural patches: alive
(norm within 10 % of 1), not near-duplicates of each other, and localised and oriented
(:mod:`trainers.metrics`; random filters score 0.39 / 0.14 and a share of 0).
"""

from __future__ import annotations

import numpy as np
import pytest
from trainer_helpers import Interrupt

from sparselearn.objectives import (
    ICAReconstruction,
    ICASparsity,
    TopographicICASparsity,
    check_gradient,
    grouping_matrix,
)
from sparselearn.trainers import (
    RICA,
    TopographicICA,
    localisation_orientation,
    oriented_localised_share,
    random_filters,
)
from sparselearn.trainers.ica import RowNormalized, normalize_rows, range_projector


def _alive_share(W: np.ndarray) -> float:
    return float(np.mean(np.abs(np.linalg.norm(W, axis=1) - 1.0) <= 0.1))


def _duplicate_share(W: np.ndarray, threshold: float = 0.9) -> float:
    """Share of filters with another filter at |cosine| > threshold."""
    U = W / np.maximum(np.linalg.norm(W, axis=1, keepdims=True), 1e-300)
    C = np.abs(U @ U.T)
    np.fill_diagonal(C, 0.0)
    return float(np.mean(C.max(axis=1) > threshold))


@pytest.fixture(scope="module")
def small_problem():
    rng = np.random.default_rng(3)
    x = rng.laplace(size=(6, 40))
    x -= x.mean(axis=0)  # rank 5: the constant vector is in the null space, as for patches
    W = rng.standard_normal((9, 6)) * rng.uniform(0.3, 3.0, size=(9, 1))
    return x, W


@pytest.mark.parametrize("topographic", [False, True], ids=["rica", "tica"])
@pytest.mark.parametrize("projected", [False, True], ids=["plain", "range_projector"])
def test_chained_gradient_matches_finite_differences(small_problem, topographic, projected):
    x, W = small_problem
    sparsity = (TopographicICASparsity(grouping_matrix((3, 3), pool=2), 1e-2) if topographic
                else ICASparsity(1e-2))
    total = 0.3 * sparsity + ICAReconstruction.from_data(x)
    projector = range_projector(x @ x.T) if projected else None
    if projected:
        assert projector is not None and np.isclose(np.trace(projector), 5.0)
    term = RowNormalized(total, "W", projector)
    assert check_gradient(term, {"W": W, "x": x}, "W") < 1e-6


def test_row_normalized_value_is_scale_invariant_and_gradient_orthogonal(small_problem):
    x, W = small_problem
    total = 0.3 * ICASparsity(1e-2) + ICAReconstruction.from_data(x)
    term = RowNormalized(total, "W")
    value, grad = term.value_and_grad({"W": W, "x": x}, "W")
    scales = np.linspace(0.5, 4.0, W.shape[0])[:, None]
    assert np.isclose(term.value({"W": scales * W, "x": x}), value, rtol=1e-12)
    assert np.isclose(value, total.value({"W": normalize_rows(W)[0], "x": x}), rtol=1e-12)
    assert np.abs(np.sum(grad * W, axis=1)).max() < 1e-10 * np.abs(grad).max()


@pytest.mark.parametrize("scale", [1e-300, 1.0, 1e300])
def test_normalize_rows_is_exact_at_any_finite_scale(small_problem, scale):
    _, W = small_problem
    unit, norms = normalize_rows(scale * W)
    np.testing.assert_allclose(unit, W / np.linalg.norm(W, axis=1, keepdims=True), rtol=1e-14)
    np.testing.assert_allclose(norms[:, 0], scale * np.linalg.norm(W, axis=1), rtol=1e-14)
    zero_unit, zero_norms = normalize_rows(np.zeros((2, 3)))
    assert not zero_unit.any() and (zero_norms > 0).all()


def test_float32_stays_float32(small_problem):
    x, W = small_problem
    x32, W32 = x.astype(np.float32), W.astype(np.float32)
    term = RowNormalized(ICASparsity(1e-2) + ICAReconstruction.from_data(x32), "W",
                         range_projector(x32 @ x32.T))
    _, grad = term.value_and_grad({"W": W32, "x": x32}, "W")
    assert grad.dtype == np.float32
    assert term.unit_rows(W32).dtype == np.float32


def test_range_projector_is_none_for_full_rank_data():
    x = np.random.default_rng(0).standard_normal((5, 50))
    assert range_projector(x @ x.T) is None


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_overcomplete_rica_keeps_every_filter_alive(natural_white, dtype):
    """2× overcomplete RICA on 8 × 8 natural patches (rank 63), a short run (~2 s)."""
    X = natural_white[:5000].astype(dtype)
    model = RICA(128, max_iter=10, random_state=0).fit(X)
    W = model.components_
    assert W.dtype == dtype
    assert _alive_share(W) >= 0.9
    np.testing.assert_allclose(np.linalg.norm(W, axis=1), 1.0, rtol=1e-4)
    # stored rows are those the cost saw: in the data's range (no constant-patch component)
    assert np.abs(W.sum(axis=1)).max() < 1e-3
    assert _duplicate_share(W) <= 0.05
    loc, ori = localisation_orientation(W, (8, 8))
    random = random_filters(128, 64, np.random.default_rng(5))
    random_loc, random_ori = localisation_orientation(random, (8, 8))
    assert loc.mean() >= random_loc.mean() + 0.2
    assert ori.mean() >= random_ori.mean() + 0.2
    assert oriented_localised_share(W, (8, 8)) >= 0.5


def test_unconstrained_rica_loses_the_surplus_filters(natural_white):
    """The failure ``row_norm="unit"`` fixes: about half the filters die or duplicate."""
    W = RICA(128, max_iter=10, random_state=0, row_norm=None).fit(natural_white[:5000]).components_
    assert _alive_share(W) < 0.7
    assert _duplicate_share(W) > 0.2


def test_overcomplete_topographic_ica_keeps_every_filter_alive(natural_white):
    """121 filters on an 11 × 11 torus for 8 × 8 patches (UFLDL's size)."""
    model = TopographicICA(grid=(11, 11), max_iter=10, random_state=0).fit(natural_white[:5000])
    W = model.components_
    assert _alive_share(W) >= 0.9
    assert _duplicate_share(W) <= 0.05
    assert oriented_localised_share(W, (8, 8)) >= 0.5


def test_complete_rica_matches_the_unconstrained_optimum(laplace_mixture):
    """On full-rank whitened data the constraint changes little: same unmixing to 1e-2."""
    X = laplace_mixture["X"]
    unit = RICA(random_state=0, max_iter=20).fit(X).components_
    free = RICA(random_state=0, max_iter=20, row_norm=None).fit(X).components_
    cosines = np.abs((unit / np.linalg.norm(unit, axis=1, keepdims=True))
                     @ (free / np.linalg.norm(free, axis=1, keepdims=True)).T)
    assert cosines.max(axis=1).min() >= 0.99


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_overcomplete_resume_is_bit_identical(natural_white, dtype):
    X = natural_white[:2000].astype(dtype)
    settings = dict(max_iter=4, inner_iter=5, random_state=0)
    full = RICA(128, **settings).fit(X)
    interrupt = Interrupt(2)
    RICA(128, callbacks=[interrupt], **settings).fit(X)
    resumed = RICA(128, **settings).fit(X, resume=interrupt.saved)
    assert np.array_equal(resumed.components_, full.components_)
    assert [r["objective"] for r in resumed.history_] == [r["objective"] for r in full.history_]


def test_row_norm_is_validated():
    with pytest.raises(ValueError, match="row_norm"):
        RICA(row_norm="l2").fit(np.random.default_rng(0).standard_normal((50, 4)))
