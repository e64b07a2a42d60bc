"""Every config in configs/ runs end to end with a tiny override, in process."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sparselearn.experiments import load_config, run_training
from sparselearn.experiments.rundir import read_status

CONFIGS = Path(__file__).resolve().parents[2] / "configs"

#: Small enough to finish in a second or two; large enough to exercise every step.
TINY = {
    "ica": ["data.count=1000", "trainer.max_iter=3", "trainer.inner_iter=2",
            "model.n_components=16", "data.whitening.method=pca",
            "data.whitening.n_components=16"],
    "rica": ["data.count=1000", "trainer.max_iter=3", "trainer.inner_iter=3",
             "model.n_components=32"],
    "sparse_coding": ["data.count=600", "trainer.max_iter=3", "trainer.batch_size=200",
                      "trainer.inner_iter=5", "model.n_components=25"],
    "topographic": ["data.count=600", "trainer.max_iter=3", "trainer.batch_size=200",
                    "trainer.inner_iter=5", "model.n_components=25", "model.grid=[5, 5]"],
    "tica": ["data.count=1000", "trainer.max_iter=3", "trainer.inner_iter=3",
             "model.n_components=25", "model.grid=[5, 5]"],
    "dictionary": ["data.count=1000", "trainer.max_iter=3", "trainer.batch_size=256",
                   "trainer.inner_iter=5", "model.n_components=25"],
}
RUN_FILES = ("config.yaml", "metrics.csv", "model.npz", "filters.png", "curves.png",
             "checkpoint.npz")


def test_every_shipped_config_has_a_tiny_variant():
    """Every training config (sweep files aside) is exercised below."""
    shipped = [p.stem for p in CONFIGS.glob("*.yaml") if not p.stem.startswith("sweep_")]
    assert sorted(shipped) == sorted(TINY)


@pytest.mark.parametrize("name", sorted(TINY))
def test_config_runs_with_tiny_override(name, tmp_path):
    config = load_config(CONFIGS / f"{name}.yaml", TINY[name] + ["trainer.checkpoint_every=2"])
    result = run_training(config, tmp_path / "run", progress=False)
    assert result.status == "finished" and result.iterations == 3
    assert np.isfinite(result.objective)
    for file in RUN_FILES:
        assert (tmp_path / "run" / file).is_file(), file
    assert read_status(tmp_path / "run")["status"] == "finished"
    with np.load(tmp_path / "run" / "model.npz") as model:
        k = config["model"]["n_components"]
        assert model["filters"].shape == (k, 64)
        assert model["components"].shape[0] == k
        assert str(model["kind"]) == name
        assert any(key.startswith("preprocessing/") for key in model.files)
    lines = (tmp_path / "run" / "metrics.csv").read_text().splitlines()
    assert len(lines) == 4 and lines[0].startswith("iteration,objective")
    # the saved config reloads to the same resolved config
    assert load_config(tmp_path / "run" / "config.yaml") == config
    assert not [p for p in (tmp_path / "run").iterdir() if p.name.startswith(".")]


def test_colour_float32_run(tmp_path):
    overrides = TINY["tica"] + ["data.colour=true", "data.dtype=float32"]
    config = load_config(CONFIGS / "tica.yaml", overrides)
    result = run_training(config, tmp_path / "run", progress=False)
    assert result.status == "finished"
    with np.load(tmp_path / "run" / "model.npz") as model:
        assert model["filters"].shape == (25, 3 * 64)
        assert model["W"].dtype == np.float32
