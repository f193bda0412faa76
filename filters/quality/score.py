"""`quality_score`: annotate each document with a fastText classifier's probability of being high quality."""

from __future__ import annotations

import pyarrow as pa
from pydantic import field_validator

from winnow.filters.quality import model as qm
from winnow.filters.quality.train import NAME_RE
from winnow.pipeline import schema
from winnow.pipeline.registry import register_stage
from winnow.pipeline.stage import DocumentAnnotator, Outcome, Resources, StageParams

EMPTY_COUNTER = "quality_score_empty"
INVALID_UTF8 = "quality_score_invalid_utf8"  # RowStage writes it: `<stage>_invalid_utf8`


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
class QualityScoreStage(DocumentAnnotator):
    """Adds `score_<scorer>` (P(high quality), 0..1); never drops. Blank texts get a null score.

    The base class fails a row whose text is not valid UTF-8 as `quality_score_invalid_utf8`."""

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
        self.ensure_setup()  # benchmarks and the unit loop call process() directly
        return super().process(batch)

    def annotate(self, row: dict) -> dict:
        score = qm.positive_probability(self.model, row[schema.TEXT], self.label, self.max_chars)
        if score is None:
            self.count(EMPTY_COUNTER)
        return {self.column: score}
