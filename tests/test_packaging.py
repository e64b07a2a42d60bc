"""The wheel: what it holds, and that it works installed on its own, away from the checkout.

The wheel is built from a copy of the checkout (the build writes nothing into the repository)
and installed, not editable, into a fresh virtual environment without the system site-packages,
so neither the checkout nor its editable install can be imported there: its dependencies come
from the package index through pip (and its cache). The run is then started from a folder that
holds a user's own ``plotting.py``, ``experiments/``, ... which must never be imported.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DIST_INFO = "sparselearn-"  # prefix of the .dist-info folder
#: Folders of the checkout that the build does not need (and that may be large).
_SKIP_TOP = {".git", "build", "dist", "runs", "sweeps", ".venv", "venv"}
_SKIP_ANY = {"__pycache__", ".hypothesis", ".ruff_cache", ".pytest_cache"}
#: Modules a user may have in the folder they run from; importing one is a packaging bug.
SHADOWS = ("plotting.py", "experiments/__init__.py", "objectives.py", "trainers.py",
           "patches.py", "configs.py")
#: What `sparselearn train` writes into a finished run directory.
RUN_FILES = ("filters.png", "curves.png", "metrics.csv", "model.npz", "config.yaml",
             "checkpoint.npz", "status.json")


def _ignore(folder: str, names: list[str]) -> set[str]:
    top = Path(folder).resolve() == REPO
    return {name for name in names
            if name in _SKIP_ANY or name.endswith((".egg-info", ".pyc"))
            or (top and name in _SKIP_TOP)}


def _clean_env(**extra: str) -> dict[str, str]:
    """The environment of a user's shell: nothing points Python at the checkout."""
    env = {key: value for key, value in os.environ.items()
           if not key.startswith("PYTHON") and key != "VIRTUAL_ENV"}
    env.update(MPLBACKEND="Agg", **extra)
    return env


def _run(command: list[str], cwd: Path, timeout: float = 300,
         env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    proc = subprocess.run(command, cwd=cwd, env=env or _clean_env(), capture_output=True,
                          text=True, timeout=timeout)
    assert proc.returncode == 0, (f"{' '.join(command)} exited {proc.returncode}\n"
                                  f"stdout:\n{proc.stdout[-4000:]}\nstderr:\n{proc.stderr[-4000:]}")
    return proc


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """A wheel built from a copy of the checkout."""
    pytest.importorskip("build", reason="needs the build package (pip install -e '.[test]')")
    root = tmp_path_factory.mktemp("wheel")
    source = root / "src"
    shutil.copytree(REPO, source, ignore=_ignore)
    _run([sys.executable, "-m", "build", "--wheel", "--outdir", str(root / "dist"), str(source)],
         cwd=root, env=_clean_env())
    (found,) = (root / "dist").glob("sparselearn-*.whl")
    return found


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory):
    """``(venv, python, sparselearn)``: the wheel installed into a fresh virtual environment."""
    venv = tmp_path_factory.mktemp("venv") / "env"
    started = time.perf_counter()
    _run([sys.executable, "-m", "venv", str(venv)], cwd=venv.parent)
    bindir = venv / ("Scripts" if os.name == "nt" else "bin")
    python = bindir / ("python.exe" if os.name == "nt" else "python")
    _run([str(python), "-m", "pip", "install", "--no-input", "--disable-pip-version-check",
          str(wheel)], cwd=venv.parent, timeout=600)
    print(f"venv with the wheel and its dependencies: {time.perf_counter() - started:.1f} s")
    command = shutil.which("sparselearn", path=str(bindir))
    assert command, f"the wheel installed no sparselearn command into {bindir}"
    yield venv, python, Path(command)
    shutil.rmtree(venv, ignore_errors=True)  # several hundred MB of dependencies


@pytest.fixture()
def user_folder(tmp_path) -> Path:
    """An empty folder but for modules that shadow the rooms' old top-level names."""
    folder = tmp_path / "work"
    for name in SHADOWS:
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"raise ImportError('the user\\'s own {name} was imported')\n")
    return folder


