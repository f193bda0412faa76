"""Per-domain token pools: each domain's documents tokenized once, cached on disk, shared by mix, export and ablate.

- `build_pools(documents, tokenizer, cache_dir, domains=None, exclude_ids=None) -> {domain: TokenPool}` tokenizes each
  domain's documents once, with EOS after every document. `documents` is a run's output directory (its
  `documents/*.parquet`) or Parquet/JSONL paths; rows are grouped by their `domain` column (null → "default").
  Pools are cached under `cache_dir` keyed by (content hash of the inputs, tokenizer fingerprint, EOS id and encoder,
  domain, excluded ids): a second call tokenizes nothing.
- `TokenPool`: `domain`, `tokens` (memmapped uint16/uint32), `doc_offsets` (int64, n_docs + 1; document i is
  `tokens[doc_offsets[i]:doc_offsets[i + 1]]`, its last token the EOS), `doc_ids`, and per-document `sources` and
  `licenses` for provenance; `num_tokens`, `num_docs`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import uuid
from dataclasses import dataclass, field

import numpy as np

from winnow.pipeline.tokens.documents import document_batches, document_files, inputs_hash
from winnow.pipeline.tokens.tokenizer import Tokenizer

log = logging.getLogger(__name__)

POOL_FORMAT = 1  # bump when the cache layout changes, so old pools are never misread
DEFAULT_DOMAIN = "default"
ENCODE_BATCH = 512  # documents per encode call: big enough for the tokenizer's threads, small enough for memory
VERIFY_DOCS = 32  # documents per input file re-encoded with the reference encoder when a fast encoder is used
VERIFY_CHARS = 4000  # ... each cut to this many characters, so verifying costs well under 1% of a large file


@dataclass
class TokenPool:
    """One domain's documents tokenized once: a flat token array with document boundaries and ids."""

    domain: str
    tokens: np.ndarray
    doc_offsets: np.ndarray
    doc_ids: list[str]
    sources: list[str | None] = field(default_factory=list)
    licenses: list[str | None] = field(default_factory=list)
    cache_path: str | None = None

    @property
    def num_tokens(self) -> int:
        return int(self.doc_offsets[-1])

    @property
    def num_docs(self) -> int:
        return len(self.doc_offsets) - 1

    def doc_lengths(self) -> np.ndarray:
        return np.diff(self.doc_offsets)

    def document(self, i: int) -> np.ndarray:
        return self.tokens[self.doc_offsets[i] : self.doc_offsets[i + 1]]


class _FastEncoderMismatch(Exception):
    """The fast encoder's ids differed from the reference's on real text, so what it encoded so far is suspect."""


def pool_key(content_hash: str, tokenizer: Tokenizer, domain: str, exclude_ids: set[str] | None) -> str:
    excluded = hashlib.sha256("\n".join(sorted(exclude_ids or ())).encode()).hexdigest()[:16]
    raw = f"pool-v{POOL_FORMAT}|{content_hash}|{tokenizer.ids_key}|{domain}|{excluded}"
    return hashlib.sha256(raw.encode()).hexdigest()[:24]


def build_pools(
    documents: str | list[str],
    tokenizer: Tokenizer,
    cache_dir: str,
    domains: list[str] | None = None,
    exclude_ids: set[str] | None = None,
    file_domains: dict[str, str] | None = None,
    content_hash: str | None = None,
) -> dict[str, TokenPool]:
    """Tokenize each domain's documents once (or load them from the cache); EOS after every document.

    `file_domains` (input file → domain) overrides the files' own domain column. `content_hash`: `inputs_hash` of
    the expanded documents when the caller already has it (`winnow export` and `winnow mix` do), so the inputs are
    not read for it again."""
    files = document_files([documents] if isinstance(documents, str) else list(documents))
    content_hash = content_hash or inputs_hash(files)
    content = content_hash
    if file_domains:  # the same bytes labelled differently are different pools
        labels = "|".join(file_domains.get(f, "") for f in files)
        content = hashlib.sha256(f"{content}|{labels}".encode()).hexdigest()[:24]
    index = os.path.join(cache_dir, f"domains-{pool_key(content, tokenizer, '*', exclude_ids)}.json")
    wanted = list(domains) if domains is not None else _cached_domains(index)
    dirs = {d: os.path.join(cache_dir, pool_key(content, tokenizer, d, exclude_ids)) for d in wanted or ()}
    if wanted is None or any(not os.path.isfile(os.path.join(p, "pool.json")) for p in dirs.values()):
        # One pass over the inputs tokenizes every domain not cached yet (all of them when none were asked for).
        try:
            present = _tokenize_domains(
                files,
                tokenizer,
                lambda d: os.path.join(cache_dir, pool_key(content, tokenizer, d, exclude_ids)),
                None if wanted is None else set(wanted),
                exclude_ids or set(),
                content,
                file_domains or {},
            )
        except _FastEncoderMismatch:
            # The tokenizer now uses the reference encoder, whose pools have other keys: start again under them.
            return build_pools(documents, tokenizer, cache_dir, domains, exclude_ids, file_domains, content_hash)
        os.makedirs(cache_dir, exist_ok=True)
        with open(index, "w", encoding="utf-8") as f:
            json.dump(sorted(present), f)
        if wanted is None:
            wanted = sorted(present)
            dirs = {d: os.path.join(cache_dir, pool_key(content, tokenizer, d, exclude_ids)) for d in wanted}
        missing = [d for d in wanted if d not in present]
        if missing:
            raise ValueError(
                f"domain(s) {', '.join(missing)} not found in the documents; present: {', '.join(sorted(present))}"
            )
    return {d: load_pool(dirs[d]) for d in wanted}


