"""Distributed connected components over duplicate edges: alternating large-star / small-star rounds.

The algorithm is the one of Kiveris et al., "Connected Components in MapReduce and Beyond" (SoCC 2014): each
round is one shuffle, hash-partitioned by node, so no task ever holds more than its partition of the edges.
Large-star links every node's larger neighbours to the smallest node of its neighbourhood; small-star links a
node and its smaller neighbours to the smallest of them. The graph converges to one star per component,
centred on the component's smallest node, in O(log² n) rounds (a handful on dedup graphs).

Files: `<cc>/r<round>/q<part>/*.parquet` hold a round's input edges (columns k, v: node k's partition holds
the row); labels end up in `<labels>/u<unit>/q<part>.parquet` (columns gid, root).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

from winnow.filters.dedup.common import partition_of, peak_rss_mb, read_dir, split_rows, write_state
from winnow.pipeline import storage

MAX_ROUNDS = 200  # a safeguard; dedup graphs converge in well under 20


def round_dir(cc_dir: str, r: int) -> str:
    return storage.join(cc_dir, f"r{r:03d}")


def unique_pairs(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct (a, b) pairs, sorted by a then b."""
    if len(a) == 0:
        return a, b
    if a.min() >= 0 and b.min() >= 0 and max(a.max(), b.max()) < 1 << 31:
        # both fit in 31 bits (any run under two billion documents): one sort of a packed key, not two
        packed = np.unique((a.astype(np.int64) << 32) | b.astype(np.int64))
        return (packed >> 32).astype(a.dtype), (packed & 0xFFFFFFFF).astype(b.dtype)
    order = np.lexsort((b, a))
    a, b = a[order], b[order]
    keep = np.concatenate([[True], (a[1:] != a[:-1]) | (b[1:] != b[:-1])])
    return a[keep], b[keep]


def write_edges(cc_dir: str, r: int, name: str, k: np.ndarray, v: np.ndarray, n_parts: int, both: bool) -> int:
    """Write edges as round r's input: keyed by k (or, with `both`, once keyed by each endpoint)."""
    if both:
        k, v = np.concatenate([k, v]), np.concatenate([v, k])
    if len(k) == 0:
        return 0
    table = pa.table({"k": pa.array(k, pa.int64()), "v": pa.array(v, pa.int64())})
    for q, part in split_rows(table, partition_of(k, n_parts)):
        write_state(storage.join(round_dir(cc_dir, r), f"q{q:04d}", f"{name}.parquet"), part)
    return len(k)


def _read_round(cc_dir: str, r: int, q: int) -> tuple[np.ndarray, np.ndarray]:
    t = read_dir(storage.join(round_dir(cc_dir, r), f"q{q:04d}"))
    if t is None:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    k, v = t["k"].to_numpy(), t["v"].to_numpy()
    loops = k != v
    return unique_pairs(k[loops], v[loops])


def _groups(k: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start index and size of each run of equal keys in a sorted array."""
    starts = np.concatenate([[0], np.flatnonzero(k[1:] != k[:-1]) + 1])
    return starts, np.diff(np.concatenate([starts, [len(k)]]))


def large_star_task(cc_dir: str, r: int, q: int, n_parts: int) -> dict[str, Any]:
    """Input: both directions of every edge. Also reports whether this partition is already a set of stars."""
    k, v = _read_round(cc_dir, r, q)
    if len(k) == 0:
        return {"settled": True, "edges": 0, "peak_rss_mb": peak_rss_mb()}
    starts, sizes = _groups(k)
    keys = k[starts]
    m = np.minimum(np.minimum.reduceat(v, starts), keys)
    smaller = np.add.reduceat((v < k).astype(np.int64), starts)
    # settled: a root (no smaller neighbour) or a leaf whose one neighbour is smaller
    settled = bool(np.all((smaller == 0) | ((sizes == 1) & (smaller == 1))))
    m_row = np.repeat(m, sizes)
    up = v > k
    # small-star reads each edge at its larger endpoint
    n = write_edges(cc_dir, r + 1, f"from{q:04d}", v[up], m_row[up], n_parts, both=False)
    return {"settled": settled, "edges": n, "peak_rss_mb": peak_rss_mb()}


def small_star_task(cc_dir: str, r: int, q: int, n_parts: int) -> dict[str, Any]:
    """Input: each edge once, at its larger endpoint k (v < k)."""
    k, v = _read_round(cc_dir, r, q)
    if len(k) == 0:
        return {"edges": 0, "peak_rss_mb": peak_rss_mb()}
    starts, sizes = _groups(k)
    keys = k[starts]
    m = np.minimum.reduceat(v, starts)
    m_row = np.repeat(m, sizes)
    # every smaller neighbour, and k itself, is linked to m
    a = np.concatenate([v, keys])
    b = np.concatenate([m_row, m])
    diff = a != b
    a, b = unique_pairs(a[diff], b[diff])
    n = write_edges(cc_dir, r + 1, f"from{q:04d}", a, b, n_parts, both=True)
    return {"edges": n, "peak_rss_mb": peak_rss_mb()}


def label_task(cc_dir: str, r: int, q: int, labels_dir: str, offsets: list[int], unit_keys: list[str]) -> dict:
    """On the converged stars: every node's root is its smaller neighbour, or itself. Written per unit."""
    k, v = _read_round(cc_dir, r, q)
    if len(k) == 0:
        return {"nodes": 0, "peak_rss_mb": peak_rss_mb()}
    starts, _ = _groups(k)
    keys = k[starts]
    root = np.minimum(np.minimum.reduceat(v, starts), keys)
    unit_idx = np.searchsorted(np.asarray(offsets, np.int64), keys, side="right") - 1
    table = pa.table({"gid": pa.array(keys, pa.int64()), "root": pa.array(root, pa.int64())})
    for u, part in split_rows(table, unit_idx):
        write_state(storage.join(labels_dir, f"u{unit_keys[u]}", f"q{q:04d}.parquet"), part)
    return {"nodes": len(keys), "peak_rss_mb": peak_rss_mb()}


def connected_components(
    corpus, cc_dir: str, n_parts: int, labels_dir: str, offsets: list[int], unit_keys: list[str]
) -> dict[str, Any]:
    """Run rounds over the edges in round 0 (written with `write_edges(..., both=True)`) until they are stars."""
    peak = 0.0
    r = 0
    while True:
        res = corpus.map_items(large_star_task, [(cc_dir, r, q, n_parts) for q in range(n_parts)])
        peak = max([peak] + [x["peak_rss_mb"] for x in res])
        if all(x["settled"] for x in res):
            storage.delete_dir(round_dir(cc_dir, r + 1))  # what this last large-star wrote is not needed
            break
        if r > 0:
            storage.delete_dir(round_dir(cc_dir, r - 1))  # spilled rounds are dropped once read
        r += 1
        res = corpus.map_items(small_star_task, [(cc_dir, r, q, n_parts) for q in range(n_parts)])
        peak = max([peak] + [x["peak_rss_mb"] for x in res])
        storage.delete_dir(round_dir(cc_dir, r - 1))
        r += 1
        if r > MAX_ROUNDS:
            raise RuntimeError(f"connected components did not converge in {MAX_ROUNDS} rounds")
    labels = corpus.map_items(label_task, [(cc_dir, r, q, labels_dir, offsets, unit_keys) for q in range(n_parts)])
    peak = max([peak] + [x["peak_rss_mb"] for x in labels])
    return {"rounds": r + 1, "nodes": sum(x["nodes"] for x in labels), "peak_rss_mb": peak}
