"""One unit of work: read (or load) one unit's rows, run a segment of stages over them, write the results.

Both executors (in-process and Ray) call `run_unit`; it is a plain function of its arguments, so a
unit gives the same bytes wherever and however often it runs.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from typing import Any, Iterator

import pyarrow as pa
import pyarrow.parquet as pq

from winnow.pipeline import parquet_io, schema, storage
from winnow.pipeline.accounting import StageCount
from winnow.pipeline.config import PipelineConfig
from winnow.pipeline.readers.base import READ_STAGE, detect_format
from winnow.pipeline.registry import READERS
from winnow.pipeline.stage import (
    DETAIL_COLUMN,
    ERROR_COLUMN,
    REASON_COLUMN,
    GlobalStage,
    Outcome,
    Stage,
    error_code,
    error_detail,
    split_by_scope,
)


class StageSetupError(RuntimeError):
    """A stage could not load its model or data: a configuration problem, reported once, not per row."""


@dataclass(frozen=True)
class Unit:
    index: int
    paths: tuple[str, ...]  # the input files this unit reads, in order (one, or a group of small files)
    format: str
    options: tuple  # reader options as sorted (key, value) pairs

    @property
    def key(self) -> str:
        return f"{self.index:05d}"


@dataclass(frozen=True)
class Segment:
    """Stages that run per unit in one pass. All but the first segment start with a global stage."""

    index: int
    stage_names: tuple[str, ...]
    global_stage: str | None  # the first stage, fitted on the whole corpus beforehand


def plan_segments(config: PipelineConfig) -> list[Segment]:
    segments: list[list[str]] = [[]]
    for spec in config.stages:
        # A global stage always opens a new segment; before a leading one, segment 0 only reads the inputs.
        if issubclass(_stage_class(spec.name), GlobalStage):
            segments.append([])
        segments[-1].append(spec.name)
    out = []
    for i, names in enumerate(segments):
        first = names[0] if names else None
        is_global = first is not None and issubclass(_stage_class(first), GlobalStage)
        out.append(Segment(i, tuple(names), first if is_global else None))
    return out


def _stage_class(name: str) -> type[Stage]:
    from winnow.pipeline.registry import STAGES

    return STAGES[name]


class Layout:
    """Where a run keeps its files. Everything Winnow writes stays under the output directory."""

    def __init__(self, output: str):
        self.output = output
        self.documents = storage.join(output, "documents")
        self.rejected = storage.join(output, "rejected")
        self.errors = storage.join(output, "errors")
        self.work = storage.join(output, "_work")

    def segment_dir(self, seg: int) -> str:
        return storage.join(self.work, f"seg{seg}")

    def kept_path(self, seg: int, unit: str, last: bool) -> str:
        if last:
            return storage.join(self.documents, f"part-{unit}.parquet")
        return storage.join(self.segment_dir(seg), f"unit-{unit}.parquet")

    def marker(self, seg: int, unit: str) -> str:
        return storage.join(self.segment_dir(seg), f"unit-{unit}.done.json")

    def fit_dir(self, seg: int) -> str:
        return storage.join(self.work, f"fit{seg}")


_PIPELINE_CACHE: dict[str, tuple[PipelineConfig, dict[str, Stage]]] = {}


def _pipeline(config: PipelineConfig) -> tuple[PipelineConfig, dict[str, Stage]]:
    """Stages built once per worker process and reused by every unit it runs (models load once).

    Workers receive the driver's validated config object; nothing is parsed or validated again here."""
    key = json.dumps(config.to_dict(), sort_keys=True, default=str)
    if key not in _PIPELINE_CACHE:
        _PIPELINE_CACHE.clear()  # one pipeline per worker at a time; frees the previous run's models
        _PIPELINE_CACHE[key] = (config, {s.name: s.build() for s in config.stages})
    return _PIPELINE_CACHE[key]


def _read_file(unit: Unit, path: str, batch_size: int) -> Iterator[Outcome]:
    fmt = unit.format if unit.format != "auto" else detect_format(path)
    reader_cls = READERS[fmt]
    options = dict(unit.options)
    options.setdefault("batch_size", batch_size)
    reader = reader_cls(reader_cls.Params(**options))
    yield from reader.read(path)


def _file_failure(path: str, exc: BaseException) -> Outcome:
    """A file that cannot be read (any further) becomes one failed row whose locator is the file's path."""
    doc_id, meta = schema.identity(path)
    row = {schema.ID: doc_id, schema.SOURCE: None, schema.METADATA: schema.metadata_json(meta)}
    failed = schema.documents_from_records([row])
    failed = failed.append_column(ERROR_COLUMN, pa.array([error_code(READ_STAGE, exc)]))
    failed = failed.append_column(DETAIL_COLUMN, pa.array([f"{path}: {error_detail(exc)}"]))
    return Outcome(kept=schema.empty_documents(), failed=failed)


