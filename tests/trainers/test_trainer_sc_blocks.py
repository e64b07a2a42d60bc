"""SparseCoding transform/objective in column blocks: equal to the whole-batch computation."""

from __future__ import annotations

import numpy as np
import pytest

from sparselearn.trainers import SparseCoding, TopographicSparseCoding
from sparselearn.trainers.coding_steps import column_fista as _column_fista
from sparselearn.trainers.solvers import accelerated_gradient


@pytest.fixture(scope="module")
def rows(tmp_path_factory) -> tuple[np.ndarray, np.memmap]:
    """A whitened-looking (m, n) array and the same data as a read-only memory map."""
    rng = np.random.default_rng(0)
    X = rng.laplace(size=(1500, 12))
    X -= X.mean(axis=0)
    X /= X.std(axis=0)
    path = tmp_path_factory.mktemp("sc_blocks") / "rows.npy"
    np.save(path, X)
    return X, np.load(path, mmap_mode="r")


def _fit(cls, X, solver="accelerated", dtype=None):
    kwargs = {"batch_size": 400, "max_iter": 2, "random_state": 0, "s_solver": solver,
              "transform_max_iter": 60, "dtype": dtype}
    if cls is TopographicSparseCoding:
        kwargs.update(grid=(3, 4), pool=2)
    else:
        kwargs.update(n_components=8)
    return cls(**kwargs).fit(X)


def _tol(dtype, scale):
    """float64: rounding only; float32: its rounding, amplified a little by 60 iterations."""
    if dtype is None:
        return {"rtol": 1e-10, "atol": 1e-12 * scale}
    return {"rtol": 1e-3, "atol": 2e-4 * scale}


@pytest.mark.parametrize("cls", [SparseCoding, TopographicSparseCoding])
@pytest.mark.parametrize("block", [None, 128])
def test_memmap_equals_in_memory(rows, cls, block):
    X, mapped = rows
    model = _fit(cls, X)
    if block is not None:
        model._transform_block = block
    np.testing.assert_allclose(model.transform(mapped), model.transform(X), rtol=1e-12,
                               atol=1e-14)
    assert model.objective(mapped) == pytest.approx(model.objective(X), rel=1e-12)
    codes = model.transform(X)
    assert model.objective(mapped, codes) == pytest.approx(model.objective(X, codes), rel=1e-12)


@pytest.mark.parametrize("cls", [SparseCoding, TopographicSparseCoding])
@pytest.mark.parametrize("dtype", [None, np.float32])
@pytest.mark.parametrize("block", [1, 7, 500])
def test_blocked_equals_unblocked(rows, cls, dtype, block):
    X, mapped = rows
    model = _fit(cls, X, dtype=dtype)
    whole_codes = model.transform(X)
    whole_objective = model.objective(X)
    whole_coded = model.objective(X, whole_codes)
    model._transform_block = block
    for data in (X, mapped):
        codes = model.transform(data)
        assert codes.dtype == whole_codes.dtype and codes.flags.c_contiguous
        np.testing.assert_allclose(codes, whole_codes, **_tol(dtype, np.abs(whole_codes).max()))
        rel = 1e-12 if dtype is None else 1e-5
        assert model.objective(data) == pytest.approx(whole_objective, rel=rel)
        assert model.objective(data, whole_codes) == pytest.approx(whole_coded, rel=rel)


@pytest.mark.parametrize("cls", [SparseCoding, TopographicSparseCoding])
def test_code_of_a_column_does_not_depend_on_the_others(rows, cls):
    X = rows[0]
    model = _fit(cls, X)
    codes = model.transform(X)
    np.testing.assert_allclose(model.transform(X[:37]), codes[:37], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(model.transform(X[900:901]), codes[900:901], rtol=1e-10,
                               atol=1e-12)


def test_scipy_solver_blocks_memmap_equals_in_memory(rows):
    """With L-BFGS the blocks share a line search; the same blocks give the same codes."""
    X, mapped = rows
    model = _fit(SparseCoding, X, solver="lbfgs")
    whole = model.transform(X)
    model._transform_block = 500
    np.testing.assert_allclose(model.transform(mapped), model.transform(X), rtol=1e-12,
                               atol=1e-14)
    assert model.transform(X).shape == whole.shape


def test_encode_solves_at_most_one_block_at_a_time(rows, monkeypatch):
    X, mapped = rows
    model = _fit(SparseCoding, X)
    model._transform_block = 256
    widths = []
    real = model._encode_block
    monkeypatch.setattr(model, "_encode_block",
                        lambda A, x: widths.append(x.shape[1]) or real(A, x))
    model.transform(mapped)
    assert max(widths) <= 256 and sum(widths) == X.shape[0]


def test_objective_checks_the_shape_of_s(rows):
    X = rows[0]
    model = _fit(SparseCoding, X)
    with pytest.raises(ValueError, match="S must have shape"):
        model.objective(X, np.zeros((X.shape[0] - 1, 8)))
    with pytest.raises(ValueError, match="S must have shape"):
        model.objective(X, np.zeros((X.shape[0], 7)))


def test_column_fista_on_one_column_is_accelerated_gradient():
    """For a single column the per-column restart is the global one."""
    rng = np.random.default_rng(3)
    M = rng.standard_normal((6, 6))
    H = M @ M.T + np.eye(6)
    b = rng.standard_normal((6, 1))

    def fun(s):
        g = H @ s - b
        return float(0.5 * np.vdot(s, H @ s) - np.vdot(b, s)), g

    lipschitz = float(np.linalg.eigvalsh(H)[-1])
    s0 = np.zeros((6, 1))
    expected = accelerated_gradient(fun, s0, lipschitz, 40).x
    np.testing.assert_array_equal(_column_fista(fun, s0, lipschitz, 40), expected)
    # columns solved together equal the columns solved one at a time
    B = rng.standard_normal((6, 5))

    def many(s):
        return 0.0, H @ s - B

    together = _column_fista(many, np.zeros((6, 5)), lipschitz, 40)
    for j in range(5):
        alone = _column_fista(lambda s, j=j: (0.0, H @ s - B[:, j:j + 1]), np.zeros((6, 1)),
                              lipschitz, 40)
        np.testing.assert_allclose(together[:, j:j + 1], alone, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(together, np.linalg.solve(H, B), rtol=1e-3, atol=1e-3)
