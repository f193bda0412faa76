"""JSONL and Parquet readers: formats, compression, bad records, invalid UTF-8, real samples."""

import gzip
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard

from winnow.pipeline import storage
from winnow.pipeline.readers import detect_format
from winnow.pipeline.readers import jsonl_block
from winnow.pipeline.readers.jsonl import JsonlReader
from winnow.pipeline.readers.parquet import ParquetReader
from winnow.pipeline.stage import ERROR_COLUMN


def collect(outcomes):
    kept, failed = [], []
    for o in outcomes:
        kept += o.kept.to_pylist()
        if o.failed is not None:
            failed += o.failed.to_pylist()
    return kept, failed


LINES = [b'{"id": "a", "text": "hello", "url": "https://x.example/1", "lang": "en"}', b"", b"{not json", b'{"id": "b"}',
         b'{"id": "c", "text": "caf\xe9 latin-1"}', b'[1, 2]']


@pytest.mark.parametrize("suffix", ["jsonl", "jsonl.gz", "jsonl.zst"])
def test_jsonl_compressions_and_bad_records(tmp_path, suffix):
    raw = b"\n".join(LINES) + b"\n"
    path = tmp_path / f"f.{suffix}"
    if suffix.endswith("gz"):
        raw = gzip.compress(raw)
    elif suffix.endswith("zst"):
        raw = zstandard.ZstdCompressor().compress(raw)
    path.write_bytes(raw)
    assert detect_format(str(path)) == "jsonl"
    kept, failed = collect(JsonlReader(domain="web").read(str(path)))
    assert [d["text"] for d in kept] == ["hello", "caf\ufffd latin-1"]
    assert kept[0]["url"] == "https://x.example/1" and kept[0]["domain"] == "web"
    meta = json.loads(kept[0]["metadata"])
    assert meta["source_id"] == "a" and meta["lang"] == "en" and meta["locator"].endswith(":1")
    assert json.loads(kept[1]["metadata"])["utf8_repaired"] is True
    assert sorted(f[ERROR_COLUMN] for f in failed) == ["read_bad_json", "read_bad_record", "read_bad_record"]


def test_parquet_roundtrip_keeps_ids(tmp_path):
    path = tmp_path / "d.parquet"
    pq.write_table(pa.table({"text": ["one", "two", None], "domain": ["wiki", "code", "x"]}), path)
    kept, failed = collect(ParquetReader().read(str(path)))
    assert [d["domain"] for d in kept] == ["wiki", "code"]
    assert len(failed) == 1


def test_missing_input_and_empty_glob_are_clear_errors(tmp_path):
    with pytest.raises(storage.InputError, match="does not exist"):
        storage.expand([str(tmp_path / "nope.jsonl")])
    with pytest.raises(storage.InputError, match="matches no files"):
        storage.expand([str(tmp_path / "*.jsonl")])


def test_real_ccnet_sample(shared_data):
    files = sorted((shared_data / "cc" / "cc_jsonl" / "dolma").glob("*.jsonl.gz"))
    kept, failed = collect(JsonlReader().read(str(files[0])))
    assert len(kept) == 10 and not failed
    assert all(len(d["text"]) > 100 for d in kept)


def test_real_domains_sample(shared_data):
    kept, _ = collect(JsonlReader(batch_size=50).read(str(shared_data / "domains" / "code.jsonl.gz")))
    assert kept and all(d["domain"] == "code" for d in kept)


def test_a_run_output_row_without_text_fails_alone(tmp_path):
    """A run's own Parquet is read as Arrow; a row whose text is null is a counted failure, not a document."""
    import pyarrow.parquet as pq

    from winnow.pipeline import schema
    from winnow.pipeline.readers.parquet import ParquetReader
    from winnow.pipeline.stage import ERROR_COLUMN

    (a, meta_a), (b, meta_b) = schema.identity("in.jsonl:1"), schema.identity("in.jsonl:2")  # as a run writes them
    rows = [{"id": a, "text": "kept text", "metadata": schema.metadata_json(meta_a)},
            {"id": b, "text": None, "metadata": schema.metadata_json(meta_b)}]
    table = schema.documents_from_records(rows).cast(schema.DOCUMENT_SCHEMA)
    pq.write_table(table, tmp_path / "part.parquet")
    out = list(ParquetReader(ParquetReader.Params()).read(str(tmp_path / "part.parquet")))
    assert [o.kept["id"].to_pylist() for o in out] == [[a]]
    assert out[0].failed[ERROR_COLUMN].to_pylist() == ["read_bad_record"]


