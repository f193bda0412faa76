"""Per-stage docs/s of Winnow's language, heuristic and URL stages against datatrove's filters called on the same docs.

Run: python bench/filters.py [--docs 400]. One process; rates use the process's CPU time, so they are docs/s per core even on a busy machine.
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import sys
import time
from pathlib import Path

# run as a script, this file's folder comes first on sys.path and its name would hide the `filters` package
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from datatrove.data import Document

from filters import heuristics
from filters.heuristics import C4QualityStage, FineWebQualityStage, GopherQualityStage, GopherRepetitionStage
from filters.language import LanguageStage
from filters.url import UrlFilterStage
from pipeline import schema

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def load_docs(n: int) -> list[dict]:
    """A mixed English-heavy sample: web, forum, wiki and book text, interleaved."""
    per = {}
    for dom in ("web", "forum_qa", "wiki", "books"):
        with gzip.open(DATA / "domains" / f"{dom}.jsonl.gz", "rt") as f:
            per[dom] = [json.loads(line) for _, line in zip(range(n), f)]
    rows = [r for group in zip(*per.values()) for r in group][:n]
    return [
        {"id": str(r["id"]), "text": r["text"], "url": f"https://{r['domain']}.example/{i}"}
        for i, r in enumerate(rows)
    ]


def fresh_token_cache() -> None:
    heuristics._TOKENIZERS.clear()  # each stage is timed without words another stage tokenized before it


def time_stage(stage, table) -> float:
    stage.ensure_setup()
    stage.process(table.slice(0, 20))  # warm: load tokenizers / models outside the timing
    fresh_token_cache()
    t0 = time.process_time()
    stage.process(table)
    return time.process_time() - t0


def time_datatrove(flt, docs: list[dict]) -> float:
    for d in docs[:20]:
        flt.filter(Document(text=d["text"], id=d["id"]))
    t0 = time.process_time()
    for d in docs:
        flt.filter(Document(text=d["text"], id=d["id"]))
    return time.process_time() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--docs", type=int, default=400)
    args = ap.parse_args()
    docs = load_docs(args.docs)
    table = schema.documents_from_records(docs)
    n = len(docs)
    mb = sum(len(d["text"].encode()) for d in docs) / 1e6
    print(f"{n} documents, {mb:.1f} MB of text (domains/web, forum_qa, wiki, books)\n")

    from datatrove.pipeline.filters import (
        C4QualityFilter,
        FineWebQualityFilter,
        GopherQualityFilter,
        GopherRepetitionFilter,
    )
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    ident = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)

    class Py3langidPerDoc:  # what a per-document filter does: classify the whole text (datatrove's own needs fastText)
        def filter(self, doc):
            return ident.classify(doc.text)[1] >= 0.0

    rows = []
    pairs = [
        ("language", LanguageStage(), Py3langidPerDoc(), "py3langid per doc, full text"),
        ("gopher_repetition", GopherRepetitionStage(), GopherRepetitionFilter(), "GopherRepetitionFilter"),
        ("gopher_quality", GopherQualityStage(), GopherQualityFilter(), "GopherQualityFilter"),
        ("c4_quality", C4QualityStage(), C4QualityFilter(), "C4QualityFilter"),
        ("fineweb_quality", FineWebQualityStage(), FineWebQualityFilter(), "FineWebQualityFilter"),
    ]
    for name, stage, peer, peer_name in pairs:
        ours = time_stage(stage, table)
        fresh_token_cache()
        theirs = time_datatrove(peer, docs)
        rows.append((name, n / ours, peer_name, n / theirs))
    url = UrlFilterStage(blocked_domains=[f"x{i}.example" for i in range(100_000)], blocked_words=["casino", "porn"])
    rows.append(("url_filter", n / time_stage(url, table), "-", float("nan")))

    # the four heuristics in a row, as a recipe runs them: Winnow batch by batch (words shared across stages
    # through the token memory), datatrove document by document (its own 5-entry LRU shares words likewise)
    chain = [GopherRepetitionStage(), GopherQualityStage(), C4QualityStage(), FineWebQualityStage()]
    for s in chain:
        s.ensure_setup()
    fresh_token_cache()
    t0 = time.process_time()
    batch = table
    for s in chain:
        batch = s.process(batch).kept
    ours_chain = time.process_time() - t0
    dt_chain = [GopherRepetitionFilter(), GopherQualityFilter(), C4QualityFilter(), FineWebQualityFilter()]
    t0 = time.process_time()
    kept_dt = 0
    for d in docs:
        doc = Document(text=d["text"], id=d["id"])
        if all((r if not isinstance(r := f.filter(doc), tuple) else r[0]) for f in dt_chain):
            kept_dt += 1
    theirs_chain = time.process_time() - t0
    rows.append(("4 heuristics chained", n / ours_chain, "same 4 datatrove filters chained", n / theirs_chain))
    print(f"chained: Winnow kept {batch.num_rows}, datatrove kept {kept_dt} of {n}\n")

    print("| stage | Winnow docs/s/core | peer | peer docs/s/core | ratio |")
    print("| --- | ---: | --- | ---: | ---: |")
    for name, ours, peer_name, theirs in rows:
        measured = not math.isnan(theirs)
        ratio = f"{ours / theirs:.2f}×" if measured else "-"
        peer_rate = f"{theirs:.0f}" if measured else "-"
        print(f"| {name} | {ours:.0f} | {peer_name} | {peer_rate} | {ratio} |")


if __name__ == "__main__":
    main()
