"""Decide on a score column: keep above a threshold (`quality_filter`) or the top X % (`quality_top_percent`)."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field

from winnow.pipeline import parquet_io, storage
from winnow.pipeline.registry import register_stage
from winnow.pipeline.stage import GlobalStage, Outcome, Stage, StageParams

STATE_FILE = "threshold.json"


def decide(batch: pa.Table, column: str, threshold: float | None, keep_missing: bool, stage: str) -> Outcome:
    """Keep rows whose `column` ≥ threshold; drop the rest as `<stage>_below_threshold`, nulls as `<stage>_no_score`.

    A batch without the column fails as `<stage>_missing_column`: a config that names the wrong column
    must show up in errors/, not silently drop or keep everything.
    """
    n = batch.num_rows
    if column not in batch.column_names:
        cols = ", ".join(c for c in batch.column_names if c.startswith("score_")) or "none"
        detail = f"no column {column!r} in the documents (score columns present: {cols}); run the scorer first"
        return Outcome.from_decisions(batch, [None] * n, [f"{stage}_missing_column"] * n, [detail] * n)
    values = batch[column]
    if not (pa.types.is_floating(values.type) or pa.types.is_integer(values.type)):
        detail = f"column {column!r} is {values.type}, not a number"
        return Outcome.from_decisions(batch, [None] * n, [f"{stage}_missing_column"] * n, [detail] * n)
    below = f"{stage}_below_threshold"
    missing = None if keep_missing else f"{stage}_no_score"
    if threshold is None:  # the corpus had no scores at all
        passes = [None] * n
    else:
        passes = pc.greater_equal(pc.cast(values, pa.float64()), threshold).to_pylist()
    # NaN compares False, so a NaN score drops as below threshold; only a null counts as "no score".
    reasons = [missing if ok is None else (None if ok else below) for ok in passes]
    return Outcome.from_decisions(batch, reasons)


class QualityFilterParams(StageParams):
    column: str  # any numeric score column, e.g. score_fasttext_quality_v1
    threshold: float  # keep documents scoring at least this
    keep_missing: bool = False  # keep documents with no score (blank text) instead of dropping them


@register_stage("quality_filter")
class QualityFilter(Stage):
    """Keeps documents whose score column reaches an absolute threshold."""

    Params = QualityFilterParams
    reasons = ("quality_filter_below_threshold", "quality_filter_no_score")
    column_params = ("column",)
    reads = ()  # the score column its params name
    params: QualityFilterParams

    def process(self, batch: pa.Table) -> Outcome:
        p = self.params
        return decide(batch, p.column, p.threshold, p.keep_missing, self.name)


class QualityTopPercentParams(StageParams):
    column: str  # any numeric score column, e.g. score_fasttext_quality_v1
    keep_top_percent: float = Field(gt=0, le=100)  # e.g. 10: keep the best-scoring 10 % of the corpus
    keep_missing: bool = False  # keep documents with no score instead of dropping them


def _unit_scores(unit: str, path: str, column: str) -> np.ndarray:
    """One unit's non-null scores (runs on a worker during fit)."""
    if not storage.exists(path):
        return np.empty(0, np.float64)
    try:
        table = parquet_io.read_parquet(path, [column])  # only the score column: fit reads little
    except (KeyError, pa.ArrowInvalid):
        return np.empty(0, np.float64)  # no such column here; apply() reports it per document
    values = pc.drop_null(pc.cast(table[column], pa.float64())).to_numpy()
    return values[~np.isnan(values)]


def percentile_threshold(scores: np.ndarray, keep_top_percent: float) -> float | None:
    """The score of the k-th best document, k = ceil(n × percent / 100): keeping ≥ it keeps the top X %
    (a few more on ties at the cut)."""
    if scores.size == 0:
        return None
    k = max(1, int(np.ceil(scores.size * keep_top_percent / 100.0)))
    return float(np.partition(scores, scores.size - k)[scores.size - k])


@register_stage("quality_top_percent")
class QualityTopPercent(GlobalStage):
    """Keeps the top X % of the corpus by a score column; the cut is fitted over the whole corpus first."""

    Params = QualityTopPercentParams
    reasons = ("quality_top_percent_below_threshold", "quality_top_percent_no_score")
    column_params = ("column",)
    reads = ()  # the score column its params name
    params: QualityTopPercentParams

    def _state_path(self) -> str:
        if not self.state_dir:
            raise RuntimeError(f"{self.name}: state_dir is not set; the runner sets it before fit() and apply()")
        return storage.join(self.state_dir, STATE_FILE)

    def fit(self, corpus) -> None:
        p = self.params
        per_unit = corpus.map(_unit_scores, (p.column,))
        scores = np.concatenate([np.asarray(v, np.float64) for v in per_unit.values()] or [np.empty(0)])
        state = {
            "column": p.column,
            "keep_top_percent": p.keep_top_percent,
            "threshold": percentile_threshold(scores, p.keep_top_percent),
            "scored_documents": int(scores.size),
        }
        storage.write_atomic(self._state_path(), json.dumps(state, indent=1).encode())

    def apply(self, batch: pa.Table, unit: str) -> Outcome:
        # Read per batch, not cached: a worker keeps its stages across runs, and a rerun refits the cut.
        state = json.loads(storage.read_bytes(self._state_path()))
        return decide(batch, self.params.column, state["threshold"], self.params.keep_missing, self.name)

