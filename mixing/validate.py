"""Validation: proxies on the optimised, natural and uniform mixtures (same token budget, several seeds)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from winnow.mixing.swarm import RunResult


def objective(losses: dict[str, float], weights: dict[str, float]) -> float:
    """The weighted mean of target losses: what the swarm regresses and the optimiser minimises."""
    total = sum(weights.values())
    return sum(losses[n] * w for n, w in weights.items()) / total


def summarise(results: list[RunResult], target_weights: dict[str, float]) -> dict[str, Any]:
    """Per mixture: the objective for every seed, its mean and spread, and per-target lists."""
    out: dict[str, Any] = {}
    for label in dict.fromkeys(r.label for r in results):
        runs = sorted((r for r in results if r.label == label), key=lambda r: r.seed)
        obj = [objective(r.losses, target_weights) for r in runs]
        out[label] = {
            "seeds": [r.seed for r in runs],
            "objective": obj,
            "mean": float(np.mean(obj)),
            "std": float(np.std(obj, ddof=1)) if len(obj) > 1 else 0.0,
            "targets": {n: [r.losses[n] for r in runs] for n in target_weights},
            "mixture": runs[0].mixture.tolist(),
        }
    return out


def verdict(summary: dict[str, Any], name: str = "optimized", baselines: tuple[str, ...] = ("natural", "uniform"),
            seed_noise: tuple[float, int] | None = None) -> dict:
    """Is `name` better than the best baseline by more than seed noise?

    Every mixture is validated with the same seeds, and a seed fixes the proxy's initialisation and its
    window order, which move every mixture's loss together. So the test is paired: per seed, the
    baseline's loss minus ours; "beyond noise" means the mean difference exceeds its one-sided 95 %
    Student-t bound (t · SE, SE = std/√n). The unpaired two-standard-error bound is reported beside it.
    With one seed per mixture there is no spread to measure: `seed_noise` (the swarm's seed std and its number of
    runs) stands in when it was measured, otherwise the verdict says it cannot be judged.
    """
    best = min(baselines, key=lambda b: summary[b]["mean"])
    o, b = summary[name], summary[best]
    margin = b["mean"] - o["mean"]
    if min(len(o["objective"]), len(b["objective"])) < 2:
        return {"best_baseline": best, "margin": margin, **_one_seed_noise(margin, seed_noise)}
    unpaired = 2 * math.sqrt(o["std"] ** 2 / len(o["objective"]) + b["std"] ** 2 / len(b["objective"]))
    paired = o["seeds"] == b["seeds"]
    if paired:
        diffs = np.array(b["objective"]) - np.array(o["objective"])
        noise = _t95(len(diffs) - 1) * float(np.std(diffs, ddof=1)) / math.sqrt(len(diffs))
    else:
        noise = unpaired
    return {
        "best_baseline": best,
        "margin": margin,  # > 0: the optimised mixture has the lower loss
        "noise": noise,
        "test": "paired t (one-sided 95 %)" if paired else "two standard errors (unpaired)",
        "unpaired_noise": unpaired,
        "at_least_as_good": bool(margin >= -noise),
        "better_beyond_noise": bool(margin > noise),
    }


def _t95(df: int) -> float:
    from scipy.stats import t as student_t

    return float(student_t.ppf(0.95, df))


def _one_seed_noise(margin: float, seed_noise: tuple[float, int] | None) -> dict:
    """One run per mixture: the difference of two runs carries √2 seed stds, taken from the swarm's repeated runs
    (one-sided 95 %, t with their degrees of freedom); unmeasured, a single difference says nothing about noise."""
    if seed_noise is None or seed_noise[1] < 2:
        return {"noise": None, "test": "cannot be judged: one validation seed and no measured seed noise",
                "unpaired_noise": None, "at_least_as_good": None, "better_beyond_noise": False}
    std, runs = seed_noise
    noise = _t95(runs - 1) * math.sqrt(2) * std
    return {"noise": noise, "test": f"one seed: √2 × the swarm's seed std from {runs} runs (one-sided 95 %)",
            "unpaired_noise": None, "at_least_as_good": bool(margin >= -noise), "better_beyond_noise": bool(margin > noise)}
