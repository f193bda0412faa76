"""The stage contract: a stage takes an Arrow batch and says, for every row, keep, drop (reason) or fail (error)."""

from __future__ import annotations

import json
import traceback
from dataclasses import dataclass
from typing import Any, ClassVar, Sequence

import pyarrow as pa
from pydantic import BaseModel, ConfigDict, field_validator

from winnow.pipeline import schema

REASON_COLUMN = "_winnow_reason"
ERROR_COLUMN = "_winnow_error"
DETAIL_COLUMN = "_winnow_detail"


class StageParams(BaseModel):
    """Typed parameters of a stage, validated when the config loads. Unknown keys are refused.

    Every stage also takes `only_domains` / `skip_domains`: rows outside the scope pass the stage
    untouched (e.g. keep prose heuristics away from the `code` domain). The runner applies the scope.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    only_domains: list[str] | None = None
    skip_domains: list[str] | None = None

    @field_validator("only_domains")
    @classmethod
    def _some_domain(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and not value:  # read as "no scope" it would run the stage on every row
            raise ValueError("only_domains: [] leaves the stage no rows; name domains, or remove the stage")
        return value


@dataclass(frozen=True)
class Resources:
    """What one worker running a stage needs. GPU stages fall back to CPU where a cluster has none."""

    cpus: float = 1.0
    gpus: float = 0.0


@dataclass
class Outcome:
    """What a stage did to a batch: the kept rows, the dropped rows with a reason, the failed rows with an error.

    `dropped` carries a `_winnow_reason` column and `failed` carries `_winnow_error` (a short code that
    is counted) and `_winnow_detail` (the message); the runner turns them into rejected/ and errors/ rows.
    """

    kept: pa.Table
    dropped: pa.Table | None = None
    failed: pa.Table | None = None
    # Named counts of what the stage did besides keeping and dropping (PII masked per type, lines
    # removed, OCR routing decisions...). They are summed into the funnel under the stage's "counters".
    counters: dict[str, int] | None = None

    @classmethod
    def keep_all(cls, batch: pa.Table) -> "Outcome":
        return cls(kept=batch)

    @classmethod
    def from_decisions(
        cls,
        batch: pa.Table,
        reasons: Sequence[str | None],
        errors: Sequence[str | None] | None = None,
        details: Sequence[str | None] | None = None,
    ) -> "Outcome":
        """Split a batch row by row: reasons[i] drops row i, errors[i] fails it, both None keeps it."""
        n = batch.num_rows
        if len(reasons) != n or (errors is not None and len(errors) != n):
            raise ValueError(f"decisions for {len(reasons)} rows, batch has {n}")
        keep, drop, fail = [], [], []
        for i in range(n):
            if errors is not None and errors[i] is not None:
                fail.append(i)
            elif reasons[i] is not None:
                drop.append(i)
            else:
                keep.append(i)
        if not drop and not fail:
            return cls(kept=batch)
        dropped = failed = None
        if drop:
            dropped = batch.take(pa.array(drop, pa.int64())).append_column(REASON_COLUMN, pa.array([reasons[i] for i in drop], pa.string()))
        if fail:
            failed = batch.take(pa.array(fail, pa.int64()))
            failed = failed.append_column(ERROR_COLUMN, pa.array([errors[i] for i in fail], pa.string()))
            detail = [(details[i] if details is not None else None) or errors[i] for i in fail]
            failed = failed.append_column(DETAIL_COLUMN, pa.array(detail, pa.string()))
        return cls(kept=batch.take(pa.array(keep, pa.int64())), dropped=dropped, failed=failed)


class Stage:
    """A named, configured step. Subclasses set `name`, `Params` and implement `process`.

    Stages are plain classes: build one with `Stage(params)`, call `setup()` once, then `process(batch)`
    as often as needed. The runner calls `setup()` once per worker, so models load once, not per batch.
    """

    name: ClassVar[str] = ""
    Params: ClassVar[type[StageParams]] = StageParams
    resources: ClassVar[Resources] = Resources()
    # Columns the stage adds, with their types (see output_columns).
    adds_columns: ClassVar[dict[str, pa.DataType]] = {}
    # Drop reasons the stage can emit (documentation and tests; the runner counts whatever it gets).
    reasons: ClassVar[tuple[str, ...]] = ()
    # What `winnow plan` and report.html need to know, declared by the stage (the engine never
    # recognises a stage by its name): see describe().
    counters_title: ClassVar[str | None] = None  # report.html charts the stage's counters under this title
    accelerator_counters: ClassVar[tuple[str, ...]] = ()  # counters of GPU-able work (OCR'd pages) for plan
    # a column giving each kept row the size of its duplicate cluster (itself included; 1 for a unique row)
    cluster_size_column: ClassVar[str | None] = None
    # Params that name a column the stage reads (e.g. `score_column`): a config naming a column that neither
    # the input nor an earlier stage provides is refused when it loads.
    column_params: ClassVar[tuple[str, ...]] = ()
    # Columns the stage reads besides those its params name. The engine drops a reader's working columns (`raw`,
    # `http_headers`, ...) once no later stage reads them; None reads any column, so keeps them all alive.
    reads: ClassVar[tuple[str, ...] | None] = None

    def __init__(self, params: StageParams | None = None, **kwargs: Any):
        self.params = params if params is not None else self.Params(**kwargs)
        self._ready = False


    def output_columns(self) -> dict[str, pa.DataType]:
        """The columns this stage adds (as configured) and their types. Rows outside the stage's domains
        (only_domains / skip_domains) get them as nulls, so later stages and the output see one schema."""
        return dict(self.adds_columns)

    def needs_columns(self) -> set[str]:
        """Columns this stage, as configured, reads besides the base document columns."""
        return {v for f in self.column_params if isinstance(v := getattr(self.params, f, None), str)}

    def reads_columns(self) -> set[str] | None:
        """Every column this stage, as configured, reads; None when it may read any."""
        return None if self.reads is None else set(self.reads) | self.needs_columns()

    def index_bytes_per_document(self) -> int | None:
        """Bytes per document an in-memory index of this stage holds (dedup); plan sizes memory from it."""
        return None

    def describe(self) -> dict[str, Any]:
        """The stage's self-description, kept beside its funnel entry in stats.json (empty values left out)."""
        d = {
            "counters_title": self.counters_title,
            "accelerator_counters": list(self.accelerator_counters),
            "cluster_size_column": self.cluster_size_column,
            "index_bytes_per_document": self.index_bytes_per_document(),
        }
        return {k: v for k, v in d.items() if v}

    def setup(self) -> None:
        """Load models and build indexes. Called once per worker before the first batch."""

    def ensure_setup(self) -> None:
        if not self._ready:
            self.setup()
            self._ready = True

    def process(self, batch: pa.Table) -> Outcome:
        raise NotImplementedError

    def __call__(self, batch: pa.Table) -> Outcome:
        self.ensure_setup()
        return self.process(batch)


