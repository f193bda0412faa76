"""OCR resolution: the stage's ocr_dpi when set, otherwise the engine's own (chosen by `bench/pdf.py --choose-dpi`
on pages apart from those whose CER is reported)."""

from __future__ import annotations

import pymupdf

from winnow.ocr.engines import OcrEngine, RapidOcrEngine, TesseractEngine, read_page


class _Recorder(OcrEngine):
    name = "recorder"
    default_dpi = 123

    def __init__(self):
        self.seen: list[int] = []

    def read(self, page: pymupdf.Page, dpi: int) -> str:
        self.seen.append(dpi)
        return "A page of ordinary words that reads like English text, upright and complete."


def _page() -> pymupdf.Page:
    doc = pymupdf.open()
    doc.new_page()
    return doc[0]


def test_engine_default_resolution_unless_the_stage_sets_one():
    eng = _Recorder()
    read_page(eng, _page())
    read_page(eng, _page(), 200)
    assert eng.seen == [123, 200]
    assert (TesseractEngine.default_dpi, RapidOcrEngine.default_dpi, OcrEngine.default_dpi) == (300, 100, 150)
