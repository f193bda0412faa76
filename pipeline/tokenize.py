"""Tokenization in one place: a local tokenizer, BPE training, and per-domain token pools cached on disk.

The API that `winnow mix` and `winnow export` both use:

- `Tokenizer.load(path)` wraps a local Hugging Face `tokenizer.json` (a file, or a directory holding one); nothing is
  fetched from a hub. It exposes `vocab_size`, `eos_id`, `fingerprint` (sha256 of the tokenizer.json bytes, 16 hex),
  `encode_batch(texts) -> list[list[int]]` and `decode(ids) -> str`. Byte-level BPE tokenizers are encoded with
  tiktoken built from the same ranks when that yields identical ids (checked on real text; see `pipeline.tokens`).
- `train_tokenizer(texts_or_paths, vocab_size, output_dir) -> path` trains a byte-level BPE and writes tokenizer.json.
- `build_pools(documents, tokenizer, cache_dir, domains=None, exclude_ids=None) -> {domain: TokenPool}` tokenizes each
  domain's documents once, with EOS after every document. `documents` is a run's output directory (its
  `documents/*.parquet`) or Parquet/JSONL paths; rows are grouped by their `domain` column (null → "default").
  Pools are cached under `cache_dir` keyed by (content hash of the inputs, tokenizer fingerprint, domain, excluded
  ids): a second call tokenizes nothing.
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
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from winnow.pipeline.tokens.documents import document_batches, document_files, inputs_hash, read_texts

log = logging.getLogger(__name__)

POOL_FORMAT = 1  # bump when the cache layout changes, so old pools are never misread
EOS_CANDIDATES = ("<|endoftext|>", "<|end_of_text|>", "</s>", "<eos>", "<|eos|>", "[EOS]")
DEFAULT_DOMAIN = "default"
ENCODE_BATCH = 512  # documents per encode call: big enough for the tokenizer's threads, small enough for memory
VERIFY_DOCS = 32  # documents per input file re-encoded with the reference encoder when a fast encoder is used
VERIFY_CHARS = 4000  # ... each cut to this many characters, so verifying costs well under 1% of a large file


class TokenizerError(ValueError):
    """A tokenizer that cannot be found or used; raised before any work starts."""


def _tokenizer_file(path: str) -> str:
    if os.path.isdir(path):
        path = os.path.join(path, "tokenizer.json")
    if not os.path.isfile(path):
        raise TokenizerError(
            f"tokenizer {path!r} does not exist; give a local tokenizer.json (or a directory holding one), "
            "or train one with `winnow train-tokenizer`"
        )
    return path


class Tokenizer:
    """A local Hugging Face tokenizer with an EOS id, a content fingerprint and a verified fast path."""

    def __init__(self, path: str, eos_token: str | None = None, fast: bool = True):
        from tokenizers import Tokenizer as HFTokenizer

        self.path = _tokenizer_file(path)
        with open(self.path, "rb") as f:
            data = f.read()
        self.fingerprint = hashlib.sha256(data).hexdigest()[:16]
        try:
            self._hf = HFTokenizer.from_str(data.decode("utf-8"))
        except Exception as exc:  # the Rust side raises plain Exceptions on malformed files
            raise TokenizerError(f"tokenizer {self.path!r} cannot be loaded: {exc}") from None
        self.vocab_size = self._hf.get_vocab_size(with_added_tokens=True)
        eos_token = eos_token or _configured_eos(os.path.dirname(self.path))
        names = [eos_token] if eos_token else list(EOS_CANDIDATES)
        ids = [self._hf.token_to_id(n) for n in names]
        found = [(n, i) for n, i in zip(names, ids) if i is not None]
        if not found:
            raise TokenizerError(
                f"tokenizer {self.path!r} has no end-of-document token (looked for {', '.join(names)})"
            )
        self.eos_token, self.eos_id = found[0]
        self.dtype = np.dtype(np.uint16) if self.vocab_size <= 1 << 16 else np.dtype(np.uint32)
        self.num_threads = os.cpu_count() or 1  # tiktoken's batch threads; tokenizers follows RAYON_NUM_THREADS
        self._fast = None
        if fast:
            from winnow.pipeline.tokens.tiktoken_bpe import fast_encoder

            self._fast = fast_encoder(json.loads(data))

    @classmethod
    def load(cls, path: str, eos_token: str | None = None, fast: bool = True) -> Tokenizer:
        return cls(path, eos_token=eos_token, fast=fast)

    @property
    def encoder(self) -> str:
        """Which encoder produces the ids: `tiktoken` (identical ids, faster) or `tokenizers`."""
        return "tiktoken" if self._fast is not None else "tokenizers"

    def encode_batch(self, texts: list[str]) -> list[list[int]]:
        if self._fast is not None:
            return self._fast.encode_batch(texts, num_threads=self.num_threads, allowed_special="all")
        return self.reference_encode_batch(texts)

    def reference_encode_batch(self, texts: list[str]) -> list[list[int]]:
        """The Hugging Face tokenizers library's own ids: the reference every fast path must equal."""
        return [e.ids for e in self._hf.encode_batch_fast(texts, add_special_tokens=False)]

    def verify(self, texts: list[str]) -> bool:
        """Compare the fast encoder with the reference on real texts; on any difference fall back for good."""
        if self._fast is None or not texts:
            return True
        if self._fast.encode_batch(
            texts, num_threads=self.num_threads, allowed_special="all"
        ) == self.reference_encode_batch(texts):
            return True
        log.warning("tiktoken ids differ from tokenizers ids for %s; using tokenizers from now on", self.path)
        self._fast = None
        return False

    def decode(self, ids: Iterable[int]) -> str:
        return self._hf.decode([int(i) for i in ids], skip_special_tokens=False)


