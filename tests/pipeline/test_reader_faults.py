"""Readers on damaged or unusual input: every record read is kept, dropped, skipped or failed with a locator, ids
are distinct, and the books balance. Each test builds its input in tmp_path from the real samples."""

from __future__ import annotations

import gzip
import json
import zlib
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard

from winnow.pipeline import schema
from winnow.pipeline.config import load_config
from winnow.pipeline.runner import run_pipeline


def run_read(tmp_path: Path, path: Path | str, out: str = "out") -> tuple[dict, dict[str, list[dict]]]:
    """`winnow run` with no stage on one input: the read stage's funnel and the rows of documents/, rejected/ and
    errors/, after checking the books: they balance, and every row has its own id."""
    config = load_config(text=json.dumps({"inputs": [str(path)], "output": str(tmp_path / out),
                                          "engine": {"executor": "local"}, "stages": []}))
    result = run_pipeline(config)
    rows = {part: [r for f in sorted((tmp_path / out / part).glob("*.parquet")) for r in pq.read_table(f).to_pylist()]
            for part in ("documents", "rejected", "errors")}
    read = result.stats["stages"][0]
    assert result.balanced, result.stats["problems"]
    assert read["in"] == (read["kept"] + sum(read["skipped"].values()) + sum(read["dropped"].values())
                          + sum(read["failed"].values()))
    assert [read["kept"], sum(read["dropped"].values()), sum(read["failed"].values())] == [
        len(rows["documents"]), len(rows["rejected"]), len(rows["errors"])]
    ids = [r["id"] for part in rows.values() for r in part]
    assert len(ids) == len(set(ids)), "two rows share an id"
    assert all(r["locator"] and r["id"] == schema.make_id(r["locator"]) for r in rows["errors"] + rows["rejected"])
    return dict(read, units=result.stats["units"]), rows


def locator(row: dict) -> str:
    return json.loads(row["metadata"])[schema.LOCATOR]


def gzip_members(data: bytes) -> list[bytes]:
    """A multi-member gzip file's members, as they are in the file."""
    members = []
    while data:
        d = zlib.decompressobj(31)
        d.decompress(data)
        size = len(data) - len(d.unused_data)
        members.append(data[:size])
        data = data[size:]
    return members


# --- WARC gzipped as one stream: every record its own locator --------------------------------------------------------


def test_a_warc_gzipped_as_one_stream_gives_each_record_its_own_locator(shared_data, tmp_path):
    """`gzip file.warc` puts every record in one gzip member. fastwarc's offset is then how far it had read, shared by
    several records, so distinct pages got one id. Each record is now `file@member+offset inside the member`; a
    Common Crawl file (a member per record) keeps `file@member offset`."""
    original = shared_data / "cc/resiliparse/warcfile.warc.gz"
    plain = gzip.decompress(original.read_bytes())
    single = tmp_path / "single.warc.gz"
    single.write_bytes(gzip.compress(plain))
    read, rows = run_read(tmp_path, single)
    assert read["kept"] == 16 and read["skipped"] == {"warc_request": 17, "warc_metadata": 16, "warc_warcinfo": 1}
    for row in rows["documents"]:  # the locator leads to the record: its place in the decompressed stream
        at = locator(row)
        assert at.startswith(f"{single}@0+")
        inner = int(at.rsplit("+", 1)[1])
        meta = json.loads(row["metadata"])
        assert meta["warc_offset"] == 0 and meta["warc_inner_offset"] == inner
        assert plain[inner:].startswith(b"WARC/1.0\r\n")
        assert meta["warc_record_id"].encode() in plain[inner : inner + 600]
    # a Common Crawl file's locators are the members' offsets, as before
    offsets, at = [], 0
    for member in gzip_members(original.read_bytes()):
        if b"WARC-Type: response" in gzip.decompress(member)[:300]:
            offsets.append(at)
        at += len(member)
    _, rows = run_read(tmp_path, original, "cc")
    assert sorted(locator(r) for r in rows["documents"]) == sorted(f"{original}@{o}" for o in offsets)


def test_two_one_stream_warcs_concatenated_keep_distinct_locators(shared_data, tmp_path):
    plain = gzip.decompress((shared_data / "cc/resiliparse/warcfile.warc.gz").read_bytes())
    both = tmp_path / "both.warc.gz"
    one = gzip.compress(plain)
    both.write_bytes(one + one)
    read, rows = run_read(tmp_path, both)
    assert read["kept"] == 32
    assert {locator(r).split("@")[1].split("+")[0] for r in rows["documents"]} == {"0", str(len(one))}


