"""``model.row_norm``: RICA/TICA's unit-norm rows in the YAML schema (in process, fast)."""

from __future__ import annotations

import pytest
import yaml

from sparselearn.experiments import ConfigError, config_from_dict, format_config, load_config
from sparselearn.experiments.models import build_estimator, estimator_kwargs


@pytest.mark.parametrize("kind", ["rica", "tica"])
def test_row_norm_defaults_to_unit_and_is_printed(kind):
    config = config_from_dict({"model": {"kind": kind, "n_components": 16}})
    assert config["model"]["row_norm"] == "unit"
    text = format_config(config)
    assert "row_norm: unit" in text
    assert config_from_dict(yaml.safe_load(text)) == config  # reloads to the same config
    assert build_estimator(config).row_norm == "unit"


@pytest.mark.parametrize("kind", ["rica", "tica"])
def test_row_norm_none_reaches_the_estimator_as_none(write_yaml, kind):
    config = load_config(write_yaml(f"model:\n  kind: {kind}\n  n_components: 16\n"
                                    f"  row_norm: none\n"))
    assert config["model"]["row_norm"] == "none"
    assert "row_norm: none" in format_config(config)
    # "none" is a string, not null
    assert config_from_dict(yaml.safe_load(format_config(config))) == config
    assert "row_norm" in estimator_kwargs(config)
    assert estimator_kwargs(config)["row_norm"] is None
    assert build_estimator(config).row_norm is None


def test_row_norm_override(write_yaml):
    config = load_config(write_yaml("model:\n  kind: rica\n"), ["model.row_norm=none"])
    assert build_estimator(config).row_norm is None


@pytest.mark.parametrize("kind", ["ica", "sparse_coding", "topographic"])
def test_row_norm_is_not_used_by_other_kinds(write_yaml, kind):
    config = config_from_dict({"model": {"kind": kind, "n_components": 16}})
    assert "row_norm" not in config["model"]
    assert "row_norm" not in format_config(config)
    with pytest.raises(ConfigError) as err:
        load_config(write_yaml(f"model:\n  kind: {kind}\n  n_components: 16\n"
                               f"  row_norm: unit\n"))
    assert f"model.row_norm: not used by model.kind '{kind}'" in str(err.value)
    assert "used by rica, tica" in str(err.value)


@pytest.mark.parametrize("value", ["l2", "None", "null", "true"])
def test_row_norm_invalid_values(write_yaml, value):
    with pytest.raises(ConfigError) as err:
        load_config(write_yaml(f"model:\n  kind: rica\n  row_norm: {value}\n"))
    assert "model.row_norm: expected one of 'unit', 'none'" in str(err.value)
