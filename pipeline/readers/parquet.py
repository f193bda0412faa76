"""Parquet reader, row group by row group (a run's own documents/ read back, or any table with a text column)."""

from __future__ import annotations

from typing import Iterator

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
        out = BatchBuilder(self.params.batch_size)
        with storage.open_input(path) as f:
            pf = pq.ParquetFile(f)
            row = 0
            for batch in pf.iter_batches(batch_size=self.params.batch_size):
                for record in batch.to_pylist():
                    row += 1
                    locator = f"{path}#{row}"
                    if record.get(schema.ID) and record.get(schema.METADATA) and "locator" in str(record[schema.METADATA]):
                        locator = schema.locator_of(record[schema.METADATA]) or locator
                    try:
                        doc = record_to_document(record, locator, self.params, "parquet")
                    except ValueError as exc:
                        out.failed.append((failed_record(locator, "parquet"), "read_bad_record", f"{locator}: {exc}"))
                        continue
                    # A run's own documents keep their id and columns, so re-reading an output is lossless.
                    if record.get(schema.ID) and record.get(schema.METADATA):
                        doc[schema.ID] = record[schema.ID]
                        for key, value in record.items():
                            if key not in doc and key != self.params.text_field:
                                doc[key] = value
                    out.docs.append(doc)
                    if out.full():
                        yield out.flush()
        if len(out):
            yield out.flush()
