"""WARC/WET/WAT readers, remote reading with retries, and the Common Crawl source, on the real samples."""

from __future__ import annotations

import gzip
import http.server
import io
import json
import threading
from collections import Counter
from pathlib import Path

import pytest

from winnow.pipeline import http_file, schema
from winnow.pipeline.commoncrawl import CrawlSource, select_paths
from winnow.pipeline.readers.warc import WarcReader, WatReader, WetReader
from winnow.pipeline.stage import ERROR_COLUMN, REASON_COLUMN


def read_all(reader, path) -> tuple[list[dict], Counter, list[dict]]:
    """Kept rows, counts (kept, reasons, errors, and `skipped:<kind>` for non-documents), failed rows."""
    kept, counts, failed = [], Counter(), []
    for o in reader.read(str(path)):
        kept += o.kept.to_pylist()
        if o.kept.num_rows:
            counts["kept"] += o.kept.num_rows
        if o.dropped is not None:
            counts.update(o.dropped[REASON_COLUMN].to_pylist())
        if o.failed is not None:
            counts.update(o.failed[ERROR_COLUMN].to_pylist())
            failed += o.failed.to_pylist()
        counts.update({f"skipped:{k}": v for k, v in (o.skipped or {}).items()})
    return kept, counts, failed


def warc_record(wtype: str, block: bytes, version: str = "WARC/1.0", eol: bytes = b"\r\n", uri: str = "http://x.org/") -> bytes:
    head = [version, f"WARC-Type: {wtype}", f"WARC-Target-URI: {uri}", "WARC-Date: 2008-01-01T00:00:00Z",
            "WARC-Record-ID: <urn:uuid:1>", "Content-Type: application/http; msgtype=response",
            f"Content-Length: {len(block)}"]
    return eol.join(h.encode() for h in head) + eol + eol + block + eol + eol


def http_block(body: bytes, ctype: str = "text/html", status: str = "200 OK", extra: str = "") -> bytes:
    return f"HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\n{extra}\r\n".encode() + body


def test_common_crawl_warc_counts_every_record_type(shared_data):
    path = shared_data / "cc/resiliparse/warcfile.warc.gz"
    kept, counts, _ = read_all(WarcReader(), path)
    assert counts == {"kept": 16, "skipped:warc_request": 17, "skipped:warc_metadata": 16, "skipped:warc_warcinfo": 1}
    row = kept[0]
    meta = json.loads(row["metadata"])
    assert row["id"] == schema.make_id(meta["locator"]) and meta["locator"] == f"{path}@{meta['warc_offset']}"
    assert row["source"] == "commoncrawl" and row["text"] is None and row["raw"].lstrip()[:1] == b"<"
    assert row["content_type"] == "text/html" and meta["http_status"] == 200
    assert meta["warc_record_id"].startswith("<urn:uuid:") and meta["warc_file"] == "warcfile.warc.gz"
    assert all(k == k.lower() for k in meta["http_headers"]) and "content-type" in meta["http_headers"]


def test_revisit_resource_non_html_and_redirects_are_counted(shared_data):
    _, counts, _ = read_all(WarcReader(), shared_data / "cc/warcio/example.warc.gz")
    assert counts["skipped:warc_revisit"] == 1 and counts["kept"] == 1
    _, counts, _ = read_all(WarcReader(), shared_data / "cc/warcio/example-resource.warc.gz")
    assert counts["skipped:warc_resource"] == 1
    _, counts, _ = read_all(WarcReader(), shared_data / "cc/ia-web-commons/IAH-urls-wget.warc.gz")
    assert counts["read_warc_non_html"] == 5 and counts["read_warc_redirect"] == 9


def test_chunked_transfer_encoding_is_undone(shared_data):
    kept, _, _ = read_all(WarcReader(), shared_data / "cc/warcio/example-iana.org-chunked.warc")
    assert kept[0]["raw"].lstrip().lower().startswith(b"<!doctype html")


def test_truncated_record_fails_alone(shared_data):
    _, counts, failed = read_all(WarcReader(), shared_data / "cc/resiliparse/clipped.warc.gz")
    assert counts == {"read_warc_truncated": 1}
    assert "75207 of 88275" in failed[0]["_winnow_detail"]


