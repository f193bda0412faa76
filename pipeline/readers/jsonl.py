"""JSON Lines reader (plain, .gz, .zst): one document per line."""

from __future__ import annotations

import codecs
import json
from typing import Any, Iterator

from winnow.pipeline import schema, storage
from winnow.pipeline.readers.base import BatchBuilder, Reader, ReaderParams, ReadOutcome
from winnow.pipeline.readers.jsonl_block import block_table
from winnow.pipeline.registry import register_reader
from winnow.pipeline.stage import Outcome

# Record fields copied into the schema's columns when present; everything else goes to metadata.
PASSTHROUGH = (schema.URL, schema.DOMAIN, schema.LANGUAGE, schema.LANGUAGE_SCORE, schema.LICENSE, schema.SOURCE)


class JsonlParams(ReaderParams):
    text_field: str = "text"
    id_field: str | None = "id"  # kept as metadata.source_id; Winnow's own id hashes the locator
    max_line_bytes: int = 64 * 1024 * 1024  # a longer line (a gzip bomb, a file without newlines) fails the rest of the file


def record_to_document(
    record: dict[str, Any], locator: str, params: JsonlParams, default_source: str, extra_meta: dict | None = None
) -> dict[str, Any]:
    """Map a JSON/Parquet record onto the document schema. Raises ValueError when it has no usable text or a schema
    field of the wrong type (a number for `url`, a list for `language_score`)."""
    text = record.get(params.text_field)
    if text is None:
        raise ValueError(f"no {params.text_field!r} field")
    if not isinstance(text, str):
        raise ValueError(f"{params.text_field!r} is {type(text).__name__}, not a string")
    text, repaired = _valid_utf8(text)
    doc: dict[str, Any] = {schema.ID: schema.make_id(locator), schema.TEXT: text}
    # Checked here, record by record: a wrong type would otherwise fail the whole batch when Arrow builds it.
    for key in PASSTHROUGH:
        value = record.get(key)
        if value is None:
            continue
        if key == schema.LANGUAGE_SCORE:
            doc[key] = _score(value)
        else:
            doc[key], fixed = _string_field(key, value)
            repaired = repaired or fixed
    doc[schema.SOURCE] = params.source or doc.get(schema.SOURCE) or default_source
    doc.setdefault(schema.DOMAIN, params.domain)
    skip = {params.text_field, params.id_field, *PASSTHROUGH, schema.METADATA}
    meta = {k: v for k, v in record.items() if k not in skip}
    old_meta = record.get(schema.METADATA)
    if isinstance(old_meta, str) and old_meta.startswith("{"):
        try:
            old_meta = json.loads(old_meta)
        except ValueError:
            old_meta = {"original_metadata": old_meta}
    if isinstance(old_meta, dict):
        meta.update(old_meta)
    if params.id_field and record.get(params.id_field) is not None:
        meta["source_id"] = record[params.id_field]
    # The id hashes this locator, so it is the one metadata names; one a record brought along is kept beside it.
    if meta.get(schema.LOCATOR) not in (None, locator):
        meta["source_locator"] = meta[schema.LOCATOR]
    meta[schema.LOCATOR] = locator
    meta.update(extra_meta or {})
    if repaired:
        meta["utf8_repaired"] = True
    doc[schema.METADATA] = _metadata(meta)
    return doc


def _string_field(key: str, value: Any) -> tuple[str, bool]:
    if not isinstance(value, str):
        raise ValueError(f"{key!r} is {type(value).__name__}, not a string")
    return _valid_utf8(value)


def _score(value: Any) -> float:
    try:
        return float(value)  # a number, or a string that reads as one
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"{schema.LANGUAGE_SCORE!r} is {value!r:.80}, not a number") from None


def _metadata(meta: dict[str, Any]) -> str:
    """The metadata JSON. A lone surrogate escape in a field it keeps (a title, a key) is repaired as in the text
    and marked, instead of failing the batch when Arrow meets it."""
    text = schema.metadata_json(meta)
    if text.isascii() or _encodes(text):
        return text
    meta["utf8_repaired"] = True
    return _valid_utf8(schema.metadata_json(meta))[0]


