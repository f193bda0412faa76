"""Text-layer layout clean-up: reading order across columns, de-hyphenation, running header/footer removal."""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass

import pymupdf

# Blocks as pymupdf groups them, with words split across line ends joined again by mupdf itself.
BLOCK_FLAGS = pymupdf.TEXTFLAGS_BLOCKS | pymupdf.TEXT_DEHYPHENATE

_HYPHEN_BREAK = re.compile(r"(\w)-\n(?=[a-zà-ÿ])")
_SPACES = re.compile(r"[ \t\u00a0]+")
_DIGITS = re.compile(r"\d+")
_PAGE_NUMBER = re.compile(r"^\s*(?:page\s*)?(?:\d{1,5}|[ivxlcdm]{1,7})(?:\s*(?:of|/)\s*\d{1,5})?\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class Block:
    """A run of text with its box on the page (points, origin top-left): a paragraph, a table cell, an OCR line."""

    x0: float
    y0: float
    x1: float
    y1: float
    text: str

    @property
    def width(self) -> float:
        return self.x1 - self.x0


def page_blocks(page: pymupdf.Page, textpage: pymupdf.TextPage | None = None) -> list[Block]:
    """The page's non-empty text blocks (images skipped)."""
    raw = page.get_text("blocks", flags=BLOCK_FLAGS, textpage=textpage)
    return [Block(b[0], b[1], b[2], b[3], b[4]) for b in raw if b[6] == 0 and b[4].strip()]


def order_blocks(blocks: list[Block]) -> list[Block]:
    """Reading order: full-width blocks cut the page into bands; inside a band, columns are read left to right.

    A band's blocks are grouped into columns by the union of their horizontal extents. Rows of a table also
    fall into separate x-ranges, so a band whose groups line up row by row is read row by row instead.
    """
    if len(blocks) < 2:
        return list(blocks)
    left = min(b.x0 for b in blocks)
    right = max(b.x1 for b in blocks)
    span = 0.55 * max(right - left, 1.0)
    out: list[Block] = []
    band: list[Block] = []
    for b in sorted(blocks, key=lambda b: (b.y0, b.x0)):
        if b.width >= span:
            out.extend(_order_band(band))
            out.append(b)
            band = []
        else:
            band.append(b)
    out.extend(_order_band(band))
    return out


def _order_band(band: list[Block]) -> list[Block]:
    if len(band) < 2:
        return band
    columns = _split_columns(band, depth=2)
    if len(columns) == 1 or (_rows_align(columns) and not _filled_columns(columns, band)):
        return _row_order(band)
    return [b for col in columns for b in sorted(col, key=lambda b: b.y0)]


def _split_columns(band: list[Block], depth: int) -> list[list[Block]]:
    """Columns left to right, split at gutters: vertical strips that (almost) no block crosses. A stray block
    bridging the gutter (an OCR speck, a wide equation) does not merge two columns."""
    gutter = _gutter(band) if depth > 0 and len(band) >= 4 else None
    if gutter is None:
        return [band]
    left = [b for b in band if (b.x0 + b.x1) / 2 < gutter]
    right = [b for b in band if (b.x0 + b.x1) / 2 >= gutter]
    return _split_columns(left, depth - 1) + _split_columns(right, depth - 1)


def _gutter(band: list[Block], bins: int = 60) -> float | None:
    lo, hi = min(b.x0 for b in band), max(b.x1 for b in band)
    step = (hi - lo) / bins
    if step <= 0:
        return None
    crossing = [0] * bins
    for b in band:
        for k in range(max(0, int((b.x0 - lo) / step) + 1), min(bins, int((b.x1 - lo) / step))):
            crossing[k] += 1
    allowed = max(0, len(band) // 10)
    best: tuple[int, int] | None = None  # longest run of bins in the middle crossed by at most `allowed` blocks
    run_start = None
    for k in range(bins // 6, bins - bins // 6 + 1):
        inside = k < bins - bins // 6 and crossing[k] <= allowed
        if inside and run_start is None:
            run_start = k
        elif not inside and run_start is not None:
            if best is None or k - run_start > best[1] - best[0]:
                best = (run_start, k)
            run_start = None
    if best is None:
        return None
    x = lo + (best[0] + best[1]) / 2 * step
    n_left = sum(1 for b in band if b.x1 <= x)
    n_right = sum(1 for b in band if b.x0 >= x)
    return x if n_left >= 2 and n_right >= 2 else None


def _filled_columns(columns: list[list[Block]], band: list[Block]) -> bool:
    """Lines of running text fill their column's width (OCR lines of two columns also sit level, like table
    rows); table cells mostly do not."""
    width = max(b.x1 for b in band) - min(b.x0 for b in band)
    for col in columns:
        extent = max(b.x1 for b in col) - min(b.x0 for b in col)
        widths = sorted(b.width for b in col)
        if extent < 0.25 * width or widths[len(widths) // 2] < 0.6 * extent:
            return False
    return True


def _rows_align(columns: list[list[Block]]) -> bool:
    """True when most blocks have a partner in another column at the same height: a table, not text columns."""
    tops = [(round(b.y0 / 3), i) for i, col in enumerate(columns) for b in col]
    by_row: dict[int, set[int]] = {}
    for row, col in tops:
        by_row.setdefault(row, set()).add(col)
    shared = {row for row in by_row if len(by_row[row] | by_row.get(row - 1, set()) | by_row.get(row + 1, set())) > 1}
    paired = sum(1 for row, _ in tops if row in shared)
    # Two columns often start level with each other; a table has at least three rows side by side.
    return len(shared) >= 3 and paired >= 0.5 * len(tops)


def _row_order(band: list[Block]) -> list[Block]:
    """Top to bottom; blocks whose tops are within a few points form one row, read left to right."""
    rows: list[list[Block]] = []
    for b in sorted(band, key=lambda b: b.y0):
        if rows and b.y0 - rows[-1][0].y0 <= 3.0:
            rows[-1].append(b)
        else:
            rows.append([b])
    return [b for row in rows for b in sorted(row, key=lambda b: b.x0)]


def block_text(text: str) -> str:
    """One block's text: prose lines are unwrapped into one paragraph; short lines (code, lists, cells) stay."""
    text = _HYPHEN_BREAK.sub(r"\1", text.strip())
    lines = [_SPACES.sub(" ", line).strip() for line in text.split("\n")]
    lines = [line for line in lines if line]
    if len(lines) > 1 and sum(len(line) for line in lines) / len(lines) >= 40:
        return " ".join(lines)
    return "\n".join(lines)


def _margin_key(b: Block, height: float, margin: float) -> str | None:
    """A normalised form of a block in the top or bottom margin (digits folded), or None if it is body text."""
    if height <= 0 or len(b.text) > 200:
        return None
    if b.y1 > margin * height and b.y0 < (1 - margin) * height:
        return None
    key = _DIGITS.sub("#", _SPACES.sub(" ", b.text).strip().lower())
    return key or None


def remove_running_blocks(
    pages: list[list[Block]], heights: list[float], margin: float = 0.1, min_share: float = 0.5
) -> tuple[list[list[Block]], int]:
    """Drop running headers, footers and page numbers: margin blocks repeated on at least `min_share` of pages
    (page numbers folded so "Page 3" and "Page 4" match), and lone page numbers in a margin."""
    keys = [[_margin_key(b, h, margin) for b in blocks] for blocks, h in zip(pages, heights)]
    seen = Counter(k for page_keys in keys for k in set(page_keys) if k)
    need = max(2, math.ceil(min_share * len(pages)))
    out, removed = [], 0
    for blocks, page_keys in zip(pages, keys):
        kept = []
        for b, k in zip(blocks, page_keys):
            if k and (seen[k] >= need or _PAGE_NUMBER.match(b.text)):
                removed += 1
            else:
                kept.append(b)
        out.append(kept)
    return out, removed


def blocks_text(blocks: list[Block]) -> str:
    """A page's text from blocks already in reading order: one paragraph per block."""
    parts = [block_text(b.text) for b in blocks]
    return "\n\n".join(p for p in parts if p)
