"""robots.txt per RFC 9309: groups, longest match, wildcards, bad and huge files; on real robots.txt samples."""

from __future__ import annotations

import urllib.robotparser

import pytest

from winnow.filters.rights.robots import RobotsTxt, host_of

ROBOTS = b"""
User-agent: *
Disallow: /private/
Allow: /private/public
Disallow: /*.pdf$

User-agent: GPTBot
User-agent: CCBot/2.0
Disallow: /

User-agent: ClaudeBot
Disallow: /news
Allow: /news/

# a second group for GPTBot merges with the first
User-agent: gptbot
Allow: /open/
"""


def test_named_group_beats_catch_all_and_groups_merge():
    r = RobotsTxt.parse(ROBOTS)
    assert not r.allowed("GPTBot", "https://x.org/article")
    assert r.allowed("GPTBot", "https://x.org/open/page")  # longest match: allow /open/ over disallow /
    assert not r.allowed("CCBot", "https://x.org/")  # version suffix stripped from the product token
    assert r.allowed("Google-Extended", "https://x.org/article")  # falls back to *
    assert r.verdict("Google-Extended", "https://x.org/private/x").rule == "disallow: /private/"


def test_longest_match_and_allow_wins_tie():
    r = RobotsTxt.parse(b"User-agent: *\nDisallow: /a\nAllow: /a\nDisallow: /b/c\nAllow: /b\n")
    assert r.allowed("bot", "/a")  # equal length: allow wins
    assert not r.allowed("bot", "/b/c/d")  # longer disallow wins over shorter allow
    assert r.allowed("bot", "/b/x")


def test_wildcards_and_end_anchor():
    r = RobotsTxt.parse(ROBOTS)
    assert not r.allowed("Other", "https://x.org/docs/file.pdf")
    assert r.allowed("Other", "https://x.org/docs/file.pdf?download=1")  # $ anchors at the end
    assert r.allowed("Other", "https://x.org/private/public/x")
    c = RobotsTxt.parse(ROBOTS)
    assert not c.allowed("ClaudeBot", "/news") and c.allowed("ClaudeBot", "/news/today")


def test_percent_encoding_is_normalised():
    r = RobotsTxt.parse(b"User-agent: *\nDisallow: /caf%C3%A9\nDisallow: /%7Ejoe/\n")
    assert not r.allowed("bot", "https://x.org/café/menu")
    assert not r.allowed("bot", "https://x.org/~joe/home")


def test_robots_txt_itself_and_empty_disallow_are_allowed():
    r = RobotsTxt.parse(b"User-agent: *\nDisallow: /\n")
    assert r.allowed("bot", "https://x.org/robots.txt")
    assert RobotsTxt.parse(b"User-agent: *\nDisallow:\n").allowed("bot", "/anything")
    assert RobotsTxt.parse(b"").allowed("GPTBot", "/")


def test_malformed_lines_are_counted_not_fatal():
    r = RobotsTxt.parse(
        b"\xff\xfe garbage\nDisallow: /early\nUser-agent GPTBot\nFoo: bar\nUser-agent: *\nDisallow: /x\n"
    )
    assert r.problems == {"malformed_line": 2, "rule_outside_group": 1, "unknown_directive": 1}
    assert not r.allowed("GPTBot", "/x/y") and r.allowed("GPTBot", "/early")


def test_html_served_as_robots_txt_has_no_rules():
    r = RobotsTxt.parse(b"<!DOCTYPE html><html><body>Disallow: /</body></html>")
    assert r.problems == {"html_not_robots": 1} and r.allowed("GPTBot", "/")


def test_huge_robots_is_truncated_at_the_limit():
    body = b"User-agent: GPTBot\nDisallow: /a\n" + b"# padding\n" * 60_000 + b"User-agent: *\nDisallow: /late\n"
    r = RobotsTxt.parse(body, max_bytes=500 * 1024)
    assert r.truncated and not r.allowed("GPTBot", "/a/b")
    assert r.allowed("CCBot", "/late")  # the group after the cut-off is ignored


def test_host_of():
    assert host_of("https://User:pw@WWW.Example.ORG:8080/x") == "www.example.org"
    assert host_of("<https://creativecommons.org/>") == "creativecommons.org"
    assert host_of("not a url") is None and host_of(None) is None


def test_real_samples_parse_and_decide(shared_data):
    sample = shared_data / "robots" / "sample"
    files = sorted(sample.glob("*.robots.txt"))
    assert len(files) >= 15
    for path in files:
        r = RobotsTxt.parse(path.read_bytes())
        if path.name == "www.microsoft.com.robots.txt":  # the real capture is an HTML page, not robots.txt
            assert r.problems == {"html_not_robots": 1} and not r.groups
        else:
            assert r.groups, path.name
    gh = RobotsTxt.parse((sample / "github.com.robots.txt").read_bytes())
    assert gh.allowed("CCBot", "https://github.com/psf/requests/tree/master")
    assert not gh.allowed("CCBot", "https://github.com/psf/requests/tree/dev")
    assert not gh.allowed("GPTBot", "https://github.com/psf/requests")  # not named: the catch-all disallows /
    nyt = RobotsTxt.parse((sample / "www.nytimes.com.robots.txt").read_bytes())
    assert not nyt.allowed("GPTBot", "https://www.nytimes.com/report.pdf")
    assert nyt.allowed("GPTBot", "https://www.nytimes.com/ads/public/x")


def test_stdlib_parser_gets_precedence_wrong_where_we_do_not():
    """The reason for an own matcher: urllib.robotparser applies the first rule, not the longest."""
    text = "User-agent: *\nDisallow: /\nAllow: /open/\n"
    std = urllib.robotparser.RobotFileParser()
    std.parse(text.splitlines())
    assert not std.can_fetch("GPTBot", "https://x.org/open/a")
    assert RobotsTxt.parse(text).allowed("GPTBot", "https://x.org/open/a")


@pytest.mark.parametrize("agent", ["GPTBot", "gptbot", "GPTBOT"])
def test_agent_match_is_case_insensitive(agent):
    assert not RobotsTxt.parse(ROBOTS).allowed(agent, "/x")


def test_warc_draft_angle_bracket_urls():
    assert not RobotsTxt.parse(b"User-agent: *\nDisallow: /m/\n").allowed("GPTBot", "<https://a.org/m/x>")
