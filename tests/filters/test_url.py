"""Tests for the URL filter: UT1-style lists made in the test, one test per drop reason, allowlist precedence."""

from __future__ import annotations

import gzip
import json

import pytest

from winnow.filters.url import UrlFilterStage
from winnow.pipeline import schema


def table(urls):
    return schema.documents_from_records([{"id": str(i), "text": "x", "url": u} for i, u in enumerate(urls)])


def decisions(stage, urls):
    out = stage(table(urls))
    dropped = (
        dict(zip(out.dropped["url"].to_pylist(), out.dropped["_winnow_reason"].to_pylist())) if out.dropped else {}
    )
    return [dropped.get(u) for u in urls]


@pytest.fixture()
def ut1(tmp_path):
    """A UT1-shaped folder: one subfolder per category, each with `domains` and sometimes `urls`."""
    (tmp_path / "ut1" / "adult").mkdir(parents=True)
    (tmp_path / "ut1" / "gambling").mkdir()
    (tmp_path / "ut1" / "adult" / "domains").write_text(
        "# adult sites\nbad.example\nnaughty.test  # trailing note\n\n"
    )
    (tmp_path / "ut1" / "adult" / "urls").write_text("ok.example/private/area\n")
    (tmp_path / "ut1" / "gambling" / "domains").write_text("casino.test\n")
    return tmp_path / "ut1"


def test_blocked_domain_with_subdomains_from_ut1_folder(ut1):
    stage = UrlFilterStage(blocked_domains_files=[str(ut1)])
    got = decisions(
        stage,
        [
            "https://bad.example/page",
            "http://www.a.bad.example:8080/x",
            "https://notbad.example/",
            "https://casino.test",
            "https://naughty.test/?q=1",
        ],
    )
    assert got == [
        "url_filter_blocked_domain",
        "url_filter_blocked_domain",
        None,
        "url_filter_blocked_domain",
        "url_filter_blocked_domain",
    ]


def test_ut1_categories_select_subfolders(ut1):
    stage = UrlFilterStage(blocked_domains_files=[str(ut1)], categories=["gambling"])
    assert decisions(stage, ["https://bad.example/", "https://casino.test/"]) == [None, "url_filter_blocked_domain"]


def test_blocked_url_and_path_prefix(ut1):
    stage = UrlFilterStage(blocked_urls_files=[str(ut1)])
    got = decisions(
        stage,
        [
            "https://ok.example/private/area",
            "http://OK.example/private/area/page.html?x=1",
            "https://ok.example/private/areas",
            "https://ok.example/",
        ],
    )
    assert got == ["url_filter_blocked_url", "url_filter_blocked_url", None, None]


def test_blocked_word_is_a_whole_url_token(tmp_path):
    words = tmp_path / "words.txt"
    words.write_text("porn\n# comment\ncasino\n")
    stage = UrlFilterStage(blocked_words_files=[str(words)])
    got = decisions(stage, ["https://x.test/free-porn/1", "https://x.test/Casino.html", "https://x.test/pornography"])
    assert got == ["url_filter_blocked_word", "url_filter_blocked_word", None]


def test_blocked_substring_anywhere(tmp_path):
    subs = tmp_path / "subs.txt.gz"
    subs.write_bytes(gzip.compress(b"xxx\n"))
    stage = UrlFilterStage(blocked_substrings_files=[str(subs)], blocked_substrings=["sex"])
    got = decisions(stage, ["https://axxxb.test/", "https://x.test/sussex-news", "https://x.test/news"])
    assert got == ["url_filter_blocked_substring", "url_filter_blocked_substring", None]


def test_allowlist_wins(ut1, tmp_path):
    allow = tmp_path / "allow"
    allow.write_text("good.bad.example\n")
    stage = UrlFilterStage(
        blocked_domains_files=[str(ut1)],
        allowed_domains_files=[str(allow)],
        blocked_substrings=["bad"],
        allowed_urls=["bad.example/press"],
    )
    got = decisions(stage, ["https://good.bad.example/x", "https://bad.example/press/2024", "https://bad.example/x"])
    assert got == [None, None, "url_filter_blocked_domain"]


def test_missing_url():
    urls = [None, "", "not a url"]
    assert decisions(UrlFilterStage(blocked_domains=["x.test"]), urls) == [None, None, None]
    out = UrlFilterStage(keep_missing_url=False)(table(urls + ["https://fine.test/"]))
    assert out.dropped["_winnow_reason"].to_pylist() == ["url_filter_missing_url"] * 3
    assert out.kept["url"].to_pylist() == ["https://fine.test/"]


def test_documents_without_url_column_pass():
    batch = schema.documents_from_records([{"id": "1", "text": "x"}]).drop_columns(["url"])
    assert UrlFilterStage(blocked_domains=["x.test"])(batch).kept.num_rows == 1


def test_real_urls(shared_data):
    """URLs of the dolma CCNet documents: blocking one real domain drops exactly its documents."""
    urls = []
    for path in sorted((shared_data / "cc" / "cc_jsonl" / "dolma").glob("*.jsonl.gz")):
        with gzip.open(path, "rt") as f:
            urls += [json.loads(line)["metadata"]["url"] for line in f]
    assert len(urls) >= 10
    from urllib.parse import urlsplit

    target = urlsplit(urls[0]).hostname
    parent = target.split(".", 1)[1] if target.count(".") > 1 else target
    got = decisions(UrlFilterStage(blocked_domains=[parent]), urls)
    expected = [
        "url_filter_blocked_domain" if (h := urlsplit(u).hostname) == parent or h.endswith("." + parent) else None
        for u in urls
    ]
    assert got == expected and got[0] == "url_filter_blocked_domain"
