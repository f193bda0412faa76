"""`winnow mix` reads each input once for its content hash: the scan that splits held-out documents hashes the
bytes it reads, and the tokenizer's `trained_on.json` and the pool cache keys use that hash (no second read)."""

from __future__ import annotations

import gzip
import json
import os
from collections import Counter
from pathlib import Path

import pytest

from winnow.mixing.config import MixConfig
from winnow.mixing.data import prepare
from winnow.pipeline import storage
from winnow.pipeline.tokens import documents
from winnow.pipeline.tokens.pools import build_pools, pool_key
from tests.mixing.conftest import tiny_config


@pytest.fixture
def opened(monkeypatch) -> Counter:
    """How often each path is opened through storage.open_input."""
    counts: Counter = Counter()
    open_input = storage.open_input

    def counting(path):
        counts[path] += 1
        return open_input(path)

    monkeypatch.setattr(storage, "open_input", counting)
    return counts


def _jsonl_sources(shared_data, tmp_path) -> dict[str, str]:
    out = {}
    for dom in ("wiki", "code"):
        with gzip.open(shared_data / "domains" / f"{dom}.jsonl.gz", "rt", encoding="utf-8") as f:
            rows = [json.loads(line) for _, line in zip(range(40), f)]
        path = tmp_path / f"{dom}.jsonl.gz"
        with gzip.open(path, "wt", encoding="utf-8") as f:
            f.writelines(json.dumps({"id": r["id"], "text": r["text"][:1500]}) + "\n" for r in rows)
        out[dom] = str(path)
    return out


def test_mix_hashes_its_input_in_the_scan_that_reads_it(tiny_run, tmp_path, opened):
    cfg = MixConfig(**tiny_config(tiny_run, tmp_path))
    (part,) = documents.document_files([str(tiny_run)])
    data = prepare(cfg)  # a cold cache: scan (+ hash), tokenizer sample, tokenizing the pools
    assert opened == {part: 3}
    expected = documents.inputs_hash([part])
    trained_on = json.loads(Path(cfg.resolved_cache_dir(), "tokenizer-v300", "trained_on.json").read_text())
    assert trained_on["inputs"] == expected
    excluded = _all_excluded(data, [part])  # held-out ids (and verbatim copies of them)
    for dom, pool in data.pools.items():
        assert json.loads(Path(pool.cache_path, "pool.json").read_text())["inputs_hash"] == expected
        assert os.path.basename(pool.cache_path) == pool_key(expected, data.tokenizer, dom, excluded)
    _assert_same_pools_as_hashing_again(cfg, data, [part], {})
    opened.clear()
    prepare(cfg)  # tokenizer and pools cached: only the scan reads the input
    assert opened == {part: 1}


def _all_excluded(data, files: list[str]) -> set[str]:
    """The ids kept out of training: every document in no pool (every domain is pooled here)."""
    pooled = {i for p in data.pools.values() for i in p.doc_ids}
    return {i for f in files for b in documents.document_batches(f, 4096, "default") for i in b["id"]} - pooled


def _assert_same_pools_as_hashing_again(cfg, data, files, file_domains) -> None:
    """build_pools left to hash the inputs itself finds the very pools mix built (same keys, nothing tokenized)."""
    again = build_pools(files, data.tokenizer, os.path.join(cfg.resolved_cache_dir(), "pools"), domains=data.domains,
                        exclude_ids=_all_excluded(data, files), file_domains=file_domains)
    assert {d: p.cache_path for d, p in again.items()} == {d: p.cache_path for d, p in data.pools.items()}


def test_sources_from_jsonl_are_read_for_the_hash_once_each(shared_data, tmp_path, opened):
    sources = _jsonl_sources(shared_data, tmp_path)
    cfg = MixConfig(**tiny_config(tmp_path, tmp_path / "mix", documents=None, sources=sources,
                                  targets=[{"domain": "wiki"}]))
    data = prepare(cfg)
    assert opened == {path: 3 for path in sources.values()}
    files = list(sources.values())
    trained_on = json.loads(Path(cfg.resolved_cache_dir(), "tokenizer-v300", "trained_on.json").read_text())
    assert trained_on["inputs"] == documents.inputs_hash(files)
    _assert_same_pools_as_hashing_again(cfg, data, files, {path: dom for dom, path in sources.items()})


def test_hashed_inputs_hash_like_inputs_hash_and_hand_back_the_same_documents(tiny_run, shared_data, tmp_path,
                                                                             monkeypatch):
    files = [*documents.document_files([str(tiny_run)]), *_jsonl_sources(shared_data, tmp_path).values()]
    inputs = documents.HashedInputs(files)
    with pytest.raises(RuntimeError):
        inputs.content_hash  # noqa: B018  (not known before every file is read)
    got = [(path, list(documents.document_batches(path, 16, "default", source=held))) for path, held in inputs]
    assert got == [(path, list(documents.document_batches(path, 16, "default"))) for path in files]
    assert inputs.content_hash == documents.inputs_hash(files)
    monkeypatch.setattr(documents, "SCAN_IN_MEMORY", 16)  # too big to hold: handed back as None, read again
    big = documents.HashedInputs(files)
    assert [held for _, held in big] == [None] * len(files) and big.content_hash == documents.inputs_hash(files)
