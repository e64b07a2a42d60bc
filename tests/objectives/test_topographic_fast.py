"""The fast paths of the topographic penalty and of the fixed-basis s-step (issue 7).

- :func:`objectives._kernels.torus_structure` recognises exactly the matrices
  ``grouping_matrix`` builds, and nothing else;
- the separable, blocked pooling kernel agrees with the dense formula and with the general
  (sparse-product) path to 1e-12 in float64, for every block width (remainder blocks, m smaller
  than the block, m = 1), wrapped and clipped grids, and stays float32 in float32;
- its work buffers, reused across calls, never leak between shapes or dtypes, and the gradients
  it returns are fresh arrays;
- ``WeightedSum`` accumulating through ``Term._accumulate_grad`` (fixed-basis reconstruction and
  topographic penalty writing into one gradient) equals the sum of the separate terms.
"""

from __future__ import annotations

import numpy as np
import pytest

from sparselearn.objectives import (
    Reconstruction,
    SmoothedL1,
    TopographicL1,
    WeightDecay,
    check_gradient,
    grouping_matrix,
)
from sparselearn.objectives._kernels import SeparablePooling, _box_grouping, torus_structure
from sparselearn.objectives.topographic import GroupingOperator

EPS = 1e-2

GRIDS = [
    ((11, 11), 3, True),
    ((11, 11), 3, False),
    ((4, 6), 2, True),
    ((5, 7), 3, False),
    ((6, 5), 4, True),
    ((3, 3), 3, True),
    ((2, 3), 2, True),
]


def dense_reference(V, Y, epsilon, coef=1.0):
    """Value and coef · gradient straight from the formula, in float64."""
    V = V.astype(np.float64)
    Y = Y.astype(np.float64)
    Q = np.sqrt(V @ (Y * Y) + epsilon)
    return Q.sum(), coef * Y * (V.T @ (1.0 / Q))


def rel(a, b):
    return float(np.linalg.norm(np.asarray(a, np.float64) - b) / max(np.linalg.norm(b), 1e-300))


@pytest.mark.parametrize("grid, pool, wrap", GRIDS)
def test_torus_structure_recognises_grouping_matrix(grid, pool, wrap):
    V = grouping_matrix(grid, pool=pool, wrap=wrap)
    assert np.array_equal(_box_grouping(*grid, pool, wrap), V)
    rows, cols, found_pool, found_wrap = torus_structure(V)
    assert rows * cols == V.shape[0] and found_pool == pool
    # the grid's orientation and wrap are recovered, not just an equivalent V: a transposed
    # (cols, rows) reading would pool along the wrong axes of the separable kernel
    assert (rows, cols, found_wrap) == (*grid, wrap)
    assert np.array_equal(grouping_matrix((rows, cols), pool=pool, wrap=found_wrap), V)
    assert torus_structure(V.astype(np.float32)) is not None


def test_torus_structure_rejects_other_matrices():
    V = grouping_matrix((5, 5), pool=3)
    assert torus_structure(2.0 * V) is None  # not binary
    flipped = V.copy()
    flipped[7, 3] = 1 - flipped[7, 3]
    assert torus_structure(flipped) is None
    assert torus_structure(V[:, ::-1]) is None  # permuted features
    assert torus_structure(V[:-1]) is None  # not square
    assert torus_structure(np.eye(9)) is None  # pool 1: the general path
    assert torus_structure(grouping_matrix((3, 4), pool=4)) is None  # pool wider than the grid
    rng = np.random.default_rng(0)
    assert torus_structure((rng.random((16, 16)) < 0.3).astype(float)) is None
    assert GroupingOperator(flipped, "test").separable is None
    assert GroupingOperator(V, "test").separable is not None


