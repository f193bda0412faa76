"""Parquet writing: deterministic bytes (same input, same file) and atomic appearance."""

from __future__ import annotations

import io

import pyarrow as pa
import pyarrow.parquet as pq

from winnow.pipeline import schema, storage

# Fixed writer options: reruns must produce byte-identical files, and pandas, DuckDB and
# Hugging Face datasets all read zstd Parquet with these settings.
WRITE_OPTIONS = dict(compression="zstd", compression_level=3, use_dictionary=True, write_statistics=True)
# Scratch files (a segment's documents between global stages, dedup state) are written once, read back by
# Winnow and deleted: LZ4 writes text about 2.6x faster than zstd level 3 (0.62 against 1.59 CPU-s for 100,000
# web documents, bench/data_path.py), for files about 1.8x the size.
SCRATCH_OPTIONS = WRITE_OPTIONS | {"compression": "lz4", "compression_level": None}


def normalise(table: pa.Table) -> pa.Table:
    """Give all-null columns a concrete type, so every part of a run has the same schema."""
    for i, f in enumerate(table.schema):
        if pa.types.is_null(f.type):
            table = table.set_column(i, f.name, table.column(i).cast(pa.string()))
    return table.replace_schema_metadata(None)


def table_to_bytes(table: pa.Table, scratch: bool = False) -> bytes:
    buf = io.BytesIO()
    pq.write_table(normalise(table).combine_chunks(), buf, **(SCRATCH_OPTIONS if scratch else WRITE_OPTIONS))
    return buf.getvalue()


def write_parquet(path: str, table: pa.Table, scratch: bool = False) -> None:
    storage.write_atomic(path, table_to_bytes(table, scratch))


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


def _conform(table: pa.Table, target: pa.Schema) -> pa.Table:
    """Reorder and cast a table to `target`; columns it lacks become nulls."""
    arrays = []
    for f in target:
        if f.name in table.column_names:
            col = table[f.name]
            arrays.append(col if col.type == f.type else col.cast(f.type))
        else:
            arrays.append(pa.nulls(table.num_rows, f.type))
    return pa.Table.from_arrays(arrays, schema=target)


class PartWriter:
    """Streams batches into one Parquet file that appears atomically on close(), so a unit's output
    never has to fit in memory at once. Columns are unified across batches: a missing one is null, a
    new one widens the file's schema, types follow the first batch that had the column."""

    def __init__(self, path: str, scratch: bool = False):
        self.path = path
        self.options = SCRATCH_OPTIONS if scratch else WRITE_OPTIONS
        self.rows = 0
        self._writer: pq.ParquetWriter | None = None
        self._schema: pa.Schema | None = None
        self._local_tmp: str | None = None

    def write(self, table: pa.Table) -> None:
        if table.num_rows == 0:
            return
        table = normalise(table)
        if self._writer is None:
            import os
            import tempfile
            import uuid

            fs, inner = storage.filesystem(self.path)
            if storage.is_remote(self.path):  # build locally, upload on close
                fd, self._local_tmp = tempfile.mkstemp(suffix=".parquet")
                os.close(fd)
            else:
                os.makedirs(os.path.dirname(inner), exist_ok=True)
                self._local_tmp = f"{inner}.tmp-{uuid.uuid4().hex[:8]}"
            self._schema = table.schema
            self._writer = pq.ParquetWriter(self._local_tmp, self._schema, **self.options)
        elif table.schema != self._schema:
            if set(table.schema.names) - set(self._schema.names):
                self._widen(table.schema)  # a column appeared (e.g. a domain-scoped stage's first rows)
            table = _conform(table, self._schema)
        self._writer.write_table(table)
        self.rows += table.num_rows

    def _widen(self, other: pa.Schema) -> None:
        """Rewrite what was written so far under a schema that also has `other`'s new columns (rare)."""
        self._writer.close()
        written = pq.read_table(self._local_tmp)
        fields = list(self._schema) + [f for f in other if f.name not in self._schema.names]
        self._schema = pa.schema(fields)
        self._writer = pq.ParquetWriter(self._local_tmp, self._schema, **self.options)
        self._writer.write_table(_conform(written, self._schema))

    def close(self) -> bool:
        """Finish the file; returns False (and writes nothing) when no rows were written."""
        if self._writer is None:
            return False
        import os

        self._writer.close()
        if storage.is_remote(self.path):
            with open(self._local_tmp, "rb") as f:
                storage.write_atomic(self.path, f.read())
            os.unlink(self._local_tmp)
        else:
            os.replace(self._local_tmp, storage.filesystem(self.path)[1])
        return True

    def abort(self) -> None:
        import os

        if self._writer is not None:
            self._writer.close()
            if self._local_tmp and os.path.exists(self._local_tmp):
                os.unlink(self._local_tmp)
