"""The ablation verdict on synthetic paired numbers: a clear win, a null, a flip, a disagreeing slice, Holm."""

from __future__ import annotations

import numpy as np
import pytest

from winnow.mixing.ablate import verdict as V
from winnow.mixing.ablate.metrics import Metric

SEEDS, ITEMS = 5, 60


def _metric(name: str, effect: float, rng: np.random.Generator, seed_sd: float = 0.02, item_sd: float = 0.3,
            noise: float = 0.01, run_sd: float = 0.005, kind: str = "bpb") -> Metric:
    """Bits per byte of arms A and B on shared items. A seed moves both arms together (what pairing cancels);
    each run (arm, seed) is also better or worse on every item at once (run_sd: what pairing cannot cancel);
    and each (run, item) has its own noise.

    `effect` > 0 makes A better (lower bpb for a bpb metric, higher for a margin)."""
    items = 2.0 + rng.normal(0, item_sd, ITEMS)
    seeds = rng.normal(0, seed_sd, SEEDS)[:, None]
    sign = -1 if kind == "bpb" else 1
    a = items + seeds + sign * effect / 2 + rng.normal(0, run_sd, (SEEDS, 1)) + rng.normal(0, noise, (SEEDS, ITEMS))
    b = items + seeds - sign * effect / 2 + rng.normal(0, run_sd, (SEEDS, 1)) + rng.normal(0, noise, (SEEDS, ITEMS))
    ones = np.ones((SEEDS, ITEMS))
    return Metric(name, name.split(":")[0], kind, {"A": (a, ones), "B": (b, ones)})


def _stats(effects: dict[str, float], seed: int, **kw) -> V.PairStats:
    rng = np.random.default_rng(seed)
    ms = [_metric(n, e, rng, **kw) for n, e in effects.items()]
    return V.compare(ms, "A", "B", [n for n in effects if n.endswith(":bpb")], reps=1000, seed=seed)


def _kinds(effects: dict[str, float]) -> dict[str, str]:
    return {n: n.split(":")[1] for n in effects}


def _decide(per_rate: list[V.PairStats], effects: dict[str, float], family: int = 1) -> dict:
    for s in per_rate:
        V.apply_holm([s], 0.05)
    return V.decide(per_rate, _kinds(effects), 0.05, 0.8, family)


def test_clear_difference_is_better_at_both_rates():
    effects = {"wiki:bpb": 0.05, "web:bpb": 0.04}
    out = _decide([_stats(effects, 1), _stats(effects, 2)], effects)
    assert out["verdict"] == "A is better" and out["better"] == "A" and not out["reasons"]
    # The same numbers the other way round name B.
    flipped = {"wiki:bpb": -0.05, "web:bpb": -0.04}
    assert _decide([_stats(flipped, 1), _stats(flipped, 2)], flipped)["verdict"] == "B is better"


def test_null_is_inconclusive_with_the_smallest_detectable_effect():
    effects = {"wiki:bpb": 0.0, "web:bpb": 0.0}
    per_rate = [_stats(effects, 3), _stats(effects, 4)]
    out = _decide(per_rate, effects)
    assert out["verdict"] == "inconclusive" and out["better"] is None
    assert any("not significant" in r for r in out["reasons"])
    # The detectable effect is a few standard errors: more than the noise, far less than the clear win above.
    se = max(s.main.se for s in per_rate)
    assert 2 * se < out["min_detectable_effect"] < 10 * se


def test_a_flip_between_learning_rates_is_inconclusive():
    up, down = {"wiki:bpb": 0.05}, {"wiki:bpb": -0.05}
    out = _decide([_stats(up, 5), _stats(down, 6)], up)
    assert out["verdict"] == "inconclusive"
    assert "the direction flips between learning rates" in out["reasons"]


def test_a_slice_that_significantly_disagrees_blocks_the_verdict():
    # The main aggregate (two bpb slices) favours A clearly; the margin on a benchmark favours B clearly.
    effects = {"wiki:bpb": 0.08, "web:bpb": 0.08, "arc:margin": -0.08}
    out = _decide([_stats(effects, 7), _stats(effects, 8)], effects)
    assert out["verdict"] == "inconclusive"
    assert any("arc:margin" in r and "disagree" in r for r in out["reasons"])


def test_holm_adjusts_step_down():
    adjusted, ranks = V.holm([0.01, 0.04, 0.03])
    assert adjusted == pytest.approx([0.03, 0.06, 0.06])
    assert ranks == [0, 2, 1]
    # Two pairs each at p ~ 0.03 pass alone at 0.05 but not together.
    a = V.PairStats("A", "B", V.Estimate(2.2, 1.0, 100))
    b = V.PairStats("C", "D", V.Estimate(2.2, 1.0, 100))
    assert 0.01 < a.main.p() < 0.05
    V.apply_holm([a], 0.05)
    assert a.p_holm < 0.05
    V.apply_holm([a, b], 0.05)
    # Holm stops at the first pair, so neither is tested (or given an interval) at the laxer 0.05
    assert a.p_holm > 0.05 and b.p_holm > 0.05 and a.alpha_holm == b.alpha_holm == 0.025
    out = V.decide([a], {}, 0.05, 0.8, 2)
    assert out["verdict"] == "inconclusive"


def test_null_comparisons_are_rarely_called_significant():
    """Forty null comparisons where each run is better or worse as a whole (noise pairing cannot cancel): the t
    interval keeps the error near 5 %; a percentile bootstrap over five seeds called 13.5 % of 200 such nulls."""
    hits = 0
    for k in range(40):
        m = _metric("wiki:bpb", 0.0, np.random.default_rng(100 + k), run_sd=0.02, noise=0.01)
        hits += V.compare([m], "A", "B", ["wiki:bpb"], reps=500, seed=k).main.p() < 0.05
    assert hits <= 4
