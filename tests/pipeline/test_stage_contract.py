"""The stage contract without Ray: keep, drop with a reason, fail with an error, and the counts."""

import pyarrow as pa

from pipeline import schema
from pipeline.accounting import StageCount, check_funnel
from pipeline.registry import STAGES
from pipeline.stage import ERROR_COLUMN, REASON_COLUMN, Outcome


def docs(texts):
    return schema.documents_from_records([{"id": str(i), "text": t, "source": "t"} for i, t in enumerate(texts)])


def test_filter_keeps_and_drops_with_reason():
    out = STAGES["test_min_chars"](min_chars=5)(docs(["short", "long enough", "no"]))
    assert out.kept["text"].to_pylist() == ["short", "long enough"]
    assert out.dropped[REASON_COLUMN].to_pylist() == ["test_min_chars_short"]


def test_exception_fails_only_that_row():
    out = STAGES["test_boom"]()(docs(["fine", "BOOM here", "also fine"]))
    assert out.kept.num_rows == 2
    assert out.failed[ERROR_COLUMN].to_pylist() == ["test_boom_ValueError"]


def test_counts_balance_documents_and_bytes():
    batch = docs(["a" * 10, "b" * 200, "BOOM"])
    c = StageCount("test_boom")
    out = STAGES["test_boom"]()(batch)
    c.add_outcome(batch, out, 0.0)
    assert (c.docs_in, c.kept, sum(c.failed.values())) == (3, 2, 1)
    assert c.bytes_in == 214 == c.bytes_kept + c.bytes_failed
    assert check_funnel([c], documents=2, rejected=0, errors=1) == []


def test_check_funnel_catches_lost_rows():
    c = StageCount("x", docs_in=3, kept=2)
    assert any("in 3 != kept 2" in p for p in check_funnel([c], 2, 0, 0))
    c2 = StageCount("y", docs_in=5, kept=5)
    assert any("previous stage" in p for p in check_funnel([StageCount("x", 3, 3), c2], 5, 0, 0))


def test_from_decisions_rejects_wrong_length():
    import pytest

    with pytest.raises(ValueError):
        Outcome.from_decisions(docs(["a"]), [None, None])


def test_schema_columns_and_ids_are_stable():
    t = docs(["x"])
    assert t.schema.names[: len(schema.BASE_COLUMNS)] == list(schema.BASE_COLUMNS)
    assert schema.make_id("file.warc.gz@123") == schema.make_id("file.warc.gz@123") != schema.make_id("file.warc.gz@124")
    assert isinstance(t, pa.Table)
