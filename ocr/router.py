"""The per-page router: is the text layer good enough, or must the page be OCRed, and why."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pymupdf

from winnow.ocr import codes

_MOJIBAKE = re.compile(r"Ã[\u0080-\u00bf]|â€|Â[\u0080-\u00bf ]|Ã©|ï¿½")
_CID = re.compile(r"\(cid:\d+\)")
_LATIN_WORD = re.compile(r"[A-Za-z]{3,}")
_VOWEL = re.compile(r"[aeiouyAEIOUY]")


@dataclass(frozen=True)
class RouterConfig:
    min_chars: int = 20  # fewer visible characters than this: there is no usable text layer
    max_bad_ratio: float = 0.05  # replacement, private-use, control or unmapped-CID characters
    min_alnum_ratio: float = 0.45  # letters and digits among visible characters (tables of numbers pass)
    min_vowel_word_ratio: float = 0.6  # Latin words with a vowel: low in a bad earlier OCR or a scrambled font
    image_page_max_chars: int = 300  # a page with little text ...
    image_page_min_cover: float = 0.6  # ... under an image covering this much of it is a scan


@dataclass(frozen=True)
class TextQuality:
    chars: int  # non-whitespace characters
    bad_ratio: float
    alnum_ratio: float
    mojibake: int
    vowel_word_ratio: float
    latin_words: int


def text_quality(text: str) -> TextQuality:
    visible = [c for c in text if not c.isspace()]
    n = len(visible)
    if n == 0:
        return TextQuality(0, 0.0, 0.0, 0, 1.0, 0)
    bad = sum(1 for c in visible if c == "\ufffd" or "\ue000" <= c <= "\uf8ff" or ord(c) < 32)
    bad += 7 * len(_CID.findall(text))  # "(cid:12)" is seven visible characters for one lost glyph
    alnum = sum(1 for c in visible if c.isalnum())
    words = _LATIN_WORD.findall(text)
    with_vowel = sum(1 for w in words if _VOWEL.search(w))
    return TextQuality(
        chars=n,
        bad_ratio=min(1.0, bad / n),
        alnum_ratio=alnum / n,
        mojibake=len(_MOJIBAKE.findall(text)),
        vowel_word_ratio=with_vowel / len(words) if words else 1.0,
        latin_words=len(words),
    )


def garbage_reason(q: TextQuality, cfg: RouterConfig) -> str | None:
    """Why a text layer is garbage (unmapped glyphs, mojibake, symbol soup, gibberish words), or None."""
    if q.bad_ratio > cfg.max_bad_ratio:
        return f"bad_chars={q.bad_ratio:.2f}"
    if q.mojibake >= 3 and q.mojibake * 100 >= q.chars:  # more than one per hundred characters
        return f"mojibake={q.mojibake}"
    if q.alnum_ratio < cfg.min_alnum_ratio:
        return f"alnum_ratio={q.alnum_ratio:.2f}"
    if q.latin_words >= 20 and q.vowel_word_ratio < cfg.min_vowel_word_ratio:
        return f"vowel_words={q.vowel_word_ratio:.2f}"
    return None


def image_cover(page: pymupdf.Page) -> float:
    """Share of the page covered by images (the largest one; scans are one image per page)."""
    area = abs(page.rect)
    if area <= 0:
        return 0.0
    best = 0.0
    for info in page.get_image_info():
        r = pymupdf.Rect(info["bbox"]) & page.mediabox
        best = max(best, abs(r) / area)
    return min(best, 1.0)


def looks_blank(page: pymupdf.Page) -> bool:
    """True when a tiny rendering is all one colour: nothing on the page that OCR could read."""
    pix = page.get_pixmap(matrix=pymupdf.Matrix(0.25, 0.25), colorspace=pymupdf.csGRAY, alpha=False)
    samples = pix.samples
    return not samples or min(samples) > 245 or max(samples) - min(samples) < 10


def route_page(page: pymupdf.Page, text: str, cfg: RouterConfig) -> tuple[str, str]:
    """(route, reason) for one page given its text-layer text. Routes are in codes.ROUTES."""
    q = text_quality(text)
    if q.chars < cfg.min_chars:
        if looks_blank(page):
            return codes.ROUTE_BLANK, f"chars={q.chars}"
        return codes.ROUTE_OCR_NO_TEXT, f"chars={q.chars}"
    bad = garbage_reason(q, cfg)
    if bad:
        return codes.ROUTE_OCR_GARBAGE, bad
    if q.chars <= cfg.image_page_max_chars:
        cover = image_cover(page)
        if cover >= cfg.image_page_min_cover:
            return codes.ROUTE_OCR_IMAGE, f"chars={q.chars},image_cover={cover:.2f}"
    return codes.ROUTE_TEXT, f"chars={q.chars}"