def _read_safely(unit: Unit, batch_size: int) -> Iterator[tuple[str, Outcome]]:
    """(path, outcome) for every batch read: the path names rows a reader left without a locator."""
    for path in unit.paths:
        try:
            for outcome in _read_file(unit, path, batch_size):
                yield path, outcome
        except Exception as exc:  # a bad file: record it, keep what was read, go on with the next
            yield path, _file_failure(path, exc)


def _load_previous(path: str, batch_size: int) -> Iterator[pa.Table]:
    fs, inner = storage.filesystem(path)
    with fs.open_input_file(inner) as f:
        pf = pq.ParquetFile(f)
        if pf.metadata.num_rows == 0:
            return
        for batch in pf.iter_batches(batch_size=batch_size):
            yield pa.Table.from_batches([batch])


SAMPLE_TEXTS_PER_REASON = 3  # dropped texts kept per (stage, reason) and unit for the report, when not keeping all


def _locators(rows: pa.Table, fallback: str | None) -> pa.Array:
    """Each row's locator, read from its metadata (credentials removed); `fallback` where none was recorded."""
    metas = rows[schema.METADATA].to_pylist() if schema.METADATA in rows.column_names else [None] * rows.num_rows
    return pa.array([storage.redact(schema.locator_of(m) or fallback) for m in metas], pa.string())


def _rejected_rows(outcome_dropped: pa.Table, stage: str, keep_text: bool, sampled: dict[str, int],
                   fallback: str | None = None) -> pa.Table:
    n = outcome_dropped.num_rows
    cols = outcome_dropped.column_names
    get = lambda c: outcome_dropped[c] if c in cols else pa.nulls(n, pa.string())  # noqa: E731
    reasons = outcome_dropped[REASON_COLUMN].to_pylist()
    if keep_text:
        texts = get(schema.TEXT)
    else:
        all_texts, keep = get(schema.TEXT).to_pylist(), []
        for reason, text in zip(reasons, all_texts):
            seen = sampled.get(reason, 0)
            keep.append(text[:2000] if text is not None and seen < SAMPLE_TEXTS_PER_REASON else None)
            sampled[reason] = seen + 1
        texts = pa.array(keep, pa.string())
    return pa.table(
        {
            schema.ID: get(schema.ID),
            schema.LOCATOR: _locators(outcome_dropped, fallback),
            schema.SOURCE: get(schema.SOURCE),
            schema.URL: get(schema.URL),
            schema.DOMAIN: get(schema.DOMAIN),
            schema.LANGUAGE: get(schema.LANGUAGE),
            schema.STAGE: pa.array([stage] * n, pa.string()),
            schema.REASON: pa.array(reasons, pa.string()),
            schema.TEXT: texts,
            "bytes": pa.array(schema.row_bytes(outcome_dropped), pa.int64()),
        },
        schema=schema.REJECTED_SCHEMA,
    )


def _error_rows(failed: pa.Table, stage: str, fallback: str | None = None) -> pa.Table:
    n = failed.num_rows
    cols = failed.column_names
    get = lambda c: failed[c] if c in cols else pa.nulls(n, pa.string())  # noqa: E731
    return pa.table(
        {
            schema.ID: get(schema.ID),
            schema.LOCATOR: _locators(failed, fallback),
            schema.SOURCE: get(schema.SOURCE),
            schema.URL: get(schema.URL),
            schema.STAGE: pa.array([stage] * n, pa.string()),
            schema.ERROR: failed[ERROR_COLUMN],
            schema.DETAIL: pa.array([storage.redact(d) for d in (failed[DETAIL_COLUMN] if DETAIL_COLUMN in cols
                                                                   else failed[ERROR_COLUMN]).to_pylist()], pa.string()),
            "bytes": pa.array(schema.row_bytes(failed), pa.int64()),
        },
        schema=schema.ERRORS_SCHEMA,
    )


def _rejoin(kept: pa.Table, bypass: pa.Table, declared: dict[str, pa.DataType]) -> pa.Table:
    """Put bypassing rows back beside the stage's kept rows; columns the stage added are null for them.

    Declared columns are added even when no row went through the stage (a batch of one domain only), so
    the next stage finds them whatever the batch held."""
    for name, typ in declared.items():
        if name not in kept.column_names:
            kept = kept.append_column(name, pa.nulls(kept.num_rows, typ))
    for name in kept.column_names:
        if name not in bypass.column_names:
            bypass = bypass.append_column(name, pa.nulls(bypass.num_rows, kept.schema.field(name).type))
    bypass = bypass.select(kept.column_names)
    return pa.concat_tables([parquet_io.normalise(kept), parquet_io.normalise(bypass)], promote_options="permissive")


