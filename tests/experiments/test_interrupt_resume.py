"""Ctrl-C a training process mid-run, resume it, and get exactly the uninterrupted result.

Also: ``visualize.py`` redraws the pictures of a finished and of an interrupted run.
"""

from __future__ import annotations

import json
import shutil
import signal
import time
from pathlib import Path

import numpy as np
import pytest

#: About 20 ms per iteration: long enough to be interrupted well before the end.
OVERRIDES = ("data.count=2000", "model.n_components=32", "trainer.max_iter=120",
             "trainer.tol=0", "trainer.checkpoint_every=10", "--quiet")


def _rows(path: Path) -> int:
    try:
        return max(0, len(path.read_text().splitlines()) - 1)
    except FileNotFoundError:
        return 0


@pytest.fixture(scope="module")
def runs(tmp_path_factory, script, spawn, configs_dir):
    """An uninterrupted run, and the same run SIGINT-ed after its first row then resumed."""
    root = tmp_path_factory.mktemp("resume")
    config = configs_dir / "rica.yaml"
    full = script("train.py", config, *OVERRIDES, "--out", root / "full")
    assert full.returncode == 0, full.stderr

    proc = spawn("train.py", config, *OVERRIDES, "--out", root / "cut")
    deadline = time.monotonic() + 60
    while _rows(root / "cut" / "metrics.csv") < 1:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "no metrics row within 60 s"
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    snapshot = root / "cut_interrupted"
    shutil.copytree(root / "cut", snapshot)

    resumed = script("train.py", "--resume", root / "cut", "--quiet")
    return {"root": root, "full": root / "full", "cut": root / "cut", "snapshot": snapshot,
            "interrupt": (proc.returncode, out, err), "resumed": resumed}


def test_sigint_writes_checkpoint_and_exits_cleanly(runs):
    returncode, out, err = runs["interrupt"]
    assert returncode == 128 + signal.SIGINT, err
    assert "Traceback" not in err
    assert "interrupted after" in out and "--resume" in out
    status = json.loads((runs["snapshot"] / "status.json").read_text())
    assert status["status"] == "interrupted" and 1 <= status["iteration"] < 120
    assert (runs["snapshot"] / "checkpoint.npz").is_file()
    assert not (runs["snapshot"] / "model.npz").exists()
    assert (runs["snapshot"] / "filters.png").is_file()


def test_resumed_run_is_bit_identical(runs):
    resumed = runs["resumed"]
    assert resumed.returncode == 0, resumed.stderr
    assert "finished: 120 iterations" in resumed.stdout
    with np.load(runs["full"] / "model.npz") as a, np.load(runs["cut"] / "model.npz") as b:
        assert np.array_equal(a["W"], b["W"])
        assert np.array_equal(a["filters"], b["filters"])
    # the objective trajectory matches row for row (timings differ)
    def objectives(run):
        lines = (run / "metrics.csv").read_text().splitlines()
        return [line.split(",")[:3] for line in lines]
    assert objectives(runs["full"]) == objectives(runs["cut"])


def test_visualize_finished_and_interrupted(runs, tmp_path, script):
    for run in (runs["full"], runs["snapshot"]):
        (run / "filters.png").unlink()
        proc = script("visualize.py", run)
        assert proc.returncode == 0, proc.stderr
        assert (run / "filters.png").read_bytes()[:4] == b"\x89PNG"
        assert (run / "curves.png").is_file()
    proc = script("visualize.py", runs["snapshot"], "--out", tmp_path / "sheet.png",
                      "--sort", "orientation")
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "sheet.png").is_file() and (tmp_path / "sheet_curves.png").is_file()
