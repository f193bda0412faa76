"""Fuzzy dedup benchmark: Winnow's minhash_dedup against datatrove's MinHash pipeline on the planted re-crawl set.

Input: filters/dedup/planted.py's set (groups of a real page and 2-4 re-crawled copies, distinct pages of the
same sites) as one JSONL, from the "report" split unless --split says otherwise. Systems, one worker each, each
run in its own process:
  winnow             minhash_dedup at its defaults (--threshold overrides the threshold)
  datatrove-matched  datatrove with buckets × hashes chosen so its S-curve midpoint (1/b)^(1/r) is the threshold
  datatrove-default  datatrove's own MinhashConfig(): 14 buckets × 8 hashes (midpoint 0.72), 5-grams
Runs are repeated and interleaved (the order alternates each round); we report the median wall seconds, CPU
seconds (user + sys of the worker and the processes it waited for, imports excluded) and peak RSS of the
process tree. Accuracy (both systems are deterministic: taken from the first round) is pairwise precision and
recall against (a) a neutral truth, the connected components of exact Jaccard ≥ threshold over plain
lower-cased whitespace-word 5-gram sets (neither system's tokenizer), and (b) the planted groups; plus the share
of groups left with one document and of distinct pages kept.

    python bench/dedup.py [--split report] [--groups 150] [--pages 300] [--repeats 3] [--threshold T]
    python bench/dedup.py --sweep [--split tune] [--seeds 0 1 2]   # how the defaults were chosen (Winnow only)
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("WINNOW_SHARED_DATA", ROOT.parent / "shared" / "data"))
SYSTEMS = ("winnow", "datatrove-matched", "datatrove-default")
MAX_HASHES = 128  # as many MinHash values as Winnow computes (datatrove's default uses 112)


def matched_banding(threshold: float, max_hashes: int = MAX_HASHES) -> tuple[int, int]:
    """(buckets, hashes per bucket) whose LSH midpoint (1/b)^(1/r) is within 0.01 of the threshold, with the most
    hashes (the steepest S-curve) that fit in max_hashes."""
    fits = [(max(1, round(threshold**-r)), r) for r in range(1, max_hashes + 1)]
    fits = [(b, r) for b, r in fits if b * r <= max_hashes and abs((1 / b) ** (1 / r) - threshold) <= 0.01]
    if not fits:
        raise ValueError(f"no banding within {max_hashes} hashes has its midpoint at {threshold}")
    return max(fits, key=lambda br: br[0] * br[1])


def cpu_seconds() -> float:
    """User + system CPU of this process and of the children it has waited for."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def run_winnow(inp: str, work: str, threshold: float | None, budget_mb: int) -> dict:
    from winnow.pipeline.config import load_config
    from winnow.pipeline.runner import run_pipeline

    stage = {"name": "minhash_dedup"} | ({"threshold": threshold} if threshold is not None else {})
    config = load_config(
        text=json.dumps(
            {
                "inputs": [inp],
                "output": f"{work}/out",
                "engine": {"executor": "local", "memory_budget_mb": budget_mb},
                "stages": [stage],
            }
        )
    )
    result = run_pipeline(config, overwrite=True)
    assert result.balanced, result.problems
    return {"kept": result.stats["documents"]}


def winnow_clusters(work: str) -> dict:
    """Clusters and dropped ids of a finished Winnow run, under the input's own ids."""
    from winnow.filters.dedup.common import read_dir

    # winnow ids hash the locator; the input's own id is in metadata.source_id (read-only segment 0 has it)
    seg0 = read_dir(f"{work}/out/_work/seg0")
    own = {i: json.loads(m)["source_id"] for i, m in zip(seg0["id"].to_pylist(), seg0["metadata"].to_pylist())}
    members = {}
    base = Path(f"{work}/out/_work/fit1/members")
    for sub in sorted(base.iterdir()) if base.is_dir() else []:
        t = read_dir(str(sub))
        members.update(zip(t["id"].to_pylist(), zip(t["cluster"].to_pylist(), t["keep"].to_pylist())))
    clusters = {own[i]: own[c] for i, (c, _) in members.items()}
    dropped = [own[i] for i, (_, keep) in members.items() if not keep]
    return {"clusters": clusters, "dropped": dropped}


