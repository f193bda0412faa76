"""Exact, URL and repeated-line dedup: one test per drop reason, survivor rule, counters."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from winnow.filters.dedup.exact import ExactDedupStage, UrlDedupStage, normalise_url
from winnow.filters.dedup.lines import LineDedupStage
from winnow.pipeline import parquet_io, schema
from winnow.pipeline.corpus import Corpus
from winnow.pipeline.executors import LocalExecutor
from winnow.pipeline.stage import REASON_COLUMN, GlobalStage, Outcome

LOREM = "The quick brown fox jumps over the lazy dog while the cat watches from the warm windowsill."


def fit_apply(stage: GlobalStage, tmp_path: Path, records: list[dict], n_units: int = 2, budget_mb: int = 256):
    """Fit a global stage on records split into units, then apply it to every unit; returns outcomes by unit."""
    units = {}
    for u in range(n_units):
        path = tmp_path / f"unit{u}.parquet"
        parquet_io.write_parquet(str(path), schema.documents_from_records(records[u::n_units]))
        units[f"{u:05d}"] = str(path)
    stage.state_dir = str(tmp_path / "state")
    stage.fit(Corpus(units=units, state_dir=stage.state_dir, executor=LocalExecutor(), memory_budget_mb=budget_mb))
    return {u: stage.apply(parquet_io.read_parquet(p), u) for u, p in units.items()}


def merged(outcomes: dict[str, Outcome]) -> tuple[pa.Table, dict[str, str], dict[str, int]]:
    kept = pa.concat_tables([o.kept for o in outcomes.values()], promote_options="permissive")
    reasons: dict[str, str] = {}
    counters: dict[str, int] = {}
    for o in outcomes.values():
        if o.dropped is not None:
            reasons.update(zip(o.dropped[schema.ID].to_pylist(), o.dropped[REASON_COLUMN].to_pylist()))
        for k, v in (o.counters or {}).items():
            counters[k] = counters.get(k, 0) + v
    return kept, reasons, counters


def test_exact_dedup_keeps_highest_score_then_smallest_id(tmp_path):
    records = [
        {"id": "b", "text": LOREM, "q": 0.5},
        {"id": "a", "text": "  " + LOREM.upper() + "\n", "q": 0.9},  # same after normalising; best score
        {"id": "c", "text": LOREM.replace(" ", "  "), "q": None},
        {"id": "e", "text": "another text entirely", "q": 0.1},
        {"id": "f", "text": "Another   TEXT entirely", "q": 0.1},  # tie on score: smallest id (e) wins
        {"id": "g", "text": "unique words here", "q": 0.0},
    ]
    kept, reasons, _ = merged(fit_apply(ExactDedupStage(score_column="q"), tmp_path, records, n_units=3))
    assert sorted(kept[schema.ID].to_pylist()) == ["a", "e", "g"]
    assert reasons == {"b": "exact_dedup_duplicate", "c": "exact_dedup_duplicate", "f": "exact_dedup_duplicate"}
    copies = dict(zip(kept[schema.ID].to_pylist(), kept["exact_dedup_copies"].to_pylist()))
    assert copies == {"a": 3, "e": 2, "g": 1}


def test_exact_dedup_empty_has_its_own_reason(tmp_path):
    records = [{"id": "x", "text": ""}, {"id": "y", "text": "   \n "}, {"id": "z", "text": LOREM}]
    kept, reasons, _ = merged(fit_apply(ExactDedupStage(), tmp_path, records))
    assert kept[schema.ID].to_pylist() == ["z"]
    assert reasons == {"x": "exact_dedup_empty", "y": "exact_dedup_empty"}  # not one cluster of empties


def test_exact_dedup_many_partitions_and_tiny_budget(tmp_path):
    records = [{"id": f"d{i:03d}", "text": f"document number {i % 40}"} for i in range(200)]
    stage = ExactDedupStage(partitions=7)
    kept, reasons, _ = merged(fit_apply(stage, tmp_path, records, n_units=5, budget_mb=16))
    assert kept.num_rows == 40 and len(reasons) == 160
    assert set(kept[schema.ID].to_pylist()) == {f"d{i:03d}" for i in range(40)}  # smallest id of each group


def test_normalise_url():
    assert normalise_url("HTTPS://Example.com/a/b/#top") == normalise_url("http://example.com:80/a/b")
    assert normalise_url("http://example.com/a?x=1") != normalise_url("http://example.com/a?x=2")
    # a port Python cannot parse leaves the URL as its own key instead of failing the whole dedup fit
    assert normalise_url(" http://example.com:99999/p ") == "http://example.com:99999/p"
    assert normalise_url("http://example.com:abc/p") != normalise_url("http://example.com/p")


def test_url_dedup_drops_same_page_and_counts_missing_urls(tmp_path):
    records = [
        {"id": "a", "text": "one", "url": "http://example.com/page"},
        {"id": "b", "text": "two", "url": "https://EXAMPLE.com/page/#frag"},
        {"id": "c", "text": "three", "url": "http://example.com/other"},
        {"id": "d", "text": "four", "url": None},
    ]
    kept, reasons, counters = merged(fit_apply(UrlDedupStage(), tmp_path, records))
    assert reasons == {"b": "url_dedup_duplicate"}
    assert sorted(kept[schema.ID].to_pylist()) == ["a", "c", "d"]
    assert counters == {"url_dedup_no_url": 1}


def test_line_dedup_removes_boilerplate_with_counts(tmp_path):
    nav = "Home | Products | About us | Contact"
    cookie = "This site uses cookies to give you the best experience."
    records = [
        {"id": f"d{i}", "text": f"{nav}\nUnique body text number {i} about topic {i * 7}.\n{cookie}", "domain": "web"}
        for i in range(6)
    ]
    records.append({"id": "only", "text": f"{nav}\n{cookie}", "domain": "web"})
    records.append({"id": "code", "text": f"{nav}\nimport os\n{cookie}", "domain": "code"})
    records.append({"id": "blank", "text": " \n\t ", "domain": "web"})  # empty before: not this stage's to drop
    kept, reasons, counters = merged(fit_apply(LineDedupStage(min_docs=5), tmp_path, records, n_units=3))
    texts = dict(zip(kept[schema.ID].to_pylist(), kept[schema.TEXT].to_pylist()))
    assert texts["d3"] == "Unique body text number 3 about topic 21."
    assert nav in texts["code"]  # code is skipped by default
    assert reasons == {"only": "line_dedup_empty"}
    assert counters["line_dedup_lines_removed"] == 14 and counters["line_dedup_docs_changed"] == 7
    assert dict(zip(kept[schema.ID].to_pylist(), kept["line_dedup_lines_removed"].to_pylist()))["d0"] == 2


def test_line_dedup_leaves_lines_below_min_docs(tmp_path):
    records = [{"id": f"d{i}", "text": f"Shared line across a few documents only\nbody {i}"} for i in range(3)]
    kept, reasons, counters = merged(fit_apply(LineDedupStage(min_docs=4), tmp_path, records))
    assert kept.num_rows == 3 and not reasons and counters["line_dedup_lines_removed"] == 0


def test_a_scoped_global_stage_learns_only_from_the_rows_it_decides_on(shared_data, tmp_path):
    """only_domains: [web] dedups web against web: a wiki copy of a web page neither removes the page nor counts
    towards a web line's repeats (the engine fits a scoped stage on the rows inside its scope only)."""
    import gzip
    import json

    from winnow.pipeline.config import load_config
    from winnow.pipeline.runner import run_pipeline

    with gzip.open(shared_data / "domains" / "web.jsonl.gz", "rt", encoding="utf-8") as f:
        page, other = (json.loads(next(f))["text"] for _ in range(2))
    line = "A sentence that the wiki pages of this sample repeat again and again."
    records = [
        {"id": "wiki-copy", "text": page, "domain": "wiki"},
        {"id": "web-page", "text": page, "domain": "web"},
        *({"id": f"wiki-{i}", "text": f"{line}\nwiki body number {i}", "domain": "wiki"} for i in range(5)),
        {"id": "web-line", "text": f"{line}\n{other}", "domain": "web"},
    ]
    (tmp_path / "in.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))

    def kept_texts(scope: str) -> dict[str, str]:
        out = tmp_path / f"out-{len(scope)}"
        run_pipeline(load_config(text=f"""
inputs: [{tmp_path / "in.jsonl"}]
output: {out}
engine: {{executor: local}}
stages:
  - {{name: exact_dedup{scope}}}
  - {{name: line_dedup, skip_domains: []{scope}}}
"""))
        kept = pa.concat_tables(parquet_io.read_parquet(str(p)) for p in sorted((out / "documents").glob("*.parquet")))
        ids = [json.loads(m)["source_id"] for m in kept[schema.METADATA].to_pylist()]
        return dict(zip(ids, kept[schema.TEXT].to_pylist()))

    scoped = kept_texts(", only_domains: [web]")
    assert set(scoped) == {r["id"] for r in records}  # the only copy of web-page is in wiki
    assert scoped["web-line"].startswith(line)  # repeated in wiki only: not boilerplate for web
    unscoped = kept_texts("")  # the same records without the scope: both effects appear, so the test tells them apart
    assert len(unscoped) == len(records) - 1 and not unscoped["web-line"].startswith(line)
