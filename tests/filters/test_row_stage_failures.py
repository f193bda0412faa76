"""Per-row failures of the stages on the RowStage contract: a row with invalid UTF-8 or whose decision raises fails
alone, with `<stage>_invalid_utf8` or `<stage>_<ExceptionType>`, and leaves as it came in (its bytes counted whole)."""

from __future__ import annotations

import pyarrow as pa
import pytest

from winnow.filters.heuristics import C4QualityStage, FineWebQualityStage, GopherQualityStage, GopherRepetitionStage
from winnow.filters.pii import PiiMaskStage
from winnow.filters.rights.license_detect import LicenseDetectStage
from winnow.filters.rights.optout import OptoutStage
from winnow.pipeline import schema
from winnow.pipeline.accounting import StageCount
from winnow.pipeline.stage import DETAIL_COLUMN, ERROR_COLUMN, REASON_COLUMN, set_column

PROSE = (
    "The river runs through the old town and the people who live there have built their homes along its banks.\n"
    "In the spring the water rises and the farmers bring their boats to the market with fruit and grain.\n"
    "Children play near the bridge while their parents trade with merchants that have come from distant cities.\n"
    "At night the lamps are lit and the music of the festival can be heard across the valley until morning.\n"
    "The old men sit by the fire and tell the stories that their fathers told them long ago.\n"
)
BOILER = "Home\nMenu\nThis site uses cookies to improve your experience.\n"
BAD = b"bad \xff bytes in this text"


def _with_bad_text(texts: list[bytes]) -> pa.Table:
    """Documents whose text column was built without UTF-8 validation (as a careless reader might)."""
    batch = schema.documents_from_records([{"id": f"d{i}", "text": "x"} for i in range(len(texts))])
    return set_column(batch, schema.TEXT, pa.array(texts, pa.binary()).view(pa.string()))


@pytest.mark.parametrize("stage_cls", [GopherRepetitionStage, GopherQualityStage, C4QualityStage, FineWebQualityStage])
def test_heuristic_invalid_utf8_fails_that_row_only(stage_cls):
    batch = _with_bad_text([(BOILER + PROSE).encode(), BAD])
    out = stage_cls()(batch)
    assert out.failed[ERROR_COLUMN].to_pylist() == [f"{stage_cls.name}_invalid_utf8"]
    assert "document d1" in out.failed[DETAIL_COLUMN][0].as_py()
    assert schema.row_bytes(out.failed) == [len(BAD)]
    count = StageCount(stage_cls.name)
    count.add_outcome(batch, out, 0.0, schema.row_bytes(batch))
    assert count.docs_in == count.kept + sum(count.dropped.values()) + sum(count.failed.values()) == 2


def test_c4_rewrites_only_kept_rows_beside_a_failed_one():
    batch = _with_bad_text([(BOILER + PROSE).encode(), BAD, (BOILER + "Too short.").encode()])
    out = C4QualityStage()(batch)
    assert out.kept[schema.TEXT].to_pylist() == [PROSE.rstrip("\n")]
    assert out.dropped[REASON_COLUMN].to_pylist() == ["c4_quality_too_few_sentences"]
    assert out.dropped[schema.TEXT].to_pylist() == [BOILER + "Too short."]  # rejected as it came in
    assert out.counters == {"c4_quality_docs_modified": 1, "c4_quality_lines_removed": 3}


def test_heuristic_exception_fails_that_row_only(monkeypatch):
    stage = GopherQualityStage()
    stage.ensure_setup()
    real = stage.filter_for

    def filter_for(language):
        flt = real(language)
        inner = flt.filter

        class Boom:
            def filter(self, doc):
                if "boom" in doc.text:
                    raise RuntimeError("tokenizer broke")
                return inner(doc)

        return Boom()

    monkeypatch.setattr(stage, "filter_for", filter_for)
    out = stage(schema.documents_from_records([{"id": "a", "text": PROSE}, {"id": "b", "text": "boom " + PROSE}]))
    assert out.kept["id"].to_pylist() == ["a"]
    assert out.failed[ERROR_COLUMN].to_pylist() == ["gopher_quality_RuntimeError"]
    assert "tokenizer broke" in out.failed[DETAIL_COLUMN][0].as_py()


def test_pii_exception_fails_that_row_and_keeps_its_counters_zero(monkeypatch):
    stage = PiiMaskStage()

    def mask(text):
        raise ValueError("regex engine gave up")

    monkeypatch.setattr(stage, "mask", mask)
    out = stage(schema.documents_from_records([{"id": "a", "text": "mail x@example.com"}, {"id": "b", "text": ""}]))
    assert out.kept["id"].to_pylist() == ["b"]
    assert out.failed[ERROR_COLUMN].to_pylist() == ["pii_mask_ValueError"]
    assert out.failed[schema.TEXT].to_pylist() == ["mail x@example.com"]
    assert out.counters == {"pii_email": 0, "pii_ip": 0, "pii_phone": 0, "pii_mask_documents": 0}


def _rights_rows():
    page = b'<a rel="license" href="https://creativecommons.org/licenses/by/4.0/">x</a>'
    rows = [
        {"id": "ok", "text": "t", "url": "https://example.com/a", "raw": page, "content_type": "text/html"},
        {"id": "broken", "text": "t", "url": "https://example.com/b", "raw": page, "content_type": "text/html"},
    ]
    batch = schema.documents_from_records(rows)
    # license_detect parses a row's metadata only when it holds PDF rights (web pages skip it): the broken one does
    return set_column(batch, schema.METADATA, pa.array(["{}", '{"pdf_rights": {not json'], pa.string()))


@pytest.mark.parametrize("stage_cls", [LicenseDetectStage, OptoutStage])
def test_rights_stage_fails_a_row_with_unreadable_metadata(stage_cls):
    out = stage_cls()(_rights_rows())
    assert out.kept["id"].to_pylist() == ["ok"]
    assert out.failed["id"].to_pylist() == ["broken"]
    assert out.failed[ERROR_COLUMN].to_pylist() == [f"{stage_cls.name}_JSONDecodeError"]
    assert set(stage_cls.adds_columns) <= set(out.kept.column_names)


def test_rights_stage_fails_a_row_with_invalid_utf8_metadata():
    batch = _rights_rows()
    meta = pa.array([b"{}", b'{"pdf_rights": "\xff"}'], pa.binary()).view(pa.string())
    out = LicenseDetectStage()(set_column(batch, schema.METADATA, meta))
    assert out.kept["id"].to_pylist() == ["ok"] and out.kept[schema.LICENSE].to_pylist() == ["cc-by-4.0"]
    assert out.failed[ERROR_COLUMN].to_pylist() == ["license_detect_invalid_utf8"]
