"""Issue 14 (part A) for runs: directory locks, output paths inside output.root, CLI values
checked up front, Ctrl-C while the command starts."""

from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from sparselearn import cli
from sparselearn.experiments import rundir as rd
from sparselearn.experiments.errors import ConfigError, RunDirError, UsageError
from sparselearn.experiments.locking import LOCK_NAME, DirectoryLocked, hold_lock, holder
from sparselearn.experiments.runner import run_training

REPO = Path(__file__).resolve().parents[2]
TRAIN = str(REPO / "scripts" / "train.py")

TINY = {"seed": 0,
        "data": {"patch_size": 6, "count": 300, "whitening": {"method": "zca", "epsilon": 0.01}},
        "model": {"kind": "rica", "n_components": 8, "alpha": 0.1},
        "trainer": {"max_iter": 3, "inner_iter": 3, "tol": 0.0, "checkpoint_every": 1}}


def _env() -> dict[str, str]:
    return {**os.environ, "MPLBACKEND": "Agg", "PYTHONUNBUFFERED": "1"}


def _interruptible() -> None:
    """Give the child Python's default Ctrl-C handling even when this test runs in the
    background (a shell's ``&`` starts it with SIGINT ignored, which children inherit)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _foreign_lock(folder: Path, pid: int = 4242, command: str = "sparselearn train x") -> int:
    """Lock ``folder`` as another process would (a descriptor of its own, outside this
    process's lock registry) and return the descriptor."""
    fd = os.open(folder / LOCK_NAME, os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    os.write(fd, json.dumps({"pid": pid, "host": "elsewhere", "command": command,
                             "since": "2026-01-01 00:00:00"}).encode())
    return fd


def _metric_iterations(run_dir: Path) -> list[int]:
    lines = (run_dir / rd.METRICS).read_text().splitlines()
    column = lines[0].split(",").index("iteration")
    return [int(float(line.split(",")[column])) for line in lines[1:] if line]


# -- the lock itself --------------------------------------------------------------------------
def test_lock_is_reentrant_records_the_holder_and_goes_away(tmp_path):
    folder = tmp_path / "run"
    with hold_lock(folder, create=True, note="test"):
        info = json.loads((folder / LOCK_NAME).read_text())
        assert info["pid"] == os.getpid() and info["command"].startswith("test: ")
        with hold_lock(folder):                    # the same process may take it again
            assert (folder / LOCK_NAME).is_file()
        assert (folder / LOCK_NAME).is_file()      # still held by the outer block
        assert holder(folder) is None              # this process holds it: nobody else
    assert not folder.exists()                     # created here, left empty: removed


def test_second_holder_gets_a_usage_error_naming_the_folder_and_the_holder(tmp_path):
    fd = _foreign_lock(tmp_path)
    try:
        assert holder(tmp_path)["pid"] == 4242
        started = time.perf_counter()
        with pytest.raises(DirectoryLocked) as info:
            with hold_lock(tmp_path, "sweep directory", wait=0.3):
                pass
        assert time.perf_counter() - started >= 0.3
    finally:
        os.close(fd)                               # the "other process" ends
    assert isinstance(info.value, UsageError)
    message = str(info.value)
    assert str(tmp_path) in message and "sweep directory is in use by process 4242" in message
    assert "on elsewhere" in message and "sparselearn train x" in message
    with hold_lock(tmp_path):                      # released with its descriptor
        pass


def test_a_lock_file_left_by_a_killed_process_never_blocks(tmp_path):
    # the holder locks as experiments.locking does, without its (slow) imports
    code = ("import fcntl, json, os, sys, time\n"
            "fd = os.open(os.path.join(sys.argv[1], '.lock'), os.O_RDWR | os.O_CREAT)\n"
            "fcntl.flock(fd, fcntl.LOCK_EX)\n"
            "os.write(fd, json.dumps({'pid': os.getpid(), 'command': 'holder'}).encode())\n"
            "print('held', flush=True)\ntime.sleep(60)\n")
    proc = subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], env=_env(),
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "held"
        with pytest.raises(DirectoryLocked, match=f"in use by process {proc.pid}"):
            with hold_lock(tmp_path):
                pass
    finally:
        proc.kill()
        proc.wait(timeout=30)
    assert (tmp_path / LOCK_NAME).is_file()        # SIGKILL: no clean-up ran
    assert holder(tmp_path) is None
    with hold_lock(tmp_path):
        pass
    assert not (tmp_path / LOCK_NAME).exists()


# -- runs -------------------------------------------------------------------------------------
class _OnFirstIteration:
    """A stop event that calls ``action`` at the first iteration boundary, then stops."""

    def __init__(self, action):
        self.action, self.calls = action, 0

    def is_set(self) -> bool:
        self.calls += 1
        if self.calls == 1:
            self.action()
        return True


def test_resume_while_the_run_trains_is_refused(tmp_path):
    """``train CFG --out D`` then ``train --resume D`` while it still runs."""
    base = tmp_path / "base.yaml"
    base.write_text(yaml.safe_dump(TINY))
    run_dir = tmp_path / "run"
    seen = {}

    def second_writers() -> None:
        assert json.loads((run_dir / LOCK_NAME).read_text())["pid"] == os.getpid()
        proc = subprocess.run([sys.executable, TRAIN, "--resume", str(run_dir), "--quiet"],
                              env=_env(), capture_output=True, text=True, cwd=tmp_path,
                              timeout=120)
        seen["resume"] = (proc.returncode, proc.stderr)
        seen["rows"] = len(_metric_iterations(run_dir))

    result = run_training(str(base), run_dir, progress=False,
                          stop_event=_OnFirstIteration(second_writers))
    assert result.status == "interrupted"
    status, stderr = seen["resume"]
    assert status == 2, stderr
    assert "Traceback" not in stderr and len(stderr.strip().splitlines()) == 1
    assert f"{run_dir}: run directory is in use by process {os.getpid()}" in stderr
    assert seen["rows"] == 1 and _metric_iterations(run_dir) == [1]   # nobody else wrote
    assert not (run_dir / LOCK_NAME).exists()                         # released
    done = run_training(None, run_dir, resume=True, progress=False)
    assert done.status == "finished" and _metric_iterations(run_dir) == [1, 2, 3]


def test_a_fresh_run_that_fails_before_writing_leaves_no_folder(tmp_path):
    config = {**TINY, "data": {**TINY["data"], "source": str(tmp_path / "missing.npy")}}
    with pytest.raises(UsageError):
        run_training(config, tmp_path / "a" / "run", progress=False)
    assert not (tmp_path / "a").exists()


def test_fresh_run_into_a_locked_folder_is_refused_without_writing(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / rd.CONFIG).write_text("seed: 0\n")
    fd = _foreign_lock(run_dir)
    try:
        with pytest.raises(DirectoryLocked, match="in use by process 4242"):
            run_training(TINY, run_dir, progress=False)
        with pytest.raises(DirectoryLocked, match="in use by process 4242"):
            rd.prepare_run_dir(run_dir)
    finally:
        os.close(fd)
    assert sorted(p.name for p in run_dir.iterdir()) == [LOCK_NAME, rd.CONFIG]
    with pytest.raises(RunDirError, match="not empty"):           # unlocked: the usual error
        rd.prepare_run_dir(run_dir)


# -- output paths -----------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["../../../../escape", "/tmp/a14-abs-escape", ".", "a/../..",
                                  "a/.."])
