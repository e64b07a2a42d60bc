"""``benchmarks/run.py`` rewrites RESULTS.md but carries its hand-kept "Design measurements"
section over (the measurements moved out of the docstrings live there)."""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.fixture
def run_module(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCH))  # run.render imports bench_common
    spec = importlib.util.spec_from_file_location("bench_run_for_test", BENCH / "run.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop("bench_common", None)


def _section(title: str, body: str) -> SimpleNamespace:
    return SimpleNamespace(title=title, seconds=1.0, skipped=[], body=body, targets=[], notes="")


OLD = """# Benchmark results

old header

## Gradients

old gradient table

## Design measurements

Kept by hand.

### s-step solver

| solver | wall (s) |
|---|---|
| FISTA | 1.09 |
"""


def test_render_carries_the_design_measurements_over(run_module, tmp_path):
    output = tmp_path / "RESULTS.md"
    output.write_text(OLD, encoding="utf-8")
    args = argparse.Namespace(output=str(output))
    text = run_module.render([_section("Gradients", "new gradient table")], ["- date: now"],
                             3.0, args)
    assert "new gradient table" in text and "old gradient table" not in text
    assert text.endswith("## Design measurements\n\nKept by hand.\n\n### s-step solver\n\n"
                         "| solver | wall (s) |\n|---|---|\n| FISTA | 1.09 |\n")
    assert text.count("## Design measurements") == 1


def test_kept_section_stops_at_the_next_section_and_is_empty_without_one(run_module,
                                                                          tmp_path):
    path = tmp_path / "R.md"
    path.write_text(OLD + "\n## Later\n\nnot kept\n", encoding="utf-8")
    kept = run_module.kept_section(path)
    assert kept.startswith("## Design measurements\n") and "not kept" not in kept
    assert kept.endswith("| FISTA | 1.09 |")
    path.write_text("# Benchmark results\n\n## Gradients\n", encoding="utf-8")
    assert run_module.kept_section(path) == ""
    assert run_module.kept_section(tmp_path / "missing.md") == ""
    text = run_module.render([], [], 0.0, argparse.Namespace(output=str(path)))
    assert "## Design measurements" not in text
