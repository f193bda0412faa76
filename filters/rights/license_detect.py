"""Stage `license_detect`: which Creative Commons licence a page or PDF declares, and the evidence for it."""

from __future__ import annotations

import json
import re
from typing import Any

import pyarrow as pa

from winnow.filters.rights import names
from winnow.filters.rights.cc import license_from_name, license_from_url, most_restrictive
from winnow.filters.rights.html import is_html, json_ld_licenses, page_signals
from winnow.pipeline import schema
from winnow.pipeline.registry import register_stage
from winnow.pipeline.stage import DocumentAnnotator, StageParams

# Meta tags whose content states a licence (Dublin Core and its variants, plain "license"/"rights").
LICENSE_METAS = frozenset(
    {
        "dc.rights",
        "dc.rights.license",
        "dc.license",
        "dcterms.rights",
        "dcterms.license",
        "license",
        "rights",
        "cc:license",
        "og:license",
        "citation_license",
        "prism.copyright",
        "copyright",
    }
)
MAX_EVIDENCE_ITEMS = 20


class LicenseDetectParams(StageParams):
    # Accept a plain creativecommons.org licence link (no rel="license") as the page's licence. Weaker evidence:
    # a page can link to a licence without using it (an article about CC); the method is recorded either way.
    plain_links: bool = True
    # Keep a licence the input record already carried (JSONL/Parquet `license` field) when nothing is found.
    keep_existing: bool = True


def _finding(method: str, license_id: str, where: str, port: str | None = None) -> dict[str, Any]:
    item = {"method": method, "license": license_id, "where": where[:300]}
    if port:
        item["port"] = port
    return item


def html_findings(raw: bytes | str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Every licence statement in a page, tagged by method; plus notes (unparsed JSON-LD, truncation)."""
    signals = page_signals(raw)
    found: list[dict[str, Any]] = []
    for link in signals.links:
        rel_license = "license" in link.rel.split()
        hit = license_from_url(link.href)
        if hit:
            method = names.METHOD_REL_LICENSE if rel_license else names.METHOD_CC_LINK
            found.append(_finding(method, hit[0], f"{link.tag}[href={link.href}]", hit[1]))
        elif rel_license:
            # rel=license to a site's own terms page (Wikipedia): trust it only if the URL or text names a CC licence.
            named = license_from_name(link.href.replace("_", " ")) or license_from_name(link.text)
            if named:
                found.append(
                    _finding(names.METHOD_REL_LICENSE_NAMED, named, f"{link.tag}[href={link.href}] {link.text}")
                )
    for block in signals.json_ld:
        for value in json_ld_licenses(block):
            hit = license_from_url(value)
            lid = hit[0] if hit else license_from_name(value)
            if lid:
                found.append(_finding(names.METHOD_JSON_LD, lid, f"json-ld license={value}", hit[1] if hit else None))
    for key, content in signals.metas:
        if key in LICENSE_METAS and content:
            hit = license_from_url(content)
            lid = hit[0] if hit else license_from_name(content)
            if lid:
                found.append(_finding(names.METHOD_META, lid, f"meta[{key}]={content}", hit[1] if hit else None))
    notes: dict[str, Any] = {}
    if signals.json_ld_errors:
        notes["json_ld_unparsed"] = signals.json_ld_errors
    if signals.truncated:
        notes["html_truncated"] = True
    return found, notes


def pdf_findings(pdf_rights: dict[str, Any]) -> list[dict[str, Any]]:
    """Licence statements among a PDF's XMP and document-information rights fields."""
    found = []
    for key, value in sorted(pdf_rights.items()):
        for text in value if isinstance(value, list) else [value]:
            if not isinstance(text, str):
                continue
            hit = license_from_url(text)
            lid = hit[0] if hit else license_from_name(text)
            if lid:
                found.append(_finding(names.METHOD_PDF, lid, f"pdf {key}={text}", hit[1] if hit else None))
    return found


_PUBLIC_DOMAIN = re.compile(r"\s*public[\s_-]*domain\b", re.IGNORECASE)
_UNKNOWN = re.compile(r"\bunknown\b", re.IGNORECASE)


def license_from_field(value: str) -> str | None:
    """The licence id for a licence field an input record carried, in the ids the rest of the stage uses, so that
    `rights_policy` judges it as it judges a page's: a Creative Commons licence named or linked ("CC BY-SA 4.0",
    "http://creativecommons.org/licenses/by/4.0/") gets its id; a statement starting "public domain" is `pdm`; a
    value saying "unknown" is no licence (`rights_policy`'s `unknown` setting decides); anything else (PSF-2.0,
    GFDL-1.1+) is kept as written, for `allowed_licenses` to match."""
    if cc := license_from_name(value):
        return cc
    if _PUBLIC_DOMAIN.match(value):
        return "pdm"
    if _UNKNOWN.search(value):
        return None
    return value.strip() or None


def decide(found: list[dict[str, Any]], plain_links: bool) -> tuple[str | None, str | None]:
    """The licence and method: the strongest method that found anything decides; within it the most restrictive."""
    for method in names.METHOD_ORDER:
        if method == names.METHOD_CC_LINK and not plain_links:
            continue
        ids = list(dict.fromkeys(f["license"] for f in found if f["method"] == method))
        if ids:
            return most_restrictive(ids), method
    return None, None


@register_stage(names.LICENSE_DETECT)
class LicenseDetectStage(DocumentAnnotator):
    """Annotates `license` and `license_evidence` from the row's HTML (`raw`) or PDF rights metadata."""

    Params = LicenseDetectParams
    reads = (schema.RAW, schema.CONTENT_TYPE, schema.METADATA, schema.LICENSE)
    adds_columns = {schema.LICENSE: pa.string(), schema.LICENSE_EVIDENCE: pa.string()}

    def detect(
        self, raw: bytes | None, content_type: str | None, metadata: str | None, existing: str | None
    ) -> tuple[str | None, dict[str, Any]]:
        found: list[dict[str, Any]] = []
        notes: dict[str, Any] = {}
        if is_html(content_type, raw):
            found, notes = html_findings(raw)
        # Only pdf_extract's rows carry PDF rights: the rest (web pages) skip parsing their metadata.
        meta = json.loads(metadata) if metadata and f'"{names.META_PDF_RIGHTS}"' in metadata else {}
        pdf_rights = meta.get(names.META_PDF_RIGHTS) if isinstance(meta, dict) else None
        if isinstance(pdf_rights, dict):
            found.extend(pdf_findings(pdf_rights))
        license_id, method = decide(found, self.params.plain_links)
        evidence: dict[str, Any] = {"method": method, "found": found[:MAX_EVIDENCE_ITEMS], **notes}
        if len(found) > MAX_EVIDENCE_ITEMS:
            evidence["found_total"] = len(found)
        if len({f["license"] for f in found if f["method"] == method}) > 1:
            evidence["chosen"] = "most_restrictive"
        if license_id is None and existing and self.params.keep_existing:
            license_id = license_from_field(existing)
            evidence["method"] = names.METHOD_FIELD if license_id else None
            evidence["field"] = existing[:300]
        if raw is None and not isinstance(pdf_rights, dict):
            evidence["source"] = "no_html"  # text-only input: nothing to inspect
        return license_id, evidence

    def annotate(self, row: dict) -> dict:
        lid, ev = self.detect(row[schema.RAW], row[schema.CONTENT_TYPE], row[schema.METADATA], row[schema.LICENSE])
        return {schema.LICENSE: lid, schema.LICENSE_EVIDENCE: schema.metadata_json(ev)}
