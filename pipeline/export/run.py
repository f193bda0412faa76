"""`winnow export` end to end: check everything, tokenize (or reuse) pools, mix, write shards, then the manifest."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from winnow.pipeline import storage
from winnow.pipeline.config import ConfigError
import winnow.pipeline.export.formats as formats
from winnow.pipeline.export.config import ExportConfig, load_weights
from winnow.pipeline.export.blend import (
    DomainPlan, MixError, check_shares, default_budget, interleave, normalise, pack, plan_mix,
)
from winnow.pipeline.tokens.tokenizer import DEFAULT_EOS, Tokenizer, TokenizerError, train_tokenizer
from winnow.pipeline.tokens.pools import DEFAULT_DOMAIN, build_pools
from winnow.pipeline.tokens.documents import document_files, scan_inputs

MANIFEST = "manifest.json"
IN_PROGRESS = ".export-in-progress"
MANIFEST_VERSION = 1


class ExportError(ValueError):
    """An export that cannot start (bad input) or cannot finish; the message says which and why."""


@dataclass
class Prepared:
    cfg: ExportConfig
    weights: dict[str, float]
    weights_source: str | None
    files: list[str]
    content_hash: str
    domain_stats: dict[str, dict[str, int]]
    tokenizer: Tokenizer | None  # None: trained from the documents before tokenizing
    fingerprint: str | None  # None until a tokenizer that is to be trained exists


def prepare(cfg: ExportConfig, overwrite: bool = False) -> Prepared:
    """Every check that needs no tokenizing, so bad input fails in seconds and before anything is written."""
    try:
        weights, weights_source = load_weights(cfg.weights)
        files = document_files([cfg.documents] if isinstance(cfg.documents, str) else list(cfg.documents))
        # One read of the inputs: their content hash (the fingerprint and the pools' cache key) and what is in them;
        # a file without text, a line that is not JSON or text that cannot be UTF-8 stops the export here.
        content, stats = scan_inputs(files, DEFAULT_DOMAIN)
    except (ConfigError, storage.InputError) as exc:
        raise ExportError(str(exc)) from None
    unweighted = sorted(set(stats) - set(weights))
    if unweighted:
        raise ExportError(
            f"domain(s) {', '.join(unweighted)} are in the documents but missing from the weights "
            f"({weights_source or 'inline'}); give them a weight (0 leaves a domain out)"
        )
    absent = sorted(d for d, w in weights.items() if w > 0 and d not in stats)
    if absent:
        raise ExportError(
            f"weights name domain(s) {', '.join(absent)} that have no documents; present: {', '.join(sorted(stats))}"
        )
    tok_path = cfg.tokenizer.path
    has_file = os.path.isfile(tok_path) or os.path.isfile(os.path.join(tok_path, "tokenizer.json"))
    tokenizer = None
    try:
        if has_file:
            tokenizer = Tokenizer.load(tok_path, eos_token=cfg.tokenizer.eos_token, fast=cfg.tokenizer.fast)
        elif not cfg.tokenizer.train_vocab_size:
            Tokenizer.load(tok_path)  # raises the clear "does not exist" message
    except TokenizerError as exc:
        raise ExportError(str(exc)) from None
    if cfg.total_tokens:
        # A byte-level token covers at least one byte, so bytes + one EOS per document bounds a domain's tokens.
        try:
            bound = {d: s["bytes"] + s["documents"] for d, s in stats.items()}
            check_shares(weights, bound, cfg.total_tokens, cfg.max_epochs, what="has at most")
        except MixError as exc:
            raise ExportError(str(exc)) from None
    # Without a tokenizer yet (it is trained first) the fingerprint is known only after training.
    fingerprint = export_fingerprint(cfg, content, tokenizer, weights) if tokenizer else None
    _check_output(cfg.output, fingerprint, overwrite)
    return Prepared(cfg, weights, weights_source, files, content, stats, tokenizer, fingerprint)


def export_fingerprint(cfg: ExportConfig, content_hash: str, tokenizer: Tokenizer, weights: dict[str, float]) -> str:
    """Hash of everything that decides the shards' bytes: a rerun with the same one is a no-op."""
    return hashlib.sha256(
        json.dumps(
            [
                content_hash,
                tokenizer.ids_key,  # the tokenizer.json hash alone misses another EOS or encoder
                normalise(weights),
                cfg.total_tokens,
                cfg.max_epochs,
                cfg.seed,
                cfg.shard_tokens,
                sorted(cfg.formats),
                MANIFEST_VERSION,
            ]
        ).encode()
    ).hexdigest()[:16]


