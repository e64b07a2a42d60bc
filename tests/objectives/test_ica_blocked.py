"""Blocked evaluation of the ICA terms equals the direct (one-block) form."""

from __future__ import annotations

import mmap

import numpy as np
import pytest

from sparselearn.objectives import (
    ICAReconstruction,
    ICASparsity,
    TopographicICASparsity,
    check_gradient,
    grouping_matrix,
)
from sparselearn.objectives._kernels import POOL_BLOCK, SeparablePooling
from sparselearn.objectives.blocks import (
    block_columns,
    count_non_finite,
    iter_column_blocks,
    mapping_of,
    memmap_root,
)
from sparselearn.objectives.topographic import GroupingOperator

EPS = 1e-2


def _data(rng, k=6, n=5, m=23, dtype=np.float64):
    W = rng.standard_normal((k, n)).astype(dtype)
    x = rng.standard_normal((n, m)).astype(dtype)
    return W, x


def _terms(block):
    V = grouping_matrix((2, 3), pool=2)
    return {
        "ica_sparsity": (ICASparsity(EPS, block=block), ICASparsity(EPS, block=10**9)),
        "topographic": (TopographicICASparsity(V, EPS, block=block),
                        TopographicICASparsity(V, EPS, block=10**9)),
        "reconstruction": (ICAReconstruction(block=block), ICAReconstruction(block=10**9)),
    }


@pytest.mark.parametrize("block", [1, 4, 7, 22, 23, 24, 1000])
@pytest.mark.parametrize("name", ["ica_sparsity", "topographic", "reconstruction"])
def test_blocked_equals_direct_float64(name, block):
    rng = np.random.default_rng(block)
    W, x = _data(rng)
    blocked, direct = _terms(block)[name]
    v_b, g_b = blocked.value_and_grad({"W": W, "x": x}, "W")
    v_d, g_d = direct.value_and_grad({"W": W, "x": x}, "W")
    assert v_b == pytest.approx(v_d, rel=1e-12)
    assert blocked.value({"W": W, "x": x}) == pytest.approx(v_d, rel=1e-12)
    np.testing.assert_allclose(g_b, g_d, rtol=1e-12, atol=1e-12 * np.abs(g_d).max())
    assert g_b.dtype == np.float64 and g_b.shape == W.shape


@pytest.mark.parametrize("name", ["ica_sparsity", "topographic", "reconstruction"])
def test_blocked_keeps_float32(name):
    rng = np.random.default_rng(0)
    W, x = _data(rng, m=41, dtype=np.float32)
    blocked, direct = _terms(5)[name]
    v_b, g_b = blocked.value_and_grad({"W": W, "x": x}, "W")
    v_d, g_d = direct.value_and_grad({"W": W, "x": x}, "W")
    assert g_b.dtype == np.float32
    assert isinstance(v_b, float)
    assert v_b == pytest.approx(v_d, rel=1e-5)
    np.testing.assert_allclose(g_b, g_d, rtol=1e-4, atol=1e-5 * np.abs(g_d).max())


@pytest.mark.parametrize("name", ["ica_sparsity", "topographic", "reconstruction"])
def test_single_example(name):
    rng = np.random.default_rng(1)
    W, x = _data(rng, m=1)
    blocked, direct = _terms(1)[name]
    v_b, g_b = blocked.value_and_grad({"W": W, "x": x}, "W")
    v_d, g_d = direct.value_and_grad({"W": W, "x": x}, "W")
    assert v_b == pytest.approx(v_d, rel=1e-14)
    np.testing.assert_allclose(g_b, g_d, rtol=1e-13)


@pytest.mark.parametrize("name", ["ica_sparsity", "topographic", "reconstruction"])
def test_blocked_gradient_checks(name):
    rng = np.random.default_rng(2)
    W, x = _data(rng, m=17)
    blocked, _ = _terms(4)[name]
    assert check_gradient(blocked, {"W": W, "x": x}, "W") < 1e-7


def test_f_ordered_view_equals_c_ordered():
    """The trainers pass ``X.T`` (F-ordered); the result matches a C-ordered copy."""
    rng = np.random.default_rng(3)
    W = rng.standard_normal((6, 5))
    X = rng.standard_normal((31, 5))
    for term in (ICASparsity(EPS, block=8), ICAReconstruction(block=8)):
        v_f, g_f = term.value_and_grad({"W": W, "x": X.T}, "W")
        v_c, g_c = term.value_and_grad({"W": W, "x": np.ascontiguousarray(X.T)}, "W")
        assert v_f == pytest.approx(v_c, rel=1e-13)
        np.testing.assert_allclose(g_f, g_c, rtol=1e-12)


