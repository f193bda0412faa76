"""MinHash signatures for a batch of texts: word hashes and k-shingles in numpy, signatures from rensa, LSH band keys.

Words are hashed without building a Python string per word: a batch of texts becomes one array of code points,
each code point is classed (separator, word character, CJK character), and every word's hash is a polynomial
over its code points taken from a running sum. The shingle of k words is a rolling polynomial over the word
hashes, so no shingle string is built either; rensa turns the flat shingle-hash buffer into a signature matrix
in one call. `tokenize` is the same word definition as a regular expression: the reference the arrays are
tested against. Signature agreement with datasketch (same shingles, different hash family) is checked in
tests/filters/test_dedup_minhash.py.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from itertools import chain

import numpy as np
import rensa

from winnow.filters.dedup.common import mix64

# Scripts written without spaces (Han, kana) count one character as one word, so a Chinese page is not
# a single giant token; everything else splits on non-word characters (re's \w: str.isalnum() or "_", so
# letters and digits but not combining marks).
_CJK_RANGES = ((0x3040, 0x30FF), (0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xF900, 0xFAFF))
_CJK = "".join(f"{chr(a)}-{chr(b)}" for a, b in _CJK_RANGES)
WORD = re.compile(rf"[{_CJK}]|[^\W{_CJK}]+")
_WORD_CHAR = re.compile(r"\w")
SEPARATOR, LETTER, CJK = 0, 1, 2  # code point classes
_SHINGLE_MULT = np.uint64(0x100000001B3)  # FNV prime: odd, so the rolling product never collapses
_CHAR_MULT = 0x9E3779B97F4A7C15  # odd, so it has an inverse modulo 2^64 (the running sum below needs it)
_CHAR_MULT_INV = pow(_CHAR_MULT, -1, 1 << 64)
# Code points per array pass: 8 MB uint64 arrays, which the allocator reuses from pass to pass. Fresh
# allocations of hundreds of MB cost more in page faults on these machines than the arithmetic on them.
_CHUNK_CHARS = 1 << 20


def tokenize(text: str, max_chars: int) -> list[str]:
    """Lower-cased word tokens of the first `max_chars` characters (the documented cap for very long texts)."""
    return WORD.findall(text[:max_chars].lower())


@functools.cache
def _bmp_classes() -> np.ndarray:
    """The class of every code point below 0x10000, from re's own \\w (so the arrays and `tokenize` agree)."""
    words = re.sub(r"\W", "\0", "".join(map(chr, range(0x10000))))  # "\0" is itself \W, so it stays 0
    classes = (np.frombuffer(words.encode("utf-32-le"), np.uint32) != 0).astype(np.uint8)
    for a, b in _CJK_RANGES:
        classes[a : b + 1] = CJK
    return classes


@functools.cache
def _powers(base: int, n: int) -> np.ndarray:
    out = np.full(n, base, np.uint64)
    out[0] = 1
    return np.cumprod(out, dtype=np.uint64)  # wraps modulo 2^64, as intended


def _classes(cps: np.ndarray) -> np.ndarray:
    table = _bmp_classes()
    if cps.max() < len(table):
        return np.take(table, cps.view(np.int32))
    astral = cps >= len(table)
    out = np.take(table, np.where(astral, 0, cps).view(np.int32))
    rare, where = np.unique(cps[astral], return_inverse=True)  # emoji, historic scripts, CJK extension B
    out[astral] = np.array([LETTER if _WORD_CHAR.match(chr(c)) else SEPARATOR for c in rare.tolist()], np.uint8)[where]
    return out


