"""What a mix trains and scores on: per-domain token pools (minus held-out documents) and the target sets.

Every domain's documents are split by a hash of their id: a fixed fraction is held out whatever the
targets are, so changing the targets never changes the training pools (and the swarm cache still applies).
Held-out texts that also occur verbatim under another id in the training part are removed from training.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from dataclasses import dataclass, field

import numpy as np

from winnow.mixing.config import MixConfig
from winnow.pipeline.tokens.tokenizer import Tokenizer, train_tokenizer
from winnow.pipeline.tokens.pools import DEFAULT_DOMAIN, TokenPool, build_pools
from winnow.pipeline.tokens.documents import HashedInputs, document_batches, document_files

log = logging.getLogger("winnow.mix")

TOKENIZER_SAMPLE_BYTES = 8_000_000  # BPE training text: enough for a 2k-8k vocabulary, seconds not minutes


class MixInputError(ValueError):
    """Input that cannot be mixed (a domain with no documents, a target overlapping training data); before training."""


@dataclass
class Target:
    name: str
    tokens: np.ndarray
    weight: float
    source: str  # "heldout:<domain>" or the user's path
    doc_ids: list[str]
    texts: list[str] = field(repr=False)
    fingerprint: str = ""


@dataclass
class MixData:
    domains: list[str]
    pools: dict[str, TokenPool]
    pool_fingerprints: dict[str, str]
    targets: list[Target]
    tokenizer: Tokenizer
    heldout_docs: dict[str, int]

    def num_tokens(self) -> dict[str, int]:
        return {d: self.pools[d].num_tokens for d in self.domains}


def is_heldout(doc_id: str, fraction: float) -> bool:
    h = int.from_bytes(hashlib.sha256(doc_id.encode()).digest()[:8], "big")
    return h / 2**64 < fraction


def _text_hash(text: str) -> bytes:
    return hashlib.blake2b(text.encode("utf-8", "replace"), digest_size=12).digest()


def corpus_files(cfg: MixConfig) -> tuple[list[str], dict[str, str]]:
    """The input files, and for `sources:` which domain each file's documents belong to."""
    if cfg.sources is None:
        return document_files([cfg.documents] if isinstance(cfg.documents, str) else list(cfg.documents)), {}
    file_domains: dict[str, str] = {}
    for domain, paths in cfg.sources.items():
        for f in document_files([paths] if isinstance(paths, str) else list(paths)):
            if file_domains.setdefault(f, domain) != domain:
                raise MixInputError(f"{f} is listed under two domains in sources: {file_domains[f]} and {domain}")
    return list(file_domains), file_domains


def _scan(files: list[str], fraction: float, file_domains: dict[str, str]) -> tuple[dict, dict, dict, str]:
    """One pass over the documents: per domain, held-out (id, text) pairs and training text hashes and ids; and the
    inputs' content hash (`inputs_hash`, the pools' cache key), from the same read of each file."""
    heldout: dict[str, list[tuple[str, str]]] = {}
    train_hashes: dict[bytes, list[str]] = {}  # text hash → every id holding it
    train_ids: dict[str, str] = {}  # id → domain
    inputs = HashedInputs(files)
    for path, held in inputs:
        for batch in document_batches(path, 2048, DEFAULT_DOMAIN, file_domains.get(path), source=held):
            for doc_id, text, dom in zip(batch["id"], batch["text"], batch["domain"]):
                text = text or ""
                if is_heldout(doc_id, fraction):
                    heldout.setdefault(dom, []).append((doc_id, text))
                else:
                    train_ids[doc_id] = dom
                    train_hashes.setdefault(_text_hash(text), []).append(doc_id)
    return heldout, train_hashes, train_ids, inputs.content_hash


def _tokenizer(cfg: MixConfig, files: list[str], file_domains: dict[str, str], exclude: set[str],
               cache_dir: str, content_hash: str) -> Tokenizer:
    """The configured tokenizer, or the one this cache trained: one per vocabulary size, kept when documents change.

    Pools, and so cached proxy runs, are only comparable under one tokenizer. Retraining whenever the corpus
    changed (a domain added, a rerun of `winnow run`) would invalidate every cached run, so the first BPE trained
    in a cache stays; a byte-level BPE encodes any new text, only less compactly. Delete the cache's
    `tokenizer-v<size>` directory (or set `tokenizer:`) to train afresh.
    """
    if cfg.tokenizer:
        return Tokenizer.load(cfg.tokenizer)
    out = os.path.join(cache_dir, f"tokenizer-v{cfg.vocab_size}")
    if os.path.isfile(os.path.join(out, "tokenizer.json")):
        return Tokenizer.load(out)
    # A quota per domain, so a large domain does not crowd the others out of the vocabulary.
    texts: list[str] = []
    sizes: dict[str, int] = {}
    quota = TOKENIZER_SAMPLE_BYTES // max(1, len(cfg.domains or [])) if cfg.domains else TOKENIZER_SAMPLE_BYTES // 8
    for path in files:
        for batch in document_batches(path, 512, DEFAULT_DOMAIN, file_domains.get(path)):
            for doc_id, text, dom in zip(batch["id"], batch["text"], batch["domain"]):
                if text and doc_id not in exclude and sizes.get(dom, 0) < quota:
                    texts.append(text)
                    sizes[dom] = sizes.get(dom, 0) + len(text)
    log.info("training a %d-token BPE on %.1f MB of training text", cfg.vocab_size, sum(sizes.values()) / 1e6)
    tmp = f"{out}.tmp-{os.getpid()}"
    train_tokenizer(texts, cfg.vocab_size, tmp)
    with open(os.path.join(tmp, "trained_on.json"), "w", encoding="utf-8") as f:
        json.dump({"inputs": content_hash, "domains": {d: sizes[d] for d in sorted(sizes)}}, f)
    try:
        os.replace(tmp, out)  # atomic: a half-written tokenizer is never picked up by a later run
    except OSError:  # another mix sharing this cache got there first: use theirs
        shutil.rmtree(tmp, ignore_errors=True)
    return Tokenizer.load(out)


