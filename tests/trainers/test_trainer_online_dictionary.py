"""OnlineDictionaryLearning: lasso codes (KKT), the block-coordinate atom step, recovery of a
planted dictionary, resume, dtype, parameter checks and memory-mapped input."""

from __future__ import annotations

import numpy as np
import pytest
from trainer_helpers import Interrupt

from sparselearn.patches import dictionary_recovery, sparse_dictionary_data
from sparselearn.trainers import OnlineDictionaryLearning
from sparselearn.trainers.dictionary import _bcd_atoms
from sparselearn.trainers.solvers import lasso_fista

SMALL = dict(n_components=24, batch_size=128, max_iter=6, inner_iter=10, alpha=0.3,
             random_state=0)


@pytest.fixture(scope="module")
def data() -> np.ndarray:
    """(600, 16) rows: Laplace sources through a random rotation."""
    rng = np.random.default_rng(0)
    return rng.laplace(size=(600, 16)) @ np.linalg.qr(rng.standard_normal((16, 16)))[0]


def unit_atoms(n: int, k: int, rng: np.random.Generator) -> np.ndarray:
    A = rng.standard_normal((n, k))
    return A / np.linalg.norm(A, axis=0)


def kkt_violation(A: np.ndarray, x: np.ndarray, s: np.ndarray, alpha: float) -> float:
    """Largest violation of the lasso optimality conditions, relative to α.

    With ``g = Aᵀ(x − As)``: ``g_j = α sign(s_j)`` where ``s_j ≠ 0`` and ``|g_j| ≤ α`` where
    ``s_j = 0``.
    """
    g = A.T @ (x - A @ s)
    active = s != 0
    on = np.abs(g - alpha * np.sign(s))[active]
    off = np.maximum(np.abs(g) - alpha, 0.0)[~active]
    worst = max(on.max(initial=0.0), off.max(initial=0.0))
    return float(worst) / alpha


def surrogate(A: np.ndarray, gram: np.ndarray, cross: np.ndarray) -> float:
    """``½ tr(AᵀA 𝐀) − tr(Aᵀ𝐁)``."""
    return 0.5 * float(np.sum((A.T @ A) * gram)) - float(np.sum(A * cross))


# -- the code solver ---------------------------------------------------------------------------
@pytest.mark.parametrize("alpha", [0.05, 0.3, 1.0])
def test_lasso_fista_meets_the_optimality_conditions(alpha):
    rng = np.random.default_rng(1)
    A = unit_atoms(20, 40, rng)  # overcomplete, coherent
    x = rng.standard_normal((20, 60))
    result = lasso_fista(A.T @ A, A.T @ x, alpha, max_iter=20000, tol=1e-12)
    assert result.s.shape == (40, 60)
    assert kkt_violation(A, x, result.s, alpha) <= 1e-6
    assert np.count_nonzero(result.s) < result.s.size  # exactly sparse


def test_lasso_fista_warm_start_and_dtype():
    rng = np.random.default_rng(2)
    A = unit_atoms(16, 24, rng).astype(np.float32)
    x = rng.standard_normal((16, 30)).astype(np.float32)
    G, Atx = A.T @ A, A.T @ x
    cold = lasso_fista(G, Atx, 0.2, max_iter=3000, tol=1e-7)
    assert cold.s.dtype == np.float32
    warm = lasso_fista(G, Atx, 0.2, max_iter=3000, tol=1e-7, s0=cold.s)
    assert warm.n_iter < cold.n_iter
    assert kkt_violation(A.astype(np.float64), x.astype(np.float64),
                         warm.s.astype(np.float64), 0.2) <= 1e-3


