"""A Common Crawl source by crawl id: the crawl's `<kind>.paths.gz` listing → the URLs of the files to read.

An input entry `{crawl: CC-MAIN-2024-22, kind: warc, segments: [...], max_files: N}` expands into one unit per
file. `segments` selects by segment id (`1715971057216.39`) or by position among the crawl's segments (`0`);
files keep the listing's order, so the same entry always picks the same files. The listing is fetched through
`pipeline.storage`, with its bounded retries on throttling (HTTP 503/SlowDown) and timeouts.
"""

from __future__ import annotations

import gzip
import re
from dataclasses import dataclass

from winnow.pipeline import storage

CRAWL_RE = re.compile(r"^CC-MAIN-\d{4}-\d{2}$")
KINDS = ("warc", "wet", "wat")
DEFAULT_BASE = "https://data.commoncrawl.org/"  # or s3://commoncrawl/ (anonymous) from inside AWS


@dataclass(frozen=True)
class CrawlSource:
    crawl: str
    kind: str = "warc"
    segments: tuple[str | int, ...] = ()
    max_files: int | None = None
    base: str = DEFAULT_BASE

    def __post_init__(self) -> None:
        if not CRAWL_RE.match(self.crawl):
            raise ValueError(f"crawl {self.crawl!r}: expected an id like CC-MAIN-2024-22")
        if self.kind not in KINDS:
            raise ValueError(f"kind {self.kind!r}: allowed {', '.join(KINDS)}")
        if self.max_files is not None and self.max_files < 1:
            raise ValueError(f"max_files {self.max_files}: must be at least 1")
        for s in self.segments:
            if not isinstance(s, (str, int)) or isinstance(s, bool):
                raise TypeError(f"segments: {s!r} is neither a segment id nor a position")

    @property
    def listing_url(self) -> str:
        return f"{self.base.rstrip('/')}/crawl-data/{self.crawl}/{self.kind}.paths.gz"


def segment_of(path: str) -> str:
    """The segment id in a listing path: crawl-data/<crawl>/segments/<segment>/<kind>/<file>."""
    parts = path.split("/")
    return parts[parts.index("segments") + 1] if "segments" in parts else ""


def select_paths(paths: list[str], source: CrawlSource) -> list[str]:
    """Apply `segments` and `max_files` to a listing, in the listing's order."""
    if source.segments:
        order = list(dict.fromkeys(segment_of(p) for p in paths))
        wanted = set()
        for s in source.segments:
            if isinstance(s, int):
                if not 0 <= s < len(order):
                    raise ValueError(f"segments: position {s} out of range; {source.crawl} has {len(order)} segments")
                wanted.add(order[s])
            elif s not in order:
                raise ValueError(f"segments: {s!r} is not a segment of {source.crawl}")
            else:
                wanted.add(s)
        paths = [p for p in paths if segment_of(p) in wanted]
    return paths[: source.max_files] if source.max_files else paths


def list_files(source: CrawlSource) -> list[str]:
    """The URLs (or s3:// paths) of the crawl's files that the source selects."""
    with storage.open_input(source.listing_url) as f:
        listing = gzip.decompress(f.read()).decode("utf-8")
    paths = [line.strip() for line in listing.splitlines() if line.strip()]
    return [f"{source.base.rstrip('/')}/{p}" for p in select_paths(paths, source)]
