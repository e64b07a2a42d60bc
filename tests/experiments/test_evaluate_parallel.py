"""``evaluate``'s speed-ups change nothing: the two-pass soft codes give Coates' soft threshold,
and contenders run side by side give the rows they give one after another."""

from __future__ import annotations

import numpy as np

from sparselearn.experiments.evaluation import encoding as en
from sparselearn.experiments.evaluation import evaluate
from sparselearn.experiments.evaluation import runner as rn


def test_soft_codes_affine_gives_the_soft_threshold():
    rng = np.random.default_rng(0)
    bank = en.FilterBank("t", rng.standard_normal((5, 12)), rng.standard_normal(5))
    X = rng.standard_normal((30, 12))
    grid = np.abs(rng.standard_normal((3, 5)))
    codes = en.soft_codes(bank, grid)
    scale, shift = codes.affine
    got = codes(X) * scale + shift  # one position per pool: the affine map per row
    z = bank.responses(X)
    expected = np.hstack([en.soft_threshold(z, a) for a in grid])
    np.testing.assert_allclose(got, expected, atol=1e-12)
    # a scalar threshold: one set
    one = en.soft_codes(bank, 0.4)
    assert one.width == 10
    np.testing.assert_allclose(one(X) * one.affine[0] + one.affine[1],
                               en.soft_threshold(z, 0.4), atol=1e-12)


def test_pool_sizes_match_quadrants():
    for shape in ((5, 5), (4, 7), (1, 6), (21, 21)):
        maps = np.ones((1, *shape, 1))
        np.testing.assert_array_equal(en.pool_quadrants(maps)[0], en.pool_sizes(shape))


def test_large_thresholds_give_exact_zeros():
    """Sums of max(z, α) minus positions · α cancel exactly where nothing passes α."""
    rng = np.random.default_rng(1)
    images = rng.uniform(size=(4, 9, 9))
    bank = en.FilterBank("t", rng.standard_normal((3, 16)), np.zeros(3))
    pooled = en.encode_images(images, (4, 4), 1, "none", en.soft_codes(bank, 1e3), width=6)
    assert np.all(pooled == 0.0)


def test_contenders_side_by_side_match_one_by_one(tiny_run, monkeypatch):
    options = dict(baselines="raw,random,kmeans", random_draws=2, progress=False,
                   baseline_patches=1500, write=False)
    monkeypatch.setattr(rn.os, "cpu_count", lambda: 1)
    serial = evaluate(tiny_run, "digits", **options)
    monkeypatch.setattr(rn.os, "cpu_count", lambda: 2)
    parallel = evaluate(tiny_run, "digits", **options)
    assert [r["kind"] for r in parallel.rows] == ["run", "raw", "random", "kmeans"]
    for a, b in zip(serial.rows, parallel.rows, strict=True):
        for key in ("name", "alpha", "C", "cv_accuracy", "accuracy", "cv_grid"):
            assert a[key] == b[key], key
    assert serial.record["comparison"] == parallel.record["comparison"]
    assert parallel.record["cpu_s"] > 0 and all(r["cpu_s"] > 0 for r in parallel.rows)
