"""spaCy's tokenizer rules for one language as plain data, kept on disk so that a worker splits words without spaCy.

Importing spaCy and building one language's pipeline costs a process 2-6 CPU-seconds (French: the import plus
~2.7 s of lexical tables), and every Ray worker pays it again for each language it meets. `ChunkWords` needs only
the rules: the prefix, suffix, infix, token and URL regular expressions, the special cases, the sentence-final
characters and the ASCII probe's verdict. A rulebook holds exactly those; the first process to build a language
writes it under the cache directory, keyed by the spaCy and datatrove versions, and later processes read it back
(a few ms: each rule's regular expression is kept as its compiled program, see regex_program.py). spaCy itself is not
loaded at all then.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from winnow.filters.heuristics.regex_program import load as load_program, program as regex_program
from winnow.pipeline import local_cache

log = logging.getLogger("winnow")

# bumped when the file's fields or the replay's meaning change, so an old file is never misread
FORMAT = 2
_RULES = ("prefix_search", "suffix_search", "infix_finditer", "token_match", "url_match")
_SAFE_NAME = re.compile(r"[A-Za-z0-9_-]{1,32}")


def spacy_is_punct(text: str) -> bool:
    """spaCy's default IS_PUNCT attribute (spacy.lang.lex_attrs.is_punct): every character is punctuation."""
    return all(unicodedata.category(ch).startswith("P") for ch in text)


@dataclass
class Rulebook:
    """What ChunkWords reads of a spaCy tokenizer; the rule attributes have the tokenizer's names and meaning."""

    lang: str
    prefix_search: Callable | None
    suffix_search: Callable | None
    infix_finditer: Callable | None
    token_match: Callable | None
    url_match: Callable | None
    specials: dict[str, tuple[str, ...]]
    faster_heuristics: bool
    punct_chars: frozenset[str]
    is_punct: Callable[[str], bool]
    probe: Any = None  # the ASCII probe's verdict (words.AsciiProbe), once known
    patterns: dict[tuple[str, ...], tuple[str, ...]] | None = None  # special cases as affix splitting splits them
    kind: str = "spacy"  # datatrove's tokenizer behind it: "spacy", or "whitespace" (its multilingual fallback)
    saveable: bool = field(default=True, repr=False)  # every rule a stdlib regex and IS_PUNCT spaCy's default

    @classmethod
    def from_nlp(cls, nlp: Any) -> Rulebook:
        from spacy.attrs import IS_PUNCT, ORTH
        from spacy.lang.lex_attrs import is_punct
        from spacy.pipeline.sentencizer import Sentencizer

        tok = nlp.tokenizer
        getter = nlp.vocab.lex_attr_getters.get(IS_PUNCT, is_punct)
        rules = {name: getattr(tok, name) for name in _RULES}
        return cls(
            nlp.lang, **rules,
            specials={k: tuple(t[ORTH] for t in v) for k, v in tok.rules.items()},
            faster_heuristics=bool(tok.faster_heuristics),
            punct_chars=frozenset(Sentencizer().punct_chars),
            is_punct=getter,
            saveable=getter is is_punct and all(_source(r) is not None for r in rules.values() if r is not None),
        )

    def key(self) -> tuple | None:
        """What the probe's verdict depends on; None when a rule is not a regular expression."""
        rules = [getattr(self, name) for name in _RULES]
        sources = [_source(rule) for rule in rules]
        if any(rule is not None and src is None for rule, src in zip(rules, sources)):
            return None
        return (self.lang, *sources, tuple(sorted((k, len(v)) for k, v in self.specials.items())))

    def to_spacy(self):
        """A spaCy pipeline whose tokenizer runs these rules as they are, for the rare chunk only spaCy can split.

        `spacy.blank(lang)` would import the language's module, which compiles its rules again (French's token
        pattern: ~3 CPU-s on top of the rulebook's). A blank multilingual pipeline with a Tokenizer built from the
        rulebook's compiled rules splits the same way: splitting reads only these rules, not the vocabulary."""
        import spacy
        from spacy.attrs import ORTH
        from spacy.tokenizer import Tokenizer

        nlp = spacy.blank("xx")
        nlp.tokenizer = Tokenizer(
            nlp.vocab, rules={k: [{ORTH: t} for t in v] for k, v in self.specials.items()},
            prefix_search=self.prefix_search, suffix_search=self.suffix_search, infix_finditer=self.infix_finditer,
            token_match=self.token_match, url_match=self.url_match, faster_heuristics=self.faster_heuristics,
        )
        return nlp

    # ------------------------------------------------------------------ on disk
    def to_json(self) -> dict:
        from dataclasses import asdict

        return {
            "format": FORMAT, "lang": self.lang, "kind": self.kind,
            "rules": {name: _source(getattr(self, name)) for name in _RULES},
            "programs": _programs(self),
            "specials": self.specials, "faster_heuristics": self.faster_heuristics,
            "punct_chars": sorted(self.punct_chars), "probe": asdict(self.probe),
            "patterns": [[list(k), list(v)] for k, v in (self.patterns or {}).items()],
        }

    @classmethod
    def from_json(cls, d: dict) -> Rulebook:
        from winnow.filters.heuristics.words import AsciiProbe

        programs = d.get("programs", {})
        rules = {name: _compiled(src, programs.get(name)) for name, src in d["rules"].items()}
        p = d["probe"]
        probe = AsciiProbe(p["language"], p["words"], p["tried"], _pairs(p["split"]), _pairs(p["replay_differs"]),
                           p["seconds"], p["readable"])
        return cls(d["lang"], **rules, specials={k: tuple(v) for k, v in d["specials"].items()},
                   faster_heuristics=d["faster_heuristics"], punct_chars=frozenset(d["punct_chars"]),
                   is_punct=spacy_is_punct, probe=probe, kind=d["kind"],
                   patterns={tuple(k): tuple(v) for k, v in d["patterns"]})


