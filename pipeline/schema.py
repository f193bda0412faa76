"""The document schema: column names, their Arrow types, stable ids and table helpers."""

from __future__ import annotations

import hashlib
import json
from itertools import chain
from typing import Any, Iterable

import pyarrow as pa

# Columns every stage can rely on (DESIGN.md, "The data"). Stages add their own columns
# (score_<name>, dup_cluster, ...) next to these; they never rename or retype them.
ID = "id"
TEXT = "text"
SOURCE = "source"
URL = "url"
DOMAIN = "domain"
LANGUAGE = "language"
LANGUAGE_SCORE = "language_score"
LICENSE = "license"
LICENSE_EVIDENCE = "license_evidence"
METADATA = "metadata"

# Working columns: what readers of undecoded formats (WARC HTML, PDF bytes) fill for the stages that need it,
# typed, so no stage parses it back out of the metadata JSON. Each reader declares its own (`working_columns`);
# the engine drops one as soon as no later stage reads it, and none reaches the output.
RAW = "raw"  # the payload: HTML or PDF bytes
CONTENT_TYPE = "content_type"  # its MIME type (kept in metadata too)
HTTP_CHARSET = "http_charset"  # the charset the HTTP Content-Type declares, if any (kept in metadata too)
HTTP_HEADERS = "http_headers"  # lower-cased HTTP response headers, a map (kept in metadata too)

DOCUMENT_SCHEMA = pa.schema(
    [
        pa.field(ID, pa.string(), nullable=False),
        pa.field(TEXT, pa.string()),
        pa.field(SOURCE, pa.string()),
        pa.field(URL, pa.string()),
        pa.field(DOMAIN, pa.string()),
        pa.field(LANGUAGE, pa.string()),
        pa.field(LANGUAGE_SCORE, pa.float64()),
        pa.field(LICENSE, pa.string()),
        pa.field(LICENSE_EVIDENCE, pa.string()),
        pa.field(METADATA, pa.string()),
    ]
)
BASE_COLUMNS = tuple(DOCUMENT_SCHEMA.names)
_BASE_SET = frozenset(BASE_COLUMNS)

# Accounting tables. A rejected row says which stage dropped a document and why; an error
# row says which record could not be processed, where it came from, and what went wrong.
STAGE = "stage"
REASON = "reason"
ERROR = "error"
# Where a record came from: input path plus WARC offset (`path@1234`), line (`path:7`), row (`path#7`), or
# the path alone (a PDF, an unreadable file). Readers keep it in metadata under this key and derive the id
# from it; rejected/ and errors/ carry it as a column of this name, so every row leads back to its input.
LOCATOR = "locator"
DETAIL = "detail"  # the human-readable message behind an error code

REJECTED_SCHEMA = pa.schema(
    [
        pa.field(ID, pa.string()),
        pa.field(LOCATOR, pa.string()),
        pa.field(SOURCE, pa.string()),
        pa.field(URL, pa.string()),
        pa.field(DOMAIN, pa.string()),
        pa.field(LANGUAGE, pa.string()),
        pa.field(STAGE, pa.string()),
        pa.field(REASON, pa.string()),
        pa.field(TEXT, pa.string()),
        pa.field("bytes", pa.int64()),
    ]
)
ERRORS_SCHEMA = pa.schema(
    [
        pa.field(ID, pa.string()),
        pa.field(LOCATOR, pa.string()),
        pa.field(SOURCE, pa.string()),
        pa.field(URL, pa.string()),
        pa.field(STAGE, pa.string()),
        pa.field(ERROR, pa.string()),
        pa.field(DETAIL, pa.string()),
        pa.field("bytes", pa.int64()),
    ]
)


def make_id(locator: str) -> str:
    """A document id that is stable across reruns: a hash of where the document came from."""
    return hashlib.blake2b(locator.encode("utf-8", "surrogatepass"), digest_size=12).hexdigest()


def metadata_json(meta: dict[str, Any] | None) -> str:
    """Serialise source specifics deterministically, so reruns write identical bytes."""
    return json.dumps(meta or {}, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)


def identity(locator: str, **meta: Any) -> tuple[str, dict[str, Any]]:
    """A record's id and the start of its metadata, both from its locator: the one way readers name records."""
    return make_id(locator), {LOCATOR: locator, **meta}


def locator_of(row_metadata: str | None) -> str | None:
    """The source locator recorded in a document's metadata, if any."""
    if not row_metadata or f'"{LOCATOR}"' not in row_metadata:
        return None
    try:
        value = json.loads(row_metadata).get(LOCATOR)
    except (ValueError, AttributeError):
        return None
    return value if isinstance(value, str) and value else None


def documents_from_records(records: Iterable[dict[str, Any]]) -> pa.Table:
    """Build a document table from dicts; missing base columns become nulls, extra keys become columns (in the
    order they first appear)."""
    rows = records if isinstance(records, list) else list(records)
    # column by column, one comprehension each: a third cheaper than a per-row loop over every column
    extra = [k for k in dict.fromkeys(chain.from_iterable(rows)) if k not in _BASE_SET]
    arrays = []
    for name in BASE_COLUMNS:
        values = [row.get(name) for row in rows]
        if name == METADATA:
            values = [metadata_json(v) if isinstance(v, dict) else v for v in values]
        arrays.append(pa.array(values, type=DOCUMENT_SCHEMA.field(name).type))
    fields = list(DOCUMENT_SCHEMA)
    for name in extra:
        arr = pa.array([row.get(name) for row in rows])
        arrays.append(arr)
        fields.append(pa.field(name, arr.type))
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields))


def empty_documents() -> pa.Table:
    return DOCUMENT_SCHEMA.empty_table()


def row_bytes(table: pa.Table) -> list[int]:
    """Per-row sizes for the byte funnel: UTF-8 text once a row has text, the raw payload before that."""
    if table.num_rows == 0:
        return []
    import pyarrow.compute as pc

    lens = None
    if TEXT in table.column_names:
        lens = pc.fill_null(pc.binary_length(table[TEXT].cast(pa.binary())), 0)
    if RAW in table.column_names:
        raw = pc.binary_length(table[RAW])
        has_text = pc.is_valid(table[TEXT]) if TEXT in table.column_names else None
        lens = raw if lens is None else pc.if_else(has_text, lens, pc.fill_null(raw, 0))
    if lens is None:
        return [0] * table.num_rows
    return [int(x or 0) for x in lens.to_pylist()]


def text_bytes(table: pa.Table) -> int:
    return sum(row_bytes(table))
