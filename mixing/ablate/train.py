"""Training and scoring the ablation's proxies: paired seeds, the packing trainer, the run cache, progress with ETA.

A run is (variant pool, proxy recipe and rate, token budget, seed). Seed s fixes a proxy's initialisation and
the order it reads its windows in (a permutation drawn from (s, epoch) alone), for every variant, so two
variants' runs at seed s differ only by their data: that is what makes the comparison paired. Runs go
through `winnow mix`'s cache (mixing.cache): weights are kept, so a new evaluation slice is scored from them
without retraining.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import numpy as np
from winnow.mixing.cache import RunCache, run_key
from winnow.mixing.swarm import steps_for, train_packs

ORDER = "ablate-v1"  # bump when the batch order changes: old cached runs must not be mistaken for new ones


def make_spec(pool_fp: str, proxy: dict, tokens: int, seed: int) -> dict:
    return {"kind": ORDER, "pool": pool_fp, "proxy": proxy, "tokens": tokens, "seed": seed}


def _rng(*parts: Any) -> np.random.Generator:
    digest = hashlib.sha256("|".join(map(str, parts)).encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "big"))


def batch_fn(tokens: np.ndarray, seed: int, batch_size: int, seq_len: int) -> Callable[[int], np.ndarray]:
    """Step i → (batch_size, seq_len + 1) windows: non-overlapping windows in a fresh order every epoch."""
    n_windows = (len(tokens) - 1) // seq_len
    perms: dict[int, np.ndarray] = {}
    offsets = np.arange(seq_len + 1)

    def fn(step: int) -> np.ndarray:
        rows = []
        for k in range(step * batch_size, (step + 1) * batch_size):
            epoch, j = divmod(k, n_windows)
            if epoch not in perms:
                perms[epoch] = _rng(ORDER, seed, epoch).permutation(n_windows)
            rows.append(np.asarray(tokens[perms[epoch][j] * seq_len + offsets], dtype=np.int64))
        return np.stack(rows)

    return fn


def score_states(cfg: Any, states: list[dict], slices: dict[str, tuple], device: str) -> list[dict[str, list[float]]]:
    """Nats each model spends on each span of each slice (fixed windows, masked targets), models packed together."""
    import torch
    import torch.nn.functional as F
    from winnow.mixing.proxy import PackedGPT

    model = PackedGPT.from_states(cfg, states).to(device).eval()
    P, T, V = len(states), cfg.seq_len, cfg.vocab_size
    chunk = max(1, min(64, int(2e8 // (P * T * V))))  # bounds the (P, chunk, T, V) logits in memory
    out: list[dict[str, list[float]]] = [{} for _ in range(P)]
    with torch.no_grad():
        for fp, (windows, mask, span, n_spans) in slices.items():
            per_window = np.zeros((P, len(windows)))
            for s in range(0, len(windows), chunk):
                w = torch.tensor(windows[s : s + chunk], device=device)  # a copy: Ray's arrays are read-only
                idx = w[:, :-1].unsqueeze(0).expand(P, -1, -1)
                logp = F.log_softmax(model(idx).float(), dim=-1)
                nll = -logp.gather(-1, w[:, 1:].unsqueeze(0).expand(P, -1, -1).unsqueeze(-1)).squeeze(-1)
                m = torch.tensor(mask[s : s + chunk], device=device)
                per_window[:, s : s + len(w)] = (nll * m).sum(-1).double().cpu().numpy()
            for p in range(P):
                out[p][fp] = np.round(np.bincount(span, weights=per_window[p], minlength=n_spans), 5).tolist()
    return out


def train_and_score(specs: list[dict], pools: dict[str, np.ndarray], slices: dict[str, tuple], device: str,
                    threads: int) -> list[dict[str, Any]]:
    """Worker entry point (a Ray task or in-process): train these runs as one pack, then score every slice."""
    import torch
    from winnow.mixing.proxy import ProxyConfig, train_packed

    torch.set_num_threads(threads)
    cfg = ProxyConfig(**specs[0]["proxy"])
    steps = steps_for(specs[0]["tokens"], cfg.batch_size, cfg.seq_len)
    fns = [batch_fn(pools[s["pool"]], s["seed"], cfg.batch_size, cfg.seq_len) for s in specs]
    out = train_packed(cfg, fns, steps, [s["seed"] for s in specs], {}, device=device, keep_states=True)
    scores = score_states(cfg, [r["state"] for r in out], slices, device)
    for spec, rec, sc in zip(specs, out, scores):
        rec.pop("losses", None)
        rec.update(spec=spec, steps=steps, device=device, scores=sc)
    return out


class Runner:
    """Trains what the cache lacks (packs by rate), scores slices cached runs have not seen, returns every record."""

    def __init__(self, pools: dict[str, np.ndarray], slices: dict[str, tuple], cache: RunCache, executor: Any,
                 device: str, pack: int, threads: int):
        self.pools, self.slices, self.cache = pools, slices, cache
        self.executor, self.device, self.pack, self.threads = executor, device, pack, threads
        self.trained, self.train_seconds = 0, 0.0

    def _shared(self) -> tuple:
        if getattr(self.executor, "name", "") == "ray":  # to the object store once, not once per task
            import ray

            return ray.put(self.pools), ray.put(self.slices)
        return self.pools, self.slices

    def run(self, specs: list[dict], progress: Callable[[str], None] | None = None) -> list[dict]:
        keys = [run_key(s) for s in specs]
        todo = self.cache.missing(specs)
        self._train(list(todo.values()), progress)
        self.rescore(keys)
        return [{**self.cache.get(k), "key": k, "cached": k not in todo} for k in keys]

    def _packs(self, specs: list[dict]) -> list[list[dict]]:
        by_recipe: dict[str, list[dict]] = {}
        for s in specs:  # one pack shares one recipe (the rate included): the trainer has one optimiser setting
            by_recipe.setdefault(repr(sorted(s["proxy"].items())), []).append(s)
        return [g[i : i + self.pack] for g in by_recipe.values() for i in range(0, len(g), self.pack)]

    def _train(self, specs: list[dict], progress: Callable[[str], None] | None) -> None:
        if not specs:
            return
        self.train_seconds += train_packs(self.executor, train_and_score, self._packs(specs), self._shared(),
                                          self.device, self.threads, self._store, progress)
        self.trained += len(specs)

    def _store(self, rec: dict) -> None:
        self.cache.put(run_key(rec["spec"]), rec, rec.pop("state"))

    def rescore(self, keys: list[str]) -> int:
        """Score slices a cached run has not seen, from its saved weights (16 runs packed per model)."""
        missing = sorted(k for k in set(keys) if set(self.slices) - set(self.cache.get(k).get("scores", {})))
        if not missing:
            return 0
        import torch
        from winnow.mixing.proxy import ProxyConfig

        torch.set_num_threads(self.threads)
        by_recipe: dict[str, list[str]] = {}
        for k in missing:
            by_recipe.setdefault(repr(sorted(self.cache.get(k)["spec"]["proxy"].items())), []).append(k)
        for group in by_recipe.values():
            for i in range(0, len(group), 16):
                chunk = group[i : i + 16]
                cfg = ProxyConfig(**self.cache.get(chunk[0])["spec"]["proxy"])
                scores = score_states(cfg, [self.cache.state(k) for k in chunk], self.slices, self.device)
                for k, sc in zip(chunk, scores):
                    rec = self.cache.get(k)
                    rec.setdefault("scores", {}).update(sc)
                    self.cache.put(k, rec, None)
        return len(missing)
