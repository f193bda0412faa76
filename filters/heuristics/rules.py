"""datatrove's Gopher quality, Gopher repetition and C4 filters with their per-word, per-n-gram and per-line loops
made cheaper.

Same rules, same order, same thresholds and the same arithmetic as datatrove 0.10's GopherQualityFilter,
GopherRepetitionFilter and C4QualityFilter (a test compares decisions on real documents). What changes is how the
counts are made: word properties are computed once per distinct word (and remembered across documents), n-grams are
classed in numpy (word ids for the top n-gram, substring hashes checked against the strings for repeated n-grams),
and C4 stops counting sentences once a document has enough of them, since only that comparison is used.
"""

from __future__ import annotations

from collections import Counter
from itertools import accumulate

import numpy as np
from datatrove.data import Document
from datatrove.pipeline.filters.c4_filters import (
    CITATION_REGEX,
    ELLIPSIS,
    END_PUNCTUATION,
    POLICY_SUBSTRINGS,
    C4QualityFilter,
)
from datatrove.pipeline.filters.gopher_quality_filter import GopherQualityFilter
from datatrove.pipeline.filters.gopher_repetition_filter import GopherRepetitionFilter, find_duplicates
from datatrove.utils.text import PUNCTUATION_SET, split_into_sentences, split_into_words

_WORD_MEMO_LIMIT = 200_000


