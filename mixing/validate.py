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


def verdict(summary: dict[str, Any], name: str = "optimized", baselines: tuple[str, ...] = ("natural", "uniform")) -> dict:
    """Is `name` better than the best baseline by more than seed noise?

    Every mixture is validated with the same seeds, and a seed fixes the proxy's initialisation and its
    window order, which move every mixture's loss together. So the test is paired: per seed, the
    baseline's loss minus ours; "beyond noise" means the mean difference exceeds its one-sided 95 %
    Student-t bound (t · SE, SE = std/√n). The unpaired two-standard-error bound is reported beside it.
    """
    from scipy.stats import t as student_t

    best = min(baselines, key=lambda b: summary[b]["mean"])
    o, b = summary[name], summary[best]
    margin = b["mean"] - o["mean"]
    unpaired = 2 * math.sqrt(o["std"] ** 2 / len(o["objective"]) + b["std"] ** 2 / len(b["objective"]))
    paired = o["seeds"] == b["seeds"] and len(o["seeds"]) > 1
    if paired:
        diffs = np.array(b["objective"]) - np.array(o["objective"])
        noise = float(student_t.ppf(0.95, len(diffs) - 1) * np.std(diffs, ddof=1) / math.sqrt(len(diffs)))
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
