"""The batches a unit's stages consume: its input files through their readers (a file that cannot be read is
one failed row, not a failed unit), or, after a global stage, the rows the previous segment kept."""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa
import pyarrow.parquet as pq

from winnow.pipeline import schema, storage
from winnow.pipeline.planning import Unit
from winnow.pipeline.readers.base import READ_STAGE, detect_format
from winnow.pipeline.registry import READERS
from winnow.pipeline.stage import DETAIL_COLUMN, ERROR_COLUMN, Outcome, error_code, error_detail


def _read_file(unit: Unit, path: str, batch_size: int) -> Iterator[Outcome]:
    fmt = unit.format if unit.format != "auto" else detect_format(path)
    reader_cls = READERS[fmt]
    options = dict(unit.options)
    options.setdefault("batch_size", batch_size)
    reader = reader_cls(reader_cls.Params(**options))
    yield from reader.read(path, unit.span) if unit.span else reader.read(path)


def _file_failure(unit: Unit, path: str, exc: BaseException) -> Outcome:
    """A file that cannot be read (any further) becomes one failed row whose locator is the file's path (with the
    span's start when the unit reads part of it: each span of a failing file is its own row)."""
    doc_id, meta = schema.identity(f"{path}@{unit.span[0]}-{unit.span[1]}" if unit.span else path)
    row = {schema.ID: doc_id, schema.SOURCE: None, schema.METADATA: schema.metadata_json(meta)}
    failed = schema.documents_from_records([row])
    failed = failed.append_column(ERROR_COLUMN, pa.array([error_code(READ_STAGE, exc)]))
    failed = failed.append_column(DETAIL_COLUMN, pa.array([f"{path}: {error_detail(exc)}"]))
    return Outcome(kept=schema.empty_documents(), failed=failed)


def read_unit(unit: Unit, batch_size: int) -> Iterator[tuple[str, Outcome]]:
    """(path, outcome) for every batch read: the path names rows a reader left without a locator."""
    for path in unit.paths:
        try:
            for outcome in _read_file(unit, path, batch_size):
                yield path, outcome
        except Exception as exc:  # a bad file: record it, keep what was read, go on with the next
            yield path, _file_failure(unit, path, exc)


def load_kept(path: str, batch_size: int) -> Iterator[pa.Table]:
    """A previous segment's kept rows for one unit, in batches; nothing when the unit kept nothing."""
    if not storage.exists(path):  # a unit that kept nothing has no file
        return
    fs, inner = storage.filesystem(path)
    with fs.open_input_file(inner) as f:
        pf = pq.ParquetFile(f)
        if pf.metadata.num_rows == 0:
            return
        for batch in pf.iter_batches(batch_size=batch_size):
            yield pa.Table.from_batches([batch])
