"""The proxy swarm: turn mixtures into proxy runs, train the ones not cached (Ray tasks or packed on a GPU), score targets.

A run's data is a fixed schedule: its token budget split over domains by weight (largest remainder),
each domain read as non-overlapping windows in a fresh random order every epoch, so the repetition a
domain suffers is exactly `sequences drawn / windows available` and bounds can cap it.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from winnow.mixing.cache import RunCache, run_key

log = logging.getLogger("winnow.mix")

WEIGHT_DECIMALS = 6  # mixtures are rounded before hashing, so the same mixture always has the same key


@dataclass
class RunRequest:
    mixture: np.ndarray  # over `domains`
    seed: int
    label: str  # "swarm", "optimized", "natural", "uniform"


@dataclass
class RunResult:
    key: str
    mixture: np.ndarray
    seed: int
    label: str
    losses: dict[str, float]  # target name → loss
    train_loss: float
    cached: bool
    record: dict[str, Any] = field(repr=False, default_factory=dict)


def make_spec(mixture: np.ndarray, domains: list[str], pool_fps: dict[str, str], proxy: dict, tokens: int, seed: int) -> dict:
    weights = {d: round(float(w), WEIGHT_DECIMALS) for d, w in zip(domains, mixture) if round(float(w), WEIGHT_DECIMALS) > 0}
    return {"mixture": weights, "pools": {d: pool_fps[d] for d in weights}, "proxy": proxy, "tokens": tokens, "seed": seed}


def allocate(weights: dict[str, float], total: int) -> dict[str, int]:
    """Split `total` sequences over domains in proportion to weight (largest remainder: the counts sum exactly)."""
    names = sorted(weights)
    w = np.array([weights[d] for d in names], dtype=float)
    raw = w / w.sum() * total
    counts = np.floor(raw).astype(int)
    for i in np.argsort(-(raw - counts), kind="stable")[: total - counts.sum()]:
        counts[i] += 1
    return dict(zip(names, counts.tolist()))


def _rng(*parts: Any) -> np.random.Generator:
    digest = hashlib.sha256("|".join(map(str, parts)).encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "big"))


def interleave(counts: list[int], how: str, rng: np.random.Generator) -> np.ndarray:
    """The domain of each sequence in training order, domain i appearing counts[i] times.

    "even" spreads every domain evenly over the run (systematic sampling), so each batch holds the
    mixture's proportions and two runs differ only by their mixtures, not by which domain happened to
    come last: that noise would otherwise blur the mixture → loss signal the regression learns from.
    "random" shuffles (the order differs per mixture).
    """
    if how == "random":
        order = np.concatenate([np.full(n, i, dtype=np.int64) for i, n in enumerate(counts)])
        rng.shuffle(order)
        return order
    # Domain i's j-th sequence sits at fraction (j + 0.5) / counts[i] of the run; sort all by that.
    pos = np.concatenate([(np.arange(n) + 0.5) / n for n in counts if n])
    dom = np.concatenate([np.full(n, i, dtype=np.int64) for i, n in enumerate(counts) if n])
    return dom[np.argsort(pos, kind="stable")]


def batch_fn(spec: dict, pools: dict[str, np.ndarray], batch_size: int, seq_len: int, steps: int) -> Callable[[int], np.ndarray]:
    """The run's batches: step i → (batch_size, seq_len + 1) int64 windows, deterministic in (spec, step)."""
    counts = allocate(spec["mixture"], steps * batch_size)
    names = sorted(counts)
    order = interleave([counts[d] for d in names], spec.get("proxy", {}).get("interleave", "even"),
                       _rng(spec["seed"], sorted(spec["mixture"].items())))
    # Position of each sequence within its domain's stream of windows.
    rank = np.zeros(len(order), dtype=np.int64)
    for i in range(len(names)):
        mask = order == i
        rank[mask] = np.arange(mask.sum())
    perms: dict[tuple[int, int], np.ndarray] = {}
    win = np.arange(seq_len + 1)

    def window_start(dom: int, r: int) -> int:
        tokens = pools[names[dom]]
        n_windows = (len(tokens) - 1) // seq_len
        epoch, j = divmod(int(r), n_windows)
        if (dom, epoch) not in perms:  # a fresh order every epoch
            perms[(dom, epoch)] = _rng(spec["seed"], names[dom], epoch).permutation(n_windows)
        return int(perms[(dom, epoch)][j]) * seq_len

    def fn(step: int) -> np.ndarray:
        rows = []
        for k in range(step * batch_size, (step + 1) * batch_size):
            dom = int(order[k])
            start = window_start(dom, rank[k])
            rows.append(np.asarray(pools[names[dom]][start + win], dtype=np.int64))
        return np.stack(rows)

    return fn


