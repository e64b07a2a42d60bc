"""Runs against their environment (issue 14, items 8, 9, 12, 14, 16): a crash before the first
checkpoint, memory that cannot fit, permission denied and full disks, stale temporaries, and
data errors that name the config file and ``data.source``.

Full disks and read-only folders are simulated by monkeypatching the writers (so the tests run
as root too); the commands run in process (:func:`sparselearn.cli.main`).
"""

from __future__ import annotations

import errno
import json
import os
import tempfile
import threading
from pathlib import Path

import numpy as np
import pytest
import yaml

import sparselearn.plotting.atomic as atomic
from sparselearn.cli import main
from sparselearn.experiments import callbacks, config_from_dict, run_training
from sparselearn.experiments.callbacks import append_complete
from sparselearn.experiments.cli import run_cli
from sparselearn.experiments.data import check_memory, estimate_memory
from sparselearn.experiments.errors import ConfigError
from sparselearn.experiments.runfiles import read_metrics_file

TINY = {"data": {"count": 500}, "model": {"kind": "ica"},
        "trainer": {"max_iter": 6, "inner_iter": 3, "checkpoint_every": 2, "tol": 0.0}}


@pytest.fixture
def config_file(tmp_path) -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(TINY))
    return path


@pytest.fixture
def sl(capsys):
    """``sl("train", ...)`` runs the command in process: (exit status, stdout, stderr)."""
    def run(*args: object) -> tuple[int, str, str]:
        capsys.readouterr()
        status = main([str(arg) for arg in args])
        out, err = capsys.readouterr()
        return status, out, err
    return run


def _status(run: Path) -> dict:
    return json.loads((run / "status.json").read_text())


def _fd_path(fd: int) -> str:
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return ""


def _full_disk(monkeypatch, when=lambda path: True) -> None:
    """``os.fsync`` of the atomic writer fails with ENOSPC for the files ``when`` accepts."""
    real = os.fsync

    def fsync(fd: int) -> None:
        if when(_fd_path(fd)):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real(fd)

    monkeypatch.setattr(atomic.os, "fsync", fsync)


def _assert_usage_error(result, *needles: str) -> str:
    status, _, err = result
    assert status == 2, err
    assert "Traceback" not in err and "unexpected error" not in err
    for needle in needles:
        assert needle in err, err
    return err


# -- item 8: a crash before the first checkpoint ---------------------------------------------
@pytest.mark.parametrize("left", ["failed", "running"])
def test_run_that_crashed_before_its_first_checkpoint_resumes_from_zero(
        tmp_path, sl, config_file, monkeypatch, left):
    overrides = ("trainer.checkpoint_every=5",)
    status, _, err = sl("train", config_file, *overrides, "--out", tmp_path / "full", "--quiet")
    assert status == 0, err

    original = callbacks.MetricsCallback.on_iteration_end

    def crash(self, state):
        if state.iteration == 3:
            raise RuntimeError("boom")
        original(self, state)

    monkeypatch.setattr(callbacks.MetricsCallback, "on_iteration_end", crash)
    run = tmp_path / "crashed"
    status, _, err = sl("train", config_file, *overrides, "--out", run, "--quiet")
    assert status == 1 and "RuntimeError: boom" in err
    recorded = _status(run)
    assert recorded["status"] == "failed" and recorded["error"] == "RuntimeError: boom"
    assert recorded["iteration"] == 3 and recorded["checkpoint_iteration"] is None
    assert recorded["resume_from"] == 0
    assert not (run / "checkpoint.npz").exists()
    monkeypatch.undo()
    if left == "running":  # what a SIGKILL leaves behind
        (run / "status.json").write_text(json.dumps({"status": "running", "iteration": 3}))

    status, out, err = sl("train", "--resume", run, "--quiet")
    assert status == 0, err
    assert "finished: 6 iterations" in out
    assert _status(run)["status"] == "finished"
    with np.load(tmp_path / "full" / "model.npz") as a, np.load(run / "model.npz") as b:
        assert np.array_equal(a["W"], b["W"])


# -- item 9: memory checked up front ---------------------------------------------------------
def test_data_that_cannot_fit_is_refused_before_allocating(tmp_path, sl, config_file):
    out = tmp_path / "run"
    err = _assert_usage_error(
        sl("train", config_file, "data.count=1000000000", "--out", out, "--quiet"),
        f"{config_file}: data.count: 1000000000 patches", "GiB of memory", "available")
    assert "MemoryError" not in err
    assert not out.exists()


def test_memory_estimate_and_check():
    config = config_from_dict({**TINY, "data": {"count": 1000}})
    parts = estimate_memory(config)
    assert parts["data"] == 1000 * 64 * 8  # count x 8x8 pixels x float64
    total = sum(parts.values())
    assert check_memory(config, available=total) == total
    with pytest.raises(ConfigError, match=r"origin.yaml: data.count: 1000 patches of 8x8 "
                                          r"float64 need about .* GiB"):
        check_memory(config, "origin.yaml", available=total - 1)


