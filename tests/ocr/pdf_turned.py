"""Scans fed in turned: a page's content rotated by a quarter turn with /Rotate 0, as a sideways scanner stores it."""

from __future__ import annotations

from pathlib import Path

import pymupdf


def turned_pdf(path: Path, turn: int) -> bytes:
    """The first page of `path` turned anticlockwise by `turn` degrees (pymupdf's show_pdf_page), as PDF bytes;
    reading it upright takes a clockwise /Rotate of the same `turn`."""
    src = pymupdf.open(path)
    r = src[0].rect
    out = pymupdf.open()
    width, height = (r.height, r.width) if turn in (90, 270) else (r.width, r.height)
    page = out.new_page(width=width, height=height)
    page.show_pdf_page(page.rect, src, 0, rotate=turn)
    return out.tobytes()


def turned_page(path: Path, turn: int) -> pymupdf.Page:
    return pymupdf.open("pdf", turned_pdf(path, turn))[0]
