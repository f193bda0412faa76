"""Character error rate (edit distance over reference length) for judging OCR against ground truth."""

from __future__ import annotations

import re
from collections import Counter

import numpy as np

_WS = re.compile(r"\s+")
_MARKDOWN = re.compile(r"^#+\s*|\*\*|__|^\s*[-*]\s+", re.MULTILINE)


def normalise(text: str, markdown: bool = False) -> str:
    """Whitespace collapsed to single spaces (line wrapping is layout, not content); Markdown marks removed."""
    if markdown:
        text = _MARKDOWN.sub("", text)
    return _WS.sub(" ", text).strip()


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance, one numpy row per character of `a` (fast enough for pages of text)."""
    if len(a) < len(b):
        a, b = b, a
    if not b:
        return len(a)
    codes_b = np.frombuffer(b.encode("utf-32-le"), dtype=np.uint32)
    idx = np.arange(len(b) + 1, dtype=np.int64)
    prev = idx.copy()
    for i, ch in enumerate(a, start=1):
        sub = prev[:-1] + (codes_b != ord(ch))
        cur = np.empty_like(prev)
        cur[0] = i
        cur[1:] = np.minimum(prev[1:] + 1, sub)
        # insertions run along the row: cur[j] = min_k<=j (cur[k] + j - k), a running minimum of cur - j
        cur = np.minimum.accumulate(cur - idx) + idx
        prev = cur
    return int(prev[-1])


def cer(hypothesis: str, reference: str, markdown_reference: bool = False) -> float:
    """Edit distance between normalised texts over the reference length (0 is perfect; can exceed 1)."""
    ref = normalise(reference, markdown_reference)
    hyp = normalise(hypothesis)
    if not ref:
        return 0.0 if not hyp else 1.0
    return edit_distance(hyp, ref) / len(ref)


def word_bag_error(hypothesis: str, reference: str, markdown_reference: bool = False) -> float:
    """Words missing from the hypothesis plus words it adds, ignoring order, over the reference's word count.
    It judges recognition apart from reading order (layout), e.g. when choosing a resolution."""
    ref = Counter(normalise(reference, markdown_reference).split())
    hyp = Counter(normalise(hypothesis).split())
    n = sum(ref.values())
    if not n:
        return 0.0 if not hyp else 1.0
    common = sum((ref & hyp).values())
    return (n - common + sum(hyp.values()) - common) / n
