"""Sweep pictures from plain rows and filter matrices (no training)."""

from __future__ import annotations

import numpy as np

from sparselearn.plotting.sweep import Sheet, filter_grid_figure, metrics_figure, save_filter_grid


def _rows():
    rng = np.random.default_rng(0)
    return [{"model.alpha": lam, "model.n_components": k, "seed": s,
             "objective": lam * k + rng.normal(scale=0.1), "sparsity": ""}
            for lam in (0.01, 0.1, 1.0) for k in (16, 32) for s in (0, 1)]


def test_metrics_figure_has_a_panel_per_metric_and_parameter():
    fig = metrics_figure(_rows(), ["model.alpha", "model.n_components"],
                         ["objective", "sparsity"], title="t")
    axes = fig.get_axes()
    assert len(axes) == 4
    objective_vs_lambda = axes[0]
    assert objective_vs_lambda.get_xscale() == "log"  # 0.01 .. 1 spans two decades
    assert len(objective_vs_lambda.get_lines()) == 2  # one line per n_components
    means = objective_vs_lambda.get_lines()[0].get_ydata()
    assert np.allclose(means, [0.16, 1.6, 16], atol=0.3)
    assert axes[2].texts and "no finished runs" in axes[2].texts[0].get_text()


def test_text_parameters_are_categories_and_no_parameters_uses_seeds():
    rows = [{"solver": s, "seed": i, "objective": float(i + 1)} for s in ("cg", "lbfgs")
            for i in range(2)]
    ax = metrics_figure(rows, ["solver"], ["objective"]).get_axes()[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["cg", "lbfgs"]
    assert metrics_figure(rows, [], ["objective"]).get_axes()[0].get_xlabel() == "seed"


def test_filter_grid_in_given_shape_with_missing_panels(tmp_path):
    rng = np.random.default_rng(1)
    sheets = [Sheet(rng.normal(size=(k, 36)), 6, label=f"k={k}") for k in (4, 9, 16)] + [None]
    fig = filter_grid_figure(sheets, shape=(2, 2), labels=["", "", "", "not run"])
    axes = fig.get_axes()
    assert len(axes) == 4 and len(axes[0].get_images()) == 1
    assert axes[3].get_title() == "not run" and not axes[3].get_images()
    topo = Sheet(rng.normal(size=(9, 36)), 6, tile_kwargs={"grid": (3, 3),
                                                           "topographic": True})
    path = save_filter_grid(tmp_path / "f.png", [topo])
    assert path.stat().st_size > 0
