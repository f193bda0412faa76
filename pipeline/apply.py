"""One stage over one batch: rows outside the stage's domains (only_domains/skip_domains) bypass it and rejoin
its kept rows, and an exception fails the batch's rows rather than the unit."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from winnow.pipeline import parquet_io, schema
from winnow.pipeline.stage import (
    DETAIL_COLUMN,
    ERROR_COLUMN,
    GlobalStage,
    Outcome,
    Stage,
    error_code,
    error_detail,
    split_by_scope,
)


def apply_stage(stage: Stage, name: str, batch: pa.Table, unit_key: str) -> Outcome:
    inside, bypass = split_by_scope(stage.params, batch)
    try:
        if inside.num_rows == 0:
            outcome = Outcome(kept=inside)
        elif isinstance(stage, GlobalStage):
            outcome = stage.apply(inside, unit_key)
        else:
            outcome = stage.process(inside)
        broken = _not_the_rows_given(inside, outcome)
    except Exception as exc:  # a bad batch fails its own rows with the error; the unit and the run go on
        outcome = _fail_all(inside, error_code(name, exc), error_detail(exc))
    else:
        if broken:  # counts alone would balance over a row lost and another duplicated, or ids rewritten
            outcome = _fail_all(inside, f"{name}_broke_contract", broken)
    if bypass is not None:
        outcome.kept = rejoin(outcome.kept, bypass, stage.output_columns())
    return outcome


def _fail_all(inside: pa.Table, code: str, detail: str) -> Outcome:
    failed = inside.append_column(ERROR_COLUMN, pa.array([code] * inside.num_rows))
    failed = failed.append_column(DETAIL_COLUMN, pa.array([detail] * inside.num_rows))
    return Outcome(kept=inside.slice(0, 0), failed=failed)


def _not_the_rows_given(inside: pa.Table, outcome: Outcome) -> str | None:
    """Why the stage's kept, dropped and failed rows are not exactly the rows it was given (by id), or None."""
    parts = [t for t in (outcome.kept, outcome.dropped, outcome.failed) if t is not None and t.num_rows]
    returned = sum(t.num_rows for t in parts)
    if returned != inside.num_rows:
        return f"the stage returned {returned} rows for the {inside.num_rows} it was given"
    if not parts:
        return None
    given = inside[schema.ID].combine_chunks()
    back = pa.chunked_array([t[schema.ID] for t in parts]).combine_chunks()
    if not given.take(pc.sort_indices(given)).equals(back.take(pc.sort_indices(back))):
        return "the stage returned rows whose ids are not the ones it was given"
    return None


def rejoin(kept: pa.Table, bypass: pa.Table, declared: dict[str, pa.DataType]) -> pa.Table:
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
