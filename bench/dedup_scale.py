"""Fuzzy dedup at scale: Winnow's minhash_dedup against datatrove's MinHash on up to 100,000+ documents.

bench/dedup.py's planted set stops at about a thousand documents: the real text in ../shared/data/domains holds
a few thousand bodies. This scale set is built from the same report-split text (web, wiki, docs, academic; the
dedup defaults were chosen on the tune split):

* the text is cut into chunks of CHUNK_WORDS words, and a chunk sharing 10 % or more of its word 5-grams with an
  earlier one is left out (the sources repeat themselves: licences, navigation, templates);
* a base document is 2-5 chunks, so documents number far more than chunks. No two documents share more than one
  chunk (every pair of chunks is used at most once), and each is wrapped in the navigation and footer lines of
  one of the split's real sites, as planted.py's pages are. Two base documents therefore share at most one chunk
  and a template: about a third of their 5-grams at most, far below the threshold, so they are not
  near-duplicates under the neutral definition;
* a tenth of the documents are planted re-crawl copies (planted.recrawl: 2-3 % of the words replaced, the site's
  template around the text) of randomly chosen base documents, 2-4 copies each.

Truth without all-pairs: the connected components of the planted pairs whose exact Jaccard over plain
lower-cased whitespace 5-grams (neither system's tokenizer) is ≥ the threshold. Every pair a system puts in one
cluster that the truth does not is checked the same way and counted (`unplanted_true_pairs`): a non-zero count
would mean the construction let a near-duplicate through, and the truth would be short of it.

Each system runs in its own process through bench/dedup.py's worker (same reading, same writers, imports paid
before the clock). Sizes are run interleaved, smallest first; datatrove only up to --datatrove-max documents
(it takes about 100x Winnow's CPU), and its rate at the largest size it ran is what the 100k ratio divides by,
which flatters datatrove if its cost grows faster than linearly (its bucket step sorts).

    python bench/dedup_scale.py [--sizes 10000 100000] [--datatrove-max 10000] [--repeats 2]
"""

from __future__ import annotations

import argparse
import functools
import gzip
import itertools
import json
import os
import random
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/dedup.py: the measured worker
import dedup  # noqa: E402

CHUNK_WORDS = 80
COPY_SHARE = 0.1  # of the documents, planted copies
COPIES = (2, 4)  # copies per planted original


@functools.cache
def distinct_chunks(shared: Path) -> list[str]:
    """The report split's text in CHUNK_WORDS-word chunks, each sharing under 10 % of its 5-grams with earlier ones."""
    from winnow.filters.dedup.planted import SPLITS, distinct_bodies

    chunks = []
    for domain in SPLITS["report"][0]:
        with gzip.open(shared / "domains" / f"{domain}.jsonl.gz", "rt", encoding="utf-8") as f:
            for line in f:
                words = json.loads(line)["text"].split()
                chunks += [" ".join(words[i : i + CHUNK_WORDS]) for i in range(0, len(words) - CHUNK_WORDS + 1, CHUNK_WORDS)]
    chunks = distinct_bodies(chunks, need=len(chunks))
    random.Random("scale-chunks").shuffle(chunks)
    return chunks


def scale_set(shared: Path, n_docs: int, seed: int = 0) -> list[dict]:
    """n_docs records {id, text, group, kind}: base documents (kind page) and planted copies (original / copy)."""
    from winnow.filters.dedup.planted import load_sites, recrawl

    rng = random.Random(f"scale-{n_docs}-{seed}")
    chunks, sites = distinct_chunks(shared), load_sites(shared, "report")
    n_copies = int(n_docs * COPY_SHARE)
    n_base = n_docs - n_copies
    used_pairs: set[tuple[int, int]] = set()
    docs: list[dict] = []
    while len(docs) < n_base:
        picked = rng.sample(range(len(chunks)), rng.randint(2, 5))
        pairs = {tuple(sorted(p)) for p in itertools.combinations(picked, 2)}
        if pairs & used_pairs:
            continue
        used_pairs |= pairs
        site = rng.choice(sites)
        body = " ".join(chunks[c] for c in picked)
        docs.append({"id": f"d{len(docs):06d}", "text": f"{site.nav}\n{body}\n{site.footer}", "group": None,
                     "kind": "page", "site": site, "body": body})
    copies: list[dict] = []
    for doc in rng.sample(docs, len(docs)):
        if len(copies) >= n_copies:
            break
        doc["kind"], doc["group"] = "original", doc["id"]
        for c in range(1, rng.randint(*COPIES) + 1):
            text = recrawl(doc["body"], doc["site"], rng, rng.uniform(0.02, 0.03))
            copies.append({"id": f"{doc['id']}-{c}", "text": text, "group": doc["id"], "kind": "copy"})
    records = [{k: r[k] for k in ("id", "text", "group", "kind")} for r in docs + copies[: n_docs - n_base]]
    for r in records:
        r["group"] = r["group"] or r["id"]
    rng.shuffle(records)
    return records