def run_datatrove(inp: str, work: str, buckets: int, hashes: int) -> dict:
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.dedup.minhash import (
        MinhashConfig,
        MinhashDedupBuckets,
        MinhashDedupCluster,
        MinhashDedupFilter,
        MinhashDedupSignature,
    )
    from datatrove.pipeline.readers import JsonlReader
    from datatrove.pipeline.writers import JsonlWriter

    cfg = MinhashConfig(n_grams=5, num_buckets=buckets, hashes_per_bucket=hashes)
    folder, name = os.path.dirname(inp), os.path.basename(inp)
    reader = lambda: JsonlReader(folder, glob_pattern=name)
    steps = [
        [reader(), MinhashDedupSignature(output_folder=f"{work}/sigs", config=cfg)],
        [MinhashDedupBuckets(input_folder=f"{work}/sigs", output_folder=f"{work}/buckets", config=cfg)],
        [
            MinhashDedupCluster(
                input_folder=f"{work}/buckets", output_folder=f"{work}/remove", config=cfg, save_cluster_id=True
            )
        ],
        [
            reader(),
            MinhashDedupFilter(
                input_folder=f"{work}/remove",
                load_cluster_ids=True,
                exclusion_writer=JsonlWriter(f"{work}/removed", compression=None),
            ),
            JsonlWriter(f"{work}/kept", compression=None),
        ],
    ]
    for i, pipeline in enumerate(steps):
        tasks = cfg.num_buckets if i == 1 else 1
        LocalPipelineExecutor(pipeline=pipeline, tasks=tasks, workers=1, logging_dir=f"{work}/logs{i}").run()
    return {}


def datatrove_clusters(work: str) -> dict:
    """Clusters, dropped ids and the kept count of a finished datatrove run."""
    clusters, dropped, kept = {}, [], 0
    for sub in ("kept", "removed"):
        for f in glob.glob(f"{work}/{sub}/*.jsonl"):
            for line in Path(f).read_text().splitlines():
                r = json.loads(line)
                kept += sub == "kept"
                if sub == "removed":
                    dropped.append(r["id"])
                cid = r["metadata"].get("minhash_cluster_id", -1)
                if cid != -1:
                    clusters[r["id"]] = f"c{cid}"
    return {"clusters": clusters, "dropped": dropped, "kept": kept}


def worker(args) -> None:
    # Imports are paid before the clocks start, for both sides (Winnow's plugin scan imports every stage module).
    if args.run == "winnow":
        import winnow.filters.dedup.fuzzy
        import winnow.pipeline.runner  # noqa: F401
    else:
        import datatrove.executor
        import datatrove.pipeline.dedup.minhash  # noqa: F401
    t0, c0 = time.perf_counter(), cpu_seconds()
    if args.run == "winnow":
        out = run_winnow(args.input, args.work, args.threshold, args.budget_mb)
    else:
        out = run_datatrove(args.input, args.work, args.buckets, args.hashes)
    out["seconds"], out["cpu_seconds"] = time.perf_counter() - t0, cpu_seconds() - c0
    # reading the results back for scoring is the benchmark's work, not the systems': after the clocks
    out |= winnow_clusters(args.work) if args.run == "winnow" else datatrove_clusters(args.work)
    Path(args.result).write_text(json.dumps(out))


def measured(cmd: list[str]) -> float:
    """Run a command; return the peak summed RSS (MiB) of its whole process tree, sampled every 20 ms."""
    import psutil

    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ps = psutil.Process(proc.pid)
    peak = 0.0
    done = threading.Event()

    def sample():
        nonlocal peak
        while not done.is_set():
            try:
                procs = [ps] + ps.children(recursive=True)
                peak = max(peak, sum(p.memory_info().rss for p in procs if p.is_running()) / 2**20)
            except psutil.Error:
                pass
            time.sleep(0.02)

    th = threading.Thread(target=sample, daemon=True)
    th.start()
    rc = proc.wait()
    done.set()
    th.join()
    if rc:
        raise RuntimeError(f"{cmd} failed with {rc}")
    return peak