def _chunk_word_hashes(lowered: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Word hashes of a few lower-cased texts (at most about _CHUNK_CHARS in all) and each text's word count."""
    cps = np.frombuffer("\0".join(lowered).encode("utf-32-le", "surrogatepass"), np.uint32)
    n = len(cps)
    if n == 0:
        return np.zeros(0, np.uint64), np.zeros(len(lowered), np.int64)
    cls = _classes(cps)
    letter, cjk = cls == LETTER, cls == CJK
    start, end = cjk.copy(), cjk
    start[0] |= letter[0]
    start[1:] |= letter[1:] & ~letter[:-1]
    end[-1] |= letter[-1]
    end[:-1] |= letter[:-1] & ~letter[1:]
    starts, ends = np.flatnonzero(start), np.flatnonzero(end)
    # hash(word at s..e) = sum of cp[j] * M^(e - j) = M^e * (sum of cp[j] * M^-j over s..e), all modulo 2^64:
    # one running sum over the chunk gives every word's hash from two look-ups.
    size = _pow_len(n)
    running = np.zeros(n + 1, np.uint64)
    with np.errstate(over="ignore"):
        np.cumsum(cps * _powers(_CHAR_MULT_INV, size)[:n], out=running[1:])
        hashes = _powers(_CHAR_MULT, size)[ends] * (running[ends + 1] - running[starts])
    # words per text: where each text's end falls among the sorted word starts (few texts, many words)
    doc_ends = np.cumsum([len(t) + 1 for t in lowered])
    return mix64(hashes), np.diff(np.searchsorted(starts, doc_ends), prepend=0)


def _pow_len(n: int) -> int:
    return max(_CHUNK_CHARS, 1 << (n - 1).bit_length())  # few distinct sizes, so the power tables stay cached


def _chunks(texts: list[str], max_chars: int) -> Iterator[list[str]]:
    """The texts cut to max_chars and lower-cased, in runs of about _CHUNK_CHARS characters."""
    chunk: list[str] = []
    size = 0
    for text in texts:
        lowered = text[:max_chars].lower()
        if chunk and size + len(lowered) > _CHUNK_CHARS:
            yield chunk
            chunk, size = [], 0
        chunk.append(lowered)
        size += len(lowered) + 1
    if chunk:
        yield chunk


def word_hashes(texts: list[str], max_chars: int) -> tuple[np.ndarray, np.ndarray]:
    """Every word of a batch (as `tokenize` splits it) as one flat uint64 array of hashes, and each text's word
    count. Equal words have equal hashes; distinct words collide only by chance (64 bits)."""
    parts = [_chunk_word_hashes(chunk) for chunk in _chunks(texts, max_chars)]
    hashes = np.concatenate([np.zeros(0, np.uint64)] + [h for h, _ in parts])
    return hashes, np.concatenate([np.zeros(0, np.int64)] + [n for _, n in parts]).astype(np.int64)


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
            rolled *= _SHINGLE_MULT
            rolled += words[j : n - k + 1 + j]
    # the window starting at p crosses into the next document when a document ends inside it: p in [e-k+1, e-1]
    crossing = (np.cumsum(lens)[:, None] - np.arange(1, k)[None, :]).ravel()
    inside = np.ones(n - k + 1, bool)
    inside[crossing[(crossing >= 0) & (crossing < len(inside))]] = False
    return mix64(rolled[inside]), counts


def signatures(shingles: np.ndarray, counts: np.ndarray, num_perm: int, seed: int) -> np.ndarray:
    """MinHash signature matrix (documents × num_perm, uint32) from flat shingle hashes."""
    if len(counts) == 0:
        return np.zeros((0, num_perm), np.uint32)
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.uint64)
    matrix = rensa.RMinHash.digest_matrix_from_flat_token_hashes(shingles, offsets, num_perm, seed)
    # the matrix only comes out as lists of ints; flattening them in one pass is the cheapest way back to numpy
    flat = np.fromiter(chain.from_iterable(matrix.to_rows()), np.uint32, count=len(counts) * num_perm)
    return flat.reshape(len(counts), num_perm)


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
    words, lens = word_hashes(texts, max_chars)
    shingles, counts = shingle_hashes(words, lens, k)
    return signatures(shingles, counts, num_perm, seed), lens
