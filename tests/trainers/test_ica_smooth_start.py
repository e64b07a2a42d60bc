"""The fixed-point solver's smooth start: steps on the smoothed penalty from a random start."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import special, stats
from trainer_helpers import Interrupt

from sparselearn.objectives import CauchyPenalty, Penalty, SmoothedL1Penalty
from sparselearn.patches import amari_distance, random_orthogonal
from sparselearn.trainers import OrthonormalICA


@pytest.fixture(scope="module")
def gennorm_mixture() -> dict:
    """64 generalised-Gaussian sources (β 0.6–1.4), m = 20,000, mixing of condition 10."""
    n, m = 64, 20_000
    rng = np.random.default_rng(0)
    S = np.empty((n, m))
    for i, beta in enumerate(np.linspace(0.6, 1.4, n)):
        S[i] = stats.gennorm.rvs(beta, size=m, random_state=rng)
        S[i] /= math.sqrt(special.gamma(3 / beta) / special.gamma(1 / beta))
    mixing = (random_orthogonal(n, n, rng) * np.logspace(0, 1, n)) @ random_orthogonal(n, n, rng).T
    return {"X": np.ascontiguousarray((mixing @ S).T), "mixing": mixing}


def _fit(X, callbacks=None, **kwargs) -> OrthonormalICA:
    return OrthonormalICA(whiten="unit-variance", random_state=0, inner_iter=1, tol=0.0,
                          callbacks=callbacks, **kwargs).fit(X)


def test_smooth_start_unmixes_faster_from_the_same_start(gennorm_mixture):
    """The same number of steps from the same random start: Amari ≤ 0.0065 with the smooth
    start, at least 1.5 times that without it (``w_init`` turns it off)."""
    X, A = gennorm_mixture["X"], gennorm_mixture["mixing"]
    start = _fit(X, max_iter=0).state_dict()["params"]["W"]
    smooth = _fit(X, max_iter=6)
    first = smooth.history_[0]["inner_steps"]
    assert first > 1  # the smooth start lies inside the first outer iteration
    steps = sum(r["inner_steps"] for r in smooth.history_)
    plain = _fit(X, max_iter=steps, w_init=start)
    assert all(r["inner_steps"] == 1 for r in plain.history_)
    a_smooth = amari_distance(smooth.components_, A)
    a_plain = amari_distance(plain.components_, A)
    assert a_smooth <= 0.0065 and a_plain >= 1.5 * a_smooth, (a_smooth, a_plain)
    # every record holds J itself: the last equals J at the final filters
    W = smooth.state_dict()["params"]["W"]
    x = smooth.whitening_ @ (X - smooth.mean_).T
    J = float(np.sum(np.sqrt((W @ x) ** 2 + smooth.epsilon))) / x.shape[1]
    assert smooth.history_[-1]["objective"] == pytest.approx(J, rel=1e-12)
    # after the start, the safeguard keeps J non-increasing
    after = [r["objective"] for r in smooth.history_]
    assert all(b <= a for a, b in zip(after, after[1:], strict=False))


def test_resume_after_the_smooth_start_is_bit_identical(gennorm_mixture):
    """Interrupted after the first outer iteration (which holds the smooth start), resumed:
    the same bits, and no second smooth start."""
    X = gennorm_mixture["X"][:5000]
    full = _fit(X, max_iter=5)
    interrupt = Interrupt(1)
    _fit(X, max_iter=5, callbacks=[interrupt])
    assert interrupt.saved["solver_state"]["smoothing"] == 0.0
    resumed = OrthonormalICA(whiten="unit-variance", random_state=0, inner_iter=1, tol=0.0,
                             max_iter=5).fit(X, resume=interrupt.saved)
    assert resumed.n_iter_ == full.n_iter_ == 5
    assert [r["objective"] for r in resumed.history_] == [r["objective"] for r in full.history_]
    assert [r["inner_steps"] for r in resumed.history_] == \
        [r["inner_steps"] for r in full.history_]
    np.testing.assert_array_equal(resumed.components_, full.components_)


def test_penalties_without_a_smoothed_family_start_on_phi():
    """``Penalty.smoothed`` is None by default; the built-ins smooth within their family."""

    class Plain(SmoothedL1Penalty):
        name = "plain_for_test"

        def smoothed(self, level):
            return Penalty.smoothed(self, level)

    assert Plain(1e-3).smoothed(10.0) is None
    assert SmoothedL1Penalty(1e-6).smoothed(10.0) == SmoothedL1Penalty(10.0)
    assert SmoothedL1Penalty(20.0).smoothed(10.0) is None  # already smoother
    assert CauchyPenalty(0.5).smoothed(4.0) == CauchyPenalty(2.0)
    rng = np.random.default_rng(1)
    X = rng.laplace(size=(3000, 6)) @ random_orthogonal(6, 6, rng)
    model = _fit(X, max_iter=3, penalty=Plain(1e-3))
    assert [r["inner_steps"] for r in model.history_] == [1, 1, 1]  # no smooth start
