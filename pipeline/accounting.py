"""The books of a run: the funnel (per-stage counts of documents and bytes in, kept, dropped by reason and failed by
error, and, for the reader, the non-document records it skipped by type) and the rows of rejected/ and errors/
that stand behind every drop and failure it counts."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from winnow.pipeline import schema, storage
from winnow.pipeline.stage import DETAIL_COLUMN, ERROR_COLUMN, REASON_COLUMN, Outcome


@dataclass
class StageCount:
    name: str
    docs_in: int = 0
    kept: int = 0
    dropped: Counter = field(default_factory=Counter)
    failed: Counter = field(default_factory=Counter)
    # Records read that are not documents (WARC requests, metadata, revisits), by type: part of `in`, never rows.
    skipped: Counter = field(default_factory=Counter)
    bytes_in: int = 0
    bytes_kept: int = 0  # input-side bytes of the kept rows
    bytes_out: int = 0  # bytes of the kept rows after the stage (it may rewrite text)
    bytes_dropped: int = 0
    bytes_failed: int = 0
    seconds: float = 0.0
    counters: Counter = field(default_factory=Counter)

    def add_outcome(self, batch_in: pa.Table | None, outcome: Outcome, seconds: float, in_bytes: list[int] | None = None):
        """Count one batch. `in_bytes` are the input rows' sizes when the caller measured them already."""
        n_drop = outcome.dropped.num_rows if outcome.dropped is not None else 0
        n_fail = outcome.failed.num_rows if outcome.failed is not None else 0
        skipped = getattr(outcome, "skipped", None) or {}  # only a reader's outcome has them
        n_in = batch_in.num_rows if batch_in is not None else outcome.kept.num_rows + n_drop + n_fail
        self.docs_in += n_in + sum(skipped.values())
        self.skipped.update(skipped)
        self.kept += outcome.kept.num_rows
        if outcome.dropped is not None:
            self.dropped.update(outcome.dropped[REASON_COLUMN].to_pylist())
        if outcome.failed is not None:
            self.failed.update(outcome.failed[ERROR_COLUMN].to_pylist())
        b_drop = schema.text_bytes(outcome.dropped) if outcome.dropped is not None else 0
        b_fail = schema.text_bytes(outcome.failed) if outcome.failed is not None else 0
        b_out = schema.text_bytes(outcome.kept)
        if in_bytes is not None:
            b_in = sum(in_bytes)
        elif batch_in is not None:
            b_in = schema.text_bytes(batch_in)
        else:  # a reader: its input is exactly what it emitted
            b_in = b_out + b_drop + b_fail
        self.bytes_in += b_in
        self.bytes_dropped += b_drop
        self.bytes_failed += b_fail
        self.bytes_kept += b_in - b_drop - b_fail
        self.bytes_out += b_out
        self.seconds += seconds
        if outcome.counters:
            self.counters.update(outcome.counters)
        # A stage that loses rows is not corrected here: check_funnel reports it and the run fails.

    def merge(self, other: "StageCount") -> None:
        self.docs_in += other.docs_in
        self.kept += other.kept
        self.dropped.update(other.dropped)
        self.failed.update(other.failed)
        self.skipped.update(other.skipped)
        self.counters.update(other.counters)
        for f in ("bytes_in", "bytes_kept", "bytes_out", "bytes_dropped", "bytes_failed", "seconds"):
            setattr(self, f, getattr(self, f) + getattr(other, f))

    def to_dict(self) -> dict[str, Any]:
        d = {
            "name": self.name,
            "in": self.docs_in,
            "kept": self.kept,
            "dropped": dict(sorted(self.dropped.items())),
            "failed": dict(sorted(self.failed.items())),
            "bytes_in": self.bytes_in,
            "bytes_kept": self.bytes_kept,
            "bytes_out": self.bytes_out,
            "bytes_dropped": self.bytes_dropped,
            "bytes_failed": self.bytes_failed,
            "seconds": round(self.seconds, 4),
            "counters": dict(sorted(self.counters.items())),
        }
        if self.skipped:  # stages other than the reader never skip; their entries keep DESIGN's shape
            d["skipped"] = dict(sorted(self.skipped.items()))
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "StageCount":
        c = cls(d["name"], d["in"], d["kept"], Counter(d["dropped"]), Counter(d["failed"]))
        c.skipped = Counter(d.get("skipped", {}))
        c.counters = Counter(d.get("counters", {}))
        for f in ("bytes_in", "bytes_kept", "bytes_out", "bytes_dropped", "bytes_failed", "seconds"):
            setattr(c, f, d.get(f, 0))
        return c


def merge_counts(per_unit: list[list[dict[str, Any]]], order: list[str]) -> list[StageCount]:
    """Sum per-unit stage counts into one funnel, in pipeline order."""
    total = {name: StageCount(name) for name in order}
    for unit in per_unit:
        for d in unit:
            total.setdefault(d["name"], StageCount(d["name"])).merge(StageCount.from_dict(d))
    return [total[name] for name in total]


