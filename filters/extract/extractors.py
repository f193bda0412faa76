"""HTML → text extractors: resiliparse main content, trafilatura (through datatrove), and `auto` (resiliparse + line filter).

Kept free of the stage machinery so the isolated worker process (`_worker.py`) can import it alone.
"""

from __future__ import annotations

import html as html_lib
import re

from resiliparse.extract.html2text import extract_plain_text
from resiliparse.parse.encoding import bytes_to_str, detect_encoding

from winnow.filters.extract.lines import LineModel

EXTRACTORS = ("auto", "resiliparse", "trafilatura")
ROUTE_BELOW_CHARS = 200  # auto: when less text than this survives, trafilatura decides instead
_TAG = re.compile(r"<[^>]*>")
_SPACES = re.compile(r"[ \t\u00a0]+")


def decode_html(raw: bytes, declared: str | None, detect: bool) -> tuple[str, str]:
    """Bytes → str. The HTTP charset wins when it decodes cleanly; otherwise resiliparse's detector (BOM, meta, content)."""
    if declared:
        try:
            return raw.decode(declared), declared
        except (LookupError, UnicodeDecodeError):
            pass  # a wrong or unknown declared charset is common; fall through to detection
    encoding = detect_encoding(raw) if detect else "utf-8"
    return bytes_to_str(raw, encoding, errors="replace"), encoding


def resiliparse_text(html: str) -> str:
    return extract_plain_text(html, main_content=True, comments=False, preserve_formatting=True).strip()


_TRAFILATURA = None


def trafilatura_text(html: str) -> str:
    """datatrove's Trafilatura extractor, called directly: our stage enforces the time cap itself."""
    global _TRAFILATURA
    if _TRAFILATURA is None:
        from datatrove.pipeline.extractors.trafilatura import Trafilatura

        _TRAFILATURA = Trafilatura(favour_precision=True, deduplicate=True)
    return (_TRAFILATURA.extract(html) or "").strip()


_MODEL: LineModel | None = None


def auto_text(html: str) -> tuple[str, int]:
    """resiliparse main content, then drop the lines the boilerplate-line model scores as boilerplate.

    The model reads resiliparse's minimal-HTML rendering, which still shows links and block types: a line made of
    link text, a short heading-like line among other short lines, a share/cookie/copyright line are boilerplate.
    Returns the text and the number of lines removed.
    """
    global _MODEL
    if _MODEL is None:
        _MODEL = LineModel.load()
    marked = extract_plain_text(
        html, main_content=True, comments=False, preserve_formatting="minimal_html", links=True
    )
    lines = [line for line in marked.split("\n") if _TAG.sub("", line).strip()]
    keep = _MODEL.keep(lines)
    out = [_SPACES.sub(" ", _TAG.sub("", line)).strip() for line, k in zip(lines, keep) if k]
    text = "\n".join(out)
    return html_lib.unescape(text), len(lines) - len(out)


def extract(method: str, html: str) -> tuple[str, str, int]:
    """Run one extractor: returns (text, extractor actually used, lines removed)."""
    if method == "resiliparse":
        return resiliparse_text(html), "resiliparse", 0
    if method == "trafilatura":
        return trafilatura_text(html), "trafilatura", 0
    if method == "auto":
        text, removed = auto_text(html)
        if len(text) < ROUTE_BELOW_CHARS:
            # resiliparse found no main content, or the line model threw (nearly) all of it away: a layout
            # neither knows. Such pages are few, so trafilatura's cost is paid rarely.
            return trafilatura_text(html), "trafilatura", 0
        return text, "auto", removed
    raise ValueError(f"unknown extractor {method!r}; allowed: {', '.join(EXTRACTORS)}")
