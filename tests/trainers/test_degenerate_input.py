"""Degenerate training data is named before training (issue 13, point 5): a clear error or a
warning that says what was found and what to do, through ``fit`` and through the command line
(exit 2 and one line for an error; one warning line otherwise)."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pytest

from sparselearn import cli, patches
from sparselearn.patches.sampling import wide_scale
from sparselearn.trainers import (
    RICA,
    OnlineDictionaryLearning,
    OrthonormalICA,
    SparseCoding,
    TopographicICA,
    TopographicSparseCoding,
)
from sparselearn.trainers.input_checks import (
    DegenerateInputError,
    DegenerateInputWarning,
    check_training_data,
)

SMALL = {
    SparseCoding: {"n_components": 16, "batch_size": 64},
    TopographicSparseCoding: {"grid": (4, 4), "pool": 3, "batch_size": 64},
    OnlineDictionaryLearning: {"n_components": 16, "batch_size": 64},
    OrthonormalICA: {},
    RICA: {"n_components": 16},
    TopographicICA: {"grid": (4, 4), "pool": 3},
}
ALL = list(SMALL)
ICA = [OrthonormalICA, RICA, TopographicICA]


def make(cls, **params):
    return cls(**{**SMALL[cls], "max_iter": 2, "random_state": 0, **params})


@pytest.fixture(scope="module")
def white():
    """600 white samples of 16 features (unit variance), one per row."""
    rng = np.random.default_rng(0)
    X = rng.laplace(size=(600, 16))
    X -= X.mean(axis=0)
    values, vectors = np.linalg.eigh(X.T @ X / len(X))
    return X @ vectors / np.sqrt(values)


def _unfitted(model) -> bool:
    return not model.__sklearn_is_fitted__()


# -- no samples, one sample --------------------------------------------------------------------
@pytest.mark.parametrize("cls", ALL)
@pytest.mark.parametrize("X", [np.zeros((0, 16)), []], ids=["shape (0, 16)", "[]"])
def test_no_samples_say_n_samples_0(cls, X):
    with pytest.raises(DegenerateInputError, match=rf"^{cls.__name__}: X has n_samples=0 "
                                                   r"\(shape \(0(, 16)?,?\)\)"):
        make(cls).fit(X)


@pytest.mark.parametrize("cls", [SparseCoding, TopographicSparseCoding, OnlineDictionaryLearning])
def test_one_sample_is_refused(cls, white):
    model = make(cls)
    with pytest.raises(DegenerateInputError, match=r"X has n_samples=1; training needs at "
                                                   r"least 2 samples"):
        model.fit(white[:1])
    assert _unfitted(model)


@pytest.mark.parametrize("cls", ICA)
def test_fewer_samples_than_a_complete_ica_needs(cls, white):
    """The issue's data.count=1 with 64 filters, here 16: the step size used to grow unbounded."""
    for m in (1, 15):
        with pytest.raises(DegenerateInputError, match=rf"X has n_samples={m}, fewer than the "
                                                       r"16 samples .* in 16 dimensions needs.*"
                                                       r"Pass at least 16 samples"):
            make(cls).fit(white[:m])
    make(cls).fit(white[:16])  # just enough: trains


def test_fewer_filters_need_fewer_samples(white):
    assert make(OrthonormalICA, n_components=4).fit(white[:8]).n_iter_ == 2
    with pytest.raises(DegenerateInputError, match="fewer than the 4 samples an ICA of 4 filters"):
        make(OrthonormalICA, n_components=4).fit(white[:3])


# -- constant data ---------------------------------------------------------------------------------
@pytest.mark.parametrize("cls", ALL)
def test_constant_data_is_refused(cls):
    model = make(cls)
    with pytest.raises(DegenerateInputError, match=rf"^{cls.__name__}: X is constant \(all "
                                                   r"samples are equal; n_samples=300, "
                                                   r"n_features=16\): there is nothing to learn"):
        model.fit(np.full((300, 16), 3.0))
    assert _unfitted(model)
    with pytest.raises(DegenerateInputError, match=r"X is constant \(every entry is 0"):
        make(cls).fit(np.zeros((300, 16)))


@pytest.mark.parametrize("cls", [SparseCoding, RICA])
def test_constant_up_to_rounding_is_refused(cls):
    X = np.full((300, 16), 3.0)
    X[::7, ::3] = np.nextafter(3.0, 4.0)  # one unit of rounding apart
    with pytest.raises(DegenerateInputError, match=r"X is constant up to rounding: no feature "
                                                   r"varies by more than 4.44e-16 across "
                                                   r"n_samples=300"):
        make(cls).fit(X)


