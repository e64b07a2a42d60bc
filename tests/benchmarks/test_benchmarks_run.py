"""Smoke test of ``benchmarks/run.py``: tiny sizes, our contender only, a few seconds."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_run_quick_gradients_ours_only(tmp_path: Path) -> None:
    output = tmp_path / "RESULTS.md"
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "run.py"), "--quick", "--only", "gradients",
         "--contenders", "ours", "--output", str(output)],
        capture_output=True, text=True, timeout=120, check=False, cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    text = output.read_text(encoding="utf-8")
    assert "# Benchmark results" in text
    assert "threads per contender: 1" in text
    assert "## Gradients" in text
    assert "ours (direct)" in text and "ours (precomputed)" in text
    assert "ours (precomputed, fixed codes)" in text and "prototype" not in text
    assert "not timed: differs" not in text


def test_run_rejects_unknown_contender(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "run.py"), "--quick", "--contenders",
         "nonsense", "--output", str(tmp_path / "R.md")],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert done.returncode == 2
    assert "unknown contenders" in done.stderr