def _check_output(out: str, fingerprint: str | None, overwrite: bool) -> None:
    if not os.path.isdir(out) or not os.listdir(out):
        return
    manifest = os.path.join(out, MANIFEST)
    marker = os.path.join(out, IN_PROGRESS)
    ours = os.path.isfile(manifest) or os.path.isfile(marker)
    if not ours:
        raise ExportError(f"output {out!r} is not empty and holds no export; choose another --output")
    if overwrite:
        return
    previous = None
    if os.path.isfile(manifest):
        with open(manifest, encoding="utf-8") as f:
            previous = json.load(f).get("export_fingerprint")
    else:
        with open(marker, encoding="utf-8") as f:
            previous = f.read().strip()
    if previous != fingerprint:
        raise ExportError(
            f"output {out!r} holds another export (fingerprint {previous}, this one {fingerprint}); "
            "pass --overwrite to replace it or choose another --output"
        )


def run_export(cfg: ExportConfig, overwrite: bool = False, say: Callable[[str], None] = lambda m: None) -> dict:
    t0 = time.time()
    prep = prepare(cfg, overwrite)
    manifest_path = os.path.join(cfg.output, MANIFEST)
    if os.path.isfile(manifest_path) and not overwrite:
        with open(manifest_path, encoding="utf-8") as f:
            manifest = json.load(f)
        if manifest.get("export_fingerprint") == prep.fingerprint:
            say(f"{cfg.output} already holds this export; nothing to do")
            return manifest
    tokenizer = prep.tokenizer
    if tokenizer is None:
        say(
            f"training a {cfg.tokenizer.train_vocab_size}-token byte-level BPE on the documents → {cfg.tokenizer.path}"
        )
        tokenizer = _train(cfg, prep.files)
        prep.fingerprint = export_fingerprint(cfg, prep.content_hash, tokenizer, prep.weights)
    share = normalise(prep.weights)
    say(f"tokenizing {len(share)} domain(s) with {tokenizer.encoder} (cached in {cfg.pool_cache()})")
    t_tok = time.time()
    try:
        pools = build_pools(
            prep.files, tokenizer, cfg.pool_cache(), domains=sorted(share), content_hash=prep.content_hash
        )
    except storage.InputError as exc:  # an input that changed or broke after the checks
        raise ExportError(str(exc)) from None
    t_tok = time.time() - t_tok
    total = cfg.total_tokens or default_budget(prep.weights, {d: p.num_tokens for d, p in pools.items()})
    try:
        plans = plan_mix(pools, prep.weights, total, cfg.seed, cfg.max_epochs)
    except MixError as exc:
        raise ExportError(str(exc)) from None
    shards = pack(interleave(plans, cfg.seed), pools, cfg.shard_tokens)

    if overwrite and os.path.isdir(cfg.output):
        shutil.rmtree(cfg.output)
    os.makedirs(cfg.output, exist_ok=True)
    if os.path.isfile(manifest_path):
        os.remove(manifest_path)  # a half-rewritten directory must not look complete
    with open(os.path.join(cfg.output, IN_PROGRESS), "w", encoding="utf-8") as f:
        f.write(prep.fingerprint)
    say(f"writing {len(shards)} shard(s) of ≤ {cfg.shard_tokens:,} tokens, {total:,} tokens asked")
    shard_entries = [_write_shard(cfg, i, segs, pools, tokenizer) for i, segs in enumerate(shards)]
    manifest = _manifest(prep, tokenizer, total, plans, pools, shard_entries, time.time() - t0, t_tok)
    storage.write_atomic(manifest_path, json.dumps(manifest, indent=2).encode())
    os.remove(os.path.join(cfg.output, IN_PROGRESS))
    return manifest