def _cached_domains(index: str) -> list[str] | None:
    if not os.path.isfile(index):
        return None
    with open(index, encoding="utf-8") as f:
        return json.load(f)


class _PoolWriter:
    """Appends one domain's tokens to a temporary directory that becomes the cached pool when complete."""

    def __init__(self, final_dir: str, dtype: np.dtype):
        self.final_dir = final_dir
        self.tmp = f"{final_dir}.tmp-{uuid.uuid4().hex[:8]}"
        os.makedirs(self.tmp)
        self.dtype = dtype
        self.file = open(os.path.join(self.tmp, "tokens.bin"), "wb")
        self.lengths: list[int] = []
        self.ids: list[str] = []
        self.sources: list[str | None] = []
        self.licenses: list[str | None] = []

    def add(self, encoded: list[list[int]], eos: int, ids: list, sources: list, licenses: list) -> None:
        lengths = [len(e) + 1 for e in encoded]
        flat = np.empty(sum(lengths), dtype=self.dtype)
        pos = 0
        for e, n in zip(encoded, lengths):
            flat[pos : pos + n - 1] = e
            flat[pos + n - 1] = eos
            pos += n
        self.file.write(flat.tobytes())
        self.lengths.extend(lengths)
        self.ids.extend(ids)
        self.sources.extend(sources)
        self.licenses.extend(licenses)

    def close(self, meta: dict) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        self.file.close()
        offsets = np.zeros(len(self.lengths) + 1, dtype=np.int64)
        np.cumsum(self.lengths, out=offsets[1:])
        np.save(os.path.join(self.tmp, "offsets.npy"), offsets)
        docs = pa.table(
            {"id": self.ids, "source": self.sources, "license": self.licenses},
            schema=pa.schema([("id", pa.string()), ("source", pa.string()), ("license", pa.string())]),
        )
        pq.write_table(docs, os.path.join(self.tmp, "docs.parquet"))
        meta = {**meta, "dtype": self.dtype.name, "num_tokens": int(offsets[-1]), "num_docs": len(self.lengths)}
        with open(os.path.join(self.tmp, "pool.json"), "w", encoding="utf-8") as f:
            json.dump(meta, f, indent=2)
        if os.path.isdir(self.final_dir):  # another process finished the same pool first: identical content
            shutil.rmtree(self.tmp)
        else:
            os.rename(self.tmp, self.final_dir)

    def abort(self) -> None:
        self.file.close()
        shutil.rmtree(self.tmp, ignore_errors=True)


def _tokenize_domains(
    files: list[str], tokenizer: Tokenizer, dir_for, wanted: set[str] | None, exclude_ids: set[str], content_hash: str,
    file_domains: dict[str, str],
) -> set[str]:
    """Tokenize the wanted domains that are not cached (all domains if wanted is None); returns every domain seen."""
    writers: dict[str, _PoolWriter | None] = {}  # None: cached already or not wanted
    present: set[str] = set()
    try:
        for path in files:
            verified = False
            for batch in document_batches(path, ENCODE_BATCH, DEFAULT_DOMAIN, file_domains.get(path)):
                by_domain: dict[str, list[int]] = {}
                for i, (doc_id, dom) in enumerate(zip(batch["id"], batch["domain"])):
                    present.add(dom)
                    if dom not in writers:
                        done = os.path.isfile(os.path.join(dir_for(dom), "pool.json"))
                        take = (wanted is None or dom in wanted) and not done
                        writers[dom] = _PoolWriter(dir_for(dom), tokenizer.dtype) if take else None
                    if writers[dom] is not None and doc_id not in exclude_ids:
                        by_domain.setdefault(dom, []).append(i)
                for dom, rows in by_domain.items():
                    texts = [batch["text"][i] or "" for i in rows]
                    if not verified:  # a bounded sample per file: the reference encoder is the slow one
                        if not tokenizer.verify([t[:VERIFY_CHARS] for t in texts[:VERIFY_DOCS]]):
                            raise _FastEncoderMismatch(path)
                        verified = True
                    writers[dom].add(
                        tokenizer.encode_batch(texts),
                        tokenizer.eos_id,
                        [batch["id"][i] for i in rows],
                        [batch["source"][i] for i in rows],
                        [batch["license"][i] for i in rows],
                    )
        for dom, w in writers.items():
            if w is not None:
                w.close(
                    {
                        "format": POOL_FORMAT,
                        "domain": dom,
                        "inputs_hash": content_hash,
                        "tokenizer": tokenizer.fingerprint,
                        "encoder": tokenizer.encoder,
                        "inputs": files,
                    }
                )
    except BaseException:
        for w in writers.values():
            if w is not None:
                w.abort()
        raise
    return present


def load_pool(directory: str) -> TokenPool:
    """Open a cached pool: tokens memory-mapped, offsets and ids in memory."""
    import pyarrow.parquet as pq

    with open(os.path.join(directory, "pool.json"), encoding="utf-8") as f:
        meta = json.load(f)
    offsets = np.load(os.path.join(directory, "offsets.npy"))
    n = int(meta["num_tokens"])
    tokens = (
        np.memmap(os.path.join(directory, "tokens.bin"), dtype=meta["dtype"], mode="r", shape=(n,))
        if n
        else np.zeros(0, dtype=meta["dtype"])
    )
    docs = pq.read_table(os.path.join(directory, "docs.parquet")).to_pydict()
    return TokenPool(
        domain=meta["domain"],
        tokens=tokens,
        doc_offsets=offsets,
        doc_ids=docs["id"],
        sources=docs["source"],
        licenses=docs["license"],
        cache_path=directory,
    )
