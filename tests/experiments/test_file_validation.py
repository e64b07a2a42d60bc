"""Every file read back from a run directory is checked (issue 14, items 5, 7, 15, 16).

Corrupt or incompatible checkpoints, a damaged ``model.npz``, ``status.json`` or
``metrics.csv``, and hand-edited runs give exit status 2 with the file's path and what is
wrong, and leave ``status.json`` telling the truth. The commands run in process
(:func:`sparselearn.cli.main`), so each case costs a fraction of a second.
"""

from __future__ import annotations

import json
import shutil
import threading
import zipfile
from pathlib import Path

import numpy as np
import pytest
import yaml

from sparselearn.cli import main
from sparselearn.experiments import config_from_dict, run_training
from sparselearn.experiments.checkpoint import load_state, save_state
from sparselearn.experiments.errors import RunDirError
from sparselearn.experiments.runfiles import RunFileWarning, read_metrics_file

TINY = {"data": {"count": 500}, "model": {"kind": "ica"},
        "trainer": {"max_iter": 6, "inner_iter": 3, "checkpoint_every": 2, "tol": 0.0}}


class _StopAfter(threading.Event):
    """Reports 'set' from the ``n``-th poll on (the run stops after iteration ``n``)."""

    def __init__(self, n: int) -> None:
        super().__init__()
        self.n, self.polls = n, 0

    def is_set(self) -> bool:
        self.polls += 1
        return self.polls >= self.n


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A finished run and the same run interrupted after iteration 2."""
    root = tmp_path_factory.mktemp("validation")
    config = config_from_dict(TINY)
    run_training(config, root / "full", progress=False)
    cut = run_training(config, root / "cut", progress=False, stop_event=_StopAfter(2))
    assert cut.status == "interrupted" and cut.iterations == 2
    return root


@pytest.fixture
def copy_run(runs, tmp_path):
    def copy(name: str) -> Path:
        target = tmp_path / name
        shutil.copytree(runs / name, target)
        return target
    return copy


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


def _rewrite_checkpoint(path: Path, edit) -> None:
    """Load, edit (state, meta) in place, save with a fresh digest: a consistent file."""
    state, extra, meta = load_state(path)
    edit(state, meta)
    save_state(path, state, extra=extra, meta=meta)


def _assert_refused(result, *needles: str) -> None:
    status, out, err = result
    assert status == 2, err
    assert "Traceback" not in err and "unexpected error" not in err
    for needle in needles:
        assert needle in err, err


# -- item 5: corrupt or incompatible checkpoints ---------------------------------------------
@pytest.mark.parametrize("damage", ["truncated", "empty", "flipped byte"])
def test_damaged_checkpoint_refused_with_its_path(copy_run, sl, damage):
    run = copy_run("cut")
    path = run / "checkpoint.npz"
    data = bytearray(path.read_bytes())
    if damage == "truncated":
        data = data[: len(data) // 2]
    elif damage == "empty":
        data = bytearray()
    else:  # a byte inside the first member's data: zipfile's CRC check catches it
        with zipfile.ZipFile(path) as archive:
            info = archive.getinfo("filters.npy")
        data[info.header_offset + 30 + len(info.filename) + 200] ^= 0xFF
    path.write_bytes(bytes(data))
    _assert_refused(sl("train", "--resume", run, "--quiet"), str(path), "checkpoint")
    assert _status(run)["status"] == "interrupted"  # not left at "running"


def test_edited_checkpoint_fails_its_digest(copy_run, sl):
    run = copy_run("cut")
    path = run / "checkpoint.npz"
    with np.load(path) as archive:
        arrays = {key: archive[key] for key in archive.files}
    arrays["filters"] = arrays["filters"] * 2  # rewritten without updating the digest
    np.savez(path, **arrays)
    _assert_refused(sl("train", "--resume", run, "--quiet"), str(path), "digest")


def test_checkpoint_of_another_shape_refused(copy_run, sl):
    run = copy_run("cut")
    path = run / "checkpoint.npz"
    _rewrite_checkpoint(path, lambda state, meta: state["params"].update(
        W=state["params"]["W"][:32]))
    _assert_refused(sl("train", "--resume", run, "--quiet"), str(path), "parameter W",
                    "(64, 64)", "(32, 64)")
    assert _status(run)["status"] == "interrupted"


def test_checkpoint_of_another_model_kind_refused(copy_run, sl):
    run = copy_run("cut")
    path = run / "checkpoint.npz"
    _rewrite_checkpoint(path, lambda state, meta: meta.update(kind="rica"))
    _assert_refused(sl("train", "--resume", run, "--quiet"), str(path), "'rica'",
                    "model.kind 'ica'")


def test_checkpoint_with_bad_rng_state_refused(copy_run, sl):
    run = copy_run("cut")
    path = run / "checkpoint.npz"
    _rewrite_checkpoint(path, lambda state, meta: state.update(
        rng_state={"bit_generator": "PCG64", "state": {}}))
    _assert_refused(sl("train", "--resume", run, "--quiet"), str(path), "rng_state")
    assert _status(run)["status"] == "interrupted"


def test_checkpoint_the_trainer_cannot_take_up_refused(copy_run, sl, monkeypatch):
    """A trainer that fails on the resume state before its first iteration (as a solver state
    without its step size did: KeyError) names the checkpoint and leaves status 'failed'
    rather than 'running'."""
    from sparselearn.trainers import OrthonormalICA

    fit = OrthonormalICA.fit

    def strict_fit(self, X, y=None, resume=None):
        if resume is not None:
            raise KeyError("step_size")
        return fit(self, X, y, resume=resume)

    monkeypatch.setattr(OrthonormalICA, "fit", strict_fit)
    run = copy_run("cut")
    path = run / "checkpoint.npz"
    _assert_refused(sl("train", "--resume", run, "--quiet"), str(path), "does not fit",
                    "KeyError: 'step_size'")
    status = _status(run)
    assert status["status"] == "failed" and "step_size" in status["error"]
    assert status["resume_from"] == 2


@pytest.mark.parametrize("damage", ["truncated", "flipped byte", "other kind"])
def test_visualize_and_load_run_refuse_a_damaged_model(copy_run, sl, damage):
    from sparselearn.experiments import load_filters
    from sparselearn.experiments.loading import load_run

    run = copy_run("full")
    path = run / "model.npz"
    if damage == "other kind":
        with np.load(path) as archive:
            arrays = {key: archive[key] for key in archive.files}
        arrays["kind"] = np.asarray("rica")
        np.savez(path, **arrays)
        needle = "'rica' model"
    else:
        data = bytearray(path.read_bytes())
        if damage == "truncated":
            data = data[: len(data) // 3]
        else:
            with zipfile.ZipFile(path) as archive:
                info = archive.getinfo("filters.npy")
            data[info.header_offset + 30 + len(info.filename) + 200] ^= 0xFF
        path.write_bytes(bytes(data))
        needle = "model file"
    _assert_refused(sl("visualize", run), str(path), needle)
    with pytest.raises(RunDirError, match="model"):
        load_filters(run)
    with pytest.raises(RunDirError, match="model"):
        load_run(run)


# -- item 15: resume trusts a hand-edited run ------------------------------------------------
@pytest.mark.parametrize("iteration", [-3, 999])
def test_checkpoint_iteration_out_of_range_refused(copy_run, sl, iteration):
    run = copy_run("cut")
    path = run / "checkpoint.npz"

    def edit(state, meta):
        state["iteration"] = meta["iteration"] = iteration

    _rewrite_checkpoint(path, edit)
    _assert_refused(sl("train", "--resume", run, "--quiet"), str(path),
                    f"iteration {iteration} outside 0..6")


def test_checkpoint_iteration_not_matching_its_history_refused(copy_run, sl):
    run = copy_run("cut")
    path = run / "checkpoint.npz"

    def edit(state, meta):
        state["iteration"] = meta["iteration"] = 5

    _rewrite_checkpoint(path, edit)
    _assert_refused(sl("train", "--resume", run, "--quiet"), str(path), "history")


def test_faked_finished_status_is_not_trusted(copy_run, sl):
    run = copy_run("cut")
    status = _status(run)
    status["status"] = "finished"
    (run / "status.json").write_text(json.dumps(status))
    _assert_refused(sl("train", "--resume", run, "--quiet"), str(run / "status.json"),
                    "model.npz")
    assert not (run / "model.npz").exists()


@pytest.mark.parametrize("key,value,needle", [
    ("seed", 5, "seed: 0 then, 5 now"),
    ("data.count", 600, "data.count: 500 then, 600 now"),
])
def test_edited_config_refused_naming_the_difference(copy_run, sl, key, value, needle):
    run = copy_run("cut")
    path = run / "config.yaml"
    raw = yaml.safe_load(path.read_text())
    node = raw
    *parents, leaf = key.split(".")
    for part in parents:
        node = node[part]
    node[leaf] = value
    path.write_text(yaml.safe_dump(raw))
    _assert_refused(sl("train", "--resume", run, "--quiet"), str(path), needle)
    assert _status(run)["status"] == "interrupted"


def test_changed_training_data_refused(tmp_path, sl):
    """A resume whose data.source files changed since the checkpoint is refused."""
    import imageio.v3 as iio

    images = tmp_path / "images"
    images.mkdir()
    rng = np.random.default_rng(0)
    for name in ("a.png", "b.png"):
        iio.imwrite(images / name, rng.integers(0, 255, (48, 48), dtype=np.uint8))
    config = config_from_dict({**TINY, "data": {"count": 300, "source": str(images)}})
    run_training(config, tmp_path / "run", progress=False, stop_event=_StopAfter(1))
    iio.imwrite(images / "a.png", rng.integers(0, 255, (48, 48), dtype=np.uint8))
    _assert_refused(sl("train", "--resume", tmp_path / "run", "--quiet"),
                    str(tmp_path / "run" / "checkpoint.npz"), "data.source", str(images))


def test_damaged_status_refused(copy_run, sl):
    run = copy_run("cut")
    (run / "status.json").write_text('{"status": "interr')
    _assert_refused(sl("train", "--resume", run, "--quiet"), str(run / "status.json"), "JSON")
    _assert_refused(sl("visualize", run), str(run / "status.json"))
    (run / "status.json").write_text('{"status": "done"}')
    _assert_refused(sl("visualize", run), str(run / "status.json"), "'done'")


def test_untouched_interrupted_run_still_resumes_bit_identically(runs, copy_run, sl):
    run = copy_run("cut")
    status, out, err = sl("train", "--resume", run, "--quiet")
    assert status == 0, err
    with np.load(runs / "full" / "model.npz") as a, np.load(run / "model.npz") as b:
        assert np.array_equal(a["W"], b["W"])


# -- item 7: metrics.csv ---------------------------------------------------------------------
def test_incomplete_last_metrics_row_is_left_out_with_a_warning(copy_run, sl):
    run = copy_run("full")
    path = run / "metrics.csv"
    text = path.read_text()
    lines = text.splitlines()
    fields = len(lines[0].split(","))
    cut = ",".join(lines[-1].split(",")[:fields - 2])  # no line end either (a full disk)
    path.write_text("\n".join(lines[:-1]) + "\n" + cut)
    with pytest.warns(RunFileWarning, match=rf"metrics.csv:{len(lines)}: last row is "
                                            rf"incomplete \({fields - 2} of {fields} fields"):
        metrics = read_metrics_file(path)
    assert len(metrics["objective"]) == len(lines) - 2
    status, out, err = sl("visualize", run)
    assert status == 0, err
    assert f"warning: {path}:{len(lines)}: last row is incomplete" in err
    assert "curves:" in out


@pytest.mark.parametrize("damage", ["too few fields", "not a number"])
def test_damaged_metrics_row_refused(copy_run, sl, damage):
    run = copy_run("full")
    path = run / "metrics.csv"
    lines = path.read_text().splitlines()
    fields = len(lines[0].split(","))
    if damage == "too few fields":
        row, needle = "1,2,3", f"expected {fields} fields, found 3"
    else:
        row, needle = "xxxxx" + ",1" * (fields - 1), "column 'iteration': expected a number"
    lines.insert(2, row)
    path.write_text("\n".join(lines) + "\n")
    _assert_refused(sl("visualize", run), f"{path}:3", needle)


def test_metrics_rows_out_of_order_refused(copy_run):
    run = copy_run("full")
    path = run / "metrics.csv"
    lines = path.read_text().splitlines()
    lines[2], lines[3] = lines[3], lines[2]
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(RunDirError, match=r"metrics.csv:3: .*iteration 3 where 2"):
        read_metrics_file(path)


# -- item 16: visualize --out DIR ------------------------------------------------------------
def test_visualize_out_existing_folder_writes_inside_it(copy_run, sl, tmp_path):
    run = copy_run("full")
    folder = tmp_path / "pictures"
    folder.mkdir()
    status, out, err = sl("visualize", run, "--out", folder)
    assert status == 0, err
    assert sorted(p.name for p in folder.iterdir()) == ["curves.png", "filters.png"]
    assert not (tmp_path / "pictures.png").exists()
    assert not (tmp_path / "pictures_curves.png").exists()
