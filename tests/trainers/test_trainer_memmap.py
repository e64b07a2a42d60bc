"""Memory-mapped training data: no copies, equal results, bounded resident memory."""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
import textwrap
import weakref
from pathlib import Path

import numpy as np
import pytest
from trainer_helpers import Interrupt

import sparselearn.trainers.columns as columns
from sparselearn.trainers import RICA, OrthonormalICA, SparseCoding, TopographicICA
from sparselearn.trainers.columns import all_finite, column_blocks, take_columns

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture()
def rows(tmp_path) -> tuple[np.ndarray, np.memmap]:
    """A whitened-looking (m, n) array and the same data as a read-only memory map."""
    rng = np.random.default_rng(0)
    X = rng.laplace(size=(3000, 12))
    X -= X.mean(axis=0)
    X /= X.std(axis=0)
    np.save(tmp_path / "rows.npy", X)
    return X, np.load(tmp_path / "rows.npy", mmap_mode="r")


# -- _to_columns -----------------------------------------------------------------------------
@pytest.mark.parametrize("source", ["array", "memmap"])
def test_to_columns_is_a_view_without_conversion(rows, source):
    X = rows[0] if source == "array" else rows[1]
    model = RICA()
    x = model._to_columns(X, np.dtype(np.float64))
    assert x.shape == (12, 3000)
    assert np.shares_memory(x, X)
    np.testing.assert_array_equal(x, np.asarray(X).T)


@pytest.mark.parametrize("source", ["array", "memmap"])
def test_to_columns_copies_for_a_dtype_conversion(rows, source):
    X = rows[0] if source == "array" else rows[1]
    x = RICA()._to_columns(X, np.dtype(np.float32))
    assert x.dtype == np.float32 and x.flags.c_contiguous
    assert not np.shares_memory(x, X)
    np.testing.assert_array_equal(x, np.asarray(X).T.astype(np.float32))


@pytest.mark.parametrize("column", [0, 2999])
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_to_columns_rejects_non_finite_in_any_block(rows, tmp_path, monkeypatch, column, bad):
    monkeypatch.setattr(columns, "_BLOCK_BYTES", 12 * 8 * 100)  # blocks of 100 examples
    X = rows[0].copy()
    X[column, 5] = bad
    np.save(tmp_path / "bad.npy", X)
    for data in (X, np.load(tmp_path / "bad.npy", mmap_mode="r")):
        with pytest.raises(ValueError, match="X holds NaN or infinite"):
            RICA(max_iter=1).fit(data)
        with pytest.raises(ValueError, match="X holds NaN or infinite"):
            SparseCoding(n_components=4, max_iter=1)._to_columns(data, np.dtype(np.float32))


@pytest.mark.parametrize("cls", [RICA, TopographicICA, OrthonormalICA, SparseCoding])
def test_fit_leaves_the_callers_array_unchanged(rows, cls):
    X = rows[0].copy()
    kwargs = {"max_iter": 2, "random_state": 0}
    if cls is TopographicICA:
        kwargs.update(grid=(3, 4), pool=2)
    if cls is SparseCoding:
        kwargs.update(n_components=8, batch_size=500)
    model = cls(**kwargs).fit(X)
    model.transform(X)
    np.testing.assert_array_equal(X, rows[0])


def test_all_finite_blocks(rows):
    x = rows[0].T.copy()
    assert all_finite(x, block=7)
    x[3, -1] = np.nan
    assert not all_finite(x, block=7)
    blocks = list(column_blocks(rows[1].T, block=1000, dtype=np.float32))
    assert [b[0] for b in blocks] == [0, 1000, 2000]
    assert all(b[2].flags.c_contiguous and b[2].dtype == np.float32 for b in blocks)


