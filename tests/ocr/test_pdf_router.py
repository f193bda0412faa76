"""The page router: text layer, no text, garbage layer, image page, blank page."""

from __future__ import annotations

import pymupdf
import pytest

from winnow.ocr import codes
from winnow.ocr.router import RouterConfig, garbage_reason, route_page, text_quality

GOOD = "The quick brown fox jumps over the lazy dog. " * 10
CFG = RouterConfig()


def _page_with_text(text: str) -> pymupdf.Page:
    doc = pymupdf.open()
    page = doc.new_page()
    page.insert_textbox(pymupdf.Rect(50, 50, 550, 780), text, fontsize=10)
    return page


def _scan_like_page(text: str = "") -> pymupdf.Page:
    """A page covered by a picture of text (what a scanner produces), with an optional tiny text layer."""
    src = pymupdf.open()
    sp = src.new_page()
    sp.insert_textbox(pymupdf.Rect(50, 50, 550, 780), GOOD, fontsize=14)
    pix = sp.get_pixmap(dpi=50)
    doc = pymupdf.open()
    page = doc.new_page()
    page.insert_image(page.rect, pixmap=pix)
    if text:
        page.insert_text((10, 10), text, fontsize=4)
    return page


def test_good_text_layer():
    page = _page_with_text(GOOD)
    route, reason = route_page(page, GOOD, CFG)
    assert route == codes.ROUTE_TEXT and reason.startswith("chars=")


def test_no_text_layer_goes_to_ocr():
    assert route_page(_scan_like_page(), "", CFG)[0] == codes.ROUTE_OCR_NO_TEXT


def test_blank_page_is_not_ocred():
    doc = pymupdf.open()
    assert route_page(doc.new_page(), "", CFG)[0] == codes.ROUTE_BLANK


def test_image_page_with_a_stamp_of_text_goes_to_ocr():
    stamp = "Digitized by a library scanner, 2009"
    route, reason = route_page(_scan_like_page(stamp), stamp, CFG)
    assert route == codes.ROUTE_OCR_IMAGE and "image_cover" in reason


@pytest.mark.parametrize(
    "garbage, why",
    [
        ("\ufffd\ufffd \ufffd\ufffd\ufffd word \ufffd\ufffd\ufffd " * 20, "bad_chars"),
        ("(cid:12)(cid:40)(cid:7) text (cid:3)(cid:99) " * 20, "bad_chars"),
        ("Ã©tÃ© Ã  la plage, câ€™est lâ€™Ã©tÃ© quand mÃªme " * 10, "mojibake"),
        ("#$%& *+<> ;;;; ~~~ ^^^^ ||| ab " * 20, "alnum_ratio"),
        ("Thq brwn fxx jmps vr thh lzy dgg wtth grt spd " * 10, "vowel_words"),
    ],
)
def test_garbage_layers_are_detected(garbage, why):
    reason = garbage_reason(text_quality(garbage), CFG)
    assert reason is not None and reason.startswith(why), reason
    assert route_page(_page_with_text("x"), garbage, CFG)[0] == codes.ROUTE_OCR_GARBAGE


def test_numeric_tables_and_other_languages_are_not_garbage():
    table = "State 2015 2014 Change\nAlabama 12,345 11,002 +12%\nAlaska 3,210 3,190 +1%\n" * 10
    french = "Les étudiants étaient réunis dans la salle pour écouter le conférencier parler. " * 5
    for text in (table, french, GOOD):
        assert garbage_reason(text_quality(text), CFG) is None, text[:40]
