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
