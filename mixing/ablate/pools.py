"""One tokenizer for every variant (given, or trained once on their union) and each variant's token pool, cached."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import uuid

import numpy as np
from winnow.mixing.ablate.variants import Docs, Variant
from winnow.mixing.data import TOKENIZER_SAMPLE_BYTES
from winnow.pipeline.tokens.tokenizer import Tokenizer, train_tokenizer

log = logging.getLogger("winnow.ablate")


def tokenizer_for(path: str | None, vocab_size: int, variants: list[Variant], cache_dir: str) -> Tokenizer:
    """The given tokenizer, or the BPE this cache trained on the union of the variants (kept afterwards).

    Every variant is encoded with the same tokenizer, so a variant is never favoured by its own vocabulary. Each
    variant contributes an equal share of the training text (duplicates across variants counted once). As with
    `winnow mix`, the first tokenizer a cache trains stays, so changing a variant leaves other cached runs valid.
    """
    if path:
        return Tokenizer.load(path)
    out = os.path.join(cache_dir, f"tokenizer-v{vocab_size}")
    if os.path.isfile(os.path.join(out, "tokenizer.json")):
        return Tokenizer.load(out)
    quota = TOKENIZER_SAMPLE_BYTES // max(1, len(variants))
    seen: set[bytes] = set()
    texts: list[str] = []
    for v in variants:
        size = 0
        for t in v.docs.texts:
            h = hashlib.blake2b(t.encode("utf-8", "replace"), digest_size=12).digest()
            if t and h not in seen and size < quota:
                seen.add(h)
                texts.append(t)
                size += len(t)
    log.info("training a %d-token BPE on %d documents from %d variants", vocab_size, len(texts), len(variants))
    tmp = f"{out}.tmp-{uuid.uuid4().hex[:8]}"
    train_tokenizer(texts, vocab_size, tmp)
    with open(os.path.join(tmp, "trained_on.json"), "w", encoding="utf-8") as f:
        json.dump({"variants": [v.name for v in variants], "documents": len(texts)}, f)
    try:
        os.replace(tmp, out)  # atomic: a half-written tokenizer is never picked up
    except OSError:  # another ablation sharing this cache got there first
        shutil.rmtree(tmp, ignore_errors=True)
    return Tokenizer.load(out)


def encode(tok: Tokenizer, texts: list[str]) -> list[list[int]]:
    out: list[list[int]] = []
    for i in range(0, len(texts), 512):
        out.extend(tok.encode_batch(texts[i : i + 512]))
    return out


def _content_hash(docs: Docs) -> str:
    h = hashlib.sha256()
    for i, t in zip(docs.ids, docs.texts):
        h.update(i.encode("utf-8", "replace") + b"\x00" + t.encode("utf-8", "replace") + b"\x01")
    return h.hexdigest()[:24]


def fingerprint(tok: Tokenizer, tokens: np.ndarray) -> str:
    h = hashlib.sha256(tok.fingerprint.encode())
    h.update(np.ascontiguousarray(tokens).view(np.uint8))
    return h.hexdigest()[:16]


def pool(tok: Tokenizer, docs: Docs, cache_dir: str) -> np.ndarray:
    """The documents' tokens, EOS after each, in document order; tokenized once per (documents, tokenizer)."""
    key = hashlib.sha256(f"ablate-pool-v1|{tok.ids_key}|{_content_hash(docs)}".encode()).hexdigest()[:24]  # EOS in key
    path = os.path.join(cache_dir, "pools", f"{key}.npy")
    if os.path.isfile(path):
        return np.load(path)
    lengths, parts = [], []
    for ids in encode(tok, docs.texts):
        parts.append(ids)
        lengths.append(len(ids) + 1)
    flat = np.empty(sum(lengths), dtype=tok.dtype)
    pos = 0
    for ids, n in zip(parts, lengths):
        flat[pos : pos + n - 1] = ids
        flat[pos + n - 1] = tok.eos_id
        pos += n
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f"{path}.{uuid.uuid4().hex[:8]}.npy"
    np.save(tmp, flat)
    os.replace(tmp, path)
    return flat
