"""`winnow mix` end to end: pools and targets → swarm → regression → optimiser → validation → weights and report."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import yaml

from winnow.mixing import plots, regression
from winnow.mixing.adaptive import Curve, Noise, Plan, measure_noise, ranking_statement
from winnow.mixing.cache import RunCache
from winnow.mixing.config import MixConfig
from winnow.mixing.data import MixData, prepare, write_targets
from winnow.mixing.optimise import optimise
from winnow.mixing.simplex import Bounds, make_bounds, natural, project, sample_dirichlet
from winnow.mixing.swarm import RunRequest, SwarmRunner, epochs_used, steps_for
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


def _swarm_requests(cfg: MixConfig, runner: SwarmRunner, bounds: Bounds, prior: np.ndarray, n: int,
                    own: list[RunRequest]) -> tuple[list, list]:
    """The first round's sampled mixtures, minus as many untrained ones as there are applicable runs from other
    configs. `own`: this config's other runs known before the swarm (noise seeds, baseline validation runs)."""
    rng = np.random.default_rng(cfg.swarm.seed)
    mixtures = sample_dirichlet(rng, n, prior, tuple(cfg.swarm.concentration), bounds)
    requests = [RunRequest(m, cfg.swarm.seed, "swarm") for m in mixtures]
    keys = [runner.key(r) for r in requests]
    foreign = {r.key: r for r in runner.reusable(set(keys) | {runner.key(r) for r in own}, cfg.swarm.seed)}
    misses = [i for i, k in enumerate(keys) if runner.cache.get(k) is None]
    room = min(len(misses), int(cfg.swarm.reuse_max_fraction * n))
    reused = _reuse_choice(runner.cache, _swarm_key(keys, cfg.swarm.reuse_max_fraction), foreign, room)
    dropped = set(misses[len(misses) - len(reused):]) if reused else set()
    return [r for i, r in enumerate(requests) if i not in dropped], reused


def _swarm_key(keys: list[str], reuse_max_fraction: float) -> str:
    """Names a first round: its runs' keys fix the pools, proxy, budget, seed and mixtures."""
    return hashlib.sha256(json.dumps([sorted(keys), reuse_max_fraction]).encode()).hexdigest()[:20]


def _reuse_choice(cache: RunCache, swarm_key: str, foreign: dict[str, Any], room: int) -> list:
    """The runs of other configs this swarm reuses: those its first run chose while they all still apply, so a rerun
    reads the same points even after this config's own validation runs (or other configs' runs) joined the cache."""
    saved = cache.reuse_choice(swarm_key)
    if saved is not None and len(saved) <= room and all(k in foreign for k in saved):
        return [foreign[k] for k in saved]
    chosen = list(foreign.values())[:room]
    cache.save_reuse_choice(swarm_key, [r.key for r in chosen])
    return chosen


def _baseline_requests(cfg: MixConfig, baselines: dict[str, np.ndarray]) -> list[RunRequest]:
    """The baselines' validation runs: known before the swarm, and this config's own, so never reused as foreign."""
    if not cfg.validation.enabled:
        return []
    return [RunRequest(w, cfg.swarm.seed + s, name) for name, w in baselines.items()
            for s in range(cfg.validation.seeds)]


def _round_requests(cfg: MixConfig, bounds: Bounds, prior: np.ndarray, round_no: int, n: int) -> list[RunRequest]:
    """An added round's mixtures, from a stream of its own: the first round stays what a fixed swarm samples."""
    rng = np.random.default_rng([cfg.swarm.seed, round_no])
    return [RunRequest(m, cfg.swarm.seed, "swarm")
            for m in sample_dirichlet(rng, n, prior, tuple(cfg.swarm.concentration), bounds)]


@dataclass
class _Swarm:
    points: list  # swarm runs and runs reused from other configs
    trained: int
    reused: int
    seconds: float
    plan: Plan
    curve: Curve
    noise: Noise | None
    fit: regression.Fit | None  # the regression on `points`, from the stopping rule's last check


@dataclass
class _Validation:
    summary: dict[str, Any] = field(default_factory=dict)
    verdict: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    trained: int = 0


