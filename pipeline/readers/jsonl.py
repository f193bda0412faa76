"""JSON Lines reader (plain, .gz, .zst): one document per line."""

from __future__ import annotations

import json
from typing import Any, Iterator

from pipeline import schema, storage
from pipeline.readers.base import BatchBuilder, Reader, ReaderParams
from pipeline.registry import register_reader
from pipeline.stage import Outcome

# Record fields copied into the schema's columns when present; everything else goes to metadata.
PASSTHROUGH = (schema.URL, schema.DOMAIN, schema.LANGUAGE, schema.LANGUAGE_SCORE, schema.LICENSE, schema.SOURCE)


class JsonlParams(ReaderParams):
    text_field: str = "text"
    id_field: str | None = "id"  # kept as metadata.source_id; Winnow's own id hashes the locator


def record_to_document(
    record: dict[str, Any], locator: str, params: JsonlParams, default_source: str, extra_meta: dict | None = None
) -> dict[str, Any]:
    """Map a JSON/Parquet record onto the document schema. Raises ValueError when it has no usable text."""
    text = record.get(params.text_field)
    if text is None:
        raise ValueError(f"no {params.text_field!r} field")
    if not isinstance(text, str):
        raise ValueError(f"{params.text_field!r} is {type(text).__name__}, not a string")
    doc: dict[str, Any] = {schema.ID: schema.make_id(locator), schema.TEXT: text}
    for key in PASSTHROUGH:
        if record.get(key) is not None:
            doc[key] = record[key]
    if schema.LANGUAGE_SCORE in doc:
        doc[schema.LANGUAGE_SCORE] = float(doc[schema.LANGUAGE_SCORE])
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
    meta.setdefault("locator", locator)
    meta.update(extra_meta or {})
    doc[schema.METADATA] = schema.metadata_json(meta)
    return doc


def failed_record(locator: str, source: str) -> dict[str, Any]:
    return {
        schema.ID: schema.make_id(locator),
        schema.SOURCE: source,
        schema.METADATA: schema.metadata_json({"locator": locator}),
    }


@register_reader("jsonl")
class JsonlReader(Reader):
    extensions = (".jsonl", ".jsonl.gz", ".jsonl.zst", ".json.gz", ".ndjson", ".jsonl.zstd", ".json.zst")
    Params = JsonlParams

    def read(self, path: str) -> Iterator[Outcome]:
        out = BatchBuilder(self.params.batch_size)
        with storage.open_text_lines(path) as lines:
            for lineno, raw in enumerate(lines, start=1):
                if not raw.strip():
                    continue  # blank lines are not records
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
                    doc = record_to_document(
                        record, locator, self.params, "jsonl", {"utf8_repaired": True} if repaired else None
                    )
                except ValueError as exc:
                    code = "read_bad_json" if isinstance(exc, json.JSONDecodeError) else "read_bad_record"
                    out.failed.append((failed_record(locator, "jsonl"), code, f"{locator}: {exc}"))
                else:
                    out.docs.append(doc)
                if out.full():
                    yield out.flush()
        if len(out):
            yield out.flush()