def command(system: str, inp: str, work: str, result: str, args, threshold: float) -> list[str]:
    cmd = [sys.executable, __file__, "--input", inp, "--work", work, "--result", result]
    if system == "winnow":
        extra = ["--threshold", str(args.threshold)] if args.threshold is not None else []
        return cmd + ["--run", "winnow", "--budget-mb", str(args.budget_mb)] + extra
    b, r = matched_banding(threshold) if system == "datatrove-matched" else (14, 8)
    return cmd + ["--run", "datatrove", "--buckets", str(b), "--hashes", str(r)]


def accuracy(recs: list[dict], out: dict, truth: list, planted: list) -> dict:
    from winnow.filters.dedup.accuracy import pairwise_scores
    from winnow.filters.dedup.planted import outcome

    pred = [out["clusters"].get(r["id"], r["id"]) for r in recs]
    neutral, groups = pairwise_scores(truth, pred), pairwise_scores(planted, pred)
    dropped = set(out["dropped"])
    kept = outcome(recs, [r["id"] for r in recs if r["id"] not in dropped])
    return {
        "precision": round(neutral["precision"], 4),
        "recall": round(neutral["recall"], 4),
        "f1": round(neutral["f1"], 4),
        "planted_precision": round(groups["precision"], 4),
        "planted_recall": round(groups["recall"], 4),
        "groups_one_survivor": round(kept["groups_one_survivor"], 4),
        "pages_kept": round(kept["pages_kept"], 4),
    }


def compare(args) -> None:
    from winnow.filters.dedup.accuracy import neutral_clusters, pairwise_scores
    from winnow.filters.dedup.fuzzy import MinhashDedupParams
    from winnow.filters.dedup.planted import planted_set

    threshold = args.threshold if args.threshold is not None else MinhashDedupParams().threshold
    recs = planted_set(SHARED, args.split, args.groups, args.pages, seed=args.seed)
    truth = list(neutral_clusters([r["text"] for r in recs], threshold))
    planted = [r["group"] for r in recs]
    true_pairs = pairwise_scores(truth, truth)["true_pairs"]
    print(
        f"{len(recs)} documents ({args.split} split, seed {args.seed}); threshold {threshold}; "
        f"datatrove matched banding {matched_banding(threshold)}; {true_pairs} true pairs",
        flush=True,
    )
    runs: dict[str, list[dict]] = {s: [] for s in SYSTEMS}
    with tempfile.TemporaryDirectory() as tmp:
        inp = f"{tmp}/in/docs.jsonl"
        os.makedirs(os.path.dirname(inp))
        with open(inp, "w") as f:
            f.writelines(json.dumps({"id": r["id"], "text": r["text"]}) + "\n" for r in recs)
        for rnd in range(args.repeats):
            for system in SYSTEMS if rnd % 2 == 0 else SYSTEMS[::-1]:
                work, result = f"{tmp}/{system}-{rnd}", f"{tmp}/{system}-{rnd}.json"
                peak = measured(command(system, inp, work, result, args, threshold))
                out = json.loads(Path(result).read_text())
                row = {
                    "system": system,
                    "round": rnd,
                    "seconds": round(out["seconds"], 2),
                    "cpu_seconds": round(out["cpu_seconds"], 2),
                    "peak_mib": round(peak),
                    "kept": out["kept"],
                }
                if rnd == 0:
                    row |= accuracy(recs, out, truth, planted)
                runs[system].append(row)
                print(json.dumps(row), flush=True)
    summary(runs, len(recs))


def summary(runs: dict[str, list[dict]], n: int) -> None:
    print(f"\nmedians over {len(runs['winnow'])} interleaved rounds, {n} documents:")
    med = {
        s: {k: statistics.median(r[k] for r in rows) for k in ("seconds", "cpu_seconds", "peak_mib")}
        for s, rows in runs.items()
    }
    for s, m in med.items():
        acc = runs[s][0]
        print(
            f"  {s:18s} wall {m['seconds']:7.2f} s  cpu {m['cpu_seconds']:7.2f} s  peak {m['peak_mib']:5.0f} MiB  "
            f"P {acc['precision']:.3f} R {acc['recall']:.3f} F1 {acc['f1']:.3f}  "
            f"groups→1 {acc['groups_one_survivor']:.3f} pages kept {acc['pages_kept']:.3f}"
        )
    w = med["winnow"]
    for s in SYSTEMS[1:]:
        print(
            f"  winnow / {s}: cpu ×{w['cpu_seconds'] / med[s]['cpu_seconds']:.2f}, "
            f"wall ×{w['seconds'] / med[s]['seconds']:.2f}"
        )


