"""Opt-out signals: robots.txt for AI crawlers (folder or WARC captures), TDMRep, noai; each with its evidence."""

from __future__ import annotations

import io
import json

from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from winnow.filters.rights import names
from winnow.filters.rights.optout import OptoutStage
from winnow.pipeline import schema


def _row(url, html=b"<html><body>hi</body></html>", headers=None):
    meta = {"http_headers": headers or {}, "warc_file": "x.warc.gz", "warc_offset": 0}
    return {"id": url, "text": "t", "url": url, "raw": html, "content_type": "text/html", "metadata": meta}


def _run(stage, rows):
    out = stage(schema.documents_from_records(rows))
    assert out.failed is None and out.kept.num_rows == len(rows)
    cols = out.kept.to_pydict()
    return list(
        zip(
            cols[names.OPTOUT_COLUMN], cols[names.OPTOUT_SIGNALS], [json.loads(e) for e in cols[names.OPTOUT_EVIDENCE]]
        )
    )


def test_robots_folder_per_agent_and_wildcard(tmp_path):
    (tmp_path / "news.example.robots.txt").write_text(
        "User-agent: GPTBot\nDisallow: /members\n\nUser-agent: *\nDisallow: /search\n"
    )
    (tmp_path / "open.example.robots.txt").write_text("User-agent: *\nAllow: /\n")
    stage = OptoutStage(robots=str(tmp_path))
    res = _run(
        stage,
        [
            _row("https://news.example/members/a"),
            _row("https://open.example/a"),
            _row("https://unknown.example/a"),
            _row("https://news.example/search?q=1"),
        ],
    )
    assert [r[0] for r in res] == [True, False, False, True]
    assert res[0][1] == "robots" and res[0][2]["robots"]["disallowed"]["GPTBot"] == {
        "group": "gptbot",
        "rule": "disallow: /members",
    }
    assert res[0][2]["robots"]["source"].endswith("news.example.robots.txt")
    assert res[2][2]["robots"] == {"status": "missing"}
    assert set(res[3][2]["robots"]["disallowed"]) == set(stage.params.agents) - {"GPTBot"}  # its own group allows
    # Without the catch-all, a generic "Disallow: /search" is not an AI opt-out.
    strict = OptoutStage(robots=str(tmp_path), honor_wildcard=False)
    assert [
        r[0] for r in _run(strict, [_row("https://news.example/search?q=1"), _row("https://news.example/members")])
    ] == [False, True]


def _warc(path, records):
    with open(path, "wb") as f:
        writer = WARCWriter(f, gzip=True)
        for uri, status, body, extra in records:
            http = StatusAndHeaders(status, [("Content-Type", "text/plain"), *extra], protocol="HTTP/1.1")
            writer.write_record(
                writer.create_warc_record(uri, "response", payload=io.BytesIO(body), http_headers=http)
            )


def test_robots_and_tdmrep_from_warc_captures(tmp_path):
    _warc(
        tmp_path / "robots.warc.gz",
        [
            ("https://a.example/robots.txt", "200 OK", b"User-agent: CCBot\nDisallow: /private/\n", []),
            ("https://down.example/robots.txt", "503 Service Unavailable", b"", []),
            ("https://gone.example/robots.txt", "404 Not Found", b"not here", []),
            ("https://www.a.example/robots.txt", "301 Moved", b"", [("Location", "https://a.example/robots.txt")]),
            (
                "https://a.example/.well-known/tdmrep.json",
                "200 OK",
                json.dumps(
                    [
                        {"location": "/books/*", "tdm-reservation": 1, "tdm-policy": "https://a.example/p.json"},
                        {"location": "/*", "tdm-reservation": 0},
                    ]
                ).encode(),
                [],
            ),
        ],
    )
    stage = OptoutStage(robots=str(tmp_path / "*.warc.gz"))
    res = _run(
        stage,
        [
            _row("https://a.example/private/x"),
            _row("https://www.a.example/private/x"),
            _row("https://down.example/x"),
            _row("https://gone.example/x"),
            _row("https://a.example/books/1"),
            _row("https://a.example/blog/1"),
        ],
    )
    assert [r[1] for r in res] == ["robots", "robots", None, None, "tdmrep", None]
    assert res[0][2]["robots"]["source"].startswith(str(tmp_path / "robots.warc.gz") + "@")
    assert res[2][2]["robots"]["status"] == "unreachable" and res[3][2]["robots"]["status"] == "unavailable"
    assert res[4][2]["tdmrep"]["well_known"]["location"] == "/books/*"
    assert res[5][2]["tdmrep"]["well_known"]["tdm-reservation"] == 0
    # RFC 9309 reads a 5xx robots.txt as "disallow everything"; that is an opt-out only when asked for.
    assert (
        _run(
            OptoutStage(robots=str(tmp_path / "*.warc.gz"), unreachable_is_optout=True),
            [_row("https://down.example/x")],
        )[0][1]
        == "robots"
    )


def test_robots_captures_in_a_real_crawl(shared_data):
    warc = shared_data / "cc" / "ia-web-commons" / "IAH-urls-wget.warc.gz"
    stage = OptoutStage(robots=str(warc))
    res = _run(stage, [_row("https://archive.org/control/x"), _row("http://www.archive.org/details/y")])
    assert res[0][1] == "robots" and res[0][2]["robots"]["disallowed"]["GPTBot"]["group"] == "*"
    assert res[1][0] is False and res[1][2]["robots"]["status"] == "parsed"  # www. redirects to archive.org


def test_tdmrep_header_and_meta():
    stage = OptoutStage()
    res = _run(
        stage,
        [
            _row("https://x.example/a", headers={"tdm-reservation": "1", "tdm-policy": "https://x.example/policy"}),
            _row("https://x.example/b", html=b'<html><head><meta name="tdm-reservation" content="1"></head></html>'),
            _row("https://x.example/c", headers={"tdm-reservation": "0"}),
        ],
    )
    assert [r[1] for r in res] == ["tdmrep", "tdmrep", None]
    assert res[0][2]["tdmrep"] == {"header": "1", "header_policy": "https://x.example/policy"}
    assert res[2][2]["tdmrep"] == {"header": "0"}


def test_noai_meta_and_x_robots_tag():
    stage = OptoutStage()
    res = _run(
        stage,
        [
            _row("https://x.example/a", headers={"x-robots-tag": "noindex, noai"}),
            _row("https://x.example/b", html=b'<meta name="robots" content="noimageai">'),
            _row("https://x.example/c", html=b'<meta name="robots" content="index, follow">'),
            _row("https://x.example/d", headers={"x-robots-tag": "otherbot: noai"}),
            _row("https://x.example/e", headers={"x-robots-tag": "GPTBot: noai"}),
        ],
    )
    assert [r[1] for r in res] == ["noai", None, None, None, "noai"]
    assert res[1][2]["noai"]["directives"] == ["noimageai"]
    images_too = OptoutStage(noimageai_is_optout=True)
    assert _run(images_too, [_row("https://x.example/b", html=b'<meta name="robots" content="noimageai">')])[0][0]


def test_text_only_and_broken_rows_never_fail():
    stage = OptoutStage()
    res = _run(
        stage,
        [
            {"id": "1", "text": "no url, no html"},
            {
                "id": "2",
                "text": "t",
                "url": "::not a url::",
                "raw": b"\x00\xff<meta",
                "metadata": {"http_headers": "oops"},
            },
        ],
    )
    assert [r[0] for r in res] == [False, False]
    assert res[0][2]["robots"] == {"status": "no_url"}
