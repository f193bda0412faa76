"""The adaptive swarm: rounds added until the held-out ranking settles, and the Spearman seed noise allows."""

from __future__ import annotations

import json
import math

import pytest

from tests.mixing.conftest import tiny_config
from winnow.mixing.adaptive import Curve, Noise, Plan, spearman_ceiling
from winnow.mixing.config import MixConfig, SwarmConfig


def test_the_ceiling_falls_as_seed_noise_approaches_the_swarms_spread():
    assert spearman_ceiling(0.2, 0.0) == pytest.approx(1.0)
    assert spearman_ceiling(0.2, 0.2) == 0.0 and spearman_ceiling(0.1, 0.3) == 0.0
    # half the variance is noise: Pearson sqrt(0.5), Spearman 6/pi asin(0.354)
    assert spearman_ceiling(0.2, 0.2 / math.sqrt(2)) == pytest.approx(6 / math.pi * math.asin(math.sqrt(0.5) / 2))
    assert spearman_ceiling(0.2, 0.05) > spearman_ceiling(0.2, 0.1) > spearman_ceiling(0.2, 0.15)


def test_noise_close_to_the_spread_is_said_before_the_budget_is_spent():
    assert Noise(seed_std=0.01, swarm_std=0.2, runs=3).warning is None
    said = Noise(seed_std=0.1, swarm_std=0.15, runs=3).warning
    assert said and "Spearman ≈ 0.73" in said and "proxy.n_embd" in said


def test_sizes_grow_with_the_domains_unless_the_config_names_them():
    assert Plan.of(SwarmConfig(), 4) == Plan(32, 8, 64, True, 0.95, 0.01, probe=8)
    assert Plan.of(SwarmConfig(), 7) == Plan(56, 14, 112, True, 0.95, 0.01, probe=8)
    assert Plan.of(SwarmConfig(num_mixtures=5), 7).probe == 5
    assert Plan.of(SwarmConfig(num_mixtures=200, round_mixtures=5), 4).most == 200  # the first round is never cut


@pytest.mark.parametrize("history, plan_over, ceiling, stopped", [
    ([(8, 0.96)], {}, None, "reached the target"),
    ([(8, 0.5), (10, 0.505)], {}, None, "raised the held-out Spearman by +0.005"),
    # a flat round at what noise allows ends the rounds; below it, they go on (to the budget here)
    ([(8, 0.5), (10, 0.505)], {}, 0.52, "by +0.005 (< 0.01), at what seed noise allows (about 0.52)"),
    ([(8, 0.5), (10, 0.505), (12, 0.505)], {"most": 12}, 0.9, "budget of 12 proxies"),
    ([(8, 0.5), (10, 0.6), (12, 0.7)], {"most": 12}, None, "budget of 12 proxies"),
    ([(8, 0.5)], {"adaptive": False}, None, "fixed size"),
])
def test_each_reason_to_stop(history, plan_over, ceiling, stopped):
    plan = Plan(**{"first": 8, "step": 2, "most": 100, "adaptive": True, "target": 0.95, "min_gain": 0.01, **plan_over})
    curve = Curve()
    more = [curve.add(n, rho, plan, ceiling) for n, rho in history]
    assert more[:-1] == [True] * (len(history) - 1) and more[-1] is False
    assert stopped in curve.stopped


def test_rounds_until_the_budget_then_a_fixed_swarm_reuses_the_first_round(tiny_run, tmp_path):
    from winnow.mixing.job import run_mix

    cache = str(tmp_path / "cache")
    rounds = {"num_mixtures": 10, "round_mixtures": 3, "max_mixtures": 13, "target_spearman": 1.0, "min_gain": -1.0,
              "tokens_per_proxy": 3000, "noise_seeds": 2}
    runs_when_said = []

    def progress(line: str) -> None:  # how many runs had trained when the noise was first said
        if line.startswith("noise, before the swarm"):
            runs_when_said.append(len(list((tmp_path / "cache" / "runs").iterdir())))

    grown = run_mix(MixConfig(**tiny_config(tiny_run, tmp_path / "grown", cache_dir=cache, swarm=rounds)), progress)
    curve = grown["swarm"]["rounds"]
    assert [n for n, _ in curve["points"]] == [10, 13] and "budget of 13" in curve["stopped"]
    assert grown["swarm"]["mixtures"] == 13 and grown["regression"]["runs"] == 13
    noise = grown["swarm"]["noise"]
    assert noise["repeated_runs"] == 2 and noise["seed_std"] > 0 and 0 <= noise["spearman_ceiling"] <= 1
    # said before the budget is spent: only the probe (8 of the first round's 10) and the 2 seeds had trained; the
    # report's spread is the whole first round's
    assert runs_when_said == [8 + 2] and noise["mixtures"] == 10
    assert (tmp_path / "grown" / "spearman_curve.png").stat().st_size > 0
    # validation's uniform runs are the noise runs: read from the cache, not trained again
    assert grown["swarm"]["noise"]["trained"] == 2

    fixed = run_mix(MixConfig(**tiny_config(tiny_run, tmp_path / "fixed", cache_dir=cache,
                                            swarm={**rounds, "adaptive": False})))
    assert fixed["swarm"]["rounds"]["points"][0][0] == 10 and fixed["swarm"]["trained"] == 0
    first = [json.loads(line)["mixture"] for line in (tmp_path / "grown" / "swarm.jsonl").read_text().splitlines()]
    again = [json.loads(line)["mixture"] for line in (tmp_path / "fixed" / "swarm.jsonl").read_text().splitlines()]
    assert again == first[:10]


def test_a_ranking_short_of_the_target_says_whether_more_proxies_or_larger_ones_would_help():
    from winnow.mixing.adaptive import ranking_statement

    plan = Plan(8, 2, 16, True, 0.95, 0.01)
    noise = Noise(seed_std=0.037, swarm_std=0.104, runs=3)  # the ceiling is about 0.93
    assert ranking_statement(0.96, plan, noise) is None and ranking_statement(float("nan"), plan, noise) is None
    below = ranking_statement(0.88, plan, noise)
    assert "below what seed noise allows (about 0.93)" in below and "swarm.max_mixtures" in below
    at = ranking_statement(0.915, plan, noise)
    assert "more proxies will not rank better" in at and "proxy.n_embd" in at
    assert "not measured" in ranking_statement(0.9, plan, None)