def run_mix(cfg: MixConfig, progress: Callable[[str], None] = lambda s: None) -> dict[str, Any]:
    """Pools and targets → swarm → regression → optimiser → validation → weights.yaml, report.json, plots."""
    t0 = time.perf_counter()
    os.makedirs(cfg.output, exist_ok=True)
    progress("reading documents, tokenizing domains and targets")
    data = prepare(cfg)  # every input check happens here, before any proxy trains
    bounds = _bounds(cfg, data)
    write_targets(data, os.path.join(cfg.output, "targets.jsonl"))
    t_prep = time.perf_counter() - t0
    device, pack = resolve_device(cfg)
    target_w = {t.name: t.weight for t in data.targets}
    nat = natural(data.num_tokens(), data.domains)
    prior = (1 - cfg.swarm.prior_smoothing) * nat + cfg.swarm.prior_smoothing / len(data.domains)
    uniform = project(np.full(len(data.domains), 1 / len(data.domains)), bounds)[0]
    baselines = {"natural": project(nat, bounds)[0], "uniform": uniform}
    executor = make_executor(cfg, device)
    try:
        runner = _runner(cfg, data, executor, device, pack)
        swarm = _run_swarm(cfg, runner, bounds, prior, baselines, target_w, progress)
        fit = swarm.fit or _regress(cfg, swarm.points, target_w, need_folds=False)
        per_target = _per_target(cfg, fit, swarm.points, target_w)
        opt = optimise(fit.model, bounds, prior, cfg.optimiser.samples, cfg.optimiser.top_k, cfg.optimiser.seed)
        progress(f"regression: {fit.name}, held-out Spearman {fit.spearman[fit.name]:.3f}")
        candidates = {"optimized": opt.weights, **baselines}
        validation = _validate(cfg, runner, candidates, target_w, swarm.noise, progress)
    finally:
        executor.shutdown()
    weights = _write_weights(cfg, data, candidates["optimized"])
    _write_plots_and_runs(cfg, data, fit, candidates, swarm, target_w)
    report = _report(cfg, data, bounds, nat, runner, swarm, fit, per_target, opt, candidates, validation, weights,
                     device, pack, {"prepare": t_prep, "total": time.perf_counter() - t0})
    with open(os.path.join(cfg.output, "report.json"), "w", encoding="utf-8") as f:
        json.dump(report, f, indent=2)
    return report


def _runner(cfg: MixConfig, data: MixData, executor: Any, device: str, pack: int) -> SwarmRunner:
    proxy = {**cfg.proxy.model_dump(), "vocab_size": data.tokenizer.vocab_size}
    return SwarmRunner(
        data.domains, {d: np.asarray(p.tokens) for d, p in data.pools.items()}, data.pool_fingerprints,
        {t.name: t.tokens for t in data.targets}, {t.name: t.fingerprint for t in data.targets}, proxy,
        cfg.swarm.tokens_per_proxy, RunCache(cfg.resolved_cache_dir()), executor, device, pack,
        cfg.engine.threads_per_proxy,
    )


def _run_swarm(cfg: MixConfig, runner: SwarmRunner, bounds: Bounds, prior: np.ndarray, baselines: dict[str, np.ndarray],
               target_w: dict[str, float], progress) -> _Swarm:
    """Measure the noise on a probe (the uniform mixture at a few seeds, a few first-round mixtures), train the rest
    of the first round (cached runs are read back; runs of other configs rescored), then add rounds while the
    held-out Spearman still rises."""
    plan = Plan.of(cfg.swarm, len(runner.domains))
    # the same mixture and seeds as validation's uniform runs, so validation reads them from the cache
    seeds = cfg.validation.seeds if cfg.swarm.noise_seeds is None else cfg.swarm.noise_seeds
    repeats = [RunRequest(baselines["uniform"], cfg.swarm.seed + s, "uniform") for s in range(seeds)]
    repeats = repeats if len(repeats) >= 2 else []
    own = repeats + _baseline_requests(cfg, baselines)
    requests, reused = _swarm_requests(cfg, runner, bounds, prior, plan.first, own)
    progress(f"swarm: {len(requests)} mixtures over {len(runner.domains)} domains "
             f"({len(reused)} reused from earlier configs), {len(repeats)} seeds of the uniform mixture for the noise")
    t1 = time.perf_counter()
    noise = _probe_noise(runner, requests[: plan.probe], repeats, target_w, progress) if repeats else None
    points = runner.run(requests, progress)  # the probe's runs come back from the cache
    runner.rescore([r.key for r in reused])
    points += [runner.result(r.key, runner.cache.get(r.key), RunRequest(r.mixture, r.seed, "reused"), True)
               for r in reused]
    if noise:  # the whole first round measures the spread better than the probe
        noise = _refine_noise(noise, points, target_w, progress)
    curve, round_no = Curve(), 0
    ceiling = noise.ceiling if noise else None
    while True:
        fit = _regress(cfg, points, target_w)  # the last one fitted is the regression `winnow mix` optimises
        if not curve.add(len(points), _spearman(fit), plan, ceiling):
            break
        round_no += 1
        n = min(plan.step, plan.most - len(points))
        progress(f"swarm: held-out Spearman {curve.points[-1][1]:.3f} with {len(points)} proxies; round "
                 f"{round_no + 1} adds {n}")
        points += runner.run(_round_requests(cfg, bounds, prior, round_no, n), progress)
    progress(f"swarm: {len(points)} proxies, stopped: {curve.stopped}")
    # the noise runs are counted with the noise, not the swarm (validation would have trained them otherwise)
    trained_noise = noise.trained if noise else 0
    return _Swarm(points, runner.trained - trained_noise, len(reused), time.perf_counter() - t1, plan, curve, noise, fit)


