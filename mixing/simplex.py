"""Mixtures on the simplex: per-domain bounds (weight limits and epoch caps), projection, Dirichlet sampling."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


class BoundsError(ValueError):
    """Bounds that no mixture can satisfy; raised before any training."""


@dataclass
class Bounds:
    domains: list[str]
    lo: np.ndarray
    hi: np.ndarray  # already lowered by the epoch cap
    why_hi: list[str]  # "max" or "epochs": which limit sets each upper bound (for messages)

    def contains(self, w: np.ndarray, tol: float = 1e-6) -> bool:
        return bool(np.all(w >= self.lo - tol) and np.all(w <= self.hi + tol) and abs(w.sum() - 1) < tol)


def make_bounds(
    domains: list[str],
    num_tokens: dict[str, int],
    tokens_per_run: int,
    mins: dict[str, float],
    maxs: dict[str, float],
    default_min: float,
    default_max: float,
    max_epochs: float,
) -> Bounds:
    """Bounds per domain; a domain may not supply more than max_epochs × its tokens to one proxy run."""
    unknown = sorted((set(mins) | set(maxs)) - set(domains))
    if unknown:
        raise BoundsError(f"bounds name domain(s) {', '.join(unknown)} that are not mixed; domains: {', '.join(domains)}")
    lo = np.array([mins.get(d, default_min) for d in domains], dtype=float)
    cap = np.array([max_epochs * num_tokens[d] / tokens_per_run for d in domains])
    user_hi = np.array([maxs.get(d, default_max) for d in domains], dtype=float)
    hi = np.minimum(user_hi, cap)
    why = ["epochs" if c < u else "max" for c, u in zip(cap, user_hi)]
    problems = [
        f"{d}: min {lo[i]:.3f} > max {hi[i]:.3f}"
        + (f" (epoch cap: {num_tokens[d]:,} tokens × {max_epochs} epochs / {tokens_per_run:,} per run)"
           if why[i] == "epochs" else "")
        for i, d in enumerate(domains) if lo[i] > hi[i] + 1e-12
    ]
    if problems:
        raise BoundsError("weight bounds are contradictory: " + "; ".join(problems))
    if lo.sum() > 1 + 1e-9:
        raise BoundsError(f"the minimum weights sum to {lo.sum():.3f} > 1: no mixture can satisfy them")
    if hi.sum() < 1 - 1e-9:
        detail = ", ".join(f"{d} ≤ {h:.3f} ({w})" for d, h, w in zip(domains, hi, why))
        raise BoundsError(
            f"the maximum weights sum to {hi.sum():.3f} < 1: no mixture can satisfy them ({detail}); "
            "raise bounds.max, bounds.max_epochs, or lower swarm.tokens_per_proxy"
        )
    return Bounds(domains=list(domains), lo=lo, hi=hi, why_hi=why)


def project(w: np.ndarray, bounds: Bounds, iters: int = 100) -> np.ndarray:
    """Move mixtures (rows) into the bounds: clip, then spread the surplus or deficit over domains with room.

    Repeats until nothing moves; feasibility (Σlo ≤ 1 ≤ Σhi) guarantees it ends inside.
    """
    w = np.atleast_2d(np.asarray(w, dtype=float)).copy()
    w /= w.sum(axis=1, keepdims=True)
    for _ in range(iters):
        w = np.clip(w, bounds.lo, bounds.hi)
        gap = 1.0 - w.sum(axis=1, keepdims=True)  # > 0: give weight; < 0: take weight
        if np.all(np.abs(gap) < 1e-12):
            break
        room = np.where(gap > 0, bounds.hi - w, w - bounds.lo)
        share = room / np.maximum(room.sum(axis=1, keepdims=True), 1e-300)
        w = w + gap * share
    return np.clip(w, bounds.lo, bounds.hi)


def natural(num_tokens: dict[str, int], domains: list[str]) -> np.ndarray:
    counts = np.array([num_tokens[d] for d in domains], dtype=float)
    return counts / counts.sum()


def sample_dirichlet(
    rng: np.random.Generator,
    n: int,
    prior: np.ndarray,
    concentration: tuple[float, float],
    bounds: Bounds,
) -> np.ndarray:
    """n mixtures around a prior: Dirichlet(c · prior) with c log-uniform in `concentration`, then projected.

    Small c gives sparse mixtures (a few domains dominate), large c mixtures close to the prior:
    the swarm sees both, which is what lets a regression tell the domains apart.
    """
    lo_c, hi_c = np.log(concentration[0]), np.log(max(concentration))
    c = np.exp(rng.uniform(lo_c, hi_c, size=n))
    alpha = np.maximum(c[:, None] * prior[None, :], 1e-3)
    w = rng.gamma(alpha)  # a row of Gamma(alpha) draws, normalised, is a Dirichlet draw
    w = w / np.maximum(w.sum(axis=1, keepdims=True), 1e-300)
    bad = ~np.isfinite(w).all(axis=1) | (w.sum(axis=1) < 0.5)
    w[bad] = prior
    return project(w, bounds)