def _valid_utf8(value: Any) -> tuple[Any, bool]:
    """JSON may escape lone surrogates (\\ud800) that UTF-8, and so Arrow, cannot hold: replace them, say so."""
    if not isinstance(value, str) or _encodes(value):
        return value, False
    return value.encode("utf-8", "replace").decode("utf-8"), True


def _encodes(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def failed_record(locator: str, source: str) -> dict[str, Any]:
    doc_id, meta = schema.identity(locator)
    return {schema.ID: doc_id, schema.SOURCE: source, schema.METADATA: schema.metadata_json(meta)}


@register_reader("jsonl")
class JsonlReader(Reader):
    extensions = (".jsonl", ".jsonl.gz", ".jsonl.zst", ".json.gz", ".ndjson", ".jsonl.zstd", ".json.zst")
    Params = JsonlParams

    def read(self, path: str) -> Iterator[Outcome]:
        for block in self._blocks(path):
            yield from self._block(path, block)

    def _blocks(self, path: str) -> Iterator[list[tuple[int, bytes]]]:
        """The file's records as (line number, raw line), batch_size at a time. A file that cannot be read on (a cut
        or corrupt .gz/.zst, an overlong line) fails from there as one errors/ row (Reader contract); the records
        decoded before it still come first, so they are kept."""
        limit = self.params.max_line_bytes
        block: list[tuple[int, bytes]] = []
        lineno = 0
        try:
            with storage.open_text_lines(path) as lines:
                # readline with a limit: iterating lines would first build a line of any length in memory.
                # limit + 2: a line of exactly `limit` bytes still has room for its CRLF
                for lineno, raw in enumerate(iter(lambda: lines.readline(limit + 2), b""), start=1):
                    if len(raw) - raw.endswith(b"\n") - raw.endswith(b"\r\n") > limit:
                        raise ValueError(f"line {lineno} is longer than max_line_bytes={limit}")
                    if lineno == 1 and raw.startswith(codecs.BOM_UTF8):
                        raw = raw[len(codecs.BOM_UTF8) :]  # a byte order mark starts the file, not the record
                    if not raw.strip():
                        continue  # blank lines are not records
                    block.append((lineno, raw))
                    if len(block) >= self.params.batch_size:
                        yield block
                        block = []
        except Exception as exc:
            exc.add_note(f"while reading line {lineno + 1}")
            if block:
                yield block
            raise
        if block:
            yield block

    def _block(self, path: str, block: list[tuple[int, bytes]]) -> Iterator[Outcome]:
        """One batch: parsed by Arrow in one call where the records are plain, else line by line."""
        if not block:
            return
        table = block_table(path, block, self.params)
        if table is not None:
            yield ReadOutcome(kept=table)
            return
        out = BatchBuilder(len(block))
        for lineno, raw in block:
            self._parse_line(path, lineno, raw, out)
        yield out.flush()

    def _parse_line(self, path: str, lineno: int, raw: bytes, out: BatchBuilder) -> None:
        locator = f"{path}:{lineno}"
        try:
            line = raw.decode("utf-8")
            repaired = False
        except UnicodeDecodeError:
            # Repair rather than lose the document; the repair is recorded in metadata.
            line, repaired = raw.decode("utf-8", errors="replace"), True
        try:
            record = json.loads(line)
            if not isinstance(record, dict):
                raise ValueError(f"a JSON {type(record).__name__}, not an object")
            doc = record_to_document(record, locator, self.params, "jsonl", {"utf8_repaired": True} if repaired else None)
        except (ValueError, RecursionError) as exc:  # RecursionError: absurdly deep nesting
            code = "read_bad_json" if isinstance(exc, json.JSONDecodeError) else "read_bad_record"
            out.failed.append((failed_record(locator, "jsonl"), code, f"{locator}: {exc}"))
        else:
            out.docs.append(doc)
