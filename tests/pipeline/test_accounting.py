"""DESIGN.md's accounting on real inputs: every rejected/ and errors/ row carries its locator, and records that
are not documents (WARC requests, metadata, warcinfo) are counted under the reader's `skipped`, not rejected."""

from __future__ import annotations

import gzip
import json
import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from winnow.ocr import codes
from winnow.pipeline import schema
from winnow.pipeline.accounting import StageCount, check_funnel
from winnow.pipeline.config import load_config
from winnow.pipeline.report import summary_line
from winnow.pipeline.runner import run_pipeline

# warcfile.warc.gz holds 16 responses, 17 requests, 16 metadata records and one warcinfo (MANIFEST.md).
WARC_SKIPPED = {"warc_metadata": 16, "warc_request": 17, "warc_warcinfo": 1}

CONFIG = """
inputs: [{inputs}]
output: {out}
engine: {{executor: local, batch_size: 10}}
stages:
  - {{name: extract}}
  - {{name: pdf_extract, engine: none}}
  - {{name: test_boom, word: {boom}}}
  - {{name: test_min_chars, min_chars: 1500}}
"""


@pytest.fixture(scope="module")
def inputs(shared_data, tmp_path_factory) -> dict[str, str]:
    """A Common Crawl WARC, a clipped WARC, a good PDF, a PDF cut in half (dropped), a cut-off gzip (a bad file),
    and JSONL whose last line is cut mid-record (a bad record)."""
    d = tmp_path_factory.mktemp("inputs")
    whole = (shared_data / "pdf/born_digital/pdfplumber/federal-register-2020-17221.pdf").read_bytes()
    (d / "truncated.pdf").write_bytes(whole[: len(whole) // 2])
    packed = next(iter(sorted((shared_data / "cc/cc_jsonl/dolma").glob("*.jsonl.gz")))).read_bytes()
    (d / "cut.jsonl.gz").write_bytes(packed[: len(packed) // 2])
    lines = gzip.decompress(packed).splitlines()
    (d / "part.jsonl").write_bytes(b"\n".join(lines[:3] + [lines[3][:200]]) + b"\n")
    return {
        "warc": str(shared_data / "cc/resiliparse/warcfile.warc.gz"),
        "clipped": str(shared_data / "cc/resiliparse/clipped.warc.gz"),
        "pdf": str(shared_data / "pdf/born_digital/docling/multi_page.pdf"),
        "truncated_pdf": str(d / "truncated.pdf"),
        "cut_jsonl": str(d / "cut.jsonl.gz"),
        "jsonl": str(d / "part.jsonl"),
    }


def _config(inputs: dict[str, str], out: Path):
    listed = ", ".join(f"'{p}'" for p in inputs.values())
    # "Ruby" occurs in the third document of part.jsonl: a later stage fails it, so errors/ has a non-read row.
    return load_config(text=CONFIG.format(inputs=listed, out=out, boom="Ruby"))


def _rows(folder: Path) -> list[dict]:
    return [r for f in sorted(folder.glob("*.parquet")) for r in pq.read_table(f).to_pylist()]


@pytest.fixture(scope="module")
def run(inputs, tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "out"
    result = run_pipeline(_config(inputs, out))
    return result, out


def test_every_rejected_and_error_row_names_its_input(run, inputs):
    result, out = run
    assert result.balanced, result.problems
    rejected, errors = _rows(out / "rejected"), _rows(out / "errors")
    assert rejected and errors
    assert [c for c in pq.read_schema(next((out / "rejected").glob("*.parquet"))).names][:7] == [
        "id", "locator", "source", "url", "domain", "language", "stage"]
    forms = {  # how each kind of input spells a position inside it
        inputs["warc"]: r"@\d+", inputs["clipped"]: r"@\d+", inputs["cut_jsonl"]: r"(:\d+)?", inputs["jsonl"]: r":\d+",
        inputs["pdf"]: "", inputs["truncated_pdf"]: "",
    }
    for row in rejected + errors:
        loc = row["locator"]
        assert loc and any(re.fullmatch(re.escape(p) + form, loc) for p, form in forms.items()), row
        assert schema.make_id(loc) == row["id"], row  # the id is derived from the locator
    by_error = {(r["error"], r["locator"]) for r in errors}
    assert ("read_warc_truncated", f"{inputs['clipped']}@0") in by_error
    assert ("read_EOFError", inputs["cut_jsonl"]) in by_error  # the unreadable rest of a file: its path
    # (its lines decoded before the cut are documents, each `path:line`: some are rejected by the stages)
    assert ("read_bad_json", f"{inputs['jsonl']}:4") in by_error
    assert ("test_boom_ValueError", f"{inputs['jsonl']}:3") in by_error  # located past the reader too
    truncated = [r for r in rejected if r["reason"] == codes.TRUNCATED]
    assert [r["locator"] for r in truncated] == [inputs["truncated_pdf"]]  # the case: now named
    assert {r["stage"] for r in rejected} >= {codes.STAGE, "test_min_chars"}


def test_non_documents_are_skipped_by_type_not_rejected(run, inputs):
    result, out = run
    stats = json.loads((out / "stats.json").read_text())
    read = stats["stages"][0]
    assert read["name"] == "read" and read["skipped"] == WARC_SKIPPED
    assert read["in"] == read["kept"] + sum(read["skipped"].values()) + sum(read["dropped"].values()) + sum(
        read["failed"].values())
    assert stats["skipped"] == 34 and stats["skipped_by_type"] == WARC_SKIPPED
    assert all("skipped" not in s for s in stats["stages"][1:])
    rejected, errors, docs = _rows(out / "rejected"), _rows(out / "errors"), _rows(out / "documents")
    assert not any(re.search("request|metadata|warcinfo", r["reason"]) for r in rejected)
    assert stats["rejected"] == len(rejected) and stats["errors"] == len(errors) and stats["documents"] == len(docs)
    # Every row that came from warcfile.warc.gz is one of its 16 responses: requests left no row anywhere.
    from_warc = [r for r in rejected + errors if r["locator"].startswith(inputs["warc"] + "@")]
    from_warc += [d for d in docs if json.loads(d["metadata"])["locator"].startswith(inputs["warc"] + "@")]
    assert len(from_warc) == 16


def test_summary_line_speaks_of_documents_and_shows_skipped_apart(run):
    result, out = run
    stats = result.stats
    documents = f"{stats['documents']:,} documents, {stats['rejected']:,} rejected, {stats['errors']:,} errors"
    assert summary_line(stats) == (
        f"{documents}; 34 non-document records skipped (warc_request 17, warc_metadata 16, warc_warcinfo 1)")
    report = (out / "report.html").read_text()
    assert "34 non-document records skipped" in report and "skipped (not documents)" in report
    # A stats.json from before `skipped` existed still summarises.
    old = {k: v for k, v in stats.items() if not k.startswith("skipped")}
    old["stages"] = [{k: v for k, v in s.items() if k != "skipped"} for s in stats["stages"]]
    assert summary_line(old) == documents


def _accounting_files(out: Path) -> dict[Path, bytes]:
    return {p.relative_to(out): p.read_bytes() for d in ("rejected", "errors") for p in (out / d).glob("*.parquet")}


def test_rerun_resumes_and_a_second_run_writes_the_same_bytes(run, inputs, tmp_path):
    result, out = run
    before = _accounting_files(out)
    again = run_pipeline(_config(inputs, out))
    assert again.stats["units_resumed"] > 0 and again.stats["skipped_by_type"] == WARC_SKIPPED and again.balanced
    fresh = tmp_path / "fresh"
    run_pipeline(_config(inputs, fresh))
    assert _accounting_files(fresh) == before and _accounting_files(out) == before


def test_funnel_balances_only_with_skipped_counted():
    read = StageCount("read", docs_in=50, kept=16, skipped=Counter(WARC_SKIPPED))
    extract = StageCount("extract", docs_in=16, kept=16)
    assert check_funnel([read, extract], documents=16, rejected=0, errors=0) == []
    read.skipped = Counter()  # the non-documents forgotten: 34 records unaccounted for
    assert any("read: in 50" in p for p in check_funnel([read, extract], 16, 0, 0))
    read.skipped, extract.skipped = Counter(WARC_SKIPPED), Counter({"x": 1})
    extract.docs_in = 17  # a later stage cannot hide rows as "skipped"
    assert any("only the reader may skip" in p for p in check_funnel([read, extract], 16, 0, 0))
    assert StageCount.from_dict(read.to_dict()).skipped == read.skipped  # resumed units keep their counts


def test_cli_run_and_inspect_print_the_summary(shared_data, tmp_path):
    cfg = tmp_path / "c.yaml"
    warc = shared_data / "cc/resiliparse/warcfile.warc.gz"
    cfg.write_text(f"inputs: ['{warc}']\noutput: {tmp_path / 'o'}\n"
                   "engine: {executor: local}\nstages: [{name: extract}]\n")
    env = {**os.environ, "COLUMNS": "200"}
    cli = [sys.executable, "-m", "winnow.pipeline.cli"]
    r = subprocess.run([*cli, "run", str(cfg)], capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    stats = json.loads((tmp_path / "o" / "stats.json").read_text())
    expected = (f"{stats['documents']} documents, {stats['rejected']} rejected, {stats['errors']} errors; "
                "34 non-document records skipped (warc_request 17, warc_metadata 16, warc_warcinfo 1)")
    assert expected in " ".join(r.stdout.split()), r.stdout[-2000:]
    r = subprocess.run([*cli, "inspect", str(tmp_path / "o"), "-n", "1"], capture_output=True, text=True, env=env)
    assert r.returncode == 0 and expected in " ".join(r.stdout.split()), r.stdout[-2000:]
    r = subprocess.run([*cli, "inspect", str(tmp_path / "o"), "--reason", "warc_request"], capture_output=True,
                       text=True, env=env)
    assert "17 non-document records were skipped" in " ".join(r.stdout.split()), r.stdout


def test_jsonl_locator_is_the_one_the_id_hashes(tmp_path, shared_data):
    from winnow.pipeline.readers.jsonl import JsonlReader

    line = gzip.decompress(next(iter(sorted((shared_data / "cc/cc_jsonl/dolma").glob("*.jsonl.gz")))).read_bytes())
    record = json.loads(line.splitlines()[0])
    record["metadata"] = {"locator": "elsewhere.warc.gz@7"}  # a record exported by another run brings its own
    path = tmp_path / "x.jsonl"
    path.write_text(json.dumps(record) + "\n")
    doc = next(JsonlReader().read(str(path))).kept.to_pylist()[0]
    meta = json.loads(doc["metadata"])
    assert meta["locator"] == f"{path}:1" and doc["id"] == schema.make_id(meta["locator"])
    assert meta["source_locator"] == "elsewhere.warc.gz@7"