@pytest.mark.parametrize("grid, pool, wrap", GRIDS)
@pytest.mark.parametrize("m", [1, 5, 64])
@pytest.mark.parametrize("block", [1, 3, 16, 4096])
def test_separable_kernel_matches_formula(grid, pool, wrap, m, block):
    V = grouping_matrix(grid, pool=pool, wrap=wrap)
    kernel = SeparablePooling(*torus_structure(V), block=block)
    rng = np.random.default_rng(m + block)
    Y = rng.standard_normal((V.shape[0], m))
    ref_value, ref_grad = dense_reference(V, Y, EPS, coef=0.7)
    out = np.full_like(Y, np.nan)
    value = kernel(Y, EPS, 0.7, out)
    assert abs(value - ref_value) <= 1e-12 * ref_value
    assert rel(out, ref_grad) < 1e-12
    start = rng.standard_normal(Y.shape)
    acc = start.copy()
    assert abs(kernel(Y, EPS, 0.7, acc, accumulate=True) - ref_value) <= 1e-12 * ref_value
    assert rel(acc - start, ref_grad) < 1e-12
    untouched = np.full_like(Y, 3.0)
    assert abs(kernel(Y, EPS, need_grad=False, out=untouched) - ref_value) <= 1e-12 * ref_value
    assert np.all(untouched == 3.0)


@pytest.mark.parametrize("grid, pool, wrap", GRIDS[:4])
def test_separable_path_equals_general_path_and_finite_differences(grid, pool, wrap):
    V = grouping_matrix(grid, pool=pool, wrap=wrap)
    fast = TopographicL1(V, EPS)
    general = TopographicL1(V, EPS)
    general.grouping.separable = None  # force the sparse-product path
    assert fast.grouping.separable is not None
    rng = np.random.default_rng(1)
    variables = {"s": rng.standard_normal((V.shape[0], 37))}
    v1, g1 = fast.value_and_grad(variables, "s")
    v2, g2 = general.value_and_grad(variables, "s")
    assert isinstance(v1, float) and abs(v1 - v2) <= 1e-12 * abs(v2)
    assert rel(g1, g2) < 1e-12
    assert abs(fast.value(variables) - v2) <= 1e-12 * abs(v2)
    assert check_gradient(fast, variables, "s") < 1e-7
    net_value, net_grad = fast.as_network().value_and_grad(variables, "s")
    assert abs(net_value - v1) <= 1e-10 * abs(v1) and rel(g1, net_grad) < 1e-10


@pytest.mark.parametrize("separable", [True, False])
def test_float32_stays_float32(separable):
    V = grouping_matrix((11, 11), pool=3)
    term = TopographicL1(V, np.float64(EPS))
    if not separable:
        term.grouping.separable = None
    rng = np.random.default_rng(2)
    s64 = rng.standard_normal((121, 300))
    s = s64.astype(np.float32)
    value, grad = term.value_and_grad({"s": s}, "s")
    assert isinstance(value, float) and grad.dtype == np.float32
    ref_value, ref_grad = dense_reference(V, s, EPS)
    assert abs(value - ref_value) <= 1e-5 * ref_value and rel(grad, ref_grad) < 1e-5
    A = rng.standard_normal((64, 121)).astype(np.float32)
    x = rng.standard_normal((64, 300)).astype(np.float32)
    total = 0.5 * Reconstruction.fixed_basis(A, x) + 3.0 * term
    value, grad = total.value_and_grad({"s": s}, "s")
    assert isinstance(value, float) and grad.dtype == np.float32


def test_buffers_reused_across_shapes_and_dtypes_do_not_corrupt():
    V = grouping_matrix((6, 5), pool=3)
    term = TopographicL1(V, EPS)
    term.grouping.separable.block = 16
    rng = np.random.default_rng(3)
    cases = [rng.standard_normal((30, m)) for m in (40, 7, 16, 1, 40, 33)]
    cases += [c.astype(np.float32) for c in cases[:3]]
    grads = []
    for s in cases * 2:
        value, grad = term.value_and_grad({"s": s}, "s")
        ref_value, ref_grad = dense_reference(V, s, EPS)
        tol = 1e-12 if s.dtype == np.float64 else 1e-5
        assert grad.dtype == s.dtype and grad.shape == s.shape
        assert abs(value - ref_value) <= tol * ref_value and rel(grad, ref_grad) < tol
        grads.append(grad)
    for i, a in enumerate(grads):  # every gradient is its own fresh array
        assert not any(np.shares_memory(a, b) for b in grads[i + 1 :])


