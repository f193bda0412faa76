"""URL filter: drops documents whose URL is on user-supplied block lists (UT1-style domain and URL lists, words)."""

from __future__ import annotations

import gzip
import os
import re
from typing import ClassVar
from urllib.parse import urlsplit

from pydantic import Field

from winnow.pipeline import schema, storage
from winnow.pipeline.registry import register_stage
from winnow.pipeline.stage import DocumentFilter, StageParams

_TOKEN_SPLIT = re.compile(r"[^0-9a-z]+")


class UrlFilterParams(StageParams):
    # Each *_files entry is a list file or a UT1-style folder (see read_list_source); inline lists add entries.
    blocked_domains_files: list[str] = Field(default_factory=list)
    blocked_urls_files: list[str] = Field(default_factory=list)
    blocked_words_files: list[str] = Field(default_factory=list)
    blocked_substrings_files: list[str] = Field(default_factory=list)
    allowed_domains_files: list[str] = Field(default_factory=list)
    allowed_urls_files: list[str] = Field(default_factory=list)
    blocked_domains: list[str] = Field(default_factory=list)
    blocked_urls: list[str] = Field(default_factory=list)
    blocked_words: list[str] = Field(
        default_factory=list
    )  # whole tokens of the URL (split on anything not a letter or digit)
    blocked_substrings: list[str] = Field(default_factory=list)  # anywhere in the lower-cased URL
    allowed_domains: list[str] = Field(default_factory=list)
    allowed_urls: list[str] = Field(default_factory=list)
    # with a UT1 folder, only these category subfolders (adult, gambling, ...); null takes every category
    categories: list[str] | None = None
    keep_missing_url: bool = True  # documents without a usable URL pass; false drops them as url_filter_missing_url


def _lines(data: bytes, path: str) -> list[str]:
    if data[:2] == b"\x1f\x8b":  # gzipped list (storage may already have decompressed a .gz name)
        data = gzip.decompress(data)
    out = []
    for line in data.decode("utf-8", errors="replace").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            out.append(line)
    return out


def read_list_source(path: str, kind: str, categories: list[str] | None = None) -> list[str]:
    """Entries of one list file, or of every `<category>/<kind>` file under a UT1-style folder.

    kind is "domains" or "urls" (the file names UT1 uses); other lists are plain files.
    """
    if os.path.isdir(path):
        entries: list[str] = []
        for root, _dirs, files in sorted(os.walk(path)):
            category = os.path.basename(root)
            if categories is not None and category not in categories:
                continue
            for name in (kind, f"{kind}.gz"):
                if name in files:
                    full = os.path.join(root, name)
                    entries += _lines(storage.read_bytes(full), full)
        return entries
    return _lines(storage.read_bytes(path), path)


def normalize_domain(domain: str) -> str:
    d = domain.strip().lower().rstrip(".")
    if "://" in d:
        d = urlsplit(d).hostname or ""
    return d.split("/", 1)[0].split(":", 1)[0]


def normalize_url(url: str) -> str:
    """Scheme-less, lower-case host, no fragment, no trailing slash: how URL list entries and URLs are compared."""
    u = url.strip()
    if "://" not in u:
        u = "http://" + u
    parts = urlsplit(u)
    host = (parts.hostname or "").rstrip(".")
    rest = parts.path.rstrip("/")
    if parts.query:
        rest += "?" + parts.query
    return host + rest


def _parents(host: str) -> list[str]:
    labels = host.split(".")
    return [".".join(labels[i:]) for i in range(len(labels))]


def _url_prefixes(norm: str) -> list[str]:
    """The URL and each of its path prefixes at a '/' boundary (a listed folder blocks what lies under it)."""
    out = [norm]
    base = norm.split("?", 1)[0]
    if base != norm:
        out.append(base)
    while "/" in base:
        base = base.rsplit("/", 1)[0]
        if "/" in base:
            out.append(base)
    return out


@register_stage("url_filter")
class UrlFilterStage(DocumentFilter):
    """Blocks by domain (subdomains included), URL (and path prefixes), URL word or substring; the allowlist wins."""

    Params = UrlFilterParams
    reads = (schema.URL,)
    reasons: ClassVar[tuple[str, ...]] = (
        "url_filter_blocked_domain",
        "url_filter_blocked_url",
        "url_filter_blocked_word",
        "url_filter_blocked_substring",
        "url_filter_missing_url",
    )

    def setup(self) -> None:
        p = self.params

        def gather(inline: list[str], files: list[str], kind: str) -> list[str]:
            out = list(inline)
            for f in files:
                out += read_list_source(f, kind, p.categories)
            return out

        self.blocked_domains = {
            normalize_domain(d) for d in gather(p.blocked_domains, p.blocked_domains_files, "domains")
        }
        self.allowed_domains = {
            normalize_domain(d) for d in gather(p.allowed_domains, p.allowed_domains_files, "domains")
        }
        self.blocked_urls = {normalize_url(u) for u in gather(p.blocked_urls, p.blocked_urls_files, "urls")}
        self.allowed_urls = {normalize_url(u) for u in gather(p.allowed_urls, p.allowed_urls_files, "urls")}
        self.blocked_words = {w.lower() for w in gather(p.blocked_words, p.blocked_words_files, "words")}
        substrings = [s.lower() for s in gather(p.blocked_substrings, p.blocked_substrings_files, "substrings")]
        self.substring_re = re.compile("|".join(map(re.escape, sorted(set(substrings))))) if substrings else None
        for empty in ("", None):
            self.blocked_domains.discard(empty)
            self.allowed_domains.discard(empty)

    def verdict(self, url: str | None) -> str | None:
        """The drop reason for one URL, or None to keep it."""
        norm = normalize_url(url) if url and url.strip() else ""
        host = norm.split("/", 1)[0].split("?", 1)[0]
        if not host or "." not in host and host != "localhost":
            return None if self.params.keep_missing_url else "url_filter_missing_url"
        hosts = _parents(host)
        prefixes = _url_prefixes(norm)
        if any(h in self.allowed_domains for h in hosts) or any(u in self.allowed_urls for u in prefixes):
            return None
        if any(h in self.blocked_domains for h in hosts):
            return "url_filter_blocked_domain"
        if any(u in self.blocked_urls for u in prefixes):
            return "url_filter_blocked_url"
        lowered = url.lower()
        if self.blocked_words and not self.blocked_words.isdisjoint(_TOKEN_SPLIT.split(lowered)):
            return "url_filter_blocked_word"
        if self.substring_re is not None and self.substring_re.search(lowered):
            return "url_filter_blocked_substring"
        return None

    def filter(self, row: dict) -> bool | str:
        return self.verdict(row[schema.URL]) or True
