"""One PDF to one document: open, check, route every page, OCR where needed, clean up and assemble (runs in the child)."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import pymupdf

from winnow.ocr import codes
from winnow.ocr.engines import OcrEngine, PageReading, read_page
from winnow.ocr.router import RouterConfig, route_page
from winnow.ocr.textlayer import Block, blocks_text, order_blocks, page_blocks, remove_running_blocks

PAGE_SEPARATOR = "\n\n"
_MEMORY_WORDS = ("out of memory", "malloc (", "realloc (", "calloc (", "cannot allocate", "memory allocation")


@dataclass(frozen=True)
class ExtractOptions:
    """What the child needs to know to read a PDF; travels to the child as JSON."""

    dpi: int | None = None  # None: the engine's own (OcrEngine.default_dpi: tesseract 300, rapidocr 100)
    detect_rotation: bool = True
    remove_headers: bool = True
    max_pages: int = 2000
    router: dict[str, Any] = field(default_factory=dict)  # RouterConfig fields

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class ExtractError(Exception):
    """A PDF that cannot be read, with one of the codes in ocr.codes.ERRORS."""

    def __init__(self, code: str, detail: str):
        super().__init__(detail)
        self.code = code


def is_memory_error(exc: BaseException) -> bool:
    return isinstance(exc, MemoryError) or any(w in str(exc).lower() for w in _MEMORY_WORDS)


def extract_pdf(
    data: bytes, opts: ExtractOptions, engine: OcrEngine | None, progress: Callable[[int], None] = lambda i: None
) -> dict[str, Any]:
    """Text and per-page metadata of one PDF. Raises ExtractError for unreadable files."""
    try:
        doc = pymupdf.open(stream=data, filetype="pdf")
    except Exception as exc:
        if is_memory_error(exc):
            raise
        raise ExtractError(codes.CORRUPT, f"cannot open: {exc}") from None
    with doc:
        if doc.needs_pass:
            raise ExtractError(codes.ENCRYPTED, "the PDF needs a password")
        n = doc.page_count
        if n == 0:
            raise ExtractError(codes.ZERO_PAGES, "the PDF has no pages")
        if n > opts.max_pages:
            raise ExtractError(codes.TOO_MANY_PAGES, f"{n} pages, more than max_pages={opts.max_pages}")
        return _extract_pages(doc, opts, engine, progress)


@dataclass
class _Pages:
    """What the page loop finds, page by page, for assembling the document."""

    routes: list[str]
    reasons: list[str]
    heights: list[float]
    layer_blocks: list[list[Block]]  # text-layer blocks that make the page's text unless OCR reads it
    ocr_text: dict[int, str] = field(default_factory=dict)
    rotations: dict[str, int] = field(default_factory=dict)
    counters: Counter = field(default_factory=Counter)

    @classmethod
    def empty(cls, n: int) -> _Pages:
        return cls([""] * n, [""] * n, [0.0] * n, [[] for _ in range(n)])


def _extract_pages(
    doc: pymupdf.Document, opts: ExtractOptions, engine: OcrEngine | None, progress: Callable[[int], None]
) -> dict[str, Any]:
    cfg = RouterConfig(**opts.router)
    n = doc.page_count
    pages = _Pages.empty(n)
    for i in range(n):
        routed = _route(doc, i, cfg, pages)
        if routed is not None:
            page, blocks = routed
            route = pages.routes[i]
            pages.counters[codes.route_counter(route)] += 1
            if route in (codes.ROUTE_TEXT, codes.ROUTE_OCR_IMAGE):
                pages.layer_blocks[i] = blocks  # an image page keeps its bit of real text if OCR is off or fails
            if route.startswith("ocr"):
                _ocr(engine, page, i, opts, pages)
        progress(i)
    text, offsets = _joined(_page_texts(pages, opts.remove_headers))
    return {
        "text": text,
        "page_count": n,
        "offsets": offsets,
        "routes": pages.routes,
        "reasons": pages.reasons,
        "rotations": pages.rotations,
        "engine": engine.name if engine is not None and pages.ocr_text else None,
        "engine_version": engine.version if engine is not None and pages.ocr_text else None,
        "rights": pdf_rights(doc),
        "counters": dict(pages.counters),
    }


def _route(
    doc: pymupdf.Document, i: int, cfg: RouterConfig, pages: _Pages
) -> tuple[pymupdf.Page, list[Block]] | None:
    """Page i and its text-layer blocks, routed; None for a page mupdf cannot read (the rest of the PDF goes on)."""
    try:
        page = doc[i]
        pages.heights[i] = page.rect.height
        blocks = page_blocks(page)
        pages.routes[i], pages.reasons[i] = route_page(page, "\n".join(b.text for b in blocks), cfg)
    except Exception as exc:
        if is_memory_error(exc):
            raise
        pages.routes[i], pages.reasons[i] = "error", f"page_error: {str(exc)[:200]}"
        pages.counters[codes.PAGES_FAILED] += 1
        return None
    return page, blocks


def _ocr(engine: OcrEngine | None, page: pymupdf.Page, i: int, opts: ExtractOptions, pages: _Pages) -> None:
    """Read an OCR-routed page; a failed reading costs only that page's OCR text, recorded in its reason."""
    if engine is None:
        pages.counters[codes.PAGES_OCR_SKIPPED] += 1
        return
    try:
        reading = read_page(engine, page, opts.dpi, opts.detect_rotation)
    except Exception as exc:
        if is_memory_error(exc):
            raise
        pages.reasons[i] += f",ocr_error: {str(exc)[:200]}"
        pages.counters[codes.PAGES_OCR_FAILED] += 1
        return
    pages.ocr_text[i] = reading.text
    _count_reading(pages.counters, engine, reading)
    if reading.turn:
        pages.rotations[str(i)] = reading.turn


