"""The YAML loader's cost is bounded by the file's size; duplicate keys are errors (issue 14,
items 2 and 6)."""

from __future__ import annotations

import time

import pytest

from sparselearn.cli import main
from sparselearn.experiments.config import MAX_ALIAS_NODES, load_config, read_yaml
from sparselearn.experiments.errors import ConfigError


def _laughs(levels: int, tail: str = "model: {kind: ica}\n") -> str:
    """Nested mapping aliases: 9 aliases per level, 9**levels nodes once expanded."""
    lines = ["a0: &a0 {x: 1, y: 2, z: 3, w: 4, v: 5, u: 6, t: 7, s: 8, r: 9}"]
    for i in range(1, levels):
        lines.append(f"a{i}: &a{i} {{" + ", ".join(f"k{j}: *a{i - 1}" for j in range(9)) + "}")
    return "\n".join(lines) + "\n" + tail


@pytest.fixture
def sl(capsys):
    def run(*args: object) -> tuple[int, str, str]:
        capsys.readouterr()
        status = main([str(arg) for arg in args])
        out, err = capsys.readouterr()
        return status, out, err
    return run


@pytest.mark.parametrize("levels", [7, 9])
def test_nested_mapping_aliases_are_refused_at_once(write_yaml, levels):
    path = write_yaml(_laughs(levels))
    assert path.stat().st_size < 1000
    start = time.perf_counter()
    with pytest.raises(ConfigError, match=rf"{path.name}:2: YAML aliases expand to \d+ nodes "
                                          r"from \d+ written \(the first is \*a0 at line 2\)"):
        read_yaml(path)
    assert time.perf_counter() - start < 0.5


def test_billion_laughs_through_train_and_sweep_dry_run(write_yaml, sl):
    config = write_yaml(_laughs(9))
    status, _, err = sl("train", config, "--print-config")
    assert status == 2 and "YAML aliases expand" in err and "Traceback" not in err
    sweep = write_yaml(_laughs(9, f"base: {config}\ngrid: {{seed: [0, 1]}}\n"), "sweep.yaml")
    start = time.perf_counter()
    status, _, err = sl("sweep", sweep, "--dry-run")
    assert status == 2 and f"{sweep}:2: YAML aliases expand" in err, err
    assert time.perf_counter() - start < 2


def test_a_few_aliases_are_expanded(write_yaml):
    path = write_yaml("model: {kind: ica}\ntrainer:\n  max_iter: &n 7\n  checkpoint_every: *n\n"
                      "data: &d {count: 600}\n")
    config = load_config(path)
    assert config["trainer"]["max_iter"] == config["trainer"]["checkpoint_every"] == 7
    assert config["data"]["count"] == 600


def test_aliases_up_to_the_limit_are_accepted(write_yaml):
    """A long list repeated by aliases stays within the limit: not refused."""
    items = ", ".join(str(i) for i in range(MAX_ALIAS_NODES // 4))
    raw, _ = read_yaml(write_yaml(f"a: &a [{items}]\nb: *a\nc: *a\n"))
    assert raw["b"] == raw["c"] == raw["a"]


def test_recursive_alias_refused(write_yaml):
    path = write_yaml("a: &a [1, *a]\n")
    with pytest.raises(ConfigError, match=rf"{path.name}:1: recursive YAML alias"):
        read_yaml(path)


def test_deep_nesting_is_a_config_error(write_yaml):
    path = write_yaml("a: " + "[" * 5000 + "]" * 5000 + "\n")
    with pytest.raises(ConfigError, match=rf"{path.name}"):
        read_yaml(path)


def test_duplicate_key_in_a_flow_mapping(write_yaml, sl):
    path = write_yaml("model: {kind: ica, kind: rica}\n")
    with pytest.raises(ConfigError, match=r"duplicate key 'model.kind': first at line 1 column "
                                          r"9, again at line 1 column 20"):
        read_yaml(path)
    status, out, err = sl("train", path, "--print-config")
    assert status == 2 and f"{path}:1: duplicate key 'model.kind'" in err and out == ""


def test_duplicate_section_names_both_lines(write_yaml):
    path = write_yaml("model:\n  kind: ica\nseed: 1\nmodel:\n  kind: rica\n")
    with pytest.raises(ConfigError, match=rf"{path.name}:4: duplicate key 'model': first at line "
                                          r"1, again at line 4"):
        read_yaml(path)


def test_duplicate_key_in_a_sweep_file(write_yaml, sl, configs_dir):
    sweep = write_yaml(f"base: {configs_dir / 'ica.yaml'}\ngrid:\n  seed: [0, 1]\n"
                       f"  seed: [2]\n", "sweep.yaml")
    status, _, err = sl("sweep", sweep, "--dry-run")
    assert status == 2 and f"{sweep}:4: duplicate key 'grid.seed'" in err, err


def test_merge_keys_are_not_duplicates(write_yaml):
    raw, _ = read_yaml(write_yaml("base: &b {x: 1, y: 2}\nother:\n  <<: *b\n  y: 3\n"))
    assert raw["other"] == {"x": 1, "y": 3}


def test_line_numbers_still_reach_messages(write_yaml):
    path = write_yaml("model:\n  kind: ica\ntrainer:\n  max_iter: -4\n")
    with pytest.raises(ConfigError, match=rf"{path.name}:4: .*trainer.max_iter"):
        load_config(path)
