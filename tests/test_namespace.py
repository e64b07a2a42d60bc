"""Every module imports the rooms as ``sparselearn.<room>`` (or relatively), never by the bare
folder name: a user's own ``plotting.py`` or ``experiments/`` must not be picked up instead."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ROOMS = {"objectives", "trainers", "patches", "plotting", "experiments", "configs"}
SOURCES = sorted(p for folder in (*ROOMS, "sparselearn", "scripts", "benchmarks", "tests")
                 for p in (ROOT / folder).rglob("*.py"))


def _bare_imports(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        found += [f"{path.relative_to(ROOT)}:{node.lineno}: {name}" for name in names
                  if name.split(".")[0] in ROOMS]
    return found


def test_no_module_imports_a_room_by_its_bare_name():
    assert len(SOURCES) > 100
    offenders = [line for path in SOURCES for line in _bare_imports(path)]
    assert not offenders, "\n".join(offenders)


def test_a_users_own_modules_do_not_shadow_the_package(tmp_path):
    for name in ("plotting", "objectives", "trainers", "patches"):
        (tmp_path / f"{name}.py").write_text("raise ImportError('the user module was used')\n")
    (tmp_path / "experiments").mkdir()
    (tmp_path / "experiments" / "__init__.py").write_text("raise ImportError('user package')\n")
    code = ("import sparselearn, sparselearn.experiments, sparselearn.plotting;"
            "from sparselearn import RICA, load_run; print(sparselearn.experiments.__name__)")
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "sparselearn.experiments"


@pytest.mark.parametrize("room", sorted(ROOMS - {"configs"}))
def test_rooms_are_subpackages(room):
    import importlib

    module = importlib.import_module(f"sparselearn.{room}")
    assert module.__name__ == f"sparselearn.{room}"
    assert Path(module.__file__).resolve().parent == ROOT / room


def test_every_subpackage_is_in_the_wheel_list():
    """A new folder with an ``__init__.py`` in a room must be listed in pyproject.toml's
    packages and package-dir (setuptools would leave it out of the wheel silently)."""
    import tomllib

    setup = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    folders = {f"sparselearn.{init.parent.relative_to(ROOT).as_posix().replace('/', '.')}"
               for room in ROOMS for init in (ROOT / room).rglob("__init__.py")
               if "__pycache__" not in init.parts}
    assert folders <= set(setup["packages"]), sorted(folders - set(setup["packages"]))
    for package in setup["packages"]:
        assert (ROOT / setup["package-dir"][package] / "__init__.py").is_file(), package