def test_lasso_fista_rejects_bad_input():
    G = np.eye(3)
    with pytest.raises(ValueError, match="alpha"):
        lasso_fista(G, np.ones((3, 2)), -1.0, 10)
    with pytest.raises(ValueError, match="G must have shape"):
        lasso_fista(np.eye(4), np.ones((3, 2)), 1.0, 10)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"check_every": 0, "tol": 1e-3}, r"check_every must be an integer >= 1; got 0"),
        ({"check_every": 2.5}, r"check_every must be an integer >= 1; got 2.5"),
        ({"s0": np.ones((2, 3))}, r"s0 must have the shape of Atx, \(3, 2\); got \(2, 3\)"),
        ({"alpha": None}, r"alpha must be a finite non-negative number; got None"),
        ({"alpha": float("nan")}, r"alpha must be a finite non-negative number; got nan"),
        ({"max_iter": -1}, r"max_iter must be an integer >= 0; got -1"),
        ({"max_iter": True}, r"max_iter must be an integer >= 0; got True"),
        ({"tol": -1e-3}, r"tol must be a finite non-negative number; got -0.001"),
    ],
)
def test_lasso_fista_names_the_bad_argument(kwargs, message):
    """Each bad argument gives a ValueError naming it, what was expected and what was found."""
    args = {"G": np.eye(3), "Atx": np.ones((3, 2)), "alpha": 0.1, "max_iter": 10, **kwargs}
    with pytest.raises(ValueError, match=f"^lasso_fista: {message}$"):
        lasso_fista(**args)


def test_lasso_fista_accepts_zero_iterations_and_numpy_integers():
    result = lasso_fista(np.eye(3), np.ones((3, 2)), np.float32(0.5), np.int64(0),
                         s0=np.full((3, 2), 2.0), check_every=np.int32(1))
    assert result.n_iter == 0
    np.testing.assert_array_equal(result.s, np.full((3, 2), 2.0))


def test_transform_codes_meet_the_optimality_conditions(data):
    model = OnlineDictionaryLearning(**SMALL).fit(data)
    S = model.transform(data[:100])
    A = model.components_.T
    assert kkt_violation(A, data[:100].T, S.T, model.alpha) <= 1e-3
    # objective() uses the same per-example cost
    residual = data[:100] - S @ model.components_
    expected = np.mean(0.5 * np.sum(residual**2, axis=1) + model.alpha * np.abs(S).sum(axis=1))
    assert model.objective(data[:100], S) == pytest.approx(expected, rel=1e-10)


# -- the atom step -----------------------------------------------------------------------------
def test_bcd_decreases_the_surrogate_and_keeps_atoms_in_the_unit_ball():
    rng = np.random.default_rng(3)
    n, k, b = 12, 20, 200
    x = rng.standard_normal((n, b))
    s = rng.standard_normal((k, b)) * (rng.random((k, b)) < 0.2)
    gram, cross = s @ s.T / b, x @ s.T / b
    A = unit_atoms(n, k, rng)
    values = [surrogate(A, gram, cross)]
    for _ in range(5):
        A, replaced = _bcd_atoms(A, gram, cross, 1, x, rng)
        assert replaced == 0
        assert np.all(np.linalg.norm(A, axis=0) <= 1.0 + 1e-12)
        values.append(surrogate(A, gram, cross))
    assert all(b <= a + 1e-12 for a, b in zip(values[:-1], values[1:], strict=True))
    assert values[-1] < values[0]
    # each atom is the exact minimiser over its block: one more sweep barely moves
    A_next, _ = _bcd_atoms(A, gram, cross, 50, x, rng)
    assert surrogate(A_next, gram, cross) <= values[-1] + 1e-12


def test_bcd_reseeds_unused_atoms():
    rng = np.random.default_rng(4)
    n, k, b = 8, 6, 50
    x = rng.standard_normal((n, b))
    s = rng.standard_normal((k, b))
    s[2] = 0.0  # atom 2 never used
    gram, cross = s @ s.T / b, x @ s.T / b
    A, replaced = _bcd_atoms(unit_atoms(n, k, rng), gram, cross, 1, x, rng)
    assert replaced == 1
    assert np.linalg.norm(A[:, 2]) == pytest.approx(1.0)
    # the new atom is an example of the batch, normalised
    cosines = np.abs(A[:, 2] @ (x / np.linalg.norm(x, axis=0)))
    assert cosines.max() == pytest.approx(1.0)
    assert not gram[2].any() and not cross[:, 2].any()