def test_output_name_must_stay_inside_the_root(tmp_path, monkeypatch, capsys, name):
    monkeypatch.chdir(tmp_path)
    base = tmp_path / "base.yaml"
    base.write_text(yaml.safe_dump(TINY))
    status = cli.main(["train", str(base), "output.root=deep/er/root", f"output.name={name}",
                       "--quiet"])
    err = capsys.readouterr().err
    assert status == 2
    assert "output.name" in err and repr(name) in err and "inside output.root" in err
    assert "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["base.yaml"]   # nothing created
    assert not Path("/tmp/a14-abs-escape").exists()


def test_default_run_dir_keeps_plain_and_nested_names_inside(tmp_path):
    config = {"output": {"root": str(tmp_path), "name": "ica/first"}, "model": {"kind": "ica"}}
    assert rd.default_run_dir(config) == tmp_path / "ica" / "first"
    config["output"]["name"] = "./run"
    assert rd.default_run_dir(config) == tmp_path / "run"
    config["output"]["name"] = None
    assert rd.default_run_dir(config).parent == tmp_path
    with pytest.raises(ConfigError, match=r"output\.name: .* found '\.\./x' \(it would write "
                                          rf"to {tmp_path.parent}/x\)"):
        rd.inside_root(tmp_path, "../x", "output.name")


