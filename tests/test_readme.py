"""The README's commands and snippets stay true to the code: every Python block compiles and
imports only names that exist, every ``sparselearn`` command names a real subcommand, and every
``train`` line's config and overrides load (the full runs are timed in the closing notes)."""

from __future__ import annotations

import ast
import importlib
import re
import shlex
from pathlib import Path

import pytest

from sparselearn import cli
from sparselearn.experiments import load_config

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"```(\w+)\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
PYTHON = [code for lang, code in BLOCKS if lang == "python"]
COMMANDS = [line.split("#")[0].strip() for lang, code in BLOCKS if lang == "bash"
            for line in code.splitlines() if line.strip().startswith("sparselearn ")]


def test_readme_opens_with_the_two_commands():
    lang, first = BLOCKS[0]
    lines = first.strip().splitlines()
    assert lang == "bash" and len(lines) == 2
    assert lines[0].startswith("pip install -e . && sparselearn train ")
    assert lines[1] == "pip install -e '.[test,distributed]' && python -m pytest"
    assert "TIME_" not in README.read_text(encoding="utf-8")  # no unfilled figure


@pytest.mark.parametrize("code", PYTHON, ids=[f"block{i}" for i in range(len(PYTHON))])
def test_python_blocks_compile_and_import_real_names(code):
    tree = ast.parse(code)
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            module = importlib.import_module(node.module)
            for alias in node.names:
                assert hasattr(module, alias.name), f"{node.module}.{alias.name}"


@pytest.mark.parametrize("line", COMMANDS)
def test_commands_parse(line, tmp_path):
    words = [w for w in shlex.split(line.split(">")[0]) if w not in ("SWEEP", "DIR", "RUN_DIR")]
    name = words[1]
    assert name in cli.COMMANDS, line
    if name != "train" or "--resume" in words or words[2].endswith(".yaml") \
            and not (README.parent / "configs" / words[2]).exists():
        return
    config = words[2]
    overrides = [w for w in words[3:] if "=" in w and not w.startswith("-")]
    load_config(cli.resolve_config(config), overrides)
