"""Tokenizer loading, BPE training, the tiktoken fast path and cached per-domain token pools."""

from __future__ import annotations

import gzip
import json
import os

import pyarrow as pa
import pytest

from winnow.pipeline import parquet_io, storage
from winnow.pipeline.tokens import documents
from winnow.pipeline.tokens.tokenizer import Tokenizer, TokenizerError, train_tokenizer
from winnow.pipeline.tokens.pools import build_pools
from winnow.pipeline.tokens.tiktoken_bpe import fast_encoder

DOCS = [
    {
        "id": "a1",
        "domain": "wiki",
        "source": "wikipedia",
        "license": "cc-by-sa-4.0",
        "text": "The river Thames flows through London. It is 346 kilometres long.",
    },
    {
        "id": "a2",
        "domain": "wiki",
        "source": "wikipedia",
        "license": "cc-by-sa-4.0",
        "text": "Café au lait — naïve façade, 東京 and emoji 🙂 survive byte-level BPE.",
    },
    {
        "id": "c1",
        "domain": "code",
        "source": "cpython",
        "license": "psf-2.0",
        "text": "def add(a, b):\n    return a + b\n\n\nprint(add(2, 3))\n",
    },
    {"id": "c2", "domain": "code", "source": "cpython", "license": "psf-2.0", "text": ""},
]


def real_texts(shared_data, per_domain: int = 12) -> list[str]:
    texts = []
    for name in ("web", "wiki", "code", "books", "forum_qa"):
        with gzip.open(shared_data / "domains" / f"{name}.jsonl.gz", "rt", encoding="utf-8") as f:
            for i, line in enumerate(f):
                if i >= per_domain:
                    break
                texts.append(json.loads(line)["text"][:20000])
    return texts


@pytest.fixture(scope="module")
def tokenizer_dir(tmp_path_factory, shared_data):
    out = tmp_path_factory.mktemp("tok")
    train_tokenizer(real_texts(shared_data, 6), 600, str(out))
    return str(out)


@pytest.fixture()
def docs_jsonl(tmp_path):
    path = tmp_path / "docs.jsonl"
    path.write_text("".join(json.dumps(d) + "\n" for d in DOCS), encoding="utf-8")
    return str(path)


def test_missing_tokenizer_is_a_clear_error(tmp_path):
    with pytest.raises(TokenizerError, match="does not exist"):
        Tokenizer.load(str(tmp_path / "nope"))


def test_trained_tokenizer_loads_from_file_or_directory(tokenizer_dir):
    a = Tokenizer.load(tokenizer_dir)
    b = Tokenizer.load(os.path.join(tokenizer_dir, "tokenizer.json"))
    assert a.fingerprint == b.fingerprint and len(a.fingerprint) == 16
    assert a.vocab_size == 600 and a.decode([a.eos_id]) == "<|endoftext|>"
    text = "Café au lait — 東京 🙂\n\tdef f(x): return x"
    assert a.decode(a.encode_batch([text])[0]) == text  # byte-level: every string round-trips


def test_fast_encoder_gives_identical_ids_on_real_text(tokenizer_dir, shared_data):
    tok = Tokenizer.load(tokenizer_dir)
    assert tok.encoder == "tiktoken"
    texts = real_texts(shared_data) + [d["text"] for d in DOCS] + ["text with <|endoftext|> inside", "  spaces\n\n\n"]
    assert tok.encode_batch(texts) == tok.reference_encode_batch(texts)


def test_fast_encoder_refuses_what_it_cannot_reproduce(tokenizer_dir):
    with open(os.path.join(tokenizer_dir, "tokenizer.json"), encoding="utf-8") as f:
        spec = json.load(f)
    assert fast_encoder(spec) is not None
    assert fast_encoder({**spec, "normalizer": {"type": "NFKC"}}) is None
    assert fast_encoder({**spec, "pre_tokenizer": {**spec["pre_tokenizer"], "add_prefix_space": True}}) is None
    merges = spec["model"]["merges"]
    swapped = merges[:10] + [merges[11], merges[10]] + merges[12:]  # merge order no longer follows id order
    assert fast_encoder({**spec, "model": {**spec["model"], "merges": swapped}}) is None


def test_verify_falls_back_when_ids_differ(tokenizer_dir):
    tok = Tokenizer.load(tokenizer_dir)

    class Wrong:
        def encode_batch(self, texts, **kwargs):
            return [[1] for _ in texts]

    tok._fast = Wrong()
    assert tok.verify(["hello world"]) is False
    assert tok.encoder == "tokenizers"
    assert tok.encode_batch(["hello"]) == tok.reference_encode_batch(["hello"])


