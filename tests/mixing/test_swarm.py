"""The swarm's data schedule (weights honoured, repetition counted) and its cache (nothing trained twice)."""

from __future__ import annotations

import numpy as np
import pytest

from winnow.mixing.swarm import allocate, batch_fn, epochs_used


def test_allocate_sums_exactly_and_follows_weights():
    counts = allocate({"a": 0.5, "b": 0.3, "c": 0.2}, 101)
    assert sum(counts.values()) == 101
    assert counts == {"a": 51, "b": 30, "c": 20}  # 50.5, 30.3, 20.2: the largest remainder gets the spare one


def test_batches_follow_the_mixture_and_are_deterministic():
    pools = {"a": np.zeros(10_000, dtype=np.uint16), "b": np.ones(500, dtype=np.uint16)}
    spec = {"mixture": {"a": 0.75, "b": 0.25}, "seed": 3}
    fn = batch_fn(spec, pools, batch_size=8, seq_len=16, steps=20)
    batches = np.stack([fn(i) for i in range(20)])
    assert batches.shape == (20, 8, 17)
    rows_b = (batches[:, :, 0] == 1).sum()
    assert rows_b == 40  # exactly 25% of 160 sequences
    again = batch_fn(spec, pools, 8, 16, 20)
    assert np.array_equal(again(5), batches[5])
    # Another seed reads the windows in another order.
    pools = {"a": np.arange(10_000, dtype=np.uint16) % 7 * 2, "b": np.arange(500, dtype=np.uint16) % 5 * 2 + 1}
    first = batch_fn(spec, pools, 8, 16, 20)
    other = batch_fn({**spec, "seed": 4}, pools, 8, 16, 20)
    assert not np.array_equal(np.stack([other(i) for i in range(20)]), np.stack([first(i) for i in range(20)]))


def test_each_epoch_reads_every_window_once():
    pool = np.arange(16 * 10 + 1, dtype=np.uint32)  # exactly 10 windows of 16 (+1) tokens
    spec = {"mixture": {"a": 1.0}, "seed": 0}
    fn = batch_fn(spec, {"a": pool}, batch_size=5, seq_len=16, steps=4)  # 20 sequences = 2 epochs
    starts = np.concatenate([fn(i)[:, 0] for i in range(4)])
    assert sorted(starts[:10]) == list(range(0, 160, 16))
    assert sorted(starts[10:]) == list(range(0, 160, 16))
    assert epochs_used(spec, {"a": len(pool)}, 5, 16, 4) == {"a": pytest.approx(2.0)}


def test_even_interleave_gives_every_batch_the_mixture():
    pools = {"a": np.zeros(10_000, dtype=np.uint16), "b": np.ones(5_000, dtype=np.uint16)}
    spec = {"mixture": {"a": 0.75, "b": 0.25}, "seed": 3, "proxy": {"interleave": "even"}}
    fn = batch_fn(spec, pools, batch_size=8, seq_len=16, steps=20)
    per_batch = [(fn(i)[:, 0] == 1).sum() for i in range(20)]
    assert per_batch == [2] * 20  # 25 % of every batch, not just of the run


def test_random_interleave_varies_batch_composition():
    pools = {"a": np.zeros(10_000, dtype=np.uint16), "b": np.ones(5_000, dtype=np.uint16)}
    spec = {"mixture": {"a": 0.75, "b": 0.25}, "seed": 3, "proxy": {"interleave": "random"}}
    fn = batch_fn(spec, pools, batch_size=8, seq_len=16, steps=20)
    per_batch = [(fn(i)[:, 0] == 1).sum() for i in range(20)]
    assert sum(per_batch) == 40 and len(set(per_batch)) > 1


@pytest.mark.parametrize("counts", [[3, 0, 7], [1, 1], [50, 13, 1]])
def test_interleave_keeps_exact_counts(counts):
    from winnow.mixing.swarm import interleave

    order = interleave(counts, "even", np.random.default_rng(0))
    assert np.bincount(order, minlength=len(counts)).tolist() == counts