def _configured_eos(directory: str) -> str | None:
    """The eos_token a transformers-style tokenizer_config.json beside tokenizer.json names, if any."""
    cfg = os.path.join(directory, "tokenizer_config.json")
    if not os.path.isfile(cfg):
        return None
    try:
        with open(cfg, encoding="utf-8") as f:
            eos = json.load(f).get("eos_token")
    except (ValueError, OSError):
        return None
    return eos.get("content") if isinstance(eos, dict) else eos


def train_tokenizer(
    texts_or_paths: str | Sequence[str], vocab_size: int, output_dir: str, eos_token: str = "<|endoftext|>"
) -> str:
    """Train a byte-level BPE (GPT-2 style: every byte encodable, no unknown token) and write tokenizer.json.

    `texts_or_paths` is a path, a list of paths (JSONL/Parquet files, globs or run output directories), or a list
    of texts (when not every item names an existing path). Returns the tokenizer.json path.
    """
    from tokenizers import Tokenizer as HFTokenizer
    from tokenizers import decoders, models, pre_tokenizers, trainers

    items = [texts_or_paths] if isinstance(texts_or_paths, str) else list(texts_or_paths)
    if not items:
        raise ValueError("train_tokenizer: no texts or paths given")
    if vocab_size < 257:
        raise ValueError(f"train_tokenizer: vocab_size {vocab_size} is below 257 (256 bytes + the EOS token)")
    is_paths = all(os.path.exists(p) or any(c in p for c in "*?[") for p in items)
    texts: Iterable[str] = read_texts(document_files(items)) if is_paths else items
    tok = HFTokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[eos_token],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    os.makedirs(output_dir, exist_ok=True)
    out = os.path.join(output_dir, "tokenizer.json")
    tok.save(out)
    # transformers (and Tokenizer.load) read the EOS token from here.
    with open(os.path.join(output_dir, "tokenizer_config.json"), "w", encoding="utf-8") as f:
        json.dump({"eos_token": eos_token, "tokenizer_class": "PreTrainedTokenizerFast"}, f, indent=2)
    return out


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


def pool_key(content_hash: str, tokenizer: Tokenizer, domain: str, exclude_ids: set[str] | None) -> str:
    excluded = hashlib.sha256("\n".join(sorted(exclude_ids or ())).encode()).hexdigest()[:16]
    raw = f"pool-v{POOL_FORMAT}|{content_hash}|{tokenizer.fingerprint}|{domain}|{excluded}"
    return hashlib.sha256(raw.encode()).hexdigest()[:24]


def build_pools(
    documents: str | list[str],
    tokenizer: Tokenizer,
    cache_dir: str,
    domains: list[str] | None = None,
    exclude_ids: set[str] | None = None,
    file_domains: dict[str, str] | None = None,
) -> dict[str, TokenPool]:
    """Tokenize each domain's documents once (or load them from the cache); EOS after every document.

    `file_domains` (input file → domain) overrides the files' own domain column."""
    files = document_files([documents] if isinstance(documents, str) else list(documents))
    content = inputs_hash(files)
    if file_domains:  # the same bytes labelled differently are different pools
        labels = "|".join(file_domains.get(f, "") for f in files)
        content = hashlib.sha256(f"{content}|{labels}".encode()).hexdigest()[:24]
    index = os.path.join(cache_dir, f"domains-{pool_key(content, tokenizer, '*', exclude_ids)}.json")
    wanted = list(domains) if domains is not None else _cached_domains(index)
    dirs = {d: os.path.join(cache_dir, pool_key(content, tokenizer, d, exclude_ids)) for d in wanted or ()}
    if wanted is None or any(not os.path.isfile(os.path.join(p, "pool.json")) for p in dirs.values()):
        # One pass over the inputs tokenizes every domain not cached yet (all of them when none were asked for).
        present = _tokenize_domains(
            files,
            tokenizer,
            lambda d: os.path.join(cache_dir, pool_key(content, tokenizer, d, exclude_ids)),
            None if wanted is None else set(wanted),
            exclude_ids or set(),
            content,
            file_domains or {},
        )
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
                        tokenizer.verify([t[:VERIFY_CHARS] for t in texts[:VERIFY_DOCS]])
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
