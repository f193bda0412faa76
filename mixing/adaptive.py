"""How many proxies a swarm needs: rounds added until the regression's held-out ranking settles, and what seed noise
allows it to reach.

A regression can rank mixtures only as well as the proxies' losses separate them. If a proxy's loss is the
mixture's true loss plus seed noise, the best any model can do is predict the true loss, and its Spearman with the
observed losses is capped by the share of the swarm's spread that is not noise. The cap is measured before the
budget is spent: a few runs of one mixture at different seeds give the noise, a probe of the first round's mixtures
the spread; the whole first round then refines the spread.
RegMix trains 512 proxies for 17 domains; Olmix finds the need grows about linearly with the domains, so the
defaults are per domain.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

FIRST_ROUND_PER_DOMAIN = 8  # the demo's four domains: 32, the size chosen for it before rounds existed
ROUND_PER_DOMAIN = 2
MAX_PER_DOMAIN = 16
# Mixtures of the first round trained first, beside the repeated one, so the noise check speaks before the budget is
# spent. Eight give a rough spread (its standard deviation is uncertain by about a quarter), enough to warn.
PROBE_MIXTURES = 8


@dataclass(frozen=True)
class Plan:
    """The swarm's sizes for a number of domains, from the config's values or the per-domain defaults."""

    first: int
    step: int
    most: int
    adaptive: bool
    target: float
    min_gain: float
    probe: int = PROBE_MIXTURES

    @classmethod
    def of(cls, swarm, k: int) -> Plan:  # swarm: config.SwarmConfig
        first = swarm.num_mixtures or FIRST_ROUND_PER_DOMAIN * k
        most = max(first, swarm.max_mixtures or MAX_PER_DOMAIN * k)
        return cls(first, swarm.round_mixtures or ROUND_PER_DOMAIN * k, most, swarm.adaptive,
                   swarm.target_spearman, swarm.min_gain, min(PROBE_MIXTURES, first))


def spearman_ceiling(swarm_std: float, seed_std: float) -> float:
    """The held-out Spearman a perfect regression would reach when losses are true losses plus Gaussian seed noise.

    Pearson between truth and observation is sqrt(1 - noise variance / observed variance); for a bivariate normal,
    Spearman = 6/pi * asin(Pearson / 2)."""
    if swarm_std <= 0:
        return 0.0
    share = max(0.0, 1.0 - (seed_std / swarm_std) ** 2)
    return 6 / math.pi * math.asin(math.sqrt(share) / 2)


@dataclass
class Noise:
    seed_std: float
    swarm_std: float
    runs: int  # of the repeated mixture
    trained: int = 0  # of those, trained now rather than read from the cache
    mixtures: int = 0  # whose spread is swarm_std

    @property
    def ceiling(self) -> float:
        """An estimate: a standard deviation from a few seeds is itself uncertain (from 5 seeds, ±35 % or so)."""
        return spearman_ceiling(self.swarm_std, self.seed_std)

    @property
    def warning(self) -> str | None:
        """Said before the budget is spent when the swarm's spread is not well above seed noise."""
        if self.swarm_std >= 2 * self.seed_std:
            return None
        return (f"the swarm's losses spread {self.swarm_std:.4f}, barely more than seed noise {self.seed_std:.4f} "
                f"(from {self.runs} seeds): noise alone caps the ranking near Spearman ≈ {self.ceiling:.2f}. Larger "
                f"proxies (proxy.n_embd) or more tokens (swarm.tokens_per_proxy) separate mixtures better.")

    def to_dict(self) -> dict:
        return {"seed_std": self.seed_std, "swarm_std": self.swarm_std, "repeated_runs": self.runs, "trained": self.trained,
                "mixtures": self.mixtures, "spearman_ceiling": self.ceiling, "warning": self.warning}


def measure_noise(seed_losses: list[float], swarm_losses: list[float], trained: int = 0) -> Noise:
    return Noise(float(np.std(seed_losses, ddof=1)), float(np.std(swarm_losses, ddof=1)), len(seed_losses), trained,
                 len(swarm_losses))


# A ceiling from a handful of seeds is itself uncertain by a few hundredths: a ranking within this of it is at it.
AT_CEILING = 0.03


@dataclass
class Curve:
    """Held-out Spearman after each round, and why the rounds ended."""

    points: list[tuple[int, float]] = field(default_factory=list)  # (proxies, held-out Spearman)
    stopped: str = ""

    def add(self, proxies: int, rho: float, plan: Plan, ceiling: float | None = None) -> bool:
        """Record a round; True when another round should follow.

        A flat round ends the rounds only at what seed noise allows (`ceiling`, when measured): below it, more
        proxies can still help, and a 5-fold Spearman on a few dozen proxies moves by more than `min_gain` from
        one round to the next by chance alone, so one flat round says little."""
        gain = rho - self.points[-1][1] if self.points else None
        self.points.append((proxies, rho))
        flat = gain is not None and gain < plan.min_gain
        if not plan.adaptive:
            self.stopped = "fixed size (swarm.adaptive: false)"
        elif rho >= plan.target:
            self.stopped = f"held-out Spearman {rho:.3f} reached the target {plan.target}"
        elif proxies >= plan.most:
            self.stopped = f"budget of {plan.most} proxies spent (swarm.max_mixtures)"
        elif flat and ceiling is None:
            self.stopped = f"the last round raised the held-out Spearman by {gain:+.3f} (< {plan.min_gain})"
        elif flat and rho >= ceiling - AT_CEILING:
            self.stopped = (f"the last round raised the held-out Spearman by {gain:+.3f} (< {plan.min_gain}), at "
                            f"what seed noise allows (about {ceiling:.2f})")
        else:
            return True
        return False

    def to_dict(self) -> dict:
        return {"points": [[n, r] for n, r in self.points], "stopped": self.stopped}


def ranking_statement(rho: float, plan: Plan, noise: Noise | None) -> str | None:
    """What a held-out Spearman short of the target means, and what would raise it; None when the target is met."""
    if not rho < plan.target:  # also None for a NaN Spearman (too few proxies to fold): said elsewhere
        return None
    said = f"held-out Spearman {rho:.3f} is short of the target {plan.target}"
    if noise is None:
        return f"{said}; seed noise was not measured (swarm.noise_seeds < 2), so whether more proxies help is unknown."
    if rho >= noise.ceiling - AT_CEILING:
        return (f"{said}, and at what seed noise allows (about {noise.ceiling:.2f}): more proxies will not rank "
                f"better; larger proxies (proxy.n_embd) or more tokens (swarm.tokens_per_proxy) would.")
    return (f"{said}, below what seed noise allows (about {noise.ceiling:.2f}): more proxies should rank better "
            f"(raise swarm.max_mixtures). Read predicted losses that differ by less than the seed noise "
            f"({noise.seed_std:.3f}) as ties.")
