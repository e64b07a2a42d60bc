"""Sweep files: expansion, run names, and rejection of bad files before anything runs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from sweep_helpers import write_sweep

from sparselearn.experiments.errors import ConfigError
from sparselearn.experiments.sweeps import load_sweep
from sparselearn.experiments.sweeps.names import run_name, short_keys

REPO = Path(__file__).resolve().parents[2]


def _sweep_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(REPO / "scripts" / "sweep.py"), *args], cwd=cwd,
                          capture_output=True, text=True, timeout=120,
                          env={"MPLBACKEND": "Agg", "PATH": "/usr/bin:/bin"})


def test_grid_points_and_seeds_expand_in_order(tmp_path):
    path = write_sweep(tmp_path, {"grid": {"model.alpha": [0.1, 0.3],
                                           "model.n_components": [8, 12]},
                                  "points": [{"model.alpha": 1.0}], "seeds": 2,
                                  "overrides": {"trainer.max_iter": 1}})
    plan = load_sweep(path)
    assert len(plan.runs) == (4 + 1) * 2 and plan.n_points == 5
    assert plan.varied == ["model.alpha", "model.n_components"]
    first, last = plan.runs[0], plan.runs[-1]
    assert first.point == {"model.alpha": 0.1, "model.n_components": 8} and first.seed == 0
    assert plan.runs[1].seed == 1 and plan.runs[2].point["model.n_components"] == 12
    assert last.point == {"model.alpha": 1.0} and last.config["model"]["n_components"] == 12
    assert all(run.config["trainer"]["max_iter"] == 1 for run in plan.runs)
    assert first.name == "alpha=0.1,n_components=8,seed=0"
    assert len({run.name for run in plan.runs}) == len(plan.runs)


def test_names_are_safe_stable_and_unique():
    keys = ["model.epsilon", "data.whitening.epsilon", "data.source"]
    short = short_keys(keys)
    assert short == {"model.epsilon": "model.epsilon",
                     "data.whitening.epsilon": "whitening.epsilon", "data.source": "source"}
    a = run_name({"data.source": "/a b/c.npy", "model.epsilon": 1e-5}, 3, short)
    b = run_name({"model.epsilon": 1e-5, "data.source": "/a b/c.npy"}, 3, short)
    assert a == b and "/" not in a and " " not in a
    assert a == "source=a_b_c.npy,model.epsilon=1e-05,seed=3"
    long = run_name({"data.source": "x" * 300}, 0, short)
    assert len(long) <= 120


@pytest.mark.parametrize(("sweep", "message"), [
    ({"grid": {"model.lamda": [0.1]}}, "unknown key 'model.lamda'; did you mean "
                                       "'model.alpha'"),
    ({"points": [{"model.alpha": 0.1}, {"trainer.max_itr": 3}]},
     "points[2].trainer.max_itr: unknown key 'trainer.max_itr'"),
    ({"grid": {"model": [1]}}, "'model' is a section"),
    ({"grid": {"model.alpha": 0.1}}, "grid.model.alpha: expected a non-empty list"),
    ({"grid": {"model.alpha": ["abc"]}}, "model.alpha: expected a number"),
    ({"grid": {"model.gamma": [0.1]}}, "model.gamma: not used by model.kind 'rica'"),
    ({"grdi": {"model.alpha": [0.1]}}, "unknown sweep key 'grdi'; did you mean 'grid'"),
    ({"seeds": 0}, "seeds: expected a count >= 1"),
    ({"overrides": {"model.alpha": 1}, "grid": {"model.alpha": [0.1]}},
     "overrides.model.alpha: the key is also varied"),
])
def test_bad_sweep_files_name_the_key(tmp_path, sweep, message):
    path = write_sweep(tmp_path, sweep)
    with pytest.raises(ConfigError) as info:
        load_sweep(path)
    assert message in str(info.value)
    assert str(path) in str(info.value)


def test_error_points_at_the_line_of_the_key(tmp_path):
    write_sweep(tmp_path, {})
    path = tmp_path / "lines.yaml"
    path.write_text("base: base.yaml\ngrid:\n  model.alpha: [0.1]\n  model.n_component: [4]\n")
    with pytest.raises(ConfigError, match=r"lines\.yaml:4: grid\.model\.n_component: unknown"):
        load_sweep(path)


def test_cli_override_may_not_touch_a_varied_key(tmp_path):
    path = write_sweep(tmp_path, {"grid": {"model.alpha": [0.1, 0.2]}})
    with pytest.raises(ConfigError, match="'model.alpha' is varied by the sweep"):
        load_sweep(path, ["model.alpha=0.5"])
    assert load_sweep(path, ["trainer.max_iter=1"]).runs[0].config["trainer"]["max_iter"] == 1


def test_cli_rejects_bad_sweep_before_any_run(tmp_path):
    path = write_sweep(tmp_path, {"grid": {"model.alpha": [0.1, 0.2]},
                                  "points": [{"model.lamda": 0.5}]})
    out = tmp_path / "out"
    proc = _sweep_cli(str(path), "--out", str(out), cwd=tmp_path)
    assert proc.returncode == 2
    assert "unknown key 'model.lamda'" in proc.stderr and "Traceback" not in proc.stderr
    assert not out.exists()


def test_cli_dry_run_lists_runs_and_starts_nothing(tmp_path):
    path = write_sweep(tmp_path, {"grid": {"model.alpha": [0.1, 0.2]}, "seeds": 2})
    out = tmp_path / "out"
    proc = _sweep_cli(str(path), "trainer.max_iter=1", "--dry-run", "--out", str(out),
                      cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    lines = [line for line in proc.stdout.splitlines() if "runs/" in line]
    assert len(lines) == 4 and "alpha=0.2,seed=1" in lines[-1]
    assert "4 runs (2 points x 2 seeds)" in proc.stdout
    assert not out.exists()


def test_plan_round_trips_through_json(tmp_path):
    from sparselearn.experiments.sweeps import SweepPlan

    plan = load_sweep(write_sweep(tmp_path, {"grid": {"model.alpha": [0.1, 0.2]}}))
    again = SweepPlan.from_dict(json.loads(json.dumps(plan.to_dict())))
    assert again == plan


def test_deprecated_model_lambda_in_a_sweep_warns_once_and_maps_to_alpha(tmp_path):
    path = write_sweep(tmp_path, {"grid": {"model.lambda": [0.1, 0.3]},
                                  "points": [{"model.lambda": 1.0}],
                                  "overrides": {"trainer.max_iter": 1}})
    with pytest.warns(DeprecationWarning) as record:
        plan = load_sweep(path)
    messages = [str(w.message) for w in record if issubclass(w.category, DeprecationWarning)]
    assert len(messages) == 2                       # the grid key and the point's key, once each
    assert all(str(path) in m and "use model.alpha" in m for m in messages)
    assert "grid.model.lambda" in messages[0] and "points[1].model.lambda" in messages[1]
    assert plan.varied == ["model.alpha"]
    assert [run.config["model"]["alpha"] for run in plan.runs] == [0.1, 0.3, 1.0]
    assert [run.name for run in plan.runs] == ["alpha=0.1,seed=0", "alpha=0.3,seed=0",
                                               "alpha=1.0,seed=0"]
    assert all("model.alpha=" in " ".join(run.overrides) for run in plan.runs)


def test_deprecated_key_in_a_cli_override_is_a_varied_key_too(tmp_path):
    path = write_sweep(tmp_path, {"grid": {"model.alpha": [0.1, 0.2]}})
    with pytest.warns(DeprecationWarning), \
            pytest.raises(ConfigError, match="'model.alpha' is varied by the sweep"):
        load_sweep(path, ["model.lambda=0.5"])


@pytest.mark.parametrize("sweep", [
    {"grid": {"model.lambda": [0.1], "model.alpha": [0.2]}},
    {"points": [{"model.alpha": 0.2, "model.lambda": 0.1}]},
    {"overrides": {"model.lambda": 0.1, "model.alpha": 0.2}},
])
def test_lambda_and_alpha_together_in_a_sweep_are_an_error_naming_both(tmp_path, sweep):
    path = write_sweep(tmp_path, sweep)
    with pytest.warns(DeprecationWarning), pytest.raises(ConfigError) as info:
        load_sweep(path)
    message = str(info.value)
    assert str(path) in message and "model.lambda" in message and "model.alpha" in message
