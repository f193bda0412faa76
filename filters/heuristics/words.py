"""Word and sentence splitting for the heuristic filters: spaCy's rules, run once per distinct chunk, shared by stages.

datatrove splits every document with `spacy.blank(lang)` inside a memory zone, so spaCy's own cache never fills and
every token builds a fresh lexeme (its ~20 lexical attribute getters run in Python): ~80 µs per new string, most of
the time of the four heuristic filters. spaCy's rule-based tokenizer splits text on whitespace and tokenizes each
chunk on its own, so the words of a text are the concatenation of the words of its chunks. `ChunkWords` replays
spaCy's prefix/suffix/infix/special-case algorithm in Python on a chunk with spaCy's own compiled rules (no lexemes),
remembers the result per chunk (a bounded memory: most chunks of a new page were seen before), and replays spaCy's final
special-case pass too, so that spaCy is needed only to build a language's rules. A plain ASCII word skips the rules, but
only in a language where a probe at start-up shows spaCy's rules never split one (Indonesian and Malay split "USDA"
into "USD A" by a currency prefix). `SharedWordTokenizer` then remembers each text's words for about a batch, so the
stages that need words (Gopher quality, Gopher repetition, FineWeb) split a document once between them.
"""

from __future__ import annotations

import logging
import re
import string
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from itertools import chain, islice
from typing import Any

from datatrove.utils.word_tokenizers import SpaCyTokenizer, WhitespaceTokenizer, WordTokenizer, load_word_tokenizer

from winnow.filters.heuristics.rulebook import Rulebook, load_rulebook, save_rulebook

# a whitespace run, or a run of anything else: spaCy's first split
_RUNS = re.compile(r"\s+|\S+")

log = logging.getLogger("winnow")

# a backslash escape in a rule's regular expression (\u00a0, \d, \.): dropped before reading its runs of letters
_ESCAPE = re.compile(r"\\(?:U[0-9a-fA-F]{8}|u[0-9a-fA-F]{4}|x[0-9a-fA-F]{2}|N\{[^}]*\}|.)")
_LETTERS = re.compile(r"[A-Za-z]+")
# shapes a rule may single out whatever letters it names: single letters, acronyms, mixed case, a long word
_PROBE_SHAPES = (
    *string.ascii_letters,
    "USA",
    "NASA",
    "UNESCO",
    "iPhone",
    "eBay",
    "McDonald",
    "LaTeX",
    "Internationalization",
)


def ascii_probe_words(tokenizer: Any) -> tuple[list[str], list[str], bool]:
    """Plain ASCII words built from a spaCy tokenizer's own prefix, suffix and infix rules, to try them on: the
    probe words, the plain sample among them that always goes through spaCy, and whether every rule could be read.

    Every run of ASCII letters in the rules' regular expressions (currency codes such as "USD", "RM", "Rp", unit and
    clitic spellings), in four cases, alone and with a letter before, after and around it (so a prefix, a suffix and
    an infix can each match), and a few shapes any rule might single out. A rule that is not a regular expression
    cannot be read: its language then gets no shortcut."""
    runs: set[str] = set()
    readable = True
    for rule in (tokenizer.prefix_search, tokenizer.suffix_search, tokenizer.infix_finditer):
        if rule is None:
            continue
        pattern = getattr(getattr(rule, "__self__", None), "pattern", None)
        if isinstance(pattern, str):
            runs.update(_LETTERS.findall(_ESCAPE.sub(" ", pattern)))
        else:
            readable = False
    words = set(_PROBE_SHAPES)
    for run in runs:
        for w in {run, run.lower(), run.upper(), run.capitalize()}:
            words.update((w, w + "a", w + "A", "a" + w, "A" + w, "a" + w + "a", "A" + w + "A"))
    return sorted(words), sorted(runs.union(_PROBE_SHAPES)), readable


@dataclass(frozen=True)
class AsciiProbe:
    """What spaCy's rules for one language do to plain ASCII words, tried once per process."""

    language: str
    words: int  # probe words built from the rules
    tried: int  # those that went through spaCy's tokenizer: a rule matches them, or they are in the plain sample
    split: tuple[tuple[str, tuple[str, ...]], ...]  # those spaCy splits: the ASCII shortcut would keep them whole
    replay_differs: tuple[tuple[str, tuple[str, ...]], ...]  # those ChunkWords's replay splits unlike spaCy
    seconds: float
    readable: bool  # every affix rule is a regular expression the probe words were built from

    @property
    def ascii_shortcut(self) -> bool:
        return self.readable and not self.split and not self.replay_differs


