"""From span scores to metrics: per slice, per arm, per seed, per item, as ratios of sums the bootstrap resamples.

Every metric is `sum(num) / sum(den)` over items, so resampling items and seeds only reweights the sums:
- `bpb` (held-out and reference slices, cloze benchmarks): bits / bytes of the text (the correct answer's, on a
  benchmark); lower is better.
- `margin` (multiple choice): per item, bits per byte of the most likely wrong answer minus the correct one's;
  higher is better. A continuous likelihood metric, the kind that picks data well at small scale (DataDecide).
- `acc` (multiple choice): the correct answer has the fewest bits per byte; reported only, never decides.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from winnow.mixing.ablate.evalsets import Slice

SIGN = {"bpb": -1.0, "margin": 1.0, "acc": 1.0}  # +1: higher is better
DECIDING = ("bpb", "margin")


@dataclass
class Metric:
    name: str  # "<slice>:<kind>"
    slice: str
    kind: str
    arms: dict[str, tuple[np.ndarray, np.ndarray]]  # arm → (num, den), each (seeds, items)

    @property
    def sign(self) -> float:
        return SIGN[self.kind]

    def per_seed(self, arm: str) -> np.ndarray:
        num, den = self.arms[arm]
        return num.sum(1) / den.sum(1)


def _item_arrays(sl: Slice, nats: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """One run's (num, den) per item for each metric kind of this slice."""
    bits = nats / math.log(2)
    n = sl.n_items
    if sl.kind != "mc":
        num = np.bincount(sl.span_item, weights=bits, minlength=n)
        den = np.bincount(sl.span_item, weights=sl.span_bytes, minlength=n)
        return {"bpb": (num, den)}
    gold = sl.span_choice == sl.gold[sl.span_item]
    num = np.bincount(sl.span_item[gold], weights=bits[gold], minlength=n)
    den = np.bincount(sl.span_item[gold], weights=sl.span_bytes[gold], minlength=n)
    per_span = bits / sl.span_bytes
    wrong_best = np.full(n, np.inf)
    np.minimum.at(wrong_best, sl.span_item[~gold], per_span[~gold])
    right = num / den
    ones = np.ones(n)
    return {"bpb": (num, den), "margin": (wrong_best - right, ones), "acc": ((right < wrong_best).astype(float), ones)}


def build(slices: list[Slice], runs: dict[tuple[str, int], dict], arms: list[str], seeds: list[int]) -> list[Metric]:
    """runs: (arm, seed) → cache record (with `scores` by slice fingerprint) for one learning rate."""
    metrics: dict[str, Metric] = {}
    for sl in slices:
        for arm in arms:
            per_kind: dict[str, list] = {}
            for seed in seeds:
                nats = np.asarray(runs[(arm, seed)]["scores"][sl.fingerprint], dtype=float)
                for kind, pair in _item_arrays(sl, nats).items():
                    per_kind.setdefault(kind, []).append(pair)
            for kind, pairs in per_kind.items():
                m = metrics.setdefault(f"{sl.name}:{kind}", Metric(f"{sl.name}:{kind}", sl.name, kind, {}))
                m.arms[arm] = (np.stack([p[0] for p in pairs]), np.stack([p[1] for p in pairs]))
    return list(metrics.values())


def snr(metric: Metric, arms: list[str]) -> float | None:
    """Signal-to-noise over seeds: the spread of the arms' means over the typical seed-to-seed spread within an arm.

    Below about 1 the metric cannot tell these variants apart at this scale, whatever the paired test says."""
    values = [metric.per_seed(a) for a in arms]
    if len(values) < 2 or len(values[0]) < 2:
        return None
    signal = float(np.std([v.mean() for v in values], ddof=1))
    noise = float(np.sqrt(np.mean([v.var(ddof=1) for v in values])))
    return signal / noise if noise > 0 else None  # no seed spread at all: undefined, not infinite (JSON has no inf)


def summary(metric: Metric, arms: list[str]) -> dict:
    return {a: {"per_seed": np.round(metric.per_seed(a), 6).tolist(), "mean": float(metric.per_seed(a).mean()),
                "std": float(metric.per_seed(a).std(ddof=1)) if metric.arms[a][0].shape[0] > 1 else 0.0}
            for a in arms}
