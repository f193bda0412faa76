"""Mixing token pools into shards: per-domain token targets, repeats when a share needs them, a seeded shuffle.

The rules, so a manifest can be read without this code:
- a domain's target is `weight / Σ weights × total_tokens`; it takes whole passes over its pool (each pass in its own
  seeded order) and then documents of one more seeded pass until the target is met — a document is taken when at
  least half of it fits and the domain stays within `max_epochs` passes, so a domain lands within half a document of
  its target (less than one document below it where the cap binds);
- `epochs` = tokens taken / pool tokens, never above `max_epochs`; a target above `max_epochs` passes refuses to start;
- all chosen documents are then shuffled together (seeded), and packed into shards in that order; a shard closes
  when the next document would overflow it, and only a document longer than a whole shard is cut, into pieces that
  each fill a shard (the last piece shares its shard with the documents that follow).
Randomness comes from `(seed, domain, pass)`, never global state: the same inputs and seed give the same bytes.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

import numpy as np

from winnow.pipeline.tokens.pools import TokenPool


class MixError(ValueError):
    """Weights and pools that cannot make the asked-for mixture."""


def _rng(seed: int, *parts: object) -> np.random.Generator:
    digest = hashlib.sha256("|".join(map(str, (seed, *parts))).encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


@dataclass
class DomainPlan:
    domain: str
    weight: float  # normalised
    target_tokens: int
    pool_tokens: int
    pool_documents: int
    docs: np.ndarray  # pool document indices, in the order taken (repeats included)
    passes: np.ndarray  # which pass over the pool each taken document belongs to (0 = first)
    tokens: int = 0

    @property
    def epochs(self) -> float:
        return self.tokens / self.pool_tokens if self.pool_tokens else 0.0


def normalise(weights: dict[str, float]) -> dict[str, float]:
    total = sum(weights.values())
    return {d: w / total for d, w in sorted(weights.items()) if w > 0}


def default_budget(weights: dict[str, float], pool_tokens: dict[str, int]) -> int:
    """The largest total for which no domain repeats: min over domains of pool tokens / share."""
    share = normalise(weights)
    return int(min(pool_tokens[d] / w for d, w in share.items()))


def check_shares(
    weights: dict[str, float], pool_tokens: dict[str, int], total_tokens: int, max_epochs: float, what: str = "has"
) -> None:
    """Refuse a mixture where a domain would need more than max_epochs passes over its pool."""
    problems = []
    for dom, w in normalise(weights).items():
        target = round(w * total_tokens)
        have = pool_tokens.get(dom, 0)
        if have * max_epochs < target:
            problems.append(
                f"domain {dom!r} {what} {have:,} tokens but its share {w:.4f} of {total_tokens:,} needs {target:,} "
                f"({target / max(have, 1):.1f} epochs > max_epochs {max_epochs:g})"
            )
    if problems:
        raise MixError(
            "too few tokens for the asked-for mixture:\n  "
            + "\n  ".join(problems)
            + "\n  lower total_tokens, raise max_epochs, or lower these domains' weights"
        )


def plan_domain(pool: TokenPool, weight: float, target: int, seed: int, max_epochs: float) -> DomainPlan:
    lengths = pool.doc_lengths()
    full = target // pool.num_tokens
    chosen, passes = [], []
    for p in range(full):
        chosen.append(_rng(seed, pool.domain, p).permutation(pool.num_docs))
        passes.append(np.full(pool.num_docs, p))
    rest = target - full * pool.num_tokens
    if rest > 0:
        order = _rng(seed, pool.domain, full).permutation(pool.num_docs)
        cum = np.cumsum(lengths[order])
        # take document k while the tokens before it plus half of it still fit in what is left ...
        take = int(np.searchsorted(cum - lengths[order] / 2, rest, side="right"))
        # ... and the whole of it keeps the domain within max_epochs passes (half a document over could break it)
        room = math.floor(max_epochs * pool.num_tokens) - full * pool.num_tokens
        take = min(take, int(np.searchsorted(cum, room, side="right")))
        chosen.append(order[:take])
        passes.append(np.full(take, full))
    docs = np.concatenate(chosen) if chosen else np.zeros(0, dtype=np.int64)
    plan = DomainPlan(
        pool.domain,
        weight,
        target,
        pool.num_tokens,
        pool.num_docs,
        docs.astype(np.int64),
        np.concatenate(passes).astype(np.int32) if passes else np.zeros(0, dtype=np.int32),
    )
    plan.tokens = int(lengths[plan.docs].sum())
    return plan


def plan_mix(
    pools: dict[str, TokenPool], weights: dict[str, float], total_tokens: int, seed: int, max_epochs: float
) -> dict[str, DomainPlan]:
    share = normalise(weights)
    check_shares(weights, {d: p.num_tokens for d, p in pools.items()}, total_tokens, max_epochs)
    return {d: plan_domain(pools[d], w, round(w * total_tokens), seed, max_epochs) for d, w in share.items()}


@dataclass
class Segment:
    """A run of one document's tokens in a shard (the whole document unless it was longer than a shard)."""

    domain: str
    doc: int  # index in the domain's pool
    pass_: int
    start: int  # token offset inside the document
    end: int
    piece: int  # 0 for a whole document or a first piece


def interleave(plans: dict[str, DomainPlan], seed: int) -> list[tuple[str, int, int]]:
    """All taken documents, (domain, doc, pass), in one seeded order."""
    items = [(d, int(doc), int(p)) for d, plan in plans.items() for doc, p in zip(plan.docs, plan.passes)]
    order = _rng(seed, "interleave").permutation(len(items))
    return [items[i] for i in order]


def pack(order: list[tuple[str, int, int]], pools: dict[str, TokenPool], shard_tokens: int) -> list[list[Segment]]:
    shards: list[list[Segment]] = []
    current: list[Segment] = []
    used = 0
    for dom, doc, p in order:
        n = int(pools[dom].doc_offsets[doc + 1] - pools[dom].doc_offsets[doc])
        if used + n <= shard_tokens:
            current.append(Segment(dom, doc, p, 0, n, 0))
            used += n
            continue
        if current:
            shards.append(current)
            current, used = [], 0
        if n <= shard_tokens:
            current, used = [Segment(dom, doc, p, 0, n, 0)], n
            continue
        for piece, start in enumerate(range(0, n, shard_tokens)):  # longer than a shard: the one cut allowed
            seg = Segment(dom, doc, p, start, min(start + shard_tokens, n), piece)
            if seg.end - seg.start == shard_tokens:
                shards.append([seg])
            else:
                current, used = [seg], seg.end - seg.start
    if current:
        shards.append(current)
    return shards
