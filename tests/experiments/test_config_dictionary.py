"""The dictionary kind: config keys reach OnlineDictionaryLearning under their own names."""

from __future__ import annotations

import pytest

from sparselearn.experiments import ConfigError, load_config
from sparselearn.experiments.models import build_estimator


def _config(write_yaml, model: str, trainer: str = ""):
    text = f"model:\n  kind: dictionary\n{model}"
    if trainer:
        text += f"trainer:\n{trainer}"
    return load_config(write_yaml(text))


def test_alpha_and_inner_iter_reach_the_estimator(write_yaml):
    config = _config(write_yaml, "  alpha: 0.3\n  forget_rate: 2.5\n  n_components: 40\n",
                     "  inner_iter: 7\n  batch_size: 300\n  max_iter: 11\n")
    model = build_estimator(config)
    assert type(model).__name__ == "OnlineDictionaryLearning"
    assert model.alpha == 0.3
    assert model.forget_rate == 2.5
    assert model.inner_iter == 7
    assert model.batch_size == 300
    assert model.max_iter == 11
    assert model.n_components == 40


def test_defaults_come_from_the_estimator(write_yaml):
    model = build_estimator(_config(write_yaml, ""))
    from sparselearn.trainers import OnlineDictionaryLearning

    reference = OnlineDictionaryLearning()
    assert model.alpha == reference.alpha
    assert model.forget_rate == reference.forget_rate


@pytest.mark.parametrize("line, key", [("  epsilon: 0.01\n", "model.epsilon"),
                                       ("  gamma: 0.01\n", "model.gamma"),
                                       ("  constraint: unit_norm\n", "model.constraint")])
def test_smoothed_penalty_keys_are_rejected(write_yaml, line, key):
    with pytest.raises(ConfigError, match=rf"{key}: not used by model.kind 'dictionary'"):
        _config(write_yaml, line)


def test_forget_rate_is_only_for_dictionary(write_yaml):
    path = write_yaml("model:\n  kind: rica\n  forget_rate: 1.0\n")
    with pytest.raises(ConfigError, match="model.forget_rate: not used by model.kind 'rica'"):
        load_config(path)


def test_negative_forget_rate_is_rejected(write_yaml):
    with pytest.raises(ConfigError, match="model.forget_rate"):
        _config(write_yaml, "  forget_rate: -1\n")
