"""The `extract` stage: extractors, pass-through, caps, charsets, quality on the ground truth, every cc sample file."""

from __future__ import annotations

import json
import os
import re

import pyarrow as pa
import pytest

from winnow.filters.extract.extractors import decode_html, extract
from winnow.filters.extract.stage import ExtractStage
from winnow.pipeline import schema
from winnow.pipeline.stage import ERROR_COLUMN, REASON_COLUMN

ARTICLE = (
    "The committee met on Tuesday to discuss the new budget for the city library, which had been cut twice. "
    "Members agreed that opening hours on weekends matter most to families and students who work during the week."
)
PAGE = f"""<html><head><title>News</title></head><body>
<nav><ul><li><a href="/">Home</a></li><li><a href="/a">Politics</a></li><li><a href="/b">Sport</a></li></ul></nav>
<article><h1>Library budget</h1><p>{ARTICLE}</p><p>{ARTICLE}</p></article>
<footer><a href="/privacy">Privacy</a> | <a href="/cookies">Cookie settings</a> | © 2024 News Ltd</footer>
</body></html>"""


def batch(rows: list[dict]) -> pa.Table:
    base = {"id": "x", "text": None, "metadata": "{}", "raw": None, "content_type": None}
    rows = [{**base, **r} for r in rows]
    return pa.Table.from_pylist(rows, schema=pa.schema([("id", pa.string()), ("text", pa.string()), ("metadata", pa.string()),
                                                       ("raw", pa.binary()), ("content_type", pa.string())]))


@pytest.mark.parametrize("method", ["auto", "resiliparse", "trafilatura"])
def test_each_extractor_keeps_the_article(method):
    text, used, _ = extract(method, PAGE)
    assert ARTICLE[:60] in text and "Politics" not in text
    assert used in (method, "trafilatura")


def test_auto_removes_boilerplate_lines_that_resiliparse_keeps():
    page = f"""<html><body><main><h1>Library budget</h1><p>{ARTICLE}</p>
<div class="share"><a href="/s1">Share on Facebook</a> | <a href="/s2">Share on Twitter</a></div><p>{ARTICLE}</p>
<div><a href="/r1">More news: Mayor opens bridge</a></div><div><a href="/r2">Sport: City wins cup</a></div>
<p>{ARTICLE}</p></main></body></html>"""
    plain, _, _ = extract("resiliparse", page)
    auto, _, removed = extract("auto", page)
    assert "Share on Facebook" in plain and "Mayor opens bridge" in plain
    assert "Share on Facebook" not in auto and "Mayor opens bridge" not in auto and removed >= 3
    assert ARTICLE in auto


def test_stage_extracts_html_and_passes_other_rows_through():
    stage = ExtractStage(isolate=False)
    t = batch([
        {"id": "h", "raw": PAGE.encode(), "content_type": "text/html"},
        {"id": "p", "raw": b"%PDF-1.4", "content_type": "application/pdf"},
        {"id": "e", "raw": b"<html><body><script>x()</script></body></html>", "content_type": "text/html"},
        {"id": "b", "raw": b"<html>" + b"x" * 200 + b"</html>", "content_type": "text/html"},
    ])
    out = ExtractStage(isolate=False, max_bytes=150)(t.slice(3, 1))
    assert out.dropped[REASON_COLUMN].to_pylist() == ["extract_too_large"]
    out = stage(t.slice(0, 3))
    kept = {r["id"]: r for r in out.kept.to_pylist()}
    assert ARTICLE[:40] in kept["h"]["text"] and kept["h"]["raw"] == PAGE.encode()  # raw stays for rights stages
    assert kept["p"]["text"] is None and kept["p"]["raw"] == b"%PDF-1.4"
    assert out.dropped[REASON_COLUMN].to_pylist() == ["extract_empty"]
    assert json.loads(kept["h"]["metadata"])["extractor"] in ("auto", "trafilatura")
    # rows that are already text (WET, JSONL) have no raw column at all
    plain = pa.table({"id": ["w"], "text": ["hello"], "metadata": ["{}"]})
    assert ExtractStage(isolate=False)(plain).kept.equals(plain)


def test_charset_detection_and_wrong_declared_charset():
    raw = '<html><head><meta charset="windows-1252"></head><body><p>Caf\u00e9 cr\u00e8me br\u00fbl\u00e9e</p></body></html>'
    data = raw.encode("cp1252")
    assert "Café crème" in decode_html(data, None, True)[0]
    assert "Café crème" in decode_html(data, "utf-8", True)[0]  # declared UTF-8 but is not: detection decides
    out = ExtractStage(isolate=False, extractor="resiliparse")(batch([{"raw": data, "content_type": "text/html"}]))
    assert "Café crème brûlée" in out.kept["text"][0].as_py()