class GlobalStage(Stage):
    """A stage that must see the whole corpus before deciding (dedup, percentile thresholds).

    The runner first calls `fit(corpus)` once, on the driver, over the kept output of everything before
    it; fit may run distributed work through `corpus.map`, and keeps what it learns under
    `corpus.state_dir`. Then `apply(batch, unit)` runs per unit like a streaming stage.
    """

    state_dir: str | None = None  # set by the runner before fit() and apply()

    def fit(self, corpus: "Corpus") -> None:  # noqa: F821 - defined in pipeline.corpus
        raise NotImplementedError

    def apply(self, batch: pa.Table, unit: str) -> Outcome:
        raise NotImplementedError

    def process(self, batch: pa.Table) -> Outcome:
        raise TypeError(f"{self.name} is a global stage: call fit() then apply()")


def error_code(stage: str, exc: BaseException) -> str:
    return f"{stage}_{type(exc).__name__}"


def error_detail(exc: BaseException) -> str:
    lines = traceback.format_exception_only(type(exc), exc)
    return "".join(lines).strip()[:2000]


class RowStage(Stage):
    """The small contract: a stage that decides row by row, on the columns it names in `reads` only.

    The base class hands each row over as a dict of those columns (not the raw HTML, not every score), fails a
    row whose text is not valid UTF-8 as `<stage>_invalid_utf8`, fails a row whose hook raises as
    `<stage>_<ExceptionType>` (the message kept as detail), sums `self.count(name)` calls into the funnel's
    counters, and writes back what the hook changed in the columns it declares in `writes`. `reads = None`
    hands over every column.
    """

    reads: ClassVar[tuple[str, ...] | None] = (schema.TEXT,)
    # Columns the hook may rewrite in its row dict (C4 removes lines, PII masks), with their types. Only kept rows
    # leave with the new values: dropped and failed rows leave as they came in, so the byte funnel counts them whole.
    writes: ClassVar[dict[str, pa.DataType]] = {}
    # Counters reported for every batch, zero when nothing was counted, so the funnel lists them whatever the data.
    counter_names: ClassVar[tuple[str, ...]] = ()

    def reads_columns(self) -> set[str] | None:
        cols = super().reads_columns()
        return None if cols is None else cols | set(self.writes)

    def count(self, name: str, n: int = 1) -> None:
        self._counters[name] = self._counters.get(name, 0) + n

    def _decide(self, batch: pa.Table, hook) -> tuple[list, list, list]:
        """Run `hook(row)` per row: (results, errors, details), with exceptions turned into error codes.

        Leaves the batch's counters in `self._counters` and each `writes` column's changed values, {row: value},
        in `self._rewrites`, for `_outcome`.
        """
        n = batch.num_rows
        names = dict.fromkeys([*(self.reads if self.reads is not None else batch.column_names), *self.writes])
        columns, bad = {}, {}
        for name in names:
            if name in batch.column_names:
                columns[name], invalid = column_values(batch, name)
                bad.update(invalid)
            else:
                columns[name] = [None] * n
        ids = column_values(batch, schema.ID)[0] if bad and schema.ID in batch.column_names else None
        self._counters: dict[str, int] = dict.fromkeys(self.counter_names, 0)
        self._columns = columns
        self._rewrites: dict[str, dict[int, Any]] = {c: {} for c in self.writes}
        results, errors, details = [], [], []
        for i in range(n):
            result = error = detail = None
            if i in bad:
                error, detail = f"{self.name}_invalid_utf8", bad[i] if ids is None else f"document {ids[i]}: {bad[i]}"
            else:
                row = {name: values[i] for name, values in columns.items()}
                try:
                    result = hook(row)
                except Exception as exc:  # one bad document must not take the batch down
                    error, detail = error_code(self.name, exc), error_detail(exc)
                else:
                    for c, changed in self._rewrites.items():
                        if row[c] is not columns[c][i]:
                            changed[i] = row[c]
            results.append(result)
            errors.append(error)
            details.append(detail)
        return results, errors, details

    def _outcome(self, batch: pa.Table, reasons: list, errors: list, details: list) -> Outcome:
        """Split the batch as decided; kept rows carry the hook's rewrites, the outcome the batch's counters."""
        outcome = Outcome.from_decisions(batch, reasons, errors, details)
        if any(self._rewrites.values()):  # untouched batches skip rebuilding the column (texts are large)
            keep = [i for i, (r, e) in enumerate(zip(reasons, errors)) if r is None and e is None]
            for c, changed in self._rewrites.items():
                values = self._columns[c]
                new = pa.array([changed.get(i, values[i]) for i in keep], self.writes[c])
                outcome.kept = set_column(outcome.kept, c, new)
        outcome.counters = self._counters or None
        self._columns = self._rewrites = None  # the batch's values are not kept past it
        return outcome


