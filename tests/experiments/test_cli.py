"""The ``sparselearn`` command: subcommands, help, version, shipped config names, ``configs``,
overrides in any order, and a fast start."""

from __future__ import annotations

import importlib
import os
import re
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest
import yaml

import sparselearn
from sparselearn import cli, configs
from sparselearn.experiments import ConfigError, load_config
from sparselearn.experiments.sweeps import load_sweep

REPO = Path(__file__).resolve().parents[2]
CONFIGS = REPO / "configs"
COMMANDS = ("train", "sweep", "visualize", "check-gradients", "configs")


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(MPLBACKEND="Agg", OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1",
               MKL_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    return env


def sparselearn_cmd(*args: str, cwd: Path | None = None,
                    timeout: float = 120) -> subprocess.CompletedProcess:
    """``sparselearn ARGS`` as a user runs it (``python -m sparselearn``: the same ``main``)."""
    return subprocess.run([sys.executable, "-m", "sparselearn", *map(str, args)],
                          cwd=cwd or REPO, env=_env(), capture_output=True, text=True,
                          timeout=timeout)


def _first_comment(path: Path) -> str:
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("#") and line.lstrip("#").strip():
            return line.lstrip("#").strip()
    return ""


def _one_line_usage_error(proc: subprocess.CompletedProcess, *fragments: str) -> str:
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


# -- help, version, the console script ------------------------------------------------------
def test_help_lists_every_subcommand():
    proc = sparselearn_cmd("--help")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("usage: sparselearn")
    for name in COMMANDS:
        assert re.search(rf"^\s+{re.escape(name)}\b", proc.stdout, re.MULTILINE), name


@pytest.mark.parametrize("name", COMMANDS)
def test_subcommand_help(name, capsys):
    with pytest.raises(SystemExit) as info:
        cli.main([name, "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: sparselearn {name}")
    assert "--debug" in out


def test_version(capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.strip() == f"sparselearn {version('sparselearn')}"
    assert sparselearn.__version__ == version("sparselearn")


def test_console_script():
    command = Path(sys.executable).parent / "sparselearn"
    if not command.exists():
        pytest.skip(f"no console script next to {sys.executable} (reinstall with pip install -e .)")
    proc = subprocess.run([str(command), "--version"], capture_output=True, text=True,
                          timeout=60, env=_env())
    assert proc.returncode == 0 and proc.stdout.strip().startswith("sparselearn "), proc.stderr


@pytest.mark.parametrize("argv", [[], ["trian"], ["train", "--threads", "-1"],
                                  ["train", "ica", "--bogus"], ["check-gradients", "--seed", "x"],
                                  ["visualize"], ["visualize", "runs/x", "--sort", "colour"]])
def test_bad_arguments_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "error:" in err and "Traceback" not in err


def test_help_starts_without_numpy():
    code = ("import sys\nfrom sparselearn.cli import main\n"
            "for argv in (['--help'], ['train', '--help'], ['sweep', '--help']):\n"
            "    try:\n        main(argv)\n    except SystemExit:\n        pass\n"
            "heavy = sorted(m for m in ('numpy', 'scipy', 'matplotlib', 'sklearn',\n"
            "               'sparselearn.trainers', 'sparselearn.experiments')\n"
            "               if m in sys.modules)\n"
            "print('heavy:', heavy, file=sys.stderr)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, env=_env(), cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    assert "heavy: []" in proc.stderr, proc.stderr


# -- the package's lazy names -----------------------------------------------------------------
def test_lazy_names():
    from sparselearn import trainers

    assert set(sparselearn.__all__) == {*sparselearn._LAZY, "__version__"}
    for name, module in sparselearn._LAZY.items():
        assert name in dir(sparselearn)
        assert getattr(sparselearn, name) is getattr(importlib.import_module(module), name)
    from sparselearn import RICA

    assert RICA is trainers.RICA
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        sparselearn.nope  # noqa: B018
    with pytest.raises(ImportError):
        from sparselearn import nope  # noqa: F401


def test_import_sparselearn_is_light():
    code = ("import sys, sparselearn, sparselearn.cli\n"
            "print(sorted(m for m in ('numpy', 'sparselearn.trainers') if m in sys.modules))\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, env=_env(), cwd=REPO)
    assert proc.returncode == 0 and proc.stdout.strip() == "[]", proc.stdout + proc.stderr


# -- shipped configs ----------------------------------------------------------------------------
def test_shipped_configs_are_the_repository_configs():
    assert configs.names() == sorted(path.stem for path in CONFIGS.glob("*.yaml"))
    assert configs.names("sweep") == ["sweep_ica_lambda", "sweep_sparse_coding"]
    assert {"ica", "rica", "sparse_coding", "topographic", "tica", "dictionary"} \
        <= set(configs.names("train"))
    for entry in configs.shipped():
        assert entry.path.samefile(CONFIGS / f"{entry.name}.yaml")
        assert entry.summary == _first_comment(entry.path)
    assert configs.find("ica.yaml") == configs.find("ica")
    assert configs.find("configs/ica.yaml") is None and configs.find("nosuch") is None


def test_configs_lists_names_with_their_first_comment_line(capsys):
    assert cli.main(["configs"]) == 0
    out = capsys.readouterr().out
    for path in CONFIGS.glob("*.yaml"):
        assert re.search(rf"^  {path.stem}\s+{re.escape(_first_comment(path))}$", out,
                         re.MULTILINE), path.name
    assert out.index("sparselearn train NAME") < out.index("ica ") \
        < out.index("sparselearn sweep NAME") < out.index("sweep_ica_lambda ")


def test_configs_name_prints_the_file(capsys):
    assert cli.main(["configs", "rica"]) == 0
    assert capsys.readouterr().out == (CONFIGS / "rica.yaml").read_text(encoding="utf-8")
    assert cli.main(["configs", "nope"]) == 2
    err = capsys.readouterr().err
    assert "'nope'" in err and "rica" in err


def test_resolve_config_name_and_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert cli.resolve_config("ica").samefile(CONFIGS / "ica.yaml")
    assert cli.resolve_config("ica.yaml").samefile(CONFIGS / "ica.yaml")
    assert cli.resolve_config("sweep_ica_lambda", "sweep") \
        .samefile(CONFIGS / "sweep_ica_lambda.yaml")
    (tmp_path / "ica.yaml").write_text("model:\n  kind: rica\n")  # a file that exists wins
    assert cli.resolve_config("ica.yaml") == Path("ica.yaml")
    assert cli.resolve_config("ica").samefile(CONFIGS / "ica.yaml")
    assert cli.resolve_config("sub/nope.yaml") == Path("sub/nope.yaml")  # a path: load says
    with pytest.raises(ConfigError, match=r"unknown training config 'nosuch'.*ica, rica"):
        cli.resolve_config("nosuch")
    with pytest.raises(ConfigError, match="sparselearn sweep sweep_ica_lambda"):
        cli.resolve_config("sweep_ica_lambda", "train")
    with pytest.raises(ConfigError, match="sparselearn train rica"):
        cli.resolve_config("rica", "sweep")


def test_unknown_config_name_is_a_usage_error_naming_it(tmp_path):
    line = _one_line_usage_error(sparselearn_cmd("train", "icaa", cwd=tmp_path),
                                 "sparselearn train: error:", "'icaa'")
    for name in configs.names("train"):
        assert name in line
    line = _one_line_usage_error(sparselearn_cmd("sweep", "nosweep", cwd=tmp_path), "'nosweep'",
                                 "sweep_ica_lambda")
    proc = sparselearn_cmd("train", "icaa", "--debug", cwd=tmp_path)
    assert proc.returncode == 2 and "Traceback" in proc.stderr


def test_print_config_of_a_shipped_name_with_overrides_anywhere(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert cli.main(["train", "--print-config", "ica", "trainer.max_iter=7", "--quiet",
                     "model.n_components=32"]) == 0
    out = capsys.readouterr().out
    assert "max_iter: 7" in out and "n_components: 32" in out
    assert yaml.safe_load(out)["model"]["kind"] == "ica"
    assert cli.main(["train", "trainer.max_iter=7", "ica"]) == 2  # CONFIG comes first
    assert "the config comes first" in capsys.readouterr().err


def test_train_shipped_name_with_options_between_overrides(script, tmp_path):
    """``train.py CONFIG --quiet KEY=VALUE`` failed with 'unrecognized arguments' before."""
    out = tmp_path / "run"
    proc = script("train.py", "ica", "--quiet", "trainer.max_iter=2", "--out", out,
                  "data.count=2000", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "finished: 2 iterations" in proc.stdout
    config = load_config(out / "config.yaml")
    assert config["trainer"]["max_iter"] == 2 and config["data"]["count"] == 2000
    assert config["model"]["kind"] == "ica"
    assert not (tmp_path / "runs").exists()


def test_sweep_shipped_name_with_options_between_overrides(tmp_path):
    proc = sparselearn_cmd("sweep", "sweep_ica_lambda", "--dry-run", "trainer.max_iter=3",
                           "--workers", "1", "data.count=1000", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "sweep sweep_ica_lambda: 24 runs" in proc.stdout
    assert "trainer.max_iter=3" in proc.stdout and "data.count=1000" in proc.stdout
    assert f"base {CONFIGS / 'rica.yaml'}" in proc.stdout


def test_sweep_base_may_name_a_shipped_config(tmp_path):
    sweep = tmp_path / "mine.yaml"
    sweep.write_text("base: rica\ngrid:\n  trainer.max_iter: [1, 2]\n")
    plan = load_sweep(sweep)
    assert Path(plan.base).samefile(CONFIGS / "rica.yaml") and len(plan.runs) == 2
    (tmp_path / "rica").write_text("model:\n  kind: ica\n")  # a file next to the sweep wins
    assert Path(load_sweep(sweep).base) == tmp_path / "rica"
    sweep.write_text("base: rixa\ngrid:\n  trainer.max_iter: [1, 2]\n")
    with pytest.raises(ConfigError, match=r"mine.yaml:1: base: config file not found.*'rixa'"
                                          r".*rica"):
        load_sweep(sweep)
    sweep.write_text("base: sweep_ica_lambda\ngrid:\n  trainer.max_iter: [1, 2]\n")
    with pytest.raises(ConfigError, match="config file not found"):
        load_sweep(sweep)
