"""A block of JSON lines parsed by Arrow in one call, for the plain records that make up most corpora.

Parsing line by line in Python (json.loads, a dict per record, the text copied into Arrow afterwards) was
the largest single cost of a dedup run over JSONL: about a quarter of its CPU at 100,000 documents. Arrow's
JSON reader parses a whole block straight into columns. It is used only where its result is the same table
the line-by-line path builds: records holding nothing but the text, the id and the schema's own string
columns (url, domain, language, licence, source) and language score. Anything else (a `metadata` object, extra fields, a number where a string was, a line that
is not valid JSON or UTF-8, a lone surrogate escape, a missing text) makes `block_table` return None and the
caller parses that block line by line, with its repairs and per-record errors. Equality of the two paths is
tested in tests/pipeline/test_readers.py.
"""

from __future__ import annotations

import codecs
import io
from json.encoder import encode_basestring  # what json.dumps(ensure_ascii=False) calls for a str

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pajson

from winnow.pipeline import schema

# Schema columns copied as they are when they are strings: no default, no repair beyond what Arrow checks.
_STRING_COLUMNS = (schema.URL, schema.DOMAIN, schema.LANGUAGE, schema.LICENSE)
# One thread: a reader runs inside a worker that already has its core.
_READ_OPTIONS = pajson.ReadOptions(use_threads=False, block_size=1 << 30)
_PARSE_OPTIONS = pajson.ParseOptions(newlines_in_values=False)


def block_table(path: str, lines: list[tuple[int, bytes]], params) -> pa.Table | None:
    """The document table of these (line number, raw line) records, or None where Arrow's parse might differ
    from the line-by-line path (JsonlReader.read parses the block itself then)."""
    if lines[0][1].startswith(codecs.BOM_UTF8):
        return None  # Arrow skips a byte order mark that starts its buffer; json.loads refuses it inside a file
    try:
        parsed = pajson.read_json(io.BytesIO(b"".join(_lines_with_newline(lines))), _READ_OPTIONS, _PARSE_OPTIONS)
        parsed.validate(full=True)  # Arrow's JSON parser passes invalid UTF-8 through into the strings
    except (pa.ArrowException, ValueError):  # bad JSON or UTF-8, a lone surrogate, a duplicated key, anything odd
        return None  # the line-by-line path is always right, only slower
    if parsed.num_rows != len(lines) or not _plain(parsed, params):
        return None
    n = parsed.num_rows
    locators = [f"{path}:{lineno}" for lineno, _ in lines]
    columns = {
        schema.ID: pa.array([schema.make_id(loc) for loc in locators], pa.string()),
        schema.TEXT: parsed[params.text_field].combine_chunks(),
        schema.SOURCE: _source(parsed, params),
    }
    for name in _STRING_COLUMNS:
        if name in parsed.column_names:
            columns[name] = parsed[name].combine_chunks().cast(pa.string())
    if schema.LANGUAGE_SCORE in parsed.column_names:
        columns[schema.LANGUAGE_SCORE] = parsed[schema.LANGUAGE_SCORE].combine_chunks().cast(pa.float64())
    if params.domain is not None:  # the record's own domain wins; the reader's fills in where it has none
        given = columns.get(schema.DOMAIN, pa.nulls(n, pa.string()))
        columns[schema.DOMAIN] = given.fill_null(params.domain)
    ids = parsed[params.id_field].to_pylist() if params.id_field in parsed.column_names else [None] * n
    columns[schema.METADATA] = pa.array([_metadata(loc, i) for loc, i in zip(locators, ids)], pa.string())
    return pa.Table.from_arrays(
        [columns.get(f.name, pa.nulls(n, f.type)) for f in schema.DOCUMENT_SCHEMA], schema=schema.DOCUMENT_SCHEMA
    )


def _source(parsed: pa.Table, params) -> pa.Array:
    """The reader's source tag, else the record's own unless empty, else "jsonl" (as record_to_document)."""
    n = parsed.num_rows
    if params.source or schema.SOURCE not in parsed.column_names:
        return pa.array([params.source or "jsonl"] * n, pa.string())
    given = parsed[schema.SOURCE].combine_chunks().cast(pa.string())
    return pc.if_else(pc.equal(given, ""), "jsonl", given).fill_null("jsonl")


def _lines_with_newline(lines: list[tuple[int, bytes]]):
    for _, raw in lines:
        yield raw if raw.endswith(b"\n") else raw + b"\n"  # the file's last line may lack one


def _plain(parsed: pa.Table, params) -> bool:
    """Whether every column is one the fast path builds exactly as record_to_document would. A column holding
    only nulls comes out of Arrow typed null: as good as absent where record_to_document passes over a null (the
    schema's columns, the id, metadata), but an extra field's null is kept in metadata, which this path does not
    write."""
    null_is_absent = {*_STRING_COLUMNS, schema.SOURCE, schema.LANGUAGE_SCORE, schema.METADATA, params.id_field}
    types = {}
    for name, t in zip(parsed.column_names, parsed.schema.types):
        if t != pa.null():
            types[name] = t
        elif name not in null_is_absent:
            return False
    text = types.pop(params.text_field, None)
    if text != pa.string() or parsed[params.text_field].null_count:
        return False  # no text, or a non-string one: record_to_document's errors say which
    if params.id_field in types and types.pop(params.id_field) not in (pa.string(), pa.int64()):
        return False  # a float or a date-like string would not round-trip into metadata as it was written
    if schema.LANGUAGE_SCORE in types and types.pop(schema.LANGUAGE_SCORE) not in (pa.float64(), pa.int64()):
        return False
    return all(name in (*_STRING_COLUMNS, schema.SOURCE) and t == pa.string() for name, t in types.items())


def _metadata(locator: str, source_id) -> str:
    """schema.metadata_json({locator, source_id}) for these two keys (sorted), at a fifth of its cost: json's
    own string encoder, without an encoder object per call."""
    loc = encode_basestring(locator)
    if source_id is None:
        return f'{{"{schema.LOCATOR}":{loc}}}'
    sid = encode_basestring(source_id) if isinstance(source_id, str) else str(source_id)
    return f'{{"{schema.LOCATOR}":{loc},"source_id":{sid}}}'
