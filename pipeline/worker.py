"""What a worker does with one unit: run one segment of stages over the unit's batches and write its outputs.

Both executors (in-process and Ray) call `run_unit`; it is a plain function of its arguments, so a
unit gives the same bytes wherever and however often it runs.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from typing import Any

import pyarrow as pa

from winnow.pipeline import parquet_io, schema, storage
from winnow.pipeline.accounting import StageCount, error_rows, rejected_rows
from winnow.pipeline.apply import apply_stage
from winnow.pipeline.config import PipelineConfig
from winnow.pipeline.inputs import load_kept, read_unit
from winnow.pipeline.layout import Layout
from winnow.pipeline.planning import Segment, Unit
from winnow.pipeline.readers.base import READ_STAGE
from winnow.pipeline.stage import GlobalStage, Outcome, Stage, error_detail


class StageSetupError(RuntimeError):
    """A stage could not load its model or data: a configuration problem, reported once, not per row."""


_STAGE_CACHE: dict[str, tuple[PipelineConfig, dict[str, Stage]]] = {}


def _worker_stages(config: PipelineConfig) -> tuple[PipelineConfig, dict[str, Stage]]:
    """Stages built once per worker process and reused by every unit it runs (models load once).

    Workers receive the driver's validated config object; nothing is parsed or validated again here."""
    key = json.dumps(config.to_dict(), sort_keys=True, default=str)
    if key not in _STAGE_CACHE:
        _STAGE_CACHE.clear()  # one pipeline per worker at a time; frees the previous run's models
        _STAGE_CACHE[key] = (config, {s.name: s.build() for s in config.stages})
    return _STAGE_CACHE[key]


def _start_stages(segment: Segment, stages: dict[str, Stage], layout: Layout) -> dict[str, StageCount]:
    """Set up the segment's stages (models load once per worker) and open their funnel counts."""
    counts: dict[str, StageCount] = {}
    if segment.index == 0:
        counts[READ_STAGE] = StageCount(READ_STAGE)
    for name in segment.stage_names:
        counts[name] = StageCount(name)
        st = stages[name]
        if isinstance(st, GlobalStage):
            st.state_dir = layout.fit_dir(segment.index)
        try:
            st.ensure_setup()
        except Exception as exc:  # a bad model path or benchmark file: stop the run with one clear message
            raise StageSetupError(f"stage {name!r} could not start: {error_detail(exc)}") from None
    return counts


def _drop_columns(table: pa.Table, names: tuple[str, ...]) -> pa.Table:
    drop = [c for c in names if c in table.column_names]
    return table.drop_columns(drop) if drop else table


def _final_columns(table: pa.Table) -> pa.Table:
    """Documents as users read them: the engine's private columns removed (the readers' working columns are gone
    already, see Segment.drop_before), so every output part has the same columns."""
    return _drop_columns(table, tuple(c for c in table.column_names if c.startswith("_")))


def _unread(segment: Segment, position: int) -> tuple[str, ...]:
    """The working columns to drop before the segment's stage at `position` (its length: before writing)."""
    return segment.drop_before[position] if segment.drop_before else ()


class _UnitSinks:
    """A unit's three outputs (kept rows, rejected/, errors/), each appearing atomically on close."""

    def __init__(self, layout: Layout, segment: Segment, unit: Unit, last: bool, keep_text: bool):
        self.kept = parquet_io.PartWriter(layout.kept_path(segment.index, unit.key, last), scratch=not last)
        self.rejected = parquet_io.PartWriter(layout.rejected_part(segment.index, unit.key))
        self.errors = parquet_io.PartWriter(layout.errors_part(segment.index, unit.key))
        self.last = last
        self.keep_text = keep_text
        self.sampled: dict[str, int] = {}  # texts kept so far per reason, across the unit's batches

    def record(self, outcome: Outcome, stage: str, fallback: str | None = None) -> None:
        """Write a stage's dropped and failed rows; `fallback` locates rows whose metadata names no locator."""
        if outcome.dropped is not None and outcome.dropped.num_rows:
            self.rejected.write(rejected_rows(outcome.dropped, stage, self.keep_text, self.sampled, fallback))
        if outcome.failed is not None and outcome.failed.num_rows:
            self.errors.write(error_rows(outcome.failed, stage, fallback))

    def keep(self, batch: pa.Table) -> None:
        if batch.num_rows:
            self.kept.write(_final_columns(batch) if self.last else batch)

    def close(self) -> None:
        try:
            for w in (self.kept, self.rejected, self.errors):
                w.close()
        except BaseException:
            for w in (self.kept, self.rejected, self.errors):
                w.abort()
            raise


def _read_counted(unit: Unit, batch_size: int, count: StageCount, sinks: _UnitSinks) -> Iterator[pa.Table]:
    """The unit's input files as batches of documents, counted and recorded under the reader's funnel entry."""
    t0 = time.perf_counter()
    for path, outcome in read_unit(unit, batch_size):
        # the reader's skipped non-documents are counted here and written nowhere
        count.add_outcome(None, outcome, time.perf_counter() - t0)
        sinks.record(outcome, READ_STAGE, fallback=path)
        yield outcome.kept
        t0 = time.perf_counter()  # the stages' time over this batch is not the reader's


def _run_stages(segment: Segment, stages: dict[str, Stage], batch: pa.Table, unit_key: str,
                counts: dict[str, StageCount], sinks: _UnitSinks) -> pa.Table:
    """One batch through the segment's stages, each counted and its drops recorded; returns the rows kept."""
    for position, name in enumerate(segment.stage_names):
        if batch.num_rows == 0:
            break
        batch = _drop_columns(batch, _unread(segment, position))
        t0 = time.perf_counter()
        in_bytes = schema.row_bytes(batch)
        outcome = apply_stage(stages[name], name, batch, unit_key)
        counts[name].add_outcome(batch, outcome, time.perf_counter() - t0, in_bytes)
        sinks.record(outcome, name)
        batch = outcome.kept
    return _drop_columns(batch, _unread(segment, len(segment.stage_names)))


def run_unit(config: PipelineConfig, segment: Segment, unit: Unit, last_segment: bool) -> dict[str, Any]:
    """Run one segment of the pipeline over one unit and write its outputs atomically; returns its counts."""
    config, stages = _worker_stages(config)
    layout = Layout(config.output)
    batch_size = config.engine.batch_size
    started = time.perf_counter()
    counts = _start_stages(segment, stages, layout)
    sinks = _UnitSinks(layout, segment, unit, last_segment, config.engine.keep_rejected_text)
    if segment.index == 0:
        batches = _read_counted(unit, batch_size, counts[READ_STAGE], sinks)
    else:
        batches = load_kept(layout.kept_path(segment.index - 1, unit.key, last=False), batch_size)
    for batch in batches:
        sinks.keep(_run_stages(segment, stages, batch, unit.key, counts, sinks))
    sinks.close()
    result = {
        "unit": unit.key,
        "paths": list(unit.paths),
        "span": list(unit.span) if unit.span else None,
        "segment": segment.index,
        "stages": [c.to_dict() for c in counts.values()],
        "seconds": time.perf_counter() - started,
        "pid": os.getpid(),
    }
    # The marker goes last: a unit without one is rerun from scratch, and its files are overwritten.
    storage.write_atomic(layout.marker(segment.index, unit.key), json.dumps(result, sort_keys=True).encode())
    return result