def in_process(recs: list[dict], params: dict, tmp: str) -> tuple[list[str], dict]:
    """Fit and apply minhash_dedup in this process on two units; kept ids and the fit's stats."""
    from winnow.filters.dedup.fuzzy import MinhashDedupStage
    from winnow.pipeline import parquet_io, schema
    from winnow.pipeline.corpus import Corpus
    from winnow.pipeline.executors import LocalExecutor

    units = {}
    for u in range(2):
        units[f"{u:05d}"] = path = f"{tmp}/u{u}.parquet"
        parquet_io.write_parquet(
            path, schema.documents_from_records([{"id": r["id"], "text": r["text"]} for r in recs[u::2]])
        )
    stage = MinhashDedupStage(**params)
    stage.state_dir = f"{tmp}/state"
    stage.fit(Corpus(units=units, state_dir=stage.state_dir, executor=LocalExecutor(), memory_budget_mb=512))
    kept = [i for u, p in units.items() for i in stage.apply(parquet_io.read_parquet(p), u).kept[schema.ID].to_pylist()]
    return kept, json.loads(Path(f"{tmp}/state/fit_stats.json").read_text())


# Both bandings from the old default down to the new one; below it, where distinct pages start to merge.
SWEEP = [(t, b, r) for t in (0.8, 0.75, 0.7, 0.65, 0.6) for b, r in ((20, 5), (32, 4))]
SWEEP += [(0.5, 32, 4), (0.4, 32, 4), (0.3, 42, 3), (0.2, 42, 3)]


def sweep(args) -> None:
    """Winnow alone over thresholds and bandings on one split (several seeds): the table the defaults came from."""
    from winnow.filters.dedup.planted import outcome, planted_set

    sets = [planted_set(SHARED, args.split, args.groups, args.pages, seed=s) for s in args.seeds]
    print(f"{args.split} split, seeds {args.seeds}, {args.groups} groups + {args.pages} pages each")
    for t, b, r in SWEEP:
        got, cand, c0 = [], 0, cpu_seconds()
        for recs in sets:
            with tempfile.TemporaryDirectory() as tmp:
                kept, stats = in_process(recs, {"threshold": t, "bands": b, "rows": r}, tmp)
            got.append(outcome(recs, kept))
            cand += stats["candidate_pairs"]
        groups = statistics.mean(o["groups_one_survivor"] for o in got)
        pages = statistics.mean(o["pages_kept"] for o in got)
        print(
            f"  threshold {t:.2f} bands {b:2d} × rows {r}: groups→1 {groups:.3f}  pages kept {pages:.4f}  "
            f"candidates {cand}  cpu {cpu_seconds() - c0:.1f} s",
            flush=True,
        )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--split", default=None, help="planted split: report (default) or tune (--sweep's default)")
    ap.add_argument("--groups", type=int, default=150)
    ap.add_argument("--pages", type=int, default=300)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threshold", type=float, default=None, help="Winnow's default unless given")
    ap.add_argument("--budget-mb", type=int, default=512)
    ap.add_argument("--sweep", action="store_true")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--run", choices=["winnow", "datatrove"])  # internal: one measured side
    ap.add_argument("--input")
    ap.add_argument("--work")
    ap.add_argument("--result")
    ap.add_argument("--buckets", type=int)
    ap.add_argument("--hashes", type=int)
    args = ap.parse_args()
    if args.run:
        return worker(args)
    if args.sweep:
        args.split = args.split or "tune"
        return sweep(args)
    args.split = args.split or "report"
    compare(args)


if __name__ == "__main__":
    main()