def test_time_cap_kills_the_worker_and_fails_only_that_page():
    huge = "<html><body>" + "<div><p>word word word</p></div>" * 60000 + "</body></html>"
    stage = ExtractStage(timeout_s=0.02, extractor="resiliparse")
    stage.ensure_setup()
    stage._isolated.extract("resiliparse", "<p>warm up</p>")  # the worker's start-up is not counted
    t = batch([{"id": "slow", "raw": huge.encode(), "content_type": "text/html"},
               {"id": "ok", "raw": b"<p>" + ARTICLE.encode() + b"</p>", "content_type": "text/html"}])
    stage.params = stage.params.model_copy(update={"timeout_s": 0.02})
    out = stage(t)
    assert out.failed[ERROR_COLUMN].to_pylist() == ["extract_timeout"]
    assert out.kept["id"].to_pylist() == ["ok"] and ARTICLE[:30] in out.kept["text"][0].as_py()
    stage._isolated.close()


def _norm(s: str) -> str:
    return re.sub(r"\s+", " ", s).strip().lower()


@pytest.mark.slow
def test_auto_quality_on_ground_truth(shared_data):
    from winnow.pipeline.readers.warc import WarcReader

    truth = {v["url"]: v for v in json.loads((shared_data / "web/groundtruth.json").read_text()).values()}
    rows = next(WarcReader(batch_size=120).read(str(shared_data / "cc/web_pages.warc.gz"))).kept
    out = ExtractStage(isolate=False)(rows)
    found = absent = n_with = n_without = 0
    for r in out.kept.to_pylist():
        g = truth.get(r["url"])
        if g:
            text = _norm(r["text"])
            found += sum(_norm(s) in text for s in g["with"])
            absent += sum(_norm(s) not in text for s in g["without"])
            n_with, n_without = n_with + len(g["with"]), n_without + len(g["without"])
    assert n_with > 200
    assert found / n_with >= 0.85 and absent / n_without >= 0.82


@pytest.mark.slow
def test_every_cc_sample_file_runs_with_balanced_books(shared_data, tmp_path):
    from winnow.pipeline.config import load_config
    from winnow.pipeline.runner import run_pipeline

    files = sorted(p for p in (shared_data / "cc").rglob("*") if p.is_file())
    assert len(files) >= 15
    for i, path in enumerate(files):
        cfg = load_config("configs/extract.yaml", inputs=[str(path)], output=str(tmp_path / f"o{i}"), executor="local",
                          overrides={"extractor": "resiliparse"} if path.stat().st_size > 1_000_000 else None)
        result = run_pipeline(cfg)
        assert result.balanced, (path, result.problems)
        read = result.stats["stages"][0]
        assert read["in"] > 0, path
    assert schema.RAW  # documents/ never carries raw: checked on the last run
    import pyarrow.parquet as pq

    assert schema.RAW not in pq.read_table(tmp_path / f"o{len(files) - 1}" / "documents").column_names


def _fake_worker(tmp_path, monkeypatch, body: str) -> None:
    """Replace the extraction child by a module of the test's own (the sandbox runs `python -m MODULE`)."""
    from winnow.filters.extract import isolation

    (tmp_path / "fake_worker.py").write_text(body)
    monkeypatch.setenv("PYTHONPATH", f"{tmp_path}:{os.environ.get('PYTHONPATH', '')}")
    monkeypatch.setattr(isolation, "WORKER", "fake_worker")


def test_a_worker_that_dies_fails_the_page_as_extract_crash(tmp_path, monkeypatch):
    _fake_worker(tmp_path, monkeypatch, "import sys\nsys.stdin.buffer.read(8)\nsys.exit(3)\n")
    out = ExtractStage(timeout_s=5.0)(batch([{"raw": PAGE.encode(), "content_type": "text/html"}]))
    assert out.failed[ERROR_COLUMN].to_pylist() == ["extract_crash"] and out.kept.num_rows == 0


def test_a_subverted_worker_cannot_hand_the_parent_a_pickle(tmp_path, monkeypatch):
    """Replies are JSON only: a child that answers with a pickle (here one that would write a file when
    loaded) fails its page as a crash, and nothing it sent runs in the parent."""
    marker = tmp_path / "pwned"
    payload = (
        "import os, pickle, struct, sys\n"
        "class P:\n"
        f"    def __reduce__(self): return (open, ({str(marker)!r}, 'w'))\n"
        "data = pickle.dumps(P())\n"
        "sys.stdout.buffer.write(struct.pack('>Q', len(data)) + data); sys.stdout.buffer.flush()\n"
        "sys.stdin.buffer.read()\n"
    )
    _fake_worker(tmp_path, monkeypatch, payload)
    out = ExtractStage(timeout_s=5.0)(batch([{"raw": PAGE.encode(), "content_type": "text/html"}]))
    assert out.failed[ERROR_COLUMN].to_pylist() == ["extract_crash"]
    assert not marker.exists()
