"""scikit-learn boundary, parameter table, dtype, reproducibility, resume, callbacks, divergence."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from trainer_helpers import Interrupt

from sparselearn.trainers import (
    RICA,
    Callback,
    EarlyStopping,
    OrthonormalICA,
    SparseCoding,
    TopographicICA,
    TopographicSparseCoding,
    TrainingDiverged,
    TrainState,
)

SMALL = {
    SparseCoding: dict(n_components=20, batch_size=300, max_iter=4, inner_iter=10,
                       transform_max_iter=20),
    TopographicSparseCoding: dict(grid=(4, 5), batch_size=300, max_iter=4, inner_iter=10,
                                  transform_max_iter=20),
    OrthonormalICA: dict(n_components=12, max_iter=4, inner_iter=3),
    RICA: dict(n_components=20, max_iter=4, inner_iter=5),
    TopographicICA: dict(grid=(4, 5), max_iter=4, inner_iter=5),
}
ALL = list(SMALL)
HISTORY_KEYS = {"iteration", "objective", "reconstruction_error", "sparsity", "step_size",
                "wall_time", "eval_time", "eval_share"}


@pytest.fixture(scope="module")
def data() -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.laplace(size=(500, 16)) @ np.linalg.qr(rng.standard_normal((16, 16)))[0]


def make(cls, **overrides):
    return cls(**{**SMALL[cls], "random_state": 0, **overrides})


@pytest.mark.parametrize("cls", ALL)
def test_shapes_history_and_roundtrip(cls, data):
    model = make(cls).fit(data)
    k = model.components_.shape[0]
    assert model.components_.shape == (k, 16)
    codes = model.transform(data[:50])
    assert codes.shape == (50, k)
    assert model.inverse_transform(codes).shape == (50, 16)
    assert model.n_iter_ == 4 and len(model.history_) == 4
    for i, record in enumerate(model.history_, start=1):
        assert HISTORY_KEYS <= set(record)
        assert record["iteration"] == i
        assert all(isinstance(v, (int, float)) for v in record.values())
        assert 0.0 < record["eval_share"] <= 1.0
    assert model.history_[-1]["wall_time"] >= model.history_[0]["wall_time"]


@pytest.mark.parametrize("cls", ALL)
def test_constructor_only_stores_parameters(cls):
    model = cls(max_iter=-5, random_state="nonsense")
    assert model.max_iter == -5 and model.random_state == "nonsense"
    assert not hasattr(model, "components_") or not hasattr(model, "_params")


BAD = [
    ("max_iter", -1, "an int in [0, inf]"),
    ("max_iter", 2.5, "an int"),
    ("epsilon", 0.0, "a float in (0.0, inf)"),
    ("epsilon", float("nan"), "a float"),
    ("random_state", "seed", "None, a non-negative int"),
    ("dtype", np.int32, "None, float32 or float64"),
    ("callbacks", [object()], "Callback"),
    ("preprocessor", object(), "a fitted transformer with transform(X)"),
    ("n_components", 0, "an int in [1, inf]"),
]


@pytest.mark.parametrize(
    ("cls", "name", "value", "expected"),
    # the topographic estimators take their size from grid: they have no n_components
    [(cls, *bad) for cls in ALL for bad in BAD if bad[0] in cls._get_param_names()],
)
def test_bad_parameters_give_one_uniform_message(cls, name, value, expected, data):
    with pytest.raises(ValueError) as info:
        make(cls, **{name: value}).fit(data)
    message = str(info.value)
    assert message.startswith(f"{cls.__name__}: parameter '{name}' must be ")
    assert expected in message and f"got {value!r}" in message


@pytest.mark.parametrize(
    ("cls", "name", "value"),
    [(SparseCoding, "constraint", "unit"), (SparseCoding, "s_solver", "adam"),
     (SparseCoding, "alpha", -1.0), (SparseCoding, "batch_size", 0),
     (TopographicSparseCoding, "grid", (0, 3)), (TopographicSparseCoding, "pool", 5),
     (TopographicICA, "pool", 9), (RICA, "alpha", "big"), (OrthonormalICA, "step_size", 0.0),
     (OrthonormalICA, "n_components", 17)],
)
def test_model_specific_bad_parameters(cls, name, value, data):
    with pytest.raises(ValueError, match=rf"^{cls.__name__}: parameter '{name}' must be .*got"):
        make(cls, **{name: value}).fit(data)


@pytest.mark.parametrize("cls", ALL)
def test_bad_data_is_named(cls, data):
    with pytest.raises(ValueError, match="Expected 2D array, got 1D array"):
        make(cls).fit(data[0])
    bad = data.copy()
    bad[3, 2] = np.nan
    with pytest.raises(ValueError, match="NaN or infinite"):
        make(cls).fit(bad)
    with pytest.raises(ValueError, match="not fitted"):
        make(cls).transform(data)
    model = make(cls).fit(data)
    with pytest.raises(ValueError, match=f"X has 5 features, but {cls.__name__} is expecting "
                                         "16 features as input"):
        model.transform(data[:, :5])
    with pytest.raises(ValueError, match=r"X must have shape \(n_samples, \d+\) \(codes\)"):
        model.inverse_transform(np.zeros((3, 2)))


@pytest.mark.parametrize("cls", ALL)
def test_float32_stays_float32(cls, data):
    model = make(cls).fit(data.astype(np.float32))
    assert model.components_.dtype == np.float32
    assert model.transform(data[:10]).dtype == np.float32
    assert model.inverse_transform(model.transform(data[:10])).dtype == np.float32


@pytest.mark.parametrize("cls", ALL)
def test_same_seed_gives_bit_identical_parameters(cls, data):
    a = make(cls).fit(data).components_
    b = make(cls).fit(data).components_
    c = make(cls, random_state=1).fit(data).components_
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


@pytest.mark.parametrize("cls", ALL)
def test_resume_is_bit_identical(cls, data):
    full = make(cls).fit(data)
    interrupt = Interrupt(2)
    part = make(cls, callbacks=[interrupt]).fit(data)
    assert part.n_iter_ == 2 and part.stop_reason_ == "interrupted"
    state = interrupt.saved
    assert set(state) == {"params", "rng_state", "iteration", "history", "solver_state"}
    resumed = make(cls).fit(data, resume=state)
    assert resumed.n_iter_ == full.n_iter_
    assert np.array_equal(resumed.components_, full.components_)
    assert [r["objective"] for r in resumed.history_] == [r["objective"] for r in full.history_]


def test_resume_rejects_a_foreign_state(data):
    state = make(RICA).fit(data).state_dict()
    with pytest.raises(ValueError, match="parameter 'A'"):
        make(SparseCoding).fit(data, resume=state)
    with pytest.raises(ValueError, match="lacks"):
        make(RICA).fit(data, resume={"params": {}})


class _Corrupt(Callback):
    """Blows the parameters up after iteration 2, as an unstable step would.

    RICA and topographic ICA with unit-norm rows are invariant to the scale of the rows (a
    huge finite ``W`` is a valid point), so for them an entry is made infinite instead.
    """

    def on_iteration_end(self, state: TrainState) -> None:
        if state.iteration == 2:
            for value in state.model._params.values():
                value *= np.float32(3e38) if value.dtype == np.float32 else 1e300
                if getattr(state.model, "row_norm", None) == "unit":
                    value.flat[0] = np.inf


@pytest.mark.parametrize("cls", ALL)
def test_non_finite_objective_raises_training_diverged(cls, data):
    model = make(cls, callbacks=[_Corrupt()])
    with pytest.raises(TrainingDiverged, match="iteration 3") as info:
        model.fit(data)
    assert info.value.iteration == 3
    assert isinstance(info.value, RuntimeError)
    assert info.value.last_state["iteration"] == 2
    assert len(info.value.last_state["history"]) == 2
    assert model.n_iter_ == 2


class _Recorder(Callback):
    def __init__(self):
        self.calls = []

    def on_train_begin(self, state):
        self.calls.append(("begin", state.iteration))

    def on_iteration_end(self, state):
        self.calls.append(("iteration", state.iteration, state.record["iteration"]))
        if state.iteration == 3:
            state.stop = True

    def on_train_end(self, state):
        self.calls.append(("end", state.iteration, state.stop_reason))


def test_callbacks_see_every_iteration_and_can_stop(data):
    recorder = _Recorder()
    model = make(RICA, callbacks=[recorder], max_iter=10).fit(data)
    assert model.n_iter_ == 3
    assert recorder.calls == [("begin", 0), ("iteration", 1, 1), ("iteration", 2, 2),
                              ("iteration", 3, 3), ("end", 3, "stopped by callback")]


def test_early_stopping_callback(data):
    model = make(OrthonormalICA, max_iter=200, tol=0.0,
                 callbacks=[EarlyStopping("objective", patience=2, min_delta=0.5)]).fit(data)
    assert model.n_iter_ < 200
    assert model.stop_reason_.startswith("early stopping")


def test_max_iter_zero_keeps_the_initial_parameters(data):
    model = make(RICA, max_iter=0).fit(data)
    assert model.n_iter_ == 0 and model.history_ == []
    assert model.components_.shape == (20, 16)


class _Scale:
    """A duck-typed preprocessor on n × m arrays."""

    def transform(self, x):
        return 2.0 * x

    def inverse_transform(self, y):
        return y / 2.0


def test_preprocessor_is_applied_and_inverted(data):
    plain = make(RICA).fit(2.0 * data)
    wrapped = make(RICA, preprocessor=_Scale()).fit(data)
    assert np.array_equal(plain.components_, wrapped.components_)
    codes = wrapped.transform(data[:5])
    np.testing.assert_allclose(codes, plain.transform(2.0 * data[:5]))
    np.testing.assert_allclose(wrapped.inverse_transform(codes),
                               plain.inverse_transform(codes) / 2.0)


def test_get_and_set_params():
    model = RICA(n_components=5)
    assert model.get_params()["n_components"] == 5
    model.set_params(alpha=0.5)
    assert model.alpha == 0.5
    with pytest.raises(ValueError, match="Invalid parameter 'lam' for estimator RICA"):
        model.set_params(lam=1)


def test_fitted_topographic_sparse_coding_survives_pickling(data):
    """A pickled and unpickled fitted model encodes, decodes and scores as the original."""
    model = TopographicSparseCoding(**SMALL[TopographicSparseCoding], random_state=0).fit(data)
    clone = pickle.loads(pickle.dumps(model))
    assert type(clone) is TopographicSparseCoding
    assert clone.get_params() == model.get_params()
    np.testing.assert_array_equal(clone.components_, model.components_)
    codes = model.transform(data[:60])
    np.testing.assert_array_equal(clone.transform(data[:60]), codes)
    np.testing.assert_array_equal(clone.inverse_transform(codes), model.inverse_transform(codes))
    assert clone.objective(data[:60], codes) == model.objective(data[:60], codes)
    assert clone.history_ == model.history_
