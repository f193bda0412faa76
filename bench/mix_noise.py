"""How noisy are proxy losses, and how well do they rank mixtures, under different training schedules?

A swarm's regression can only rank mixtures as well as the proxies' losses separate them, so this measures,
for each variant of the proxy recipe, on the same pools and targets:

- jitter: the spread of the target loss over mixtures that differ by ~0.3 % per domain (same seed) — noise that
  no regression can explain;
- seed spread: the spread over 3 seeds of one mixture (what validation must see past);
- held-out Spearman of the log-linear regression on a swarm of Dirichlet mixtures.

The peer is the recipe Winnow shipped before (random domain order, lr 3e-3). The recipe is chosen on the tune
split: ../shared/data/domains' forum_qa, books and docs pools, target forum_qa (none of them is a demo pool, whose
wiki target the demo's figures score); `--config` measures the same on a mix config's own pools (run `winnow run`
first for the demo's):

    python bench/mix_noise.py --tune-domains forum_qa,books,docs --target forum_qa [--mixtures 24] [--jitter 8]
    python bench/mix_noise.py --config configs/mixing.yaml
"""

from __future__ import annotations

import argparse
import time
from multiprocessing import get_context

import numpy as np

VARIANTS = {  # name → proxy overrides
    "random order, lr 3e-3 (before)": {"interleave": "random", "lr": 3e-3},
    "even order, lr 3e-3": {"interleave": "even", "lr": 3e-3},
    "random order, lr 1e-3": {"interleave": "random", "lr": 1e-3},
    "even order, lr 1e-3 (default)": {"interleave": "even", "lr": 1e-3},
}


def _train(args: tuple) -> float:
    from winnow.mixing.swarm import train_pack

    spec, pools, targets = args
    rec = train_pack([spec], pools, targets, "cpu", 1)[0]
    return float(np.mean(list(rec["losses"].values())))


def _on_domains(cfg, domains: list[str], target: str, out: str):
    """The mix config's swarm and proxy settings on other pools: some of ../shared/data/domains, one as the target."""
    from pathlib import Path

    from mix_domains import SHARED, fake_run

    from winnow.mixing.config import MixConfig

    run = fake_run(SHARED / "domains", Path(out) / "run", set(domains))
    return MixConfig(**{**cfg.model_dump(), "documents": str(run), "output": f"{out}/mix", "cache_dir": f"{out}/cache",
                        "targets": [{"domain": target}]})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default="configs/mixing.yaml")
    ap.add_argument("--mixtures", type=int, default=24)
    ap.add_argument("--jitter", type=int, default=8, help="mixtures near the uniform one")
    ap.add_argument("--tune-domains", default="", help="domains of ../shared/data/domains to measure on instead")
    ap.add_argument("--target", default="forum_qa", help="with --tune-domains: the target domain")
    ap.add_argument("--out", default="/tmp/winnow-bench-mix-noise", help="with --tune-domains: where the pools go")
    ap.add_argument("--variants", default=",".join(str(i) for i in range(len(VARIANTS))), help="indices into VARIANTS")
    args = ap.parse_args()

    from winnow.mixing import regression
    from winnow.mixing.config import load_mix_config
    from winnow.mixing.data import prepare
    from winnow.mixing.job import _bounds
    from winnow.mixing.simplex import natural, project, sample_dirichlet
    from winnow.mixing.swarm import make_spec

    cfg = load_mix_config(args.config)
    if args.tune_domains:
        cfg = _on_domains(cfg, args.tune_domains.split(","), args.target, args.out)
    data = prepare(cfg)
    bounds = _bounds(cfg, data)
    k = len(data.domains)
    prior = (1 - cfg.swarm.prior_smoothing) * natural(data.num_tokens(), data.domains) + cfg.swarm.prior_smoothing / k
    swarm = sample_dirichlet(np.random.default_rng(0), args.mixtures, prior, tuple(cfg.swarm.concentration), bounds)
    uniform = project(np.full(k, 1 / k), bounds)[0]
    jitter = project(uniform + np.random.default_rng(1).normal(0, 0.003, (args.jitter, k)), bounds)
    pools = {d: np.asarray(p.tokens) for d, p in data.pools.items()}
    targets = {t.name: t.tokens for t in data.targets}
    tokens = cfg.swarm.tokens_per_proxy
    print(f"{args.config}: {k} domains, {tokens:,} tokens per proxy, {args.mixtures} swarm + {args.jitter} jitter "
          f"+ 3 seed runs per variant")
    print(f"{'variant':<34} {'jitter std':>10} {'seed std':>9} {'swarm std':>9} {'Spearman':>9} {'mean loss':>9} {'s':>5}")
    names = list(VARIANTS)
    for i in map(int, args.variants.split(",")):
        name = names[i]
        proxy = {**cfg.proxy.model_dump(), "vocab_size": data.tokenizer.vocab_size, **VARIANTS[name]}

        def spec(m: np.ndarray, seed: int = 0) -> dict:
            return make_spec(m, data.domains, data.pool_fingerprints, proxy, tokens, seed)

        specs = [spec(m) for m in swarm] + [spec(m) for m in jitter] + [spec(uniform, s) for s in (1, 2, 3)]
        t = time.perf_counter()
        with get_context("spawn").Pool(cfg.engine.num_cpus or 2) as pool:
            y = np.array(pool.map(_train, [(s, pools, targets) for s in specs], chunksize=1))
        ys, yj, yseed = y[: args.mixtures], y[args.mixtures : args.mixtures + args.jitter], y[-3:]
        rho = regression.spearman(regression.heldout_predictions("loglinear", swarm, ys, cfg.regression.folds), ys)
        print(f"{name:<34} {yj.std(ddof=1):>10.4f} {yseed.std(ddof=1):>9.4f} {ys.std(ddof=1):>9.4f} {rho:>9.3f} "
              f"{ys.mean():>9.3f} {time.perf_counter() - t:>5.0f}", flush=True)


if __name__ == "__main__":
    main()
