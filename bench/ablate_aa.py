"""How often does `winnow ablate` call a difference between two halves of one corpus? (It should almost never.)

Builds a run from the real domain samples (../shared/data/domains), cuts it into two halves by a hash of the
document id in N different ways (N A/A pairs, plus the ablation's own A/A control), and runs one ablation with
those pairs: every pair is a null. Reported per pair and rate: the main aggregate's estimate, its t interval and p
(the shipped procedure) and, as the peer on the same proxies, a plain percentile bootstrap interval. Goal: at most
1 of >= 10 A/A verdicts significant.

    python bench/ablate_aa.py [--splits 10] [--tokens 100000] [--seeds 5] [--out /tmp/ablate_aa]
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import time
from pathlib import Path

import numpy as np

SHARED = Path(os.environ.get("WINNOW_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
DOMAINS = ("wiki", "web", "books", "forum_qa")


def write_runs(out: Path, splits: int, docs: int, chars: int) -> list[tuple[str, str]]:
    """One run dir per half: documents/part-00000.parquet with id, text, domain."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = []
    for dom in DOMAINS:
        with gzip.open(SHARED / "domains" / f"{dom}.jsonl.gz", "rt", encoding="utf-8") as f:
            for i, line in enumerate(f):
                if i >= docs:
                    break
                r = json.loads(line)
                rows.append({"id": r["id"], "text": r["text"][:chars], "domain": dom})
    names = []
    for k in range(splits):
        side = [hashlib.sha256(f"{k}|{r['id']}".encode()).digest()[0] & 1 for r in rows]
        for h in (0, 1):
            d = out / f"split{k}{'ab'[h]}" / "documents"
            d.mkdir(parents=True, exist_ok=True)
            pq.write_table(pa.Table.from_pylist([r for r, s in zip(rows, side) if s == h]), d / "part-00000.parquet")
        names.append((f"split{k}a", f"split{k}b"))
    return names


def percentile_significant(ms: list, a: str, b: str, main: list[str], reps: int, seed: int) -> bool:
    """The peer: a 95 % percentile interval of the same bootstrap, with no small-sample correction."""
    from winnow.mixing.ablate.verdict import bootstrap

    boots, _, _ = bootstrap(ms, a, b, reps, seed)
    lo, hi = np.percentile(np.mean([boots[n] for n in main], axis=0), [2.5, 97.5])
    return bool(lo > 0 or hi < 0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--splits", type=int, default=10)
    ap.add_argument("--tokens", type=int, default=100_000)
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--docs", type=int, default=150, help="documents per domain")
    ap.add_argument("--chars", type=int, default=3000)
    ap.add_argument("--out", default="/tmp/ablate_aa")
    ap.add_argument("--executor", default="ray")
    args = ap.parse_args()

    from winnow.mixing.ablate import job
    from winnow.mixing.ablate import verdict as V
    from winnow.mixing.ablate.config import AblateConfig
    from winnow.mixing.ablate.prepare import prepare

    out = Path(args.out)
    pairs = write_runs(out / "runs", args.splits, args.docs, args.chars)
    variants = [{"name": n, "documents": str(out / "runs" / n)} for p in pairs for n in p]
    cfg = AblateConfig(output=str(out / "ablate"), cache_dir=str(out / "cache"), tokens=args.tokens, seeds=args.seeds,
                       variants=variants, pairs=pairs, heldout={"fraction": 0.2},
                       engine={"executor": args.executor, "num_cpus": 2})
    t0 = time.perf_counter()
    data = prepare(cfg, print)
    runs, runner, _ = job._train(cfg, data, print)
    per_rate_metrics, per_rate_pairs, per_rate_aa = job._analyse(cfg, data, runs)
    st = cfg.stats
    verdicts, nominal, peer = 0, 0, 0
    print(f"\n{len(pairs)} A/A pairs + the control, {args.seeds} seeds, {args.tokens:,} tokens, rates {cfg.rates()}")
    for i, (a, b) in enumerate([*pairs, (data.control[0].name, data.control[1].name)]):
        is_control = i == len(pairs)
        stats = [per_rate_aa[r] if is_control else per_rate_pairs[r][i] for r in range(len(cfg.rates()))]
        if is_control:  # the control is its own family
            for s in stats:
                V.apply_holm([s], st.alpha)
        kinds = {m.name: m.kind for m in per_rate_metrics[0]}
        called = V.decide(stats, kinds, st.alpha, st.power, 1 if is_control else len(pairs))["better"] is not None
        verdicts += called
        for r, s in enumerate(stats):
            nominal += s.main.p() < st.alpha
            pct = percentile_significant(per_rate_metrics[r], a, b, data.main, st.bootstrap, st.seed + 31 * i + r)
            peer += pct
            lo, hi = s.main.ci(st.alpha)
            print(f"{a} vs {b} lr {cfg.rates()[r]:g}: {s.main.estimate:+.4f} [{lo:+.4f}, {hi:+.4f}] "
                  f"p={s.main.p():.3f} (Holm p={s.p_holm:.3f}); percentile: "
                  f"{'significant' if pct else 'not significant'}; verdict: {'CALLED' if called else 'inconclusive'}")
    n = len(pairs) + 1
    print(f"\nverdicts called significant: {verdicts}/{n} (goal <= 1)")
    print(f"per-rate main differences significant at {st.alpha}: t interval {nominal}/{2 * n}, "
          f"percentile bootstrap (peer) {peer}/{2 * n}")
    print(f"{runner.trained} proxies trained in {runner.train_seconds:.0f}s; total {time.perf_counter() - t0:.0f}s")


if __name__ == "__main__":
    main()
