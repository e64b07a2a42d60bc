"""scripts/train.py fixes the BLAS thread count before numpy loads."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "train.py"


@pytest.fixture()
def train_script():
    spec = importlib.util.spec_from_file_location("train_script", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture()
def clean_env(monkeypatch, train_script):
    for name in train_script.BLAS_THREAD_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_default_is_one_thread(train_script, clean_env):
    train_script.limit_blas_threads(None)
    assert all(os.environ[name] == "1" for name in train_script.BLAS_THREAD_VARIABLES)


def test_explicit_count_wins_over_environment(train_script, clean_env):
    clean_env.setenv("OMP_NUM_THREADS", "4")
    train_script.limit_blas_threads(2)
    assert all(os.environ[name] == "2" for name in train_script.BLAS_THREAD_VARIABLES)


def test_user_environment_is_respected_by_default(train_script, clean_env):
    clean_env.setenv("OPENBLAS_NUM_THREADS", "3")
    train_script.limit_blas_threads(None)
    assert os.environ["OPENBLAS_NUM_THREADS"] == "3"
    assert "OMP_NUM_THREADS" not in os.environ


def test_zero_leaves_the_blas_default(train_script, clean_env):
    train_script.limit_blas_threads(0)
    assert not any(name in os.environ for name in train_script.BLAS_THREAD_VARIABLES)


def test_help_lists_the_option(train_script, capsys):
    with pytest.raises(SystemExit):
        train_script.parse_args(["--help"])
    assert "--threads N" in capsys.readouterr().out


def test_parse_threads(train_script):
    assert train_script.parse_args(["configs/ica.yaml", "--threads", "2"]).threads == 2
