"""Stage `optout`: does the site reserve this page against AI use (robots.txt, TDMRep, noai)? Tags with evidence."""

from __future__ import annotations

import json
from typing import Any

import pyarrow as pa
from pydantic import Field

from winnow.filters.rights import names
from winnow.filters.rights.html import is_html, page_signals
from winnow.filters.rights.robots import DEFAULT_MAX_BYTES, host_of, path_of
from winnow.filters.rights.sources import RightsSources, tdmrep_location_matches
from winnow.pipeline import schema
from winnow.pipeline.registry import register_stage
from winnow.pipeline.stage import DocumentAnnotator, StageParams

# Crawlers that collect training data for AI models, as named in robots.txt files in the wild.
DEFAULT_AGENTS = (
    "GPTBot",
    "ChatGPT-User",
    "OAI-SearchBot",
    "CCBot",
    "Google-Extended",
    "ClaudeBot",
    "anthropic-ai",
    "Claude-Web",
    "Applebot-Extended",
    "Bytespider",
    "PerplexityBot",
    "meta-externalagent",
    "FacebookBot",
    "cohere-ai",
    "Diffbot",
    "Omgilibot",
    "Amazonbot",
)


class OptoutParams(StageParams):
    robots: str | None = None  # folder of <host>.robots.txt (+ <host>.tdmrep.json) files, or WARC captures (glob)
    agents: list[str] = Field(default_factory=lambda: list(DEFAULT_AGENTS))  # any of them disallowed → opted out
    # Whether rules in the catch-all `User-agent: *` group count, as RFC 9309 says they do for a crawler not
    # named. False counts only groups that name an AI crawler, so a site's generic "Disallow: /search" is no opt-out.
    honor_wildcard: bool = True
    unreachable_is_optout: bool = False  # robots.txt answered 5xx: RFC 9309 says "assume complete disallow"
    noimageai_is_optout: bool = False  # `noimageai` reserves images only; text stays usable unless this is set
    robots_max_bytes: int = DEFAULT_MAX_BYTES


def _directives(value: str, agents: set[str]) -> set[str]:
    """noai-style directives from an X-Robots-Tag / meta robots value, honouring "agent: directive" prefixes."""
    found = set()
    for part in value.lower().split(","):
        part = part.strip()
        if ":" in part:
            agent, _, rest = part.partition(":")
            if agent.strip() not in agents and agent.strip() != "*":
                continue
            part = rest.strip()
        for word in part.split():
            if word in ("noai", "noimageai"):
                found.add(word)
    return found


def _header(headers: dict[str, Any], name: str) -> str | None:
    value = headers.get(name)
    if value is None:
        value = next((v for k, v in headers.items() if k.lower() == name), None)
    if isinstance(value, list):
        value = ", ".join(str(v) for v in value)
    return str(value) if value is not None else None


