"""The stage contract without Ray: keep, drop with a reason, fail with an error, and the counts."""

import pyarrow as pa

from winnow.pipeline import schema
from winnow.pipeline.accounting import StageCount, check_funnel
from winnow.pipeline.registry import STAGES
from winnow.pipeline.stage import ERROR_COLUMN, REASON_COLUMN, Outcome


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


def test_domain_scope_bypasses_rows_and_writer_unifies_columns(tmp_path):
    import pyarrow.parquet as pq

    from winnow.pipeline.stage import split_by_scope
    from winnow.pipeline.parquet_io import PartWriter

    batch = schema.documents_from_records(
        [{"id": "1", "text": "x", "domain": "code"}, {"id": "2", "text": "y", "domain": "web"}])
    params = STAGES["test_min_chars"].Params(min_chars=5, skip_domains=["code"])
    inside, bypass = split_by_scope(params, batch)
    assert inside["id"].to_pylist() == ["2"] and bypass["id"].to_pylist() == ["1"]
    w = PartWriter(str(tmp_path / "p.parquet"))
    w.write(batch.slice(0, 1))
    w.write(batch.slice(1, 1).append_column("score_x", pa.array([0.5])))
    assert w.close()
    t = pq.read_table(tmp_path / "p.parquet")
    assert t["score_x"].to_pylist() == [None, 0.5] and t.num_rows == 2


def test_domain_tag_keeps_a_domain_and_tags_by_host_rule():
    import pyarrow as pa

    from winnow.filters.domain import DomainTagStage

    batch = pa.table({"id": ["a", "b", "c"], "text": ["x", "y", "z"], "source": ["commoncrawl"] * 3,
                      "url": ["https://en.wikipedia.org/wiki/X", "https://example.com/", None],
                      "domain": [None, None, "code"]})
    stage = DomainTagStage(rules=[{"domain": "wiki", "host": "*.wikipedia.org"}])
    assert stage(batch).kept["domain"].to_pylist() == ["wiki", "web", "code"]


def test_row_stage_fails_invalid_utf8_and_exceptions_per_row():
    import pyarrow as pa

    from winnow.pipeline.stage import ERROR_COLUMN, DocumentFilter

    class Picky(DocumentFilter):
        name = "picky"

        def filter(self, row):
            if row["text"] == "boom":
                raise ValueError("no")
            return True

    good, bad = b"fine", b"\xff\xfe not utf-8"
    texts = pa.array([good, bad, b"boom"], pa.binary()).cast(pa.string(), safe=False)  # unvalidated bytes
    out = Picky()(pa.table({"id": ["1", "2", "3"], "text": texts}))
    assert out.kept["id"].to_pylist() == ["1"]
    assert out.failed[ERROR_COLUMN].to_pylist() == ["picky_invalid_utf8", "picky_ValueError"]


def test_filter_verdicts_numpy_bools_and_datatrove_tuples():
    import numpy as np

    from winnow.pipeline.stage import DocumentFilter

    verdicts = {"a": np.float64(5) > 3, "b": np.False_, "c": (False, "too_odd"), "d": (True, "ignored"),
                "e": "named_reason", "f": None, "g": True}

    class Judge(DocumentFilter):
        name = "judge"

        def filter(self, row):
            return verdicts[row["text"]]

    out = Judge()(pa.table({"id": list(verdicts), "text": list(verdicts)}))
    assert out.kept["id"].to_pylist() == ["a", "d", "g"]
    assert dict(zip(out.dropped["id"].to_pylist(), out.dropped[REASON_COLUMN].to_pylist())) == {
        "b": "judge_dropped", "c": "too_odd", "e": "named_reason", "f": "judge_dropped"}
