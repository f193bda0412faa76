"""OCR engines on real scans, kept to single pages at low resolution (OCR on CPU costs seconds per page)."""

from __future__ import annotations

import json
import socket

import pymupdf
import pytest

from winnow.ocr import codes
from winnow.ocr.cer import cer
from winnow.ocr.engines import RapidOcrEngine, TesseractEngine, build_engine, read_page, tesseract_data
from winnow.ocr.stage import PdfExtractStage
from winnow.pipeline import schema

needs_tesseract = pytest.mark.skipif(
    tesseract_data("eng") is None,
    reason="tesseract English language data not installed (apt-get install tesseract-ocr tesseract-ocr-eng)",
)


@pytest.fixture
def no_network(monkeypatch):
    """Any attempt to open a connection fails the test: engines must work from what is installed."""

    def refuse(*args, **kwargs):
        raise AssertionError(f"network access attempted: {args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def _truth(shared_data) -> str:
    return (shared_data / "pdf/scanned/docling/ocr_test.groundtruth.md").read_text()


def test_rapidocr_reads_a_scan_offline(shared_data, no_network):
    engine = RapidOcrEngine()
    assert all("rapidocr" in p for p in engine.model_paths.values())  # the wheel's own models
    page = pymupdf.open(shared_data / "pdf/scanned/docling/ocr_test.pdf")[0]
    text, angle = read_page(engine, page, dpi=100)
    assert angle == 0
    assert cer(text, _truth(shared_data), markdown_reference=True) < 0.05, text


@needs_tesseract
def test_tesseract_detects_and_corrects_rotation(shared_data, no_network):
    page = pymupdf.open(shared_data / "pdf/scanned/docling/ocr_test_rotated_90.pdf")[0]
    engine = TesseractEngine("eng")
    upright_as_rendered = engine.read(page, 100)
    text, angle = read_page(engine, page, dpi=100)
    assert cer(upright_as_rendered, _truth(shared_data), markdown_reference=True) > 0.5  # sideways: unreadable
    assert angle == 90
    assert cer(text, _truth(shared_data), markdown_reference=True) < 0.05, text


def test_auto_engine_prefers_tesseract_then_rapidocr_and_skips_vlm_without_gpu(tmp_path):
    engine = build_engine("auto", vlm_model_dir=str(tmp_path))  # a model dir but (here) no GPU: skipped
    expected = "tesseract" if tesseract_data("eng") is not None else "rapidocr"
    assert engine.name == expected
    assert build_engine("none") is None
    with pytest.raises(ValueError):
        build_engine("paddle")


@pytest.mark.slow
def test_stage_ocrs_an_image_only_pdf(shared_data):
    stage = PdfExtractStage(engine="auto", ocr_dpi=100)
    stage.ensure_setup()
    try:
        data = (shared_data / "pdf/scanned/docling/ocr_test.pdf").read_bytes()
        table = schema.documents_from_records(
            [
                {
                    schema.ID: "scan",
                    schema.METADATA: {"locator": "ocr_test.pdf"},
                    schema.RAW: data,
                    schema.CONTENT_TYPE: codes.PDF_CONTENT_TYPE,
                }
            ]
        )
        out = stage(table)
    finally:
        stage.worker.close()
    meta = json.loads(out.kept[schema.METADATA][0].as_py())
    assert meta[codes.META_PAGE_ROUTES] == [codes.ROUTE_OCR_NO_TEXT]
    assert meta[codes.META_OCR_ENGINE] == ("tesseract" if tesseract_data("eng") else "rapidocr")
    assert out.counters["pdf_pages_ocr_no_text"] == 1
    assert cer(out.kept[schema.TEXT][0].as_py(), _truth(shared_data), markdown_reference=True) < 0.05