def _encode(tok: Tokenizer, texts: list[str]) -> np.ndarray:
    ids: list[int] = []
    for e in tok.encode_batch(texts):
        ids.extend(e)
        ids.append(tok.eos_id)
    return np.asarray(ids, dtype=np.int64)


def _fingerprint(tok: Tokenizer, tokens: np.ndarray) -> str:
    h = hashlib.sha256(tok.fingerprint.encode())
    h.update(np.ascontiguousarray(tokens).view(np.uint8))
    return h.hexdigest()[:16]


def prepare(cfg: MixConfig) -> MixData:
    """Pools and targets, with every input check done before any proxy trains."""
    files, file_domains = corpus_files(cfg)
    heldout, train_hashes, train_ids, content_hash = _scan(files, cfg.heldout_fraction, file_domains)
    present = sorted(set(train_ids.values()) | set(heldout))
    domains = list(cfg.domains) if cfg.domains else present
    empty = [d for d in domains if d not in set(train_ids.values())]
    if empty:
        raise MixInputError(f"domain(s) {', '.join(empty)} have no training documents; domains present: {', '.join(present)}")
    if len(domains) < 2:
        raise MixInputError(f"mixing needs at least two domains, found {domains}")

    # Held-out documents and verbatim copies of them stay out of training (and out of the tokenizer).
    exclude = {i for docs in heldout.values() for i, _ in docs}
    exclude |= {i for docs in heldout.values() for _, t in docs for i in train_hashes.get(_text_hash(t), ())}
    cache_dir = cfg.resolved_cache_dir()
    tok = _tokenizer(cfg, files, file_domains, exclude, cache_dir, content_hash)
    pools = build_pools(files, tok, os.path.join(cache_dir, "pools"), domains=domains, exclude_ids=exclude,
                        file_domains=file_domains, content_hash=content_hash)
    min_tokens = cfg.proxy.seq_len + 1
    short = [f"{d} ({p.num_tokens} tokens)" for d, p in pools.items() if p.num_tokens < min_tokens]
    if short:
        raise MixInputError(f"domain(s) {', '.join(short)} hold fewer than {min_tokens} training tokens (seq_len + 1)")

    targets = []
    for t in cfg.targets:
        if t.domain is not None:
            if t.domain not in present:
                raise MixInputError(f"target {t.label()!r}: domain {t.domain!r} is not in the documents; present: {', '.join(present)}")
            docs = heldout.get(t.domain, [])
            source = f"heldout:{t.domain}"
        else:
            paths = [t.path] if isinstance(t.path, str) else list(t.path)
            docs = [(i, x or "") for f in document_files(paths) for b in document_batches(f, 2048, DEFAULT_DOMAIN)
                    for i, x in zip(b["id"], b["text"])]
            source = ", ".join(paths)
            clash = [i for i, x in docs if (i in train_ids and train_ids[i] in domains) or _text_hash(x) in train_hashes]
            if clash:
                raise MixInputError(
                    f"target {t.label()!r} overlaps the training data: {len(clash)} of its {len(docs)} documents are "
                    f"training documents (same id or same text), e.g. {clash[:3]}; remove them from the target or the corpus"
                )
        tokens = _encode(tok, [x for _, x in docs]) if docs else np.zeros(0, dtype=np.int64)
        if len(tokens) < min_tokens:
            raise MixInputError(
                f"target {t.label()!r} ({source}) has {len(tokens)} tokens, fewer than {min_tokens}"
                + ("; raise heldout_fraction" if t.domain else "")
            )
        tokens = tokens[: cfg.proxy.eval_tokens + 1]
        targets.append(Target(name=t.label(), tokens=tokens, weight=t.weight, source=source,
                              doc_ids=[i for i, _ in docs], texts=[x for _, x in docs],
                              fingerprint=_fingerprint(tok, tokens)))
    names = [t.name for t in targets]
    if len(set(names)) != len(names):
        raise MixInputError(f"target names must be unique, got {names}; set name: on each target")
    return MixData(
        domains=domains, pools=pools, pool_fingerprints={d: _fingerprint(tok, p.tokens) for d, p in pools.items()},
        targets=targets, tokenizer=tok, heldout_docs={d: len(v) for d, v in heldout.items()},
    )


def write_targets(data: MixData, path: str) -> None:
    """The evaluation texts as JSONL (id, text, target): give it to a later run's decontamination stage."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        for t in data.targets:
            f.writelines(json.dumps({"id": doc_id, "text": text, "target": t.name, "source": t.source}) + "\n" for doc_id, text in zip(t.doc_ids, t.texts))
