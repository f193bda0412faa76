"""Everything before training: read and decide the variants, hold evaluation texts out of all of them, tokenize,
fix the budget, build the evaluation slices. Every refusal (exit code 2 on the command line) happens here."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from winnow.mixing.ablate import benchmarks as bench
from winnow.mixing.ablate import evalsets, pools, variants
from winnow.mixing.ablate.config import AblateConfig, AblateInputError
from winnow.mixing.ablate.heldout import OverlapIndex
from winnow.mixing.ablate.sources import read_source
from winnow.mixing.ablate.variants import Docs, Variant
from winnow.mixing.data import is_heldout
from winnow.pipeline.tokens.tokenizer import Tokenizer

MIN_SLICE_ITEMS = 3  # a slice with fewer items says nothing about a corpus


@dataclass
class AblationData:
    variants: list[Variant]
    control: tuple[Variant, Variant]
    slices: list[evalsets.Slice]
    tokenizer: Tokenizer
    pools: dict[str, np.ndarray]  # arm name → tokens
    pool_fps: dict[str, str]
    budget: int
    main: list[str]
    skipped_slices: list[str] = field(default_factory=list)
    seq_len: int = 64

    def arms(self) -> list[Variant]:
        return [*self.variants, *self.control]

    def usable(self, arm: str) -> int:
        """Tokens in whole windows: what the sampler can draw without repeating."""
        return (len(self.pools[arm]) - 1) // self.seq_len * self.seq_len


def _heldout(cfg: AblateConfig, sources: dict) -> tuple[str, str, dict[str, Docs]]:
    """The held-out documents of the run the config names (by id hash), grouped by domain."""
    name = cfg.heldout.variant or cfg.variants[0].name
    vc = next(v for v in cfg.variants if v.name == name)
    table, _ = sources[variants.source_key(vc.documents)]
    docs = Docs.of(table)
    keep = [is_heldout(i, cfg.heldout.fraction) for i in docs.ids]
    held = docs.subset(keep)
    by_domain: dict[str, list[int]] = {}
    order = sorted(range(len(held)), key=lambda i: hashlib.sha256(held.ids[i].encode()).digest())
    for i in order:  # a hash order: the first N of a domain are a fair sample, not the first files
        by_domain.setdefault(held.domains[i], []).append(i)
    return name, ", ".join(variants.source_key(vc.documents)), {
        d: Docs([held.ids[i] for i in ix], [held.texts[i] for i in ix], [d] * len(ix)) for d, ix in by_domain.items()}


def _budget(cfg: AblateConfig, data_variants: list[Variant], usable: dict[str, int], T: int) -> int:
    tier = cfg.tier_spec()
    smallest = min(data_variants, key=lambda v: usable[v.name])
    if usable[smallest.name] < T:
        raise AblateInputError(f"variant {smallest.name!r} holds fewer than {T + 1} training tokens (seq_len + 1)")
    if cfg.tokens == "auto":
        return min(tier.tokens, usable[smallest.name])
    budget = cfg.tokens or tier.tokens
    if not cfg.allow_repetition:
        for v in data_variants:
            if usable[v.name] < budget:
                raise AblateInputError(
                    f"variant {v.name!r} has {usable[v.name]:,} training tokens, fewer than the budget of {budget:,}: "
                    f"it would be repeated {budget / usable[v.name]:.2f}x; lower tokens: (or tokens: auto), "
                    "or set allow_repetition: true")
    return budget


def _slices(cfg: AblateConfig, tok: Tokenizer, held: tuple, refs: list, benches: list, T: int) -> tuple[list, list]:
    tier, out, skipped = cfg.tier_spec(), [], []
    name, source, by_domain = held
    candidates = [(f"heldout/{d}", f"fit to held-out {d} documents of {name} ({source})", source, docs.texts)
                  for d, docs in sorted(by_domain.items())]
    candidates += [(f"ref/{r.label()}", f"fit to {r.label()}", str(r.path), docs.texts) for r, docs in refs]
    for sname, label, src, texts in candidates:
        sl = evalsets.document_slice(sname, label, src, texts, tok, T, tier.eval_items, tier.eval_tokens)
        if sl is None or sl.n_items < MIN_SLICE_ITEMS:
            skipped.append(f"{sname}: {0 if sl is None else sl.n_items} document(s), fewer than {MIN_SLICE_ITEMS}"
                           + (" (raise heldout.fraction)" if sname.startswith("heldout/") else ""))
            continue
        out.append(sl)
    out += [evalsets.benchmark_slice(b, tok, T) for b in benches]
    return out, skipped


def _main(cfg: AblateConfig, slices: list[evalsets.Slice]) -> list[str]:
    names = {f"{s.name}:bpb" for s in slices} | {f"{s.name}:margin" for s in slices if s.kind == "mc"}
    if not slices:
        raise AblateInputError("no evaluation slice to score: raise heldout.fraction, or add references: or "
                               "benchmarks:")
    if cfg.main:
        unknown = [m for m in cfg.main if m not in names]
        if unknown:
            raise AblateInputError(f"main: unknown metric(s) {', '.join(unknown)}; "
                                   f"metrics: {', '.join(sorted(names))}")
        return list(cfg.main)
    return [f"{s.name}:bpb" for s in slices]


def prepare(cfg: AblateConfig, progress: Callable[[str], None] = lambda s: None) -> AblationData:
    cfg.check()
    tier, T = cfg.tier_spec(), cfg.proxy_dict(0)["seq_len"]
    benches = [bench.load(b, b.max_items or tier.eval_items) for b in cfg.benchmarks]  # formats first: cheapest
    refs = [(r, Docs.of(read_source(r.path, set())[0])) for r in cfg.references]
    progress("reading variants and applying their decisions")
    sources = variants.load_sources(cfg)
    chosen = [variants.select(v, *sources[variants.source_key(v.documents)]) for v in cfg.variants]
    held = _heldout(cfg, sources)
    # A domain no variant trains on says nothing about the decision (its scores are noise): no slice for it.
    trained = set().union(*(v.docs.domains for v in chosen))
    untrained = sorted(set(held[2]) - trained)
    held = (held[0], held[1], {d: docs for d, docs in held[2].items() if d in trained})
    index = OverlapIndex(cfg.heldout.overlap)
    for docs in [*held[2].values(), *(d for _, d in refs)]:
        for i, t in zip(docs.ids, docs.texts):
            index.add(i, t)
    for b in benches:
        for t in b.texts():
            index.add(None, t)
    for v in chosen:
        v.docs, v.excluded = index.remove_from(v.docs)
        if not len(v.docs):
            raise AblateInputError(f"variant {v.name!r}: every document overlaps an evaluation text")
        v.domains_used = {d: v.docs.domains.count(d) for d in sorted(set(v.docs.domains))}
    control = variants.halves(next(v for v in chosen if v.name == (cfg.control or chosen[0].name)))
    progress("tokenizing variants")
    tok = pools.tokenizer_for(cfg.tokenizer, cfg.vocab_size, chosen, cfg.resolved_cache_dir())
    arms = [*chosen, *control]
    token_pools = {v.name: pools.pool(tok, v.docs, cfg.resolved_cache_dir()) for v in arms}
    usable = {k: (len(p) - 1) // T * T for k, p in token_pools.items()}
    budget = _budget(cfg, chosen, usable, T)
    for h in control:
        if usable[h.name] < T:
            raise AblateInputError(f"control {h.halves_of!r}: a half holds fewer than {T + 1} tokens")
    slices, skipped = _slices(cfg, tok, held, refs, benches, T)
    skipped += [f"heldout/{d}: no variant trains on domain {d}" for d in untrained]
    return AblationData(chosen, control, slices, tok, token_pools,
                        {k: pools.fingerprint(tok, p) for k, p in token_pools.items()}, budget, _main(cfg, slices),
                        skipped, T)
