"""configs/pdf.yaml end to end (local executor): documents, rejected and errors rows, and a balanced funnel."""

from __future__ import annotations

import json
from pathlib import Path

import pdf_hostile as hostile  # tests/ocr is on sys.path (pytest rootdir-relative imports)
import pyarrow.parquet as pq

from winnow.ocr import codes
from winnow.pipeline.config import load_config
from winnow.pipeline.runner import run_pipeline

CONFIG = Path(__file__).resolve().parents[2] / "configs" / "pdf.yaml"


def _rows(folder: Path) -> list[dict]:
    return [r for f in sorted(folder.glob("*.parquet")) for r in pq.read_table(f).to_pylist()]


def test_pdf_config_end_to_end(shared_data, tmp_path):
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "encrypted.pdf").write_bytes(hostile.encrypted_pdf())
    (bad / "zero.pdf").write_bytes(hostile.zero_page_pdf())
    whole = (shared_data / "pdf/born_digital/pdfplumber/federal-register-2020-17221.pdf").read_bytes()
    (bad / "truncated.pdf").write_bytes(whole[: len(whole) // 2])
    good = [
        str(shared_data / "pdf/born_digital/docling/multi_page.pdf"),
        str(shared_data / "pdf/born_digital/pdfplumber/scotus-transcript-p1.pdf"),
    ]
    out = tmp_path / "out"
    config = load_config(
        str(CONFIG),
        inputs=[*good, str(bad / "*.pdf")],
        output=str(out),
        executor="local",
        overrides={"ocr_engine": "none"},
    )
    result = run_pipeline(config)
    assert result.balanced, result.problems

    docs = _rows(out / "documents")
    assert sorted(json.loads(d["metadata"])["pdf_path"] for d in docs) == sorted(good)
    assert all("raw" not in d and d["source"] == "pdf" and d["text"] for d in docs)
    meta = json.loads(next(d for d in docs if "multi_page" in d["metadata"])["metadata"])
    assert meta[codes.META_PAGE_COUNT] == 5 and len(meta[codes.META_PAGE_OFFSETS]) == 5

    errors = {Path(r["locator"]).name: r["error"] for r in _rows(out / "errors")}
    assert errors == {"encrypted.pdf": codes.ENCRYPTED, "zero.pdf": codes.ZERO_PAGES}
    rejected = [r["reason"] for r in _rows(out / "rejected")]
    assert rejected == [codes.TRUNCATED]

    stage = next(s for s in result.stats["stages"] if s["name"] == codes.STAGE)
    assert stage["in"] == 5 and stage["kept"] == 2
    assert stage["counters"]["pdf_pages_text_layer"] == 6


def test_a_pdf_the_crawler_cut_is_dropped_even_when_its_bytes_look_whole(shared_data, tmp_path):
    """WARC-Truncated says the crawler stopped reading; a cut at a revision's %%EOF would pass the byte check."""
    import gzip

    pdf = (shared_data / "pdf/born_digital/docling/multi_page.pdf").read_bytes()
    assert pdf.rstrip().endswith(b"%%EOF")
    http = b"HTTP/1.1 200 OK\r\nContent-Type: application/pdf\r\nContent-Length: %d\r\n\r\n" % len(pdf) + pdf
    records = b""
    for i, truncated in enumerate((None, "length")):
        head = (f"WARC/1.0\r\nWARC-Type: response\r\nWARC-Record-ID: <urn:uuid:{i}>\r\n"
                f"WARC-Target-URI: http://x.org/{i}.pdf\r\nContent-Type: application/http; msgtype=response\r\n"
                + (f"WARC-Truncated: {truncated}\r\n" if truncated else "") + f"Content-Length: {len(http)}\r\n\r\n")
        records += gzip.compress(head.encode() + http + b"\r\n\r\n")
    (tmp_path / "pdfs.warc.gz").write_bytes(records)
    cfg = load_config(text=f"""
inputs: [{{path: {tmp_path / "pdfs.warc.gz"}, pdf: true}}]
output: {tmp_path / "out"}
engine: {{executor: local}}
stages:
  - {{name: pdf_extract, engine: none}}
""")
    result = run_pipeline(cfg)
    stage = next(s for s in result.stats["stages"] if s["name"] == "pdf_extract")
    assert stage["dropped"] == {codes.TRUNCATED: 1} and stage["kept"] == 1