def jaccard(a: str, b: str) -> float:
    from winnow.filters.dedup.planted import _shingles  # lower-cased whitespace 5-grams: the neutral definition

    x, y = _shingles(a), _shingles(b)
    return len(x & y) / len(x | y) if x or y else 1.0


def truth_labels(records: list[dict], threshold: float) -> list[str]:
    """Component label per record: planted pairs at neutral Jaccard ≥ threshold, joined (union-find)."""
    parent = {r["id"]: r["id"] for r in records}

    def find(x: str) -> str:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    groups: dict[str, list[dict]] = {}
    for r in records:
        groups.setdefault(r["group"], []).append(r)
    for members in groups.values():
        for a, b in itertools.combinations(members, 2):
            if jaccard(a["text"], b["text"]) >= threshold:
                parent[find(a["id"])] = find(b["id"])
    return [find(r["id"]) for r in records]


def accuracy(records: list[dict], out: dict, threshold: float) -> dict:
    from winnow.filters.dedup.accuracy import pairwise_scores
    from winnow.filters.dedup.planted import outcome

    truth = truth_labels(records, threshold)
    pred = [out["clusters"].get(r["id"], r["id"]) for r in records]
    scores = pairwise_scores(truth, pred)
    # pairs the system joined that the planted truth does not: near-duplicates the construction let through?
    text, label = {r["id"]: r["text"] for r in records}, dict(zip((r["id"] for r in records), truth))
    by_cluster: dict[str, list[str]] = {}
    for r, p in zip(records, pred):
        by_cluster.setdefault(p, []).append(r["id"])
    extra = [(a, b) for ids in by_cluster.values() for a, b in itertools.combinations(ids, 2) if label[a] != label[b]]
    unplanted = sum(jaccard(text[a], text[b]) >= threshold for a, b in extra)
    dropped = set(out["dropped"])
    kept = outcome(records, [r["id"] for r in records if r["id"] not in dropped])
    return {"precision": round(scores["precision"], 4), "recall": round(scores["recall"], 4),
            "true_pairs": scores["true_pairs"], "predicted_pairs": scores["predicted_pairs"],
            "unplanted_true_pairs": unplanted, "groups_one_survivor": round(kept["groups_one_survivor"], 4),
            "pages_kept": round(kept["pages_kept"], 4)}


def run_side(system: str, inp: str, tmp: str, tag: str, args, threshold: float) -> dict:
    work, result = f"{tmp}/{tag}", f"{tmp}/{tag}.json"
    peak = dedup.measured(dedup.command(system, inp, work, result, args, threshold))
    out = json.loads(Path(result).read_text())
    out["peak_mib"] = peak
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    ap.add_argument("--datatrove-max", type=int, default=10_000, help="largest size datatrove runs at")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--json", help="write every run here")
    args = ap.parse_args()
    args.threshold, args.budget_mb = None, 512  # Winnow's default threshold; what dedup.command reads
    from winnow.filters.dedup.fuzzy import MinhashDedupParams

    threshold = MinhashDedupParams().threshold
    print(f"threshold {threshold}; datatrove banding {dedup.matched_banding(threshold)} (matched)", flush=True)
    rows, rates = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        for n in sorted(args.sizes):
            records = scale_set(dedup.SHARED, n)
            inp = f"{tmp}/in{n}/docs.jsonl"
            os.makedirs(os.path.dirname(inp))
            with open(inp, "w") as f:
                f.writelines(json.dumps({"id": r["id"], "text": r["text"]}) + "\n" for r in records)
            systems = ["winnow"] + (["datatrove-matched"] if n <= args.datatrove_max else [])
            for rnd in range(args.repeats):
                for system in systems if rnd % 2 == 0 else systems[::-1]:
                    out = run_side(system, inp, tmp, f"{system}-{n}-{rnd}", args, threshold)
                    row = {"system": system, "docs": n, "round": rnd, "cpu_seconds": round(out["cpu_seconds"], 2),
                           "seconds": round(out["seconds"], 2), "peak_mib": round(out["peak_mib"])}
                    if rnd == 0:
                        row |= accuracy(records, out, threshold)
                    rows.append(row)
                    print(json.dumps(row), flush=True)
                    rates.setdefault((system, n), []).append(n / out["cpu_seconds"])
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    print("\ndocs/CPU-s (best of the rounds; datatrove's at its largest size stands in for larger ones):")
    dt_sizes = sorted(n for s, n in rates if s != "winnow")
    for n in sorted(args.sizes):
        w = max(rates[("winnow", n)])
        ref = max(d for d in dt_sizes if d <= n) if dt_sizes else None
        if ref is None:
            print(f"  {n:>7} docs: winnow {w:8.0f}")
            continue
        d = max(rates[("datatrove-matched", ref)])
        note = "" if ref == n else f" (datatrove measured at {ref})"
        print(f"  {n:>7} docs: winnow {w:8.0f}  datatrove {d:6.0f}  ratio {w / d:6.1f}x{note}")


if __name__ == "__main__":
    main()