def test_wheel_holds_only_the_sparselearn_package(wheel):
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
    dist_info = {name.split("/")[0] for name in names if ".dist-info/" in name}
    assert len(dist_info) == 1 and next(iter(dist_info)).startswith(DIST_INFO)
    (info,) = dist_info
    stray = [name for name in names if not name.startswith(("sparselearn/", f"{info}/"))]
    assert not stray, stray
    for name in ("sparselearn/__init__.py", "sparselearn/py.typed", "sparselearn/cli.py",
                 "sparselearn/__main__.py", "sparselearn/configs/__init__.py",
                 "sparselearn/experiments/sweeps/__init__.py", "sparselearn/objectives/__init__.py",
                 "sparselearn/patches/__init__.py", "sparselearn/plotting/__init__.py",
                 "sparselearn/trainers/__init__.py"):
        assert name in names, name
    for config in sorted((REPO / "configs").glob("*.yaml")):
        assert f"sparselearn/configs/{config.name}" in names, config.name
    assert "sparselearn/configs/ica.yaml" in names
    assert any(name.startswith(f"{info}/") and name.endswith("/LICENSE") for name in names), \
        [name for name in names if name.startswith(info)]
    with zipfile.ZipFile(wheel) as archive:
        entry_points = archive.read(f"{info}/entry_points.txt").decode()
        top_level = archive.read(f"{info}/top_level.txt").decode().split()
    assert "sparselearn = sparselearn.cli:main" in entry_points
    assert top_level == ["sparselearn"]


def test_installed_wheel_trains_away_from_the_checkout(installed, user_folder):
    venv, python, command = installed
    out = user_folder / "run"
    proc = _run([str(command), "train", "ica", "trainer.max_iter=5", "--out", str(out)],
                cwd=user_folder)
    assert "finished: 5 iterations" in proc.stdout, proc.stdout
    for name in RUN_FILES:
        assert (out / name).is_file(), (name, sorted(p.name for p in out.iterdir()))
    assert json.loads((out / "status.json").read_text())["status"] == "finished"

    # the same Python, with the user's folder first on sys.path: every room imports from the
    # wheel, none from the folder or the checkout, and no editable finder is installed
    probe = (
        "import importlib, json, sys\n"
        "import sparselearn\n"
        "mods = ['sparselearn.cli', 'sparselearn.configs', 'sparselearn.experiments',\n"
        "        'sparselearn.experiments.sweeps', 'sparselearn.objectives',\n"
        "        'sparselearn.patches', 'sparselearn.plotting', 'sparselearn.trainers']\n"
        "files = {m: importlib.import_module(m).__file__ for m in ['sparselearn', *mods]}\n"
        "print(json.dumps({'files': files, 'RICA': sparselearn.RICA.__module__,\n"
        "    'meta_path': [repr(f) for f in sys.meta_path], 'path': sys.path}))\n")
    seen = json.loads(_run([str(python), "-c", probe], cwd=user_folder).stdout)
    site = Path(seen["files"]["sparselearn"]).resolve().parent.parent
    assert site.is_relative_to(venv.resolve()), seen["files"]["sparselearn"]
    for module, file in seen["files"].items():
        assert Path(file).resolve().is_relative_to(site / "sparselearn"), (module, file)
    assert seen["RICA"].startswith("sparselearn.trainers")
    assert not any("editable" in finder.lower() for finder in seen["meta_path"]), seen
    assert not any(Path(entry).resolve() == REPO for entry in seen["path"] if entry), seen

    listing = _run([str(python), "-m", "sparselearn", "configs"], cwd=user_folder).stdout
    assert "ica " in listing and str(site / "sparselearn" / "configs") in listing


def test_installed_top_level_names(installed):
    venv, python, _ = installed
    site = Path(_run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                     cwd=venv).stdout.strip())
    (info,) = site.glob(f"{DIST_INFO}*.dist-info")
    assert (info / "top_level.txt").read_text().split() == ["sparselearn"]
    record = (info / "RECORD").read_text().splitlines()
    tops = {line.split(",")[0].split("/")[0] for line in record if line}
    tops = {top for top in tops if top != ".."}  # ../../../bin/sparselearn: the console script
    assert tops == {"sparselearn", info.name}, tops
