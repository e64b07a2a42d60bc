"""``sparselearn train --threads N``: BLAS threads limited with threadpoolctl around the run,
and ``blas_threads`` handed to the estimator (default 1; the environment's when it sets them)."""

from __future__ import annotations

import pytest
from threadpoolctl import threadpool_info

from sparselearn import cli
from sparselearn.experiments import load_config, runner
from sparselearn.experiments import models as models_module
from sparselearn.experiments.runner import RunResult


def _blas_threads() -> set[int]:
    return {int(info["num_threads"]) for info in threadpool_info()
            if info.get("user_api") == "blas"}


@pytest.fixture()
def clean_env(monkeypatch):
    for name in cli.BLAS_THREAD_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_default_is_one_thread(clean_env):
    assert cli.resolve_threads(None) == 1


def test_explicit_count_wins_over_environment(clean_env):
    clean_env.setenv("OMP_NUM_THREADS", "4")
    assert cli.resolve_threads(2) == 2


def test_user_environment_is_respected_by_default(clean_env):
    clean_env.setenv("OPENBLAS_NUM_THREADS", "3")
    assert cli.resolve_threads(None) == 0              # no limit: the environment decides
    assert cli.resolve_threads(None, environ={}) == 1


def test_zero_leaves_the_blas_default():
    before = _blas_threads()
    with cli.limit_blas_threads(0):
        assert _blas_threads() == before


def test_limit_blas_threads_limits_and_restores():
    before = _blas_threads()
    for threads in (1, 2):
        with cli.limit_blas_threads(threads):
            assert _blas_threads() == {threads}
        assert _blas_threads() == before


def test_help_lists_the_option(capsys):
    with pytest.raises(SystemExit):
        cli.main(["train", "--help"])
    assert "--threads N" in capsys.readouterr().out


def test_parse_threads():
    args = cli.build_parser().parse_args(["train", "configs/ica.yaml", "--threads", "2"])
    assert args.threads == 2


@pytest.fixture()
def fake_training(monkeypatch):
    """Replace run_training; record what the CLI passes and the BLAS threads during the run."""
    seen: dict = {}

    def fake(config, out_dir=None, **kwargs):
        seen.update(kwargs, inside=_blas_threads())
        return RunResult(str(out_dir), "finished", 0, float("nan"))

    import sparselearn.experiments as experiments

    monkeypatch.setattr(experiments, "run_training", fake)
    return seen


@pytest.mark.parametrize("threads, limit, inside", [("1", 1, {1}), ("2", 2, {2}),
                                                    ("0", None, None)])
def test_cli_limits_the_run_and_passes_blas_threads(fake_training, clean_env, threads, limit,
                                                    inside, tmp_path):
    before = _blas_threads()
    assert cli.main(["train", "ica", "--threads", threads, "--quiet", "--out",
                     str(tmp_path / "run")]) == 0
    assert fake_training["blas_threads"] == limit
    assert fake_training["inside"] == (before if inside is None else inside)
    assert _blas_threads() == before                   # restored after the run


def test_cli_default_and_environment(fake_training, clean_env, tmp_path):
    assert cli.main(["train", "ica", "--quiet", "--out", str(tmp_path / "a")]) == 0
    assert fake_training["blas_threads"] == 1 and fake_training["inside"] == {1}
    clean_env.setenv("OMP_NUM_THREADS", "1")
    assert cli.main(["train", "ica", "--quiet", "--out", str(tmp_path / "b")]) == 0
    assert fake_training["blas_threads"] is None       # the environment's count stands


def test_build_estimator_passes_blas_threads_when_accepted(monkeypatch):
    class WithThreads:
        def __init__(self, random_state=None, blas_threads=1):
            self.blas_threads = blas_threads

    class WithoutThreads:
        def __init__(self, random_state=None):
            pass

    config = load_config(cli.resolve_config("ica"))
    for cls in (WithThreads, WithoutThreads):
        monkeypatch.setattr(models_module, "estimator_class", lambda kind, cls=cls: cls)
        model = models_module.build_estimator(config, blas_threads=3)
        assert getattr(model, "blas_threads", "absent") == (3 if cls is WithThreads else "absent")
        assert getattr(models_module.build_estimator(config, blas_threads=None),
                       "blas_threads", None) is None


def test_estimator_built_by_the_cli_gets_blas_threads(monkeypatch, clean_env, tmp_path):
    """A real (tiny) run: the CLI's estimator gets ``blas_threads`` and fits under it (seen
    from a callback, i.e. inside the estimator's own limit)."""
    from sparselearn.trainers import Callback

    seen = []

    class Look(Callback):
        def on_iteration_end(self, state):
            seen.append(_blas_threads())

    built = []
    real_build = runner.build_estimator

    def spy(*args, **kwargs):
        kwargs["callbacks"] = [*kwargs.get("callbacks", args[1] if len(args) > 1 else ()),
                               Look()]
        model = real_build(args[0], **{k: v for k, v in kwargs.items()})
        built.append(model)
        return model

    monkeypatch.setattr(runner, "build_estimator", spy)
    assert cli.main(["train", "ica", "--threads", "2", "trainer.max_iter=2", "data.count=2000",
                     "--quiet", "--out", str(tmp_path / "run")]) == 0
    (model,) = built
    assert model.get_params()["blas_threads"] == 2
    assert seen and set(map(frozenset, seen)) == {frozenset({2})}
