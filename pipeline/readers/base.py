"""The reader contract and format detection."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any, ClassVar, Iterator

import pyarrow as pa

from winnow.pipeline import schema
from winnow.pipeline.registry import READERS
from winnow.pipeline.stage import REASON_COLUMN, Outcome, StageParams

READ_STAGE = "read"


class ReaderParams(StageParams):
    domain: str | None = None  # domain tag for documents that carry none
    source: str | None = None  # source tag; each reader has its own default
    batch_size: int = 1000


@dataclass
class ReadOutcome(Outcome):
    """A reader's Outcome. Records that are not documents (WARC requests, metadata records, revisits, ...)
    are neither kept nor dropped: they are counted here by type (`warc_request`) and leave no row, so
    rejected/ holds only documents (DESIGN.md, "Accounting")."""

    skipped: dict[str, int] | None = None


class Reader:
    """Reads one file. `read(path)` yields ReadOutcomes: documents as `kept`, documents the reader refuses
    (a redirect, an empty page) as `dropped` with a `read_<why>` reason, bad records as `failed`, and
    non-documents counted under `skipped`. Every row's metadata holds its locator (schema.LOCATOR) and its
    id is derived from it (schema.identity). An exception escaping `read` fails the rest of the file as one
    errors/ row; what came before is kept."""

    format: ClassVar[str] = ""
    extensions: ClassVar[tuple[str, ...]] = ()
    # Input files per unit of work. Large files (a WARC, a Parquet shard) are a unit each; small ones (PDFs)
    # are grouped, so a million PDFs make thousands of units and output parts, not a million.
    files_per_unit: ClassVar[int] = 1
    # A reader that can read part of a gzip file, `read(path, span=(start, end))`: the records starting in that
    # byte range, each record in exactly one span. A run with few large files splits them, so every core has work.
    splittable: ClassVar[bool] = False
    # A rough price of its input, CPU-seconds per MB through a typical recipe: only to judge whether a run of few
    # units is worth starting Ray for (planning.parallel_gain_seconds). Erring high starts Ray where it was not needed.
    seconds_per_mb: ClassVar[float] = 1.0
    # Columns the reader adds for the stages only (payload bytes, typed HTTP fields): never written to the
    # output, and dropped by the engine once no later stage reads them (see working_columns()).
    working_columns: ClassVar[tuple[str, ...]] = ()
    Params: ClassVar[type[ReaderParams]] = ReaderParams

    def __init__(self, params: ReaderParams | None = None, **kwargs: Any):
        self.params = params if params is not None else self.Params(**kwargs)

    def read(self, path: str) -> Iterator[Outcome]:
        raise NotImplementedError


def working_columns() -> frozenset[str]:
    """Every registered reader's working columns: what the engine drops before a segment writes, unless a later
    stage reads it."""
    return frozenset(c for fmt in READERS for c in READERS[fmt].working_columns)


def detect_format(path: str) -> str:
    """The registered format whose extension the path ends with (longest match wins)."""
    name = path.lower().split("?", 1)[0]
    best, best_len = None, -1
    for fmt, cls in READERS.items():
        for ext in cls.extensions:
            if name.endswith(ext) and len(ext) > best_len:
                best, best_len = fmt, len(ext)
    if best is None:
        known = sorted(ext for cls in READERS.values() for ext in cls.extensions)
        raise ValueError(f"{path}: cannot tell the format from its name; set `format:` (known endings: {known})")
    return best


class BatchBuilder:
    """Collects document dicts, dropped records, failed records and skipped counts; flushes them as ReadOutcomes."""

    def __init__(self, batch_size: int):
        self.batch_size = batch_size
        self.docs: list[dict[str, Any]] = []
        self.dropped: list[tuple[dict[str, Any], str]] = []
        self.failed: list[tuple[dict[str, Any], str, str]] = []
        self.skipped: Counter = Counter()

    def __len__(self) -> int:
        return len(self.docs) + len(self.dropped) + len(self.failed)

    def full(self) -> bool:
        return len(self) >= self.batch_size

    def pending(self) -> bool:
        """Anything to flush, skipped counts included: a file of non-documents only still reports them."""
        return len(self) > 0 or bool(self.skipped)

    def flush(self) -> ReadOutcome:
        from winnow.pipeline.stage import DETAIL_COLUMN, ERROR_COLUMN

        kept = schema.documents_from_records(self.docs) if self.docs else schema.empty_documents()
        dropped = failed = None
        if self.dropped:
            dropped = schema.documents_from_records([r for r, _ in self.dropped])
            dropped = dropped.append_column(REASON_COLUMN, pa.array([x for _, x in self.dropped], pa.string()))
        if self.failed:
            failed = schema.documents_from_records([r for r, _, _ in self.failed])
            failed = failed.append_column(ERROR_COLUMN, pa.array([e for _, e, _ in self.failed], pa.string()))
            failed = failed.append_column(DETAIL_COLUMN, pa.array([d for _, _, d in self.failed], pa.string()))
        skipped = dict(self.skipped) or None
        self.docs, self.dropped, self.failed, self.skipped = [], [], [], Counter()
        return ReadOutcome(kept=kept, dropped=dropped, failed=failed, skipped=skipped)