def test_corrupt_member_costs_one_record_and_truncated_tail_keeps_what_precedes(shared_data, tmp_path):
    from fastwarc.warc import ArchiveIterator, WarcRecordType

    data = (shared_data / "cc/web_pages.warc.gz").read_bytes()
    offsets = [r.stream_pos for r in ArchiveIterator(io.BytesIO(data[:3_000_000]), record_types=WarcRecordType.any_type)]
    sample = bytearray(data[: offsets[12]])  # 12 records
    sample[offsets[5] + 300 : offsets[5] + 400] = bytes(100)
    bad = tmp_path / "bad.warc.gz"
    bad.write_bytes(bytes(sample) + data[offsets[12] : offsets[12] + 2000])  # and a cut-off 13th member
    _, counts, failed = read_all(WarcReader(), bad)
    assert counts["kept"] == 11 and counts["read_warc_corrupt"] == 1 and counts["read_warc_truncated"] == 1
    assert failed[0]["metadata"] and json.loads(failed[0]["metadata"])["warc_offset"] == offsets[5]


def test_lf_only_wet_with_wrong_lengths_is_parsed(shared_data):
    kept, counts, _ = read_all(WetReader(), shared_data / "cc/cc_net/sample.warc.wet.txt")
    assert counts == {"kept": 3, "skipped:warc_warcinfo": 1}
    assert kept[0]["text"].startswith("Famous Mark Twain Quotes") and "馬克·吐溫名言" in kept[1]["text"]
    assert json.loads(kept[1]["metadata"])["warc_length_repaired"] is True


def test_old_warc_version_and_lf_headers(tmp_path):
    body = b"<html><body><p>hello world</p></body></html>"
    old = tmp_path / "old.warc"
    old.write_bytes(warc_record("response", http_block(body), version="WARC/0.18"))
    kept, counts, _ = read_all(WarcReader(), old)
    assert counts == {"kept": 1} and json.loads(kept[0]["metadata"])["warc_version"] == "WARC/0.18"
    lf = tmp_path / "lf.warc"
    lf.write_bytes(warc_record("response", http_block(body), eol=b"\n") * 2)
    kept, counts, _ = read_all(WarcReader(), lf)
    assert counts == {"kept": 2} and kept[0]["raw"] == body


def test_pdf_payloads_follow_the_pdf_param(tmp_path):
    path = tmp_path / "pdf.warc.gz"
    path.write_bytes(gzip.compress(warc_record("response", http_block(b"%PDF-1.4 ...", "application/pdf"))))
    _, counts, _ = read_all(WarcReader(), path)
    assert counts == {"read_warc_pdf": 1}
    kept, counts, _ = read_all(WarcReader(pdf=True), path)
    assert counts == {"kept": 1} and kept[0]["content_type"] == "application/pdf"


def test_wet_and_wat(shared_data):
    kept, counts, _ = read_all(WetReader(), shared_data / "cc/whirlwind/whirlwind.warc.wet.gz")
    assert counts == {"kept": 1, "skipped:warc_warcinfo": 1}
    assert kept[0]["text"].startswith("Escopete") and json.loads(kept[0]["metadata"])["cc_languages"] == "spa"
    _, counts, _ = read_all(WatReader(), shared_data / "cc/whirlwind/whirlwind.warc.wat.gz")
    assert counts == {"skipped:warc_warcinfo": 1, "skipped:wat_request": 1}


