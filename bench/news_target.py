"""A user's target file of news articles, for `bench/mix_domains.py --target-file`: English articles of news outlets.

The domain files (../shared/data/domains) hold no news, and no Winnow default was chosen on these pages. The
articles come from the two sets of real crawled pages in the sample data: `cc/web_pages.warc.gz` and
`web/trafilatura_tests_cache.tar.gz`. A page is kept when its host is one of the news outlets named below (chosen
by outlet, before any mix ran, not by reading the text) and its extracted text is English prose of 150+ words.
Pages of those sets also went into the `web` domain file, so an article that shares half or more of its word
8-grams with any domain document is left out: a target must not be training data (`winnow mix` refuses exact
copies). Text is extracted with trafilatura, a peer's extractor, so the target does not lean on Winnow's own.

    python bench/news_target.py [--out /tmp/winnow-bench-mix/news.jsonl]
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import re
import tarfile
from pathlib import Path

SHARED = Path(os.environ.get("WINNOW_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
# news outlets (newspapers, broadcasters, wire services, news sites) present in the two page sets
OUTLETS = (
    "abc13.com", "abc7news.com", "axios.com", "bbc.com", "bostonherald.com", "cbsnews.com", "heartlandnewsfeed.com",
    "jamaicaobserver.com", "kxan.com", "latimes.com", "nationnews.com", "newsday.co.tt", "standard.co.uk",
    "stluciatimes.com", "telegraph.co.uk", "theintercept.com", "thelocal.se", "thestkittsnevisobserver.com",
    "ticotimes.net", "tribune242.com", "trinidadexpress.com", "twincities.com", "viconsortium.com",
    "world.kbs.co.kr", "guardian.co.tt", "barbadostoday.bb", "dw.com", "mercurynews.com", "theguardian.com",
    "reuters.com", "vancouversun.com", "salon.com", "theverge.com", "vice.com", "phys.org", "threatpost.com",
)
ENGLISH = set("the and of to in is that for with was on as are by it from this have be at an".split())


def is_outlet(name: str) -> bool:
    """A URL or a cache file name (`cache/dw.com.uncork.html`, `hard::tribune242.com-gunned.html`) of an outlet."""
    host = re.sub(r"^(https?://|cache/|hard::)", "", name).split("/")[0].removeprefix("www.")
    return any(host == o or host.startswith(o + ".") or host.startswith(o + "-") or host.endswith("." + o)
               for o in OUTLETS)


def english_prose(text: str) -> bool:
    words = re.findall(r"[a-z]+", text.lower())
    return len(words) >= 150 and sum(w in ENGLISH for w in words) / len(words) > 0.2


def shingles(text: str) -> set[int]:
    words = re.findall(r"\w+", text.lower())
    return {hash(" ".join(words[i : i + 8])) for i in range(max(0, len(words) - 7))}


def training_shingles() -> set[int]:
    """Word 8-grams of every document in the domain files, the corpus the mix trains on."""
    seen: set[int] = set()
    for path in sorted((SHARED / "domains").glob("*.jsonl.gz")):
        with gzip.open(path, "rt", encoding="utf-8") as f:
            for line in f:
                seen |= shingles(json.loads(line)["text"])
    return seen


def pages():
    """(name, html) of every page in both sets."""
    from warcio.archiveiterator import ArchiveIterator

    with open(SHARED / "cc" / "web_pages.warc.gz", "rb") as f:
        for record in ArchiveIterator(f):
            if record.rec_type == "response":
                yield record.rec_headers.get_header("WARC-Target-URI"), record.content_stream().read()
    with tarfile.open(SHARED / "web" / "trafilatura_tests_cache.tar.gz") as tar:
        for member in tar.getmembers():
            if member.isfile():
                yield member.name, tar.extractfile(member).read()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="/tmp/winnow-bench-mix/news.jsonl")
    args = ap.parse_args()
    import trafilatura

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    kept = chars = overlapping = 0
    training = training_shingles()
    with out.open("w", encoding="utf-8") as f:
        for name, html in pages():
            if not is_outlet(name):
                continue
            text = trafilatura.extract(html) or ""
            if not english_prose(text):
                continue
            own = shingles(text)
            if len(own & training) >= len(own) / 2:
                overlapping += 1
            else:
                doc_id = hashlib.sha1(name.encode()).hexdigest()[:16]
                f.write(json.dumps({"id": f"news-{doc_id}", "text": text, "url": name}) + "\n")
                kept, chars = kept + 1, chars + len(text)
    print(f"{kept} news articles, {chars:,} characters → {out} ({overlapping} left out: in the domain files)")


if __name__ == "__main__":
    main()