def test_nearly_constant_data_warns(white):
    X = 3.0 + 1e-9 * white
    with pytest.warns(DegenerateInputWarning, match=r"SparseCoding: X is nearly constant: no "
                                                    r"feature varies by more than [0-9.e-]+ .*"
                                                    r"Remove the mean"):
        make(SparseCoding).fit(X)


@pytest.mark.parametrize("cls", ICA)
def test_internal_whitening_of_constant_data_says_so(cls):
    with pytest.raises(DegenerateInputError, match=r"whiten='unit-variance' needs centred data "
                                                   r"of rank at least 1; got rank 0 \(X is "
                                                   r"constant: nothing is left after centring\)"):
        make(cls, whiten="unit-variance").fit(np.full((300, 16), 2.0))


def test_what_the_preprocessor_made_is_named(white):
    whitener = patches.Whitener(method="pca", n_components=16).fit(white)
    with pytest.raises(DegenerateInputError, match=r"X after the preprocessor is constant"):
        make(SparseCoding, preprocessor=whitener).fit(np.tile(white[:1], (50, 1)))


# -- the scale of ICA data ------------------------------------------------------------------------
@pytest.mark.parametrize("cls", ICA)
def test_ica_data_far_from_unit_variance_warns_with_what_to_do(cls, white):
    with pytest.warns(DegenerateInputWarning) as caught:
        make(cls, epsilon=1e-2).fit(white * 1e-3)
    text = str(caught[0].message)
    assert text.startswith(f"{cls.__name__}: X has mean variance 1e-06 (trace(x xᵀ)/(n·m))")
    assert "whiten='unit-variance'" in text and "multiply it by 1e+03" in text
    assert "use epsilon=1e-08" in text  # ε = 1e-2 times the mean variance
    assert ("and alpha=0.0001" in text) == (cls is not OrthonormalICA)  # α·σ for RICA
    assert caught[0].filename == __file__  # attributed to the caller's fit


def test_ufldl_covariance_i_over_m_is_recognised(white):
    with pytest.warns(DegenerateInputWarning, match=r"mean variance 0.00167 .* \(1/n_samples: "
                                                    r"whitened with x xᵀ not divided by "
                                                    r"n_samples, as in UFLDL's ICA exercise\)"):
        make(OrthonormalICA).fit(white / np.sqrt(len(white)))


def test_white_data_and_internal_whitening_do_not_warn(white):
    with warnings.catch_warnings():
        warnings.simplefilter("error", DegenerateInputWarning)
        make(RICA).fit(white)
        make(RICA, whiten="unit-variance").fit(white * 1e-3 + 5.0)
        make(OrthonormalICA).fit(white * 3.0)  # within the factor 10


@pytest.mark.parametrize("cls", [RICA, TopographicICA, OrthonormalICA])
def test_the_suggested_epsilon_and_alpha_keep_the_minimiser(cls, white):
    """The warning's advice is exact: at scale σ with (ασ, εσ²) the objective is σ² (RICA) or
    σ (orthonormal ICA) times the unit-variance one, for every W."""
    sigma = 1e-3
    n, m = white.shape[1], white.shape[0]
    W = np.linalg.qr(np.random.default_rng(5).standard_normal((n, n)))[0]

    def objective(scale, **params):
        model = cls(**SMALL[cls], **params)._load_fitted({"params": {"W": W}}, n, m, np.float64)
        return model.objective(white * scale)

    alpha = {} if cls is OrthonormalICA else {"alpha": 0.1}
    scaled = {} if cls is OrthonormalICA else {"alpha": 0.1 * sigma}
    power = 1 if cls is OrthonormalICA else 2
    unit = objective(1.0, epsilon=1e-2, **alpha)
    assert objective(sigma, epsilon=1e-2 * sigma**2, **scaled) == pytest.approx(
        sigma**power * unit, rel=1e-12)
    assert objective(sigma, epsilon=1e-2, **alpha) != pytest.approx(sigma**power * unit,
                                                                  rel=1e-3)


# -- codes that must all be zero ------------------------------------------------------------------
def test_dictionary_learning_refuses_data_whose_codes_are_all_zero(white):
    X = white * 1e-3
    largest = np.linalg.norm(X, axis=1).max()
    with pytest.raises(DegenerateInputError,
                       match=rf"every example of X has norm at most {largest:.3g}, not above "
                             r"alpha=1: the lasso code of every example is zero"):
        make(OnlineDictionaryLearning, alpha=1.0).fit(X)
    make(OnlineDictionaryLearning, alpha=0.5 * largest).fit(X)  # below the largest norm: trains