# -- learning ----------------------------------------------------------------------------------
def test_recovers_a_planted_dictionary():
    """64 unit-norm atoms in 32 dimensions, 3 active per example, noise σ = 0.01."""
    x, dictionary, _ = sparse_dictionary_data(32, 64, 20_000, np.random.default_rng(5),
                                              activity=3, noise=0.01)
    # α = 0.2: recovery ≥ 0.95 for seeds 2, 5, 7 × random_state 0-2 (α = 0.05 leaves more
    # atoms unconverged after 5 passes: 0.83-0.98)
    model = OnlineDictionaryLearning(64, alpha=0.2, batch_size=512, max_iter=200,
                                     inner_iter=20, random_state=0).fit(x.T)
    recovered = dictionary_recovery(dictionary, model.components_.T, threshold=0.95)
    assert recovered >= 0.9
    assert np.all(np.linalg.norm(model.components_, axis=1) <= 1.0 + 1e-12)


def test_history_records(data):
    model = OnlineDictionaryLearning(**SMALL).fit(data)
    assert len(model.history_) == model.n_iter_ == SMALL["max_iter"]
    # the keys documented in the class docstring and in docs/contracts.md
    keys = {"iteration", "objective", "half_squared_error", "l1", "reconstruction_error",
            "sparsity", "nonzeros", "code_iter", "code_change", "surrogate", "replaced",
            "step_size", "code_time", "wall_time", "eval_time", "eval_share"}
    for i, record in enumerate(model.history_, start=1):
        assert keys <= set(record)
        # "reconstruction" means the summed ‖As − x‖² of SparseCoding; not used here
        assert "reconstruction" not in record
        assert record["iteration"] == i
        assert all(isinstance(v, (int, float)) for v in record.values())
        assert record["objective"] == pytest.approx(
            record["half_squared_error"] + SMALL["alpha"] * record["l1"])
        assert record["reconstruction_error"] == pytest.approx(2 * record["half_squared_error"])
        assert record["sparsity"] == pytest.approx(record["l1"] / SMALL["n_components"])
        assert 0 < record["code_iter"] <= SMALL["inner_iter"]
        assert record["code_change"] >= 0 or np.isnan(record["code_change"])
        assert 0 <= record["code_time"] <= record["wall_time"]
        assert record["step_size"] > 0
        assert 0 <= record["nonzeros"] <= SMALL["n_components"]


@pytest.mark.parametrize("rho", [0.0, 2.5])
def test_surrogate_is_the_weighted_mean_of_the_batch_surrogates(data, rho):
    """``surrogate`` = Σ_i w_i σ_i / Σ_i w_i over the batches seen, with the final atoms.

    σ_i = ½ tr(AᵀA s_i s_iᵀ)/b − tr(Aᵀ x_i s_iᵀ)/b for batch ``x_i`` and the codes ``s_i`` it
    got, and w_i = Π_{t>i} β_t the forgetting weights (all 1 for ρ = 0: a plain mean), so the
    recorded value stays on the scale of one batch and does not grow with the batch count.
    """
    model = OnlineDictionaryLearning(**{**SMALL, "max_iter": 12, "forget_rate": rho})
    seen = []
    codes = model._codes

    def recording(A, x, max_iter, tol):
        result = codes(A, x, max_iter, tol)
        seen.append((x.copy(), result.s.copy()))
        return result

    model._codes = recording
    model.fit(data)
    assert len(seen) == 12 and all(r["replaced"] == 0 for r in model.history_)
    A = model.components_.T
    b = SMALL["batch_size"]
    per_batch = np.array([(0.5 * np.sum((A.T @ A) * (s @ s.T)) - np.sum(A * (x @ s.T))) / b
                          for x, s in seen])
    betas = [(t / (t + 1.0)) ** rho if t > 0 else 0.0 for t in range(12)]
    weights = np.array([np.prod(betas[i + 1:]) for i in range(12)])
    expected = float(weights @ per_batch / weights.sum())
    assert model.history_[-1]["surrogate"] == pytest.approx(expected, rel=1e-10)
    state = model.state_dict()["solver_state"]
    assert state["weight"] == pytest.approx(weights.sum(), rel=1e-12)
    if rho == 0.0:
        assert state["weight"] == 12.0
    # same scale as the objective: ½‖x − As‖² − ½‖x‖² per example on average
    assert abs(model.history_[-1]["surrogate"]) < 2 * np.mean(np.sum(data**2, axis=1))