def test_non_contiguous_codes():
    V = grouping_matrix((5, 5), pool=3)
    term = TopographicL1(V, EPS)
    rng = np.random.default_rng(4)
    base = rng.standard_normal((25, 60))
    ref_value, ref_grad = dense_reference(V, base[:, ::2], EPS)
    for s in (base[:, ::2], np.asfortranarray(base[:, ::2])):
        value, grad = term.value_and_grad({"s": s}, "s")
        assert abs(value - ref_value) <= 1e-12 * ref_value and rel(grad, ref_grad) < 1e-12


def sc_problem(m, seed=5, dtype=np.float64, grid=(5, 5), n=9):
    rng = np.random.default_rng(seed)
    k = grid[0] * grid[1]
    A = rng.standard_normal((n, k)).astype(dtype)
    x = rng.standard_normal((n, m)).astype(dtype)
    s = rng.standard_normal((k, m)).astype(dtype)
    return A, x, s, grouping_matrix(grid, pool=3)


@pytest.mark.parametrize("m", [1, 4, 50])
@pytest.mark.parametrize("weights", [(1.0, 1.0), (0.02, 5e-3), (-0.5, 2.0), (0.0, 1.5), (3.0, 0.0)])
def test_accumulated_sum_equals_separate_terms(m, weights):
    A, x, s, V = sc_problem(m)
    bound = Reconstruction.fixed_basis(A, x)
    topo = TopographicL1(V, EPS)
    c1, c2 = weights
    total = c1 * bound + c2 * topo + 0.3 * SmoothedL1(EPS)
    variables = {"s": s}
    v1, g1 = bound.value_and_grad(variables, "s")
    v2, g2 = topo.value_and_grad(variables, "s")
    v3, g3 = SmoothedL1(EPS).value_and_grad(variables, "s")
    value, grad = total.value_and_grad(variables, "s")
    expected = c1 * g1 + c2 * g2 + 0.3 * g3
    assert abs(value - (c1 * v1 + c2 * v2 + 0.3 * v3)) <= 1e-12 * (abs(v1) + abs(v2) + abs(v3))
    assert rel(grad, expected) < 1e-12 or np.linalg.norm(grad - expected) < 1e-13
    # the direct reconstruction agrees with the bound form's accumulated gradient
    direct = c1 * Reconstruction() + c2 * topo
    dv, dg = direct.value_and_grad({"A": A, "s": s, "x": x}, "s")
    assert abs(dv - (c1 * v1 + c2 * v2)) <= 1e-10 * (abs(v1) + abs(v2))
    assert rel(grad - 0.3 * g3, dg) < 1e-10 or np.linalg.norm(grad - 0.3 * g3 - dg) < 1e-12


def test_accumulated_sum_with_changing_weights_and_inputs():
    A, x, s, V = sc_problem(30)
    bound = Reconstruction.fixed_basis(A, x)
    topo = TopographicL1(V, EPS)
    rng = np.random.default_rng(6)
    for c in (0.5, 0.25, 0.5, 2.0):
        total = c * bound + 0.1 * topo + 0.01 * WeightDecay("s")
        s_i = s + 0.1 * rng.standard_normal(s.shape)
        value, grad = total.value_and_grad({"s": s_i}, "s")
        R = A @ s_i - x
        ref_topo, ref_topo_grad = dense_reference(V, s_i, EPS)
        assert abs(value - (c * (R * R).sum() + 0.1 * ref_topo + 0.01 * (s_i**2).sum())) <= (
            1e-11 * abs(value))
        expected = 2 * c * A.T @ R + 0.1 * ref_topo_grad + 0.02 * s_i
        assert rel(grad, expected) < 1e-11
        assert check_gradient(total, {"s": s_i}, "s") < 1e-7
    assert bound.value_and_grad({"s": s}, "s")[1] is not bound.value_and_grad({"s": s}, "s")[1]