def _final_columns(table: pa.Table) -> pa.Table:
    """Documents as users read them: raw payloads, the readers' working columns (the content type is kept in
    metadata) and the engine's private columns removed, so every output part has the same columns."""
    drop = [c for c in table.column_names if c in (schema.RAW, schema.CONTENT_TYPE) or c.startswith("_")]
    return table.drop_columns(drop) if drop else table


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


def _apply_stage(stage: Stage, name: str, batch: pa.Table, unit_key: str) -> Outcome:
    """One stage over one batch; rows outside its domains bypass it, an exception fails the batch's rows."""
    inside, bypass = split_by_scope(stage.params, batch)
    try:
        if inside.num_rows == 0:
            outcome = Outcome(kept=inside)
        elif isinstance(stage, GlobalStage):
            outcome = stage.apply(inside, unit_key)
        else:
            outcome = stage.process(inside)
    except Exception as exc:  # the stage failed the whole batch: every row fails with its error
        failed = inside.append_column(ERROR_COLUMN, pa.array([error_code(name, exc)] * inside.num_rows))
        failed = failed.append_column(DETAIL_COLUMN, pa.array([error_detail(exc)] * inside.num_rows))
        outcome = Outcome(kept=inside.slice(0, 0), failed=failed)
    if bypass is not None:  # rows outside the stage's domains pass through unchanged
        outcome.kept = _rejoin(outcome.kept, bypass, stage.output_columns())
    return outcome


class _Sinks:
    """A unit's three outputs (kept rows, rejected/, errors/), each appearing atomically on close."""

    def __init__(self, layout: Layout, segment: Segment, unit: Unit, last: bool, keep_text: bool):
        suffix = f"s{segment.index}-{unit.key}.parquet"
        self.kept = parquet_io.PartWriter(layout.kept_path(segment.index, unit.key, last))
        self.rejected = parquet_io.PartWriter(storage.join(layout.rejected, f"part-{suffix}"))
        self.errors = parquet_io.PartWriter(storage.join(layout.errors, f"part-{suffix}"))
        self.keep_text = keep_text
        self.sampled: dict[str, int] = {}

    def record(self, outcome: Outcome, stage: str, fallback: str | None = None) -> None:
        """Write a stage's dropped and failed rows; `fallback` locates rows whose metadata names no locator."""
        if outcome.dropped is not None and outcome.dropped.num_rows:
            self.rejected.write(_rejected_rows(outcome.dropped, stage, self.keep_text, self.sampled, fallback))
        if outcome.failed is not None and outcome.failed.num_rows:
            self.errors.write(_error_rows(outcome.failed, stage, fallback))

    def close(self) -> None:
        try:
            for w in (self.kept, self.rejected, self.errors):
                w.close()
        except BaseException:
            for w in (self.kept, self.rejected, self.errors):
                w.abort()
            raise


def run_unit(config: PipelineConfig, segment: Segment, unit: Unit, last_segment: bool) -> dict[str, Any]:
    """Run one segment of the pipeline over one unit and write its outputs atomically; returns its counts."""
    config, stages = _pipeline(config)
    layout = Layout(config.output)
    batch_size = config.engine.batch_size
    started = time.perf_counter()
    counts = _start_stages(segment, stages, layout)
    sinks = _Sinks(layout, segment, unit, last_segment, config.engine.keep_rejected_text)

    def run_stages(batch: pa.Table) -> None:
        for name in segment.stage_names:
            if batch.num_rows == 0:
                return
            t0 = time.perf_counter()
            in_bytes = schema.row_bytes(batch)
            outcome = _apply_stage(stages[name], name, batch, unit.key)
            counts[name].add_outcome(batch, outcome, time.perf_counter() - t0, in_bytes)
            sinks.record(outcome, name)
            batch = outcome.kept
        if batch.num_rows:
            sinks.kept.write(_final_columns(batch) if last_segment else batch)

    if segment.index == 0:
        t0 = time.perf_counter()
        for path, outcome in _read_safely(unit, batch_size):
            # the reader's skipped non-documents are counted here and written nowhere
            counts[READ_STAGE].add_outcome(None, outcome, time.perf_counter() - t0)
            sinks.record(outcome, READ_STAGE, fallback=path)
            run_stages(outcome.kept)
            t0 = time.perf_counter()
    else:
        previous = layout.kept_path(segment.index - 1, unit.key, last=False)
        if storage.exists(previous):  # a unit that kept nothing has no file
            for batch in _load_previous(previous, batch_size):
                run_stages(batch)

    sinks.close()
    result = {
        "unit": unit.key,
        "paths": list(unit.paths),
        "segment": segment.index,
        "stages": [c.to_dict() for c in counts.values()],
        "seconds": time.perf_counter() - started,
        "pid": os.getpid(),
    }
    # The marker goes last: a unit without one is rerun from scratch, and its files are overwritten.
    storage.write_atomic(layout.marker(segment.index, unit.key), json.dumps(result, sort_keys=True).encode())
    return result