# -- take_columns ----------------------------------------------------------------------------
@pytest.mark.parametrize("source", ["array", "memmap", "memmap_slice", "fortran"])
def test_take_columns_equals_fancy_indexing(rows, source):
    X, mapped = rows
    x = {"array": X.T, "memmap": mapped.T, "memmap_slice": mapped[100:2500].T,
         "fortran": np.asfortranarray(X).T}[source]
    m = x.shape[1]
    rng = np.random.default_rng(1)
    for index in (rng.integers(0, m, 500), np.array([m - 1, 0, 0, 5, m - 1]),
                  np.arange(m)[::-7], np.array([-1, -m, 3]), np.array([], dtype=int),
                  rng.integers(0, m, 40).astype(np.uint32)):
        for dtype in (None, np.float32):
            got = take_columns(x, index, dtype)
            want = np.ascontiguousarray(np.asarray(x)[:, index], dtype=dtype or x.dtype)
            assert got.flags.c_contiguous and got.dtype == want.dtype
            np.testing.assert_array_equal(got, want)
    with pytest.raises(IndexError):
        take_columns(x, np.array([m]))
    np.testing.assert_array_equal(take_columns(x, np.arange(m) % 2 == 0),
                                  np.asarray(x)[:, ::2])


def test_take_columns_reads_a_memmap_from_the_file(rows, monkeypatch):
    """The memmap path reads with os.preadv, one call per run of rows adjacent in the file."""
    calls = []
    real = os.preadv
    monkeypatch.setattr(columns.os, "preadv", lambda *a: calls.append(a[2]) or real(*a))
    index = np.array([7, 3, 7, 4, 5, 100, 6, 2999, 2998])
    got = take_columns(rows[1].T, index)
    np.testing.assert_array_equal(got, rows[0][index].T)
    row_bytes = 12 * 8
    assert sorted(calls) == [128 + 3 * row_bytes, 128 + 100 * row_bytes,
                             128 + 2998 * row_bytes]  # runs 3..7, 100, 2998..2999


def test_take_columns_splits_long_runs_at_the_iovec_limit(rows, monkeypatch):
    monkeypatch.setattr(columns, "_iov_max", lambda: 64)
    calls = []
    real = os.preadv
    monkeypatch.setattr(columns.os, "preadv", lambda *a: calls.append(len(a[1])) or real(*a))
    index = np.arange(2999, -1, -1)  # one run, asked for in reverse
    np.testing.assert_array_equal(take_columns(rows[1].T, index), rows[0][index].T)
    assert calls == [64] * 46 + [3000 - 64 * 46]


@pytest.fixture(params=["map_files", "path"])
def opener(request, monkeypatch) -> str:
    """Open the mapped file by its /proc/self/map_files handle (where allowed) or by its path."""
    if request.param == "path":
        monkeypatch.setattr(columns, "_MAP_FILES", "/nonexistent/map_files")
    return request.param


def test_take_columns_reads_the_mapped_file_after_it_was_replaced(tmp_path, opener):
    """An atomic rewrite replaces the path's file; the mini-batch must come from the map."""
    rng = np.random.default_rng(3)
    X = rng.standard_normal((500, 7))
    path = tmp_path / "x.npy"
    np.save(path, X)
    mapped = np.load(path, mmap_mode="r")
    np.save(tmp_path / "new.npy", 2 * X + 1)
    os.replace(tmp_path / "new.npy", path)
    index = np.array([0, 5, 3, 3, 199, -1, 289, 288])
    for x in (mapped.T, mapped[10:300].T, mapped[:, 2:6].T):
        want = np.ascontiguousarray(np.asarray(x)[:, index])
        np.testing.assert_array_equal(take_columns(x, index), want)
    np.testing.assert_array_equal(take_columns(mapped.T, index), X[index].T)
    np.testing.assert_array_equal(take_columns(mapped[10:300].T, index), X[10:300][index].T)
    if opener == "path":  # the path now names another file: not read
        assert columns._read_columns(mapped.T, np.array([0, 1])) is None


def test_take_columns_reads_a_deleted_or_moved_file_correctly(tmp_path, opener):
    rng = np.random.default_rng(4)
    X = rng.standard_normal((300, 5))
    np.save(tmp_path / "a.npy", X)
    np.save(tmp_path / "b.npy", X + 1)
    deleted = np.load(tmp_path / "a.npy", mmap_mode="r")
    os.remove(tmp_path / "a.npy")
    swapped = np.load(tmp_path / "b.npy", mmap_mode="r")
    os.rename(tmp_path / "b.npy", tmp_path / "c.npy")
    np.save(tmp_path / "b.npy", X - 1)
    index = np.array([299, 0, 17, 17, 18])
    np.testing.assert_array_equal(take_columns(deleted.T, index), X[index].T)
    np.testing.assert_array_equal(take_columns(swapped.T, index), (X + 1)[index].T)


