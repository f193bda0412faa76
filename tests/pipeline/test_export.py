"""`winnow export`: mixing pools into shards, the Megatron and numpy formats, the manifest, and bad input."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import struct

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from tests.conftest import require_module
from winnow.pipeline import parquet_io
from winnow.pipeline.config import ConfigError
from winnow.pipeline.export import ExportError, load_export_config, read_flat, read_megatron, run_export
from winnow.pipeline.tokens.tokenizer import Tokenizer, train_tokenizer

DOMAINS = {"wiki": 14, "code": 10, "web": 8}  # documents taken from each shared domain file


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, shared_data):
    """A small `winnow run`-style output built from real documents, and a tokenizer trained on it."""
    root = tmp_path_factory.mktemp("export")
    rows = []
    for dom, n in DOMAINS.items():
        with gzip.open(shared_data / "domains" / f"{dom}.jsonl.gz", "rt", encoding="utf-8") as f:
            for i, line in enumerate(f):
                if i >= n:
                    break
                r = json.loads(line)
                rows.append(
                    {
                        "id": f"{dom}-{i}",
                        "text": r["text"][:6000],
                        "domain": dom,
                        "source": r["source"],
                        "license": r["license"],
                        "metadata": "{}",
                    }
                )
    parquet_io.write_parquet(str(root / "run" / "documents" / "part-00000.parquet"), pa.Table.from_pylist(rows[::2]))
    parquet_io.write_parquet(str(root / "run" / "documents" / "part-00001.parquet"), pa.Table.from_pylist(rows[1::2]))
    train_tokenizer(str(root / "run"), 700, str(root / "tok"))
    return {"root": root, "run": str(root / "run"), "tok": str(root / "tok"), "rows": rows}


def config(corpus, out: str, **over) -> object:
    raw = {
        "documents": corpus["run"],
        "output": out,
        "tokenizer": {"path": corpus["tok"]},
        "weights": {"wiki": 0.5, "code": 0.3, "web": 0.2},
        "total_tokens": 20000,
        "seed": 7,
        "shard_tokens": 4096,
        "cache_dir": str(corpus["root"] / "cache"),
    }
    raw.update(over)
    return load_export_config(text=yaml.safe_dump(raw))


def read_idx_by_spec(prefix: str) -> tuple[np.ndarray, list[np.ndarray]]:
    """An independent reader written from the MMIDIDX layout, to check the writer against the specification."""
    with open(prefix + ".idx", "rb") as f:
        assert f.read(9) == b"MMIDIDX\x00\x00"
        version, code = struct.unpack("<QB", f.read(9))
        n_seq, n_doc = struct.unpack("<QQ", f.read(16))
        lengths = np.frombuffer(f.read(4 * n_seq), "<i4")
        pointers = np.frombuffer(f.read(8 * n_seq), "<i8")
        doc_index = np.frombuffer(f.read(8 * n_doc), "<i8")
        assert f.read() == b""
    assert version == 1 and code == 8  # uint16
    assert doc_index.tolist() == list(range(n_seq + 1))
    data = open(prefix + ".bin", "rb").read()
    seqs = [np.frombuffer(data[p : p + 2 * n], "<u2") for p, n in zip(pointers, lengths)]
    assert sum(lengths) * 2 == len(data)
    return lengths, seqs


def test_round_trip_shards_decode_to_source_documents(corpus, tmp_path):
    out = str(tmp_path / "exp")
    manifest = run_export(config(corpus, out))
    tok = Tokenizer.load(corpus["tok"])
    texts = {r["id"]: r["text"] for r in corpus["rows"]}
    assert manifest["tokenizer"]["hash"] == tok.fingerprint
    total = 0
    for shard in manifest["shards"]:
        prefix = os.path.join(out, "megatron", shard["name"])
        lengths, seqs = read_idx_by_spec(prefix)
        ours = read_megatron(prefix)
        flat = read_flat(os.path.join(out, "numpy", shard["name"] + ".npy"))
        ids = pq.read_table(os.path.join(out, "docs", shard["name"] + ".parquet")).to_pylist()
        assert len(ids) == len(seqs) == len(ours) == shard["sequences"]
        assert int(lengths.sum()) == len(flat) == shard["tokens"] <= 4096
        assert np.array_equal(np.concatenate(seqs), flat)
        for i, (row, seq) in enumerate(zip(ids, seqs)):
            assert np.array_equal(ours[i], seq)
            assert np.array_equal(flat[row["token_start"] : row["token_start"] + row["tokens"]], seq)
            if row["piece"] == 0 and len(seq) == len(tok.encode_batch([texts[row["id"]]])[0]) + 1:
                assert seq[-1] == tok.eos_id and tok.decode(seq[:-1]) == texts[row["id"]]
            else:  # a piece of a document longer than a shard: its text is inside the source document
                assert tok.decode(seq[:-1])[:200] in texts[row["id"]]
        for name, check in shard["files"].items():
            blob = open(os.path.join(out, name), "rb").read()
            assert hashlib.sha256(blob).hexdigest() == check["sha256"] and len(blob) == check["bytes"]
        total += shard["tokens"]
    assert total == manifest["total_tokens"] == sum(d["tokens"] for d in manifest["domains"].values())
    assert abs(manifest["total_tokens"] - 20000) < 2000
    assert sum(s["documents"] for s in manifest["shards"]) == sum(d["documents"] for d in manifest["domains"].values())
    assert set(manifest["weights"]) == {"wiki", "code", "web"} and manifest["seed"] == 7
    for d in manifest["domains"].values():
        assert abs(d["tokens"] - d["target_tokens"]) < 3000  # within half a document of the target
        assert d["epochs"] == pytest.approx(d["tokens"] / d["pool_tokens"], abs=1e-3)
    prov = manifest["provenance"]
    assert sum(v["documents"] for v in prov["licenses"].values()) == manifest["total_documents"]
    assert sum(v["tokens"] for v in prov["sources"].values()) == manifest["total_tokens"]


def test_first_run_reads_inputs_twice_and_never_reads_shards_back(corpus, tmp_path, monkeypatch):
    """One read to hash and check the inputs, one to tokenize; checksums are taken while the shards are written."""
    from winnow.pipeline import storage

    out = str(tmp_path / "exp")
    opened: list[str] = []
    open_input, builtin_open = storage.open_input, open

    def counting_open_input(path):
        opened.append(path)
        return open_input(path)

    def no_read_back(file, mode="r", *args, **kwargs):
        assert not (str(file).startswith(out) and "r" in mode), f"read back {file}"
        return builtin_open(file, mode, *args, **kwargs)

    monkeypatch.setattr(storage, "open_input", counting_open_input)
    monkeypatch.setattr("builtins.open", no_read_back)
    manifest = run_export(config(corpus, out, cache_dir=str(tmp_path / "cache")))
    monkeypatch.undo()
    inputs = manifest["provenance"]["inputs"]
    assert len(inputs) == 2 and sorted(opened) == sorted(inputs * 2)
    for shard in manifest["shards"]:
        for name, check in shard["files"].items():
            blob = open(os.path.join(out, name), "rb").read()
            assert hashlib.sha256(blob).hexdigest() == check["sha256"] and len(blob) == check["bytes"]


def test_megatron_core_reads_the_shards(corpus, tmp_path):
    require_module("torch", "torch not installed (megatron-core's reader needs it)")
    indexed = require_module("megatron.core.datasets.indexed_dataset", "megatron-core not installed (make venv)")
    out = str(tmp_path / "exp")
    manifest = run_export(config(corpus, out, formats=["megatron"]))
    shard = manifest["shards"][0]
    ds = indexed.IndexedDataset(os.path.join(out, "megatron", shard["name"]))
    ours = read_megatron(os.path.join(out, "megatron", shard["name"]))
    assert len(ds) == len(ours) == shard["sequences"]
    assert sum(len(ds[i]) for i in range(len(ds))) == shard["tokens"]
    assert all(np.array_equal(ds[i], ours[i]) for i in range(len(ds)))
    assert list(ds.document_indices) == list(range(len(ds) + 1))


def test_reweighting_remixes_without_retokenizing(corpus, tmp_path, monkeypatch):
    run_export(config(corpus, str(tmp_path / "a")))

    def refuse(self, texts):
        raise AssertionError("re-tokenized")

    monkeypatch.setattr(Tokenizer, "encode_batch", refuse)
    monkeypatch.setattr(Tokenizer, "reference_encode_batch", refuse)
    m = run_export(config(corpus, str(tmp_path / "b"), weights={"wiki": 0.1, "code": 0.1, "web": 0.8}, max_epochs=10))
    assert m["domains"]["web"]["tokens"] > 5 * m["domains"]["wiki"]["tokens"]


def test_same_seed_same_bytes_other_seed_other_order(corpus, tmp_path):
    a = run_export(config(corpus, str(tmp_path / "a")))
    b = run_export(config(corpus, str(tmp_path / "b")))
    c = run_export(config(corpus, str(tmp_path / "c"), seed=8))
    assert [s["files"] for s in a["shards"]] == [s["files"] for s in b["shards"]]
    assert [s["files"] for s in a["shards"]] != [s["files"] for s in c["shards"]]


def test_repeated_domain_states_its_epochs(corpus, tmp_path):
    m = run_export(
        config(
            corpus,
            str(tmp_path / "e"),
            weights={"wiki": 0.2, "code": 0.2, "web": 0.6},
            total_tokens=30000,
            max_epochs=4,
        )
    )
    web = m["domains"]["web"]
    assert 1 < web["epochs"] <= 4 and web["documents"] > web["unique_documents"] == web["pool_documents"]
    ids = [
        r
        for s in m["shards"]
        for r in pq.read_table(str(tmp_path / "e" / "docs" / (s["name"] + ".parquet"))).to_pylist()
        if r["domain"] == "web" and r["piece"] == 0
    ]
    assert max(r["epoch"] for r in ids) == int(web["epochs"] - 1e-9)


def test_only_documents_longer_than_a_shard_are_cut(corpus, tmp_path):
    m = run_export(config(corpus, str(tmp_path / "s"), shard_tokens=700))
    seen_pieces = 0
    for s in m["shards"]:
        assert s["tokens"] <= 700
        rows = pq.read_table(str(tmp_path / "s" / "docs" / (s["name"] + ".parquet"))).to_pylist()
        for r in rows:
            if r["piece"] > 0 or r["tokens"] == 700:
                seen_pieces += 1
    assert seen_pieces > 0


def test_default_budget_repeats_no_domain(corpus, tmp_path):
    m = run_export(config(corpus, str(tmp_path / "d"), total_tokens=None))
    assert max(d["epochs"] for d in m["domains"].values()) <= 1.0
    assert max(d["epochs"] for d in m["domains"].values()) > 0.9


def test_rerun_is_a_no_op_and_another_export_is_refused(corpus, tmp_path):
    out = str(tmp_path / "r")
    first = run_export(config(corpus, out))
    assert run_export(config(corpus, out)) == first
    with pytest.raises(ExportError, match="holds another export"):
        run_export(config(corpus, out, seed=99))
    replaced = run_export(config(corpus, out, seed=99), overwrite=True)
    assert replaced["seed"] == 99
    other = tmp_path / "notexport"
    other.mkdir()
    (other / "precious.txt").write_text("x")
    with pytest.raises(ExportError, match="holds no export"):
        run_export(config(corpus, str(other)), overwrite=True)
    assert (other / "precious.txt").exists()


@pytest.mark.parametrize(
    "over, message",
    [
        ({"weights": {"wiki": 0.5, "code": 0.5}}, "missing from the weights"),
        ({"weights": {"wiki": 0.5, "code": 0.3, "web": 0.1, "books": 0.1}}, "have no documents"),
        ({"total_tokens": 10_000_000}, "too few tokens"),
        ({"tokenizer": {"path": "/nonexistent/tokenizer.json"}}, "does not exist"),
        ({"weights": "/nonexistent/weights.yaml"}, "does not exist"),
        ({"documents": "/nonexistent/run"}, "does not exist"),
    ],
)
def test_bad_input_fails_before_any_work(corpus, tmp_path, monkeypatch, over, message):
    def refuse(self, texts):
        raise AssertionError("tokenized before checking")

    monkeypatch.setattr(Tokenizer, "encode_batch", refuse)
    with pytest.raises(ExportError, match=message):
        run_export(config(corpus, str(tmp_path / "bad"), **over))
    assert not (tmp_path / "bad").exists()


def test_too_few_tokens_found_after_tokenizing_writes_nothing(corpus, tmp_path):
    # 6× web's tokens passes the byte bound (a token ≥ 1 byte) but not the exact pool size.
    with pytest.raises(ExportError, match="too few tokens"):
        run_export(
            config(
                corpus,
                str(tmp_path / "few"),
                weights={"wiki": 0.05, "code": 0.05, "web": 0.9},
                total_tokens=40000,
                max_epochs=2,
            )
        )
    assert not (tmp_path / "few").exists()


def test_config_refuses_unknown_keys_and_reads_weights_files(corpus, tmp_path):
    with pytest.raises(ConfigError, match="unknown key 'shard_size'"):
        config(corpus, str(tmp_path / "x"), shard_size=10)
    weights = tmp_path / "weights.yaml"
    weights.write_text("weights:\n  wiki: 2\n  code: 1\n  web: 1\n")
    m = run_export(config(corpus, str(tmp_path / "w"), weights=str(weights)))
    assert m["weights"] == {"code": 0.25, "web": 0.25, "wiki": 0.5}
    assert m["weights_source"] == str(weights)


def test_cli_export_and_train_tokenizer(corpus, tmp_path):
    from typer.testing import CliRunner

    from winnow.pipeline.cli import app

    runner = CliRunner()
    res = runner.invoke(
        app, ["train-tokenizer", "--input", corpus["run"], "--vocab-size", "400", "--output", str(tmp_path / "tok")]
    )
    assert res.exit_code == 0, res.output
    assert Tokenizer.load(str(tmp_path / "tok")).vocab_size == 400
    (tmp_path / "w.yaml").write_text("wiki: 1\ncode: 1\nweb: 1\n")
    cfg = os.path.join(os.path.dirname(__file__), "..", "..", "configs", "export.yaml")
    args = [
        "export",
        cfg,
        "--set",
        f"documents={corpus['run']}",
        "--set",
        f"weights={tmp_path / 'w.yaml'}",
        "--set",
        f"tokenizer={tmp_path / 'tok'}",
        "--set",
        f"token_cache={tmp_path / 'cache'}",
        "--output",
        str(tmp_path / "out"),
        "--quiet",
    ]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["total_tokens"] > 0 and max(d["epochs"] for d in manifest["domains"].values()) <= 1
    res = runner.invoke(app, args[:-2] + ["--set", "tokenizer=/missing/tok"])
    assert res.exit_code != 0
