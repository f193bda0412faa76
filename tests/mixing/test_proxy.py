"""The packed proxy trainer: packing changes nothing about each model, training lowers loss, weights round-trip."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from winnow.mixing.proxy import PackedGPT, ProxyConfig, eval_windows, evaluate, train_packed

CFG = ProxyConfig(vocab_size=64, seq_len=16, n_layer=1, n_head=2, n_embd=16, batch_size=4, warmup_steps=2, lr=3e-3,
                  eval_tokens=256)


def _data(seed: int) -> np.ndarray:
    # A learnable stream: a repeating pattern with a little noise.
    rng = np.random.default_rng(seed)
    base = np.tile(np.arange(0, 40, 3) % 64, 400)
    noise = rng.random(len(base)) < 0.05
    return np.where(noise, rng.integers(0, 64, len(base)), base)


def _fn(data: np.ndarray, seed: int):
    def fn(step: int) -> np.ndarray:
        rng = np.random.default_rng(seed * 1000 + step)
        starts = rng.integers(0, len(data) - CFG.seq_len - 1, CFG.batch_size)
        return data[starts[:, None] + np.arange(CFG.seq_len + 1)]
    return fn


def test_packed_models_match_models_trained_alone():
    torch.set_num_threads(1)
    a, b = _data(0), _data(1)
    targets = {"t": _data(2)[:300]}
    packed = train_packed(CFG, [_fn(a, 0), _fn(b, 1)], 12, [7, 8], targets)
    alone_a = train_packed(CFG, [_fn(a, 0)], 12, [7], targets)[0]
    alone_b = train_packed(CFG, [_fn(b, 1)], 12, [8], targets)[0]
    assert packed[0]["losses"]["t"] == pytest.approx(alone_a["losses"]["t"], abs=1e-4)
    assert packed[1]["losses"]["t"] == pytest.approx(alone_b["losses"]["t"], abs=1e-4)
    assert packed[0]["losses"]["t"] != pytest.approx(packed[1]["losses"]["t"], abs=1e-4)


def test_training_lowers_target_loss():
    torch.set_num_threads(1)
    targets = {"t": _data(3)[:300]}
    untrained = evaluate(PackedGPT(CFG, 1, [0]), targets)[0]["t"]
    trained = train_packed(CFG, [_fn(_data(0), 0)], 60, [0], targets)[0]["losses"]["t"]
    assert untrained == pytest.approx(np.log(64), abs=0.3)
    assert trained < untrained - 1.0


def test_saved_weights_score_the_same():
    torch.set_num_threads(1)
    targets = {"t": _data(4)[:300]}
    rec = train_packed(CFG, [_fn(_data(0), 0)], 5, [3], targets)[0]
    reloaded = PackedGPT.from_states(CFG, [rec["state"], rec["state"]])
    scores = evaluate(reloaded, targets)
    assert scores[0]["t"] == pytest.approx(rec["losses"]["t"], abs=5e-3)  # float16 storage
    assert scores[0]["t"] == pytest.approx(scores[1]["t"], abs=1e-6)


def test_eval_windows_are_fixed_and_need_enough_tokens():
    w = eval_windows(np.arange(100), 16, 64)
    assert w.shape == (4, 17) and w[1, 0] == 16 and w[1, -1] == 32
    with pytest.raises(ValueError, match="at least 17 tokens"):
        eval_windows(np.arange(10), 16, 64)