def check_funnel(stages: list[StageCount], documents: int, rejected: int, errors: int) -> list[str]:
    """Every rule of DESIGN.md's accounting; returns the broken ones (empty means the books balance)."""
    problems = []
    for s in stages:
        if s.docs_in != s.kept + sum(s.skipped.values()) + sum(s.dropped.values()) + sum(s.failed.values()):
            problems.append(f"{s.name}: in {s.docs_in} != kept {s.kept} + skipped + dropped + failed")
        if s.bytes_in != s.bytes_kept + s.bytes_dropped + s.bytes_failed:
            problems.append(f"{s.name}: bytes_in {s.bytes_in} != bytes kept + dropped + failed")
    for s in stages[1:]:  # rows a later stage called non-documents would vanish from every output
        if s.skipped:
            problems.append(f"{s.name}: only the reader may skip records, it skipped {sum(s.skipped.values())}")
    for a, b in zip(stages, stages[1:]):
        if b.docs_in != a.kept:
            problems.append(f"{b.name}: in {b.docs_in} != previous stage {a.name} kept {a.kept}")
        if b.bytes_in != a.bytes_out:
            problems.append(f"{b.name}: bytes_in {b.bytes_in} != previous stage {a.name} bytes_out {a.bytes_out}")
    if stages and stages[-1].kept != documents:
        problems.append(f"last stage kept {stages[-1].kept} but documents/ holds {documents} rows")
    n_drop = sum(sum(s.dropped.values()) for s in stages)
    n_fail = sum(sum(s.failed.values()) for s in stages)
    if n_drop != rejected:
        problems.append(f"stages dropped {n_drop} but rejected/ holds {rejected} rows")
    if n_fail != errors:
        problems.append(f"stages failed {n_fail} but errors/ holds {errors} rows")
    return problems


SAMPLE_TEXTS_PER_REASON = 3  # dropped texts kept per (stage, reason) and unit for the report, when not keeping all


def _column(rows: pa.Table, name: str) -> pa.Array | pa.ChunkedArray:
    # Rows may lack optional columns (a file that could not be read has no url and no text): null for them.
    return rows[name] if name in rows.column_names else pa.nulls(rows.num_rows, pa.string())


def _locators(rows: pa.Table, fallback: str | None) -> pa.Array:
    """Each row's locator, read from its metadata (credentials removed); `fallback` where none was recorded."""
    metas = rows[schema.METADATA].to_pylist() if schema.METADATA in rows.column_names else [None] * rows.num_rows
    return pa.array([storage.redact(schema.locator_of(m) or fallback) for m in metas], pa.string())


def _sampled_texts(texts: list[str | None], reasons: list[str], sampled: dict[str, int]) -> pa.Array:
    """The first few texts of each reason, cut short; `sampled` carries the counts across a unit's batches."""
    keep = []
    for reason, text in zip(reasons, texts):
        seen = sampled.get(reason, 0)
        keep.append(text[:2000] if text is not None and seen < SAMPLE_TEXTS_PER_REASON else None)
        sampled[reason] = seen + 1
    return pa.array(keep, pa.string())


def rejected_rows(dropped: pa.Table, stage: str, keep_text: bool, sampled: dict[str, int],
                  fallback: str | None = None) -> pa.Table:
    """rejected/ rows for a stage's dropped rows; `fallback` locates rows whose metadata names no locator."""
    n = dropped.num_rows
    reasons = dropped[REASON_COLUMN].to_pylist()
    texts = _column(dropped, schema.TEXT)
    if not keep_text:
        texts = _sampled_texts(texts.to_pylist(), reasons, sampled)
    return pa.table(
        {
            schema.ID: _column(dropped, schema.ID),
            schema.LOCATOR: _locators(dropped, fallback),
            schema.SOURCE: _column(dropped, schema.SOURCE),
            schema.URL: _column(dropped, schema.URL),
            schema.DOMAIN: _column(dropped, schema.DOMAIN),
            schema.LANGUAGE: _column(dropped, schema.LANGUAGE),
            schema.STAGE: pa.array([stage] * n, pa.string()),
            schema.REASON: pa.array(reasons, pa.string()),
            schema.TEXT: texts,
            "bytes": pa.array(schema.row_bytes(dropped), pa.int64()),
        },
        schema=schema.REJECTED_SCHEMA,
    )


def error_rows(failed: pa.Table, stage: str, fallback: str | None = None) -> pa.Table:
    """errors/ rows for a stage's failed rows, details redacted (an error may quote a URL with credentials)."""
    details = failed[DETAIL_COLUMN] if DETAIL_COLUMN in failed.column_names else failed[ERROR_COLUMN]
    return pa.table(
        {
            schema.ID: _column(failed, schema.ID),
            schema.LOCATOR: _locators(failed, fallback),
            schema.SOURCE: _column(failed, schema.SOURCE),
            schema.URL: _column(failed, schema.URL),
            schema.STAGE: pa.array([stage] * failed.num_rows, pa.string()),
            schema.ERROR: failed[ERROR_COLUMN],
            schema.DETAIL: pa.array([storage.redact(d) for d in details.to_pylist()], pa.string()),
            "bytes": pa.array(schema.row_bytes(failed), pa.int64()),
        },
        schema=schema.ERRORS_SCHEMA,
    )
