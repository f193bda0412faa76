"""`winnow ablate` end to end: prepare → train and score proxies (cached) → metrics → paired verdicts → outputs."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from typing import Any

from winnow.mixing.ablate import metrics as M
from winnow.mixing.ablate import html, plots, report
from winnow.mixing.ablate import verdict as V
from winnow.mixing.ablate.config import AblateConfig
from winnow.mixing.ablate.prepare import AblationData, prepare
from winnow.mixing.ablate.train import Runner, make_spec
from winnow.mixing.cache import RunCache


def resolve_device(cfg: AblateConfig, n_arms_seeds: int) -> tuple[str, int]:
    import torch
    from winnow.pipeline.config import ConfigError

    device = cfg.engine.device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("engine.device: cuda asked for but torch sees no GPU; use auto or cpu")
    # On a GPU every variant x seed of one rate trains as one pack: tiny models cannot fill it one at a time. On a
    # CPU core four packed proxies train ~1.3-1.5x faster than four alone (BENCHMARKS.md, mixing).
    return device, cfg.engine.pack or (min(64, n_arms_seeds) if device == "cuda" else 4)


def make_executor(cfg: AblateConfig) -> Any:
    from winnow.pipeline.executors import LocalExecutor, RayExecutor

    if cfg.engine.executor == "local":
        return LocalExecutor()
    return RayExecutor(None, cfg.engine.num_cpus, cfg.engine.object_store_memory_mb)


def _train(cfg: AblateConfig, data: AblationData, progress: Callable[[str], None]) -> tuple[dict, Runner, dict]:
    arms = [v.name for v in data.arms()]
    seeds = list(range(cfg.num_seeds()))
    device, pack = resolve_device(cfg, len(arms) * len(seeds))
    proxy = cfg.proxy_dict(data.tokenizer.vocab_size)
    specs, where = [], []
    for r, lr in enumerate(cfg.rates()):
        for arm in arms:
            for s in seeds:
                specs.append(make_spec(data.pool_fps[arm], {**proxy, "lr": lr}, data.budget, s))
                where.append((r, arm, s))
    executor = make_executor(cfg)
    try:
        runner = Runner({data.pool_fps[a]: data.pools[a] for a in arms},
                        {s.fingerprint: (s.windows, s.mask, s.span, len(s.span_item)) for s in data.slices},
                        RunCache(cfg.resolved_cache_dir()), executor, device, pack, cfg.engine.threads_per_proxy)
        progress(f"{len(specs)} proxies: {len(arms)} arms x {len(seeds)} seeds x {len(cfg.rates())} learning rates, "
                 f"{data.budget:,} tokens each")
        records = runner.run(specs, progress)
    finally:
        executor.shutdown()
    runs: dict[int, dict] = {}
    for (r, arm, s), rec in zip(where, records):
        runs.setdefault(r, {})[(arm, s)] = rec
    return runs, runner, {"device": device, "pack": pack, "proxy": proxy}


def _analyse(cfg: AblateConfig, data: AblationData, runs: dict) -> tuple[list, list, list]:
    """Per rate: metrics, every pair's statistics (Holm within the rate) and the A/A control's."""
    seeds = list(range(cfg.num_seeds()))
    arms = [v.name for v in data.arms()]
    st = cfg.stats
    per_rate_metrics, per_rate_pairs, per_rate_aa = [], [], []
    for r in range(len(cfg.rates())):
        ms = M.build(data.slices, runs[r], arms, seeds)
        pairs = [V.compare(ms, a, b, data.main, st.bootstrap, st.seed + 17 * i + r)
                 for i, (a, b) in enumerate(cfg.ordered_pairs())]
        V.apply_holm(pairs, st.alpha)
        h1, h2 = data.control
        per_rate_metrics.append(ms)
        per_rate_pairs.append(pairs)
        per_rate_aa.append(V.compare(ms, h1.name, h2.name, data.main, st.bootstrap, st.seed + 7919 + r))
    return per_rate_metrics, per_rate_pairs, per_rate_aa


def run_ablation(cfg: AblateConfig, progress: Callable[[str], None] = lambda s: None) -> dict[str, Any]:
    t0 = time.perf_counter()
    os.makedirs(cfg.output, exist_ok=True)
    data = prepare(cfg, progress)  # every input check happens here, before any proxy trains
    t_prep = time.perf_counter() - t0
    runs, runner, engine = _train(cfg, data, progress)
    t_train = time.perf_counter() - t0 - t_prep
    per_rate_metrics, per_rate_pairs, per_rate_aa = _analyse(cfg, data, runs)
    out = report.build(cfg, data, runs, per_rate_metrics, per_rate_pairs, per_rate_aa, runner, engine)
    out["seconds"] = {"prepare": t_prep, "train_and_score": t_train, "total": time.perf_counter() - t0}
    with open(os.path.join(cfg.output, "ablation.json"), "w", encoding="utf-8") as f:
        json.dump(out, f, indent=1)
    plots.differences(out, os.path.join(cfg.output, "differences.png"))
    html.write_page(out, cfg.output)
    for run in html.add_to_run_reports(out, cfg.output):
        progress(f"verdicts added to {os.path.join(run, 'report.html')}")
    return out
