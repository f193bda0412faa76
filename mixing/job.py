"""`winnow mix` end to end: pools and targets → swarm → regression → optimiser → validation → weights and report."""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import yaml

from winnow.mixing import plots, regression
from winnow.mixing.cache import RunCache
from winnow.mixing.config import MixConfig
from winnow.mixing.data import MixData, prepare, write_targets
from winnow.mixing.optimise import optimise
from winnow.mixing.simplex import Bounds, make_bounds, natural, project, sample_dirichlet
from winnow.mixing.swarm import RunRequest, SwarmRunner, epochs_used, make_spec, steps_for
from winnow.mixing.validate import objective, summarise, verdict

log = logging.getLogger("winnow.mix")


def resolve_device(cfg: MixConfig) -> tuple[str, int]:
    import torch

    device = cfg.engine.device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        from winnow.pipeline.config import ConfigError

        raise ConfigError("engine.device: cuda asked for but torch sees no GPU; use auto or cpu")
    return device, cfg.engine.pack or (32 if device == "cuda" else 1)


def make_executor(cfg: MixConfig, device: str) -> Any:
    from winnow.pipeline.executors import LocalExecutor, RayExecutor

    if cfg.engine.executor == "local":
        return LocalExecutor()
    return RayExecutor(cfg.engine.address, cfg.engine.num_cpus, cfg.engine.object_store_memory_mb)