PLAIN = [b'{"id": ID1, "text": "hello \\u00e9 \\ud83d\\ude00", "url": "https://x.example/1", "domain": "wiki"}',
         b'{"id": ID2, "text": "seven", "language": "en", "language_score": 1, "source": ""}',
         b'{"text": "no id\\u0000", "license": "cc-by", "domain": null, "source": "mine"}\r']
ODD = [b'{"text": "lone \\ud800"}', b'{"text": "caf\xe9"}', b'{"text": "a", "text": "b"}', b'{"text": "t", "id": 1.5}',
       b'{"text": "t", "id": "2020-01-01"}', b'{"text": "t", "metadata": {"k": 1}}', b'{"text": "t", "extra": 1}', b'{"text": "t", "extra": null}',
       b'{"id": "no text"}', b'{"text": 3}', b'{"text": "a"} {"text": "b"}', b"[1]", b"{bad", b'{"text": null}']


@pytest.mark.parametrize("odd", [None, *ODD])
@pytest.mark.parametrize("params", [{}, {"domain": "web", "source": "src"}, {"id_field": None}])
@pytest.mark.parametrize("ids", [(b'"a"', b'"b\xc3\xa9"'), (b"7", b"-12")])
def test_jsonl_block_parse_equals_line_by_line(tmp_path, monkeypatch, odd, params, ids):
    """Arrow's one-call parse of a block gives the very table json.loads line by line gives, and odd records
    (whatever Arrow would read differently) send their block down the line-by-line path."""
    from winnow.pipeline.readers import jsonl

    path = tmp_path / "f.jsonl"
    plain = [line.replace(b"ID1", ids[0]).replace(b"ID2", ids[1]) for line in PLAIN]
    path.write_bytes(b"\n".join(plain + [b""] + ([odd] if odd else []) + plain))  # a blank line, no final newline
    reader = JsonlReader(batch_size=4, **params)
    used = []
    monkeypatch.setattr(jsonl, "block_table", lambda *a: used.append(jsonl_block.block_table(*a)) or used[-1])
    fast = list(reader.read(str(path)))
    monkeypatch.setattr(jsonl, "block_table", lambda *a: None)
    slow = list(reader.read(str(path)))
    assert len(fast) == len(slow) == 2
    for f, s in zip(fast, slow):
        assert f.kept.equals(s.kept, check_metadata=True), (f.kept.to_pylist(), s.kept.to_pylist())
        assert (f.failed is None) == (s.failed is None) and (f.failed is None or f.failed.equals(s.failed))
    # plain blocks took the fast path (not where "id" is not the id field: it belongs in metadata then)
    assert (used[1] is not None) == ("id_field" not in params)
    if odd is None:
        assert (used[0] is not None) == ("id_field" not in params)


def test_jsonl_block_parse_on_real_text(shared_data, monkeypatch):
    """The domain samples (id, text, domain, source, licence) go through the fast path and match line by line."""
    from winnow.pipeline.readers import jsonl, jsonl_block

    path = str(shared_data / "domains" / "docs.jsonl.gz")
    used = []
    monkeypatch.setattr(jsonl, "block_table", lambda *a: used.append(jsonl_block.block_table(*a)) or used[-1])
    fast = pa.concat_tables(o.kept for o in JsonlReader(batch_size=100).read(path))
    monkeypatch.setattr(jsonl, "block_table", lambda *a: None)
    slow = pa.concat_tables(o.kept for o in JsonlReader(batch_size=100).read(path))
    assert fast.num_rows > 100 and fast.equals(slow)
    assert all(t is not None for t in used)