# rules -> verdict: a process builds one spaCy pipeline per language code and many codes share one language's rules
_PROBES: dict[tuple, AsciiProbe] = {}


class ChunkWords:
    """spaCy's tokenizer for one language, per whitespace-free chunk, with a memory of chunks already split.

    Built from a spaCy pipeline, or from a `Rulebook` read from disk with `load_nlp` to call for spaCy itself: then
    spaCy is imported only for a language whose probe shows the replay splitting unlike spaCy (none known)."""

    def __init__(self, rules: Any, load_nlp: Callable[[], Any] | None = None, max_chunks: int = 300_000):
        if not isinstance(rules, Rulebook):  # a spaCy pipeline
            nlp = rules
            rules, load_nlp = Rulebook.from_nlp(nlp), lambda: nlp
        self.rules = rules
        self._load_nlp = load_nlp
        self._nlp: Any = None
        self._prefix: Callable | None = rules.prefix_search
        self._suffix: Callable | None = rules.suffix_search
        self._infix: Callable | None = rules.infix_finditer
        self._token_match: Callable | None = rules.token_match
        self._url_match: Callable | None = rules.url_match
        self._specials: dict[str, tuple[str, ...]] = rules.specials
        # spaCy ends with a phrase-matcher pass that re-applies special cases to runs of tokens its affix splitting
        # made (two quote prefixes become "''"); with faster_heuristics only special cases with an affix or a space
        # take part. A pattern is such a case split without special cases, as spaCy builds it.
        if rules.patterns is None:  # ~1 s for Indonesian's 16,000 special cases: kept in the rulebook
            rules.patterns = {}
            for key, special in self._specials.items():
                if rules.faster_heuristics and not (
                    self._affix_len(key) or " " in key or (self._infix is not None and any(self._infix(key)))
                ):
                    continue
                rules.patterns[tuple(self._affixes(key, {}))] = special
        self._patterns: dict[tuple[str, ...], tuple[str, ...]] = rules.patterns
        self._pattern_heads = {p[0] for p in self._patterns if p}
        self._pattern_lengths = sorted({len(p) for p in self._patterns})
        self.max_chunks = max_chunks
        self._memo: dict[str, tuple[str, ...]] = {}
        self.punct_chars = rules.punct_chars
        self._punct_re = re.compile("[" + re.escape("".join(sorted(self.punct_chars))) + "]")
        self._is_punct = rules.is_punct
        self._punct_memo: dict[str, bool] = {}
        self.ascii_shortcut = False
        self.spacy_only = False
        if rules.probe is None:
            rules.probe = self._probe()
        self.probe = rules.probe
        self.ascii_shortcut = self.probe.ascii_shortcut
        # the replay splits a probe word unlike spaCy: spaCy itself splits every chunk (no such language known)
        self.spacy_only = bool(self.probe.replay_differs)

    def _probe(self) -> AsciiProbe:
        """The ASCII probe's verdict, run once per process for each set of rules."""
        key = self.rules.key()
        probe = _PROBES.get(key) if key is not None else None
        if probe is None:
            probe = self._probe_ascii_words()
            if key is not None:
                _PROBES[key] = probe
            if not probe.ascii_shortcut:
                examples = (probe.split or probe.replay_differs)[:3]
                log.debug("spaCy %r splits plain ASCII words, no shortcut: %s", probe.language, examples)
        return probe

    @property
    def nlp(self) -> Any:
        """spaCy's pipeline for this language, loaded on first use when the rules came from disk."""
        if self._nlp is None:
            self._nlp = self._load_nlp()
        return self._nlp

    def _affix_len(self, s: str) -> int:
        a = self._prefix(s) if self._prefix else None
        b = self._suffix(s) if self._suffix else None
        return (a.end() - a.start() if a else 0) + (b.end() - b.start() if b else 0)

    def forget(self) -> None:
        self._memo.clear()
        self._punct_memo.clear()

    def _probe_ascii_words(self) -> AsciiProbe:
        """The probe words through spaCy's tokenizer and through the replay without the shortcut (ascii_shortcut is
        still off while this runs): the shortcut holds only if spaCy keeps every one whole.

        A new string costs spaCy ~80 µs (a lexeme), so only the words one of the rules matches (spaCy's tokenizer
        calls these very rules: no match, no split) and a plain sample go through spaCy: 5-35 ms of CPU a language
        instead of 12-100 ms."""
        started = time.perf_counter()
        words, sample, readable = ascii_probe_words(self.rules)
        sample_set = set(sample)
        words = [w for w in words if w not in self._specials]  # a special case is looked up before the shortcut
        tried = [w for w in words if w in sample_set or self._rule_matches(w)]
        with self.nlp.memory_zone():
            theirs = [tuple(t.text for t in self.nlp.tokenizer(w)) for w in tried]
        split = tuple((w, t) for w, t in zip(tried, theirs) if t != (w,))
        differs = tuple((w, t) for w, t in zip(tried, theirs) if self._split(w) != t)  # outside: zones do not nest
        seconds = time.perf_counter() - started
        return AsciiProbe(self.rules.lang, len(words), len(tried), split, differs, seconds, readable)

    def _rule_matches(self, s: str) -> bool:
        return bool(self._affix_len(s)) or (self._infix is not None and next(iter(self._infix(s)), None) is not None)

    # ------------------------------------------------------------------ one chunk
    def chunk(self, chunk: str) -> tuple[str, ...]:
        """The tokens spaCy makes of a chunk without whitespace (they concatenate back to the chunk)."""
        tokens = self._memo.get(chunk)
        if tokens is None:
            tokens = self._split(chunk)
            if len(self._memo) >= self.max_chunks:  # forget the older half: the rest stays warm
                for key in list(islice(self._memo, self.max_chunks // 2)):
                    del self._memo[key]
            self._memo[chunk] = tokens
        return tokens

    def _split(self, chunk: str) -> tuple[str, ...]:
        if self.spacy_only:
            return self._spacy(chunk)
        special = self._specials.get(chunk)
        if special is not None:
            tokens = list(special)  # the final pass reads these too: Spanish "°C." is ("°", "C", "."), then "°C" "."
        elif self.ascii_shortcut and chunk.isascii() and chunk.isalpha():
            # No prefix, suffix or infix rule of this language split any probe word (see _probe_ascii_words): only
            # special cases (handled above) split a plain ASCII word. Not so in Indonesian or Malay ("USD A").
            return (chunk,)
        else:
            tokens = self._affixes(chunk, self._specials)
        if len(tokens) > 1 and self._pattern_heads.intersection(tokens):
            tokens = self._special_spans(tokens)
        return tuple(tokens)

    def _affixes(self, s: str, specials: dict[str, tuple[str, ...]]) -> list[str]:
        """spaCy's Tokenizer._split_affixes then _attach_tokens, step for step, on strings instead of lexemes."""
        token_match = self._token_match
        prefixes: list[str] = []
        suffixes: list[str] = []
        last = 0
        while s and len(s) != last:
            if token_match and token_match(s):
                break
            if s in specials:
                break
            last = len(s)
            m = self._prefix(s) if self._prefix else None
            pre = m.end() - m.start() if m else 0
            if pre:
                prefix, minus_pre = s[:pre], s[pre:]
                if minus_pre and minus_pre in specials:
                    s = minus_pre
                    prefixes.append(prefix)
                    break
            m = self._suffix(s[pre:]) if self._suffix else None
            suf = m.end() - m.start() if m else 0
            if suf:
                suffix, minus_suf = s[-suf:], s[:-suf]
                if minus_suf and minus_suf in specials:
                    s = minus_suf
                    suffixes.append(suffix)
                    break
            if pre and suf and pre + suf <= len(s):
                s = s[pre:-suf]
                prefixes.append(prefix)
                suffixes.append(suffix)
            elif pre:
                s = minus_pre
                prefixes.append(prefix)
            elif suf:
                s = minus_suf
                suffixes.append(suffix)
        out = prefixes
        if s:
            special = specials.get(s)
            if special is not None:
                out.extend(special)
            elif (token_match and token_match(s)) or (self._url_match and self._url_match(s)):
                out.append(s)
            else:
                start = 0
                for m in self._infix(s) if self._infix else ():
                    a, b = m.start(), m.end()
                    if a == 0:  # spaCy skips an infix at the very start of the remainder
                        continue
                    if a != start:
                        out.append(s[start:a])
                    if a != b:
                        out.append(s[a:b])
                    start = b
                if s[start:]:
                    out.append(s[start:])
        out.extend(reversed(suffixes))
        return out

    def _special_spans(self, tokens: list[str]) -> list[str]:
        """spaCy's final pass (Tokenizer._apply_special_cases) on one chunk: a run of tokens that is a special case as
        affix splitting splits it becomes the special case's tokens.

        Where runs overlap spaCy considers the longest first, then the leftmost, and takes a run unless its first or
        last token lies in a run considered before it, taken or not (tokenizer.pyx, _filter_special_spans). Replayed
        here so that no chunk needs spaCy itself (importing it costs a worker ~2 CPU-s, most of it torch via thinc)."""
        heads, patterns = self._pattern_heads, self._patterns
        n = len(tokens)
        runs = []
        for i, t in enumerate(tokens):
            if t not in heads:
                continue
            for length in self._pattern_lengths:
                if i + length > n:
                    break
                if tuple(tokens[i : i + length]) in patterns:
                    runs.append((i, i + length))
        if not runs:
            return tokens
        runs.sort(key=lambda r: (r[0] - r[1], r[0]))
        seen: set[int] = set()
        taken = []
        for a, b in runs:
            if a not in seen and b - 1 not in seen:
                taken.append((a, b))
            seen.update(range(a, b))
        out: list[str] = []
        pos = 0
        for a, b in sorted(taken):
            run = tokens[a:b]
            out += tokens[pos:a]
            out += self._specials.get("".join(run), run)  # spaCy keeps the run as it is when no rule has its text
            pos = b
        out += tokens[pos:]
        return out

    def _spacy(self, chunk: str) -> tuple[str, ...]:
        with self.nlp.memory_zone():
            return tuple(t.text for t in self.nlp.tokenizer(chunk))

    # ------------------------------------------------------------------ whole texts
    def words(self, text: str) -> list[str]:
        """datatrove's word_tokenize: spaCy's tokens without the whitespace ones."""
        chunks = text.split()
        known = list(map(self._memo.get, chunks))  # lookups at C speed; most chunks were seen before
        if None in known:
            known = [tokens if tokens is not None else self.chunk(c) for c, tokens in zip(chunks, known)]
        return list(chain.from_iterable(known))

    def _tokens_with_offsets(self, text: str) -> list[tuple[int, str]]:
        """Every token spaCy makes of a text, whitespace tokens included, with its character offset.

        spaCy folds a single ' ' after a token into that token and keeps any other whitespace run as a token
        (minus a leading ' ' when the run follows a token)."""
        out: list[tuple[int, str]] = []
        for m in _RUNS.finditer(text):
            run, pos = m.group(), m.start()
            if run[0].isspace():
                if pos > 0 and run[0] == " ":
                    run, pos = run[1:], pos + 1
                if run:
                    out.append((pos, run))
                continue
            for t in self.chunk(run):
                out.append((pos, t))
                pos += len(t)
        return out

    def sentence_spans(self, text: str) -> list[tuple[int, int]]:
        """spaCy's rule-based Sentencizer (default punctuation) on this tokenizer: (start, end) of each sentence."""
        if not text:
            return []
        if not self._punct_re.search(text, 0, len(text) - 1):
            # a new sentence only starts after a sentence-final character: none before the last one, so one sentence,
            # from the first token to the end of the last (a single trailing ' ' belongs to the last token)
            end = len(text) - 1 if len(text) > 1 and text[-1] == " " and not text[-2].isspace() else len(text)
            return [(0, end)]
        tokens = self._tokens_with_offsets(text)
        if not tokens:
            return []
        punct, is_punct_memo = self.punct_chars, self._punct_memo
        starts = [0]
        seen_period = False
        for i, (_, t) in enumerate(tokens):
            in_punct = t in punct
            if seen_period and not in_punct:
                p = is_punct_memo.get(t)
                if p is None:
                    if len(is_punct_memo) >= self.max_chunks:
                        is_punct_memo.clear()
                    p = is_punct_memo[t] = bool(self._is_punct(t))
                if not p:
                    starts.append(i)
                    seen_period = False
            elif in_punct:
                seen_period = True
        spans = []
        for k, s in enumerate(starts):
            last = (starts[k + 1] if k + 1 < len(starts) else len(tokens)) - 1
            spans.append((tokens[s][0], tokens[last][0] + len(tokens[last][1])))
        return spans


def _plain_spacy(tok: WordTokenizer) -> Any | None:
    """The spaCy pipeline behind a datatrove tokenizer when its tokenizer is spaCy's standard rule-based one."""
    if isinstance(tok, WhitespaceTokenizer):
        tok = tok._spacy_xx  # datatrove's fallback splits words with spaCy's multilingual rules
    if not isinstance(tok, SpaCyTokenizer) or tok.language == "ja" or tok.config is not None:
        return None
    from spacy.tokenizer import Tokenizer

    nlp = tok.tokenizer
    return nlp if type(nlp.tokenizer) is Tokenizer else None


class SharedWordTokenizer(WordTokenizer):
    """One language's tokenizer for datatrove's filters: spaCy's words from `ChunkWords` where that applies, and a
    memory of recent texts' words shared by all heuristic stages of a worker.

    datatrove streams one document through all filters and its 5-entry LRU catches the repeats; Winnow runs a whole
    batch through one stage before the next, so this memory holds about a batch's worth of texts (bounded by
    characters) instead.
    """

    def __init__(self, language: str, inner: WordTokenizer, max_chars: int = 64_000_000, rules: Rulebook | None = None):
        super().__init__(language)
        self.inner = inner
        if rules is not None:  # read from disk: spaCy is loaded only if a chunk needs it
            self.chunks: ChunkWords | None = ChunkWords(rules, rules.to_spacy)
        else:
            nlp = _plain_spacy(inner)
            self.chunks = ChunkWords(nlp) if nlp is not None else None
        # sentence splitting by spaCy rules only where datatrove itself uses spaCy's sentencizer for it
        self._sentences = self.chunks is not None and isinstance(inner, SpaCyTokenizer)
        self.max_chars = max_chars
        self._words: OrderedDict[str, list[str]] = OrderedDict()
        self._chars = 0

    def forget(self) -> None:
        """Drop every remembered text and chunk (as a fresh worker would start), keeping the loaded spaCy rules."""
        self._words.clear()
        self._chars = 0
        if self.chunks is not None:
            self.chunks.forget()

    def word_tokenize(self, text: str) -> list[str]:
        words = self._words.get(text)
        if words is None:
            words = self.chunks.words(text) if self.chunks is not None else self.inner.word_tokenize(text)
            self._words[text] = words
            self._chars += len(text)
            while self._chars > self.max_chars and self._words:
                old, _ = self._words.popitem(last=False)
                self._chars -= len(old)
        return words

    def sent_tokenize(self, text: str) -> list[str]:
        if self._sentences:
            return [s for a, b in self.chunks.sentence_spans(text) if (s := text[a:b].strip())]
        return self.inner.sent_tokenize(text)

    def span_tokenize(self, text: str) -> list[tuple[int, int]]:
        if self._sentences:
            return self.chunks.sentence_spans(text)
        return self.inner.span_tokenize(text)


_TOKENIZERS: dict[str, SharedWordTokenizer] = {}


def tokenizer_for(language: str) -> SharedWordTokenizer:
    """datatrove's tokenizer for a language code; spaCy's multilingual one where that needs a missing package.

    The spaCy rules behind it come from the cache directory when an earlier process wrote them (see rulebook.py)."""
    if language not in _TOKENIZERS:
        _TOKENIZERS[language] = _from_rulebook(language) or _from_spacy(language)
    return _TOKENIZERS[language]


def _from_rulebook(language: str) -> SharedWordTokenizer | None:
    rules = load_rulebook(language)
    if rules is None:
        return None
    if rules.kind == "whitespace":
        inner: WordTokenizer = WhitespaceTokenizer()
    else:
        inner = load_word_tokenizer(language)  # datatrove's choice of tokenizer; spaCy itself loads lazily
        if not isinstance(inner, SpaCyTokenizer):  # datatrove's table changed under the same version: rebuild
            return None
    return SharedWordTokenizer(language, inner, rules=rules)


def _from_spacy(language: str) -> SharedWordTokenizer:
    try:
        inner = load_word_tokenizer(language)
        inner.word_tokenize("probe text.")  # some load lazily and only fail here (zh wants jieba, ja sudachi)
    except Exception:  # noqa: BLE001 - no tokenizer assigned or its package is not installed: never download, fall back
        inner = WhitespaceTokenizer()
    tok = SharedWordTokenizer(language, inner)
    if tok.chunks is not None:
        tok.chunks.rules.kind = "whitespace" if isinstance(inner, WhitespaceTokenizer) else "spacy"
        save_rulebook(language, tok.chunks.rules)
    return tok
