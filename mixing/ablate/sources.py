"""Reading a variant's documents: id, text, domain and the annotation columns its decision needs, from a run's
documents/ or Parquet/JSONL files."""

from __future__ import annotations

import pyarrow as pa
from winnow.mixing.ablate.config import AblateInputError
from winnow.pipeline import schema, storage
from winnow.pipeline.tokens.pools import DEFAULT_DOMAIN
from winnow.pipeline.tokens.documents import document_batches, document_files

BASE = (schema.ID, schema.TEXT, schema.DOMAIN)


def files_of(documents: str | list[str]) -> list[str]:
    items = [documents] if isinstance(documents, str) else list(documents)
    try:
        return document_files(items)
    except storage.InputError as exc:
        hint = "" if "does not exist" not in str(exc) else " (a run's output? `winnow run` writes it)"
        raise AblateInputError(f"{exc}{hint}") from None


def _table(path: str, extra: list[str], names: set[str]) -> pa.Table:
    """One file's rows with the same columns and types as every other's: ids as strings, null text empty."""
    cols: dict[str, list] = {c: [] for c in (*BASE, *extra)}
    try:
        for batch in document_batches(path, 1 << 16, DEFAULT_DOMAIN, extra=extra, names=names):
            for c, values in cols.items():
                values.extend(batch[c])
    except storage.InputError as exc:
        raise AblateInputError(str(exc)) from None
    try:
        return pa.table({
            schema.ID: pa.array([str(i) for i in cols[schema.ID]], pa.string()),
            schema.TEXT: pa.array([t or "" for t in cols[schema.TEXT]], pa.string()),
            schema.DOMAIN: pa.array(cols[schema.DOMAIN], pa.string()),
            **{c: pa.array(cols[c]) for c in extra},  # a column no row holds reads as nulls
        })
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise AblateInputError(f"{path}: a column holds values of different types: {exc}") from None


def read_source(documents: str | list[str], wanted: set[str]) -> tuple[pa.Table, set[str]]:
    """All rows of a source with id, text, domain and the `wanted` columns; and every column name its files hold.

    A wanted column that no file holds is left to the caller to refuse (it knows which decision asked)."""
    extra = sorted(wanted - set(BASE))
    present: set[str] = set()
    tables = [_table(path, extra, present) for path in files_of(documents)]
    if not tables:
        raise AblateInputError(f"{documents!r} holds no documents")
    try:
        return pa.concat_tables(tables, promote_options="permissive"), present
    except pa.ArrowInvalid as exc:
        raise AblateInputError(f"{documents!r}: a column has different types in different files: {exc}") from None