@pytest.mark.parametrize("block", [None, 3, 10, 100])
def test_from_data_blocked_equals_direct(block):
    rng = np.random.default_rng(4)
    x = rng.standard_normal((5, 37))
    term = ICAReconstruction.from_data(x, block=block)
    np.testing.assert_allclose(term.C, x @ x.T, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(term.C, term.C.T)
    W = rng.standard_normal((7, 5))
    direct = ICAReconstruction().value_and_grad({"W": W, "x": x}, "W")
    value, grad = term.value_and_grad({"W": W}, "W")
    assert value == pytest.approx(direct[0], rel=1e-11)
    np.testing.assert_allclose(grad, direct[1], rtol=1e-10, atol=1e-12)


def test_from_data_float32_stays_float32():
    x = np.random.default_rng(5).standard_normal((4, 50)).astype(np.float32)
    C = ICAReconstruction.from_data(x, block=7).C
    assert C.dtype == np.float32
    np.testing.assert_allclose(C, x.astype(np.float64) @ x.T.astype(np.float64), rtol=1e-5)


@pytest.mark.parametrize("where", [0, 36])
def test_from_data_rejects_non_finite_in_any_block(where):
    x = np.random.default_rng(6).standard_normal((4, 37))
    x[2, where] = np.nan
    with pytest.raises(ValueError, match="x of shape"):
        ICAReconstruction.from_data(x, block=5)


@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")
@pytest.mark.parametrize("term", [ICASparsity(EPS, block=4), ICAReconstruction(block=4)])
def test_blocked_names_non_finite_x(term):
    rng = np.random.default_rng(7)
    W, x = _data(rng, m=19)
    x[1, 17] = np.inf
    x[0, 18] = np.nan
    with pytest.raises(ValueError, match=r"variable 'x' of shape \(5, 19\) holds 2 non-finite"):
        term.value_and_grad({"W": W, "x": x}, "W")


BAD_BLOCKS = [0, -3, 2.5, True, np.bool_(True), float("inf"), float("-inf"), float("nan"), "a",
              "4", [4], np.float64(0.5)]

_GRID_V = grouping_matrix((3, 3), pool=2)
BLOCK_OWNERS = {
    "ICASparsity": lambda block: ICASparsity(EPS, block=block),
    "TopographicICASparsity": lambda block: TopographicICASparsity(_GRID_V, EPS, block=block),
    "ICAReconstruction": lambda block: ICAReconstruction(block=block),
    "ICAReconstruction.from_data": lambda block: ICAReconstruction.from_data(
        np.ones((3, 5)), block=block),
    "GroupingOperator-owner": lambda block: GroupingOperator(_GRID_V, "GroupingOperator-owner",
                                                             block=block),
    "block_columns": lambda block: block_columns(64, 8, block),
    "my_owner": lambda block: block_columns(64, 8, block, owner="my_owner"),
    "iter_column_blocks": lambda block: next(iter_column_blocks(np.ones((3, 5)), block)),
}


@pytest.mark.parametrize("owner", sorted(BLOCK_OWNERS))
@pytest.mark.parametrize("bad", BAD_BLOCKS, ids=repr)
def test_block_must_be_a_positive_integer(owner, bad):
    expected = f"{owner}: block must be a positive integer or None; got {bad!r}"
    with pytest.raises(ValueError) as info:
        BLOCK_OWNERS[owner](bad)
    assert str(info.value) == expected


@pytest.mark.parametrize("owner", sorted(BLOCK_OWNERS))
@pytest.mark.parametrize("good", [None, 1, 7, np.int64(7), 7.0])
def test_block_accepts_positive_integers_and_none(owner, good):
    BLOCK_OWNERS[owner](good)


def test_block_sizes():
    assert block_columns(64, 8) == 2**20 // (64 * 8)
    assert block_columns(10**9, 8) == 1
    assert block_columns(64, 8, np.int64(7)) == 7 and block_columns(64, 8, 7.0) == 7
    assert type(block_columns(64, 8, np.int64(7))) is int
    assert ICASparsity(EPS, block=7.0).block == 7
    assert GroupingOperator(_GRID_V, "t", block=5).separable.block == 5
    assert GroupingOperator(_GRID_V, "t", block=None).separable.block == POOL_BLOCK
    with pytest.raises(ValueError, match="^SeparablePooling: block must be a positive"):
        SeparablePooling(3, 3, 2, True, block=0)


def _c64(x):
    x64 = np.asarray(x, np.float64)
    return x64 @ x64.T


@pytest.mark.parametrize("block", [None, 7, 10**6])  # one block (m ≤ block) and several
def test_from_data_accumulates_in_float64(block):
    """C = x xᵀ is computed in float64 from float32 data (each block cast before its product),
    stored rounded to float32 for float32 W, and kept in float64 for float64 W."""
    rng = np.random.default_rng(9)
    # an offset makes the entries of C large next to their spread: a float32 sum of the m
    # products would lose several digits
    x = (3.0 + rng.standard_normal((6, 3000))).astype(np.float32)
    reference = _c64(x)
    term = ICAReconstruction.from_data(x, block=block)
    # stored in x's dtype, correctly rounded from the float64 sum (to 1e-12 before rounding)
    assert term.C.dtype == np.float32
    np.testing.assert_allclose(term.C, reference.astype(np.float32), rtol=1e-7, atol=0)
    C64 = term._C_by_dtype[np.dtype(np.float64)]
    assert C64.dtype == np.float64
    np.testing.assert_allclose(C64, reference, rtol=1e-12, atol=0)
    np.testing.assert_array_equal(term.C, term.C.T)
    np.testing.assert_array_equal(C64, C64.T)
    # the term stays float32 for float32 W ...
    W = rng.standard_normal((4, 6))
    value32, grad32 = term.value_and_grad({"W": W.astype(np.float32)}, "W")
    assert grad32.dtype == np.float32 and isinstance(value32, float)
    assert set(term._C_by_dtype) == {np.dtype(np.float32), np.dtype(np.float64)}
    # ... and a float64 W is evaluated against the float64 C
    value64, grad64 = term.value_and_grad({"W": W}, "W")
    exact = ICAReconstruction.from_covariance(reference).value_and_grad({"W": W}, "W")
    assert value64 == pytest.approx(exact[0], rel=1e-12)
    np.testing.assert_allclose(grad64, exact[1], rtol=1e-11, atol=0)


def test_from_data_float64_unchanged():
    x = np.random.default_rng(10).standard_normal((5, 40))
    term = ICAReconstruction.from_data(x)
    np.testing.assert_allclose(term.C, x @ x.T, rtol=1e-13)
    assert term.C.dtype == np.float64 and list(term._C_by_dtype) == [np.dtype(np.float64)]


def test_memmap_blocks_equal_in_memory(tmp_path):
    rng = np.random.default_rng(8)
    X = rng.standard_normal((300, 6))
    np.save(tmp_path / "rows.npy", X)
    mapped = np.load(tmp_path / "rows.npy", mmap_mode="r")
    assert mapping_of(mapped.T) is not None and mapping_of(X.T) is None
    assert memmap_root(mapped[5:].T) is not None
    W = rng.standard_normal((8, 6))
    for term in (ICASparsity(EPS, block=64), ICAReconstruction(block=64),
                 TopographicICASparsity(grouping_matrix((2, 4), pool=2), EPS, block=64)):
        v_m, g_m = term.value_and_grad({"W": W, "x": mapped.T}, "W")
        v_a, g_a = term.value_and_grad({"W": W, "x": X.T}, "W")
        assert v_m == v_a
        np.testing.assert_array_equal(g_m, g_a)
    C = ICAReconstruction.from_data(mapped.T, block=64).C
    np.testing.assert_array_equal(C, ICAReconstruction.from_data(X.T, block=64).C)
    assert count_non_finite(mapped.T, block=7) == 0
    starts = [start for start, _, _ in iter_column_blocks(mapped.T, 64)]
    assert starts == [0, 64, 128, 192, 256]
    assert isinstance(mapping_of(mapped)[0], mmap.mmap)


def test_iter_column_blocks_releases_mapped_pages(tmp_path, monkeypatch):
    import sparselearn.objectives.blocks as blocks

    np.save(tmp_path / "rows.npy", np.ones((300, 6)))
    mapped = np.load(tmp_path / "rows.npy", mmap_mode="r")
    calls = []
    monkeypatch.setattr(blocks, "release_pages", lambda x: calls.append(x.shape))
    monkeypatch.setattr(blocks, "RELEASE_BYTES", 6 * 8 * 100)  # every 100 examples
    assert len(list(iter_column_blocks(mapped.T, 50))) == 6
    assert len(calls) == 3
    calls.clear()
    for _ in iter_column_blocks(mapped.T, 50):
        break  # leaving early still releases what was read
    assert len(calls) == 1
    calls.clear()
    list(iter_column_blocks(np.ones((6, 300)), 50))  # in memory: nothing to release
    assert calls == []
