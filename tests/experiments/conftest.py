"""Shared helpers for the experiments tests: running the scripts as a user would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CONFIGS = REPO / "configs"


def script_env() -> dict[str, str]:
    """Environment of a script subprocess: headless plots, one BLAS thread (reproducible)."""
    env = dict(os.environ)
    env.update(MPLBACKEND="Agg", OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1",
               MKL_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    return env


def run_script(name: str, *args: str, cwd: Path | None = None,
               timeout: float = 120) -> subprocess.CompletedProcess:
    """Run ``python scripts/<name> args...`` and capture its output."""
    return subprocess.run([sys.executable, str(REPO / "scripts" / name), *map(str, args)],
                          cwd=cwd or REPO, env=script_env(), capture_output=True, text=True,
                          timeout=timeout)


def spawn_script(name: str, *args: str, cwd: Path | None = None) -> subprocess.Popen:
    """Start ``python scripts/<name> args...`` without waiting (output captured as text)."""
    return subprocess.Popen([sys.executable, str(REPO / "scripts" / name), *map(str, args)],
                            cwd=cwd or REPO, env=script_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


@pytest.fixture(scope="session")
def spawn():
    """``spawn("train.py", *args)`` starts a script process (see :func:`spawn_script`)."""
    return spawn_script


@pytest.fixture(scope="session")
def script():
    """``script("train.py", *args)`` runs a script in a subprocess (see :func:`run_script`)."""
    return run_script


@pytest.fixture(scope="session")
def configs_dir() -> Path:
    """The repository's ``configs/`` folder."""
    return CONFIGS


@pytest.fixture
def write_yaml(tmp_path):
    """Write a YAML text to a file in tmp_path and return its path."""
    def write(text: str, name: str = "config.yaml") -> Path:
        path = tmp_path / name
        path.write_text(text)
        return path
    return write


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> Path:
    """A 16-filter ICA run on 4×4 patches (a 5×5 map on the 8×8 digits), 3 iterations: the
    run the evaluation tests evaluate."""
    from sparselearn.experiments import load_config, run_training

    out = tmp_path_factory.mktemp("eval") / "run"
    config = load_config(CONFIGS / "ica.yaml",
                         ["data.count=2000", "trainer.max_iter=3", "data.patch_size=4",
                          "model.n_components=16"])
    run_training(config, out, progress=False)
    return out
