"""The planted re-crawl set that minhash_dedup's defaults are chosen and checked on (test and bench/dedup.py).

A *group* is a real document plus 2-4 copies of it as a re-crawl sees them: 2-3 % of the words replaced,
and the site's navigation line and footer line around the text. *Distinct pages* are other real documents
published on the same sites, so they share that navigation and footer with each other and with the copies.
At good settings every group ends with exactly one survivor and every distinct page survives.

Everything is real text: bodies from ../shared/data/domains, navigation and footer lines built from the
boilerplate snippets that web/groundtruth.json lists for real pages (its `without` lists). Two splits that
share no document and no site: defaults are chosen on "tune" and reported on "report", so the figures are
not measured on the data that picked them.
"""

from __future__ import annotations

import gzip
import json
import random
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

# Split by domain (the text differs in kind, not only in sample) and by groundtruth page parity (sites).
SPLITS: dict[str, tuple[tuple[str, ...], int]] = {
    "tune": (("forum_qa", "books"), 0),
    "report": (("web", "wiki", "docs", "academic"), 1),
}
STUB_SHARE = 0.25  # distinct pages cut to 20-60 words


@dataclass(frozen=True)
class Site:
    nav: str
    footer: str


def _cut(text: str, max_words: int) -> str:
    """The text's first lines up to about max_words words, so line structure survives the cut."""
    out, n = [], 0
    for line in text.split("\n"):
        out.append(line)
        n += len(line.split())
        if n >= max_words:
            break
    return "\n".join(out).strip()


def load_bodies(shared: Path, split: str, min_words: int = 50, max_words: int = 2000) -> list[str]:
    """The split's real texts with at least min_words words, cut near max_words (keeps runs short), shuffled."""
    domains, _ = SPLITS[split]
    out: list[str] = []
    for d in domains:
        with gzip.open(shared / "domains" / f"{d}.jsonl.gz", "rt", encoding="utf-8") as f:
            out += [_cut(json.loads(line)["text"], max_words) for line in f]
    random.Random(f"bodies-{split}").shuffle(out)
    return [t for t in out if len(t.split()) >= min_words]


def _shingles(text: str, k: int = 5) -> set[str]:
    words = text.lower().split()
    return {" ".join(words[i : i + k]) for i in range(len(words) - k + 1)}


def distinct_bodies(bodies: Iterable[str], need: int, max_overlap: float = 0.1) -> list[str]:
    """The first `need` bodies sharing under max_overlap of their word 5-grams with the bodies before them:
    the real data has duplicates of its own (Project Gutenberg's licence in every book's last chunk)."""
    seen: set[str] = set()
    out: list[str] = []
    for body in bodies:
        grams = _shingles(body)
        if len(grams & seen) < max_overlap * len(grams):
            out.append(body)
            seen |= grams
            if len(out) == need:
                break
    return out


def load_sites(shared: Path, split: str) -> list[Site]:
    """One site per two groundtruth pages of the split: the first's boilerplate as the navigation line,
    the second's as the footer line (each page lists about three real snippets, ~11 words)."""
    _, parity = SPLITS[split]
    pages = json.loads((shared / "web" / "groundtruth.json").read_text(encoding="utf-8"))
    # whitespace collapsed: a snippet spanning lines would break the one-line navigation and footer
    snippets = [[" ".join(x.split()) for x in pages[k]["without"]] for k in sorted(pages)]
    snippets = [s for s in snippets if len(s) >= 2]
    mine = snippets[parity::2]
    return [Site(" | ".join(mine[i]), " · ".join(mine[i + 1])) for i in range(0, len(mine) - 1, 2)]


def recrawl(body: str, site: Site, rng: random.Random, rate: float) -> str:
    """A re-crawled copy: `rate` of the words replaced by words of the same text, nav and footer added."""
    tokens = body.split(" ")
    # tokens holding a line break are left alone so the copy keeps the original's lines
    editable = [i for i, t in enumerate(tokens) if t and "\n" not in t]
    vocab = [t for t in tokens if t and "\n" not in t]
    for i in rng.sample(editable, min(len(editable), max(1, int(rate * len(editable))))):  # never above rate
        word = rng.choice(vocab)
        while word == tokens[i] and len(set(vocab)) > 1:
            word = rng.choice(vocab)
        tokens[i] = word
    return f"{site.nav}\n{' '.join(tokens)}\n{site.footer}"


def planted_set(
    shared: Path, split: str, n_groups: int, n_pages: int, seed: int = 0, pages_per_site: int = 5
) -> list[dict]:
    """Records {id, text, group, kind}: n_groups groups (kind original / copy, group g…) and n_pages distinct
    same-site pages (kind page, each its own group p…; a quarter are stubs). Every body is used once."""
    rng = random.Random(f"{split}-{seed}")
    need = n_groups + n_pages
    bodies, sites = distinct_bodies(load_bodies(shared, split), need), load_sites(shared, split)
    if need > len(bodies):
        raise ValueError(f"split {split!r} has {len(bodies)} bodies, {need} asked for")
    n_sites = min(len(sites), max(1, -(-n_pages // pages_per_site)))
    used = rng.sample(sites, n_sites)
    records: list[dict] = []
    for g in range(n_groups):
        body, site = bodies[g], rng.choice(used)
        records.append({"id": f"g{g:04d}-0", "text": body, "group": f"g{g:04d}", "kind": "original"})
        for c in range(1, rng.randint(2, 4) + 1):
            text = recrawl(body, site, rng, rng.uniform(0.02, 0.03))
            records.append({"id": f"g{g:04d}-{c}", "text": text, "group": f"g{g:04d}", "kind": "copy"})
    for p in range(n_pages):
        site, body = used[p % n_sites], bodies[n_groups + p]
        if rng.random() < STUB_SHARE:  # a stub: the kind of page its site's template weighs most on
            body = " ".join(body.split()[: rng.randint(20, 60)])
        text = f"{site.nav}\n{body}\n{site.footer}"
        records.append({"id": f"p{p:04d}", "text": text, "group": f"p{p:04d}", "kind": "page"})
    rng.shuffle(records)
    return records


def outcome(records: list[dict], kept_ids: Iterable[str]) -> dict[str, float]:
    """Share of groups left with exactly one member, and share of distinct pages kept."""
    kept = set(kept_ids)
    survivors = Counter(r["group"] for r in records if r["id"] in kept)
    groups = {r["group"] for r in records if r["kind"] == "original"}
    pages = [r["id"] for r in records if r["kind"] == "page"]
    return {
        "groups": len(groups),
        "groups_one_survivor": sum(survivors[g] == 1 for g in groups) / max(1, len(groups)),
        "pages": len(pages),
        "pages_kept": sum(p in kept for p in pages) / max(1, len(pages)),
    }