def test_same_seed_same_atoms_and_resume_is_bit_identical(data):
    full = OnlineDictionaryLearning(**SMALL).fit(data)
    again = OnlineDictionaryLearning(**SMALL).fit(data)
    assert np.array_equal(full.components_, again.components_)
    interrupt = Interrupt(3)
    part = OnlineDictionaryLearning(**SMALL, callbacks=[interrupt]).fit(data)
    assert part.n_iter_ == 3
    state = interrupt.saved
    assert {"gram", "cross", "batches", "weight"} <= set(state["solver_state"])
    assert state["solver_state"]["batches"] == 3
    resumed = OnlineDictionaryLearning(**SMALL).fit(data, resume=state)
    assert resumed.n_iter_ == full.n_iter_
    assert np.array_equal(resumed.components_, full.components_)
    assert [r["objective"] for r in resumed.history_] == [r["objective"] for r in full.history_]
    final = full.state_dict()["solver_state"]
    assert np.array_equal(resumed.state_dict()["solver_state"]["gram"], final["gram"])
    assert np.array_equal(resumed.state_dict()["solver_state"]["cross"], final["cross"])
    assert resumed.state_dict()["solver_state"]["weight"] == final["weight"]
    assert [r["surrogate"] for r in resumed.history_] == [r["surrogate"] for r in full.history_]


def test_resume_from_a_state_without_the_weight_is_bit_identical(data):
    """States written before ``weight`` was kept resume exactly: it is rebuilt from the count."""
    params = {**SMALL, "forget_rate": 3.0}
    full = OnlineDictionaryLearning(**params).fit(data)
    interrupt = Interrupt(4)
    OnlineDictionaryLearning(**params, callbacks=[interrupt]).fit(data)
    state = interrupt.saved
    del state["solver_state"]["weight"]
    resumed = OnlineDictionaryLearning(**params).fit(data, resume=state)
    assert np.array_equal(resumed.components_, full.components_)
    assert [r["surrogate"] for r in resumed.history_] == [r["surrogate"] for r in full.history_]
    assert resumed.state_dict()["solver_state"]["weight"] == \
        full.state_dict()["solver_state"]["weight"]


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("weight", float("nan"), "'weight' must be a finite number"),
        ("weight", -1.0, "'weight' must be a finite number"),
        ("weight", 0.0, "positive otherwise; got 0.0 after 2 batches"),
        ("weight", "x", "'weight' must be a finite number"),
        ("batches", -1, "'batches' must be a non-negative integer; got -1"),
        ("batches", 1.5, "'batches' must be a non-negative integer; got 1.5"),
    ],
)
def test_resume_rejects_a_bad_weight_or_count(data, key, value, message):
    interrupt = Interrupt(2)
    OnlineDictionaryLearning(**SMALL, callbacks=[interrupt]).fit(data)
    state = interrupt.saved
    state["solver_state"][key] = value
    with pytest.raises(ValueError, match=message):
        OnlineDictionaryLearning(**SMALL).fit(data, resume=state)