def test_float32_bound_sum_close_to_float64():
    A, x, s, V = sc_problem(200, dtype=np.float64, grid=(11, 11), n=64)
    total64 = (1 / 200) * Reconstruction.fixed_basis(A, x) + 5e-3 * TopographicL1(V, 1e-5)
    v64, g64 = total64.value_and_grad({"s": s}, "s")
    f32 = {name: a.astype(np.float32) for name, a in (("A", A), ("x", x), ("s", s))}
    total32 = (1 / 200) * Reconstruction.fixed_basis(f32["A"], f32["x"]) + 5e-3 * TopographicL1(
        V.astype(np.float32), 1e-5)
    v32, g32 = total32.value_and_grad({"s": f32["s"]}, "s")
    assert g32.dtype == np.float32 and isinstance(v32, float)
    assert abs(v32 - v64) <= 1e-5 * abs(v64) and rel(g32, g64) < 1e-5


def test_non_finite_codes_still_raise():
    A, x, s, V = sc_problem(6)
    total = Reconstruction.fixed_basis(A, x) + TopographicL1(V, EPS)
    s = s.copy()
    s[2, 3] = np.nan
    with pytest.raises(ValueError, match="'s'"):
        total.value_and_grad({"s": s}, "s")
    with pytest.raises(ValueError, match="'s'"):
        TopographicL1(V, EPS).value({"s": s})


@pytest.mark.parametrize("n, grid", [(9, (5, 5)), (40, (3, 3))])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_both_fixed_basis_forms_accumulate_correctly(n, grid, dtype):
    A, x, s, V = sc_problem(23, grid=grid, n=n, dtype=dtype)
    bound = Reconstruction.fixed_basis(A, x)
    assert bound._accumulate_direct == (n == 9)  # direct form at n=9,k=25; Gram form at n=40,k=9
    total = 0.25 * bound + 0.5 * TopographicL1(V, EPS)
    value, grad = total.value_and_grad({"s": s}, "s")
    assert grad.dtype == dtype and grad.flags.c_contiguous
    A64, x64, s64 = (a.astype(np.float64) for a in (A, x, s))
    R = A64 @ s64 - x64
    ref_topo, ref_topo_grad = dense_reference(V, s64, EPS)
    ref_value = 0.25 * (R * R).sum() + 0.5 * ref_topo
    ref_grad = 0.5 * A64.T @ R + 0.5 * ref_topo_grad
    tol = 1e-12 if dtype == np.float64 else 2e-5
    assert abs(value - ref_value) <= tol * abs(ref_value) and rel(grad, ref_grad) < tol
    alone_value, alone_grad = (0.25 * bound).value_and_grad({"s": s}, "s")  # bound term first
    assert abs(alone_value - 0.25 * (R * R).sum()) <= tol * abs(ref_value)
    assert rel(alone_grad, 0.5 * A64.T @ R) < tol


@pytest.mark.parametrize("length, pool", [(length, pool) for length in (2, 3, 5, 9)
                                          for pool in (2, 3) if pool <= length])