class _Server:
    """A local HTTP server over a folder that answers 503 to the first `fail_first` requests of each path."""

    def __init__(self, root: Path, fail_first: int = 0):
        hits: Counter = Counter()

        class Handler(http.server.SimpleHTTPRequestHandler):
            def __init__(self, *a, **kw):
                super().__init__(*a, directory=str(root), **kw)

            def do_GET(self):
                hits[self.path] += 1
                if hits[self.path] <= fail_first:
                    self.send_error(503, "SlowDown")
                    return
                super().do_GET()

            def log_message(self, *args):
                pass

        self.hits = hits
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def test_remote_read_retries_on_503(shared_data, tmp_path, monkeypatch):
    monkeypatch.setattr(http_file.time, "sleep", lambda s: None)
    (tmp_path / "w.warc.gz").write_bytes((shared_data / "cc/whirlwind/whirlwind.warc.gz").read_bytes())
    server = _Server(tmp_path, fail_first=2)
    try:
        kept, counts, _ = read_all(WarcReader(), f"{server.url}/w.warc.gz")
    finally:
        server.close()
    assert counts["kept"] == 1 and server.hits["/w.warc.gz"] == 3
    assert json.loads(kept[0]["metadata"])["locator"].startswith(server.url)


def test_crawl_selection_by_segment_and_max_files():
    paths = [f"crawl-data/CC-MAIN-2024-22/segments/{s}/warc/f{i}.warc.gz" for s in ("1.1", "2.2") for i in range(3)]
    src = CrawlSource("CC-MAIN-2024-22", segments=(1,), max_files=2)
    assert select_paths(paths, src) == paths[3:5]
    assert select_paths(paths, CrawlSource("CC-MAIN-2024-22", segments=("1.1",))) == paths[:3]
    with pytest.raises(ValueError):
        select_paths(paths, CrawlSource("CC-MAIN-2024-22", segments=("9.9",)))
    with pytest.raises(ValueError):
        CrawlSource("CC-2024", kind="warc")


def test_crawl_source_end_to_end(shared_data, tmp_path, monkeypatch):
    from winnow.pipeline.config import load_config
    from winnow.pipeline.runner import run_pipeline

    monkeypatch.setattr(http_file.time, "sleep", lambda s: None)
    site = tmp_path / "site"
    seg = site / "crawl-data/CC-MAIN-2024-22/segments/1715971057216.39/wet"
    seg.mkdir(parents=True)
    names = []
    for name in ("whirlwind/whirlwind.warc.wet.gz", "cc_net/sample.warc.wet.txt"):
        target = seg / Path(name).name.replace(".txt", ".gz")
        data = (shared_data / "cc" / name).read_bytes()
        target.write_bytes(data if name.endswith(".gz") else gzip.compress(data))  # gzip once, as Common Crawl does
        names.append(str(target.relative_to(site)))
    (site / "crawl-data/CC-MAIN-2024-22/wet.paths.gz").write_bytes(gzip.compress("\n".join(names).encode()))
    server = _Server(site, fail_first=1)
    try:
        cfg = load_config(
            text=f"inputs: [{{crawl: CC-MAIN-2024-22, kind: wet, segments: [0], max_files: 2, base: '{server.url}/'}}]\n"
            f"output: {tmp_path / 'out'}\nengine: {{executor: local}}\nstages: [{{name: extract}}]"
        )
        result = run_pipeline(cfg)
    finally:
        server.close()
    assert result.balanced and result.stats["units"] == 2 and result.stats["documents"] == 4
    assert result.stats["errors"] == 0


def test_wat_response_envelope_becomes_a_metadata_row(tmp_path):
    envelope = {"Envelope": {
        "WARC-Header-Metadata": {"WARC-Type": "response", "WARC-Target-URI": "https://ex.org/a"},
        "Payload-Metadata": {"HTTP-Response-Metadata": {
            "Response-Message": {"Status": "200"}, "Headers": {"X-Robots-Tag": "noai"},
            "HTML-Metadata": {"Head": {"Title": "A page"}, "Links": [{"url": "/b"}, {"url": "/c"}]}}}}}
    path = tmp_path / "x.warc.wat.gz"
    path.write_bytes(gzip.compress(warc_record("metadata", json.dumps(envelope).encode())))
    kept, counts, _ = read_all(WatReader(), path)
    meta = json.loads(kept[0]["metadata"])
    assert counts == {"kept": 1} and kept[0]["url"] == "https://ex.org/a" and kept[0]["content_type"] == "application/json"
    assert meta["http_headers"] == {"x-robots-tag": "noai"} and meta["title"] == "A page" and meta["links"] == 2