# -- what is not checked, and the checks on their own ---------------------------------------------
def test_partial_fit_takes_a_single_example(white):
    model = make(SparseCoding)
    model.partial_fit(white[:1])
    assert model.n_iter_ == 1


def test_check_training_data_runs_the_checks_without_fitting(white):
    model = make(RICA)
    summary = check_training_data(model, white)
    assert _unfitted(model) and not hasattr(model, "n_features_in_")
    assert summary.n_samples == 600 and summary.n_features == 16
    assert summary.mean_square == pytest.approx(1.0, rel=1e-12)
    with pytest.raises(DegenerateInputError, match=r"^RICA: the data is constant"):
        check_training_data(model, np.ones((40, 16)), name="the data")


# -- integer sources: scaled as their bit depth implies ------------------------------------------
def test_int64_pixels_are_scaled_like_uint8():
    """The issue: an int64 patches file scaled by the integer maximum gave values near 1e-17."""
    rng = np.random.default_rng(6)
    image = rng.integers(0, 256, size=(40, 40))
    assert image.dtype == np.int64
    as_int64 = patches.sample_patches([image], 4, 50, np.random.default_rng(1))
    as_uint8 = patches.sample_patches([image.astype(np.uint8)], 4, 50, np.random.default_rng(1))
    np.testing.assert_array_equal(as_int64, as_uint8)
    matrix = rng.integers(0, 256, size=(16, 300))
    a = patches.sample_patches(matrix, 4, 50, np.random.default_rng(1), kind="patches")
    b = patches.sample_patches(matrix.astype(np.uint8), 4, 50, np.random.default_rng(1),
                               kind="patches")
    np.testing.assert_array_equal(a, b)
    assert 0.5 < a.max() <= 1.0


def test_wide_integers_beyond_8_bits():
    rng = np.random.default_rng(7)
    sixteen = rng.integers(0, 4096, size=(30, 30)).astype(np.int32)  # 12-bit values in int32
    x = patches.sample_patches([sixteen], 4, 40, np.random.default_rng(1))
    y = patches.sample_patches([sixteen.astype(np.uint16)], 4, 40, np.random.default_rng(1))
    np.testing.assert_allclose(x, y, rtol=1e-15)
    wide = rng.integers(-10**6, 10**6, size=(30, 30))
    z = patches.sample_patches([wide], 4, 40, np.random.default_rng(1))
    assert np.abs(z).max() == pytest.approx(1.0, rel=1e-15)  # by the largest magnitude
    assert wide_scale(255) == 1 / 255 and wide_scale(256) == 1 / 65535


# -- the command line ------------------------------------------------------------------------------
def _error_line(capsys) -> str:
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1, lines
    return lines[0]


def test_cli_names_constant_data_with_exit_2(tmp_path, capsys):
    source = tmp_path / "blank.npy"
    np.save(source, np.full((120, 120), 7, dtype=np.uint8))
    out = tmp_path / "run"
    status = cli.main(["train", "rica", f"data.source={source}", "data.count=500", "--out",
                       str(out), "--quiet"])
    assert status == 2
    line = _error_line(capsys)
    assert re.match(rf"sparselearn train: error: .*rica\.yaml: data\.source "
                    rf"{re.escape(str(source))}: RICA: the data \(patches after "
                    r"data\.normalisation and data\.whitening\) is constant \(every entry is 0",
                    line), line
    assert not out.exists()  # named before the run directory is set up


def test_cli_refuses_one_sample_for_a_complete_ica(tmp_path, capsys):
    status = cli.main(["train", "ica", "data.count=1", "data.whitening.method=none",
                       "--out", str(tmp_path / "run"), "--quiet"])
    assert status == 2
    assert "OrthonormalICA: the data (patches after data.normalisation and data.whitening) " \
           "has n_samples=1, fewer than the 64 samples a complete ICA in 64 dimensions needs" \
           in _error_line(capsys)


def test_cli_warns_once_in_one_line_about_unwhitened_ica_data(tmp_path, capsys):
    status = cli.main(["train", "ica", "data.count=300", "data.whitening.method=none",
                       "trainer.max_iter=1", "trainer.inner_iter=1", "--out",
                       str(tmp_path / "run"), "--quiet"])
    assert status == 0
    err = capsys.readouterr().err
    warned = [line for line in err.splitlines() if "mean variance" in line]
    assert len(warned) == 1, err
    assert re.match(r"sparselearn train: warning: OrthonormalICA: the data .* has mean variance "
                    r"[0-9.e-]+ .* use epsilon=[0-9.e-]+ \(the minimiser that epsilon=0.01 "
                    r"gives at unit variance\)$", warned[0]), warned[0]
