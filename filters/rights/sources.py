"""Where robots.txt and TDMRep files come from: a folder of `<host>.robots.txt` files or WARC captures."""

from __future__ import annotations

import json
import logging
import os
import re
from dataclasses import dataclass
from typing import Any

from winnow.filters.rights.robots import DEFAULT_MAX_BYTES, RobotsTxt, host_of
from winnow.pipeline import storage

log = logging.getLogger("winnow")

ROBOTS_SUFFIX = ".robots.txt"
TDMREP_SUFFIX = ".tdmrep.json"
WARC_SUFFIXES = (".warc", ".warc.gz", ".arc.gz")
MAX_REDIRECTS = 5  # RFC 9309 §2.3.1.2: follow at least five consecutive redirects
MAX_TDMREP_BYTES = 1024 * 1024


@dataclass
class Capture:
    """One fetched robots.txt or tdmrep.json: where it is and what the server answered."""

    location: str  # file path, or "warc_path@offset"
    status: int = 200
    body: bytes | None = None  # None: read lazily from `location` (folder files)
    redirect: str | None = None  # Location header of a 3xx answer
    date: str | None = None


@dataclass
class RobotsAnswer:
    """The robots.txt that applies to a host, and what kind of answer it was (RFC 9309 §2.3.1)."""

    status: str  # "parsed", "missing" (no capture), "unavailable" (4xx: all allowed), "unreachable" (5xx)
    robots: RobotsTxt | None
    source: str | None
    date: str | None = None


class RightsSources:
    """Robots.txt and tdmrep.json captures by host, indexed once per worker and parsed on first use."""

    def __init__(self, location: str | None, max_bytes: int = DEFAULT_MAX_BYTES, cache_size: int = 20_000):
        self.max_bytes = max_bytes
        self.robots: dict[str, Capture] = {}
        self.tdmrep: dict[str, Capture] = {}
        self.problems: dict[str, int] = {}
        self._parsed: dict[str, RobotsAnswer] = {}
        self._tdm_parsed: dict[str, list[dict[str, Any]] | None] = {}
        self._cache_size = cache_size
        if location:
            self._index(location)

    def _index(self, location: str) -> None:
        for path in storage.expand([location]):
            name = os.path.basename(path)
            if name.endswith(ROBOTS_SUFFIX):
                self.robots[name[: -len(ROBOTS_SUFFIX)].lower()] = Capture(path)
            elif name.endswith(TDMREP_SUFFIX):
                self.tdmrep[name[: -len(TDMREP_SUFFIX)].lower()] = Capture(path)
            elif name.endswith(WARC_SUFFIXES):
                self._index_warc(path)
        log.info("rights sources: %d robots.txt, %d tdmrep.json from %s", len(self.robots), len(self.tdmrep), location)

    def _index_warc(self, path: str) -> None:
        """Keep robots.txt and tdmrep.json responses from a WARC (Common Crawl publishes robots.txt captures so)."""
        from fastwarc.warc import ArchiveIterator, WarcRecordType

        try:
            with storage.open_input(path) as stream:
                for record in ArchiveIterator(stream, record_types=WarcRecordType.response, parse_http=True):
                    uri = (record.headers.get("WARC-Target-URI") or "").strip().strip("<>")
                    low = uri.lower().split("?", 1)[0]
                    if low.endswith("/robots.txt"):
                        target = self.robots
                    elif low.endswith("/.well-known/tdmrep.json"):
                        target = self.tdmrep
                    else:
                        continue
                    host = host_of(uri)
                    if not host:
                        continue
                    http = record.http_headers
                    status = int(http.status_code) if http is not None and http.status_code else 200
                    body = record.reader.read(self.max_bytes + 1)
                    redirect = http.get("Location") if http is not None else None
                    cap = Capture(
                        f"{path}@{record.stream_pos}", status, body, redirect, record.headers.get("WARC-Date")
                    )
                    old = target.get(host)
                    if old is None or _better(cap, old):
                        target[host] = cap
        except Exception as exc:  # noqa: BLE001 - a broken capture file is counted, the captures read before it are kept
            self._problem("warc_unreadable")
            log.warning("rights sources: %s unreadable: %s", path, exc)

    def _problem(self, name: str) -> None:
        self.problems[name] = self.problems.get(name, 0) + 1

    def _body(self, cap: Capture) -> bytes:
        if cap.body is not None:
            return cap.body
        with storage.open_input(cap.location) as f:
            return f.read(self.max_bytes + 1)

    def robots_for(self, host: str) -> RobotsAnswer:
        answer = self._parsed.get(host)
        if answer is None:
            answer = self._resolve(host)
            if len(self._parsed) >= self._cache_size:
                self._parsed.clear()
            self._parsed[host] = answer
        return answer

    def _resolve(self, host: str) -> RobotsAnswer:
        seen = host
        for _ in range(MAX_REDIRECTS + 1):
            cap = self.robots.get(seen)
            if cap is None:
                return RobotsAnswer("missing", None, None)
            if 300 <= cap.status < 400 and cap.redirect:
                nxt = host_of(cap.redirect)
                if not nxt or nxt == seen:
                    break
                seen = nxt
                continue
            if 400 <= cap.status < 500:
                return RobotsAnswer("unavailable", None, cap.location, cap.date)
            if cap.status >= 500:
                return RobotsAnswer("unreachable", None, cap.location, cap.date)
            try:
                robots = RobotsTxt.parse(self._body(cap), self.max_bytes)
            except OSError as exc:
                self._problem("robots_unreadable")
                log.warning("rights sources: %s unreadable: %s", cap.location, exc)
                return RobotsAnswer("missing", None, cap.location)
            return RobotsAnswer("parsed", robots, cap.location, cap.date)
        # A redirect loop or a redirect to nowhere we captured: as if the file were missing.
        return RobotsAnswer("missing", None, None)

    def tdmrep_for(self, host: str) -> tuple[list[dict[str, Any]] | None, str | None]:
        """The host's /.well-known/tdmrep.json rules (a list) and their source; None when not captured or invalid."""
        cap = self.tdmrep.get(host)
        if cap is None or cap.status != 200:
            return None, None
        if host not in self._tdm_parsed:
            try:
                rules = json.loads(self._body(cap)[:MAX_TDMREP_BYTES])
                if isinstance(rules, dict):
                    rules = [rules]
                self._tdm_parsed[host] = [r for r in rules if isinstance(r, dict)] if isinstance(rules, list) else None
            except (ValueError, OSError):
                self._problem("tdmrep_invalid")
                self._tdm_parsed[host] = None
        return self._tdm_parsed[host], cap.location


def _better(new: Capture, old: Capture) -> bool:
    """Several fetches of one host: a successful one beats an error, then the latest wins."""
    if (new.status == 200) != (old.status == 200):
        return new.status == 200
    return (new.date or "") >= (old.date or "")


def tdmrep_location_matches(location: str, path: str) -> bool:
    """TDMRep `location` patterns: a path with `*` wildcards, matched from the start of the path."""
    if not location.startswith("/"):
        location = "/" + location
    rx = "".join(".*" if c == "*" else re.escape(c) for c in location.rstrip("$"))
    return re.match(rx + ("$" if location.endswith("$") else ""), path) is not None
