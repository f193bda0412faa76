"""One pdf_extract stage per test module: its child process starts once (an interpreter plus pymupdf)."""

from __future__ import annotations

import pytest

from winnow.ocr.stage import PdfExtractStage


@pytest.fixture(scope="module")
def text_stage():
    """OCR off: these tests are about the text layer, routing and containment, not about OCR speed."""
    stage = PdfExtractStage(engine="none", memory_limit_mb=160, max_pages=100, timeout_s=30)
    stage.ensure_setup()
    yield stage
    stage.worker.close()