def test_objective_checks_its_inputs(data):
    model = OnlineDictionaryLearning(**SMALL).fit(data)
    S = model.transform(data)
    assert model.objective(data, S) == pytest.approx(model.objective(data))
    assert np.isfinite(model.objective(data, S))
    with pytest.raises(ValueError, match=r"S must have shape .* = \(600, 24\); got \(600, 23\)"):
        model.objective(data, S[:, :-1])
    with pytest.raises(ValueError, match=r"S must have shape .* = \(600, 24\); got \(599, 24\)"):
        model.objective(data, S[:-1])
    with pytest.raises(ValueError, match=r"S must have shape .*; got \(14400,\)"):
        model.objective(data, S.ravel())
    # scikit-learn's own message (validate_data), as for transform
    wrong = "X has 15 features, but OnlineDictionaryLearning is expecting 16 features as input"
    with pytest.raises(ValueError, match=wrong):
        model.objective(data[:, :-1])
    with pytest.raises(ValueError, match=wrong):
        model.objective(data[:, :-1], S)
    bad = S.copy()
    bad[3, 4] = np.nan
    with pytest.raises(ValueError, match="S holds NaN or infinite values"):
        model.objective(data, bad)
    bad[3, 4] = np.inf
    with pytest.raises(ValueError, match="S holds NaN or infinite values"):
        model.objective(data, bad)
    with pytest.raises(ValueError, match="S must hold real numbers"):
        model.objective(data, S.astype(complex))


def test_resume_rejects_statistics_of_the_wrong_shape(data):
    interrupt = Interrupt(2)
    OnlineDictionaryLearning(**SMALL, callbacks=[interrupt]).fit(data)
    state = interrupt.saved
    state["solver_state"]["gram"] = np.zeros((3, 3))
    with pytest.raises(ValueError, match="gram"):
        OnlineDictionaryLearning(**SMALL).fit(data, resume=state)


def test_float32_stays_float32(data):
    model = OnlineDictionaryLearning(**SMALL).fit(data.astype(np.float32))
    assert model.components_.dtype == np.float32
    codes = model.transform(data[:10].astype(np.float32))
    assert codes.dtype == np.float32
    assert model.inverse_transform(codes).dtype == np.float32
    solver_state = model.state_dict()["solver_state"]
    assert solver_state["gram"].dtype == np.float32
    assert solver_state["cross"].dtype == np.float32
    # float64 data computed in float32 on request
    assert OnlineDictionaryLearning(**SMALL, dtype=np.float32).fit(data).components_.dtype \
        == np.float32


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("alpha", -0.1, "a float in [0.0, inf]"),
        ("batch_size", 0, "an int in [1, inf]"),
        ("max_iter", 1.5, "an int in [0, inf]"),
        ("inner_iter", 0, "an int in [1, inf]"),
        ("code_tol", -1.0, "a float in [0.0, inf]"),
        ("forget_rate", float("nan"), "a float in [0.0, inf]"),
        ("dict_sweeps", 0, "an int in [1, inf]"),
        ("init", "svd", "one of 'data', 'random'"),
        ("n_components", 0, "an int in [1, inf] or None"),
    ],
)
def test_bad_parameters_are_named(name, value, expected, data):
    model = OnlineDictionaryLearning(**{**SMALL, name: value})
    with pytest.raises(ValueError, match=rf"parameter '{name}' must be") as info:
        model.fit(data)
    assert expected in str(info.value)


def test_memmap_input_gives_the_same_atoms(data, tmp_path):
    path = tmp_path / "data.npy"
    np.save(path, data)
    mapped = np.load(path, mmap_mode="r")
    from_memory = OnlineDictionaryLearning(**SMALL).fit(data)
    from_map = OnlineDictionaryLearning(**SMALL).fit(mapped)
    assert np.array_equal(from_memory.components_, from_map.components_)
    assert np.array_equal(from_memory.transform(data[:50]), from_map.transform(mapped[:50]))


def test_module_and_re_exports():
    """The estimator lives in trainers.dictionary; the older import paths still give it."""
    from sparselearn import trainers
    from sparselearn.trainers import dictionary, sparse_coding

    assert OnlineDictionaryLearning.__module__ == "sparselearn.trainers.dictionary"
    assert trainers.dictionary is dictionary and trainers.sparse_coding is sparse_coding
    assert trainers.sparse_coding.OnlineDictionaryLearning is OnlineDictionaryLearning
    assert trainers.dictionary.OnlineDictionaryLearning is trainers.OnlineDictionaryLearning
    assert not hasattr(trainers.sparse_coding, "_bcd_atoms")
