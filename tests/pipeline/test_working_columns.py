"""Readers' working columns (`raw`, `content_type`, `http_charset`, `http_headers`): stages that declare them get
them typed, the engine drops each once no later stage reads it, and none reaches _work/ needlessly or the output."""

from __future__ import annotations

import io
import json

import pyarrow as pa
import pyarrow.parquet as pq
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from winnow.filters.extract.stage import ExtractStage
from winnow.filters.rights import names
from winnow.filters.rights.optout import OptoutStage
from winnow.pipeline import schema
from winnow.pipeline.config import load_config
from winnow.pipeline.planning import plan_segments
from winnow.pipeline.readers.base import working_columns
from winnow.pipeline.runner import run_pipeline

WORKING = {schema.RAW, schema.CONTENT_TYPE, schema.HTTP_CHARSET, schema.HTTP_HEADERS}
PAGES = {  # url: (body, HTTP headers)
    "http://a.example/1": ("<html><body><p>The first page says something of its own.</p></body></html>".encode(),
                           [("Content-Type", "text/html; charset=utf-8")]),
    "http://b.example/2": ("<html><body><p>Un café à Paris, écrit en Latin-1.</p></body></html>".encode("cp1252"),
                           [("Content-Type", "text/html; charset=windows-1252"), ("X-Robots-Tag", "noai")]),
    "http://c.example/3": (b"<html><body><p>A third page, also different from the others.</p></body></html>",
                           [("Content-Type", "text/html")]),
}


def _warc(tmp_path):
    path = tmp_path / "pages.warc.gz"
    with open(path, "wb") as f:
        writer = WARCWriter(f, gzip=True)
        for url, (body, headers) in PAGES.items():
            http = StatusAndHeaders("200 OK", headers, protocol="HTTP/1.1")
            writer.write_record(writer.create_warc_record(url, "response", payload=io.BytesIO(body), http_headers=http))
    return path


def _run(tmp_path, stages: str):
    out = tmp_path / "out"
    text = f"inputs: ['{_warc(tmp_path)}']\noutput: {out}\nengine: {{executor: local}}\nstages:\n{stages}"
    result = run_pipeline(load_config(text=text))
    assert result.balanced, result.problems
    work = {p.parent.name: set(pq.read_schema(p).names) for p in (out / "_work").glob("seg*/*.parquet")}
    docs = pq.read_table(out / "documents")
    return work, docs


def test_working_columns_never_reach_work_or_output(tmp_path):
    work, docs = _run(tmp_path, "  - {name: extract, isolate: false}\n  - {name: exact_dedup}\n")
    assert set(work) == {"seg0"} and not work["seg0"] & WORKING  # dropped right after extract, not written
    assert not set(docs.column_names) & WORKING and docs.num_rows == len(PAGES)
    # What users read in metadata is unchanged: the typed columns are copies, not moves.
    meta = {u: json.loads(m) for u, m in zip(docs[schema.URL].to_pylist(), docs[schema.METADATA].to_pylist())}
    assert meta["http://b.example/2"]["http_charset"] == "windows-1252"
    assert meta["http://b.example/2"]["http_headers"]["x-robots-tag"] == "noai"
    assert "café" in docs.filter(pa.compute.equal(docs[schema.URL], "http://b.example/2"))[schema.TEXT][0].as_py()


def test_raw_travels_through_work_only_to_a_later_segment_that_reads_it(tmp_path):
    stages = "  - {name: extract, isolate: false}\n  - {name: exact_dedup}\n  - {name: test_raw_bytes}\n"
    work, docs = _run(tmp_path, stages)
    assert work["seg0"] & WORKING == {schema.RAW}  # the other working columns had no reader left
    assert schema.RAW not in docs.column_names
    got = dict(zip(docs[schema.URL].to_pylist(), docs["test_raw_bytes"].to_pylist()))
    assert got == {url: len(body) for url, (body, _) in PAGES.items()}


def test_a_stage_reading_typed_working_columns_gets_them(tmp_path):
    _, docs = _run(tmp_path, "  - {name: extract, isolate: false}\n  - {name: test_http_fields}\n")
    rows = {r[schema.URL]: r for r in docs.to_pylist()}
    assert {u: r["test_charset"] for u, r in rows.items()} == {
        "http://a.example/1": "utf-8", "http://b.example/2": "windows-1252", "http://c.example/3": None}
    assert rows["http://b.example/2"]["test_robots_tag"] == "noai" and rows["http://a.example/1"]["test_robots_tag"] is None
    assert not set(docs.column_names) & WORKING


def test_a_stage_that_does_not_say_what_it_reads_keeps_working_columns_to_the_segment_end():
    text = "inputs: [x.warc.gz]\noutput: /tmp/unused\nstages:\n  - {name: extract}\n  - {name: test_needs_column}\n"
    seg = plan_segments(load_config(text=text))[0]
    assert seg.drop_before[0] == () and seg.drop_before[1] == ()  # test_needs_column reads any column
    assert set(seg.drop_before[2]) == working_columns() >= WORKING  # but the output never holds any reader's


def test_extract_and_optout_read_the_typed_columns_not_the_metadata():
    body = "<html><body><p>Crème brûlée, naïve café.</p></body></html>".encode("cp1252")
    row = {schema.ID: "1", schema.URL: "http://b.example/2", schema.METADATA: "{}", schema.RAW: body,
           schema.CONTENT_TYPE: "text/html", schema.HTTP_CHARSET: "windows-1252"}
    out = ExtractStage(isolate=False, detect_charset=False)(schema.documents_from_records([row])).kept
    assert "Crème brûlée" in out[schema.TEXT][0].as_py()
    headers = pa.array([[("x-robots-tag", "noai")]], pa.map_(pa.string(), pa.string()))
    batch = out.append_column(schema.HTTP_HEADERS, headers)
    tagged = OptoutStage()(batch).kept
    assert tagged[names.OPTOUT_SIGNALS][0].as_py() == names.SIGNAL_NOAI