@pytest.mark.parametrize("wrap", [True, False])
@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("axis", [0, 1])
def test_box_sum_matches_shifted_sums(length, pool, wrap, reverse, axis):
    from sparselearn.objectives._kernels import box_sum

    rng = np.random.default_rng(length * 10 + pool)
    shape = (length, 4, 3) if axis == 0 else (4, length, 3)
    src = rng.standard_normal(shape)
    dst = np.full(shape, np.nan)
    box_sum(src, dst, axis, pool, wrap, reverse)
    expected = np.zeros(shape)
    index = np.arange(length)
    for d in range(pool):
        source = index - d if reverse else index + d
        valid = (source >= 0) & (source < length)
        if wrap:
            source, valid = source % length, np.ones(length, bool)
        taken = np.take(src, source[valid], axis=axis)
        if axis == 0:
            expected[valid] += taken
        else:
            expected[:, valid] += taken
    np.testing.assert_allclose(dst, expected, rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("n, grid, near_fit", [(9, (5, 5), False), (40, (3, 3), False),
                                               (64, (11, 11), True)])
def test_fixed_basis_value_matches_value_and_grad(n, grid, near_fit):
    A, x, s, V = sc_problem(17, grid=grid, n=n)
    bound = Reconstruction.fixed_basis(A, x)
    R = A @ s - x
    for term in (bound, 0.3 * bound + TopographicL1(V, EPS)):
        value = term.value({"s": s})
        assert abs(value - term.value_and_grad({"s": s}, "s")[0]) <= 1e-12 * abs(value)
    assert abs(bound.value({"s": s}) - (R * R).sum()) <= 1e-12 * (R * R).sum()
    if not near_fit:
        return
    # float32 near a good fit (residual ~1e-3 of the data): the Gram form's value
    # ⟨s, Gs − 2b⟩ + ‖x‖² cancels to an error of order eps·(‖x‖/‖R‖)², here several per cent.
    # At n = 64, k = 121 the direct form is the chosen one, and value(), value_and_grad() and
    # the weighted sum's accumulation must all give ‖As − x‖² directly.
    rng = np.random.default_rng(8)
    m = 2000
    s = (0.1 * rng.standard_normal((A.shape[1], m))).astype(np.float32)
    A32 = A.astype(np.float32)
    x32 = (A32.astype(np.float64) @ s + 1e-3 * rng.standard_normal((n, m))).astype(np.float32)
    bound = Reconstruction.fixed_basis(A32, x32)
    assert bound._accumulate_direct
    A64, s64, x64 = (a.astype(np.float64) for a in (A32, s, x32))
    R = A64 @ s64 - x64  # exact residual of the float32 inputs
    exact = float((R * R).sum())
    # Forming As − x in float32 errs by about eps·(|A||s| + |x|) per entry, and
    # δ‖R‖² ≈ 2⟨R, δR⟩, so the direct value is within 2·eps·κ, κ = ‖|A||s| + |x|‖ / ‖R‖
    # (first order in κ; the Gram form's error is of order eps·κ², here 30 times larger).
    eps32 = float(np.finfo(np.float32).eps)
    kappa = np.linalg.norm(np.abs(A64) @ np.abs(s64) + np.abs(x64)) / np.sqrt(exact)
    tol = 2 * eps32 * kappa
    assert tol < 0.01  # the bound is meaningful here
    value = bound.value({"s": s})
    value_grad, grad = bound.value_and_grad({"s": s}, "s")
    summed = (1.0 * bound).value_and_grad({"s": s}, "s")[0]
    assert grad.dtype == np.float32
    for v in (value, value_grad, summed):
        assert abs(v - exact) <= tol * exact
    # one form, one float32 sum of squares: the three agree to float32 summation accuracy
    assert abs(value_grad - value) <= 4 * eps32 * value and abs(summed - value) <= 4 * eps32 * value


def test_mixed_dtypes_fall_back_and_keep_the_variable_dtype():
    A, x, s, V = sc_problem(12)  # float64 basis and data
    total = 0.5 * Reconstruction.fixed_basis(A, x) + 2.0 * TopographicL1(V, EPS)
    s32 = s.astype(np.float32)
    value, grad = total.value_and_grad({"s": s32}, "s")
    assert grad.dtype == np.float32 and isinstance(value, float)
    R = A @ s32.astype(np.float64) - x
    ref_topo, ref_topo_grad = dense_reference(V, s32, EPS)
    assert abs(value - (0.5 * (R * R).sum() + 2.0 * ref_topo)) <= 1e-5 * abs(value)
    assert rel(grad, A.T @ R + 2.0 * ref_topo_grad) < 1e-5
