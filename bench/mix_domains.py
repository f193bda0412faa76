"""Benchmark `winnow mix` on ../shared/data/domains: swarm, regression, optimised vs natural vs uniform mixtures.

The peers measured in the same run are the baselines every mixing paper compares against (the natural
token distribution and the uniform mixture), trained on the same token budget with the same seeds; and,
for throughput, proxies trained one per Ray task (the CPU path) versus packed into one process (the GPU path,
here on CPU). Prints ratios; figures in BENCHMARKS.md.

    python bench/mix_domains.py [--mixtures 28] [--tokens 150000] [--out /tmp/winnow-bench-mix]
    python bench/mix_domains.py --cli     # `winnow mix` itself, shipped defaults (adaptive swarm), every process's CPU
    python bench/news_target.py && python bench/mix_domains.py --cli --targets "" \
        --target-file /tmp/winnow-bench-mix/news.jsonl   # a user's target file of news articles instead
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import time
from pathlib import Path

SHARED = Path(os.environ.get("WINNOW_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))


def fake_run(domains_dir: Path, out: Path, only: set[str] | None = None) -> Path:
    """The domain samples (all, or the `only` ones) as a `winnow run` output: documents/part-00000.parquet."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    target = out / "documents" / "part-00000.parquet"
    if target.exists():
        return out
    rows = []
    for path in sorted(domains_dir.glob("*.jsonl.gz")):
        if only is not None and path.name.removesuffix(".jsonl.gz") not in only:
            continue
        with gzip.open(path, "rt", encoding="utf-8") as f:
            rows += [{k: r[k] for k in ("id", "text", "domain")} for r in map(json.loads, f)]
    target.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows), target)
    return out


def pack_throughput(pack: int, steps: int = 30, device: str = "cpu") -> float:
    """Tokens per second per proxy when `pack` proxies train together in one process (on CPU: one thread)."""
    import numpy as np
    import torch

    from winnow.mixing.proxy import ProxyConfig, train_packed

    torch.set_num_threads(1)
    cfg = ProxyConfig()
    if device == "cuda":
        train_packed(cfg, [lambda s: np.zeros((cfg.batch_size, cfg.seq_len + 1), np.int64)] * pack, 3,
                     list(range(pack)), {}, device=device, keep_states=False)  # CUDA context and kernels: not timed
    data = np.random.default_rng(0).integers(0, cfg.vocab_size, 200_000)

    def fn(step: int) -> np.ndarray:
        starts = np.random.default_rng(step).integers(0, len(data) - cfg.seq_len - 1, cfg.batch_size)
        return data[starts[:, None] + np.arange(cfg.seq_len + 1)]

    t = time.perf_counter()
    train_packed(cfg, [fn] * pack, steps, list(range(pack)), {}, device=device, keep_states=False)
    return steps * cfg.batch_size * cfg.seq_len * pack / (time.perf_counter() - t)


def gpu_packs(tokens: int) -> None:
    """Proxies per hour on one GPU for growing packs (the GPU path of `winnow mix`), when torch sees a GPU."""
    import torch

    if not torch.cuda.is_available():
        print("GPU: none visible to torch here; packed-proxy throughput on GPU not measured")
        return
    print(f"GPU {torch.cuda.get_device_name(0)}: packed proxies, {tokens:,} tokens each")
    for pack in (1, 8, 32, 128):
        rate = pack_throughput(pack, steps=50, device="cuda")
        print(f"  pack {pack:>4}: {rate:,.0f} tokens/s per proxy → {3600 * rate * pack / tokens:,.0f} proxies/hour")


def targets(args) -> list[dict]:
    """Held-out documents of the --targets domains, and the --target-file as a user's target."""
    held_out = [{"domain": d} for d in args.targets.split(",") if d]
    return held_out + ([{"path": args.target_file, "name": Path(args.target_file).stem}] if args.target_file else [])


