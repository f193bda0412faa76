"""Fuzzy dedup benchmark: Winnow's minhash_dedup against datatrove's four-stage MinHash pipeline, same run.

Both read the same JSONL of real documents (../shared/data/domains) with planted near-duplicates, on one
worker each; we report documents/s, peak memory (sum of the process tree's RSS, sampled every 20 ms) and
pairwise precision/recall/F1 against exact Jaccard ≥ threshold of word 5-gram sets. Winnow also runs at
2× and 4× the input to show how time and memory grow.

    python bench/dedup.py [--docs 5000] [--scales 1 2 4] [--threshold 0.8] [--budget-mb 512]
"""

from __future__ import annotations

import argparse
import glob
import gzip
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SHARED = Path(os.environ.get("WINNOW_SHARED_DATA", ROOT.parent / "shared" / "data"))


def run_winnow(inp: str, work: str, threshold: float, budget_mb: int) -> dict:
    from winnow.filters.dedup.common import read_dir
    from winnow.pipeline.config import load_config
    from winnow.pipeline.runner import run_pipeline

    config = load_config(
        text=json.dumps(
            {
                "inputs": [inp],
                "output": f"{work}/out",
                "engine": {"executor": "local", "memory_budget_mb": budget_mb},
                "stages": [{"name": "minhash_dedup", "threshold": threshold}],
            }
        )
    )
    result = run_pipeline(config, overwrite=True)
    assert result.balanced, result.problems
    # winnow ids hash the locator; the input's own id is in metadata.source_id (read-only segment 0 has it)
    seg0 = read_dir(f"{work}/out/_work/seg0")
    own = {i: json.loads(m)["source_id"] for i, m in zip(seg0["id"].to_pylist(), seg0["metadata"].to_pylist())}
    members = {}
    base = Path(f"{work}/out/_work/fit1/members")
    for sub in sorted(base.iterdir()) if base.is_dir() else []:
        t = read_dir(str(sub))
        members.update(zip(t["id"].to_pylist(), t["cluster"].to_pylist()))
    clusters = {own[i]: own[c] for i, c in members.items()}
    fit = json.loads(Path(f"{work}/out/_work/fit1/fit_stats.json").read_text())
    return {"clusters": clusters, "kept": result.stats["documents"], "fit": fit}


def run_datatrove(inp: str, work: str, threshold: float) -> dict:
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

    cfg = MinhashConfig()  # 5-grams, 14 buckets × 8 hashes: its defaults, tuned for ~0.75-0.8
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
    clusters, kept = {}, 0
    for sub in ("kept", "removed"):
        for f in glob.glob(f"{work}/{sub}/*.jsonl"):
            for line in Path(f).read_text().splitlines():
                r = json.loads(line)
                kept += sub == "kept"
                cid = r["metadata"].get("minhash_cluster_id", -1)
                if cid != -1:
                    clusters[r["id"]] = f"c{cid}"
    return {"clusters": clusters, "kept": kept}


def worker(args) -> None:
    # Imports are paid before the clock starts, for both sides (Winnow's plugin scan imports every stage module).
    if args.run == "winnow":

    else:
        import datatrove.pipeline.dedup.minhash  # noqa: F401
    t0 = time.perf_counter()
    if args.run == "winnow":
        out = run_winnow(args.input, args.work, args.threshold, args.budget_mb)
    else:
        out = run_datatrove(args.input, args.work, args.threshold)
    out["seconds"] = time.perf_counter() - t0
    Path(args.result).write_text(json.dumps(out))


def measured(cmd: list[str]) -> tuple[float, float]:
    """Run a command; return wall seconds and the peak summed RSS (MiB) of its whole process tree."""
    import psutil

    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ps = psutil.Process(proc.pid)
    peak = 0.0
    done = threading.Event()

    def sample():
        nonlocal peak
        while not done.is_set():
            try:
                procs = [ps] + ps.children(recursive=True)
                rss = sum(p.memory_info().rss for p in procs if p.is_running())
                peak = max(peak, rss / 2**20)
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
    return time.perf_counter() - t0, peak


def load_texts() -> list[str]:
    texts = []
    for f in sorted(glob.glob(str(SHARED / "domains" / "*.jsonl.gz"))):
        with gzip.open(f, "rt") as fh:
            texts += [json.loads(line)["text"] for line in fh]
    random.Random(0).shuffle(texts)
    return texts


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--docs", type=int, default=5000)
    ap.add_argument("--scales", type=int, nargs="+", default=[1, 2, 4])
    ap.add_argument("--threshold", type=float, default=0.8)
    ap.add_argument("--budget-mb", type=int, default=512)
    ap.add_argument("--max-chars", type=int, default=20_000, help="cut each source text (keeps the run short)")
    ap.add_argument("--run", choices=["winnow", "datatrove"])  # internal: one measured side
    ap.add_argument("--input")
    ap.add_argument("--work")
    ap.add_argument("--result")
    args = ap.parse_args()
    if args.run:
        return worker(args)

    from winnow.filters.dedup.accuracy import pairwise_scores, plant_near_duplicates, true_clusters

    texts = [t[: args.max_chars] for t in load_texts()]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for scale in args.scales:
            n = args.docs * scale
            recs = plant_near_duplicates(texts, n, dup_fraction=0.3, seed=scale)
            inp = f"{tmp}/in{scale}/docs.jsonl"
            os.makedirs(os.path.dirname(inp))
            with open(inp, "w") as f:
                f.writelines(json.dumps({"id": r["id"], "text": r["text"]}) + "\n" for r in recs)
            truth = true_clusters([r["text"] for r in recs], args.threshold) if scale == 1 else None
            for system in ("winnow", "datatrove") if scale == 1 else ("winnow",):
                work, result = f"{tmp}/{system}{scale}", f"{tmp}/{system}{scale}.json"
                cmd = [
                    sys.executable,
                    __file__,
                    "--run",
                    system,
                    "--input",
                    inp,
                    "--work",
                    work,
                    "--result",
                    result,
                    "--threshold",
                    str(args.threshold),
                    "--budget-mb",
                    str(args.budget_mb),
                ]
                _, peak = measured(cmd)
                out = json.loads(Path(result).read_text())
                row = {
                    "system": system,
                    "scale": scale,
                    "docs": n,
                    "seconds": round(out["seconds"], 2),
                    "docs_per_s": round(n / out["seconds"], 1),
                    "peak_mib": round(peak),
                    "kept": out["kept"],
                }
                if truth is not None:
                    pred = [out["clusters"].get(r["id"], r["id"]) for r in recs]
                    row.update({k: round(v, 4) for k, v in pairwise_scores(list(truth), pred).items()})
                rows.append(row)
                print(json.dumps(row), flush=True)
    base = {r["system"]: r for r in rows if r["scale"] == 1}
    if "datatrove" in base:
        w, d = base["winnow"], base["datatrove"]
        print(
            f"\nwinnow/datatrove at {args.docs} docs: speed ×{w['docs_per_s'] / d['docs_per_s']:.1f}, "
            f"peak memory ×{w['peak_mib'] / d['peak_mib']:.2f}, F1 {w['f1']:.3f} vs {d['f1']:.3f}"
        )
    one = base["winnow"]
    for r in rows:
        if r["system"] == "winnow" and r["scale"] != 1:
            print(
                f"winnow {r['scale']}× input: time ×{r['seconds'] / one['seconds']:.2f}, "
                f"peak memory ×{r['peak_mib'] / one['peak_mib']:.2f}"
            )


if __name__ == "__main__":
    main()
