"""Parquet reader, row group by row group (a run's own documents/ read back, or any table with a text column)."""

from __future__ import annotations

from typing import Iterator

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from winnow.pipeline import schema, storage
from winnow.pipeline.readers.base import BatchBuilder, Reader
from winnow.pipeline.readers.jsonl import JsonlParams, failed_record, record_to_document
from winnow.pipeline.registry import register_reader
from winnow.pipeline.stage import Outcome


@register_reader("parquet")
class ParquetReader(Reader):
    extensions = (".parquet",)
    Params = JsonlParams

    def read(self, path: str) -> Iterator[Outcome]:
        with storage.open_input(path) as f:
            pf = pq.ParquetFile(f)
            if _is_winnow_output(pf, self.params.text_field):
                yield from _read_typed(pf, self.params)
                return
            yield from self._read_records(pf, path)

    def _read_records(self, pf: pq.ParquetFile, path: str) -> Iterator[Outcome]:
        """Any table with a text column, record by record (fields mapped and checked like JSONL)."""
        out = BatchBuilder(self.params.batch_size)
        row = 0
        for batch in pf.iter_batches(batch_size=self.params.batch_size):
            for record in batch.to_pylist():
                row += 1
                own = _own_locator(record)
                locator = own or f"{path}#{row}"
                try:
                    doc = record_to_document(record, locator, self.params, "parquet")
                except ValueError as exc:
                    out.failed.append((failed_record(locator, "parquet"), "read_bad_record", f"{locator}: {exc}"))
                    continue
                # A run's own documents keep their id (the hash of that same locator) and columns, so re-reading an
                # output is lossless.
                if own:
                    for key, value in record.items():
                        if key not in doc and key != self.params.text_field:
                            doc[key] = value
                out.docs.append(doc)
                if out.full():
                    yield out.flush()
        if len(out):
            yield out.flush()


def _own_locator(record: dict) -> str | None:
    """The locator of a row a Winnow run wrote: its metadata names one, and its id is that locator's hash (every
    reader derives ids so). Another dataset's own `id` and `metadata` columns (Dolma's, a shard's row numbers) are
    not Winnow's: those rows get this file's locators, so ids do not collide across files, whatever their type."""
    doc_id, meta = record.get(schema.ID), record.get(schema.METADATA)
    if not isinstance(doc_id, str) or not isinstance(meta, str):
        return None
    found = schema.locator_of(meta)
    return found if found is not None and schema.make_id(found) == doc_id else None


def _is_winnow_output(pf: pq.ParquetFile, text_field: str) -> bool:
    """A run's own documents/: every base column present with its type, text where the reader looks for it, and a
    first row that is Winnow's (see _own_locator); anything else is read record by record."""
    base, file_schema = schema.DOCUMENT_SCHEMA, pf.schema_arrow
    if text_field != schema.TEXT or not all(
        name in file_schema.names and file_schema.field(name).type == base.field(name).type for name in base.names
    ):
        return False
    first = next(pf.iter_batches(batch_size=1, columns=[schema.ID, schema.METADATA]), None)
    return first is None or first.num_rows == 0 or _own_locator(first.to_pylist()[0]) is not None


def _read_typed(pf: pq.ParquetFile, params: JsonlParams) -> Iterator[Outcome]:
    """A run's output read back as Arrow, never through Python objects: every column keeps its type (a column
    that is all null in one part stays a typed column), ids and annotations are kept as written."""
    base = schema.DOCUMENT_SCHEMA.names
    for batch in pf.iter_batches(batch_size=params.batch_size):
        table = pa.Table.from_batches([batch])
        for name, value in ((schema.DOMAIN, params.domain), (schema.SOURCE, params.source)):
            if value is not None:  # the reader's tag fills rows that carry none, as for any other input
                filled = pc.fill_null(table[name], value)
                table = table.set_column(table.column_names.index(name), name, filled)
        # Base columns first, in the engine's order; the rest (scores, tags) follow as they were.
        order = list(base) + [c for c in table.column_names if c not in base]
        table = table.select(order)
        if table[schema.TEXT].null_count:  # a row without text fails alone, as on the record path
            missing = pc.is_null(table[schema.TEXT]).to_pylist()
            yield Outcome.from_decisions(table, [None] * table.num_rows,
                                         ["read_bad_record" if m else None for m in missing],
                                         ["no 'text' field" if m else None for m in missing])
            continue
        yield Outcome(kept=table)
