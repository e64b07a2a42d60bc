"""``sparselearn evaluate``: datasets, the encoder maths, end to end on digits, errors, CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from sparselearn import cli
from sparselearn.experiments import RunDirError, UsageError, load_config, run_training
from sparselearn.experiments.evaluation import (
    DatasetError,
    evaluate,
    load_dataset,
    load_image_folder,
    parse_baselines,
    split_dataset,
)
from sparselearn.experiments.evaluation import encoding as en

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory) -> Path:
    """A 16-filter ICA run on 4×4 patches (a 5×5 map on the 8×8 digits), 3 iterations."""
    out = tmp_path_factory.mktemp("eval") / "run"
    config = load_config(REPO / "configs" / "ica.yaml",
                         ["data.count=2000", "trainer.max_iter=3", "data.patch_size=4",
                          "model.n_components=16"])
    run_training(config, out, progress=False)
    return out


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
    result = evaluate(tiny_run, "digits", progress=False, baseline_patches=3000)
    record = json.loads((tiny_run / "evaluation.json").read_text())
    assert (tiny_run / "evaluation.png").stat().st_size > 1000
    assert record["dataset"] == "digits" and record["feature_map"] == [5, 5]
    assert record["pooling"]["name"] == "quadrants"
    assert record["split"] == {"train": 1347, "test": 450, "test_size": 0.25, "seed": 0,
                               "stratified": True}
    assert set(record["baselines"]) == {"raw", "whitened", "random", "kmeans", "dictionary",
                                        "fastica"}
    run = record["contenders"][0]
    assert run["n_features"] == 4 * 2 * 16 and run["C"] in record["classifier"]["C_grid"]
    assert 0.8 < result.accuracy <= 1.0  # 10 classes: chance is 0.1
    assert "run: ica (k=16)" in result.table()


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
                     "raw,random", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "raw pixels" in out and "random filters (k=16)" in out and "evaluation.json" in out


@pytest.mark.parametrize(("args", "message"), [
    (["--dataset", "nope"], "unknown dataset"),
    (["--baselines", "x"], "unknown x"),
    (["--test-size", "2"], "--test-size 2"),
])
def test_cli_usage_errors(tiny_run, capsys, args, message):
    assert cli.main(["evaluate", str(tiny_run), "--quiet", *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("sparselearn evaluate: error:") and message in err
    assert len(err.strip().splitlines()) == 1


def test_cli_missing_run(tmp_path, capsys):
    assert cli.main(["evaluate", str(tmp_path / "none")]) == 2
    assert "no such run directory" in capsys.readouterr().err