def test_memory_error_is_a_usage_error(capsys):
    def main_() -> int:
        raise MemoryError("Unable to allocate 477. GiB")

    assert run_cli(main_) == 2
    assert "out of memory (Unable to allocate 477. GiB); lower data.count" in \
        capsys.readouterr().err


# -- item 12: environment errors -------------------------------------------------------------
def test_read_only_existing_out_folder(tmp_path, sl, config_file, monkeypatch):
    out = tmp_path / "readonly"
    out.mkdir()
    real = tempfile.mkstemp

    def mkstemp(*args, dir=None, prefix="", suffix="", **kwargs):
        if Path(dir) == out:
            raise PermissionError(errno.EACCES, "Permission denied",
                                  os.path.join(dir, f"{prefix}abcdefgh{suffix}"))
        return real(*args, dir=dir, prefix=prefix, suffix=suffix, **kwargs)

    monkeypatch.setattr(atomic.tempfile, "mkstemp", mkstemp)
    _assert_usage_error(sl("train", config_file, "--out", out, "--quiet"),
                        f"{out / 'config.yaml'}: cannot write (Permission denied)")
    assert not (out / "status.json").exists()


def test_full_disk_before_start(tmp_path, sl, config_file, monkeypatch):
    _full_disk(monkeypatch)
    out = tmp_path / "run"
    _assert_usage_error(sl("train", config_file, "--out", out, "--quiet"),
                        f"{out / 'config.yaml'}: cannot write (No space left on device)")
    assert not (out / "config.yaml").exists() and not list(out.glob(".*.tmp"))


def test_full_disk_at_the_first_checkpoint(tmp_path, sl, config_file, monkeypatch):
    _full_disk(monkeypatch, lambda path: ".checkpoint.npz." in path)
    out = tmp_path / "run"
    _assert_usage_error(sl("train", config_file, "--out", out, "--quiet"),
                        f"{out / 'checkpoint.npz'}: cannot write (No space left on device)")
    status = _status(out)
    assert status["status"] == "failed" and "No space left on device" in status["error"]
    assert status["iteration"] == 2 and not (out / "checkpoint.npz").exists()
    assert not list(out.glob(".*.tmp"))


def test_full_disk_everywhere_says_the_status_could_not_be_recorded(tmp_path, sl, config_file,
                                                               monkeypatch):
    _full_disk(monkeypatch, lambda path: ".config.yaml." not in path)
    out = tmp_path / "run"
    _assert_usage_error(sl("train", config_file, "--out", out, "--quiet"),
                        f"{out / 'status.json'}: cannot write (No space left on device); the "
                        f"run's status could not be recorded")


def test_full_disk_after_start_says_status_could_not_be_updated(tmp_path, sl, config_file,
                                                                monkeypatch):
    """The checkpoint fails; then status.json cannot be written either."""
    checkpoint_failed = {"yes": False}

    def when(path: str) -> bool:
        if ".checkpoint.npz." in path:
            checkpoint_failed["yes"] = True
        return checkpoint_failed["yes"]

    _full_disk(monkeypatch, when)
    out = tmp_path / "run"
    _assert_usage_error(sl("train", config_file, "--out", out, "--quiet"),
                        f"{out / 'checkpoint.npz'}: cannot write (No space left on device); "
                        f"{out / 'status.json'} could not be updated either")
    assert json.loads((out / "status.json").read_text())["status"] == "running"


