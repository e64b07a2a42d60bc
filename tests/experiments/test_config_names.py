"""One name per role in the YAML: ``model.alpha`` (``model.lambda`` a deprecated alias) and the
topographic kinds sized by ``model.grid``."""

from __future__ import annotations

import warnings

import pytest
import yaml

from sparselearn.experiments import ConfigError, config_from_dict, load_config
from sparselearn.experiments.models import build_estimator
from sparselearn.experiments.schema import ConfigDeprecationWarning

ALPHA_KINDS = ["rica", "tica", "sparse_coding", "topographic", "dictionary"]


@pytest.mark.parametrize("kind", ALPHA_KINDS)
def test_model_lambda_warns_and_maps_to_alpha(write_yaml, kind):
    path = write_yaml(f"model:\n  kind: {kind}\n  lambda: 0.25\n")
    with pytest.warns(DeprecationWarning) as record:
        config = load_config(path)
    messages = [str(w.message) for w in record if issubclass(w.category, DeprecationWarning)]
    assert len(messages) == 1
    assert f"{path}:3" in messages[0]                    # the file and line of the old key
    assert "model.lambda" in messages[0] and "use model.alpha" in messages[0]
    assert issubclass(record[0].category, ConfigDeprecationWarning)
    assert config["model"]["alpha"] == 0.25 and "lambda" not in config["model"]
    assert build_estimator(config).alpha == 0.25
    # the resolved config speaks the new name only: it reloads without a warning
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert config_from_dict(config) == config


def test_override_model_lambda_warns_and_maps_to_alpha(write_yaml):
    path = write_yaml("model:\n  kind: rica\n  alpha: 0.1\n")
    with pytest.warns(ConfigDeprecationWarning, match=r"override 'model.lambda=0.5'.*use "
                                                      r"model\.alpha"):
        config = load_config(path, ["model.lambda=0.5"])
    assert config["model"]["alpha"] == 0.5               # an override replaces the file's value


def test_override_of_alpha_replaces_a_deprecated_lambda(write_yaml):
    path = write_yaml("model:\n  kind: rica\n  lambda: 0.1\n")
    with pytest.warns(ConfigDeprecationWarning):
        config = load_config(path, ["model.alpha=0.5"])
    assert config["model"]["alpha"] == 0.5


def test_lambda_and_alpha_together_are_an_error_naming_both(write_yaml):
    path = write_yaml("model:\n  kind: rica\n  lambda: 0.1\n  alpha: 0.2\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    message = str(err.value)
    assert f"{path}:3" in message and f"{path}:4" in message
    assert "model.lambda" in message and "model.alpha" in message
    with pytest.raises(ConfigError, match=r"model\.lambda and model\.alpha are both given"):
        config_from_dict({"model": {"kind": "dictionary", "alpha": 1.0, "lambda": 1.0}})


def test_alpha_is_rejected_where_unused(write_yaml):
    for key in ("alpha", "lambda"):
        path = write_yaml(f"model:\n  kind: ica\n  {key}: 0.1\n")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConfigDeprecationWarning)
            with pytest.raises(ConfigError, match="model.alpha: not used by model.kind 'ica'"):
                load_config(path)


def test_shipped_configs_use_no_deprecated_key(configs_dir):
    from sparselearn.experiments.sweeps import load_sweep

    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        for path in sorted(configs_dir.glob("*.yaml")):
            if "base" in (yaml.safe_load(path.read_text()) or {}):
                plan = load_sweep(path)
                assert "model.alpha" in plan.varied
            else:
                load_config(path)


# -- topographic kinds: the torus sets the size ------------------------------------------------
@pytest.mark.parametrize("kind", ["topographic", "tica"])
def test_grid_alone_sets_n_components(kind):
    config = config_from_dict({"model": {"kind": kind, "grid": [5, 6]}})
    assert config["model"]["n_components"] == 30 and config["model"]["grid"] == [5, 6]
    model = build_estimator(config)
    assert "n_components" not in model.get_params() and model.grid == (5, 6)
    assert config_from_dict(config) == config


@pytest.mark.parametrize("kind", ["topographic", "tica"])
def test_n_components_and_grid_that_disagree_are_an_error_naming_both(write_yaml, kind):
    path = write_yaml(f"model:\n  kind: {kind}\n  n_components: 100\n  grid: [10, 11]\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    message = str(err.value)
    assert "model.n_components" in message and "model.grid" in message
    assert "100" in message and "10x11" in message and "rows*cols" in message
    assert f"{path}:3" in message and f"{path}:4" in message


@pytest.mark.parametrize("kind", ["topographic", "tica"])
def test_override_of_n_components_must_agree_with_the_grid(configs_dir, kind):
    name = "topographic.yaml" if kind == "topographic" else "tica.yaml"
    with pytest.raises(ConfigError, match="model.n_components and model.grid disagree"):
        load_config(configs_dir / name, ["model.n_components=64"])
    config = load_config(configs_dir / name, ["model.n_components=121"])
    assert config["model"]["grid"] == [11, 11] and config["model"]["n_components"] == 121


def test_n_components_alone_gives_a_square_torus():
    config = config_from_dict({"model": {"kind": "tica", "n_components": 49}})
    assert config["model"]["grid"] == [7, 7]
    config = config_from_dict({"model": {"kind": "topographic"}})
    assert config["model"]["grid"] == [8, 8] and config["model"]["n_components"] == 64


def test_a_written_topographic_config_takes_a_grid_override(tmp_path):
    """The resolved config leaves n_components out for torus kinds: a printed or saved config
    still accepts ``model.grid=...`` (and a sweep over the grid works from it)."""
    from sparselearn.experiments import config_from_dict, format_config, load_config

    for kind in ("topographic", "tica"):
        written = tmp_path / f"{kind}.yaml"
        written.write_text(format_config(config_from_dict({"model": {"kind": kind}})))
        config = load_config(written, ["model.grid=[5, 5]"])
        assert config["model"]["grid"] == [5, 5] and config["model"]["n_components"] == 25


def test_both_names_as_overrides_is_an_error():
    from sparselearn.experiments import ConfigError, config_from_dict

    with pytest.raises(ConfigError, match=r"'model\.lambda=0\.5' and 'model\.alpha=0\.2' set the "
                                          r"same key"):
        config_from_dict({"model": {"kind": "rica"}}, ["model.lambda=0.5", "model.alpha=0.2"])
