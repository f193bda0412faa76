"""Names the PDF path shares: the stage name, its drop reasons, error codes, page routes and metadata keys."""

from __future__ import annotations

STAGE = "pdf_extract"
PDF_CONTENT_TYPE = "application/pdf"
# The PDF reader's working column (besides raw and content_type): the row's locator, typed, so the stage names a
# PDF in its messages without parsing the metadata JSON. A row that has it holds nothing else the stage reads in
# its metadata (no warc_truncated); rows without it (WARC PDFs, JSONL/Parquet inputs) are read from the metadata.
LOCATOR_COLUMN = "pdf_locator"

# Drop reasons (rejected/): deliberate decisions about readable input.
TRUNCATED = f"{STAGE}_truncated"  # cut short (Common Crawl stores at most 1 MiB of a PDF)
EMPTY = f"{STAGE}_empty"  # readable, but no page yielded text

# Error codes (errors/): input that could not be processed.
ENCRYPTED = f"{STAGE}_encrypted"
CORRUPT = f"{STAGE}_corrupt"
ZERO_PAGES = f"{STAGE}_zero_pages"
TOO_MANY_PAGES = f"{STAGE}_too_many_pages"
TIMEOUT = f"{STAGE}_timeout"
MEMORY = f"{STAGE}_memory"
CRASH = f"{STAGE}_crash"  # the child died without saying why (a segfault in native code)

REASONS = (TRUNCATED, EMPTY)
ERRORS = (ENCRYPTED, CORRUPT, ZERO_PAGES, TOO_MANY_PAGES, TIMEOUT, MEMORY, CRASH)

# Per-page routes. The text layer is used, or the page is OCRed for one of three reasons, or it is blank.
ROUTE_TEXT = "text_layer"
ROUTE_OCR_NO_TEXT = "ocr_no_text"
ROUTE_OCR_GARBAGE = "ocr_garbage"
ROUTE_OCR_IMAGE = "ocr_image"
ROUTE_BLANK = "blank"
ROUTES = (ROUTE_TEXT, ROUTE_OCR_NO_TEXT, ROUTE_OCR_GARBAGE, ROUTE_OCR_IMAGE, ROUTE_BLANK)


# Funnel counters: one per route, plus what happened to OCR pages.
def route_counter(route: str) -> str:
    return f"pdf_pages_{route}"


PAGES_OCR_SKIPPED = "pdf_pages_ocr_skipped"  # routed to OCR but no engine configured (engine: none)
PAGES_OCR_FAILED = "pdf_pages_ocr_failed"
PAGES_FAILED = "pdf_pages_failed"  # a page mupdf could not read; the rest of the document is kept
PAGES_ROTATED = "pdf_pages_rotated"  # OCRed turned by 90/180/270 degrees on top of the page's /Rotate
PAGES_OCR_REREAD = "pdf_pages_ocr_reread"  # extra OCR passes spent on a suspected turn (1 a page; 3 without rapidocr)
HEADER_LINES_REMOVED = "pdf_header_footer_blocks_removed"


def engine_counter(engine: str, version: str) -> str:
    """OCR'd pages by the engine and version that read them, e.g. pdf_pages_ocr_engine_rapidocr_3.10.0."""
    return f"pdf_pages_ocr_engine_{engine}_{version}"


# Metadata keys written by the stage.
META_PAGE_COUNT = "pdf_page_count"
META_PAGE_OFFSETS = "pdf_page_offsets"  # [start, end) character offsets of each page in `text`
META_PAGE_ROUTES = "pdf_page_routes"  # one route per page (ROUTES)
META_PAGE_REASONS = "pdf_page_reasons"  # why the router chose it, e.g. "replacement_chars=0.31"
META_PAGE_ROTATIONS = "pdf_page_rotations"  # {page index: degrees applied before OCR}, rotated pages only
META_OCR_ENGINE = "pdf_ocr_engine"  # the engine that read the OCR pages, or null
META_OCR_ENGINE_VERSION = "pdf_ocr_engine_version"  # its version (package, models, language data), or null
META_RIGHTS = "pdf_rights"  # document-info and XMP fields about authorship and rights
META_TRUNCATED = "warc_truncated"  # set by the WARC reader from the WARC-Truncated header