class FastGopherQualityFilter(GopherQualityFilter):
    """GopherQualityFilter deciding from the counts of distinct words."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._props: dict[str, tuple[bool, bool]] = {}  # word -> (has a non-punctuation char, has a letter)

    def _word_props(self, word: str) -> tuple[bool, bool]:
        props = self._props.get(word)
        if props is None:
            if len(self._props) >= _WORD_MEMO_LIMIT:
                self._props.clear()
            props = self._props[word] = (
                any(ch not in PUNCTUATION_SET for ch in word),
                any(ch.isalpha() for ch in word),
            )
        return props

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        text = doc.text
        words = split_into_words(text, self.language)
        n_words = len(words)
        counts = Counter(words)
        n_non_symbol = non_symbol_chars = n_alpha = 0
        for word, c in counts.items():
            non_symbol, alpha = self._word_props(word)
            if non_symbol:
                n_non_symbol += c
                non_symbol_chars += c * len(word)
            if alpha:
                n_alpha += c

        if self.min_doc_words and n_non_symbol < self.min_doc_words:
            return False, "gopher_short_doc"
        if self.max_doc_words and n_non_symbol > self.max_doc_words:
            return False, "gopher_long_doc"

        # datatrove takes np.mean of the lengths: an exact integer sum divided once, as here (nan when empty)
        avg_word_length = non_symbol_chars / n_non_symbol if n_non_symbol else float("nan")
        if self.min_avg_word_length and avg_word_length < self.min_avg_word_length:
            return False, "gopher_below_avg_threshold"
        if self.max_avg_word_length and avg_word_length > self.max_avg_word_length:
            return False, "gopher_above_avg_threshold"

        if self.max_symbol_word_ratio and text.count("#") / n_words > self.max_symbol_word_ratio:
            return False, "gopher_too_many_hashes"
        if self.max_symbol_word_ratio and (text.count("...") + text.count("…")) / n_words > self.max_symbol_word_ratio:
            return False, "gopher_too_many_ellipsis"

        lines = text.splitlines()
        if self.max_bullet_lines_ratio and (
            sum(s.lstrip().startswith(("•", "-")) for s in lines) / len(lines) > self.max_bullet_lines_ratio
        ):
            return False, "gopher_too_many_bullets"
        if self.max_ellipsis_lines_ratio and (
            sum(s.rstrip().endswith(("...", "…")) for s in lines) / len(lines) > self.max_ellipsis_lines_ratio
        ):
            return False, "gopher_too_many_end_ellipsis"

        if self.max_non_alpha_words_ratio and n_alpha / n_words < self.max_non_alpha_words_ratio:
            return False, "gopher_below_alpha_threshold"

        if self.min_stop_words and len(self.stop_words.intersection(counts)) < self.min_stop_words:
            return False, "gopher_enough_stop_words"
        return True


def next_ngram_ids(ids: np.ndarray, word_ids: np.ndarray, k: int) -> np.ndarray:
    """The (k+1)-gram ids from the k-gram ids: one id per position, equal ids for equal word tuples."""
    m = len(word_ids) - k
    pairs = ids[:m].astype(np.int64) * (int(word_ids.max()) + 1) + word_ids[k : k + m]
    return np.unique(pairs, return_inverse=True)[1]


def ngram_ids(word_ids: np.ndarray, n: int) -> np.ndarray:
    """An id per n-gram position such that equal ids mean equal word tuples (ids in [0, number of n-grams))."""
    ids = word_ids
    for k in range(1, n):
        ids = next_ngram_ids(ids, word_ids, k)
    return ids


def top_ngram_chars(word_ids: np.ndarray, word_lens: np.ndarray, n: int, ids: np.ndarray | None = None) -> int | None:
    """datatrove's find_top_duplicate(get_n_grams(words, n)): characters of the most frequent n-gram (first seen
    among equals) times its count; None where the text has fewer than n words. `ids`: the n-gram ids, where the
    caller has them (ngram_ids)."""
    m = len(word_ids) - n + 1
    if m <= 0:
        return None
    ids = ngram_ids(word_ids, n) if ids is None else ids
    counts = np.bincount(ids)
    best = int(counts.max())
    # Counter.most_common(1) returns the first-inserted of the maxima: the first position holding one of them
    pos = int(np.argmax(counts[ids] == best))
    chars = int(word_lens[pos : pos + n].sum()) + n - 1  # " ".join of the n words
    return chars * best


def repeated_ngram_chars_slow(joined: str, offsets: list[int], n: int) -> int:
    """datatrove's find_all_duplicate(words, n): characters in n-grams (words concatenated without a separator) that
    repeat an earlier one, scanning left to right and jumping over each repeat."""
    n_words = len(offsets) - 1
    unique: set[str] = set()
    add = unique.add
    repeated, idx = 0, 0
    while idx < n_words - n + 1:
        gram = joined[offsets[idx] : offsets[idx + n]]
        if gram in unique:
            repeated += len(gram)
            idx += n
        else:
            add(gram)
            idx += 1
    return repeated


# polynomial hashing of substrings modulo 2**64 (numpy's uint64 arithmetic wraps): equal strings get equal hashes;
# the rare unequal pair that collides is caught by comparing the strings themselves
_BASE = 0x9E3779B97F4A7C15
_POW = np.ones(1, np.uint64)
_INV_POW = np.ones(1, np.uint64)


def _powers(length: int) -> tuple[np.ndarray, np.ndarray]:
    global _POW, _INV_POW
    if len(_POW) < length:
        size = max(length, 2 * len(_POW))
        one = np.ones(1, np.uint64)
        _POW = np.concatenate((one, np.cumprod(np.full(size - 1, _BASE, np.uint64), dtype=np.uint64)))
        inverse = pow(_BASE, -1, 2**64)
        _INV_POW = np.concatenate((one, np.cumprod(np.full(size - 1, inverse, np.uint64), dtype=np.uint64)))
    return _POW, _INV_POW


class RepeatedNgrams:
    """find_all_duplicate for every n on one document: n-gram strings are classed by substring hashes of the joined
    words, so the left-to-right scan only has to visit the positions whose string occurs more than once."""

    def __init__(self, words: list[str]):
        self.words = words
        self.joined = "".join(words)
        self.offsets = [0, *accumulate(map(len, words))]
        self.off = np.asarray(self.offsets, np.int64)
        codes = np.frombuffer(self.joined.encode("utf-32-le"), np.uint32).astype(np.uint64)
        pw, self.inv = _powers(len(codes) + 1)
        with np.errstate(over="ignore"):
            self.prefix = np.concatenate(([np.uint64(0)], np.cumsum(codes * pw[: len(codes)], dtype=np.uint64)))

    def word_ids(self) -> list[int]:
        """One id per word, equal ids for equal words (numbered by first occurrence)."""
        ids = dict.fromkeys(self.words)
        for i, w in enumerate(ids):
            ids[w] = i
        return list(map(ids.__getitem__, self.words))

    def chars(self, n: int) -> int:
        m = len(self.offsets) - n  # number of n-gram positions
        if m <= 0:
            return 0
        start, end = self.off[:m], self.off[n : n + m]
        with np.errstate(over="ignore"):
            keys = (self.prefix[end] - self.prefix[start]) * self.inv[start] + (end - start).astype(np.uint64)
        # positions whose key occurs more than once: equal neighbours once the keys are sorted
        order = np.argsort(keys)
        ordered = keys[order]
        same = ordered[1:] == ordered[:-1]
        repeated = np.zeros(m, bool)
        repeated[order[1:][same]] = True
        repeated[order[:-1][same]] = True
        repeated_pos = np.flatnonzero(repeated)
        if len(repeated_pos) == 0:
            return 0
        joined, offsets = self.joined, self.offsets
        positions, classes = repeated_pos.tolist(), keys[repeated_pos].tolist()  # the key names its class
        first: dict[int, str] = {}
        for i, key in zip(positions, classes):  # collision check: one string per class
            gram = joined[offsets[i] : offsets[i + n]]
            if first.setdefault(key, gram) != gram:
                return repeated_ngram_chars_slow(joined, offsets, n)
        # the scan visits every position it does not jump over; a position repeats an earlier one only if its string
        # occurs twice or more, so only those positions can change the count or the jumps
        seen: set[int] = set()
        repeated, next_free = 0, 0
        for i, key in zip(positions, classes):
            if i < next_free:
                continue
            if key in seen:
                repeated += offsets[i + n] - offsets[i]
                next_free = i + n
            else:
                seen.add(key)
        return repeated


class FastGopherRepetitionFilter(GopherRepetitionFilter):
    """GopherRepetitionFilter with n-gram statistics on word ids and string slices."""

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        text = doc.text
        if not text:
            return False, "empty"
        paragraphs = self.paragraph_exp.split(text.strip())
        paragraphs_duplicates, char_duplicates = find_duplicates(paragraphs)
        if self.dup_para_frac and paragraphs_duplicates / len(paragraphs) > self.dup_para_frac:
            return False, "dup_para_frac"
        if self.dup_para_char_frac and char_duplicates / len(text) > self.dup_para_char_frac:
            return False, "dup_para_char_frac"

        lines = self._line_splitter.split(text)
        line_duplicates, char_duplicates = find_duplicates(lines)
        if self.dup_line_frac and line_duplicates / len(lines) > self.dup_line_frac:
            return False, "dup_line_frac"
        if self.dup_line_char_frac and char_duplicates / len(text) > self.dup_line_char_frac:
            return False, "dup_line_char_frac"

        words = split_into_words(text, self.language)
        grams = RepeatedNgrams(words)
        if self.top_n_grams and words:
            if " " in grams.joined:  # " ".join keys would stop being the same as word tuples: datatrove's way
                return super().filter(doc)
            word_ids = np.array(grams.word_ids(), np.int64)
            word_lens = np.diff(grams.off)
            ids, k = word_ids, 1  # n-gram ids grown one word at a time across the (ascending) n
            for n, n_frac in self.top_n_grams:
                while k < min(n, len(word_ids)):
                    ids, k = next_ngram_ids(ids, word_ids, k), k + 1
                top = top_ngram_chars(word_ids, word_lens, n, ids if k == n else None)
                if top is not None and top / len(text) > n_frac:
                    return False, f"top_{n}_gram"
        for n, n_frac in self.dup_n_grams:
            if grams.chars(n) / len(text) > n_frac:
                return False, f"duplicated_{n}_n_grams"
        return True


class FastC4QualityFilter(C4QualityFilter):
    """C4QualityFilter that stops splitting kept lines into sentences once the document has min_num_sentences."""

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        lines = doc.text.splitlines() if self.split_paragraph else split_into_sentences(doc.text, self.language)
        num_sentences = 0
        kept_lines = []
        for line in lines:
            line = line.strip()
            words = line.split()
            if self.max_word_length != -1 and max(map(len, words), default=0) > self.max_word_length:
                continue
            if self.remove_citations:
                line = CITATION_REGEX.sub("", line)
            if self.filter_no_terminal_punct and (not line.endswith(END_PUNCTUATION) or line.endswith(ELLIPSIS)):
                continue
            if len(words) < self.min_words_per_line:
                continue
            line_l = line.lower()
            if self.filter_lorem_ipsum and "lorem ipsum" in line_l:
                return False, "lorem_ipsum"
            if self.filter_javascript and "javascript" in line_l:
                continue
            if self.filter_curly_bracket and "{" in line:
                return False, "curly_bracket"
            if self.filter_policy and any(p in line_l for p in POLICY_SUBSTRINGS):
                continue
            if num_sentences < self.min_num_sentences:  # the count is only compared with min_num_sentences
                num_sentences += len(split_into_sentences(line, self.language)) if self.split_paragraph else 1
            kept_lines.append(line)
        if num_sentences < self.min_num_sentences:
            return False, "too_few_sentences"
        doc.text = ("\n" if self.split_paragraph else " ").join(kept_lines).strip()
        return True
