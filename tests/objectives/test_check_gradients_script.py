"""``sparselearn check-gradients`` (and its wrapper scripts/check_gradients.py): the report, its
exit codes and its argument errors."""

import subprocess
import sys
from pathlib import Path

import pytest

import sparselearn.objectives.check_suite as suite
from sparselearn import cli

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "check_gradients.py"


class _Command:
    """``script.main(argv)`` runs ``sparselearn check-gradients argv`` in this process."""

    @staticmethod
    def main(argv):
        return cli.main(["check-gradients", *argv])


@pytest.fixture(scope="module")
def script():
    return _Command()


def test_report_passes_and_covers_every_term_and_variable(script, capsys):
    assert script.main([]) == 0
    out = capsys.readouterr().out
    for term, wrt in [
        ("reconstruction", "A"),
        ("reconstruction", "s"),
        ("weight_decay", "A"),
        ("smoothed_l1", "s"),
        ("topographic_l1", "s"),
        ("ica_reconstruction", "W"),
        ("ica_sparsity", "W"),
        ("topographic_ica_sparsity", "W"),
        ("reconstruction.fixed_basis", "s"),
        ("reconstruction.fixed_codes", "A"),
        ("ica_reconstruction.from_data", "W"),
    ]:
        assert any(
            f" {term} " in line and f" {wrt} " in line and line.endswith("ok")
            for line in out.splitlines()
        ), (term, wrt)
    for shape in ("overcomplete", "undercomplete", "m=1"):
        assert shape in out
    assert "FAIL" not in out
    assert ", 0 failed" in out


def test_rows_hold_the_design_tolerance():
    rows = suite.run_checks("float64", seed=5)
    assert rows and all(row.worst(suite.TOLERANCES["float64"]) <= 1.0 for row in rows)
    assert max(row.fd for row in rows) <= 1e-8
    assert all(row.direct is not None for row in rows if "." in row.term)


def test_float32_report_passes(script, capsys):
    assert script.main(["--dtype", "float32", "--seed", "3"]) == 0
    assert "dtype float32, seed 3" in capsys.readouterr().out


def test_a_failing_row_gives_exit_1(script, capsys, monkeypatch):
    bad = suite.CheckRow(term="broken", wrt="A", shape="n=1", fd=1e-3, table=0.0)
    monkeypatch.setattr(suite, "run_checks", lambda dtype, seed: [bad])
    assert script.main([]) == 1
    out = capsys.readouterr().out
    assert "FAIL" in out and "1 failed" in out


def test_errors_print_a_message_not_a_traceback(script, capsys, monkeypatch):
    def boom(dtype, seed):
        raise RuntimeError("kaput")

    monkeypatch.setattr(suite, "run_checks", boom)
    assert script.main([]) == 1
    err = capsys.readouterr().err
    assert "kaput" in err and "Traceback" not in err
    assert script.main(["--debug"]) == 1
    assert "Traceback" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv", [["--dtype", "int8"], ["--seed", "-1"], ["--seed", "x"], ["--bogus"]]
)
def test_bad_arguments_exit_2_with_a_message(script, capsys, argv):
    with pytest.raises(SystemExit) as info:
        script.main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "error:" in err and "Traceback" not in err


def test_command_line():
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--seed", "1"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert "0 failed" in result.stdout
