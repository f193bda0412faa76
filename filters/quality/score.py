"""`quality_score`: annotate each document with a fastText classifier's probability of being high quality."""

from __future__ import annotations


import pyarrow as pa
from pydantic import field_validator

from winnow.filters.quality import model as qm
from winnow.filters.quality.train import NAME_RE
from winnow.pipeline import schema
from winnow.pipeline.registry import register_stage
from winnow.pipeline.stage import Outcome, Resources, Stage, StageParams, column_values, set_column

EMPTY_COUNTER = "quality_score_empty"
INVALID_UTF8 = "quality_score_invalid_utf8"


class QualityScoreParams(StageParams):
    model: str  # a directory written by `winnow train-classifier` (model.bin + card.json) or a fastText .bin
    # the column is score_<scorer>; the name carries a version. (Not `name`: that key names the stage in a config.)
    scorer: str = "fasttext_quality_v1"
    label: str | None = None  # the "good" label; default: the card's, else __label__positive
    max_chars: int | None = None  # default: the card's (it must match training), else 3000

    @field_validator("model")
    @classmethod
    def _model_is_usable(cls, value: str) -> str:
        # Refused when the config loads, not per row: a missing or damaged model names its path once.
        qm.check_model_file(value, qm.load_card(value))
        return value

    @field_validator("scorer")
    @classmethod
    def _name_has_version(cls, value: str) -> str:
        if not NAME_RE.match(value):
            raise ValueError(f"{value!r}: use snake_case ending in a version, e.g. fasttext_quality_v1")
        return value


@register_stage("quality_score")
class QualityScoreStage(Stage):
    """Adds `score_<scorer>` (P(high quality), 0..1); never drops. Blank texts get a null score."""

    Params = QualityScoreParams
    resources = Resources(cpus=1)
    params: QualityScoreParams

    def setup(self) -> None:
        card = qm.load_card(self.params.model)
        self.model = qm.load_fasttext(self.params.model, card)
        self.label = self.params.label or (card or {}).get("positive_label") or qm.LABEL_PREFIX + qm.POSITIVE
        norm = (card or {}).get("normalisation") or {}
        self.max_chars = self.params.max_chars or norm.get("max_chars") or qm.DEFAULT_MAX_CHARS
        labels = self.model.get_labels()
        if self.label not in labels:
            path = qm.resolve_model_path(self.params.model)
            raise qm.ModelFileError(f"{path}: no label {self.label!r} (the model has {labels})")

    @property
    def column(self) -> str:
        return f"score_{self.params.scorer}"

    def output_columns(self) -> dict[str, pa.DataType]:
        return {self.column: pa.float64()}

    def process(self, batch: pa.Table) -> Outcome:
        self.ensure_setup()
        texts, bad = column_values(batch, schema.TEXT)
        model, label, max_chars = self.model, self.label, self.max_chars
        predict = qm.positive_probability
        scores = [None if i in bad else predict(model, t, label, max_chars) for i, t in enumerate(texts)]
        empty = sum(1 for i, s in enumerate(scores) if s is None and i not in bad)
        out = set_column(batch, self.column, pa.array(scores, pa.float64()))
        counters = {EMPTY_COUNTER: empty} if empty else None
        if not bad:
            return Outcome(kept=out, counters=counters)
        ids = batch[schema.ID].to_pylist()
        errors = [INVALID_UTF8 if i in bad else None for i in range(batch.num_rows)]
        details = [f"document {ids[i]}: text is not valid UTF-8 ({bad[i]})" if i in bad else None
                   for i in range(batch.num_rows)]
        outcome = Outcome.from_decisions(out, [None] * batch.num_rows, errors, details)
        outcome.counters = counters
        return outcome
