"""A robots.txt parser and matcher following RFC 9309: product-token groups, longest match, allow wins ties.

Python's urllib.robotparser takes the first matching rule rather than the longest, ignores `*` and `$`
inside paths and matches user agents by substring; bench/rights.py measures how often that changes answers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import urlsplit

# RFC 9309 asks crawlers to parse at least 500 KiB; what lies beyond is ignored and the file is marked truncated.
DEFAULT_MAX_BYTES = 500 * 1024
_UNRESERVED = re.compile(r"%([0-9A-Fa-f]{2})")
_KEYS = {
    "user-agent": "user-agent",
    "useragent": "user-agent",
    "user agent": "user-agent",
    "allow": "allow",
    "disallow": "disallow",
    "dissallow": "disallow",
    "dissalow": "disallow",
    "disalow": "disallow",
    "sitemap": "sitemap",
    "site-map": "sitemap",
    "crawl-delay": "other",
    "host": "other",
    "clean-param": "other",
    "request-rate": "other",
    "visit-time": "other",
    "content-signal": "other",
    "noindex": "other",
}


def _normalise(path: str) -> str:
    """Percent-encoding made comparable: unreserved characters decoded, the rest upper-case hex."""

    def fix(m: re.Match) -> str:
        ch = chr(int(m.group(1), 16))
        if ch.isascii() and (ch.isalnum() or ch in "-._~"):
            return ch
        return "%" + m.group(1).upper()

    path = _UNRESERVED.sub(fix, path)
    # Non-ASCII characters are compared in their UTF-8 percent-encoded form, as a crawler sends them.
    return "".join(c if c.isascii() else "".join(f"%{b:02X}" for b in c.encode("utf-8")) for c in path)


@dataclass(frozen=True)
class Rule:
    allow: bool
    pattern: str  # normalised; may contain * and a trailing $

    def matches(self, path: str) -> bool:
        return _compile(self.pattern).match(path) is not None

    def __str__(self) -> str:
        return f"{'allow' if self.allow else 'disallow'}: {self.pattern}"


_PATTERN_CACHE: dict[str, re.Pattern] = {}


def _compile(pattern: str) -> re.Pattern:
    rx = _PATTERN_CACHE.get(pattern)
    if rx is None:
        anchored = pattern.endswith("$")
        body = pattern[:-1] if anchored else pattern
        rx = re.compile(
            "".join(".*" if c == "*" else re.escape(c) for c in body) + ("$" if anchored else ""), re.DOTALL
        )
        if len(_PATTERN_CACHE) < 100_000:
            _PATTERN_CACHE[pattern] = rx
    return rx


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    group: str | None  # the user-agent line of the group that applied ("*" for the catch-all); None: no group
    rule: str | None  # the deciding rule; None when no rule matched (allowed by default)


@dataclass
class RobotsTxt:
    groups: dict[str, list[Rule]] = field(default_factory=dict)  # product token (lower-case) → merged rules
    sitemaps: list[str] = field(default_factory=list)
    problems: dict[str, int] = field(default_factory=dict)  # malformed_line, rule_outside_group, ... → count
    truncated: bool = False

    @classmethod
    def parse(cls, content: bytes | str, max_bytes: int = DEFAULT_MAX_BYTES) -> RobotsTxt:
        """Parse robots.txt. Never raises: anything it cannot read is counted in `problems` and skipped."""
        out = cls()
        if isinstance(content, str):
            content = content.encode("utf-8", "surrogatepass")
        if len(content) > max_bytes:
            content, out.truncated = content[:max_bytes], True
        text = content.decode("utf-8", errors="replace").lstrip("\ufeff")
        if text.lstrip()[:15].lower().startswith(("<!doctype", "<html")):
            out._problem("html_not_robots")  # a soft-404 page served as robots.txt: no rules, so nothing is barred
            return out
        current: list[str] = []  # product tokens of the group being read
        in_rules = False
        for raw_line in text.splitlines():
            line = raw_line.split("#", 1)[0].strip()
            if not line:
                continue
            if ":" not in line:
                out._problem("malformed_line")
                continue
            key, value = (part.strip() for part in line.split(":", 1))
            kind = _KEYS.get(key.lower())
            if kind is None:
                out._problem("unknown_directive")
            elif kind == "user-agent":
                if in_rules:  # a user-agent line after rules starts a new group
                    current, in_rules = [], False
                # The product token is the name before any version or comment: "GPTBot/1.1" → "gptbot".
                token = re.split(r"[/\s]", value, maxsplit=1)[0].lower()
                if token:
                    current.append(token)
                    out.groups.setdefault(token, [])
            elif kind in ("allow", "disallow"):
                in_rules = True
                if not current:
                    out._problem("rule_outside_group")
                    continue
                if not value:
                    continue  # "Disallow:" with no path allows everything; it adds no rule
                if not value.startswith(("/", "*")):
                    value = "/" + value
                rule = Rule(kind == "allow", _normalise(value))
                for token in current:
                    out.groups[token].append(rule)
            elif kind == "sitemap":
                out.sitemaps.append(value)
        return out

    def _problem(self, name: str) -> None:
        self.problems[name] = self.problems.get(name, 0) + 1

    def group_for(self, agent: str) -> str | None:
        """The group a crawler obeys: its own product token if named, else "*", else None (no rules)."""
        token = agent.lower()
        if token in self.groups:
            return token
        return "*" if "*" in self.groups else None

    def verdict(self, agent: str, url_or_path: str) -> Verdict:
        """Whether `agent` may fetch the URL: the longest matching rule wins; allow wins a tie."""
        path = path_of(url_or_path)
        group = self.group_for(agent)
        if group is None or path == "/robots.txt":
            return Verdict(True, group, None)
        best: Rule | None = None
        for rule in self.groups[group]:
            if rule.matches(path) and (
                best is None
                or len(rule.pattern) > len(best.pattern)
                or (len(rule.pattern) == len(best.pattern) and rule.allow and not best.allow)
            ):
                best = rule
        if best is None:
            return Verdict(True, group, None)
        return Verdict(best.allow, group, str(best))

    def allowed(self, agent: str, url_or_path: str) -> bool:
        return self.verdict(agent, url_or_path).allowed


def path_of(url_or_path: str) -> str:
    # WARC/1.0 drafts wrote Target-URIs as <https://...>; readers may pass them on unchanged.
    url_or_path = url_or_path.strip().strip("<>")
    if url_or_path.startswith("/"):
        path = url_or_path
    else:
        parts = urlsplit(url_or_path)
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
    return _normalise(path)


def host_of(url: str | None) -> str | None:
    """Lower-case host of a URL (no port, no credentials); None when the URL has none."""
    if not url:
        return None
    try:
        host = urlsplit(url.strip().strip("<>")).hostname
    except ValueError:
        return None
    return host.lower().rstrip(".") if host else None
