"""Reading a variant's documents: id, text, domain and the annotation columns its decision needs, from a run's
documents/ or Parquet/JSONL files."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
from winnow.mixing.ablate.config import AblateInputError
from winnow.pipeline import schema, storage
from winnow.pipeline.tokenize import DEFAULT_DOMAIN
from winnow.pipeline.tokens.documents import PARQUET, document_files

BASE = (schema.ID, schema.TEXT, schema.DOMAIN)


def files_of(documents: str | list[str]) -> list[str]:
    items = [documents] if isinstance(documents, str) else list(documents)
    try:
        return document_files(items)
    except storage.InputError as exc:
        hint = "" if "does not exist" not in str(exc) else " (a run's output? `winnow run` writes it)"
        raise AblateInputError(f"{exc}{hint}") from None


def _parquet(path: str, wanted: set[str]) -> tuple[pa.Table, set[str]]:
    with storage.open_input(path) as f:
        pf = pq.ParquetFile(f)
        names = set(pf.schema_arrow.names)
        if schema.TEXT not in names:
            raise AblateInputError(f"{path}: no {schema.TEXT!r} column")
        cols = [c for c in (*BASE, *sorted(wanted)) if c in names]
        table = pf.read(columns=list(dict.fromkeys(cols)))
    return table, names


def _jsonl(path: str, wanted: set[str]) -> tuple[pa.Table, set[str]]:
    rows, names = [], set()
    with storage.open_text_lines(path) as lines:
        for lineno, raw in enumerate(lines, start=1):
            if not raw.strip():
                continue
            try:
                rec = json.loads(raw)
            except ValueError as exc:
                raise AblateInputError(f"{path}:{lineno}: not a JSON object: {exc}") from None
            if not isinstance(rec, dict) or not isinstance(rec.get(schema.TEXT), str):
                raise AblateInputError(f"{path}:{lineno}: no string {schema.TEXT!r} field")
            names.update(rec)
            doc_id = rec.get(schema.ID)
            row = {c: rec.get(c) for c in (*BASE, *wanted)}
            row[schema.ID] = str(doc_id) if doc_id is not None else schema.make_id(f"{path}:{lineno}")
            rows.append(row)
    return pa.Table.from_pylist(rows) if rows else pa.table({c: pa.array([], pa.string()) for c in BASE}), names


def _normalise(table: pa.Table, path: str, wanted: set[str]) -> pa.Table:
    """The same columns and types for every file: ids filled in, domain defaulted, absent columns null."""
    n = table.num_rows
    ids = table[schema.ID].to_pylist() if schema.ID in table.column_names else [None] * n
    ids = [i if i is not None else schema.make_id(f"{path}#{k + 1}") for k, i in enumerate(ids)]
    doms = table[schema.DOMAIN].to_pylist() if schema.DOMAIN in table.column_names else [None] * n
    cols = {
        schema.ID: pa.array([str(i) for i in ids], pa.string()),
        schema.TEXT: pa.array([t or "" for t in table[schema.TEXT].to_pylist()], pa.string()),
        schema.DOMAIN: pa.array([d or DEFAULT_DOMAIN for d in doms], pa.string()),
    }
    for c in sorted(wanted - set(BASE)):
        cols[c] = table[c].combine_chunks() if c in table.column_names else pa.nulls(n)
    return pa.table(cols)


def read_source(documents: str | list[str], wanted: set[str]) -> tuple[pa.Table, set[str]]:
    """All rows of a source with id, text, domain and the `wanted` columns; and every column name its files hold.

    A wanted column that no file holds is left to the caller to refuse (it knows which decision asked)."""
    tables, present = [], set()
    for path in files_of(documents):
        read = _parquet if path.endswith(PARQUET) else _jsonl
        table, names = read(path, wanted)
        present |= names
        tables.append(_normalise(table, path, wanted))
    if not tables:
        raise AblateInputError(f"{documents!r} holds no documents")
    try:
        return pa.concat_tables(tables, promote_options="permissive"), present
    except pa.ArrowInvalid as exc:
        raise AblateInputError(f"{documents!r}: a column has different types in different files: {exc}") from None
