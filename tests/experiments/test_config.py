"""Config schema, validation messages, overrides and resolution (in process, fast)."""

from __future__ import annotations

import pytest
import yaml

from sparselearn.experiments import (
    ConfigError,
    DataError,
    config_from_dict,
    format_config,
    load_config,
    parse_override,
)
from sparselearn.experiments.schema import SCHEMA, Field, iter_fields


def test_every_leaf_is_documented():
    for path, field in iter_fields():
        assert isinstance(field, Field) and field.doc, path
    assert set(SCHEMA) == {"seed", "data", "model", "trainer", "output"}


def test_defaults_are_filled_and_visible(write_yaml):
    config = load_config(write_yaml("model:\n  kind: rica\n"))
    assert config["data"]["patch_size"] == [8, 8]
    assert config["data"]["whitening"]["method"] == "zca"
    # estimator defaults made explicit
    assert config["model"]["alpha"] is not None
    assert config["trainer"]["max_iter"] is not None
    text = format_config(config)
    assert yaml.safe_load(text) == config
    assert "# weight of the sparsity term" in text


def test_unknown_key_suggests_near_miss(write_yaml):
    path = write_yaml("model:\n  kind: ica\n  lamda: 0.1\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    message = str(err.value)
    assert str(path) in message and ":3" in message
    assert "model.lamda" in message and "did you mean 'model.alpha'" in message


def test_wrong_type_names_path_expected_found(write_yaml):
    with pytest.raises(ConfigError) as err:
        load_config(write_yaml("model:\n  kind: ica\ntrainer:\n  max_iter: many\n"))
    message = str(err.value)
    assert "trainer.max_iter" in message and "integer" in message and "'many'" in message


@pytest.mark.parametrize("text, fragment", [
    ("model: {kind: ica, n_components: 0}", "model.n_components: expected an integer >= 1"),
    ("model: {kind: svm}", "model.kind: expected one of"),
    ("data: {count: -5}\nmodel: {kind: ica}", "data.count"),
    ("model: {kind: topographic, n_components: 100, grid: [10, 11]}", "rows*cols"),
    ("model: {kind: topographic, n_components: 120}", "not a perfect square"),
    ("model: {kind: tica, n_components: 16, pool: 5}", "model.pool"),
    ("model: {kind: ica, n_components: 100}", "at most 64"),
    ("model: {kind: ica, gamma: 0.1}", "not used by model.kind 'ica'"),
    ("data: {whitening: {method: zca, n_components: 10}}\nmodel: {kind: ica}", "only used"),
    ("data: [1, 2]\nmodel: {kind: ica}", "data: expected a mapping"),
    ("data: {}", "model.kind: required"),
    ("model: {kind: ica}\noutput: {sort: beauty}", "output.sort: expected one of"),
])
def test_invalid_values_and_combinations(write_yaml, text, fragment):
    with pytest.raises(ConfigError, match=None) as err:
        load_config(write_yaml(text + "\n"))
    assert fragment in str(err.value)


def test_malformed_yaml_shows_line(write_yaml):
    path = write_yaml("model:\n  kind: ica\ndata:\n  count: [1, 2\n  colour: false\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert "malformed YAML" in str(err.value) and f"{path}:" in str(err.value)
    assert "line 5" in str(err.value) or "line 4" in str(err.value)


def test_overrides_are_typed_by_schema(write_yaml):
    path = write_yaml("model:\n  kind: rica\n")
    config = load_config(path, ["trainer.max_iter=7", "model.alpha=1e-3", "seed=3",
                                "data.patch_size=[6, 6]", "data.colour=true"])
    assert config["trainer"]["max_iter"] == 7
    assert config["model"]["alpha"] == pytest.approx(1e-3)     # "1e-3" is a YAML string
    assert config["seed"] == 3 and config["data"]["patch_size"] == [6, 6]
    assert config["data"]["colour"] is True


@pytest.mark.parametrize("override, fragment", [
    ("trainer.maxiter=5", "did you mean 'trainer.max_iter'"),
    ("trainer.max_iter", "expected KEY=VALUE"),
    ("trainer=5", "is a section"),
    ("model.alpha=[1", "cannot parse value"),
    ("trainer.max_iter=1.5", "trainer.max_iter: expected an integer"),
])
def test_bad_overrides(write_yaml, override, fragment):
    with pytest.raises(ConfigError) as err:
        load_config(write_yaml("model:\n  kind: rica\n"), [override])
    assert f"override '{override}'" in str(err.value) and fragment in str(err.value)
    if "=" in override:
        assert parse_override  # parse_override is public


def test_missing_data_file_is_data_error(write_yaml, tmp_path):
    with pytest.raises(DataError) as err:
        load_config(write_yaml("data: {source: nowhere/IMAGES.mat}\nmodel: {kind: ica}\n"))
    assert "data.source" in str(err.value) and "IMAGES.mat" in str(err.value)


def test_resolution_is_idempotent():
    config = config_from_dict({"model": {"kind": "topographic", "n_components": 16}})
    assert config["model"]["grid"] == [4, 4]
    assert config_from_dict(config) == config