class DocumentFilter(RowStage):
    """datatrove's small contract: `filter(row)` returns True to keep, or a reason string to drop.

    False drops as `<stage>_dropped`; a stage with several reasons returns the reason itself. datatrove's
    `(False, "reason")` works too, and any true value keeps (numpy's bools included).
    """

    def filter(self, row: dict[str, Any]) -> bool | str | tuple[bool, str]:
        raise NotImplementedError

    def process(self, batch: pa.Table) -> Outcome:
        verdicts, errors, details = self._decide(batch, self.filter)
        reasons = [None if e else self._reason(v) for v, e in zip(verdicts, errors)]
        return self._outcome(batch, reasons, errors, details)

    def _reason(self, verdict: Any) -> str | None:
        if isinstance(verdict, str):
            return verdict
        if isinstance(verdict, tuple) and len(verdict) == 2:  # datatrove's (keep, reason)
            return None if verdict[0] else str(verdict[1])
        return None if verdict else f"{self.name}_dropped"


class DocumentAnnotator(RowStage):
    """Tag-only stage: `annotate(row)` returns values for the columns declared in `adds_columns`; nothing dropped."""

    def annotate(self, row: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    def process(self, batch: pa.Table) -> Outcome:
        values, errors, details = self._decide(batch, self.annotate)
        out = batch
        for c, t in self.output_columns().items():
            out = set_column(out, c, pa.array([(v or {}).get(c) for v in values], t))
        return self._outcome(out, [None] * batch.num_rows, errors, details)


def column_values(batch: pa.Table, name: str) -> tuple[list[Any], dict[int, str]]:
    """A column as Python values, and the rows whose bytes are not valid UTF-8 (with the reason)."""
    column = batch[name]
    try:
        return column.to_pylist(), {}
    except UnicodeDecodeError:
        pass  # an Arrow string column built without validation; find the bad rows one by one
    values: list[Any] = []
    bad: dict[int, str] = {}
    for i, raw in enumerate(column.cast(pa.binary(), safe=False).to_pylist()):
        try:
            values.append(None if raw is None else raw.decode("utf-8"))
        except UnicodeDecodeError as exc:
            values.append(None)
            bad[i] = f"{name} is not valid UTF-8 ({exc})"
    return values, bad


def split_by_scope(params: StageParams, batch: pa.Table) -> tuple[pa.Table, pa.Table | None]:
    """(rows the stage should see, rows that bypass it), per the stage's only_domains / skip_domains."""
    only, skip = getattr(params, "only_domains", None), getattr(params, "skip_domains", None)
    if not only and not skip:
        return batch, None
    domains = batch[schema.DOMAIN].to_pylist()
    inside = [(only is None or d in only) and not (skip and d in skip) for d in domains]
    if all(inside):
        return batch, None
    mask = pa.array(inside, pa.bool_())
    import pyarrow.compute as pc

    return batch.filter(mask), batch.filter(pc.invert(mask))


def set_column(table: pa.Table, name: str, values: pa.Array | list) -> pa.Table:
    """Add a column, or replace it if a previous stage (or a rerun) already wrote one of that name."""
    arr = values if isinstance(values, (pa.Array, pa.ChunkedArray)) else pa.array(values)
    if name in table.column_names:
        return table.set_column(table.column_names.index(name), name, arr)
    return table.append_column(name, arr)


def update_metadata(table: pa.Table, updates: Sequence[dict[str, Any] | None]) -> pa.Table:
    """Merge per-row dicts into the JSON metadata column (None leaves a row as it was)."""
    merged = []
    for old, new in zip(table[schema.METADATA].to_pylist(), updates):
        if not new:
            merged.append(old)
            continue
        meta = json.loads(old) if old else {}
        meta.update(new)
        merged.append(schema.metadata_json(meta))
    return set_column(table, schema.METADATA, pa.array(merged, pa.string()))