def test_full_disk_while_appending_a_metrics_row(tmp_path, sl, config_file, monkeypatch):
    """The row of iteration 4 is half written when the disk fills up (for metrics.csv: the
    end-of-fit rewrite fails too); the file is cut back to its 3 complete rows."""
    real = os.write
    calls = {"n": 0}

    def write(fd, data):
        if _fd_path(fd).endswith("metrics.csv"):
            calls["n"] += 1
            if calls["n"] == 3:
                real(fd, bytes(data[: len(data) // 2]))
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(fd, data)

    monkeypatch.setattr(callbacks.os, "write", write)
    _full_disk(monkeypatch, lambda path: ".metrics.csv." in path and calls["n"] >= 3)
    out = tmp_path / "run"
    _assert_usage_error(sl("train", config_file, "--out", out, "--quiet"),
                        f"{out / 'metrics.csv'}: cannot write (No space left on device)")
    monkeypatch.undo()
    text = (out / "metrics.csv").read_text()
    assert text.endswith("\n")
    metrics = read_metrics_file(out / "metrics.csv")  # no warning: no partial row
    assert list(metrics["iteration"]) == [1.0, 2.0, 3.0]
    assert _status(out)["status"] == "failed"


def test_append_complete_cuts_back_a_partial_write(tmp_path, monkeypatch):
    path = tmp_path / "rows.csv"
    path.write_bytes(b"a,b\n1,2\n")
    real = os.write

    def write(fd, data):
        real(fd, bytes(data[:2]))
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(callbacks.os, "write", write)
    with pytest.raises(OSError, match="No space left") as caught:
        append_complete(path, b"3,4\n")
    assert caught.value.filename == str(path)
    assert path.read_bytes() == b"a,b\n1,2\n"


def test_atomic_writer_names_the_target_not_the_temporary(tmp_path, monkeypatch):
    _full_disk(monkeypatch)
    target = tmp_path / "file.txt"
    with pytest.raises(OSError) as caught:
        atomic.atomic_write_text(target, "text")
    assert caught.value.errno == errno.ENOSPC and caught.value.filename == str(target)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("exc,needle", [
    (PermissionError(errno.EACCES, "Permission denied", "/ro/x.png"),
     "error: /ro/x.png: Permission denied"),
    (OSError(errno.ENOSPC, "No space left on device", "/full/filters.png"),
     "error: /full/filters.png: No space left on device"),
    (OSError(errno.ENODEV, "No such device", "/media/usb/run/metrics.csv"),
     "error: /media/usb/run/metrics.csv: No such device"),
])
def test_environment_os_errors_exit_2(capsys, exc, needle):
    def main_() -> int:
        raise exc

    assert run_cli(main_) == 2
    assert needle in capsys.readouterr().err


# -- item 14: stale temporaries --------------------------------------------------------------
class _StopAfter(threading.Event):
    def __init__(self, n: int) -> None:
        super().__init__()
        self.n, self.polls = n, 0

    def is_set(self) -> bool:
        self.polls += 1
        return self.polls >= self.n


def test_stale_temporaries_removed_when_a_run_resumes(tmp_path, sl):
    run = tmp_path / "run"
    run_training(config_from_dict(TINY), run, progress=False, stop_event=_StopAfter(2))
    stale = [run / ".checkpoint.npz.ab12cd34.tmp", run / ".metrics.csv.zz_9yx8w.tmp"]
    kept = [run / ".notes.tmp", run / "notes.txt"]
    for path in stale + kept:
        path.write_bytes(b"partial")
    status, _, err = sl("train", "--resume", run, "--quiet")
    assert status == 0, err
    assert [path for path in stale if path.exists()] == []
    assert all(path.exists() for path in kept)


def test_remove_stale_temporaries_only_touches_the_named_targets(tmp_path):
    for name in (".a.txt.abcdefgh.tmp", ".b.txt.abcdefgh.tmp", ".c.txt.tmp", "d.txt"):
        (tmp_path / name).write_text("x")
    removed = atomic.remove_stale_temporaries(tmp_path, ["a.txt", "c.txt"])
    assert [path.name for path in removed] == [".a.txt.abcdefgh.tmp"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [".b.txt.abcdefgh.tmp", ".c.txt.tmp",
                                                          "d.txt"]


# -- item 16: data.source and unreadable images ----------------------------------------------
def test_empty_data_source_is_an_error(tmp_path, sl):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({**TINY, "data": {"source": ""}}))
    _assert_usage_error(sl("train", path, "--print-config"), f"{path}:", "data.source",
                        "found an empty string")


def test_unreadable_png_is_named_with_the_config_and_data_source(tmp_path, sl):
    images = tmp_path / "images"
    images.mkdir()
    (images / "bad.png").write_bytes(b"not a png at all")
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({**TINY, "data": {"source": str(images)}}))
    err = _assert_usage_error(sl("train", path, "--out", tmp_path / "run", "--quiet"),
                              f"{path}: data.source {images}:",
                              f"{images / 'bad.png'}: not a PNG file that can be decoded")
    assert "plugin" not in err and "unknown error" not in err
    assert not (tmp_path / "run").exists()


def test_image_decoder_errors_say_what_went_wrong(tmp_path, monkeypatch):
    import imageio.v3 as iio

    from sparselearn.patches.sources import read_image

    path = tmp_path / "locked.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n")

    def imread(uri, plugin=None):
        try:
            raise PermissionError(errno.EACCES, "Permission denied", uri)
        except PermissionError as cause:
            raise OSError("An unknown error occurred while initializing plugin `pillow`.") \
                from cause

    monkeypatch.setattr(iio, "imread", imread)
    with pytest.raises(ValueError, match=r"locked.png: \[Errno 13\] Permission denied"):
        read_image(path)
    monkeypatch.undo()
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    with pytest.raises(ValueError, match="empty.png: the file is empty"):
        read_image(empty)
