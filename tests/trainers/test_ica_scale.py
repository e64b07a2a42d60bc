"""Scale-free ICA: the same separation whatever the overall scale of white data.

The objective ``(1/m) Σ √((Wx)² + ε)`` is the same function up to a factor when ``x`` is scaled
by ``c`` and ``ε`` by ``c²``; every orthonormal-ICA solver must then give the same filters. The
fixed-point step takes its curvature from the data (``E[g′]·σ²``), so on data that are white
only up to a scale (UFLDL's exercise whitens to covariance ``I/m``) it no longer stalls.
"""

from __future__ import annotations

import numpy as np
import pytest

from sparselearn.patches import amari_distance
from sparselearn.trainers import OrthonormalICA

# these tests fit data white only up to a scale on purpose: the warning is expected
pytestmark = pytest.mark.filterwarnings(
    "ignore::sparselearn.trainers.input_checks.DegenerateInputWarning")


@pytest.fixture(scope="module")
def mixture(laplace_mixture):
    return laplace_mixture["X"][:6000], laplace_mixture


@pytest.mark.parametrize("solver, iterations", [("fixed_point", 6), ("projected_gradient", 40)])
def test_one_mixture_at_three_scales_gives_one_amari_distance(mixture, solver, iterations):
    X, data = mixture
    distances = []
    for scale in (1e-4, 1.0, 1e2):
        model = OrthonormalICA(solver=solver, epsilon=1e-2 * scale**2, max_iter=iterations,
                               inner_iter=10, tol=0.0, random_state=0).fit(X * scale)
        unmixing = model.components_ @ data["whitening"]
        distances.append(amari_distance(unmixing, data["mixing"]))
    assert max(distances) < 0.02, distances  # separated at every scale
    assert max(distances) - min(distances) < 1e-6, distances  # and the same separation


def test_fixed_point_does_not_stall_on_ufldl_scaled_whitening(mixture):
    """Covariance I/m (UFLDL's ``sigma = x*x'`` not divided by m) with the exercise's ε = 1e-6:
    the fixed point reaches the projected gradient's objective instead of stalling."""
    X, _ = mixture
    Xu = X / np.sqrt(X.shape[0])
    fixed = OrthonormalICA(solver="fixed_point", max_iter=10, tol=0.0, random_state=0).fit(Xu)
    gradient = OrthonormalICA(max_iter=60, tol=0.0, random_state=0).fit(Xu)
    assert fixed.history_[-1]["objective"] <= gradient.history_[-1]["objective"] * (1 + 1e-4)
    # ten steps from the random start already do most of the work (they used to barely move:
    # a curvature 1/σ² = m times too large made every step m times too short)
    W0 = OrthonormalICA(max_iter=0, random_state=0).fit(Xu).components_
    start = np.sqrt((W0 @ Xu.T) ** 2 + 1e-6).sum() / Xu.shape[0]
    one = OrthonormalICA(solver="fixed_point", max_iter=1, inner_iter=10, tol=0.0,
                         random_state=0).fit(Xu).history_[-1]["objective"]
    final = fixed.history_[-1]["objective"]
    assert start - one > 0.5 * (start - final)
