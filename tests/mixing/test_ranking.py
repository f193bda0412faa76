"""Proxies trained on real text rank mixtures: more of the target's own domain, lower target loss."""

from __future__ import annotations

import numpy as np

from winnow.mixing.config import MixConfig
from winnow.mixing.data import prepare
from winnow.mixing.regression import spearman
from winnow.mixing.swarm import make_spec, train_pack
from tests.mixing.conftest import TINY_PROXY, tiny_config, write_run_dir


def test_target_loss_falls_as_its_domain_gains_weight(shared_data, tmp_path):
    run = write_run_dir(shared_data / "domains", tmp_path / "run", ["wiki", "code"], 120, 3000)
    cfg = MixConfig(**tiny_config(run, tmp_path / "mix", targets=[{"domain": "wiki"}]))
    data = prepare(cfg)
    proxy = {**TINY_PROXY, "lr": 1e-3, "interleave": "even", "vocab_size": data.tokenizer.vocab_size}
    wiki = np.array([0.05, 0.2, 0.4, 0.6, 0.8, 0.95])
    mixtures = np.stack([1 - wiki, wiki], axis=1)  # domains are sorted: code, wiki
    assert data.domains == ["code", "wiki"]
    specs = [make_spec(m, data.domains, data.pool_fingerprints, proxy, 40_000, seed=0) for m in mixtures]
    pools = {d: np.asarray(p.tokens) for d, p in data.pools.items()}
    targets = {t.name: t.tokens for t in data.targets}
    losses = [r["losses"]["wiki"] for r in train_pack(specs, pools, targets, "cpu", 1)]
    # Six mixtures: at most one neighbouring pair may swap (ρ = 1 for a perfect ranking, 0.943 for one swap).
    assert spearman(wiki, -np.array(losses)) >= 0.94, losses
