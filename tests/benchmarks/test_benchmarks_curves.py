"""The comparison sections at tiny sizes: one dtype per row, curves drawn, verdicts read off
the curves (issue 15, point 4). Our contender and scikit-learn only, so that the optional
peers (SPAMS, Picard) are not needed."""

from __future__ import annotations

import importlib
import re
import sys
from pathlib import Path

import numpy as np
import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def bench(monkeypatch):
    """Import benchmark modules by name (``bench("bench_ica")``), removed again afterwards."""
    monkeypatch.syspath_prepend(str(BENCH))
    loaded: list[str] = []

    def load(name: str):
        loaded.append(name)
        return importlib.import_module(name)

    yield load
    for name in [*loaded, "bench_common", "bench_plots"]:
        sys.modules.pop(name, None)


def _tables_by_heading(body: str) -> dict[str, list[list[str]]]:
    """Rows (cells) of every markdown table, grouped by the nearest ``###`` heading."""
    out: dict[str, list[list[str]]] = {}
    heading = ""
    header: list[str] | None = None
    for line in body.splitlines():
        if line.startswith("### "):
            heading, header = line[4:].strip(), None
        elif line.startswith("|") and not line.startswith("|---"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            if header is None:
                header = cells
            else:
                out.setdefault(heading, []).append(dict(zip(header, cells, strict=False)))
        elif not line.startswith("|"):
            header = None
    return out


def _assert_one_dtype_per_group(body: str) -> int:
    groups = _tables_by_heading(body)
    rows = 0
    for heading in ("float64", "float32"):
        assert groups.get(heading), f"no {heading} rows"
        for row in groups[heading]:
            assert row["dtype"] == heading, row
            rows += 1
    return rows


def _assert_pictures(body: str, folder: Path) -> list[str]:
    links = re.findall(r"!\[[^\]]*\]\(images/([^)]+\.png)\)", body)
    assert links
    for name in links:
        assert (folder / name).read_bytes()[:8] == PNG
    return links


def test_ica_section_rows_have_one_dtype_and_curves_are_written(bench, tmp_path, monkeypatch):
    ica = bench("bench_ica")
    common = bench("bench_common")
    monkeypatch.setattr(ica, "_grid", lambda settings: [ica.Case("synthetic", 4, 1500),
                                                        ica.Case("patches", 2, 1500)])
    settings = common.Settings(quick=True, contenders=("ours", "sklearn"),
                               images_dir=str(tmp_path / "images"))
    section = ica.run(settings)
    assert _assert_one_dtype_per_group(section.body) >= 8  # 2 tables × 2 kinds × 2 dtypes
    links = _assert_pictures(section.body, tmp_path / "images")
    assert sorted(links) == sorted(f"ica_{k}_{d}.png" for k in ("synthetic", "patches")
                                   for d in ("float64", "float32"))
    # every verdict is a ratio of two measured times, or says that ours never got there
    fastica = [t for t in section.targets if "FastICA" in t.name]
    assert len(fastica) == 4  # synthetic and patches × 2 dtypes
    for target in fastica:
        assert re.search(r"= \d+\.\d\d×|never reaches", target.measured), target.measured
    picard = [t for t in section.targets if "Picard" in t.name]
    assert picard and all(t.met is None for t in picard)  # not selected: not judged
    assert "Curve points" in section.body and "ours OrthonormalICA()" in section.body


def test_ica_peer_in_another_dtype_is_left_out_not_faked(bench):
    ica = bench("bench_ica")
    problem = ica.synthetic_problem(3, 600, seed=0)

    def upcasting(budget, X, callbacks=None):
        return ica.Fit(np.eye(3), None, 1 if budget is None else budget, "float64")

    spec = ica.Spec("upcasting peer", "max_iter", upcasting, traced=False)
    outcome = ica._peer_outcome(spec, problem, problem.X.astype(np.float32), "float32")
    assert outcome.curve is None and outcome.skipped == "computes in float64 from float32 data"
    same = ica._peer_outcome(spec, problem, problem.X, "float64")
    assert same.curve is not None and same.curve.own == same.curve.points[-1]


def test_synthetic_problem_has_the_issue_mixing(bench):
    ica = bench("bench_ica")
    problem = ica.synthetic_problem(6, 20000, seed=1)
    singular = np.linalg.svd(problem.mixing, compute_uv=False)
    assert np.allclose(sorted(singular), np.logspace(0, 1, 6))
    sources = np.linalg.solve(problem.mixing, problem.X.T)
    assert np.allclose(sources.var(axis=1), 1.0, atol=0.1)
    assert problem.quality(np.linalg.inv(problem.mixing), None) < 1e-12


def test_dictionary_section_rows_have_one_dtype_and_curves(bench, tmp_path, monkeypatch):
    dictionary = bench("bench_dictionary")
    common = bench("bench_common")
    monkeypatch.setattr(dictionary, "_problems",
                        lambda settings: [("4×4, 8 atoms", 4, 8, (1.0,), 800, 200)])
    settings = common.Settings(quick=True, contenders=("ours", "sklearn"),
                               images_dir=str(tmp_path / "images"))
    section = dictionary.run(settings)
    assert _assert_one_dtype_per_group(section.body) == 4  # ours and scikit-learn × 2 dtypes
    assert sorted(_assert_pictures(section.body, tmp_path / "images")) == [
        "dictionary_float32.png", "dictionary_float64.png"]
    by_name = {t.name: t for t in section.targets}
    sk = [t for n, t in by_name.items() if "scikit-learn" in n]
    assert len(sk) == 2 and all(re.search(r"\d\.\d\d×|never reaches", t.measured) for t in sk)
    spams = [t for n, t in by_name.items() if "SPAMS" in n]
    assert spams and all(t.met is None for t in spams)  # not selected: not judged, not faked


def test_curve_reading_and_budgets(bench):
    common = bench("bench_common")
    curve = common.Curve("x", "float64", "it", [(1, 0.1, 0.5), (2, 0.2, 0.3), (4, 0.4, 0.1)])
    assert curve.time_to(0.3) == (0.2, 2)
    assert curve.time_to(0.05) is None and curve.best() == 0.1
    assert common.geometric_budgets(10, factor=2) == [1, 2, 4, 8]
    calls = []
    seconds, result = common.timed_fit(lambda: calls.append(1) or len(calls), min_seconds=10)
    assert len(calls) == 3 and result == 3 and seconds >= 0


def test_profile_rows_name_every_piece(bench):
    profile = bench("bench_profile")
    rows, medians = profile.profile_fixed_point(8, 3000, "float32", repeat=1)
    pieces = [row[0] for row in rows]
    assert pieces[0].startswith("fixed_point_pass") and any("Wx alone" in p for p in pieces)
    assert any(p.startswith("element-wise") for p in pieces)
    assert all(v > 0 for v in medians.values())
    floor = next(r for r in rows if r[0].startswith("the two products"))
    assert floor[2] == "1.00×"


def test_scale_data_file_in_float32(bench, tmp_path):
    scale = bench("bench_scale")
    path = scale.make_data(tmp_path, 300, seed=0, side=4, dtype="float32")
    data = np.load(path, mmap_mode="r")
    assert data.shape == (300, 16) and data.dtype == np.float32
    assert scale._sizes("rica1024", [10, 100, 1000]) == [100, 1000]
