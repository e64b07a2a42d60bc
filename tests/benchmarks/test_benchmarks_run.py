"""Smoke test of ``benchmarks/run.py``: tiny sizes, our contender only, a few seconds."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_run_quick_gradients_and_profile_ours_only(tmp_path: Path) -> None:
    output = tmp_path / "RESULTS.md"
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "run.py"), "--quick", "--only", "gradients",
         "profile", "--contenders", "ours", "--output", str(output)],
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
    assert "## Profile: fixed-point ICA step" in text
    profile = text[text.index("## Profile: fixed-point ICA step"):]
    assert "| float64 | fixed_point_pass" in profile and "| float32 | fixed_point_pass" in profile
    assert "Failed" not in profile


def test_run_rejects_unknown_contender(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "run.py"), "--quick", "--contenders",
         "nonsense", "--output", str(tmp_path / "R.md")],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert done.returncode == 2
    assert "unknown contenders" in done.stderr


def test_run_rejects_unknown_ica_sizes(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "run.py"), "--ica-sizes", "huge",
         "--output", str(tmp_path / "R.md")],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert done.returncode == 2
    assert "--ica-sizes" in done.stderr and "huge" in done.stderr
    assert not (tmp_path / "R.md").exists()