def test_take_columns_reads_through_the_verified_path(rows, opener, monkeypatch):
    """Without map_files the path is opened, and used when it is the mapped file."""
    calls = []
    real = os.preadv
    monkeypatch.setattr(columns.os, "preadv", lambda *a: calls.append(1) or real(*a))
    index = np.array([5, 1, 2])
    np.testing.assert_array_equal(take_columns(rows[1].T, index), rows[0][index].T)
    assert len(calls) == 2


def test_take_columns_falls_back_when_the_mapping_cannot_be_verified(rows, monkeypatch):
    monkeypatch.setattr(columns, "_MAPS", "/nonexistent/maps")
    calls = []
    monkeypatch.setattr(columns.os, "preadv", lambda *a: calls.append(1))
    index = np.array([5, 1, 2, 2])
    np.testing.assert_array_equal(take_columns(rows[1].T, index), rows[0][index].T)
    assert calls == []


@pytest.mark.parametrize(
    "view",
    ["columns_2_6", "copy_on_write", "copy_on_write_modified", "r+_unflushed", "every_third",
     "reversed", "reversed_columns", "every_other_column"],
)
def test_take_columns_on_memmap_views_equals_fancy_indexing(tmp_path, opener, view):
    rng = np.random.default_rng(5)
    X = rng.standard_normal((400, 9))
    path = tmp_path / "x.npy"
    np.save(path, X)
    if view.startswith("copy_on_write"):
        M = np.load(path, mmap_mode="c")
        if view.endswith("modified"):
            M[5, :] = 42.0
            M[:, 3] = -1.0
    elif view == "r+_unflushed":
        M = np.load(path, mmap_mode="r+")
        M[0, :] = -7.0
        M[399, 2] = 3.5
    else:
        M = np.load(path, mmap_mode="r")
        M = {"columns_2_6": M[:, 2:6], "every_third": M[::3], "reversed": M[::-1],
             "reversed_columns": M[:, ::-1], "every_other_column": M[:, ::2]}[view]
    x = M.T
    m = x.shape[1]
    for index in (np.array([0, 5, 3, 3, m - 1, -1, 1, 2]), np.arange(m),
                  np.random.default_rng(6).integers(0, m, 50)):
        want = np.ascontiguousarray(np.asarray(x)[:, index])
        for dtype in (None, np.float32):
            got = take_columns(x, index, dtype)
            np.testing.assert_array_equal(got, want.astype(dtype or x.dtype))
    if view == "r+_unflushed":
        assert take_columns(x, np.array([0]))[0, 0] == -7.0


# -- estimators on a memory map ----------------------------------------------------------------
@pytest.mark.parametrize("cls", [RICA, TopographicICA, OrthonormalICA])
def test_fitted_ica_does_not_keep_the_callers_memmap_alive(rows, cls):
    """Nothing of a fitted model refers to the training data (the map can be closed)."""
    kwargs = {"grid": (3, 4), "pool": 2} if cls is TopographicICA else {}
    X = np.load(rows[1].filename, mmap_mode="r")
    alive = weakref.ref(X)
    model = cls(max_iter=2, random_state=0, **kwargs).fit(X)
    del X
    gc.collect()
    assert alive() is None
    assert model.transform(rows[0][:5]).shape[0] == 5


@pytest.mark.parametrize("cls", [RICA, TopographicICA, OrthonormalICA])
def test_ica_on_memmap_equals_in_memory(rows, cls):
    X, mapped = rows
    kwargs = {"max_iter": 2, "inner_iter": 3, "random_state": 0}
    if cls is TopographicICA:
        kwargs.update(grid=(3, 4), pool=2)
    a = cls(**kwargs).fit(X)
    b = cls(**kwargs).fit(mapped)
    np.testing.assert_allclose(b.components_, a.components_, rtol=1e-10, atol=1e-12)
    assert [r["objective"] for r in b.history_] == pytest.approx(
        [r["objective"] for r in a.history_], rel=1e-12)
    np.testing.assert_allclose(b.transform(mapped), a.transform(X), rtol=1e-10, atol=1e-12)
    assert b.objective(mapped) == pytest.approx(a.objective(X), rel=1e-12)


