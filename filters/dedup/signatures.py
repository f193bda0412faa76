"""MinHash signatures for a batch of texts: word k-shingles hashed in numpy, signatures from rensa, LSH band keys.

The shingle of k words is a rolling polynomial over 64-bit word hashes, so no shingle string is ever built;
rensa turns the flat shingle-hash buffer into a signature matrix in one call. Signature agreement with
datasketch (same shingles, different hash family) is checked in tests/filters/test_dedup_minhash.py.
"""

from __future__ import annotations

import re
from itertools import chain

import numpy as np
import rensa

from winnow.filters.dedup.common import mix64

# Scripts written without spaces (Han, kana) count one character as one word, so a Chinese page is not
# a single giant token; everything else splits on non-word characters.
_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
WORD = re.compile(rf"[{_CJK}]|[^\W{_CJK}]+")
_SHINGLE_MULT = np.uint64(0x100000001B3)  # FNV prime: odd, so the rolling product never collapses


def tokenize(text: str, max_chars: int) -> list[str]:
    """Lower-cased word tokens of the first `max_chars` characters (the documented cap for very long texts)."""
    return WORD.findall(text[:max_chars].lower())


def word_hashes(token_lists: list[list[str]]) -> tuple[np.ndarray, np.ndarray]:
    """All words of a batch as one flat uint64 array (rensa's stable token hash), plus each document's word count."""
    lens = np.fromiter((len(t) for t in token_lists), dtype=np.int64, count=len(token_lists))
    if lens.sum() == 0:
        return np.zeros(0, np.uint64), lens
    hashed = rensa.RMinHash.hash_token_sets(token_lists)
    return np.fromiter(chain.from_iterable(hashed), dtype=np.uint64, count=int(lens.sum())), lens


def shingle_hashes(words: np.ndarray, lens: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Hashes of every run of k consecutive words inside each document, and each document's shingle count.

    A document shorter than k words has no shingle (count 0); callers keep such documents out of the index.
    """
    counts = np.where(lens >= k, lens - k + 1, 0)
    total = int(counts.sum())
    if total == 0:
        return np.zeros(0, np.uint64), counts
    n = len(words)
    rolled = np.zeros(n - k + 1, np.uint64)
    with np.errstate(over="ignore"):
        for j in range(k):
            rolled = rolled * _SHINGLE_MULT + words[j : n - k + 1 + j]
    starts = np.concatenate([[0], np.cumsum(lens)[:-1]])
    # position of shingle i of document d: start of d + i; rolled windows crossing documents are never picked
    pos = np.repeat(starts, counts) + (np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts))
    return mix64(rolled[pos]), counts


def signatures(shingles: np.ndarray, counts: np.ndarray, num_perm: int, seed: int) -> np.ndarray:
    """MinHash signature matrix (documents × num_perm, uint32) from flat shingle hashes."""
    if len(counts) == 0:
        return np.zeros((0, num_perm), np.uint32)
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.uint64)
    matrix = rensa.RMinHash.digest_matrix_from_flat_token_hashes(shingles, offsets, num_perm, seed)
    return np.asarray(matrix.to_rows(), dtype=np.uint32).reshape(len(counts), num_perm)


def band_keys(sig: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """One 64-bit key per (document, band): equal keys mean equal band slices (up to 2^-64 collisions)."""
    n = sig.shape[0]
    keys = np.empty((n, bands), np.uint64)
    wide = sig.astype(np.uint64)
    with np.errstate(over="ignore"):
        for b in range(bands):
            acc = np.full(n, np.uint64(b + 1))
            for j in range(b * rows, (b + 1) * rows):
                acc = acc * _SHINGLE_MULT + wide[:, j]
            keys[:, b] = mix64(acc)
    return keys


def text_signatures(
    texts: list[str], k: int, num_perm: int, seed: int, max_chars: int
) -> tuple[np.ndarray, np.ndarray]:
    """Signatures of a list of texts and their word counts (callers drop texts too short to compare)."""
    words, lens = word_hashes([tokenize(t, max_chars) for t in texts])
    shingles, counts = shingle_hashes(words, lens, k)
    return signatures(shingles, counts, num_perm, seed), lens