def _train(cfg: ExportConfig, files: list[str]) -> Tokenizer:
    """Train a byte-level BPE with the configured EOS token into `tokenizer.path`. One that cannot be used is removed:
    every later run would find it and fail the same way."""
    eos = cfg.tokenizer.eos_token or DEFAULT_EOS
    path = train_tokenizer(files, cfg.tokenizer.train_vocab_size, cfg.tokenizer.path, eos_token=eos)
    try:
        return Tokenizer.load(path, eos_token=cfg.tokenizer.eos_token, fast=cfg.tokenizer.fast)
    except TokenizerError as exc:
        for name in (path, os.path.join(os.path.dirname(path), "tokenizer_config.json")):
            if os.path.isfile(name):
                os.remove(name)
        raise ExportError(f"the tokenizer trained into {cfg.tokenizer.path} cannot be used: {exc}") from None


def _write_shard(cfg: ExportConfig, index: int, segs: list, pools: dict, tokenizer: Tokenizer) -> dict:
    name = f"shard_{index:05d}"
    seqs = [
        pools[s.domain].tokens[
            pools[s.domain].doc_offsets[s.doc] + s.start : pools[s.domain].doc_offsets[s.doc] + s.end
        ]
        for s in segs
    ]
    files: dict[str, dict] = {}  # relative path → checksum, taken as each file is written
    if "megatron" in cfg.formats:
        os.makedirs(os.path.join(cfg.output, "megatron"), exist_ok=True)
        written = formats.write_megatron(
            os.path.join(cfg.output, "megatron", name), seqs, formats.megatron_dtype(tokenizer.vocab_size)
        )
        files.update((f"megatron/{os.path.basename(p)}", c) for p, c in written.items())
    if "numpy" in cfg.formats:
        os.makedirs(os.path.join(cfg.output, "numpy"), exist_ok=True)
        flat = np.concatenate(seqs).astype(formats.flat_dtype(tokenizer.vocab_size), copy=False)
        files[f"numpy/{name}.npy"] = formats.write_flat(os.path.join(cfg.output, "numpy", f"{name}.npy"), flat)
    lengths = np.array([s.end - s.start for s in segs], dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    table = pa.table(
        {
            "id": [pools[s.domain].doc_ids[s.doc] for s in segs],
            "domain": [s.domain for s in segs],
            "token_start": starts,
            "tokens": lengths,
            "doc_token_start": np.array([s.start for s in segs], dtype=np.int64),
            "piece": np.array([s.piece for s in segs], dtype=np.int32),
            "epoch": np.array([s.pass_ for s in segs], dtype=np.int32),
            "source": [pools[s.domain].sources[s.doc] for s in segs],
            "license": [pools[s.domain].licenses[s.doc] for s in segs],
        }
    )
    os.makedirs(os.path.join(cfg.output, "docs"), exist_ok=True)
    with formats.ChecksumWriter(os.path.join(cfg.output, "docs", f"{name}.parquet")) as f:
        pq.write_table(table, f, compression="zstd")
    files[f"docs/{name}.parquet"] = f.checksum()
    domains: dict[str, dict[str, int]] = {}
    for s, n in zip(segs, lengths):
        d = domains.setdefault(s.domain, {"tokens": 0, "documents": 0})
        d["tokens"] += int(n)
        d["documents"] += int(s.piece == 0)
    return {
        "name": name,
        "tokens": int(lengths.sum()),
        "documents": sum(int(s.piece == 0) for s in segs),
        "sequences": len(segs),
        "domains": dict(sorted(domains.items())),
        "files": files,
    }


def _manifest(
    prep: Prepared,
    tokenizer: Tokenizer,
    total: int,
    plans: dict,
    pools: dict,
    shards: list,
    seconds: float,
    tokenize_seconds: float,
) -> dict:
    cfg = prep.cfg
    return {
        "manifest_version": MANIFEST_VERSION,
        "export_fingerprint": prep.fingerprint,
        "total_tokens": sum(s["tokens"] for s in shards),
        "total_documents": sum(s["documents"] for s in shards),
        "token_budget": total,
        "seed": cfg.seed,
        "max_epochs": cfg.max_epochs,
        "shard_tokens": cfg.shard_tokens,
        "formats": {f: _format_info(f, tokenizer) for f in cfg.formats},
        "tokenizer": _tokenizer_info(tokenizer),
        "weights": normalise(prep.weights),
        "weights_given": prep.weights,
        "weights_source": os.path.abspath(prep.weights_source) if prep.weights_source else "inline",
        "domains": {d: _domain_info(p) for d, p in plans.items()},
        "shards": shards,
        "provenance": _provenance(prep, plans, pools),
        "seconds": round(seconds, 2),
        "tokenize_seconds": round(tokenize_seconds, 2),
    }


def _tokenizer_info(tokenizer: Tokenizer) -> dict:
    return {
        "path": os.path.abspath(tokenizer.path),
        "hash": tokenizer.fingerprint,
        "hash_algorithm": "sha256 of tokenizer.json, first 16 hex",
        "vocab_size": tokenizer.vocab_size,
        "eos_token": tokenizer.eos_token,
        "eos_id": tokenizer.eos_id,
        "encoder": tokenizer.encoder,
    }


def _domain_info(plan: DomainPlan) -> dict:
    return {
        "weight": plan.weight,
        "target_tokens": plan.target_tokens,
        "tokens": plan.tokens,
        "documents": len(plan.docs),
        "unique_documents": len(np.unique(plan.docs)),
        "epochs": round(plan.epochs, 4),
        "pool_tokens": plan.pool_tokens,
        "pool_documents": plan.pool_documents,
    }


def _provenance(prep: Prepared, plans: dict, pools: dict) -> dict:
    licenses, sources, unique = _tally_licenses_and_sources(plans, pools)
    return {
        "inputs": [os.path.abspath(f) if not storage.is_remote(f) else f for f in prep.files],
        "inputs_hash": prep.content_hash,
        "unique_documents": unique,
        "licenses": licenses,
        "sources": sources,
        "document_ids": "docs/shard_NNNNN.parquet: one row per sequence in shard order "
        "(id, domain, token_start, tokens, doc_token_start, piece, epoch, source, license)",
    }


def _tally_licenses_and_sources(plans: dict, pools: dict) -> tuple[dict, dict, int]:
    """Documents and tokens exported per licence and per source, counting each repeat; and the unique documents."""
    licenses: dict[str, dict[str, int]] = {}
    sources: dict[str, dict[str, int]] = {}
    unique = 0
    for dom, plan in plans.items():
        pool = pools[dom]
        lengths = pool.doc_lengths()
        unique += len(np.unique(plan.docs))
        for doc in plan.docs:
            for table, key in ((licenses, pool.licenses[doc]), (sources, pool.sources[doc])):
                entry = table.setdefault(key or "unknown", {"documents": 0, "tokens": 0})
                entry["documents"] += 1
                entry["tokens"] += int(lengths[doc])
    return dict(sorted(licenses.items())), dict(sorted(sources.items())), unique


def _format_info(fmt: str, tokenizer: Tokenizer) -> dict:
    if fmt == "megatron":
        return {
            "dtype": formats.megatron_dtype(tokenizer.vocab_size).name,
            "files": "megatron/shard_NNNNN.bin + .idx (MMIDIDX v1); one document per sequence; "
            "pass the prefix megatron/shard_NNNNN to Megatron's data_path",
        }
    return {
        "dtype": formats.flat_dtype(tokenizer.vocab_size).name,
        "files": "numpy/shard_NNNNN.npy: a 1-D token array (np.load(path, mmap_mode='r')); "
        "every document ends with eos_id",
    }