@register_stage(names.OPTOUT)
class OptoutStage(DocumentAnnotator):
    """Annotates `optout`, `optout_signals` and `optout_evidence`; the rights_policy stage decides."""

    Params = OptoutParams
    reads = (schema.URL, schema.RAW, schema.CONTENT_TYPE, schema.HTTP_HEADERS, schema.METADATA)
    adds_columns = {names.OPTOUT_COLUMN: pa.bool_(), names.OPTOUT_SIGNALS: pa.string(), names.OPTOUT_EVIDENCE: pa.string()}

    def setup(self) -> None:
        self.sources = RightsSources(self.params.robots, self.params.robots_max_bytes)
        self.agent_tokens = {a.lower() for a in self.params.agents}

    def check_robots(self, url: str | None, host: str | None) -> tuple[bool, dict[str, Any]]:
        if not url or not host:
            return False, {"status": "no_url"}
        answer = self.sources.robots_for(host)
        ev: dict[str, Any] = {"status": answer.status}
        if answer.source:
            ev["source"] = answer.source
        if answer.date:
            ev["date"] = answer.date
        if answer.status == "unreachable":
            return self.params.unreachable_is_optout, ev
        if answer.robots is None:
            return False, ev
        robots = answer.robots
        if robots.problems:
            ev["problems"] = robots.problems
        if robots.truncated:
            ev["truncated"] = True
        disallowed = {}
        for agent in self.params.agents:
            verdict = robots.verdict(agent, url)
            if verdict.allowed or (verdict.group == "*" and not self.params.honor_wildcard):
                continue
            disallowed[agent] = {"group": verdict.group, "rule": verdict.rule}
        if disallowed:
            ev["disallowed"] = disallowed
        return bool(disallowed), ev

    def check_tdmrep(
        self, url: str | None, host: str | None, headers: dict[str, Any], metas: list[tuple[str, str]]
    ) -> tuple[bool, dict[str, Any]]:
        ev: dict[str, Any] = {}
        reserved = False
        header = _header(headers, "tdm-reservation")
        if header is not None:
            ev["header"] = header
            reserved |= header.strip() == "1"
        policy = _header(headers, "tdm-policy")
        if policy:
            ev["header_policy"] = policy
        for key, content in metas:
            if key == "tdm-reservation":
                ev["meta"] = content
                reserved |= content.strip() == "1"
            elif key == "tdm-policy":
                ev["meta_policy"] = content
        if host and url:
            rules, source = self.sources.tdmrep_for(host)
            if rules is not None:
                path = path_of(url)
                # The first rule whose location matches decides (TDMRep §4.2).
                rule = next((r for r in rules if tdmrep_location_matches(str(r.get("location", "")), path)), None)
                if rule is not None:
                    ev["well_known"] = {
                        "source": source,
                        "location": rule.get("location"),
                        "tdm-reservation": rule.get("tdm-reservation"),
                    }
                    reserved |= str(rule.get("tdm-reservation")) == "1"
        return reserved, ev

    def check_noai(self, headers: dict[str, Any], metas: list[tuple[str, str]]) -> tuple[bool, dict[str, Any]]:
        ev: dict[str, Any] = {}
        found: set[str] = set()
        tag = _header(headers, "x-robots-tag")
        if tag:
            hit = _directives(tag, self.agent_tokens)
            if hit:
                ev["x_robots_tag"] = tag[:300]
                found |= hit
        for key, content in metas:
            if key == "robots" or key in self.agent_tokens:
                hit = _directives(content, self.agent_tokens)
                if hit:
                    ev[f"meta_{key}"] = content[:300]
                    found |= hit
        if found:
            ev["directives"] = sorted(found)
        return "noai" in found or ("noimageai" in found and self.params.noimageai_is_optout), ev

    def check(
        self, url: str | None, raw: bytes | None, content_type: str | None, metadata: str | None,
        http_headers: list[tuple[str, str]] | None = None,
    ) -> tuple[bool, str | None, dict[str, Any]]:
        """`http_headers` is the WARC reader's typed column (key, value pairs); without it, the headers come from
        the metadata (documents read from JSONL or Parquet)."""
        if http_headers is not None:
            headers: dict[str, Any] = dict(http_headers)
        else:
            meta = json.loads(metadata) if metadata else {}
            headers = meta.get("http_headers") if isinstance(meta, dict) else None
            headers = headers if isinstance(headers, dict) else {}
        metas = page_signals(raw).metas if is_html(content_type, raw) else []
        host = host_of(url)
        evidence: dict[str, Any] = {}
        fired: list[str] = []
        for kind, (hit, ev) in (
            (names.SIGNAL_ROBOTS, self.check_robots(url, host)),
            (names.SIGNAL_TDMREP, self.check_tdmrep(url, host, headers, metas)),
            (names.SIGNAL_NOAI, self.check_noai(headers, metas)),
        ):
            if ev:
                evidence[kind] = ev
            if hit:
                fired.append(kind)
        return bool(fired), ",".join(fired) or None, evidence

    def annotate(self, row: dict) -> dict:
        flag, fired, ev = self.check(row[schema.URL], row[schema.RAW], row[schema.CONTENT_TYPE], row[schema.METADATA],
                                     row[schema.HTTP_HEADERS])
        return {names.OPTOUT_COLUMN: flag, names.OPTOUT_SIGNALS: fired, names.OPTOUT_EVIDENCE: schema.metadata_json(ev)}