def _probe_noise(runner: SwarmRunner, probe: list[RunRequest], repeats: list[RunRequest], target_w: dict[str, float],
                 progress) -> Noise:
    """Seed noise against the spread of a few mixtures, said (with a warning when they are close) before the rest of
    the swarm trains."""
    done = runner.run(probe + repeats, progress)
    seed_runs = done[len(probe):]
    noise = measure_noise([objective(r.losses, target_w) for r in seed_runs],
                          [objective(r.losses, target_w) for r in done[: len(probe)]],
                          sum(not r.cached for r in seed_runs))
    progress(f"noise, before the swarm: seed std {noise.seed_std:.4f} ({noise.runs} seeds), spread of "
             f"{noise.mixtures} mixtures {noise.swarm_std:.4f} → seed noise alone allows a held-out Spearman of "
             f"about {noise.ceiling:.3f}")
    if noise.warning:
        log.warning(noise.warning)
    return noise


def _refine_noise(probe: Noise, points: list, target_w: dict[str, float], progress) -> Noise:
    noise = replace(probe, swarm_std=float(np.std([objective(r.losses, target_w) for r in points], ddof=1)),
                    mixtures=len(points))
    progress(f"noise, after the first round: spread of {noise.mixtures} mixtures {noise.swarm_std:.4f} → about "
             f"{noise.ceiling:.3f}")
    if noise.warning and not probe.warning:
        log.warning(noise.warning)
    return noise


def _regress(cfg: MixConfig, points: list, target_w: dict[str, float], need_folds: bool = True) -> regression.Fit | None:
    """The regression of target loss on mixture; None while there are fewer runs than folds (the stopping rule's
    early checks), unless `need_folds` is off (then regression.fit says what is missing)."""
    if need_folds and len(points) < cfg.regression.folds:
        return None
    X = np.stack([r.mixture for r in points])
    y = np.array([objective(r.losses, target_w) for r in points])
    return regression.fit(X, y, cfg.regression.model, cfg.regression.folds, cfg.swarm.seed)


def _spearman(fit: regression.Fit | None) -> float:
    return fit.spearman[fit.name] if fit else float("nan")


def _per_target(cfg: MixConfig, fit: regression.Fit, points: list, target_w: dict[str, float]) -> dict[str, float]:
    """Held-out Spearman of the chosen model for each target, when there are several."""
    X = np.stack([r.mixture for r in points])
    per_target = {}
    for t in target_w if len(target_w) > 1 else ():
        losses = [r.losses[t] for r in points]
        pred = regression.heldout_predictions(fit.name, X, np.array(losses), cfg.regression.folds)
        per_target[t] = regression.spearman(pred, losses)
    return per_target


def _validate(cfg: MixConfig, runner: SwarmRunner, candidates: dict, target_w: dict, noise: Noise | None,
              progress) -> _Validation:
    """Every candidate mixture trained with the same seeds; the paired verdict of optimised vs the baselines."""
    if not cfg.validation.enabled:
        return _Validation()
    t2, trained_before = time.perf_counter(), runner.trained
    progress(f"validation: {len(candidates)} mixtures × {cfg.validation.seeds} seeds")
    requests = [RunRequest(w, cfg.swarm.seed + s, name) for name, w in candidates.items()
                for s in range(cfg.validation.seeds)]
    summary = summarise(runner.run(requests, progress), target_w)
    seed_noise = (noise.seed_std, noise.runs) if noise else None  # what one validation seed cannot measure
    return _Validation(summary, verdict(summary, seed_noise=seed_noise), time.perf_counter() - t2,
                       runner.trained - trained_before)


def _write_weights(cfg: MixConfig, data: MixData, optimized: np.ndarray) -> dict[str, float]:
    weights = {d: round(float(w), 6) for d, w in zip(data.domains, optimized)}
    with open(os.path.join(cfg.output, "weights.yaml"), "w", encoding="utf-8") as f:
        f.write("# domain → sampling weight (sums to 1), written by `winnow mix`; read by `winnow export`\n")
        yaml.safe_dump(weights, f, sort_keys=False)
    return weights