def test_a_one_stream_warc_cut_between_two_records_is_an_error(shared_data, tmp_path):
    """Cut where a record ends, nothing is left of the next: the cut is an errors/ row, not a quiet end."""
    plain = gzip.decompress((shared_data / "cc/resiliparse/warcfile.warc.gz").read_bytes())
    boundary = plain.index(b"WARC/1.0\r\n", len(plain) // 2)
    deflate = zlib.compressobj(6, zlib.DEFLATED, 31)
    cut = tmp_path / "cut.warc.gz"
    cut.write_bytes(deflate.compress(plain[:boundary]) + deflate.flush(zlib.Z_FULL_FLUSH))  # no end of stream
    read, rows = run_read(tmp_path, cut)
    assert read["failed"] == {"read_warc_truncated": 1} and read["kept"] > 0
    assert rows["errors"][0]["locator"] == f"{cut}@0+{boundary}"


# --- WARC records cut inside their header ----------------------------------------------------------------------------


def _example_members(shared_data) -> list[bytes]:
    return gzip_members((shared_data / "cc/warcio/example.warc.gz").read_bytes())  # warcinfo, warcinfo, response, …


@pytest.mark.parametrize("cut", [1, 60, 250])
def test_a_gzip_warc_cut_inside_a_record_header_fails_that_record(shared_data, tmp_path, cut):
    """The response's member cut after `cut` compressed bytes: nothing of it decompresses (1, 60), or its header
    stops before Content-Type and Content-Length (250). Either way an errors/ row at the member's offset, not a
    skipped non-document (`warc_non_http`) and not nothing."""
    members = _example_members(shared_data)
    path = tmp_path / "cut.warc.gz"
    path.write_bytes(members[0] + members[1] + members[2][:cut])
    read, rows = run_read(tmp_path, path)
    assert read["skipped"] == {"warc_warcinfo": 2} and read["failed"] == {"read_warc_truncated": 1}
    assert rows["errors"][0]["locator"] == f"{path}@{len(members[0]) + len(members[1])}"


def test_a_plain_warc_cut_inside_a_record_header_fails_that_record(shared_data, tmp_path):
    records = [gzip.decompress(m) for m in _example_members(shared_data)]
    path = tmp_path / "cut.warc"
    path.write_bytes(records[0] + records[1] + records[2][:250])
    read, rows = run_read(tmp_path, path)
    assert read["skipped"] == {"warc_warcinfo": 2} and read["failed"] == {"read_warc_truncated": 1}
    assert rows["errors"][0]["locator"] == f"{path}@{len(records[0]) + len(records[1])}"


def test_a_wet_record_cut_inside_its_header_fails_rather_than_drops(shared_data, tmp_path):
    members = gzip_members((shared_data / "cc/whirlwind/whirlwind.warc.wet.gz").read_bytes())
    conversion = gzip.decompress(members[1])
    path = tmp_path / "cut.warc.wet.gz"
    path.write_bytes(members[0] + gzip.compress(conversion[:120]))
    read, rows = run_read(tmp_path, path)
    assert read["skipped"] == {"warc_warcinfo": 1} and read["failed"] == {"read_warc_truncated": 1}
    assert not rows["rejected"] and rows["errors"][0]["locator"] == f"{path}@{len(members[0])}"


# --- compressed JSONL cut short or followed by junk: what was decoded is kept, then one error row --------------------


def _dolma_lines(shared_data) -> list[bytes]:
    """The 20 CCNet documents of the two samples, one JSON line each."""
    paths = sorted((shared_data / "cc/cc_jsonl/dolma").glob("*.jsonl.gz"))
    return [line for p in paths for line in gzip.decompress(p.read_bytes()).splitlines(keepends=True)]


def _file_error(rows: dict, path: Path, code: str) -> dict:
    (error,) = rows["errors"]
    assert error["locator"] == str(path) and error["error"] == code
    return error


def test_a_truncated_jsonl_zst_keeps_the_frames_before_the_cut_and_fails_the_rest(shared_data, tmp_path):
    """zstandard's stream reader ends quietly where a cut file ends: a cut .jsonl.zst read as complete (or as
    nothing at all, 0 in, 0 errors). The cut is an EOFError, as for gzip."""
    lines = _dolma_lines(shared_data)
    frames = [zstandard.ZstdCompressor().compress(b"".join(lines[i : i + 5])) for i in range(0, 20, 5)]
    path = tmp_path / "cut.jsonl.zst"
    path.write_bytes(b"".join(frames[:3]) + frames[3][: len(frames[3]) // 2])
    read, rows = run_read(tmp_path, path)
    assert read["kept"] == 15 and read["failed"] == {"read_EOFError": 1} and read["in"] == 16
    assert sorted(locator(r) for r in rows["documents"]) == sorted(f"{path}:{n}" for n in range(1, 16))
    assert "zstd frame" in _file_error(rows, path, "read_EOFError")["detail"]
    whole = tmp_path / "whole.jsonl.zst"  # a complete file of several frames reads to its end, without error
    whole.write_bytes(b"".join(frames))
    read, _ = run_read(tmp_path, whole, "whole")
    assert read["kept"] == 20 and not read["failed"]


@pytest.mark.parametrize("damage", ["cut", "trailing_junk"])
def test_a_damaged_jsonl_gz_keeps_the_records_decoded_before_the_damage(shared_data, tmp_path, damage):
    """A gzip error fails the rest of the file as one row; the lines decoded before it are kept (they were thrown
    away with the batch they were in)."""
    data = b"".join(_dolma_lines(shared_data))
    packed = gzip.compress(data)
    path = tmp_path / "bad.jsonl.gz"
    if damage == "cut":
        path.write_bytes(packed[: len(packed) * 3 // 4])
        decoded = zlib.decompressobj(31).decompress(packed[: len(packed) * 3 // 4])
        kept, code = decoded.count(b"\n"), "read_EOFError"
    else:
        path.write_bytes(packed + b"garbage\x00\x01")
        kept, code = 20, "read_BadGzipFile"
    read, rows = run_read(tmp_path, path)
    assert 0 < kept and read["kept"] == kept and read["failed"] == {code: 1} and read["in"] == kept + 1
    assert f"while reading line {kept + 1}" in _file_error(rows, path, code)["detail"]


# --- one bad field fails its record alone ----------------------------------------------------------------------------


def test_jsonl_fields_of_the_wrong_type_fail_their_record_alone(tmp_path):
    """A url that is a number, a list for language_score, an object for language: each is one read_bad_record row
    with its line's locator; the others are kept. A lone surrogate escape in an extra field is repaired and marked,
    as in the text. (Each used to fail the whole batch, as one row for the file.)"""
    path = tmp_path / "odd.jsonl"
    path.write_text('{"text": "good one"}\n{"text": "bad url", "url": 123}\n'
                    '{"text": "good three", "url": "https://a/"}\n{"text": "bad score", "language_score": [1]}\n'
                    '{"text": "lone", "title": "x\\ud800y"}\n{"text": "bad language", "language": {"en": 1}}\n'
                    '{"text": "good seven", "language_score": "0.5"}\n')
    read, rows = run_read(tmp_path, path)
    assert read["in"] == 7 and read["kept"] == 4 and read["failed"] == {"read_bad_record": 3}
    assert sorted(r["locator"] for r in rows["errors"]) == [f"{path}:2", f"{path}:4", f"{path}:6"]
    lone = next(r for r in rows["documents"] if r["text"] == "lone")
    assert json.loads(lone["metadata"]) == {"locator": f"{path}:5", "title": "x?y", "utf8_repaired": True}
    assert next(r for r in rows["documents"] if r["text"] == "good seven")["language_score"] == 0.5


def test_parquet_fields_of_the_wrong_type_fail_their_record_alone(tmp_path):
    path = tmp_path / "odd.parquet"
    pq.write_table(pa.table({"text": ["one", "two", "three"], "language_score": [[0.5], None, None]}), path)
    read, rows = run_read(tmp_path, path)
    assert read["kept"] == 2 and read["failed"] == {"read_bad_record": 1}
    assert rows["errors"][0]["locator"] == f"{path}#1"
    numbers = tmp_path / "numbers.parquet"  # a numeric url column: each row fails with its locator, not the file
    pq.write_table(pa.table({"text": ["one", "two"], "url": pa.array([1, 2], pa.int64())}), numbers)
    read, rows = run_read(tmp_path, numbers, "numbers")
    assert read["failed"] == {"read_bad_record": 2} and {r["locator"] for r in rows["errors"]} == {
        f"{numbers}#1", f"{numbers}#2"}


def _wat_member(uri: str, title_json: str) -> bytes:
    body = ('{"Envelope":{"WARC-Header-Metadata":{"WARC-Type":"response","WARC-Target-URI":"%s"},'
            '"Payload-Metadata":{"HTTP-Response-Metadata":{"Response-Message":{"Status":"200"},'
            '"Headers":{"Content-Type":"text/html"},"HTML-Metadata":{"Head":{"Title":%s},"Links":[]}}}}}'
            % (uri, title_json)).encode()
    head = (f"WARC/1.0\r\nWARC-Type: metadata\r\nWARC-Target-URI: {uri}\r\nWARC-Date: 2024-01-01T00:00:00Z\r\n"
            f"WARC-Record-ID: <urn:uuid:{uri[-2]}>\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode()
    return gzip.compress(head + body + b"\r\n\r\n")


def test_a_wat_record_whose_json_holds_a_lone_surrogate_fails_alone(tmp_path):
    members = [_wat_member("http://a/", '"fine"'), _wat_member("http://b/", '"bad \\ud800 title"'),
               _wat_member("http://c/", '"fine too"')]
    path = tmp_path / "s.warc.wat.gz"
    path.write_bytes(b"".join(members))
    read, rows = run_read(tmp_path, path)
    assert read["kept"] == 2 and read["failed"] == {"read_warc_bad_record": 1}
    (error,) = rows["errors"]
    assert error["locator"] == f"{path}@{len(members[0])}" and error["url"] == "http://b/"
    assert [json.loads(r["metadata"])["title"] for r in rows["documents"]] == ["fine", "fine too"]


# --- Parquet with its own id and metadata columns is not a run's output ----------------------------------------------


def test_a_foreign_parquet_with_id_and_metadata_columns_gets_locator_ids(tmp_path):
    """Shards of a dataset that number their rows from 0, and Dolma-style rows (an int id, a metadata struct), were
    taken for a run's own output: their ids were kept (the same ids in every shard) or failed the file (an int)."""
    for name in ("a", "b"):
        pq.write_table(pa.table({"id": ["0", "1"], "text": [f"{name} one", f"{name} two"],
                                 "metadata": ['{"lang":"en"}', '{"lang":"fr"}']}), tmp_path / f"shard_{name}.parquet")
    read, rows = run_read(tmp_path, tmp_path / "shard_*.parquet")
    assert read["kept"] == 4
    expected = [f"{tmp_path}/shard_{name}.parquet#{row}" for name in "ab" for row in (1, 2)]
    assert sorted(locator(r) for r in rows["documents"]) == expected
    assert [json.loads(r["metadata"])["source_id"] for r in rows["documents"]] == ["0", "1", "0", "1"]
    dolma = tmp_path / "dolma" / "rows.parquet"
    dolma.parent.mkdir()
    pq.write_table(pa.table({"id": pa.array([0, 1], pa.int64()), "text": ["one", "two"],
                             "metadata": pa.array([{"lang": "en"}, {"lang": "fr"}])}), dolma)
    read, rows = run_read(tmp_path, dolma, "dolma")
    assert read["kept"] == 2 and [json.loads(r["metadata"]) for r in rows["documents"]] == [
        {"lang": "en", "locator": f"{dolma}#1", "source_id": 0},
        {"lang": "fr", "locator": f"{dolma}#2", "source_id": 1},
    ]


@pytest.mark.parametrize("typed", [True, False])
def test_a_runs_own_output_read_back_keeps_its_ids(tmp_path, typed):
    """What a run wrote is still read back as it was: ids and locators kept, on the typed path and (an older part
    whose language_score is a string column) record by record."""
    source = tmp_path / "in.jsonl"
    source.write_text('{"text": "one", "topic": "x"}\n{"text": "two"}\n')
    _, first = run_read(tmp_path, source, "first")
    part = next((tmp_path / "first/documents").glob("*.parquet"))
    table = pq.read_table(part)
    if not typed:
        table = table.set_column(table.column_names.index("language_score"), "language_score",
                                 table["language_score"].cast(pa.string()))
    again = tmp_path / "again" / "part.parquet"
    again.parent.mkdir()
    pq.write_table(table, again)
    _, second = run_read(tmp_path, again, "second")
    assert [(r["id"], locator(r)) for r in second["documents"]] == [(r["id"], locator(r)) for r in first["documents"]]


# --- the JSONL fast path and the line-by-line path agree -------------------------------------------------------------


def _both_paths(path: Path, monkeypatch) -> tuple[list[dict], list[dict]]:
    from winnow.pipeline.readers import jsonl

    fast = [r for o in jsonl.JsonlReader().read(str(path)) for r in o.kept.to_pylist()]
    monkeypatch.setattr(jsonl, "block_table", lambda *a: None)
    slow = [r for o in jsonl.JsonlReader().read(str(path)) for r in o.kept.to_pylist()]
    return fast, slow


@pytest.mark.parametrize("second", [b'{"text": "second"}', b'{"text": "second", "lang_hint": "en"}'])
def test_a_byte_order_mark_at_the_start_of_a_jsonl_file_is_not_part_of_the_record(tmp_path, monkeypatch, second):
    """Arrow's parse skipped the BOM, json.loads refused the line (read_bad_json): which one a file got depended on
    its other lines. Both now read the first record."""
    path = tmp_path / "bom.jsonl"
    path.write_bytes(b'\xef\xbb\xbf{"text": "first"}\n' + second + b"\n")
    fast, slow = _both_paths(path, monkeypatch)
    assert fast == slow and [r["text"] for r in fast] == ["first", "second"]
    read, _ = run_read(tmp_path, path)
    assert read["kept"] == 2 and not read["failed"]


def test_a_field_that_is_null_in_every_record_lands_in_metadata_on_both_paths(tmp_path, monkeypatch):
    path = tmp_path / "nulls.jsonl"
    path.write_text('{"text": "a", "note": null, "url": null}\n{"text": "b", "note": null}\n')
    fast, slow = _both_paths(path, monkeypatch)
    assert fast == slow and json.loads(fast[0]["metadata"]) == {"locator": f"{path}:1", "note": None}


# --- a gzip member inside a record's payload is not a place to resume at ---------------------------------------------


def test_a_warc_gz_inside_a_record_payload_is_no_record_start_for_a_span(shared_data, tmp_path, monkeypatch):
    """A response whose body is a .warc.gz (a crawled web archive): deflate stores those bytes as they are, so a
    real gzip member that decompresses to a WARC record lies inside the outer member. A span starting before it took
    it for a record start: a phantom record, then a read_warc_corrupt error where the outer member went on."""
    import random

    from winnow.pipeline import planning
    from winnow.pipeline.readers.warc_records import iter_records

    inner = _example_members(shared_data)[2]  # a real response record, as its own gzip member

    def member(uri: str, ctype: str, body: bytes) -> bytes:
        http = f"HTTP/1.1 200 OK\r\nContent-Type: {ctype}\r\n\r\n".encode() + body
        head = (f"WARC/1.0\r\nWARC-Type: response\r\nWARC-Target-URI: {uri}\r\nWARC-Date: 2024-01-01T00:00:00Z\r\n"
                f"WARC-Record-ID: <urn:uuid:{uri}>\r\nContent-Type: application/http; msgtype=response\r\n"
                f"Content-Length: {len(http)}\r\n\r\n").encode()
        return gzip.compress(head + http + b"\r\n\r\n")

    noise = random.Random(0).randbytes
    members = [member("http://a/", "text/html", b"<html><body>before</body></html>"),
               member("http://archive/x.warc.gz", "application/gzip", noise(30000) + inner + noise(30000)),
               member("http://b/", "text/html", b"<html><body>after</body></html>")]
    path = tmp_path / "nested.warc.gz"
    path.write_bytes(b"".join(members))
    size = path.stat().st_size
    assert path.read_bytes().find(inner) > len(members[0])  # the inner member is in the file as it is
    spans = [(a, min(a + 10000, size)) for a in range(0, size, 10000)]
    whole = [(r.offset, getattr(r, "code", None)) for r in iter_records(str(path))]
    parts = [(r.offset, getattr(r, "code", None)) for span in spans for r in iter_records(str(path), span)]
    assert parts == whole == [(0, None), (len(members[0]), None), (size - len(members[2]), None)]
    monkeypatch.setattr(planning, "SPAN_MIN_BYTES", 10000)
    read, _ = run_read(tmp_path, path)
    assert read["units"] > 2 and read["in"] == 3 and read["kept"] == 2 and not read["failed"]
    assert read["dropped"] == {"read_warc_non_html": 1}


@pytest.mark.parametrize("eol", [b"\n", b"\r\n"])
def test_max_line_bytes_counts_the_record_not_its_line_break(tmp_path, eol):
    line = json.dumps({"id": "x", "text": "a" * 30}).encode()
    (tmp_path / "a.jsonl").write_bytes(line + eol + line[:-1] + b' ,"b": 1}' + eol)  # the second is over the cap
    config = load_config(text=json.dumps({"inputs": [{"path": str(tmp_path / "a.jsonl"), "max_line_bytes": len(line)}],
                                          "output": str(tmp_path / "out"), "engine": {"executor": "local"},
                                          "stages": []}))
    read = run_pipeline(config).stats["stages"][0]
    assert read["kept"] == 1 and sum(read["failed"].values()) == 1
