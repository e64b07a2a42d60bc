"""Training curves from metrics.csv and atomic saving of figures."""

from __future__ import annotations

import os

import numpy as np
import pytest

from sparselearn.plotting import (
    atomic_open,
    atomic_write_text,
    curve_columns,
    curves_figure,
    read_metrics,
    save_curves,
    save_filters,
    use_log_scale,
)


def _write_metrics(path, rows=5, partial=False):
    lines = ["iteration,objective,sparsity,step_size,wall_time"]
    for i in range(1, rows + 1):
        lines.append(f"{i},{10.0 ** (3 - i)},{1.0 / i},nan,{0.1 * i}")
    text = "\n".join(lines) + "\n"
    if partial:
        text += "6,0.00"
    path.write_text(text)


def test_read_metrics_ignores_partial_last_line(tmp_path):
    path = tmp_path / "metrics.csv"
    _write_metrics(path, partial=True)
    metrics = read_metrics(path)
    assert list(metrics) == ["iteration", "objective", "sparsity", "step_size", "wall_time"]
    assert metrics["iteration"].tolist() == [1, 2, 3, 4, 5]
    assert np.isnan(metrics["step_size"]).all()
    assert curve_columns(metrics) == ["objective", "sparsity"]


def test_log_scale_rule():
    assert use_log_scale(np.array([1000.0, 1.0, 0.01]))
    assert not use_log_scale(np.array([2.0, 1.5, 1.0]))       # less than a decade
    assert not use_log_scale(np.array([10.0, -1.0, 100.0]))   # not positive
    assert not use_log_scale(np.array([np.nan, 5.0]))


def test_curves_one_axis_per_term(tmp_path):
    path = tmp_path / "metrics.csv"
    _write_metrics(path)
    fig = curves_figure(path)
    drawn = [ax for ax in fig.axes if ax.get_title()]
    assert [ax.get_title() for ax in drawn] == ["objective", "sparsity"]
    assert drawn[0].get_yscale() == "log" and drawn[1].get_yscale() == "linear"
    out = save_curves(tmp_path / "curves.png", path)
    assert out.read_bytes()[:4] == b"\x89PNG"


def test_save_filters_writes_png(tmp_path):
    out = save_filters(tmp_path / "f.png", np.random.default_rng(0).normal(size=(9, 16)), 4)
    assert out.read_bytes()[:4] == b"\x89PNG"
    assert os.listdir(tmp_path) == ["f.png"]


def test_atomic_write_leaves_no_partial_file(tmp_path):
    target = tmp_path / "out.txt"
    atomic_write_text(target, "old")
    with pytest.raises(RuntimeError), atomic_open(target, "w") as handle:
        handle.write("new but incomplete")
        raise RuntimeError("killed mid-write")
    assert target.read_text() == "old"
    assert os.listdir(tmp_path) == ["out.txt"]     # temporary file removed
    atomic_write_text(target, "new")
    assert target.read_text() == "new"
    assert os.listdir(tmp_path) == ["out.txt"]


def test_killed_writer_leaves_old_file_intact(tmp_path):
    """SIGKILL mid-write: the target keeps its old complete content."""
    import signal
    import subprocess
    import sys
    import time

    target = tmp_path / "model.npz"
    atomic_write_text(target, "old complete content")
    code = ("import sys, time\n"
            "from plotting.atomic import atomic_open\n"
            "with atomic_open(sys.argv[1], 'wb') as handle:\n"
            "    handle.write(b'x' * 1000); handle.flush()\n"
            "    print('writing', flush=True)\n"
            "    time.sleep(60)\n")
    proc = subprocess.Popen([sys.executable, "-c", code, str(target)], stdout=subprocess.PIPE,
                            text=True)
    assert proc.stdout.readline().strip() == "writing"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    time.sleep(0.05)
    assert target.read_text() == "old complete content"
    leftovers = [p.name for p in tmp_path.iterdir() if p.name != "model.npz"]
    assert all(name.startswith(".model.npz.") for name in leftovers)
