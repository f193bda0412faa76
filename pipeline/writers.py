"""Parquet writing: deterministic bytes (same input, same file) and atomic appearance."""

from __future__ import annotations

import io

import pyarrow as pa
import pyarrow.parquet as pq

from pipeline import schema, storage

# Fixed writer options: reruns must produce byte-identical files, and pandas, DuckDB and
# Hugging Face datasets all read zstd Parquet with these settings.
WRITE_OPTIONS = dict(compression="zstd", compression_level=3, use_dictionary=True, write_statistics=True)


def normalise(table: pa.Table) -> pa.Table:
    """Give all-null columns a concrete type, so every part of a run has the same schema."""
    for i, f in enumerate(table.schema):
        if pa.types.is_null(f.type):
            table = table.set_column(i, f.name, table.column(i).cast(pa.string()))
    return table.replace_schema_metadata(None)


def table_to_bytes(table: pa.Table) -> bytes:
    buf = io.BytesIO()
    pq.write_table(normalise(table).combine_chunks(), buf, **WRITE_OPTIONS)
    return buf.getvalue()


def write_parquet(path: str, table: pa.Table) -> None:
    storage.write_atomic(path, table_to_bytes(table))


def read_parquet(path: str, columns: list[str] | None = None) -> pa.Table:
    fs, inner = storage.filesystem(path)
    return pq.read_table(inner, filesystem=fs, columns=columns)


def count_rows(paths: list[str]) -> int:
    total = 0
    for p in paths:
        fs, inner = storage.filesystem(p)
        with fs.open_input_file(inner) as f:
            total += pq.ParquetFile(f).metadata.num_rows
    return total


def concat(tables: list[pa.Table]) -> pa.Table:
    tables = [t for t in tables if t is not None]
    if not tables:
        return schema.empty_documents()
    return pa.concat_tables([normalise(t) for t in tables], promote_options="permissive")
