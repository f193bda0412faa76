"""One stage over one batch: rows outside the stage's domains (only_domains/skip_domains) bypass it and rejoin
its kept rows, and an exception fails the batch's rows rather than the unit."""

from __future__ import annotations

import pyarrow as pa

from winnow.pipeline import parquet_io
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
    except Exception as exc:  # a bad batch fails its own rows with the error; the unit and the run go on
        failed = inside.append_column(ERROR_COLUMN, pa.array([error_code(name, exc)] * inside.num_rows))
        failed = failed.append_column(DETAIL_COLUMN, pa.array([error_detail(exc)] * inside.num_rows))
        outcome = Outcome(kept=inside.slice(0, 0), failed=failed)
    if bypass is not None:
        outcome.kept = rejoin(outcome.kept, bypass, stage.output_columns())
    return outcome


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