# -- command-line values ----------------------------------------------------------------------
@pytest.mark.parametrize("argv, option", [
    (["train", "ica", "--threads", "-1"], "--threads"),
    (["sweep", "sweep_ica_lambda", "--workers", "0"], "--workers"),
    (["sweep", "sweep_ica_lambda", "--workers", "-3"], "--workers"),
    (["sweep", "--resume", "x", "--workers", "0"], "--workers"),
])
def test_bad_counts_are_usage_errors_before_anything(argv, option, tmp_path, monkeypatch,
                                                     capsys):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as info:
        cli.main([*argv, "--out", str(tmp_path / "out")] if "--resume" not in argv else argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert f"argument {option}" in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


# -- Ctrl-C while the command starts ------------------------------------------------------------
_HARNESS = """\
import os, runpy, signal, sys

TRIGGER = sys.argv[1]

class SigintOnImport:
    # sends SIGINT to this process when the module TRIGGER starts importing
    def find_spec(self, name, path=None, target=None):
        if name == TRIGGER:
            sys.meta_path.remove(self)
            os.kill(os.getpid(), signal.SIGINT)
        return None

sys.meta_path.insert(0, SigintOnImport())
entry, args = sys.argv[2], sys.argv[3:]
if entry == "-m":
    sys.argv = ["sparselearn", *args]
    runpy.run_module("sparselearn", run_name="__main__", alter_sys=True)
else:
    sys.argv = [entry, *args]
    runpy.run_path(entry, run_name="__main__")
"""


@pytest.mark.parametrize("module, entry", [("numpy", TRAIN), ("sparselearn.cli", TRAIN),
                                           ("numpy", "-m"), ("sparselearn.cli", "-m")])
def test_ctrl_c_while_importing_exits_130_with_one_line(tmp_path, module, entry):
    args = ["train", "ica"] if entry == "-m" else ["ica"]
    proc = subprocess.run([sys.executable, "-c", _HARNESS, module, entry, *args, "--out",
                           str(tmp_path / "run")], env=_env(), preexec_fn=_interruptible,
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 130, proc.stderr
    assert proc.stderr.strip() == "sparselearn: interrupted while starting; nothing was written"
    assert not (tmp_path / "run").exists()


@pytest.mark.skipif(not Path("/proc/self/maps").is_file(), reason="watches /proc/PID/maps")
def test_real_sigint_while_numpy_loads(tmp_path):
    """SIGINT sent as soon as numpy's extension is mapped into the process (the imports)."""
    proc = subprocess.Popen([sys.executable, TRAIN, "ica", "--out", str(tmp_path / "run")],
                            preexec_fn=_interruptible,
                            env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, cwd=tmp_path)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                if "numpy" in Path(f"/proc/{proc.pid}/maps").read_text():
                    break
            except OSError:
                pass
            time.sleep(0.002)
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr and len(stderr.strip().splitlines()) == 1, stderr
    assert "interrupted while starting" in stderr
    assert not (tmp_path / "run").exists()