def epochs_used(spec: dict, num_tokens: dict[str, int], batch_size: int, seq_len: int, steps: int) -> dict[str, float]:
    counts = allocate(spec["mixture"], steps * batch_size)
    return {d: n / max(1, (num_tokens[d] - 1) // seq_len) for d, n in counts.items()}


def train_pack(specs: list[dict], pools: dict[str, np.ndarray], targets: dict[str, np.ndarray],
               device: str, threads: int) -> list[dict[str, Any]]:
    """Worker entry point (a Ray task or in-process): train these runs together and return their records."""
    import torch

    from winnow.mixing.proxy import ProxyConfig, train_packed

    torch.set_num_threads(threads)
    cfg = ProxyConfig(**specs[0]["proxy"])
    steps = steps_for(specs[0]["tokens"], cfg.batch_size, cfg.seq_len)
    fns = [batch_fn(s, pools, cfg.batch_size, cfg.seq_len, steps) for s in specs]
    out = train_packed(cfg, fns, steps, [s["seed"] for s in specs], targets, device=device)
    for spec, rec in zip(specs, out):
        rec["spec"] = spec
        rec["steps"] = steps
        rec["device"] = device
    return out


def steps_for(tokens: int, batch_size: int, seq_len: int) -> int:
    return max(1, tokens // (batch_size * seq_len))


def train_packs(executor: Any, worker: Callable, packs: list[list[dict]], shared: tuple, device: str, threads: int,
                store: Callable[[dict], None], progress: Callable[[str], None] | None) -> float:
    """Run `worker(pack, *shared, device, threads)` for each pack (`train_pack`, or ablate's trainer) on the executor,
    `store` every record it returns as it comes, and report progress with an ETA. Returns the seconds it took."""
    resources = {"num_cpus": threads, "num_gpus": 1 if device == "cuda" else 0}
    items = [(p, *shared, device, threads) for p in packs]
    total, tokens = sum(map(len, packs)), packs[0][0]["tokens"]
    start, done = time.perf_counter(), 0
    for out in executor.imap_unordered(worker, items, resources):
        for rec in out:
            store(rec)
            done += 1
        if progress:
            spent = time.perf_counter() - start
            progress(f"trained {done}/{total} proxies ({spent:.0f}s, {done / spent * 3600:.0f} proxies/h, "
                     f"{done * tokens / spent / 1e3:.1f}k tokens/s, ETA {spent / done * (total - done):.0f}s)")
    return time.perf_counter() - start


class SwarmRunner:
    """Trains what the cache lacks, scores missing targets from cached weights, and returns every run's losses."""

    def __init__(self, domains: list[str], pool_tokens: dict[str, np.ndarray], pool_fps: dict[str, str],
                 targets: dict[str, np.ndarray], target_fps: dict[str, str], proxy: dict, tokens: int,
                 cache: RunCache, executor: Any, device: str, pack: int, threads: int):
        self.domains, self.pool_tokens, self.pool_fps = domains, pool_tokens, pool_fps
        self.targets, self.target_fps = targets, target_fps
        self.proxy, self.tokens, self.cache = proxy, tokens, cache
        self.executor, self.device, self.pack, self.threads = executor, device, pack, threads
        self.trained = 0
        self.fresh: set[str] = set()  # keys trained by this runner: not "cached" when a later step reads them back
        self.train_seconds = 0.0
        self._refs: tuple | None = None

    def _shared(self) -> tuple:
        """Pools and targets go to the object store once, not once per task."""
        if self._refs is None:
            if getattr(self.executor, "name", "") == "ray":
                import ray

                self._refs = (ray.put(self.pool_tokens), ray.put(self.targets))
            else:
                self._refs = (self.pool_tokens, self.targets)
        return self._refs

    def result(self, key: str, rec: dict, req: RunRequest, cached: bool) -> RunResult:
        by_fp = rec["losses"]
        losses = {name: by_fp[fp] for name, fp in self.target_fps.items()}
        return RunResult(key=key, mixture=req.mixture, seed=req.seed, label=req.label, losses=losses,
                         train_loss=rec["train_loss"], cached=cached, record=rec)

    def key(self, req: RunRequest) -> str:
        return run_key(make_spec(req.mixture, self.domains, self.pool_fps, self.proxy, self.tokens, req.seed))

    def run(self, requests: list[RunRequest], progress: Callable[[str], None] | None = None) -> list[RunResult]:
        specs = [make_spec(r.mixture, self.domains, self.pool_fps, self.proxy, self.tokens, r.seed) for r in requests]
        keys = [run_key(s) for s in specs]
        todo = self.cache.missing(specs)
        self._train(list(todo.values()), progress)
        self.rescore(keys)
        return [self.result(k, self.cache.get(k), r, cached=k not in self.fresh) for k, r in zip(keys, requests)]

    def _train(self, specs: list[dict], progress: Callable[[str], None] | None) -> None:
        if not specs:
            return
        packs = [specs[i : i + self.pack] for i in range(0, len(specs), self.pack)]
        self.train_seconds += train_packs(self.executor, train_pack, packs, self._shared(), self.device, self.threads,
                                          self._store, progress)
        self.trained += len(specs)
        self.fresh |= {run_key(s) for s in specs}

    def _store(self, rec: dict) -> None:
        state = rec.pop("state")
        rec["losses"] = {self.target_fps[name]: v for name, v in rec["losses"].items()}
        self.cache.put(run_key(rec["spec"]), rec, state)

    def rescore(self, keys: list[str]) -> int:
        """Score targets a cached run has not seen yet, from its saved weights (all such runs packed in one model)."""
        missing = {k: [n for n, fp in self.target_fps.items() if fp not in self.cache.get(k)["losses"]] for k in set(keys)}
        missing = {k: v for k, v in missing.items() if v}
        if not missing:
            return 0
        import torch

        from winnow.mixing.proxy import PackedGPT, ProxyConfig, evaluate

        torch.set_num_threads(max(1, self.threads))
        ks = sorted(missing)
        need = sorted({n for v in missing.values() for n in v})
        for i in range(0, len(ks), 16):
            chunk = ks[i : i + 16]
            model = PackedGPT.from_states(ProxyConfig(**self.proxy), [self.cache.state(k) for k in chunk])
            scores = evaluate(model, {n: self.targets[n] for n in need})
            for k, s in zip(chunk, scores):
                self.cache.add_losses(k, {self.target_fps[n]: s[n] for n in need})
        return len(ks)

    def reusable(self, exclude: set[str], seed: int) -> list[RunResult]:
        """Cached runs of other configs (e.g. before a domain was added) that apply here, as extra swarm points."""
        out = []
        for rec in self.cache.compatible(self.proxy, self.tokens, seed, self.pool_fps):
            key = run_key(rec["spec"])
            if key in exclude:
                continue
            w = np.array([rec["spec"]["mixture"].get(d, 0.0) for d in self.domains])
            out.append(RunResult(key=key, mixture=w / w.sum(), seed=seed, label="reused", losses={},
                                 train_loss=rec["train_loss"], cached=True, record=rec))
        return out
