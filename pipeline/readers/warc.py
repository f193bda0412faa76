"""WARC, WET and WAT readers: Common Crawl records become documents, every other record is counted by type.

WARC `response` records with an HTML payload become rows with the HTTP body in `raw` (the `extract` stage turns
it into text, reading the declared charset from `http_charset`; `optout` reads the headers from `http_headers`);
PDF payloads are emitted for the PDF path when `pdf: true`; other responses are documents the
reader drops with a `read_warc_<why>` reason (a redirect, an image). WET `conversion` records carry text already.
WAT `metadata` records describing a response become rows whose text is the record's JSON (link and metadata
studies, not text filters). Records that are not documents at all (requests, metadata, revisits, warcinfo,
responses of other protocols) leave no row: they are counted under the reader's `skipped` by type.
"""

from __future__ import annotations

import json
import os
import zlib
from collections.abc import Iterator
from typing import Any

import pyarrow as pa

from winnow.pipeline import schema
from winnow.pipeline.readers.base import ReadOutcome, Reader, ReaderParams
from winnow.pipeline.readers.warc_records import BadRegion, RawRecord, iter_records
from winnow.pipeline.registry import register_reader
from winnow.pipeline.stage import DETAIL_COLUMN, ERROR_COLUMN, REASON_COLUMN, Outcome

HTML_TYPES = ("text/html", "application/xhtml+xml")
PDF_TYPE = "application/pdf"
MAX_BODY_BYTES = 64 << 20  # a Content-Encoding body inflating past this fails as read_warc_bad_encoding
# Row layout with explicit types, so batches with and without payloads concatenate.
WORKING_SCHEMA = pa.schema([
    pa.field(schema.RAW, pa.binary()),
    pa.field(schema.CONTENT_TYPE, pa.string()),
    pa.field(schema.HTTP_CHARSET, pa.string()),
    pa.field(schema.HTTP_HEADERS, pa.map_(pa.string(), pa.string())),
])
ROW_SCHEMA = pa.schema(list(schema.DOCUMENT_SCHEMA) + list(WORKING_SCHEMA))


class WarcParams(ReaderParams):
    pdf: bool = False  # emit PDF payloads (content_type application/pdf) for the PDF stages; else drop them
    keep_non_2xx: bool = False  # keep responses with a status other than 2xx (redirect and error pages)


class _Rows:
    """Collects rows for one Outcome: documents, dropped records with a reason, failed records with an error,
    and counts of skipped non-documents by type."""

    def __init__(self) -> None:
        self.kept: list[dict] = []
        self.dropped: list[dict] = []
        self.failed: list[dict] = []
        self.counters: dict[str, int] = {}
        self.skipped: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self.kept) + len(self.dropped) + len(self.failed)

    def drop(self, row: dict, reason: str) -> None:
        row.pop(schema.RAW, None)  # rejected/ keeps ids and reasons; the payload is not needed there
        row[REASON_COLUMN] = reason
        self.dropped.append(row)

    def fail(self, row: dict, code: str, detail: str) -> None:
        row.pop(schema.RAW, None)
        row[ERROR_COLUMN], row[DETAIL_COLUMN] = code, detail
        self.failed.append(row)

    def count(self, name: str) -> None:
        self.counters[name] = self.counters.get(name, 0) + 1

    def skip(self, kind: str) -> None:
        self.skipped[kind] = self.skipped.get(kind, 0) + 1

    def pending(self) -> bool:
        return len(self) > 0 or bool(self.skipped)

    def flush(self) -> ReadOutcome:
        def table(rows: list[dict], extra: tuple[str, ...]) -> pa.Table:
            # column by column: several times faster than Table.from_pylist on megabytes of payloads
            fields = list(ROW_SCHEMA) + [pa.field(c, pa.string()) for c in extra]
            arrays = [pa.array([r.get(f.name) for r in rows], f.type) for f in fields]
            return pa.Table.from_arrays(arrays, schema=pa.schema(fields))

        out = ReadOutcome(
            kept=table(self.kept, ()),
            dropped=table(self.dropped, (REASON_COLUMN,)) if self.dropped else None,
            failed=table(self.failed, (ERROR_COLUMN, DETAIL_COLUMN)) if self.failed else None,
            counters=dict(self.counters) or None,
            skipped=dict(self.skipped) or None,
        )
        self.__init__()
        return out


