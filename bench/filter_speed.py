"""Per-stage docs/s of Winnow's language, heuristic and URL stages against datatrove's filters called on the same docs,
and the agreement of Winnow's heuristic stages with datatrove's filters, document by document.

Run: python bench/filter_speed.py [--docs 400] [--warm 400] [--agreement 1300]. One process; rates use the process's CPU
time, so they are docs/s per core even on a busy machine. --warm N first feeds each stage N other documents, as a
worker that has been running a while (the heuristic stages remember spaCy's split of every chunk they have seen).
--agreement N compares keep/drop and reason of each heuristic stage with datatrove's own filter on N documents.
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

from winnow.filters.heuristics import C4QualityStage, FineWebQualityStage, GopherQualityStage, GopherRepetitionStage
from winnow.filters.heuristics import words as heuristic_words
from winnow.filters.language import LanguageStage
from winnow.filters.url import UrlFilterStage
from winnow.pipeline import schema

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
HEURISTICS = [GopherRepetitionStage, GopherQualityStage, C4QualityStage, FineWebQualityStage]


def load_docs(n: int, skip: int = 0, domains: tuple[str, ...] = ("web", "forum_qa", "wiki", "books")) -> list[dict]:
    """A mixed English-heavy sample: web, forum, wiki and book text, interleaved; `skip` leaves out the first ones."""
    per = {}
    for dom in domains:
        with gzip.open(DATA / "domains" / f"{dom}.jsonl.gz", "rt") as f:
            per[dom] = [json.loads(line) for _, line in zip(range(n + skip), f)]
    rows = [r for group in zip(*per.values()) for r in group][skip : skip + n]
    return [
        {"id": str(r["id"]), "text": r["text"], "url": f"https://{r['domain']}.example/{i}"}
        for i, r in enumerate(rows)
    ]


def agreement_docs(n: int) -> list[dict]:
    """Up to n real documents: all of domains/web and the CCNet (dolma) samples, then the other domains in turn."""
    rows = []
    paths = [DATA / "domains" / "web.jsonl.gz", *sorted((DATA / "cc" / "cc_jsonl" / "dolma").glob("*.jsonl.gz"))]
    for path in paths:
        with gzip.open(path, "rt") as f:
            rows += [json.loads(line) for line in f]
    others = {}
    for dom in ("forum_qa", "wiki", "books", "docs", "academic", "code"):
        with gzip.open(DATA / "domains" / f"{dom}.jsonl.gz", "rt") as f:
            others[dom] = [json.loads(line) for line in f]
    i = 0
    while len(rows) < n and any(i < len(v) for v in others.values()):
        rows += [v[i] for v in others.values() if i < len(v)]
        i += 1
    # the web domain file holds the CCNet samples too: number the rows so every document has its own id
    return [{"id": f"{k}:{r.get('id', '')}", "text": r["text"]} for k, r in enumerate(rows[:n])]


def fresh_token_cache() -> None:
    """As a fresh worker: no words or chunk splits remembered from before (spaCy's rules stay loaded, as for the peer)."""
    for tok in heuristic_words._TOKENIZERS.values():
        tok.forget()


def time_stage(stage, table, warm_table=None) -> float:
    stage.ensure_setup()
    stage.process(table.slice(0, 20))  # warm: load tokenizers / models outside the timing
    fresh_token_cache()
    if warm_table is not None:
        stage.process(warm_table)
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


def verdict(result) -> str | None:
    keep, reason = result if isinstance(result, tuple) else (result, None)
    return None if keep else (reason or "dropped")


def agreement(n: int) -> None:
    """Per heuristic stage: documents where Winnow's decision (and reason, and C4's rewritten text) is datatrove's."""
    from datatrove.pipeline.filters import (
        C4QualityFilter,
        FineWebQualityFilter,
        GopherQualityFilter,
        GopherRepetitionFilter,
    )

    docs = agreement_docs(n)
    table = schema.documents_from_records(docs)
    peers = [GopherRepetitionFilter(), GopherQualityFilter(), C4QualityFilter(), FineWebQualityFilter()]
    # datatrove, document by document through each filter separately (its words LRU is shared between them)
    theirs: list[list[tuple[str | None, str | None]]] = [[] for _ in peers]
    t_theirs = [0.0] * len(peers)
    for d in docs:
        for k, flt in enumerate(peers):
            doc = Document(text=d["text"], id=d["id"])
            t0 = time.process_time()
            try:
                v = verdict(flt.filter(doc))
            except Exception as exc:  # noqa: BLE001 - count it like our stage's error row
                v = f"error:{type(exc).__name__}"
            t_theirs[k] += time.process_time() - t0
            theirs[k].append((v, doc.text if v is None else None))
    print(f"{len(docs)} documents, {sum(len(d['text']) for d in docs) / 1e6:.1f} M characters\n")
    print(
        "| stage | same decision and reason | agreement | Winnow dropped | datatrove dropped | Winnow s | datatrove s |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    fresh_token_cache()
    for k, cls in enumerate(HEURISTICS):
        stage = cls()
        stage.ensure_setup()
        t0 = time.process_time()
        out = stage.process(table)
        t_ours = time.process_time() - t0
        ours: dict[str, tuple[str | None, str | None]] = {}
        for row in out.kept.select(["id", "text"]).to_pylist():
            ours[row["id"]] = (None, row["text"])
        if out.dropped is not None:
            for i, r in zip(out.dropped["id"].to_pylist(), out.dropped["_winnow_reason"].to_pylist()):
                ours[i] = (r, None)
        if out.failed is not None:
            for i, e in zip(out.failed["id"].to_pylist(), out.failed["_winnow_error"].to_pylist()):
                ours[i] = ("error:" + e.removeprefix(f"{cls.name}_"), None)
        same, examples = 0, []
        for d, (their_reason, their_text) in zip(docs, theirs[k]):
            our_reason, our_text = ours[d["id"]]
            expected = stage.reason(their_reason) if their_reason and not their_reason.startswith("error:") else None
            if their_reason is None:
                ok = our_reason is None and our_text == their_text
            elif their_reason.startswith("error:"):
                ok = our_reason == their_reason
            else:
                ok = our_reason == expected
            same += ok
            if not ok and len(examples) < 3:
                examples.append((d["id"], their_reason, our_reason))
        n_ours = sum(1 for r, _ in ours.values() if r is not None)
        n_theirs = sum(1 for r, _ in theirs[k] if r is not None)
        print(
            f"| {cls.name} | {same} / {len(docs)} | {100 * same / len(docs):.2f} % | {n_ours} | {n_theirs} "
            f"| {t_ours:.1f} | {t_theirs[k]:.1f} |"
        )
        for ex in examples:
            print(f"|   differs: {ex} | | | | | | |")


def speed(n: int, warm: int) -> None:
    docs = load_docs(n)
    table = schema.documents_from_records(docs)
    warm_table = schema.documents_from_records(load_docs(warm, skip=n)) if warm else None
    mb = sum(len(d["text"].encode()) for d in docs) / 1e6
    print(f"{n} documents, {mb:.1f} MB of text (domains/web, forum_qa, wiki, books)")
    if warm:
        print(f"'warm' columns: each stage first processed {warm} other documents of the same files\n")

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
        ("language", LanguageStage, Py3langidPerDoc(), "py3langid per doc, full text"),
        ("gopher_repetition", GopherRepetitionStage, GopherRepetitionFilter(), "GopherRepetitionFilter"),
        ("gopher_quality", GopherQualityStage, GopherQualityFilter(), "GopherQualityFilter"),
        ("c4_quality", C4QualityStage, C4QualityFilter(), "C4QualityFilter"),
        ("fineweb_quality", FineWebQualityStage, FineWebQualityFilter(), "FineWebQualityFilter"),
    ]
    for name, cls, peer, peer_name in pairs:
        ours = time_stage(cls(), table)
        ours_warm = time_stage(cls(), table, warm_table) if warm else math.nan
        fresh_token_cache()
        theirs = time_datatrove(peer, docs)
        rows.append((name, n / ours, n / ours_warm, peer_name, n / theirs))
    url = UrlFilterStage(blocked_domains=[f"x{i}.example" for i in range(100_000)], blocked_words=["casino", "porn"])
    rows.append(("url_filter", n / time_stage(url, table), math.nan, "-", math.nan))

    # the four heuristics in a row, as a recipe runs them: Winnow batch by batch (words shared across stages
    # through the token memory), datatrove document by document (its own 5-entry LRU shares words likewise)
    def run_chain(warm_first: bool) -> tuple[float, int]:
        chain = [cls() for cls in HEURISTICS]
        for s in chain:
            s.ensure_setup()
        fresh_token_cache()
        if warm_first:
            b = warm_table
            for s in chain:
                b = s.process(b).kept
        t0 = time.process_time()
        batch = table
        for s in chain:
            batch = s.process(batch).kept
        return time.process_time() - t0, batch.num_rows

    ours_chain, kept_ours = run_chain(False)
    ours_chain_warm = run_chain(True)[0] if warm else math.nan
    dt_chain = [GopherRepetitionFilter(), GopherQualityFilter(), C4QualityFilter(), FineWebQualityFilter()]
    t0 = time.process_time()
    kept_dt = 0
    for d in docs:
        doc = Document(text=d["text"], id=d["id"])
        if all((r if not isinstance(r := f.filter(doc), tuple) else r[0]) for f in dt_chain):
            kept_dt += 1
    theirs_chain = time.process_time() - t0
    rows.append(
        (
            "4 heuristics chained",
            n / ours_chain,
            n / ours_chain_warm,
            "same 4 datatrove filters chained",
            n / theirs_chain,
        )
    )
    print(f"chained: Winnow kept {kept_ours}, datatrove kept {kept_dt} of {n}\n")

    print("| stage | Winnow docs/s/core (fresh) | warm | peer | peer docs/s/core | ratio fresh | ratio warm |")
    print("| --- | ---: | ---: | --- | ---: | ---: | ---: |")
    for name, ours, ours_warm, peer_name, theirs in rows:
        measured = not math.isnan(theirs)
        ratio = f"{ours / theirs:.2f}×" if measured else "-"
        ratio_warm = f"{ours_warm / theirs:.2f}×" if measured and not math.isnan(ours_warm) else "-"
        peer_rate = f"{theirs:.0f}" if measured else "-"
        warm_rate = f"{ours_warm:.0f}" if not math.isnan(ours_warm) else "-"
        print(f"| {name} | {ours:.0f} | {warm_rate} | {peer_name} | {peer_rate} | {ratio} | {ratio_warm} |")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--docs", type=int, default=400, help="documents timed per stage")
    ap.add_argument("--warm", type=int, default=0, help="other documents each stage sees first (0: fresh only)")
    ap.add_argument("--agreement", type=int, default=0, help="compare decisions with datatrove on N documents")
    ap.add_argument("--skip-speed", action="store_true")
    args = ap.parse_args()
    if not args.skip_speed:
        speed(args.docs, args.warm)
    if args.agreement:
        print()
        agreement(args.agreement)


if __name__ == "__main__":
    main()
