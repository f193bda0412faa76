"""Evaluation texts kept out of every variant: held-out documents, user reference files and benchmark items.

A held-out document is chosen by a hash of its id in one run; the other variants know it under another id
(raw text has URLs for ids, a run has locator hashes) and with other bytes (boilerplate, masked PII). So a
training document is removed from every variant when it shares its id with an evaluation text, or when most
of its word 8-grams are evaluation 8-grams, or when it holds most of one evaluation text's 8-grams. 8-grams
found in several evaluation texts are site templates (menus, footers), not content, and never count.
"""

from __future__ import annotations

import re
from collections import Counter

from winnow.mixing.ablate.variants import Docs

GRAM = 8
TEMPLATE_DOCS = 3  # an 8-gram in this many evaluation texts is boilerplate
_WORD = re.compile(r"\w+")


def grams(text: str) -> set[int]:
    words = _WORD.findall(text.lower())
    return {hash(tuple(words[i : i + GRAM])) for i in range(len(words) - GRAM + 1)}


def _short_key(text: str) -> int:
    """A text under GRAM words has no 8-gram: its words, as grams() reads them, stand for it whole."""
    return hash(tuple(_WORD.findall(text.lower())))


class OverlapIndex:
    """Which training documents repeat an evaluation text (a copy, a near copy, or a page that embeds it)."""

    def __init__(self, overlap: float):
        self.overlap = overlap
        self.ids: set[str] = set()
        self._owner: dict[int, int] = {}  # 8-gram → the first evaluation text holding it
        self._seen: Counter = Counter()  # 8-gram → how many evaluation texts hold it
        self._sizes: list[int] = []
        self._short: set[int] = set()  # evaluation texts too short for 8-grams, matched by all their words

    def add(self, doc_id: str | None, text: str) -> None:
        if doc_id is not None:
            self.ids.add(doc_id)
        g = grams(text)
        if not g and _WORD.search(text):  # a text without a word would match every other wordless text
            self._short.add(_short_key(text))
        k = len(self._sizes)
        self._sizes.append(len(g))
        for h in g:
            self._owner.setdefault(h, k)
            self._seen[h] += 1

    def _content(self, h: int) -> bool:
        return h in self._owner and self._seen[h] < TEMPLATE_DOCS

    def hits(self, doc_id: str, text: str) -> bool:
        if doc_id in self.ids:
            return True
        g = grams(text)
        if not g:
            return _short_key(text) in self._short
        matched = [h for h in g if self._content(h)]
        if len(matched) >= self.overlap * len(g):
            return True
        per_owner = Counter(self._owner[h] for h in matched)
        return any(n >= self.overlap * self._sizes[k] for k, n in per_owner.items() if self._sizes[k])

    def remove_from(self, docs: Docs) -> tuple[Docs, int]:
        keep = [not self.hits(i, t) for i, t in zip(docs.ids, docs.texts)]
        return docs.subset(keep), keep.count(False)
