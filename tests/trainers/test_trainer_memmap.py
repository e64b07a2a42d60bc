"""Memory-mapped training data: no copies, equal results, bounded resident memory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from trainer_helpers import Interrupt

import trainers.columns as columns
from trainers import RICA, OrthonormalICA, SparseCoding, TopographicICA
from trainers.columns import all_finite, column_blocks, take_columns

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
    """The memmap path reads with os.preadv: the map's own pages are not gathered."""
    calls = []
    real = os.preadv
    monkeypatch.setattr(columns.os, "preadv", lambda *a: calls.append(1) or real(*a))
    got = take_columns(rows[1].T, np.array([7, 3, 7]))
    assert len(calls) == 3
    np.testing.assert_array_equal(got, rows[0][[7, 3, 7]].T)


# -- estimators on a memory map ----------------------------------------------------------------
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
    import objectives.blocks as blocks

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
    import objectives.blocks as blocks

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
    from trainers import RICA

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
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1",
           "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-c", _MEMORY_SCRIPT, str(path)], env=env,
                          capture_output=True, text=True, timeout=600, check=True)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    growth = result["peak"] - result["before"]
    assert growth < 0.5 * size, (growth / 2**20, result)
