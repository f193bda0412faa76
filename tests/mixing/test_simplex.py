"""Bounds, projection and sampling on the simplex; the optimiser and the regression on a known loss surface."""

from __future__ import annotations

import numpy as np
import pytest

from winnow.mixing.optimise import optimise
from winnow.mixing.regression import fit
from winnow.mixing.simplex import BoundsError, make_bounds, natural, project, sample_dirichlet

DOMS = ["a", "b", "c"]
TOKENS = {"a": 1000, "b": 5000, "c": 100_000}


def _bounds(**kw):
    args = {"mins": {}, "maxs": {}, "default_min": 0.0, "default_max": 1.0, "max_epochs": 4.0}
    args.update(kw)
    return make_bounds(DOMS, TOKENS, 10_000, **args)


def test_epoch_cap_lowers_the_upper_bound():
    b = _bounds()
    assert b.hi[0] == pytest.approx(0.4) and b.why_hi[0] == "epochs"  # 4 epochs × 1000 tokens / 10000 per run
    assert b.hi[2] == 1.0 and b.why_hi[2] == "max"


def test_minimums_over_one_are_refused():
    with pytest.raises(BoundsError, match="minimum weights sum to 1.200"):
        _bounds(mins={"a": 0.3, "b": 0.4, "c": 0.5})


def test_maximums_under_one_are_refused_with_the_reason():
    with pytest.raises(BoundsError, match="maximum weights sum to 0.600.*a ≤ 0.100 \\(epochs\\)"):
        _bounds(maxs={"b": 0.2, "c": 0.3}, max_epochs=1.0)


def test_min_above_epoch_cap_is_refused():
    with pytest.raises(BoundsError, match="a: min 0.500 > max 0.400"):
        _bounds(mins={"a": 0.5})


def test_unknown_domain_in_bounds_is_refused():
    with pytest.raises(BoundsError, match="not mixed"):
        _bounds(mins={"zz": 0.1})


def test_projection_and_samples_stay_inside():
    b = _bounds(mins={"b": 0.1}, maxs={"c": 0.7})
    rng = np.random.default_rng(0)
    w = sample_dirichlet(rng, 500, natural(TOKENS, DOMS), (0.5, 50.0), b)
    assert all(b.contains(row) for row in w)
    assert np.std(w[:, 1]) > 0.05  # the samples actually vary
    p = project(np.array([1.0, 0.0, 0.0]), b)[0]
    assert b.contains(p) and p[0] == pytest.approx(0.4)


def test_regression_ranks_and_optimiser_finds_the_best_domain():
    # A known surface: loss falls with the weight of domain c, a little with b.
    rng = np.random.default_rng(1)
    b = _bounds()
    X = sample_dirichlet(rng, 40, np.full(3, 1 / 3), (1.0, 10.0), b)
    y = 4.0 - 0.8 * np.log1p(5 * X[:, 2]) - 0.1 * X[:, 1] + rng.normal(0, 0.005, len(X))
    f = fit(X, y, "auto", folds=5)
    assert f.spearman[f.name] > 0.9
    opt = optimise(f.model, b, np.full(3, 1 / 3), 5000, 20)
    assert b.contains(opt.weights)
    assert opt.weights[2] > 0.8
