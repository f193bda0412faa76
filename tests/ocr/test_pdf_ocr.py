"""OCR engines on real scans, kept to single pages at low resolution (OCR on CPU costs seconds per page)."""

from __future__ import annotations

import importlib.metadata
import json
import socket

import pymupdf
import pytest
from pdf_turned import turned_pdf  # tests/ocr is on sys.path (pytest rootdir-relative imports)
from pydantic import ValidationError

from winnow.ocr import codes, engines
from winnow.ocr.cer import cer
from winnow.ocr.engines import (
    RapidOcrEngine,
    TesseractEngine,
    build_engine,
    read_page,
    tesseract_data,
    tesseract_version,
)
from winnow.ocr.stage import PdfExtractParams, PdfExtractStage
from winnow.pipeline import schema

needs_tesseract = pytest.mark.requires(
    tesseract_data("eng") is not None,
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
    text, turn, rereads = read_page(engine, page, dpi=100)
    assert (turn, rereads) == (0, 0)  # upright: the orientation test costs nothing
    assert cer(text, _truth(shared_data), markdown_reference=True) < 0.05, text


@needs_tesseract
def test_tesseract_detects_and_corrects_rotation(shared_data, no_network):
    page = pymupdf.open(shared_data / "pdf/scanned/docling/ocr_test_rotated_90.pdf")[0]
    engine = TesseractEngine("eng")
    as_rendered = engine.read(page, 100)
    text, turn, _ = read_page(engine, page, dpi=100)
    assert cer(as_rendered, _truth(shared_data), markdown_reference=True) > 0.5  # sideways: unreadable
    assert turn == 90  # on top of the page's own /Rotate 270
    assert cer(text, _truth(shared_data), markdown_reference=True) < 0.05, text


@pytest.mark.parametrize("tesseract_here", [True, False])
def test_auto_is_rapidocr_whether_or_not_tesseract_is_installed(monkeypatch, tesseract_here):
    # auto once preferred an installed tesseract, so the same config read different text on different machines.
    folder = "/usr/share/tesseract-ocr/5/tessdata" if tesseract_here else None
    monkeypatch.setattr(engines, "tesseract_data", lambda *args, **kwargs: folder)
    engine = build_engine("auto")
    assert engine.name == "rapidocr" and engine.version == importlib.metadata.version("rapidocr")
    assert build_engine("none") is None
    with pytest.raises(ValueError):
        build_engine("paddle")


def test_vlm_that_cannot_run_falls_back_to_rapidocr(tmp_path):
    engine = build_engine("vlm", vlm_model_dir=str(tmp_path / "missing"))
    assert engine.name == "rapidocr"


def test_a_vlm_model_dir_with_auto_is_refused_at_load_time():
    with pytest.raises(ValidationError, match="engine: vlm"):
        PdfExtractParams(vlm_model_dir="/models/olmOCR")
    assert PdfExtractParams(engine="vlm", vlm_model_dir="/models/olmOCR").engine == "vlm"


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
    assert meta[codes.META_OCR_ENGINE] == "rapidocr"  # auto, installed tesseract or not
    assert out.counters["pdf_pages_ocr_no_text"] == 1
    assert cer(out.kept[schema.TEXT][0].as_py(), _truth(shared_data), markdown_reference=True) < 0.05


def _engine_version(name: str) -> str:
    if name == "rapidocr":
        return importlib.metadata.version("rapidocr")
    return tesseract_version(tesseract_data("eng"), "eng")


@pytest.mark.parametrize("name", ["rapidocr", pytest.param("tesseract", marks=needs_tesseract)])
def test_stage_records_engine_version_and_turn_per_ocr_page(shared_data, name):
    data = turned_pdf(shared_data / "pdf/scanned/ocrmypdf/c02-22.pdf", 180)  # a book page scanned upside down
    stage = PdfExtractStage(engine=name)
    stage.ensure_setup()
    try:
        row = {schema.ID: "s", schema.METADATA: {"locator": "c02-22"}, schema.RAW: data}
        out = stage(schema.documents_from_records([{**row, schema.CONTENT_TYPE: codes.PDF_CONTENT_TYPE}]))
    finally:
        stage.worker.close()
    meta = json.loads(out.kept[schema.METADATA][0].as_py())
    version = _engine_version(name)
    assert (meta[codes.META_OCR_ENGINE], meta[codes.META_OCR_ENGINE_VERSION]) == (name, version)
    assert meta[codes.META_PAGE_ROTATIONS] == {"0": 180}
    assert out.counters[codes.engine_counter(name, version)] == 1
    assert out.counters[codes.PAGES_ROTATED] == 1 and out.counters[codes.PAGES_OCR_REREAD] == 1
    assert "Miss Watson" in out.kept[schema.TEXT][0].as_py()