def _write_plots_and_runs(cfg: MixConfig, data: MixData, fit, candidates: dict, swarm: _Swarm, target_w: dict) -> None:
    points = swarm.points
    out = cfg.output
    rho = fit.spearman[fit.name]
    plots.predicted_vs_actual(fit.actual, fit.heldout_pred, rho, fit.name, os.path.join(out, "predicted_vs_actual.png"))
    plots.weights(data.domains, candidates, os.path.join(out, "weights.png"))
    plots.spearman_curve(swarm.curve.points, swarm.noise.ceiling if swarm.noise else None,
                         os.path.join(out, "spearman_curve.png"))
    with open(os.path.join(out, "swarm.jsonl"), "w", encoding="utf-8") as f:
        f.writelines(json.dumps({"key": r.key, "label": r.label, "mixture": dict(zip(data.domains, r.mixture.round(6).tolist())),
                                "losses": r.losses, "objective": objective(r.losses, target_w), "cached": r.cached}) + "\n"
                     for r in points)


def _report(cfg, data, bounds, nat, runner, swarm: _Swarm, fit, per_target, opt, candidates, validation: _Validation,
            weights, device, pack, seconds) -> dict[str, Any]:
    """report.json: the figures, the weights, the verdict and the config that produced them."""
    steps = steps_for(cfg.swarm.tokens_per_proxy, cfg.proxy.batch_size, cfg.proxy.seq_len)
    trained_all = swarm.trained + validation.trained + (swarm.noise.trained if swarm.noise else 0)
    train_s = runner.train_seconds
    points = swarm.points
    return {
        "spearman_heldout": fit.spearman[fit.name],
        "validation": {name: v["objective"] for name, v in validation.summary.items()},
        "validation_detail": validation.summary,
        "verdict": validation.verdict,
        "weights": weights,
        "baselines": {name: dict(zip(data.domains, w.round(6).tolist())) for name, w in candidates.items() if name != "optimized"},
        "predicted_loss": {"optimized": opt.predicted, "best_sampled": opt.best_sampled, "samples": opt.samples},
        "regression": {"model": fit.name, "spearman_heldout": fit.spearman, "folds": cfg.regression.folds,
                       "per_target_spearman_heldout": per_target, "runs": len(points)},
        "swarm": {
            "mixtures": len(points), "trained": swarm.trained, "cached": sum(r.cached for r in points) - swarm.reused,
            "reused_from_other_configs": swarm.reused, "tokens_per_proxy": cfg.swarm.tokens_per_proxy, "steps": steps,
            "proxy": runner.proxy, "params_per_proxy": _params(points), "device": device, "pack": pack,
            "executor": cfg.engine.executor, "seconds": swarm.seconds,
            "proxies_per_hour": 3600 * trained_all / train_s if trained_all and train_s else None,
            "max_epochs_used": _max_epochs(points, data, cfg, steps),
            "rounds": {"first": swarm.plan.first, "step": swarm.plan.step, "most": swarm.plan.most,
                       "adaptive": swarm.plan.adaptive, **swarm.curve.to_dict()},
            "noise": swarm.noise.to_dict() if swarm.noise else None,
            "ranking": ranking_statement(fit.spearman[fit.name], swarm.plan, swarm.noise),
        },
        "domains": {d: {"train_tokens": data.pools[d].num_tokens, "train_docs": data.pools[d].num_docs,
                        "heldout_docs": data.heldout_docs.get(d, 0), "natural_weight": float(w),
                        "min": float(bounds.lo[i]), "max": float(bounds.hi[i]), "max_set_by": bounds.why_hi[i]}
                    for i, (d, w) in enumerate(zip(data.domains, nat))},
        "targets": [{"name": t.name, "source": t.source, "weight": t.weight, "tokens": len(t.tokens),
                     "documents": len(t.doc_ids)} for t in data.targets],
        "targets_file": os.path.join(cfg.output, "targets.jsonl"),
        "tokenizer": {"path": data.tokenizer.path, "vocab_size": data.tokenizer.vocab_size},
        "seconds": {"prepare": seconds["prepare"], "swarm": swarm.seconds, "validation": validation.seconds,
                    "total": seconds["total"]},
        "config": json.loads(cfg.model_dump_json()),
    }


def _params(results: list) -> int | None:
    return next((r.record.get("params") for r in results if r.record.get("params")), None)


def _max_epochs(points: list, data: MixData, cfg: MixConfig, steps: int) -> dict[str, float]:
    worst: dict[str, float] = {}
    for r in points:
        for d, e in epochs_used(r.record["spec"], data.num_tokens(), cfg.proxy.batch_size, cfg.proxy.seq_len, steps).items():
            worst[d] = max(worst.get(d, 0.0), round(e, 3))
    return worst
