"""The verdict: paired differences over seeds, a bootstrap over seeds and items, Holm across pairs, both rates.

For a pair (A, B) and a metric, seed s gives A's and B's score from proxies that share initialisation and
data order, so the difference per seed cancels most seed noise. The bootstrap resamples seeds (paired) and
evaluation items (the same items for both) to get the standard error of the mean difference. With five
seeds a percentile interval covers about 85 % instead of 95 %, so the interval is Student's t with
seeds - 1 degrees of freedom around the estimate, using the bootstrap standard error (inflated by
sqrt(n / (n - 1)), the bootstrap's small-sample bias). "A is better" needs, at every learning rate: the main
aggregate's Holm-adjusted p below alpha (its interval at the Holm level excludes zero), the same direction,
and no deciding slice significantly the other way. Anything else is "inconclusive", with the smallest effect
the run could have detected.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy.stats import t as student_t
from winnow.mixing.ablate.metrics import DECIDING, Metric


@dataclass
class Estimate:
    estimate: float  # mean paired difference; > 0: the first arm is better
    se: float
    df: int

    def p(self) -> float:
        if self.se == 0:
            return 1.0 if self.estimate == 0 else 0.0
        return float(2 * student_t.sf(abs(self.estimate) / self.se, self.df))

    def ci(self, alpha: float) -> tuple[float, float]:
        half = float(student_t.ppf(1 - alpha / 2, self.df)) * self.se
        return self.estimate - half, self.estimate + half

    def to_dict(self, alpha: float) -> dict:
        lo, hi = self.ci(alpha)
        return {"estimate": self.estimate, "se": self.se, "ci": [lo, hi], "p": self.p()}


@dataclass
class PairStats:
    a: str
    b: str
    main: Estimate
    metrics: dict[str, Estimate] = field(default_factory=dict)
    p_holm: float | None = None
    alpha_holm: float | None = None  # the level Holm's step-down tested this pair at


def _resample_counts(rng: np.random.Generator, n: int, reps: int) -> np.ndarray:
    """(reps, n) counts of each index in a bootstrap resample of n."""
    return rng.multinomial(n, np.full(n, 1.0 / n), size=reps).astype(float)


def bootstrap(metrics: list[Metric], a: str, b: str, reps: int, seed: int) -> tuple[dict, dict, int]:
    """Per metric: `reps` bootstrap means of the paired difference (seeds and items resampled), the point estimate,
    and the number of seeds. The same seed resample serves every metric, so their mean is resampled consistently."""
    rng = np.random.default_rng(seed)
    S = metrics[0].arms[a][0].shape[0]
    seed_w = _resample_counts(rng, S, reps)
    boots, points = {}, {}
    for m in metrics:
        (na, da), (nb, db) = m.arms[a], m.arms[b]
        item_w = _resample_counts(rng, na.shape[1], reps)
        # Per resample and seed: the metric over the resampled items; then the mean over the resampled seeds.
        diff = m.sign * ((item_w @ na.T) / (item_w @ da.T) - (item_w @ nb.T) / (item_w @ db.T))
        boots[m.name] = (seed_w * diff).sum(1) / S
        points[m.name] = m.sign * float(m.per_seed(a).mean() - m.per_seed(b).mean())
    return boots, points, S


def compare(metrics: list[Metric], a: str, b: str, main: list[str], reps: int, seed: int) -> PairStats:
    """Paired bootstrap of every metric and of the main aggregate (the mean of the `main` metrics' differences)."""
    boots, points, S = bootstrap(metrics, a, b, reps, seed)
    inflate, df = (math.sqrt(S / (S - 1)) if S > 1 else 1.0), max(1, S - 1)
    est = {n: Estimate(points[n], float(boots[n].std(ddof=1)) * inflate, df) for n in boots}
    agg = np.mean([boots[n] for n in main], axis=0)
    main_est = Estimate(float(np.mean([points[n] for n in main])), float(agg.std(ddof=1)) * inflate, df)
    return PairStats(a, b, main_est, est)


def holm(pvalues: list[float]) -> tuple[list[float], list[int]]:
    """Holm-adjusted p-values, and each p's rank (0 = smallest) in the step-down."""
    m = len(pvalues)
    order = sorted(range(m), key=lambda i: pvalues[i])
    adjusted, running = [0.0] * m, 0.0
    ranks = [0] * m
    for k, i in enumerate(order):
        running = max(running, min(1.0, (m - k) * pvalues[i]))
        adjusted[i] = running
        ranks[i] = k
    return adjusted, ranks


def apply_holm(pairs: list[PairStats], alpha: float) -> None:
    """Holm's step-down: the r smallest p-values are rejected, each at alpha / (m - its rank). The first pair not
    rejected stops the procedure, so it and every later pair keep that step's level: a later pair's own, laxer level
    would give it an interval that excludes zero beside a difference Holm does not call."""
    adjusted, ranks = holm([p.main.p() for p in pairs])
    rejected = sum(adj < alpha for adj in adjusted)
    for p, adj, rank in zip(pairs, adjusted, ranks):
        p.p_holm, p.alpha_holm = adj, alpha / (len(pairs) - min(rank, rejected))


def disagreements(stats: PairStats, kinds: dict[str, str], alpha: float) -> list[str]:
    """Deciding metrics whose own interval excludes zero on the side opposite to the main aggregate."""
    direction = np.sign(stats.main.estimate)
    return [name for name, e in stats.metrics.items()
            if kinds[name] in DECIDING and e.p() < alpha and np.sign(e.estimate) == -direction != 0]


def mde(stats: PairStats, alpha: float, power: float) -> float:
    """The smallest true difference this run would call at `alpha` with probability `power` (t, seeds - 1 df)."""
    df = stats.main.df
    return float((student_t.ppf(1 - alpha / 2, df) + student_t.ppf(power, df)) * stats.main.se)


def decide(per_rate: list[PairStats], kinds: dict[str, str], alpha: float, power: float, family: int) -> dict:
    """The pair's verdict over every learning rate (each PairStats already Holm-adjusted within its rate)."""
    a, b = per_rate[0].a, per_rate[0].b
    reasons, dirs = [], set()
    for i, s in enumerate(per_rate):
        dirs.add(int(np.sign(s.main.estimate)))
        if s.p_holm is None or s.p_holm >= alpha:
            reasons.append(f"rate {i + 1}: main difference not significant (Holm p={s.p_holm:.3g})")
        against = disagreements(s, kinds, alpha)
        if against:
            reasons.append(f"rate {i + 1}: {', '.join(against)} significantly disagree")
    if len(dirs) > 1:
        reasons.append("the direction flips between learning rates")
    smallest = max(mde(s, alpha / max(1, family), power) for s in per_rate)
    if reasons:
        return {"verdict": "inconclusive", "better": None, "reasons": reasons, "min_detectable_effect": smallest}
    better, worse = (a, b) if dirs == {1} else (b, a)
    return {"verdict": f"{better} is better", "better": better, "worse": worse, "reasons": [],
            "min_detectable_effect": smallest}