def _programs(rules: Rulebook) -> dict[str, dict]:
    """Each rule's compiled program; none for a rule whose program this interpreter's `re` cannot give (it is then
    compiled when read, as before)."""
    out = {}
    for name in _RULES:
        rule = getattr(rules, name)
        if rule is not None:
            try:
                out[name] = regex_program(rule.__self__)
            except Exception as exc:  # noqa: BLE001 - re's internals are not an API: a speed-up, never a failure
                log.debug("rulebook %s: no compiled program for %s (%s)", rules.lang, name, exc)
    return out


def _source(rule: Callable | None) -> tuple[str, int, str] | None:
    """(pattern, flags, method) of a bound method of a stdlib regex; None for anything else."""
    compiled = getattr(rule, "__self__", None)
    if not isinstance(compiled, re.Pattern) or not isinstance(compiled.pattern, str):
        return None
    return compiled.pattern, compiled.flags, rule.__name__


def _compiled(src: list | None, saved: dict | None) -> Callable | None:
    if src is None:
        return None
    pattern, flags, method = src
    compiled = load_program(pattern, saved) or re.compile(pattern, flags)
    return getattr(compiled, method)


def _pairs(rows: list) -> tuple[tuple[str, tuple[str, ...]], ...]:
    return tuple((w, tuple(t)) for w, t in rows)


# ---------------------------------------------------------------------- the cache
def _versions() -> str | None:
    try:
        python = f"{sys.version_info.major}.{sys.version_info.minor}"  # the regex engine that compiles the rules
        return f"spacy-{version('spacy')}-datatrove-{version('datatrove')}-py{python}-f{FORMAT}"
    except PackageNotFoundError:
        return None


def cache_path(language: str) -> Path | None:
    """Where a language's rulebook lives; None for a code that cannot be a file name or without version info."""
    versions = _versions()
    if versions is None or not _SAFE_NAME.fullmatch(language):
        return None
    return local_cache.cache_root() / "spacy-rules" / versions / f"{language}.json"


def load_rulebook(language: str) -> Rulebook | None:
    path = cache_path(language)
    if path is None or not path.is_file():
        return None
    try:
        return Rulebook.from_json(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError, re.error) as exc:  # a torn or foreign file: rebuild it
        log.debug("rulebook %s unreadable (%s): rebuilding from spaCy", path, exc)
        return None


def save_rulebook(language: str, rules: Rulebook) -> None:
    """Write a rulebook atomically (workers of one machine may race to write the same language)."""
    path = cache_path(language)
    if path is None or not rules.saveable or rules.probe is None or rules.patterns is None:
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}")
        tmp.write_text(json.dumps(rules.to_json(), ensure_ascii=False), encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:  # a read-only home: every process builds from spaCy, as before
        log.debug("rulebook %s not written: %s", path, exc)
