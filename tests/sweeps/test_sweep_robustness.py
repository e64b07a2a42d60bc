"""Issue 14 (part A) for sweeps: workers die with a killed sweep, the sweep directory is
locked, paths stay inside output.root and the sweep folder, usage errors leave nothing."""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sweep_helpers import write_sweep

from sparselearn import cli
from sparselearn.experiments import rundir as rd
from sparselearn.experiments.errors import ConfigError, RunDirError, UsageError
from sparselearn.experiments.locking import LOCK_NAME, DirectoryLocked, hold_lock
from sparselearn.experiments.sweeps import execute_point, load_sweep, resume_sweep, run_sweep
from sparselearn.experiments.sweeps import worker as worker_module
from sparselearn.experiments.sweeps.report import redraw_report
from sparselearn.experiments.sweeps.store import PLAN, check_new_sweep_dir
from sparselearn.experiments.sweeps.worker import PointTask

REPO = Path(__file__).resolve().parents[2]
SCRIPT = str(REPO / "scripts" / "sweep.py")
#: A run that cannot finish while a test watches it.
LONG = {"grid": {"trainer.max_iter": [100_000]},
        "overrides": {"trainer.tol": 0.0, "trainer.checkpoint_every": 1}}


def _env() -> dict[str, str]:
    return {**os.environ, "MPLBACKEND": "Agg", "PYTHONUNBUFFERED": "1"}


def _sweep(*args: str, cwd: Path, **kwargs) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, SCRIPT, *args], cwd=cwd, env=_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)


def _processes() -> dict[int, tuple[int, str]]:
    """pid → (parent pid, state) of every process, from /proc."""
    table = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            text = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = text.rsplit(")", 1)[1].split()
        table[int(entry)] = (int(fields[1]), fields[0])
    return table


def _descendants(pid: int) -> set[int]:
    table = _processes()
    found, todo = set(), [pid]
    while todo:
        parent = todo.pop()
        for child, (ppid, _) in table.items():
            if ppid == parent and child not in found:
                found.add(child)
                todo.append(child)
    return found


def _alive(pids: set[int]) -> set[int]:
    table = _processes()
    return {pid for pid in pids if pid in table and table[pid][1] not in ("Z", "X")}