def _bounds(cfg: MixConfig, data: MixData) -> Bounds:
    b = cfg.bounds
    # What a domain can supply is its count of whole windows, the unit the sampler draws.
    usable = {d: (n - 1) // cfg.proxy.seq_len * cfg.proxy.seq_len for d, n in data.num_tokens().items()}
    return make_bounds(data.domains, usable, cfg.swarm.tokens_per_proxy, b.min, b.max, b.default_min, b.default_max,
                       b.max_epochs)


def _swarm_requests(cfg: MixConfig, runner: SwarmRunner, bounds: Bounds, prior: np.ndarray) -> tuple[list, list]:
    """The sampled mixtures, minus as many untrained ones as there are applicable runs from other configs."""
    rng = np.random.default_rng(cfg.swarm.seed)
    mixtures = sample_dirichlet(rng, cfg.swarm.num_mixtures, prior, tuple(cfg.swarm.concentration), bounds)
    requests = [RunRequest(m, cfg.swarm.seed, "swarm") for m in mixtures]
    from winnow.mixing.cache import run_key

    keys = [run_key(make_spec(r.mixture, runner.domains, runner.pool_fps, runner.proxy, runner.tokens, r.seed))
            for r in requests]
    foreign = runner.reusable(set(keys), cfg.swarm.seed)
    misses = [i for i, k in enumerate(keys) if runner.cache.get(k) is None]
    n_reuse = min(len(foreign), len(misses), int(cfg.swarm.reuse_max_fraction * cfg.swarm.num_mixtures))
    dropped = set(misses[len(misses) - n_reuse:]) if n_reuse else set()
    return [r for i, r in enumerate(requests) if i not in dropped], foreign[:n_reuse]


def run_mix(cfg: MixConfig, progress: Callable[[str], None] = lambda s: None) -> dict[str, Any]:
    t0 = time.perf_counter()
    out = cfg.output
    os.makedirs(out, exist_ok=True)
    progress("reading documents, tokenizing domains and targets")
    data = prepare(cfg)  # every input check happens here, before any proxy trains
    bounds = _bounds(cfg, data)
    write_targets(data, os.path.join(out, "targets.jsonl"))
    t_prep = time.perf_counter() - t0

    device, pack = resolve_device(cfg)
    proxy = {**cfg.proxy.model_dump(), "vocab_size": data.tokenizer.vocab_size}
    target_w = {t.name: t.weight for t in data.targets}
    executor = make_executor(cfg, device)
    try:
        runner = SwarmRunner(
            data.domains, {d: np.asarray(p.tokens) for d, p in data.pools.items()}, data.pool_fingerprints,
            {t.name: t.tokens for t in data.targets}, {t.name: t.fingerprint for t in data.targets}, proxy,
            cfg.swarm.tokens_per_proxy, RunCache(cfg.resolved_cache_dir()), executor, device, pack,
            cfg.engine.threads_per_proxy,
        )
        nat = natural(data.num_tokens(), data.domains)
        k = len(data.domains)
        prior = (1 - cfg.swarm.prior_smoothing) * nat + cfg.swarm.prior_smoothing / k
        requests, reused = _swarm_requests(cfg, runner, bounds, prior)
        progress(f"swarm: {len(requests)} mixtures over {k} domains ({len(reused)} reused from earlier configs)")
        t1 = time.perf_counter()
        swarm = runner.run(requests, progress)
        runner.rescore([r.key for r in reused])
        reused = [runner.result(r.key, runner.cache.get(r.key), RunRequest(r.mixture, r.seed, "reused"), True)
                  for r in reused]
        swarm_trained, swarm_seconds = runner.trained, time.perf_counter() - t1
        points = swarm + reused

        X = np.stack([r.mixture for r in points])
        y = np.array([objective(r.losses, target_w) for r in points])
        fit = regression.fit(X, y, cfg.regression.model, cfg.regression.folds, cfg.swarm.seed)
        per_target = {
            t: regression.spearman(regression.heldout_predictions(fit.name, X, np.array([r.losses[t] for r in points]),
                                                                  cfg.regression.folds), [r.losses[t] for r in points])
            for t in target_w
        } if len(target_w) > 1 else {}
        opt = optimise(fit.model, bounds, prior, cfg.optimiser.samples, cfg.optimiser.top_k, cfg.optimiser.seed)
        progress(f"regression: {fit.name}, held-out Spearman {fit.spearman[fit.name]:.3f}")

        candidates = {"optimized": opt.weights, "natural": project(nat, bounds)[0],
                      "uniform": project(np.full(k, 1 / k), bounds)[0]}
        validation, check, t2 = {}, {}, time.perf_counter()
        trained_before = runner.trained
        if cfg.validation.enabled:
            progress(f"validation: {len(candidates)} mixtures × {cfg.validation.seeds} seeds")
            vreq = [RunRequest(w, cfg.swarm.seed + s, name) for name, w in candidates.items()
                    for s in range(cfg.validation.seeds)]
            validation = summarise(runner.run(vreq, progress), target_w)
            check = verdict(validation)
        val_seconds, val_trained = time.perf_counter() - t2, runner.trained - trained_before
    finally:
        executor.shutdown()

    weights = {d: round(float(w), 6) for d, w in zip(data.domains, candidates["optimized"])}
    with open(os.path.join(out, "weights.yaml"), "w", encoding="utf-8") as f:
        f.write("# domain → sampling weight (sums to 1), written by `winnow mix`; read by `winnow export`\n")
        yaml.safe_dump(weights, f, sort_keys=False)
    rho = fit.spearman[fit.name]
    plots.predicted_vs_actual(fit.actual, fit.heldout_pred, rho, fit.name, os.path.join(out, "predicted_vs_actual.png"))
    plots.weights(data.domains, candidates, os.path.join(out, "weights.png"))
    with open(os.path.join(out, "swarm.jsonl"), "w", encoding="utf-8") as f:
        f.writelines(json.dumps({"key": r.key, "label": r.label, "mixture": dict(zip(data.domains, r.mixture.round(6).tolist())),
                                "losses": r.losses, "objective": objective(r.losses, target_w), "cached": r.cached}) + "\n" for r in points)

    steps = steps_for(cfg.swarm.tokens_per_proxy, cfg.proxy.batch_size, cfg.proxy.seq_len)
    trained_all = swarm_trained + val_trained
    train_s = runner.train_seconds
    report = {
        "spearman_heldout": rho,
        "validation": {name: v["objective"] for name, v in validation.items()},
        "validation_detail": validation,
        "verdict": check,
        "weights": weights,
        "baselines": {name: dict(zip(data.domains, w.round(6).tolist())) for name, w in candidates.items() if name != "optimized"},
        "predicted_loss": {"optimized": opt.predicted, "best_sampled": opt.best_sampled, "samples": opt.samples},
        "regression": {"model": fit.name, "spearman_heldout": fit.spearman, "folds": cfg.regression.folds,
                       "per_target_spearman_heldout": per_target, "runs": len(points)},
        "swarm": {
            "mixtures": len(points), "trained": swarm_trained, "cached": sum(r.cached for r in swarm),
            "reused_from_other_configs": len(reused), "tokens_per_proxy": cfg.swarm.tokens_per_proxy, "steps": steps,
            "proxy": proxy, "params_per_proxy": _params(swarm), "device": device, "pack": pack,
            "executor": cfg.engine.executor, "seconds": swarm_seconds,
            "proxies_per_hour": 3600 * trained_all / train_s if trained_all and train_s else None,
            "max_epochs_used": _max_epochs(points, data, cfg, steps),
        },
        "domains": {d: {"train_tokens": data.pools[d].num_tokens, "train_docs": data.pools[d].num_docs,
                        "heldout_docs": data.heldout_docs.get(d, 0), "natural_weight": float(w),
                        "min": float(bounds.lo[i]), "max": float(bounds.hi[i]), "max_set_by": bounds.why_hi[i]}
                    for i, (d, w) in enumerate(zip(data.domains, nat))},
        "targets": [{"name": t.name, "source": t.source, "weight": t.weight, "tokens": len(t.tokens),
                     "documents": len(t.doc_ids)} for t in data.targets],
        "targets_file": os.path.join(out, "targets.jsonl"),
        "tokenizer": {"path": data.tokenizer.path, "vocab_size": data.tokenizer.vocab_size},
        "seconds": {"prepare": t_prep, "swarm": swarm_seconds, "validation": val_seconds,
                    "total": time.perf_counter() - t0},
        "config": json.loads(cfg.model_dump_json()),
    }
    with open(os.path.join(out, "report.json"), "w", encoding="utf-8") as f:
        json.dump(report, f, indent=2)
    return report


def _params(results: list) -> int | None:
    return next((r.record.get("params") for r in results if r.record.get("params")), None)


def _max_epochs(points: list, data: MixData, cfg: MixConfig, steps: int) -> dict[str, float]:
    worst: dict[str, float] = {}
    for r in points:
        for d, e in epochs_used(r.record["spec"], data.num_tokens(), cfg.proxy.batch_size, cfg.proxy.seq_len, steps).items():
            worst[d] = max(worst.get(d, 0.0), round(e, 3))
    return worst
