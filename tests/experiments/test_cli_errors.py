"""User mistakes: one clear line on stderr, exit status 2, no traceback (scripts as a user runs
them); training failures: exit status 1 naming the iteration and the checkpoint."""

from __future__ import annotations

import pytest

from sparselearn.experiments import TrainingFailed
from sparselearn.experiments.cli import run_cli


def _assert_usage_error(proc, *fragments):
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def test_unknown_key_names_path_and_suggests(script, write_yaml):
    path = write_yaml("model:\n  kind: rica\ntrainer:\n  max_iters: 5\n")
    proc = script("train.py", path)
    _assert_usage_error(proc, f"{path}:4", "trainer.max_iters",
                        "did you mean 'trainer.max_iter'")


def test_wrong_type(script, write_yaml):
    proc = script("train.py", write_yaml("model:\n  kind: rica\n  n_components: lots\n"))
    _assert_usage_error(proc, "model.n_components", "expected an integer", "'lots'")


def test_bad_override(script, configs_dir):
    proc = script("train.py", configs_dir / "rica.yaml", "model.lamda=0.3")
    _assert_usage_error(proc, "override 'model.lamda=0.3'", "did you mean 'model.alpha'")
    proc = script("train.py", configs_dir / "rica.yaml", "trainer.max_iter=fast")
    _assert_usage_error(proc, "trainer.max_iter", "'fast'")


def test_missing_data_file(script, write_yaml, tmp_path):
    proc = script("train.py", write_yaml("data:\n  source: no/such/IMAGES.mat\n"
                                         "model:\n  kind: ica\n"), cwd=tmp_path)
    _assert_usage_error(proc, "data.source", "not found", "IMAGES.mat")
    assert not (tmp_path / "runs").exists()       # nothing created before validation


def test_malformed_yaml_shows_line(script, write_yaml):
    path = write_yaml("model:\n  kind: ica\ntrainer: {max_iter: 3\nseed: 1\n")
    proc = script("train.py", path)
    _assert_usage_error(proc, "malformed YAML", "line ")
    assert f"{path}:" in proc.stderr


def test_missing_config_and_not_a_run_dir(script, tmp_path):
    _assert_usage_error(script("train.py", tmp_path / "nope.yaml"), "config file not found")
    _assert_usage_error(script("train.py", "--resume", tmp_path), "not a run directory")
    _assert_usage_error(script("visualize.py", tmp_path), "not a run directory")
    _assert_usage_error(script("visualize.py", tmp_path / "gone"), "no such run directory")


def test_debug_shows_traceback(script, tmp_path):
    proc = script("train.py", tmp_path / "nope.yaml", "--debug")
    assert proc.returncode == 2 and "Traceback" in proc.stderr


def test_print_config_shows_every_default(script, configs_dir):
    proc = script("train.py", configs_dir / "topographic.yaml", "trainer.max_iter=7",
                  "--print-config")
    assert proc.returncode == 0, proc.stderr
    assert "max_iter: 7" in proc.stdout and "grid: [11, 11]" in proc.stdout
    assert "solver: accelerated" in proc.stdout      # estimator default made explicit
    assert "checkpoint_every: 25" in proc.stdout


def test_print_config_shows_row_norm(script, configs_dir):
    proc = script("train.py", configs_dir / "tica.yaml", "model.row_norm=none", "--print-config")
    assert proc.returncode == 0, proc.stderr
    assert "row_norm: none" in proc.stdout


def test_training_failure_exits_1():
    def fail() -> int:
        raise TrainingFailed("training diverged at iteration 3 (objective nan); last "
                             "checkpoint: run/checkpoint.npz (iteration 2)", 3,
                             "run/checkpoint.npz")

    assert run_cli(fail) == 1


@pytest.mark.parametrize("error, status", [(KeyboardInterrupt(), 130),
                                           (RuntimeError("boom"), 1)])
def test_other_failures(error, status, capsys):
    def fail() -> int:
        raise error

    assert run_cli(fail) == status
    assert "Traceback" not in capsys.readouterr().err