def _wait_for(predicate, timeout: float, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if proc.poll() is not None:
            raise AssertionError(f"sweep ended early: {proc.communicate()}")
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def _foreign_lock(folder: Path, pid: int = 4242) -> int:
    """Lock ``folder`` as another process would (a descriptor of its own, outside this
    process's lock registry) and return the descriptor."""
    fd = os.open(folder / LOCK_NAME, os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    os.write(fd, json.dumps({"pid": pid, "command": "sparselearn train"}).encode())
    return fd


def _metric_rows(run_dir: Path) -> int:
    try:
        return max(0, len((run_dir / rd.METRICS).read_text().splitlines()) - 1)
    except OSError:
        return 0


# -- 1. workers die with a killed sweep --------------------------------------------------------
@pytest.mark.skipif(not Path("/proc/self/stat").is_file(), reason="finds processes in /proc")
@pytest.mark.parametrize("scheduler", [None, "local"])
def test_sigkill_of_the_sweep_takes_its_workers_along(tmp_path, scheduler):
    if scheduler is not None:
        pytest.importorskip("dask.distributed")
    sweep = write_sweep(tmp_path, LONG)
    out = tmp_path / "out"
    options = ["--scheduler", scheduler] if scheduler else []
    proc = _sweep(str(sweep), "--workers", "1", *options, "--out", str(out), "--quiet",
                  cwd=tmp_path)
    family: set[int] = set()
    try:
        run_dirs = lambda: sorted((out / "runs").glob("*"))  # noqa: E731
        _wait_for(lambda: run_dirs() and _metric_rows(run_dirs()[0]) >= 2, 120, proc)
        family = _descendants(proc.pid)
        assert family, "no worker process found"
        proc.kill()                                                    # kill -9
        proc.wait(timeout=30)
        deadline = time.monotonic() + 10
        while _alive(family) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _alive(family), f"still running 10 s after SIGKILL: {_alive(family)}"
    finally:
        if proc.poll() is None:
            proc.kill()
        for pid in _alive(family | _descendants(proc.pid)):  # leave nothing behind
            os.kill(pid, 9)
    rows = _metric_rows(run_dirs()[0])
    time.sleep(1.0)
    assert _metric_rows(run_dirs()[0]) == rows                         # nobody trains on


# -- 3. the sweep directory is locked ----------------------------------------------------------
class _WhileRunning:
    """A stop event that runs ``action`` at the sweep's first poll, then stops the sweep."""

    def __init__(self, action):
        self.action, self.done = action, False

    def is_set(self) -> bool:
        if not self.done:
            self.done = True
            self.action()
        return True


def test_a_second_sweep_process_is_refused_while_one_runs(tmp_path):
    sweep = write_sweep(tmp_path, {"grid": {"model.alpha": [0.1, 0.3]}})
    out = tmp_path / "out"
    seen = {}

    def second_writers() -> None:
        proc = _sweep("--resume", str(out), "--quiet", cwd=tmp_path)
        seen["resume"] = (proc.wait(timeout=120), proc.stderr.read())
        seen["files"] = sorted(p.name for p in out.iterdir())

    plan = load_sweep(sweep)
    result = run_sweep(plan, out, workers=1, progress=False, report=False,
                       stop_event=_WhileRunning(second_writers))
    assert result.interrupted and not result.executed
    status, stderr = seen["resume"]
    assert status == 2, stderr
    assert f"{out}: sweep directory is in use by process {os.getpid()}" in stderr, stderr
    assert "Traceback" not in stderr and len(stderr.strip().splitlines()) == 1
    assert seen["files"] == sorted([".lock", ".sweep-token", "plan.json", "runs", "sweep.yaml"])
    assert not (out / LOCK_NAME).exists()                              # released
    with hold_lock(out, "sweep directory"):
        pass


def test_fresh_sweep_and_report_into_a_locked_sweep_directory_are_refused(tmp_path):
    plan = load_sweep(write_sweep(tmp_path, {}))
    out = tmp_path / "out"
    out.mkdir()
    (out / PLAN).write_text(json.dumps(plan.to_dict()))
    fd = _foreign_lock(out)
    try:
        for call in (lambda: run_sweep(plan, out, workers=1, progress=False),
                     lambda: redraw_report(out),
                     lambda: resume_sweep(out, workers=1, progress=False)):
            with pytest.raises(DirectoryLocked, match=f"{out}: sweep directory is in use by "
                                                      f"process 4242"):
                call()
    finally:
        os.close(fd)
    assert sorted(p.name for p in out.iterdir()) == [LOCK_NAME, PLAN]


def test_worker_leaves_a_run_that_another_process_holds_alone(tmp_path, monkeypatch):
    plan = load_sweep(write_sweep(tmp_path, {}))
    run = plan.runs[0]
    sweep_dir = tmp_path / "sweep"
    run_dir = sweep_dir / "runs" / run.name
    run_dir.mkdir(parents=True)
    (sweep_dir / ".sweep-token").write_text("token\n")
    (run_dir / rd.STATUS).write_text('{"status": "running"}\n')
    fd = _foreign_lock(run_dir)
    try:
        monkeypatch.setattr(worker_module, "LOCK_WAIT", 0.3)
        task = PointTask(run.name, str(run_dir), run.config, False, str(sweep_dir), "token")
        outcome = execute_point(task)
    finally:
        os.close(fd)
    assert outcome.status == "failed"
    assert "run directory is in use by process 4242" in outcome.error
    assert json.loads((run_dir / rd.STATUS).read_text()) == {"status": "running"}  # untouched


# -- 4. paths stay inside output.root and the sweep folder -------------------------------------
@pytest.mark.parametrize("name", ["../../../../x", "/tmp/a14-sweep-escape", "..", "a/b"])
def test_sweep_name_must_be_a_plain_name(tmp_path, monkeypatch, capsys, name):
    monkeypatch.chdir(tmp_path)
    sweep = write_sweep(tmp_path, {"name": name})
    with pytest.raises(ConfigError, match=r"sweep\.yaml:\d+: name: expected a plain name"):
        load_sweep(sweep)
    for extra in (["--dry-run"], []):
        assert cli.main(["sweep", str(sweep), *extra, "--quiet"]) == 2
        stderr = capsys.readouterr().err
        assert "name: expected a plain name" in stderr and repr(name) in stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["base.yaml", "sweep.yaml"]
    assert not Path("/tmp/a14-sweep-escape").exists()


def test_run_names_of_an_edited_plan_stay_inside_runs(tmp_path):
    plan = load_sweep(write_sweep(tmp_path, {}))
    out = tmp_path / "out"
    out.mkdir()
    data = plan.to_dict()
    data["runs"][0]["name"] = "../../escaped"
    (out / PLAN).write_text(json.dumps(data))
    with pytest.raises(RunDirError, match=r"plan\.json: run 1: name '\.\./\.\./escaped' is "
                                          r"not a plain folder name"):
        resume_sweep(out, workers=1, progress=False)
    assert sorted(p.name for p in out.iterdir()) == [PLAN]
    assert not (tmp_path / "escaped").exists()


def test_default_sweep_dir_is_inside_output_root(tmp_path):
    plan = load_sweep(write_sweep(tmp_path, {"overrides": {"output.root": str(tmp_path / "r")}}))
    from sparselearn.experiments.sweeps.store import default_sweep_dir

    assert default_sweep_dir(plan).parent == tmp_path / "r"


# -- 10/11. usage errors are found before the sweep directory exists ----------------------------
@pytest.mark.parametrize("options, message", [
    ({"workers": -3}, "--workers: expected an integer >= 1"),
    ({"workers": 0}, "--workers: expected an integer >= 1"),
    ({"scheduler": "localhost:8786"}, "--scheduler: expected 'local' or an address"),
    ({"scheduler": "local", "workers": 0}, "--workers: expected an integer >= 1"),
])
def test_bad_executor_options_create_nothing(tmp_path, options, message):
    plan = load_sweep(write_sweep(tmp_path, {}))
    with pytest.raises(UsageError, match=message):
        run_sweep(plan, tmp_path / "out", progress=False, **options)
    assert not (tmp_path / "out").exists()
    resumable = tmp_path / "resumable"
    resumable.mkdir()
    (resumable / PLAN).write_text(json.dumps(plan.to_dict()))
    with pytest.raises(UsageError, match=message):
        resume_sweep(resumable, progress=False, **options)
    assert sorted(p.name for p in resumable.iterdir()) == [PLAN]


def test_cli_bad_workers_leave_nothing_in_the_way_of_a_rerun(tmp_path, capsys):
    sweep = write_sweep(tmp_path, {})
    out = tmp_path / "out"
    for bad in ("-3", "0"):
        with pytest.raises(SystemExit) as info:
            cli.main(["sweep", str(sweep), "--workers", bad, "--out", str(out), "--quiet"])
        assert info.value.code == 2 and "argument --workers" in capsys.readouterr().err
        assert not out.exists()
    assert check_new_sweep_dir(out) == out        # what a rerun checks first


def test_unreachable_scheduler_leaves_no_folder(tmp_path):
    pytest.importorskip("dask.distributed")
    plan = load_sweep(write_sweep(tmp_path, {}))
    from sparselearn.experiments.sweeps import executors

    def refuse(address, workers=None):
        raise UsageError(f"--scheduler {address}: cannot connect to the Dask scheduler")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(executors, "DaskExecutor", refuse)
        with pytest.raises(UsageError, match="cannot connect"):
            run_sweep(plan, tmp_path / "out", scheduler="tcp://127.0.0.1:9", progress=False)
    assert not (tmp_path / "out").exists()


def test_a_locked_run_folder_is_not_cleared_for_a_rerun(tmp_path):
    from sparselearn.experiments.sweeps.store import clear_run

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "metrics.csv").write_text("iteration\n1\n")
    fd = _foreign_lock(run_dir)
    try:
        clear_run(run_dir)
        assert (run_dir / "metrics.csv").is_file()
    finally:
        os.close(fd)
    clear_run(run_dir)
    assert not run_dir.exists()