def _page_texts(pages: _Pages, remove_headers: bool) -> list[str]:
    n, layer_blocks, ocr_text = len(pages.routes), pages.layer_blocks, pages.ocr_text
    if remove_headers and n > 1:
        layer_blocks, removed = remove_running_blocks(layer_blocks, pages.heights)
        if removed:
            pages.counters[codes.HEADER_LINES_REMOVED] += removed
    return [ocr_text[i] if i in ocr_text else blocks_text(order_blocks(layer_blocks[i])) for i in range(n)]


def _joined(page_texts: list[str]) -> tuple[str, list[list[int]]]:
    """The document's text and each page's [start, end) in it."""
    offsets, pos = [], 0
    for k, text in enumerate(page_texts):
        if k:
            pos += len(PAGE_SEPARATOR)
        offsets.append([pos, pos + len(text)])
        pos += len(text)
    return PAGE_SEPARATOR.join(page_texts), offsets


def _count_reading(counters: Counter, engine: OcrEngine, reading: PageReading) -> None:
    counters[codes.engine_counter(engine.name, engine.version)] += 1
    if reading.turn:
        counters[codes.PAGES_ROTATED] += 1
    if reading.rereads:
        counters[codes.PAGES_OCR_REREAD] += reading.rereads


_INFO_FIELDS = ("title", "author", "subject", "keywords", "creator", "producer", "creationDate", "modDate")
_RIGHTS_KEY = re.compile(r"copyright|rights|licen[cs]e|terms", re.IGNORECASE)
_XMP_FIELDS = {
    "xmpRights:Marked": "xmp_rights_marked",
    "xmpRights:WebStatement": "xmp_rights_web_statement",
    "xmpRights:UsageTerms": "xmp_rights_usage_terms",
    "xmpRights:Owner": "xmp_rights_owner",
    "dc:rights": "dc_rights",
    "dc:creator": "dc_creator",
    "cc:license": "cc_license",
    "pdf:Copyright": "pdf_copyright",
}
_TAGS = re.compile(r"<[^>]*>")
_WS = re.compile(r"\s+")


def pdf_rights(doc: pymupdf.Document) -> dict[str, str]:
    """Document-info and XMP fields that speak about authorship, rights and licence, as found (untrusted text)."""
    out: dict[str, str] = {}
    meta = doc.metadata or {}
    for key in _INFO_FIELDS:
        if meta.get(key):
            out[key] = str(meta[key])[:1000]
    try:  # custom Info keys (/Copyright, /License ...) are not in doc.metadata
        kind, ref = doc.xref_get_key(-1, "Info")
        if kind == "xref":
            info_xref = int(ref.split()[0])
            for key in doc.xref_get_keys(info_xref):
                if _RIGHTS_KEY.search(key):
                    out[f"info_{key.lower()}"] = doc.xref_get_key(info_xref, key)[1].strip("()")[:1000]
    except Exception:  # noqa: BLE001, S110 - a broken Info dictionary only costs these fields
        pass
    try:
        xmp = (doc.get_xml_metadata() or "")[:1_000_000]
    except Exception:  # noqa: BLE001 - hostile input: any failure is contained
        xmp = ""
    for tag, key in _XMP_FIELDS.items():
        value = _xmp_value(xmp, tag)
        if value:
            out[key] = value[:1000]
    # PyMuPDF hands broken UTF-16 (half an emoji) over as lone surrogates, which the metadata column cannot hold:
    # one such field would fail a readable document.
    return {k: valid_text(v) for k, v in out.items()}


def valid_text(text: str) -> str:
    """Valid UTF-8 without NULs: lone surrogates from broken fonts or metadata would make Arrow refuse the row."""
    return text.replace("\x00", "").encode("utf-8", "replace").decode("utf-8")


def _xmp_value(xmp: str, tag: str) -> str | None:
    """A property as element text, rdf:resource, or attribute; regexes rather than an XML parser on hostile input."""
    if tag not in xmp:
        return None
    t = re.escape(tag)
    m = re.search(rf"<{t}\b[^>]*?rdf:resource=\"([^\"]*)\"", xmp)
    if m:
        return m.group(1)
    m = re.search(rf"<{t}\b[^>]*>(.*?)</{t}>", xmp, re.DOTALL)
    if m:
        return _WS.sub(" ", _TAGS.sub(" ", m.group(1))).strip() or None
    m = re.search(rf"\b{t}=\"([^\"]*)\"", xmp)
    return m.group(1) if m else None
