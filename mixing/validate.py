"""Validation: proxies on the optimised, natural and uniform mixtures (same token budget, several seeds)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from mixing.swarm import RunResult


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


def verdict(summary: dict[str, Any], name: str = "optimized", baselines: tuple[str, ...] = ("natural", "uniform")) -> dict:
    """Is `name` better than the best baseline by more than seed noise (two standard errors of the difference)?"""
    best = min(baselines, key=lambda b: summary[b]["mean"])
    o, b = summary[name], summary[best]
    n_o, n_b = len(o["objective"]), len(b["objective"])
    se = math.sqrt(o["std"] ** 2 / n_o + b["std"] ** 2 / n_b)
    margin = b["mean"] - o["mean"]
    return {
        "best_baseline": best,
        "margin": margin,  # > 0: the optimised mixture has the lower loss
        "noise": 2 * se,
        "at_least_as_good": bool(margin >= -2 * se),
        "better_beyond_noise": bool(margin > 2 * se),
    }