def parse_http(block: bytes) -> tuple[int | None, dict[str, str], bytes]:
    """Status, lower-cased headers (repeated ones joined by ', ') and body of an HTTP response block."""
    ends = [i for i in (block.find(b"\r\n\r\n"), block.find(b"\n\n")) if i != -1]
    if not ends:
        raise ValueError("HTTP headers never end")
    hend = min(ends)
    body = block[hend + (4 if block.startswith(b"\r\n\r\n", hend) else 2) :]
    lines = block[:hend].decode("iso-8859-1").split("\n")
    parts = lines[0].split()
    if len(parts) < 2 or not parts[0].upper().startswith("HTTP/"):
        raise ValueError(f"not an HTTP status line: {lines[0][:80]!r}")
    status = int(parts[1]) if parts[1].isdigit() else None
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            key, value = name.strip().lower(), value.strip()
            headers[key] = f"{headers[key]}, {value}" if key in headers else value
    return status, headers, body


def _dechunk(body: bytes) -> bytes:
    out, pos = [], 0
    while True:
        eol = body.find(b"\r\n", pos)
        size = int(body[pos:eol].split(b";")[0], 16)
        if size == 0:
            return b"".join(out)
        out.append(body[eol + 2 : eol + 2 + size])
        pos = eol + 4 + size


def decode_body(body: bytes, headers: dict[str, str]) -> bytes:
    """Undo chunked transfer and gzip/deflate content encodings (Common Crawl usually stores them undone)."""
    if "chunked" in headers.get("transfer-encoding", "").lower() and body[:1].isalnum():
        try:
            body = _dechunk(body)
        except ValueError:
            pass  # the crawler already removed the chunking but kept the header
    encoding = headers.get("content-encoding", "").lower().strip()
    if encoding in ("gzip", "x-gzip", "deflate") and body[:2] in (b"\x1f\x8b", b"\x78\x9c", b"\x78\x01", b"\x78\xda"):
        d = zlib.decompressobj(47)  # 47: zlib or gzip header, detected
        body = d.decompress(body, MAX_BODY_BYTES + 1)  # bounded: a small body can inflate to gigabytes
        if len(body) > MAX_BODY_BYTES:
            raise zlib.error(f"decodes to more than {MAX_BODY_BYTES} bytes")
        if not d.eof:
            raise zlib.error("incomplete or truncated stream")
    return body


def mime_of(content_type: str | None, body: bytes) -> tuple[str, str | None]:
    """The MIME type (header first, a look at the payload when it is missing) and the declared charset."""
    mime, charset = "", None
    if content_type:
        parts = [p.strip() for p in content_type.split(";")]
        mime = parts[0].lower()
        for p in parts[1:]:
            if p.lower().startswith("charset="):
                charset = p[8:].strip("\"' ").lower() or None
    if not mime or mime in ("application/octet-stream", "unknown/unknown"):
        head = body[:1024].lstrip().lower()
        if body.startswith(b"%PDF-"):
            mime = PDF_TYPE
        elif head.startswith((b"<!doctype html", b"<html")) or b"<html" in head:
            mime = "text/html"
    return mime or "unknown", charset


WARC_TYPES = ("warcinfo", "response", "resource", "request", "metadata", "revisit", "conversion", "continuation")


def skip_kind(wtype: str, prefix: str = "warc") -> str:
    """The `skipped` key of a non-document record type; a type outside the WARC standard (a corrupt header) is
    `<prefix>_unknown`, so hostile input cannot invent funnel keys."""
    return f"{prefix}_{wtype}" if wtype in WARC_TYPES else f"{prefix}_unknown"