def test_rica_blocked_run_equals_unblocked(rows, monkeypatch):
    """Small blocks everywhere (objectives, records, transform) change only rounding."""
    import sparselearn.objectives.blocks as blocks

    X, mapped = rows
    kwargs = {"max_iter": 2, "inner_iter": 4, "random_state": 0}
    a = RICA(**kwargs).fit(X)
    monkeypatch.setattr(blocks, "BLOCK_BYTES", 12 * 8 * 256)  # 256 examples per block
    b = RICA(**kwargs).fit(mapped)
    np.testing.assert_allclose(b.components_, a.components_, rtol=1e-8, atol=1e-10)
    for key in ("objective", "sparsity", "ica_sparsity", "reconstruction_error"):
        assert b.history_[-1][key] == pytest.approx(a.history_[-1][key], rel=1e-9)
    np.testing.assert_allclose(b.transform(mapped), a.transform(X), rtol=1e-8, atol=1e-10)
    assert b.transform(mapped).flags.c_contiguous


@pytest.mark.parametrize("cls", [RICA, SparseCoding])
def test_resume_on_memmap_is_bit_identical(rows, cls, monkeypatch):
    import sparselearn.objectives.blocks as blocks

    monkeypatch.setattr(blocks, "BLOCK_BYTES", 12 * 8 * 500)  # blocked evaluation
    mapped = rows[1]
    kwargs = ({"max_iter": 4, "inner_iter": 3, "random_state": 0} if cls is RICA else
              {"n_components": 8, "batch_size": 500, "max_iter": 4, "random_state": 0})
    full = cls(**kwargs).fit(mapped)
    interrupt = Interrupt(2)
    cls(**kwargs, callbacks=[interrupt]).fit(mapped)
    resumed = cls(**kwargs).fit(mapped, resume=interrupt.saved)
    assert np.array_equal(resumed.components_, full.components_)
    assert [r["objective"] for r in resumed.history_] == [r["objective"] for r in full.history_]


def test_sparse_coding_on_memmap_equals_in_memory(rows):
    X, mapped = rows
    kwargs = {"n_components": 8, "batch_size": 500, "max_iter": 3, "random_state": 0}
    a = SparseCoding(**kwargs).fit(X)
    b = SparseCoding(**kwargs).fit(mapped)
    np.testing.assert_allclose(b.components_, a.components_, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(b.transform(mapped[:200]), a.transform(X[:200]),
                               rtol=1e-7, atol=1e-9)


# -- resident memory ---------------------------------------------------------------------------
_MEMORY_SCRIPT = textwrap.dedent("""
    import json, sys
    import numpy as np
    from sparselearn.trainers import RICA

    def status(key):
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) * 1024
        return 0

    X = np.load(sys.argv[1], mmap_mode="r")
    RICA(n_components=8, max_iter=1, inner_iter=2, random_state=0).fit(X[:16]).transform(X[:16])
    before = status("VmRSS")
    model = RICA(n_components=8, max_iter=1, inner_iter=2, random_state=0).fit(X)
    model.objective(X)
    print(json.dumps({"before": before, "peak": status("VmHWM"), "after": status("VmRSS")}))
""")


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs /proc (Linux)")
def test_rica_fit_on_memmap_keeps_resident_memory_low(tmp_path):
    m, n = 400_000, 64  # 195 MiB of float64
    path = tmp_path / "big.npy"
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float64, shape=(m, n))
    rng = np.random.default_rng(0)
    for start in range(0, m, 50_000):
        out[start:start + 50_000] = rng.standard_normal((50_000, n))
    out.flush()
    del out
    size = m * n * 8
    env = {**os.environ, "OMP_NUM_THREADS": "1",
           "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-c", _MEMORY_SCRIPT, str(path)], env=env,
                          capture_output=True, text=True, timeout=600, check=True)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    growth = result["peak"] - result["before"]
    assert growth < 0.5 * size, (growth / 2**20, result)
