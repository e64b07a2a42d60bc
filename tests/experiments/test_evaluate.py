"""``sparselearn evaluate``: datasets, the encoder maths, end to end on digits, errors, CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from sparselearn import cli
from sparselearn.experiments import RunDirError, UsageError
from sparselearn.experiments.evaluation import (
    DatasetError,
    evaluate,
    load_dataset,
    load_image_folder,
    parse_baselines,
    split_dataset,
)
from sparselearn.experiments.evaluation import encoding as en


# -- encoder maths --------------------------------------------------------------------------
def test_soft_threshold_matches_direct_formula():
    rng = np.random.default_rng(0)
    z = rng.standard_normal((50, 7))
    alpha = rng.uniform(0, 1, 7)
    expected = np.hstack([np.where(z - alpha > 0, z - alpha, 0),
                          np.where(-z - alpha > 0, -z - alpha, 0)])
    np.testing.assert_allclose(en.soft_threshold(z, alpha), expected)
    np.testing.assert_allclose(en.soft_threshold(z, 0.3)[:, :7], np.maximum(z - 0.3, 0))
    np.testing.assert_allclose(en.split_sign(z), np.hstack([np.maximum(z, 0),
                                                            np.maximum(-z, 0)]))


@pytest.mark.parametrize(("shape", "stride"), [((9, 11), 1), ((9, 11), 2), ((4, 4), 1)])
def test_dense_encoding_matches_per_patch_loop(shape, stride):
    rng = np.random.default_rng(1)
    images = rng.uniform(size=(3, *shape))
    h, w = 4, 3
    bank = en.FilterBank("t", rng.standard_normal((5, h * w)), rng.standard_normal(5))
    alpha = np.full(5, 0.2)
    got = en.encode_images(images, (h, w), stride, "patch_mean", en.soft_codes(bank, alpha),
                           width=10, dtype=np.float64)
    rows, cols = en.feature_map_shape(shape, (h, w), stride)
    maps = np.zeros((3, rows, cols, 10))
    for i in range(3):  # the explicit loop the GEMM replaces
        for r in range(rows):
            for c in range(cols):
                x = images[i, r * stride:r * stride + h, c * stride:c * stride + w].ravel()
                x = x - x.mean()
                z = bank.weights @ x + bank.bias
                maps[i, r, c] = np.r_[np.maximum(z - alpha, 0), np.maximum(-z - alpha, 0)]
    if min(rows, cols) >= 2:
        r2, c2 = (rows + 1) // 2, (cols + 1) // 2
        expected = np.hstack([maps[:, :r2, :c2].sum((1, 2)), maps[:, :r2, c2:].sum((1, 2)),
                              maps[:, r2:, :c2].sum((1, 2)), maps[:, r2:, c2:].sum((1, 2))])
    else:
        expected = maps.sum((1, 2))
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-10)
    f32 = en.encode_images(images, (h, w), stride, "patch_mean", en.soft_codes(bank, alpha),
                           width=10)
    np.testing.assert_allclose(f32, expected, rtol=1e-4, atol=1e-4)


def test_blocks_do_not_change_the_result(monkeypatch):
    rng = np.random.default_rng(2)
    images = rng.uniform(size=(7, 10, 10))
    bank = en.FilterBank("t", rng.standard_normal((6, 16)), np.zeros(6))
    codes = en.soft_codes(bank, 0.1)
    whole = en.encode_images(images, (4, 4), 1, "none", codes, width=12)
    monkeypatch.setattr(en, "BLOCK_ENTRIES", 64 * 12 * 2)  # two images per block
    np.testing.assert_allclose(en.encode_images(images, (4, 4), 1, "none", codes, width=12),
                               whole, rtol=1e-6)


def test_whitener_folds_into_pixel_filters():
    from sparselearn.patches import Whitener

    rng = np.random.default_rng(3)
    X = rng.standard_normal((500, 9)) @ rng.standard_normal((9, 9)) + 2.0
    whitener = Whitener("zca", epsilon=1e-3).fit(X)
    W = rng.standard_normal((4, 9))
    bank = en.FilterBank.from_whitened("w", W, whitener)
    np.testing.assert_allclose(bank.responses(X), whitener.transform(X) @ W.T, atol=1e-8)


def test_threshold_grid_shares_one_product_and_splits_back():
    rng = np.random.default_rng(4)
    images = rng.uniform(size=(5, 9, 9))
    bank = en.FilterBank("t", rng.standard_normal((6, 16)), rng.standard_normal(6))
    grid = np.abs(rng.standard_normal((3, 6)))
    pooled = en.encode_images(images, (4, 4), 1, "patch_mean", en.soft_codes(bank, grid),
                              width=3 * 12, dtype=np.float64, threads=2)
    parts = en.split_grid(pooled, 3, 12)
    for a, part in zip(grid, parts, strict=True):
        alone = en.encode_images(images, (4, 4), 1, "patch_mean", en.soft_codes(bank, a),
                                 width=12, dtype=np.float64)
        np.testing.assert_allclose(part, alone, rtol=1e-12)
    sample = rng.standard_normal((200, 16))
    spread = bank.responses(sample).std(axis=0)
    np.testing.assert_allclose(en.measure_alpha(bank, sample, (0.0, 0.5)),
                               [0 * spread, 0.5 * spread])
    with pytest.raises(ValueError, match="do not split into 5 sets"):
        en.split_grid(pooled, 5, 12)


def test_cv_picks_the_informative_feature_set():
    from sparselearn.experiments.evaluation import fit_classifier

    rng = np.random.default_rng(5)
    y = np.repeat([0, 1, 2], 40)
    noise = rng.standard_normal((120, 5))
    signal = noise + 3.0 * np.eye(3)[y] @ rng.standard_normal((3, 5))
    train, test = np.arange(0, 120, 2), np.arange(1, 120, 2)
    fit = fit_classifier([noise[train], signal[train]], y[train],
                         [noise[test], signal[test]], y[test])
    assert fit["choice"] == 1 and len(fit["cv_grid"]) == 2
    assert fit["cv_accuracy"] == max(fit["cv_grid"][1]) > max(fit["cv_grid"][0]) + 0.3
    assert fit["accuracy"] > 0.9 and fit["correct"].shape == (60,)


def test_parse_alphas():
    from sparselearn.experiments.evaluation import ALPHA_GRID, parse_alphas

    assert parse_alphas(None) == ALPHA_GRID == (0.0, 0.25, 0.5, 1.0)
    assert parse_alphas("0.5, 0,0.5") == (0.0, 0.5)
    assert parse_alphas(0.3) == (0.3,) and parse_alphas([1, 0.25]) == (0.25, 1.0)
    for bad in ("-1", "x", "", [0.1, float("nan")], True):
        with pytest.raises(UsageError, match="--alpha .*expected a number >= 0"):
            parse_alphas(bad)


def test_paired_comparison():
    from sparselearn.experiments.evaluation import paired_comparison

    run = np.array([1, 1, 1, 1, 0, 0, 1, 1], bool)
    other = np.array([1, 0, 0, 1, 1, 0, 1, 1], bool)
    result = paired_comparison(run, other)
    d = run.astype(float) - other
    assert result["difference"] == pytest.approx(0.125)
    assert result["se"] == pytest.approx(d.std(ddof=1) / np.sqrt(8))
    assert (result["run_only"], result["other_only"]) == (2, 1)


# -- datasets -------------------------------------------------------------------------------
def _png(path: Path, array: np.ndarray) -> None:
    import imageio.v3 as iio

    path.parent.mkdir(parents=True, exist_ok=True)
    iio.imwrite(path, array)


def test_image_folder_loader(tmp_path):
    rng = np.random.default_rng(0)
    for label in ("cats", "dogs"):
        for i in range(3):
            _png(tmp_path / label / f"{i}.png", rng.integers(0, 256, (6, 5), dtype=np.uint8))
    _png(tmp_path / "dogs" / "rgb.png", rng.integers(0, 256, (6, 5, 3), dtype=np.uint8))
    (tmp_path / "dogs" / "notes.txt").write_text("not an image")
    data = load_image_folder(tmp_path)
    assert data.classes == ["cats", "dogs"]
    assert data.images.shape == (7, 6, 5) and data.images.max() <= 1.0
    assert list(data.labels) == [0, 0, 0, 1, 1, 1, 1]
    assert load_dataset(str(tmp_path)).images.shape == (7, 6, 5)
    train, test = split_dataset(data.labels, 0.3, seed=0)
    assert sorted(np.r_[train, test]) == list(range(7))
    again = split_dataset(data.labels, 0.3, seed=0)
    assert np.array_equal(train, again[0])


def test_bad_folders_are_usage_errors(tmp_path):
    _png(tmp_path / "only" / "a.png", np.zeros((4, 4), np.uint8))
    with pytest.raises(DatasetError, match=r"at least two class subfolders.*found 1 \('only'\)"):
        load_image_folder(tmp_path)
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "b.png").write_bytes(b"not a png")
    with pytest.raises(DatasetError, match=r"b\.png: unreadable image"):
        load_image_folder(tmp_path)
    (tmp_path / "other" / "b.png").unlink()
    _png(tmp_path / "other" / "b.png", np.zeros((5, 4), np.uint8))
    with pytest.raises(DatasetError, match=r"b\.png: expected every image to be 4×4"):
        load_image_folder(tmp_path)
    with pytest.raises(DatasetError, match="unknown dataset; expected one of digits"):
        load_dataset("no-such-set")
    assert issubclass(DatasetError, UsageError)


def test_builtin_datasets():
    digits = load_dataset("digits")
    assert digits.images.shape == (1797, 8, 8) and digits.images.max() == 1.0
    lfw = load_dataset("lfw_subset")
    assert lfw.images.shape == (200, 25, 25) and set(lfw.labels) == {0, 1}


def test_parse_baselines():
    assert parse_baselines("all")[0] == "raw"
    assert parse_baselines("none") == ()
    assert parse_baselines("random,raw") == ("raw", "random")
    with pytest.raises(UsageError, match="unknown pixels"):
        parse_baselines("pixels")


# -- end to end -----------------------------------------------------------------------------
def test_evaluate_digits_end_to_end(tiny_run):
    result = evaluate(tiny_run, "digits", progress=False, baseline_patches=1500,
                      random_draws=2)
    record = json.loads((tiny_run / "evaluation.json").read_text())
    assert (tiny_run / "evaluation.png").stat().st_size > 1000
    assert record["dataset"] == "digits" and record["feature_map"] == [5, 5]
    assert record["pooling"]["name"] == "quadrants"
    assert record["split"] == {"train": 898, "test": 899, "test_size": 0.5, "seed": 0,
                               "stratified": True}
    assert set(record["baselines"]) == {"raw", "whitened", "random", "kmeans", "dictionary",
                                        "fastica"}
    assert set(record["comparison"]) == set(record["baselines"])
    run = record["contenders"][0]
    assert run["n_features"] == 4 * 2 * 16 and run["C"] in record["classifier"]["C_grid"]
    assert record["encoder"]["alpha_grid"] == [0.0, 0.25, 0.5, 1.0]
    assert run["alpha"] in record["encoder"]["alpha_grid"]
    assert record["alpha"] == record["encoder"]["chosen_alpha"] == run["alpha"]
    for row in record["contenders"][2:]:  # every filter baseline chooses its own threshold
        assert np.all(np.isin(row["alpha"], record["encoder"]["alpha_grid"]))
    assert 0.8 < result.accuracy <= 1.0  # 10 classes: chance is 0.1
    table = result.table()
    assert "run: ica (k=16)" in table and "random filters (k=16), mean of 2" in table


def test_threshold_chosen_by_cv_and_recorded(tiny_run):
    result = evaluate(tiny_run, "digits", alpha="0,1", baselines="random", random_draws=2,
                      progress=False, write=False)
    record = result.record
    assert record["encoder"]["alpha_grid"] == [0.0, 1.0] and record["random_draws"] == 2
    run, random = record["contenders"]
    grid = np.array(run["cv_grid"])  # rows: alpha, columns: C
    assert grid.shape == (2, len(record["classifier"]["C_grid"]))
    i, j = np.unravel_index(np.argmax(grid), grid.shape)  # the first maximum wins
    assert run["alpha"] == [0.0, 1.0][i] == record["alpha"]
    assert run["C"] == record["classifier"]["C_grid"][j] == record["C"]
    assert run["cv_accuracy"] == grid[i, j]
    assert len(random["draws"]) == 2 and len(random["alpha"]) == 2
    accuracies = [d["accuracy"] for d in random["draws"]]
    assert random["accuracy"] == pytest.approx(np.mean(accuracies))
    assert random["accuracy_std"] == pytest.approx(np.std(accuracies, ddof=1))
    lead = record["comparison"]["random"]["difference"]
    assert lead == pytest.approx(run["accuracy"] - random["accuracy"])
    fixed = evaluate(tiny_run, "digits", alpha=0.25, baselines="none", progress=False,
                     write=False)
    assert fixed.rows[0]["alpha"] == 0.25 and len(fixed.rows[0]["cv_grid"]) == 1


def test_transform_encoder_and_one_patch_per_image(tmp_path, tiny_run):
    # 4×4 filters on 4×4 images: a 1×1 map, pooled as a whole (no quadrants)
    for label in ("a", "b"):
        for i in range(6):
            value = 40 * i if label == "a" else 255 - 40 * i
            image = np.full((4, 4), value, np.uint8)
            image[:, : 2 if label == "a" else 3] = 0
            _png(tmp_path / "set" / label / f"{i}.png", image)
    result = evaluate(tiny_run, tmp_path / "set", encoder="transform", baselines="raw",
                      classifier="svm", progress=False, write=False)
    assert result.record["pooling"]["name"] == "whole"
    assert result.rows[0]["n_features"] == 2 * 16 and len(result.rows) == 2


def test_bad_inputs(tmp_path, tiny_run):
    with pytest.raises(RunDirError, match="no such run directory"):
        evaluate(tmp_path / "missing", "digits", progress=False)
    with pytest.raises(DatasetError, match="filters do not fit its"):
        load_tiny = tmp_path / "tiny"
        for label in ("a", "b"):
            for i in range(2):
                _png(load_tiny / label / f"{i}.png", np.zeros((3, 3), np.uint8))
        evaluate(tiny_run, load_tiny, progress=False, write=False)
    with pytest.raises(UsageError, match="--encoder fancy"):
        evaluate(tiny_run, "digits", encoder="fancy")


def test_run_without_model(tmp_path, tiny_run):
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(tiny_run, broken)
    (broken / "model.npz").unlink()
    with pytest.raises(RunDirError, match="no model.npz"):
        evaluate(broken, "digits", progress=False)


# -- the command ----------------------------------------------------------------------------
def test_cli_evaluate(tiny_run, capsys):
    assert cli.main(["evaluate", str(tiny_run), "--dataset", "digits", "--baselines",
                     "raw,random", "--alpha", "0,0.5", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "raw pixels" in out and "random filters (k=16)" in out and "evaluation.json" in out
    record = json.loads((tiny_run / "evaluation.json").read_text())
    assert record["encoder"]["alpha_grid"] == [0.0, 0.5]


@pytest.mark.parametrize(("args", "message"), [
    (["--dataset", "nope"], "unknown dataset"),
    (["--baselines", "x"], "unknown x"),
    (["--test-size", "2"], "--test-size 2"),
    (["--alpha", "0,-1"], "--alpha 0,-1: expected a number >= 0"),
])
def test_cli_usage_errors(tiny_run, capsys, args, message):
    assert cli.main(["evaluate", str(tiny_run), "--quiet", *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("sparselearn evaluate: error:") and message in err
    assert len(err.strip().splitlines()) == 1


def test_cli_missing_run(tmp_path, capsys):
    assert cli.main(["evaluate", str(tmp_path / "none")]) == 2
    assert "no such run directory" in capsys.readouterr().err
