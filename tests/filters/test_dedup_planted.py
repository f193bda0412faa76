"""minhash_dedup's defaults on the planted re-crawl set (filters/dedup/planted.py, "report" split: not the split
the defaults were chosen on): each page and its re-crawled copies end as one document, distinct pages of the
same sites all survive, and the old defaults fail the first goal (so the set tells settings apart)."""

from __future__ import annotations

from collections import Counter

import pytest

from tests.filters.test_dedup import fit_apply, merged
from winnow.filters.dedup.fuzzy import MinhashDedupStage
from winnow.filters.dedup.planted import load_sites, outcome, planted_set
from winnow.pipeline import schema


@pytest.fixture(scope="module")
def planted(shared_data) -> list[dict]:
    return planted_set(shared_data, "report", n_groups=40, n_pages=100, seed=0)


def kept_ids(stage: MinhashDedupStage, tmp_path, records: list[dict]) -> tuple[list[str], dict[str, str]]:
    docs = [{"id": r["id"], "text": r["text"]} for r in records]
    kept, reasons, _ = merged(fit_apply(stage, tmp_path, docs, n_units=2))
    return kept[schema.ID].to_pylist(), reasons


def test_planted_set_is_what_it_claims(planted, shared_data):
    kinds = Counter(r["kind"] for r in planted)
    assert kinds["original"] == 40 and kinds["page"] == 100 and 80 <= kinds["copy"] <= 160
    navs = {s.nav for s in load_sites(shared_data, "report")}
    by_group: dict[str, list[dict]] = {}
    for r in planted:
        by_group.setdefault(r["group"], []).append(r)
    for members in (m for g, m in by_group.items() if g.startswith("g")):
        original = next(r["text"] for r in members if r["kind"] == "original")
        for copy in (r["text"] for r in members if r["kind"] == "copy"):
            nav, *body, _ = copy.split("\n")
            a, b = original.split(" "), "\n".join(body).split(" ")
            changed = sum(x != y for x, y in zip(a, b)) / len(a)
            assert nav in navs and len(a) == len(b) and 0.005 < changed <= 0.035, changed
    pages = [r["text"] for r in planted if r["kind"] == "page"]
    assert all(p.split("\n", 1)[0] in navs for p in pages)
    assert len({p.split("\n", 1)[0] for p in pages}) < len(pages) / 3  # several pages per site


def test_defaults_merge_recrawled_copies_and_keep_same_site_pages(tmp_path, planted):
    kept, reasons = kept_ids(MinhashDedupStage(), tmp_path, planted)
    got = outcome(planted, kept)
    assert got["groups_one_survivor"] >= 0.95 and got["pages_kept"] >= 0.99, got
    assert set(reasons.values()) == {"minhash_dedup_duplicate"}


def test_old_defaults_leave_recrawled_copies(tmp_path, planted):
    kept, _ = kept_ids(MinhashDedupStage(threshold=0.8, bands=20, rows=5), tmp_path, planted)
    assert outcome(planted, kept)["groups_one_survivor"] < 0.8


def test_too_low_threshold_merges_same_site_stubs(tmp_path, planted):
    # the other side of the trade-off: at 0.25 the shared navigation and footer outweigh a stub's own words
    kept, _ = kept_ids(MinhashDedupStage(threshold=0.25, bands=42, rows=3), tmp_path, planted)
    assert outcome(planted, kept)["pages_kept"] < 0.99
