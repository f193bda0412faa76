"""Page orientation before OCR: the turn rule on line boxes, read_page's policy per engine, and real scans fed in
turned by 0/90/180/270 degrees (one or two OCR passes per test)."""

from __future__ import annotations

import numpy as np
import pymupdf
import pytest
from pdf_turned import turned_page  # tests/ocr is on sys.path (pytest rootdir-relative imports)

from winnow.ocr.cer import cer
from winnow.ocr.engines import OcrEngine, RapidOcrEngine, TesseractEngine, read_page, tesseract_data
from winnow.ocr.orientation import Votes, line_votes, page_turn

SCAN = "pdf/scanned/ocrmypdf/c02-22.pdf"  # a real 150-dpi book scan, small enough to OCR in seconds
# Turns of the raster are exact, so a turned scan read upright gives the upright reading back; what differs is
# where rapidocr's detector resizes to multiples of 32. Both engines measured 1.000 on every turn here.
MIN_SIMILARITY = {"rapidocr": 0.95, "tesseract": 0.95}

needs_tesseract = pytest.mark.requires(
    tesseract_data("eng") is not None,
    reason="tesseract English language data not installed (apt-get install tesseract-ocr tesseract-ocr-eng)",
)


def _box(x: float, y: float, w: float, h: float) -> list[list[float]]:
    return [[x, y], [x + w, y], [x + w, y + h], [x, y + h]]


def test_turn_from_line_directions_and_the_classifier():
    across = np.array([_box(0, 20 * i, 300, 12) for i in range(10)])
    down = np.array([_box(20 * i, 0, 12, 300) for i in range(10)])
    upright, flipped = [("0", 0.99)] * 10, [("180", 0.99)] * 10
    assert page_turn(line_votes(across, upright)) == 0
    assert page_turn(line_votes(across, flipped)) == 180
    assert page_turn(line_votes(down, flipped)) == 90
    assert page_turn(line_votes(down, upright)) == 270
    # Weak evidence (a script the classifier was not trained on) leaves the page as it is.
    assert page_turn(Votes(across_upright=400, across_flipped=600)) == 0
    assert page_turn(Votes(across_upright=400, across_flipped=900)) == 180
    assert page_turn(Votes(across_upright=500, down_upright=900)) == 0  # a rotated table on an upright page
    assert page_turn(line_votes(None, None)) == 0


class _Turnable(OcrEngine):
    """Reads prose only when the page is shown at `upright` degrees of /Rotate; says what it saw if `sees`."""

    name = "fake"
    prose = "The page was read the right way up, and it is the text of the page."

    def __init__(self, upright: int, sees: bool, detector=None):
        self.upright, self.sees, self.detector, self.reads = upright, sees, detector, []

    def read_with_turn(self, page: pymupdf.Page, dpi: int) -> tuple[str, int | None]:
        self.reads.append(page.rotation)
        ok = page.rotation == self.upright
        text = self.prose if ok else "~~ || 0O0 ¢¢ ¥"  # nothing word-like
        return text, ((self.upright - page.rotation) % 360 if self.sees else None)

    def read(self, page: pymupdf.Page, dpi: int) -> str:
        return self.read_with_turn(page, dpi)[0]


class _Detector:
    def __init__(self, turn: int):
        self._turn, self.calls = turn, 0

    def turn(self, page: pymupdf.Page) -> int:
        self.calls += 1
        return self._turn


def _page() -> pymupdf.Page:
    doc = pymupdf.open()
    doc.new_page()
    return doc[0]


def test_an_engine_that_sees_the_turn_rereads_once_and_restores_the_page():
    engine, page = _Turnable(upright=90, sees=True), _page()
    reading = read_page(engine, page, 100)
    assert (reading.text, reading.turn, reading.rereads) == (_Turnable.prose, 90, 1)
    assert engine.reads == [0, 90] and page.rotation == 0


def test_an_engine_that_cannot_tell_asks_the_detector_only_when_the_text_looks_wrong():
    detector = _Detector(180)
    upright = _Turnable(upright=0, sees=False, detector=detector)
    assert read_page(upright, _page(), 100).turn == 0 and detector.calls == 0
    engine = _Turnable(upright=180, sees=False, detector=detector)
    assert read_page(engine, _page(), 100) == (_Turnable.prose, 180, 1)
    assert detector.calls == 1
    wrong = _Turnable(upright=0, sees=False, detector=_Detector(90))
    wrong.prose = "12 34 56 78"  # no prose either way: the turned re-read does not read better, so it is not kept
    assert read_page(wrong, _page(), 100).turn == 0


def test_without_rapidocr_every_turn_is_read_and_the_most_upright_kept():
    engine = _Turnable(upright=270, sees=False, detector=None)
    assert read_page(engine, _page(), 100) == (_Turnable.prose, 270, 3)
    assert engine.reads == [0, 90, 270, 180]


def test_an_engine_that_turns_first_reads_once():
    engine = _Turnable(upright=270, sees=False, detector=_Detector(270))
    engine.turns_first = True
    assert read_page(engine, _page(), 100) == (_Turnable.prose, 270, 0)
    assert engine.reads == [270]


@pytest.fixture(scope="module")
def upright_readings(shared_data):
    """The engine's reading of the upright scan, once per engine for the module."""
    cache: dict[str, str] = {}

    def get(engine: OcrEngine) -> str:
        if engine.name not in cache:
            cache[engine.name] = engine.read(turned_page(shared_data / SCAN, 0), engine.default_dpi)
        return cache[engine.name]

    return get


@pytest.fixture(scope="module")
def ocr_engines():
    return {"rapidocr": RapidOcrEngine(), "tesseract": TesseractEngine() if tesseract_data("eng") else None}


# The turn that reads a page upright undoes the turn it was fed in with (show_pdf_page turns anticlockwise,
# /Rotate clockwise): the expected turn is the one it was fed in with.
@pytest.mark.parametrize("fed", [0, 90, 180, 270])
@pytest.mark.parametrize("name", ["rapidocr", pytest.param("tesseract", marks=needs_tesseract)])
def test_a_turned_scan_reads_like_the_upright_one(shared_data, ocr_engines, upright_readings, name, fed):
    engine = ocr_engines[name]
    reading = read_page(engine, turned_page(shared_data / SCAN, fed))
    similarity = 1 - cer(reading.text, upright_readings(engine))
    assert reading.turn == fed
    assert similarity >= MIN_SIMILARITY[name], reading.text[:500]
