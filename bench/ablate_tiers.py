"""Do the cpu-s and cpu-m proxy tiers agree on which quality threshold is better?

A run built from the real domain samples (../shared/data/domains: wiki, web, books, forum_qa), scored by the
demo's fastText quality classifier (trained on first use, offline), is ablated at four thresholds (all documents,
top 70 %, 50 %, 35 % by score) with the same config at both tiers. Reported per pair and learning rate: the
main aggregate's paired difference and verdict at each tier, and the share of pairs whose direction agrees.
Tiny proxies favour aggressive filtering (DataDecide): disagreement here is why filter verdicts carry a
scale-sensitive mark. cpu-m costs about 16x cpu-s; `--scale 0.25` runs both tiers at a quarter of their budgets.

    python bench/ablate_tiers.py [--seeds 5] [--scale 1.0] [--out /tmp/ablate_tiers]
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import time
from pathlib import Path

SHARED = Path(os.environ.get("WINNOW_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
DOMAINS = ("wiki", "web", "books", "forum_qa")
THRESHOLDS = {"all": 100, "top70": 70, "top50": 50, "top35": 35}


def scored_run(out: Path, docs: int, chars: int) -> Path:
    """documents/part-00000.parquet scored by the demo classifier (score_fasttext_quality_v1): tag first, decide."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from winnow.filters.quality.demo import ensure_demo_classifier
    from winnow.filters.quality.score import QualityScoreParams, QualityScoreStage

    rows = []
    for dom in DOMAINS:
        with gzip.open(SHARED / "domains" / f"{dom}.jsonl.gz", "rt", encoding="utf-8") as f:
            for i, line in enumerate(f):
                if i >= docs:
                    break
                r = json.loads(line)
                rows.append({"id": r["id"], "text": r["text"][:chars], "domain": dom})
    stage = QualityScoreStage(QualityScoreParams(model=ensure_demo_classifier(), scorer="fasttext_quality_v1"))
    table = stage.process(pa.Table.from_pylist(rows)).kept
    (out / "documents").mkdir(parents=True, exist_ok=True)
    pq.write_table(table, out / "documents" / "part-00000.parquet")
    return out


def ablate(run: Path, out: Path, tier: str, seeds: int, scale: float, executor: str) -> dict:
    from winnow.mixing.ablate.config import TIERS, AblateConfig
    from winnow.mixing.ablate.job import run_ablation

    variants = [{"name": n, "documents": str(run)} if p == 100 else
                {"name": n, "documents": str(run),
                 "top_percent": {"column": "score_fasttext_quality_v1", "percent": p}}
                for n, p in THRESHOLDS.items()]
    cfg = AblateConfig(output=str(out / tier), cache_dir=str(out / "cache"), tier=tier, seeds=seeds,
                       tokens=int(TIERS[tier].tokens * scale), variants=variants, heldout={"fraction": 0.1},
                       engine={"executor": executor, "num_cpus": 2})
    t0 = time.perf_counter()
    rep = run_ablation(cfg, lambda s: print(f"[{tier}] {s}", flush=True))
    print(f"[{tier}] {time.perf_counter() - t0:.0f}s, {rep['proxy']['params_per_proxy']:,} parameters per proxy")
    return rep


def _excludes_zero(main: dict) -> bool:
    lo, hi = main.get("ci_holm", main["ci"])
    return lo > 0 or hi < 0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--scale", type=float, default=1.0, help="multiply both tiers' token budgets")
    ap.add_argument("--docs", type=int, default=700, help="documents per domain")
    ap.add_argument("--chars", type=int, default=4000)
    ap.add_argument("--out", default="/tmp/ablate_tiers")
    ap.add_argument("--executor", default="ray")
    args = ap.parse_args()
    out = Path(args.out)
    run = scored_run(out / "run", args.docs, args.chars)
    reps = {t: ablate(run, out, t, args.seeds, args.scale, args.executor) for t in ("cpu-s", "cpu-m")}
    agree = total = sig = sig_agree = 0
    print("\npair            lr      cpu-s main diff (verdict)          cpu-m main diff (verdict)        agree")
    for ps, pm in zip(reps["cpu-s"]["pairs"], reps["cpu-m"]["pairs"]):
        for rs, rm in zip(ps["rates"], pm["rates"]):
            es, em = rs["main"]["estimate"], rm["main"]["estimate"]
            same = (es > 0) == (em > 0)
            agree, total = agree + same, total + 1
            called = _excludes_zero(rm["main"])  # cpu-m calls this pair significant at this rate (Holm)
            sig, sig_agree = sig + called, sig_agree + (called and same)
            print(f"{ps['a'] + ' vs ' + ps['b']:<15} {rs['lr']:<7g} {es:+.4f} ({ps['verdict']:<18}) "
                  f"{em:+.4f}{'*' if called else ' '} ({pm['verdict']:<18}) {'yes' if same else 'NO'}")
    verdicts = sum(ps["better"] == pm["better"] for ps, pm in zip(reps["cpu-s"]["pairs"], reps["cpu-m"]["pairs"]))
    n = len(reps["cpu-s"]["pairs"])
    print(f"\ndirection agreement: {agree}/{total} pair x rate; where cpu-m's Holm interval on the main difference "
          f"excludes zero (*): {sig_agree}/{sig}; same verdict: {verdicts}/{n}")
    for t, r in reps.items():
        print(f"{t}: budget {r['budget']['tokens']:,} tokens, {r['engine']['trained']} proxies trained, "
              f"{r['seconds']['total']:.0f}s; A/A: {r['aa_control']['verdict']}")


if __name__ == "__main__":
    main()
