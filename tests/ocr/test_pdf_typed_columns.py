"""The PDF reader's typed working column (`pdf_locator`): pdf_extract reads it instead of parsing each row's
metadata JSON, falls back to the metadata for rows without it, and the engine drops it before any output."""

from __future__ import annotations

import json

import pdf_hostile as hostile  # tests/ocr is on sys.path (pytest rootdir-relative imports)
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from winnow.ocr import codes
from winnow.ocr import stage as stage_module
from winnow.ocr.reader import PdfReader
from winnow.pipeline import schema
from winnow.pipeline.config import load_config
from winnow.pipeline.planning import plan_segments
from winnow.pipeline.runner import run_pipeline
from winnow.pipeline.stage import DETAIL_COLUMN, ERROR_COLUMN, REASON_COLUMN


@pytest.fixture
def metadata_parses(monkeypatch) -> list[str]:
    """Every json.loads the pdf_extract module makes, recorded (and still done)."""
    calls: list[str] = []

    class Recording:
        @staticmethod
        def loads(text, *args, **kwargs):
            calls.append(text)
            return json.loads(text, *args, **kwargs)

    monkeypatch.setattr(stage_module, "json", Recording)
    return calls


def _pdf_files(tmp_path):
    good = hostile.text_pdf(["A page of plain words that the text layer holds for the reader."])
    paths = {"good": tmp_path / "good.pdf", "broken": tmp_path / "broken.pdf", "cut": tmp_path / "cut.pdf"}
    paths["good"].write_bytes(good)
    paths["broken"].write_bytes(b"<html>not a pdf</html>")
    paths["cut"].write_bytes(good[: len(good) - 40])  # no %%EOF at the end
    return {k: str(v) for k, v in paths.items()}


def _read(paths: list[str]) -> pa.Table:
    return pa.concat_tables([o.kept for p in paths for o in PdfReader().read(p)])


def test_reader_declares_and_fills_the_typed_locator(tmp_path):
    files = _pdf_files(tmp_path)
    assert codes.LOCATOR_COLUMN in PdfReader.working_columns
    assert codes.LOCATOR_COLUMN in stage_module.PdfExtractStage.reads
    batch = _read([files["good"]])
    assert batch[codes.LOCATOR_COLUMN].type == pa.string()
    (row,) = batch.to_pylist()
    assert row[codes.LOCATOR_COLUMN] == json.loads(row[schema.METADATA])[schema.LOCATOR] == files["good"]


def test_stage_reads_the_typed_locator_not_the_metadata(text_stage, tmp_path, metadata_parses):
    files = _pdf_files(tmp_path)
    out = text_stage(_read([files["good"], files["broken"], files["cut"]]))
    assert metadata_parses == []  # no row's metadata JSON was parsed
    assert out.kept[codes.LOCATOR_COLUMN].to_pylist() == [files["good"]]
    assert out.failed[ERROR_COLUMN].to_pylist() == [codes.CORRUPT]
    assert out.failed[DETAIL_COLUMN].to_pylist() == [f"{files['broken']}: no %PDF- header in the first KiB"]
    assert out.dropped[REASON_COLUMN].to_pylist() == [codes.TRUNCATED]
    truncated = json.loads(out.dropped[schema.METADATA][0].as_py())["pdf_truncated"]
    assert truncated == "no %%EOF marker at the end of the file"


def test_rows_without_the_typed_locator_fall_back_to_the_metadata(text_stage, metadata_parses):
    pdf = hostile.text_pdf(["Words on a page, read from the text layer of this document."])
    rows = [  # what a JSONL/Parquet input or a WARC's PDF brings: raw and content_type, the rest in metadata
        {schema.ID: "a", schema.METADATA: {"locator": "legacy://a"}, schema.RAW: b"not a pdf"},
        {schema.ID: "b", schema.METADATA: {}, schema.RAW: b"not a pdf either"},
        {schema.ID: "c", schema.METADATA: {"locator": "legacy://c", codes.META_TRUNCATED: "length"}, schema.RAW: pdf},
        {schema.ID: "d", schema.METADATA: {"locator": "legacy://d"}, schema.RAW: pdf},
    ]
    batch = schema.documents_from_records([{**r, schema.CONTENT_TYPE: codes.PDF_CONTENT_TYPE} for r in rows])
    assert codes.LOCATOR_COLUMN not in batch.column_names
    out = text_stage(batch)
    assert len(metadata_parses) == len(rows)  # each PDF row's metadata, as before
    assert out.failed[DETAIL_COLUMN].to_pylist() == [
        "legacy://a: no %PDF- header in the first KiB", "b: no %PDF- header in the first KiB"]
    assert json.loads(out.dropped[schema.METADATA][0].as_py())["pdf_truncated"] == "WARC-Truncated: length"
    assert out.kept[schema.ID].to_pylist() == ["d"]


def test_the_typed_locator_is_dropped_after_pdf_extract_and_never_written(tmp_path):
    files = _pdf_files(tmp_path)
    out = tmp_path / "out"
    text = (f"inputs: ['{tmp_path}/*.pdf']\noutput: {out}\nengine: {{executor: local}}\nstages:\n"
            "  - {name: pdf_extract, engine: none}\n  - {name: exact_dedup}\n")
    config = load_config(text=text)
    seg0 = plan_segments(config)[0]
    assert codes.LOCATOR_COLUMN not in seg0.drop_before[0] and codes.LOCATOR_COLUMN in seg0.drop_before[1]
    result = run_pipeline(config)
    assert result.balanced, result.problems
    for part in (out / "_work").glob("seg*/*.parquet"):
        assert codes.LOCATOR_COLUMN not in pq.read_schema(part).names
    docs = pq.read_table(out / "documents")
    assert codes.LOCATOR_COLUMN not in docs.column_names and docs.num_rows == 1
    errors = pq.read_table(out / "errors").to_pylist()
    assert [(r[schema.LOCATOR], r["detail"]) for r in errors] == [
        (files["broken"], f"{files['broken']}: no %PDF- header in the first KiB")]