class _WarcBase(Reader):
    Params = WarcParams
    splittable = True
    working_columns = tuple(WORKING_SCHEMA.names)

    def base_row(self, path: str, rec: RawRecord) -> dict[str, Any]:
        h = rec.headers
        doc_id, meta = schema.identity(
            f"{path}@{rec.position}",
            warc_record_id=h.get("warc-record-id"),
            warc_date=h.get("warc-date"),
            warc_file=os.path.basename(path.split("?", 1)[0]),
            warc_offset=rec.offset,
            warc_version=rec.version,
            **({"warc_inner_offset": rec.inner} if rec.inner else {}),
            **({"warc_length_repaired": True} if rec.repaired else {}),
            # the crawler stopped reading the payload (Common Crawl keeps 1 MiB of a PDF): pdf_extract drops on it
            **({"warc_truncated": h["warc-truncated"]} if h.get("warc-truncated") else {}),
        )
        return {
            schema.ID: doc_id,
            schema.SOURCE: self.params.source or "commoncrawl",
            schema.URL: h.get("warc-target-uri"),
            schema.DOMAIN: self.params.domain,
            "_meta": meta,
        }

    def read(self, path: str, span: tuple[int, int] | None = None) -> Iterator[Outcome]:
        rows = _Rows()
        for rec in iter_records(path, span):
            if isinstance(rec, BadRegion):
                inner = {"warc_inner_offset": rec.inner} if rec.inner else {}
                doc_id, meta = schema.identity(f"{path}@{rec.position}", warc_file=os.path.basename(path),
                                               warc_offset=rec.offset, **inner)
                row = {schema.ID: doc_id, schema.SOURCE: self.params.source or "commoncrawl",
                       schema.METADATA: schema.metadata_json(meta)}
                rows.fail(row, rec.code, rec.detail)
            else:
                self._record(path, rec, rows)
            if len(rows) >= self.params.batch_size:
                yield rows.flush()
        if rows.pending():
            yield rows.flush()

    def _record(self, path: str, rec: RawRecord, rows: _Rows) -> None:
        row = self.base_row(path, rec)
        wtype = rec.headers.get("warc-type", "unknown").lower()
        try:
            # A cut header may lack what tells a document from a request: it fails, whatever it was.
            verdict = _header_cut(rec, row) if rec.header_cut else self.handle(rec, wtype, row)
            if verdict is None or verdict[0] != "skip":
                row[schema.METADATA] = schema.metadata_json(row.pop("_meta"))
                _check_strings(row)
        except Exception as exc:  # noqa: BLE001 - one bad record fails alone; the file goes on
            locator = f"{path}@{rec.position}"
            verdict = ("fail", "read_warc_bad_record", f"{locator}: {type(exc).__name__}: {exc}")
            row = self.base_row(path, rec)  # without what handle() filled in: that may be what Arrow cannot hold
            row[schema.METADATA] = schema.metadata_json(row.pop("_meta"))
        if verdict is not None and verdict[0] == "skip":
            rows.skip(verdict[1])  # not a document: counted by type, no row anywhere
            return
        if verdict is None:
            rows.kept.append(row)
        elif verdict[0] == "drop":
            rows.drop(row, verdict[1])
        else:
            rows.fail(row, verdict[1], verdict[2])

    def handle(self, rec: RawRecord, wtype: str, row: dict) -> tuple | None:
        """Fill `row` for a document and return None, or return ("skip", kind) for a non-document,
        ("drop", reason) for a document the reader refuses, ("fail", code, detail) for a bad record."""
        raise NotImplementedError


def _check_strings(row: dict) -> None:
    """Refuse here, for this record alone, what would fail the whole batch when Arrow builds it: a URL that is no
    string, a lone surrogate a WAT record's JSON escaped (\\ud800) in its URL, title or headers (all in metadata)."""
    for name in (schema.URL, schema.METADATA):
        value = row.get(name)
        if value is not None:
            if not isinstance(value, str):
                raise ValueError(f"{name} is {type(value).__name__}, not a string")
            value.encode("utf-8")  # UnicodeEncodeError, a ValueError, on a lone surrogate


def _header_cut(rec: RawRecord, row: dict) -> tuple:
    return ("fail", "read_warc_truncated",
            f"{row['_meta'][schema.LOCATOR]}: the WARC header is cut short (no Content-Length, or no block at all)")


def _truncated(rec: RawRecord, row: dict) -> tuple:
    return ("fail", "read_warc_truncated",
            f"{row['_meta'][schema.LOCATOR]}: block has {len(rec.block)} of {rec.headers.get('content-length')} bytes")


