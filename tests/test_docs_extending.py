"""docs/extending.md: each worked example runs as written and its assertions hold."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from sparselearn.objectives import PENALTIES

DOC = Path(__file__).resolve().parents[1] / "docs" / "extending.md"


def _python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)


def test_the_guide_has_both_worked_examples():
    text = DOC.read_text()
    assert "## Add a penalty" in text and "## Add a trainer" in text
    assert len(_python_blocks()) == 2


@pytest.mark.parametrize("index", [0, 1], ids=["add a penalty", "add a trainer"])
def test_worked_example_runs(index):
    namespace: dict = {"__name__": f"extending_example_{index}"}
    try:
        exec(compile(_python_blocks()[index], f"{DOC}:block{index + 1}", "exec"), namespace)
    finally:
        PENALTIES.pop("soft_power", None)
