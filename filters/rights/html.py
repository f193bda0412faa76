"""The rights-relevant parts of an HTML page: licence links, meta tags and JSON-LD, parsed once with lexbor."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from resiliparse.parse.encoding import bytes_to_str, detect_encoding
from resiliparse.parse.html import HTMLTree

# Pages past this size are cut before parsing: the licence and robots signals sit in <head> and the footer,
# and a hostile multi-megabyte page must not stall a worker.
MAX_HTML_BYTES = 4 * 1024 * 1024


@dataclass
class Link:
    tag: str  # "a" or "link"
    href: str
    rel: str  # the rel attribute, lower-cased ("" when absent)
    text: str  # anchor text, trimmed


@dataclass
class PageSignals:
    links: list[Link] = field(default_factory=list)  # rel=license links and every creativecommons.org link
    metas: list[tuple[str, str]] = field(default_factory=list)  # (name/property/http-equiv lower-cased, content)
    json_ld: list[Any] = field(default_factory=list)  # parsed JSON-LD blocks
    json_ld_errors: int = 0  # blocks that are not valid JSON (counted in the evidence, never fatal)
    truncated: bool = False


def is_html(content_type: str | None, raw: bytes | None) -> bool:
    """True when a payload is HTML (or XHTML); PDF and other binaries are not parsed as pages."""
    if raw is None:
        return False
    ct = (content_type or "").lower()
    if "html" in ct or "xml" in ct:
        return True
    if ct and not ct.startswith("text/"):
        return False
    head = raw[:512].lstrip().lower()
    return head.startswith((b"<!doctype html", b"<html", b"<head", b"<?xml", b"<meta", b"<!--"))


def decode(raw: bytes) -> str:
    return bytes_to_str(raw, detect_encoding(raw), errors="replace")


def page_signals(raw: bytes | str) -> PageSignals:
    """Licence links, meta tags and JSON-LD of a page. Broken markup is repaired by the parser, never fatal."""
    out = PageSignals()
    if isinstance(raw, bytes):
        if len(raw) > MAX_HTML_BYTES:
            raw, out.truncated = raw[:MAX_HTML_BYTES], True
        html = decode(raw)
    else:
        html = raw[:MAX_HTML_BYTES]
        out.truncated = len(raw) > MAX_HTML_BYTES
    tree = HTMLTree.parse(html)
    doc = tree.document
    if doc is None:
        return out
    # Only the candidates are selected in lexbor: wrapping every link of a large page in Python is slow.
    for el in doc.query_selector_all('[rel~="license" i][href], [href*="creativecommons.org" i]'):
        href = (el.getattr("href") or "").strip()
        rel = (el.getattr("rel") or "").lower()
        if "license" in rel.split() or "creativecommons.org" in href.lower():
            text = el.text.strip()[:300] if el.tag == "a" else ""
            out.links.append(Link(el.tag, href, rel, text))
    for el in doc.query_selector_all("meta[content]"):
        key = el.getattr("name") or el.getattr("property") or el.getattr("http-equiv") or el.getattr("itemprop")
        if key:
            out.metas.append((key.strip().lower(), (el.getattr("content") or "").strip()))
    for el in doc.query_selector_all('script[type="application/ld+json" i]'):
        try:
            out.json_ld.append(json.loads(el.text))
        except ValueError:
            out.json_ld_errors += 1
    return out


def json_ld_licenses(block: Any, depth: int = 0) -> list[str]:
    """Every schema.org `license` value in a JSON-LD block (nested @graph and objects included)."""
    if depth > 8:
        return []
    found: list[str] = []
    if isinstance(block, list):
        for item in block:
            found.extend(json_ld_licenses(item, depth + 1))
    elif isinstance(block, dict):
        for key, value in block.items():
            if key.lower() in ("license", "schema:license", "http://schema.org/license"):
                if isinstance(value, str):
                    found.append(value)
                elif isinstance(value, dict):
                    found.extend(str(v) for k, v in value.items() if k in ("@id", "url", "name") and v)
                elif isinstance(value, list):
                    found.extend(v if isinstance(v, str) else str(v.get("@id") or v.get("url") or "") for v in value)
            elif isinstance(value, (dict, list)):
                found.extend(json_ld_licenses(value, depth + 1))
    return [f for f in found if f]
