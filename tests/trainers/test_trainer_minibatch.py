"""The mini-batch trainers (SparseCoding, TopographicSparseCoding, OnlineDictionaryLearning):
``partial_fit`` (bit-identical to ``fit`` on the same batches), the step stream, ``dict_init``
and ``blas_threads``."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.decomposition import PCA
from threadpoolctl import threadpool_info, threadpool_limits
from trainer_helpers import Interrupt

from sparselearn.trainers import (
    Callback,
    OnlineDictionaryLearning,
    SparseCoding,
    StopTraining,
    TopographicSparseCoding,
    TrainingDiverged,
    TrainState,
)

#: (id, class, parameters): every step flavour, with batches smaller than the data
CASES = [
    ("dictionary", OnlineDictionaryLearning,
     dict(n_components=24, batch_size=128, inner_iter=10, alpha=0.3)),
    ("sc-weight-decay", SparseCoding,
     dict(n_components=24, batch_size=128, inner_iter=10, transform_max_iter=20)),
    ("sc-unit-norm", SparseCoding,
     dict(n_components=24, batch_size=128, inner_iter=10, transform_max_iter=20,
          constraint="unit_norm", alpha=5e-3)),
    ("topographic", TopographicSparseCoding,
     dict(grid=(4, 5), batch_size=128, inner_iter=10, transform_max_iter=20)),
]
IDS = [case[0] for case in CASES]
CLASSES = [OnlineDictionaryLearning, SparseCoding, TopographicSparseCoding]


@pytest.fixture(scope="module")
def data() -> np.ndarray:
    """(600, 16) rows: Laplace sources through a random rotation."""
    rng = np.random.default_rng(0)
    return rng.laplace(size=(600, 16)) @ np.linalg.qr(rng.standard_normal((16, 16)))[0]


def n_atoms(cls, params: dict) -> int:
    return params["grid"][0] * params["grid"][1] if cls is TopographicSparseCoding \
        else params["n_components"]


def initial_atoms(k: int, n: int = 16, zero: tuple[int, ...] = (3,)) -> np.ndarray:
    """Random atoms as rows, some of them zero: those are unused, so the first step re-seeds
    them (from the step stream) in the dictionary learner and in unit-norm sparse coding."""
    D = np.random.default_rng(7).standard_normal((k, n))
    D[list(zero)] = 0.0
    return D


def fit_with_batches(cls, params: dict, X: np.ndarray, max_iter: int, **extra):
    model = cls(**params, max_iter=max_iter, random_state=0, **extra)
    model._batch_log = []
    model.fit(X)
    return model, model._batch_log


def comparable(history: list[dict]) -> list[dict]:
    """History records without the timings."""
    timing = {"wall_time", "eval_time", "eval_share", "code_time", "s_step_time",
              "s_step_eval_share"}
    return [{k: v for k, v in r.items() if k not in timing} for r in history]


# -- partial_fit is the step of fit ------------------------------------------------------------
@pytest.mark.parametrize(("name", "cls", "params"), CASES, ids=IDS)
@pytest.mark.parametrize("batch_size", [None, 1000], ids=["mini-batch", "all-examples"])
def test_partial_fit_on_the_batches_of_fit_is_bit_identical(name, cls, params, batch_size,
                                                            data):
    params = {**params, **({} if batch_size is None else {"batch_size": batch_size})}
    D = initial_atoms(n_atoms(cls, params))
    full, batches = fit_with_batches(cls, params, data, 6, dict_init=D)
    assert len(batches) == 6
    if batch_size is None:
        assert all(len(b) == params["batch_size"] for b in batches)
        assert not all(np.array_equal(batches[0], b) for b in batches[1:])
    else:
        assert all(np.array_equal(b, np.arange(len(data))) for b in batches)
    stepped = cls(**params, random_state=0, dict_init=D)
    for t, index in enumerate(batches, start=1):
        assert stepped.partial_fit(data[index]) is stepped
        assert stepped.n_iter_ == len(stepped.history_) == t
    assert np.array_equal(stepped.components_, full.components_)
    assert comparable(stepped.history_) == comparable(full.history_)
    ours, theirs = stepped.state_dict()["solver_state"], full.state_dict()["solver_state"]
    assert ours["step_rng"] == theirs["step_rng"]
    if cls is OnlineDictionaryLearning or params.get("constraint") == "unit_norm":
        # the zero atom was re-seeded: the step stream moved on from where fit derived it
        start = cls(**params, max_iter=0, random_state=0, dict_init=D).fit(data)
        assert start.state_dict()["solver_state"]["step_rng"] != ours["step_rng"]
    if cls is OnlineDictionaryLearning:
        assert np.array_equal(ours["gram"], theirs["gram"])
        assert np.array_equal(ours["cross"], theirs["cross"])
        assert ours["batches"] == theirs["batches"] == 6
        assert full.history_[0]["replaced"] >= 1  # the zero atom, re-seeded by the step
    assert np.array_equal(stepped.transform(data[:20]), full.transform(data[:20]))


@pytest.mark.parametrize(("name", "cls", "params"), CASES, ids=IDS)
def test_partial_fit_matches_fit_with_init_random(name, cls, params, data):
    """``init="random"`` draws only shapes, so the first partial_fit initialises like fit."""
    full, batches = fit_with_batches(cls, params, data, 4, init="random")
    stepped = cls(**params, random_state=0, init="random")
    for index in batches:
        stepped.partial_fit(data[index])
    assert np.array_equal(stepped.components_, full.components_)


@pytest.mark.parametrize(("name", "cls", "params"), CASES, ids=IDS)
def test_partial_fit_continues_a_fit(name, cls, params, data):
    """fit for 3 iterations, then partial_fit on the next 3 batches of a 6-iteration fit."""
    D = initial_atoms(n_atoms(cls, params))
    full, batches = fit_with_batches(cls, params, data, 6, dict_init=D)
    model = cls(**params, max_iter=3, random_state=0, dict_init=D).fit(data)
    for index in batches[3:]:
        model.partial_fit(data[index])
    assert model.n_iter_ == 6
    assert [r["iteration"] for r in model.history_] == list(range(1, 7))
    assert np.array_equal(model.components_, full.components_)


def test_batch_draws_do_not_depend_on_re_seeds(data):
    """The re-seeds come from the step stream: the batches of fit are the same with many
    re-seeded atoms (α = 5) and with none (α = 0.3)."""
    params = dict(n_components=24, batch_size=128, inner_iter=10)
    reseeding, quiet_batches = fit_with_batches(OnlineDictionaryLearning, {**params,
                                                "alpha": 0.3}, data, 6)
    assert all(r["replaced"] == 0 for r in reseeding.history_)
    loud, loud_batches = fit_with_batches(OnlineDictionaryLearning, {**params, "alpha": 5.0},
                                          data, 6)
    assert sum(r["replaced"] for r in loud.history_) > 10
    assert all(np.array_equal(a, b) for a, b in zip(quiet_batches, loud_batches, strict=True))
    # the step stream is where the re-seeds moved to; the model's Generator only drew batches
    assert loud.state_dict()["rng_state"] == reseeding.state_dict()["rng_state"]
    assert loud.state_dict()["solver_state"]["step_rng"] != \
        reseeding.state_dict()["solver_state"]["step_rng"]


@pytest.mark.parametrize(("name", "cls", "params"), CASES, ids=IDS)
def test_resume_with_re_seeds_is_bit_identical(name, cls, params, data):
    params = {**params, **({"alpha": 5.0} if cls is OnlineDictionaryLearning else {})}
    D = initial_atoms(n_atoms(cls, params), zero=(1, 3, 5))
    full = cls(**params, max_iter=6, random_state=0, dict_init=D).fit(data)
    interrupt = Interrupt(3)
    cls(**params, max_iter=6, random_state=0, dict_init=D, callbacks=[interrupt]).fit(data)
    state = interrupt.saved
    assert "step_rng" in state["solver_state"]
    resumed = cls(**params, max_iter=6, random_state=0).fit(data, resume=state)
    assert np.array_equal(resumed.components_, full.components_)
    assert comparable(resumed.history_) == comparable(full.history_)
    # a state written before the step stream existed resumes deterministically
    del state["solver_state"]["step_rng"]
    once = cls(**params, max_iter=6, random_state=0).fit(data, resume=state)
    twice = cls(**params, max_iter=6, random_state=0).fit(data, resume=state)
    assert np.array_equal(once.components_, twice.components_)


def test_resume_rejects_a_bad_step_stream(data):
    interrupt = Interrupt(2)
    params = CASES[0][2]
    OnlineDictionaryLearning(**params, max_iter=4, random_state=0,
                             callbacks=[interrupt]).fit(data)
    state = interrupt.saved
    state["solver_state"]["step_rng"] = {"bit_generator": "NoSuchGenerator"}
    with pytest.raises(ValueError, match="resume solver_state 'step_rng' is not a numpy bit "
                                         "generator state"):
        OnlineDictionaryLearning(**params, max_iter=4, random_state=0).fit(data, resume=state)


@pytest.mark.parametrize("random_state", [np.random.RandomState(3), np.random.default_rng(3),
                                          np.random.Generator(np.random.SFC64(3))],
                         ids=["RandomState", "PCG64", "SFC64"])
def test_partial_fit_identity_for_every_kind_of_random_state(random_state, data):
    """The step stream is derived from MT19937 (RandomState) and PCG64 by a jump, from SFC64
    (no jump) by seeding a PCG64; the identity holds for each."""
    params = dict(n_components=24, batch_size=128, inner_iter=10, alpha=5.0)
    D = initial_atoms(24)
    full = OnlineDictionaryLearning(**params, max_iter=4, random_state=random_state,
                                    dict_init=D)
    full._batch_log = []
    full.fit(data)
    assert sum(r["replaced"] for r in full.history_) > 0
    stepped = OnlineDictionaryLearning(**params, random_state=random_state,
                                       dict_init=D)
    for index in full._batch_log:
        stepped.partial_fit(data[index])
    assert np.array_equal(stepped.components_, full.components_)


# -- partial_fit at the scikit-learn boundary ---------------------------------------------------
@pytest.mark.parametrize(("name", "cls", "params"), CASES, ids=IDS)
def test_partial_fit_checks_the_features(name, cls, params, data):
    model = cls(**params, random_state=0).partial_fit(data[:100])
    assert model.n_features_in_ == 16
    with pytest.raises(ValueError, match=f"X has 15 features, but {cls.__name__} is expecting "
                                         "16 features as input"):
        model.partial_fit(data[:100, :-1])
    assert model.n_iter_ == 1  # the failed call changed nothing
    fitted = cls(**params, max_iter=2, random_state=0).fit(data)
    with pytest.raises(ValueError, match="X has 17 features"):
        fitted.partial_fit(np.hstack([data[:50], data[:50, :1]]))


@pytest.mark.parametrize(("name", "cls", "params"), CASES[:2], ids=IDS[:2])
def test_partial_fit_checks_feature_names(name, cls, params, data):
    pd = pytest.importorskip("pandas")
    names = [f"p{i}" for i in range(16)]
    model = cls(**params, random_state=0).partial_fit(pd.DataFrame(data[:100], columns=names))
    assert list(model.feature_names_in_) == names
    with pytest.raises(ValueError, match="feature names should match"):
        model.partial_fit(pd.DataFrame(data[:100], columns=names[::-1]))


def test_partial_fit_dtype_and_first_batch_size(data):
    model = SparseCoding(n_components=8, batch_size=2000, inner_iter=5, random_state=0)
    model.partial_fit(data[:50].astype(np.float32))
    assert model.components_.dtype == np.float32
    assert model._b == 50  # min(batch_size, first batch), as fit on those 50 examples
    model.partial_fit(data[50:300])  # float64 batch of another size: computed in float32
    assert model.components_.dtype == np.float32
    assert model._b == 50 and model.n_iter_ == 2


def test_partial_fit_uses_the_whole_batch(data):
    """A batch larger than batch_size is not subsampled: the step sees all of it."""
    model = OnlineDictionaryLearning(**CASES[0][2], random_state=0)
    seen = []
    codes = model._codes
    model._codes = lambda A, x, *args: (seen.append(x.shape), codes(A, x, *args))[1]
    model.partial_fit(data)
    model.partial_fit(data[:7])
    assert seen == [(16, 600), (16, 7)]


@pytest.mark.parametrize(("name", "cls", "params"), CASES, ids=IDS)
def test_partial_fit_on_a_model_restored_from_its_parameters(name, cls, params, data):
    """A model loaded from its parameters alone (no solver_state) can go on training."""
    fitted = cls(**params, max_iter=2, random_state=0).fit(data)
    restored = cls(**params, random_state=0)._load_fitted(
        {"params": {"A": fitted.state_dict()["params"]["A"]}}, 16, len(data), np.float64)
    restored.partial_fit(data[:128])
    assert restored.n_iter_ == 1 and len(restored.history_) == 1
    assert "step_rng" in restored.state_dict()["solver_state"]
    if cls is OnlineDictionaryLearning:
        assert restored.state_dict()["solver_state"]["batches"] == 1


class Recorder(Callback):
    def __init__(self, stop_at: int | None = None):
        self.calls: list[tuple[str, int]] = []
        self.stop_at = stop_at

    def on_train_begin(self, state: TrainState) -> None:
        self.calls.append(("begin", state.iteration))

    def on_iteration_end(self, state: TrainState) -> None:
        self.calls.append(("iteration", state.iteration))
        assert state.record is state.history[-1]
        if state.iteration == self.stop_at:
            raise StopTraining("enough")

    def on_train_end(self, state: TrainState) -> None:
        self.calls.append(("end", state.iteration))


@pytest.mark.parametrize(("name", "cls", "params"), CASES[:2], ids=IDS[:2])
def test_partial_fit_callbacks_and_history(name, cls, params, data):
    recorder = Recorder(stop_at=2)
    model = cls(**params, random_state=0, callbacks=[recorder])
    for start in (0, 128, 256):
        model.partial_fit(data[start:start + 128])
    assert recorder.calls == [("begin", 0), ("iteration", 1), ("end", 1),
                              ("begin", 1), ("iteration", 2), ("end", 2),
                              ("begin", 2), ("iteration", 3), ("end", 3)]
    assert [r["iteration"] for r in model.history_] == [1, 2, 3]
    assert model.stop_reason_ == "partial_fit"  # the stop of call 2 ended only that call
    walls = [r["wall_time"] for r in model.history_]
    evals = [r["eval_time"] for r in model.history_]
    assert walls == sorted(walls) and evals == sorted(evals)  # cumulative, as in fit


def test_partial_fit_divergence_keeps_the_previous_model(data):
    model = OnlineDictionaryLearning(**CASES[0][2], random_state=0).partial_fit(data[:128])
    before = model.state_dict()
    measure = model._measure

    def infinite(*args, **kwargs):
        return {**measure(*args, **kwargs), "objective": float("inf")}

    model._measure = infinite
    with pytest.raises(TrainingDiverged) as info:
        model.partial_fit(data[128:256])
    assert info.value.iteration == 2
    assert model.n_iter_ == 1 and len(model.history_) == 1
    assert np.array_equal(model.components_, before["params"]["A"].T)
    assert model.state_dict()["solver_state"]["batches"] == 1
    del model._measure
    model.partial_fit(data[128:256])
    assert model.n_iter_ == 2


# -- dict_init ----------------------------------------------------------------------------------
@pytest.mark.parametrize(("name", "cls", "params"), CASES, ids=IDS)
def test_dict_init_is_used_and_not_modified(name, cls, params, data):
    k = n_atoms(cls, params)
    D = initial_atoms(k, zero=()) * 3.0
    D[0] *= 0.1  # one short atom (norm < 1)
    D.flags.writeable = False  # a read-only array is fine: it is copied
    kept = D.copy()
    model = cls(**params, max_iter=0, random_state=0, dict_init=D).fit(data)
    assert np.array_equal(D, kept)
    assert model.get_params()["dict_init"] is D
    norms = np.linalg.norm(D, axis=1, keepdims=True)
    if cls is OnlineDictionaryLearning:
        expected = D / np.maximum(norms, 1.0)  # onto the unit ball
    elif params.get("constraint") == "unit_norm":
        expected = D / norms
    else:
        expected = D  # weight decay fixes no norm
    np.testing.assert_allclose(model.components_, expected, rtol=1e-14, atol=0)
    # it replaces init, and the model's components_ start a fit where it stopped
    for init in ("data", "random"):
        other = cls(**params, max_iter=2, random_state=0, dict_init=D, init=init).fit(data)
        first = cls(**params, max_iter=2, random_state=0, dict_init=D).fit(data)
        assert np.array_equal(other.components_, first.components_)
    again = cls(**params, max_iter=0, dict_init=model.components_).fit(data)
    np.testing.assert_allclose(again.components_, model.components_, rtol=1e-14, atol=1e-15)
    clone(model)  # stored as given: scikit-learn's clone accepts it


@pytest.mark.parametrize(("name", "cls", "params"), CASES, ids=IDS)
def test_dict_init_is_validated(name, cls, params, data):
    k = n_atoms(cls, params)
    owner = cls.__name__
    cases = [
        (np.zeros((k - 1, 16)), rf"^{owner}: dict_init must have shape \({k}, 16\); got "
                                rf"\({k - 1}, 16\)"),
        (np.zeros((k, 15)), rf"dict_init must have shape \({k}, 16\); got \({k}, 15\)"),
        (np.zeros((16, k)) if k != 16 else np.zeros((16, 17)), r"dict_init must have shape"),
        (np.zeros(k * 16), r"parameter 'dict_init' must be None or a 2-D array"),
        (np.full((k, 16), np.nan), "dict_init holds NaN or infinite values"),
        (np.full((k, 16), 1j), "dict_init must hold real numbers; got dtype complex128"),
    ]
    for value, message in cases:
        with pytest.raises(ValueError, match=message):
            cls(**params, max_iter=1, random_state=0, dict_init=value).fit(data)
        with pytest.raises(ValueError, match=message):
            cls(**params, random_state=0, dict_init=value).partial_fit(data[:100])


def test_dict_init_lives_after_the_preprocessor(data):
    """With a preprocessor the atoms are in its output space (8 PCA components here)."""
    pca = PCA(n_components=8).fit(data)
    D = np.random.default_rng(2).standard_normal((12, 8))
    model = SparseCoding(12, batch_size=128, max_iter=0, preprocessor=pca, dict_init=D)
    np.testing.assert_array_equal(model.fit(data).components_, D)
    with pytest.raises(ValueError, match=r"dict_init must have shape \(12, 8\); got \(12, 16\)"):
        SparseCoding(12, max_iter=0, preprocessor=pca, dict_init=np.zeros((12, 16))).fit(data)


def test_dict_init_dtype_follows_the_fit(data):
    D = np.random.default_rng(2).standard_normal((24, 16))
    model = OnlineDictionaryLearning(24, max_iter=1, batch_size=128, dict_init=D,
                                     random_state=0).fit(data.astype(np.float32))
    assert model.components_.dtype == np.float32


# -- blas_threads -------------------------------------------------------------------------------
@pytest.mark.parametrize("cls", CLASSES)
@pytest.mark.parametrize("value", [0, -1, 1.5, True, "2"])
def test_blas_threads_is_validated(cls, value, data):
    model = cls(max_iter=1, blas_threads=value)
    with pytest.raises(ValueError, match=rf"{cls.__name__}: parameter 'blas_threads' must be "
                                         r"None \(the BLAS default\) or a positive int"):
        model.fit(data)
    with pytest.raises(ValueError, match="parameter 'blas_threads'"):
        cls(blas_threads=value).partial_fit(data[:50])


@pytest.mark.parametrize("cls", CLASSES)
def test_blas_threads_default_and_get_params(cls):
    assert cls().blas_threads == 1
    assert cls(blas_threads=None).get_params()["blas_threads"] is None
    assert cls(blas_threads=3).get_params()["blas_threads"] == 3


def blas_threads_now() -> set[int]:
    return {info["num_threads"] for info in threadpool_info() if info["user_api"] == "blas"}


class SeesThreads(Callback):
    def __init__(self):
        self.seen: set[int] = set()

    def on_iteration_end(self, state: TrainState) -> None:
        self.seen |= blas_threads_now()


def record_threads(model, *methods: str) -> list[set[int]]:
    """Wrap ``model``'s methods so that each call records the BLAS threads it runs with."""
    seen: list[set[int]] = []
    for method in methods:
        inner = getattr(model, method)

        def wrapped(*args, inner=inner, **kwargs):
            seen.append(blas_threads_now())
            return inner(*args, **kwargs)

        setattr(model, method, wrapped)
    return seen


@pytest.mark.parametrize(("name", "cls", "params"), CASES, ids=IDS)
def test_blas_threads_are_honoured(name, cls, params, data):
    if not blas_threads_now():
        pytest.skip("no BLAS found by threadpoolctl")
    with threadpool_limits(limits=2, user_api="blas"):
        outside = blas_threads_now()
        for threads, expected in ((1, {1}), (None, outside)):
            seen = SeesThreads()
            model = cls(**params, max_iter=2, random_state=0, blas_threads=threads,
                        callbacks=[seen]).fit(data)
            assert seen.seen == expected
            model.partial_fit(data[:128])  # partial_fit runs under the limit too
            assert seen.seen == expected
            inside = record_threads(model, "_encode", "_objective_value")
            model.objective(data[:20])
            model.transform(data[:20])
            assert len(inside) >= 2 and all(s == expected for s in inside)
            assert blas_threads_now() == outside  # restored
        if outside == {1}:
            pytest.skip("the BLAS cannot run 2 threads here; only the limit 1 was checked")
