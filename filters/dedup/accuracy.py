"""Measuring fuzzy dedup: plant near-duplicates of real documents, compute the true clusters by exact Jaccard,
and score predicted clusters by pairwise precision and recall. Used by the tests and bench/dedup.py.

Truth: two documents are duplicates when the exact Jaccard similarity of their word-shingle sets is at least
the threshold; true clusters are the connected components of that relation. `true_clusters` uses the stage's
own tokens and shingles (for testing the estimate), `neutral_clusters` plain whitespace words (for comparing
systems). A pair counts as predicted when both documents share a predicted cluster.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterable

import numpy as np

from winnow.filters.dedup.signatures import shingle_hashes, word_hashes

BOILERPLATE_HEAD = "Home | News | Sport | Weather | About us | Contact | Subscribe to our newsletter | Sign in"
BOILERPLATE_FOOT = "We use cookies to improve your experience. By continuing you accept our privacy policy. © 2024"


def _edit(words: list[str], rng: random.Random, rate: float) -> list[str]:
    out = list(words)
    for _ in range(max(1, int(len(out) * rate))):
        i = rng.randrange(len(out))
        if rng.random() < 0.5:
            out[i] = rng.choice(words)
        else:
            del out[i]
            if not out:
                return words
    return out


def make_variant(text: str, donor: str, rng: random.Random) -> tuple[str, str]:
    """One near-duplicate of `text` and the kind of change: edits, insertion, reordering or boilerplate."""
    kind = rng.choice(["edits", "insertion", "reorder", "boilerplate"])
    if kind == "edits":
        return " ".join(_edit(text.split(" "), rng, 0.02)), kind
    if kind == "insertion":
        words = text.split(" ")
        extra = donor.split(" ")[: max(3, len(words) // 30)]
        at = rng.randrange(len(words) + 1)
        return " ".join(words[:at] + extra + words[at:]), kind
    if kind == "reorder":
        paras = [p for p in text.split("\n") if p.strip()]
        if len(paras) < 3:
            sentences = text.split(". ")
            rng.shuffle(sentences)
            return ". ".join(sentences), kind
        rng.shuffle(paras)
        return "\n".join(paras), kind
    return f"{BOILERPLATE_HEAD}\n{text}\n{BOILERPLATE_FOOT}", kind


def plant_near_duplicates(texts: list[str], n_docs: int, dup_fraction: float = 0.3, seed: int = 0) -> list[dict]:
    """`n_docs` records {id, text, origin, kind}: real texts plus planted variants of some of them."""
    rng = random.Random(seed)
    out: list[dict] = []
    pool = [t for t in texts if len(t.split()) >= 50]
    i = 0
    while len(out) < n_docs:
        base = pool[i % len(pool)]
        origin = f"o{i:06d}"
        text = base if i < len(pool) else " ".join(_edit(base.split(" "), rng, 0.3))  # reuse: diverge first
        out.append({"id": f"{origin}-0", "text": text, "origin": origin, "kind": "original"})
        if rng.random() < dup_fraction:
            for v in range(rng.randint(1, 3)):
                if len(out) >= n_docs:
                    break
                variant, kind = make_variant(text, pool[rng.randrange(len(pool))], rng)
                out.append({"id": f"{origin}-{v + 1}", "text": variant, "origin": origin, "kind": kind})
        i += 1
    return out


def _jaccard_components(rows: np.ndarray, cols: np.ndarray, n: int, threshold: float) -> np.ndarray:
    """Connected components of exact Jaccard ≥ threshold between n sets given as (set, element) pairs."""
    from scipy import sparse
    from scipy.sparse.csgraph import connected_components

    cols = np.unique(cols, return_inverse=True)[1]
    x = sparse.csr_matrix(
        (np.ones(len(cols), np.float32), (rows, cols)), shape=(n, cols.max() + 1 if len(cols) else 1)
    )
    x.sum_duplicates()
    x.data[:] = 1.0  # a set, not a multiset
    sizes = np.asarray(x.sum(axis=1)).ravel()
    inter = sparse.triu(x @ x.T, k=1).tocoo()
    union = sizes[inter.row] + sizes[inter.col] - inter.data
    similar = (inter.data / np.maximum(union, 1)) >= threshold
    graph = sparse.coo_matrix((np.ones(similar.sum()), (inter.row[similar], inter.col[similar])), shape=(n, n))
    return connected_components(graph, directed=False)[1]


def true_clusters(texts: list[str], threshold: float, k: int = 5, max_chars: int = 1_000_000) -> np.ndarray:
    """Cluster label per text: connected components of exact Jaccard ≥ threshold over the stage's own k-word
    shingles (measures the MinHash estimate and LSH alone, not the choice of tokens)."""
    words, lens = word_hashes(texts, max_chars)
    shingles, counts = shingle_hashes(words, lens, k)
    return _jaccard_components(np.repeat(np.arange(len(texts)), counts), shingles, len(texts), threshold)


def neutral_clusters(texts: list[str], threshold: float, k: int = 5) -> np.ndarray:
    """Cluster label per text by a definition no dedup system under test uses: plain lower-cased
    whitespace-separated words, k-gram sets, exact Jaccard ≥ threshold, connected components."""
    ids: dict[str, int] = {}
    rows: list[int] = []
    cols: list[int] = []
    for i, text in enumerate(texts):
        words = text.lower().split()
        grams = {" ".join(words[j : j + k]) for j in range(len(words) - k + 1)}
        rows += [i] * len(grams)
        cols += [ids.setdefault(g, len(ids)) for g in grams]
    return _jaccard_components(np.array(rows, np.int64), np.array(cols, np.int64), len(texts), threshold)


def _pairs(counts: Iterable[int]) -> int:
    return sum(c * (c - 1) // 2 for c in counts)


def pairwise_scores(truth: list, predicted: list) -> dict[str, float]:
    """Pairwise precision, recall and F1 of a predicted clustering against the true one (any hashable labels)."""
    both = _pairs(Counter(zip(truth, predicted)).values())
    t, p = _pairs(Counter(truth).values()), _pairs(Counter(predicted).values())
    precision = both / p if p else 1.0
    recall = both / t if t else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "true_pairs": t, "predicted_pairs": p}