def test_pools_keep_documents_eos_and_ids(tokenizer_dir, docs_jsonl, tmp_path):
    tok = Tokenizer.load(tokenizer_dir)
    pools = build_pools(docs_jsonl, tok, str(tmp_path / "cache"))
    assert sorted(pools) == ["code", "wiki"]
    wiki = pools["wiki"]
    assert wiki.doc_ids == ["a1", "a2"] and wiki.licenses == ["cc-by-sa-4.0"] * 2
    assert wiki.tokens.dtype.name == "uint16" and wiki.num_docs == 2
    for i, doc in enumerate(DOCS[:2]):
        ids = wiki.document(i)
        assert ids[-1] == tok.eos_id
        assert tok.decode(ids[:-1]) == doc["text"]
    assert pools["code"].doc_lengths().tolist()[1] == 1  # an empty document is just its EOS
    assert wiki.num_tokens == len(wiki.tokens) == int(wiki.doc_offsets[-1])


def test_pools_are_cached_and_keyed_by_exclusions(tokenizer_dir, docs_jsonl, tmp_path, monkeypatch):
    tok = Tokenizer.load(tokenizer_dir)
    cache = str(tmp_path / "cache")
    first = build_pools([docs_jsonl], tok, cache)

    def refuse(self, texts):
        raise AssertionError("re-tokenized a cached pool")

    monkeypatch.setattr(Tokenizer, "encode_batch", refuse)
    again = build_pools([docs_jsonl], tok, cache, domains=["wiki"])
    assert sorted(build_pools([docs_jsonl], tok, cache)) == ["code", "wiki"]  # the domain list is cached too
    assert again["wiki"].cache_path == first["wiki"].cache_path
    assert again["wiki"].tokens.tolist() == first["wiki"].tokens.tolist()
    monkeypatch.undo()
    fewer = build_pools([docs_jsonl], tok, cache, domains=["wiki"], exclude_ids={"a1"})
    assert fewer["wiki"].doc_ids == ["a2"] and fewer["wiki"].cache_path != first["wiki"].cache_path


def test_pools_from_a_run_output_directory(tokenizer_dir, tmp_path):
    table = pa.Table.from_pylist([{**d, "metadata": "{}"} for d in DOCS])
    parquet_io.write_parquet(str(tmp_path / "run" / "documents" / "part-00000.parquet"), table)
    tok = Tokenizer.load(tokenizer_dir)
    pools = build_pools(str(tmp_path / "run"), tok, str(tmp_path / "cache"), domains=["code"])
    assert list(pools) == ["code"] and pools["code"].doc_ids == ["c1", "c2"]
    with pytest.raises(ValueError, match="not found in the documents"):
        build_pools(str(tmp_path / "run"), tok, str(tmp_path / "cache"), domains=["books"])


def test_scan_inputs_hashes_and_counts_from_one_read(tmp_path, monkeypatch):
    parquet_io.write_parquet(str(tmp_path / "a.parquet"), pa.Table.from_pylist([{**d, "metadata": "{}"} for d in DOCS]))
    with gzip.open(tmp_path / "b.jsonl.gz", "wt", encoding="utf-8") as f:
        f.writelines(json.dumps({**d, "domain": None}) + "\n" for d in DOCS[:2])
    files = [str(tmp_path / "a.parquet"), str(tmp_path / "b.jsonl.gz")]
    expected = {
        "wiki": {"documents": 2, "bytes": sum(len(d["text"].encode()) for d in DOCS[:2])},
        "code": {"documents": 2, "bytes": sum(len(d["text"].encode()) for d in DOCS[2:])},
        "default": {"documents": 2, "bytes": sum(len(d["text"].encode()) for d in DOCS[:2])},
    }
    opened: list[str] = []
    open_input = storage.open_input
    monkeypatch.setattr(storage, "open_input", lambda path: opened.append(path) or open_input(path))
    assert documents.scan_inputs(files, "default") == (documents.inputs_hash(files), expected)
    assert opened == files * 2  # once each for the scan, once each for inputs_hash
    monkeypatch.setattr(documents, "SCAN_IN_MEMORY", 16)  # too big to hold: hashed, then read again to count
    opened.clear()
    assert documents.scan_inputs(files, "default") == (documents.inputs_hash(files), expected)
    assert opened == [files[0], files[0], files[1], files[1], *files]