def cli_run(args, run: Path, out: Path) -> None:
    """`winnow mix` as a user runs it: a config with the shipped defaults, measured with every process's CPU."""
    import sys

    import yaml
    from _procs import run_measured

    swarm = {"tokens_per_proxy": args.tokens} | ({"num_mixtures": args.mixtures} if args.mixtures else {})
    config = {"documents": str(run), "output": str(out / "mix-cli"), "cache_dir": str(out / "cache-cli"),
              "targets": targets(args), "swarm": swarm,
              "validation": {"seeds": args.seeds}, "engine": {"executor": args.executor, "num_cpus": 2}}
    path = out / "mix-cli.yaml"
    path.write_text(yaml.safe_dump(config))
    winnow = str(Path(sys.executable).with_name("winnow"))
    m = run_measured([winnow, "mix", str(path), "--overwrite"], out / "mix-cli", timeout=4 * 3600)
    r = json.loads((out / "mix-cli" / "report.json").read_text())
    sw = r["swarm"]
    names = [t["name"] for t in r["targets"]]
    print(f"winnow mix, {len(r['domains'])} domains, targets {names}: rc {m['rc']}, {m['wall'] / 60:.1f} min "
          f"wall, {m['cpu_tree'] / 60:.1f} CPU-min (every process; machine busy {m['background_cores']:.1f} cores "
          f"before)")
    print(f"  swarm {sw['mixtures']} proxies; rounds {sw['rounds']['points']}; stopped: {sw['rounds']['stopped']}")
    if sw.get("noise"):
        print(f"  noise: seed std {sw['noise']['seed_std']:.4f}, swarm std {sw['noise']['swarm_std']:.4f}, "
              f"Spearman ceiling {sw['noise']['spearman_ceiling']:.3f}")
    print(f"  held-out Spearman {r['spearman_heldout']:.3f} ({r['regression']['model']}; "
          f"{r['regression']['spearman_heldout']})")
    v, verdict = r["validation_detail"], r["verdict"]
    for name in ("optimized", "natural", "uniform"):
        print(f"  {name:<10} loss {v[name]['mean']:.4f} ± {v[name]['std']:.4f}")
    print(f"  margin {verdict['margin']:.4f} vs bound {verdict['noise']:.4f}: better beyond noise "
          f"{verdict['better_beyond_noise']}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mixtures", type=int, default=None, help="first round (default: the shipped 8 per domain)")
    ap.add_argument("--tokens", type=int, default=300_000)
    ap.add_argument("--cli", action="store_true", help="run `winnow mix` on a written config, CPU of every process")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--executor", default="ray", choices=["ray", "local"])
    ap.add_argument("--targets", default="web,wiki", help="domains whose held-out documents are the targets")
    ap.add_argument("--target-file", default=None, help="a user's target file (JSONL), e.g. from bench/news_target.py")
    ap.add_argument("--out", default="/tmp/winnow-bench-mix")
    args = ap.parse_args()
    if not (SHARED / "domains").is_dir():
        raise SystemExit(f"no sample data at {SHARED}/domains (set WINNOW_SHARED_DATA)")

    from winnow.mixing.config import MixConfig
    from winnow.mixing.job import run_mix

    out = Path(args.out)
    run = fake_run(SHARED / "domains", out / "run")
    if args.cli:
        return cli_run(args, run, out)
    cfg = MixConfig(
        documents=str(run), output=str(out / "mix"), cache_dir=str(out / "cache"),
        targets=targets(args),
        swarm={"num_mixtures": args.mixtures, "tokens_per_proxy": args.tokens},
        validation={"seeds": args.seeds}, engine={"executor": args.executor, "num_cpus": 2},
    )
    t = time.perf_counter()
    r = run_mix(cfg, progress=lambda s: print(f"  {s}", flush=True))
    wall = time.perf_counter() - t
    v = r["validation_detail"]
    best = r["verdict"]["best_baseline"]
    print(f"\nwinnow mix on {len(r['domains'])} domains, {r['swarm']['mixtures']} proxies × {args.tokens:,} tokens "
          f"({r['swarm']['params_per_proxy']:,} params), {wall:.0f}s wall ({r['swarm']['trained']} trained)")
    print(f"held-out Spearman: {r['spearman_heldout']:.3f} ({r['regression']['model']}; all: {r['regression']['spearman_heldout']})")
    for name in ("optimized", "natural", "uniform"):
        print(f"  {name:<10} loss {v[name]['mean']:.4f} ± {v[name]['std']:.4f}  (per seed {[round(x, 4) for x in v[name]['objective']]})")
    print(f"optimized / best baseline ({best}) loss ratio: {v['optimized']['mean'] / v[best]['mean']:.4f}; "
          f"margin {r['verdict']['margin']:.4f} vs noise {r['verdict']['noise']:.4f} ({r['verdict']['test']})")
    print(f"proxies/hour on CPU ({args.executor}, 2 cores, 1 thread/proxy): {r['swarm']['proxies_per_hour']:.0f}")
    one, packed = pack_throughput(1), pack_throughput(4)
    print(f"packed path on CPU, 1 thread: {one:,.0f} tok/s/proxy alone vs {packed:,.0f} packed ×4 "
          f"(ratio {packed / one:.2f})")
    gpu_packs(args.tokens)
    print("weights: " + ", ".join(f"{d}={w:.3f}" for d, w in r["weights"].items()))


if __name__ == "__main__":
    main()