@register_reader("warc")
class WarcReader(_WarcBase):
    extensions = (".warc", ".warc.gz")
    # 0.36 CPU-s per MB of gzip WARC through the commoncrawl recipe, on pages outside the scored jobs (BENCHMARKS.md,
    # bench/executor_choice.py): mostly markup, so cheaper per byte than text
    seconds_per_mb = 0.4

    def handle(self, rec: RawRecord, wtype: str, row: dict) -> tuple | None:
        if wtype != "response":
            return ("skip", skip_kind(wtype))
        if not rec.headers.get("content-type", "").lower().startswith("application/http"):
            return ("skip", "warc_non_http")  # a response of another protocol (dns:, ftp:) is no web page
        if rec.truncated:
            return _truncated(rec, row)
        meta = row["_meta"]
        status, http_headers, body = parse_http(rec.block)
        try:
            body = decode_body(body, http_headers)
        except zlib.error as exc:
            encoding = http_headers.get("content-encoding")
            return ("fail", "read_warc_bad_encoding", f"{meta[schema.LOCATOR]}: {encoding}: {exc}")
        mime, charset = mime_of(http_headers.get("content-type"), body)
        meta.update(http_status=status, http_headers=http_headers, content_type=mime, http_charset=charset)
        row[schema.CONTENT_TYPE], row[schema.HTTP_CHARSET], row[schema.HTTP_HEADERS] = mime, charset, http_headers
        if status is not None and not 200 <= status < 300 and not self.params.keep_non_2xx:
            return ("drop", "read_warc_redirect" if 300 <= status < 400 else "read_warc_http_error")
        if not body.strip():
            return ("drop", "read_warc_empty")
        if mime == PDF_TYPE:
            if not self.params.pdf:
                return ("drop", "read_warc_pdf")
        elif mime not in HTML_TYPES:
            return ("drop", "read_warc_non_html")
        row[schema.RAW] = body
        return None


@register_reader("wet")
class WetReader(_WarcBase):
    extensions = (".wet", ".wet.gz", ".warc.wet.gz", ".warc.wet", ".warc.wet.txt")

    def handle(self, rec: RawRecord, wtype: str, row: dict) -> tuple | None:
        if wtype != "conversion":
            return ("skip", skip_kind(wtype))
        if rec.truncated:
            return _truncated(rec, row)
        meta = row["_meta"]
        meta.update(content_type="text/plain", warc_refers_to=rec.headers.get("warc-refers-to"))
        if rec.headers.get("warc-identified-content-language"):
            meta["cc_languages"] = rec.headers["warc-identified-content-language"]
        text = rec.block.decode("utf-8", errors="replace").strip()
        if not text:
            return ("drop", "read_warc_empty")
        row[schema.TEXT], row[schema.CONTENT_TYPE] = text, "text/plain"
        return None


@register_reader("wat")
class WatReader(_WarcBase):
    extensions = (".wat", ".wat.gz", ".warc.wat.gz", ".warc.wat")

    def handle(self, rec: RawRecord, wtype: str, row: dict) -> tuple | None:
        if wtype != "metadata":
            return ("skip", skip_kind(wtype))
        if rec.truncated:
            return _truncated(rec, row)
        envelope = json.loads(rec.block).get("Envelope", {})
        kind = envelope.get("WARC-Header-Metadata", {}).get("WARC-Type", "unknown").lower()
        if kind != "response":  # WAT describes the WARC's requests and metadata records too
            return ("skip", skip_kind(kind, "wat"))
        http = envelope.get("Payload-Metadata", {}).get("HTTP-Response-Metadata", {})
        html = http.get("HTML-Metadata", {})
        status = http.get("Response-Message", {}).get("Status")
        row[schema.URL] = envelope.get("WARC-Header-Metadata", {}).get("WARC-Target-URI", row[schema.URL])
        headers = {k.lower(): str(v) for k, v in http.get("Headers", {}).items()}
        row["_meta"].update(
            content_type="application/json",
            http_status=int(status) if str(status).isdigit() else None,
            http_headers=headers,
            title=html.get("Head", {}).get("Title"),
            links=len(html.get("Links", [])),
        )
        row[schema.HTTP_HEADERS] = headers
        row[schema.TEXT] = rec.block.decode("utf-8", errors="replace")
        row[schema.CONTENT_TYPE] = "application/json"
        return None
