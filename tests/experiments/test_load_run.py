"""sparselearn.load_run: a run directory back into a fitted estimator with its whitener."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import sparselearn
from sparselearn.experiments import load_config, run_training
from sparselearn.experiments.data import build_data
from sparselearn.experiments.errors import RunDirError
from sparselearn.experiments.models import build_estimator

CONFIGS = Path(__file__).resolve().parents[2] / "configs"

TINY = {
    "ica": ["data.count=800", "trainer.max_iter=2", "trainer.inner_iter=2"],
    "rica": ["data.count=800", "trainer.max_iter=2", "trainer.inner_iter=3",
             "model.n_components=32"],
    "sparse_coding": ["data.count=600", "trainer.max_iter=2", "trainer.batch_size=200",
                      "trainer.inner_iter=5", "model.n_components=25"],
    "dictionary": ["data.count=800", "trainer.max_iter=2", "trainer.batch_size=256",
                   "trainer.inner_iter=5", "model.n_components=25"],
}


@pytest.mark.parametrize("name", sorted(TINY))
def test_loaded_run_transforms_like_the_fitted_model(name, tmp_path):
    config = load_config(CONFIGS / f"{name}.yaml", TINY[name])
    run_dir = tmp_path / "run"
    result = run_training(config, run_dir, progress=False)
    assert result.status == "finished"

    # the same fit in this process: the runner's data, estimator and seed
    data = build_data(config)
    fitted = build_estimator(config, preprocessor=data.whitener).fit(data.x.T)

    loaded = sparselearn.load_run(run_dir)
    assert type(loaded) is type(fitted)
    assert loaded.get_params(deep=False).keys() == fitted.get_params(deep=False).keys()
    np.testing.assert_array_equal(loaded.components_, fitted.components_)
    assert loaded.n_features_in_ == 64 and loaded.n_iter_ == 2 and len(loaded.history_) == 2

    raw = data.x.T[:50]  # normalised raw patches, before whitening
    np.testing.assert_allclose(loaded.transform(raw), fitted.transform(raw), rtol=1e-10,
                               atol=1e-12)
    codes = loaded.transform(raw)
    np.testing.assert_allclose(loaded.inverse_transform(codes), fitted.inverse_transform(codes),
                               rtol=1e-10, atol=1e-12)


def test_load_run_errors_name_the_path(tmp_path):
    with pytest.raises(RunDirError, match="no such run directory"):
        sparselearn.load_run(tmp_path / "missing")
    config = load_config(CONFIGS / "ica.yaml", TINY["ica"])
    run_dir = tmp_path / "run"
    run_training(config, run_dir, progress=False)
    (run_dir / "model.npz").unlink()
    with pytest.raises(RunDirError, match=r"model\.npz.*finished"):
        sparselearn.load_run(run_dir)
    (run_dir / "model.npz").write_bytes(b"not a zip file")
    with pytest.raises(RunDirError, match=r"model\.npz: unreadable"):
        sparselearn.load_run(run_dir)
