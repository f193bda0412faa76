"""The heuristic filter stages: datatrove's Gopher, C4 and FineWeb filters behind the stage contract, one reason per rule."""

from __future__ import annotations

import copy
import re
from typing import Any, ClassVar

import pyarrow as pa
from datatrove.data import Document
from datatrove.pipeline.filters.base_filter import BaseFilter
from pydantic import Field

from winnow.filters.heuristics.rules import FastC4QualityFilter, FastGopherQualityFilter, FastGopherRepetitionFilter
from winnow.filters.heuristics.words import tokenizer_for
from winnow.pipeline import schema
from winnow.pipeline.registry import register_stage
from winnow.pipeline.stage import DocumentFilter, StageParams


class HeuristicParams(StageParams):
    # apply the rules only to documents whose `language` is listed (e.g. [en]: Gopher's stop words are English);
    # other documents pass untouched. null applies them to every document.
    languages: list[str] | None = None
    # tokenizer language for documents without a language (no `language` stage before, or "und")
    default_language: str = "en"


class DatatroveFilterStage(DocumentFilter):
    """Runs one datatrove filter per row: one filter instance per worker (per document language)."""

    reads = (schema.TEXT, schema.LANGUAGE, schema.ID)
    # a datatrove filter may rewrite the text it keeps (C4 removes lines)
    writes: ClassVar[dict[str, pa.DataType]] = {schema.TEXT: pa.string()}
    # datatrove's reason string -> our reason suffix; anything unlisted is slugged under the stage name
    reason_map: ClassVar[dict[str, str]] = {}

    filter_class: ClassVar[type[BaseFilter]]

    def filter_kwargs(self) -> dict[str, Any]:
        """The filter's constructor arguments: every parameter the stage adds to HeuristicParams, by the same name."""
        return self.params.model_dump(exclude=set(HeuristicParams.model_fields))

    def make_filter(self) -> BaseFilter:
        return self.filter_class(**self.filter_kwargs())

    def setup(self) -> None:
        self._base = self.make_filter()
        self._by_language: dict[str, BaseFilter] = {}
        self._only = set(self.params.languages) if self.params.languages is not None else None

    def filter_for(self, language: str | None) -> BaseFilter:
        lang = language if language and language != "und" else self.params.default_language
        f = self._by_language.get(lang)
        if f is None:
            f = copy.copy(self._base)  # shares configuration and stats; only the tokenizer differs
            f.language = tokenizer_for(lang)
            self._by_language[lang] = f
        return f

    def reason(self, raw: str | None) -> str:
        if raw is None:
            return f"{self.name}_dropped"
        suffix = self.reason_map.get(raw) or re.sub(r"[^a-z0-9]+", "_", raw.lower()).strip("_")
        return f"{self.name}_{suffix}"

    def filter(self, row: dict[str, Any]) -> bool | str:
        language = row[schema.LANGUAGE]
        if self._only is not None and language not in self._only:
            return True
        text = row[schema.TEXT] or ""
        doc = Document(text=text, id=row[schema.ID] or "")
        verdict = self.filter_for(language).filter(doc)
        keep, raw = verdict if isinstance(verdict, tuple) else (verdict, None)
        if not keep:
            return self.reason(raw)
        if doc.text != text:
            row[schema.TEXT] = doc.text
            self.count_rewrite(text, doc.text)
        return True

    def count_rewrite(self, before: str, after: str) -> None:
        self.count(f"{self.name}_docs_modified")


class GopherQualityParams(HeuristicParams):
    min_doc_words: int | None = 50
    max_doc_words: int | None = 100_000
    min_avg_word_length: int | None = 3
    max_avg_word_length: int | None = 10
    max_symbol_word_ratio: float | None = 0.1  # '#' or ellipses per word
    max_bullet_lines_ratio: float | None = 0.9
    max_ellipsis_lines_ratio: float | None = 0.3
    # datatrove's name; it is the minimum share of words holding at least one letter
    max_non_alpha_words_ratio: float | None = 0.8
    min_stop_words: int | None = 2
    stop_words: list[str] | None = None  # null: Gopher's English list (the, be, to, of, and, that, have, with)


@register_stage("gopher_quality")
class GopherQualityStage(DatatroveFilterStage):
    """Gopher's quality rules (Rae et al. 2021): length, word length, symbols, bullets, alphabetic words, stop words."""

    Params = GopherQualityParams
    filter_class = FastGopherQualityFilter
    reason_map: ClassVar[dict[str, str]] = {
        "gopher_short_doc": "short_doc",
        "gopher_long_doc": "long_doc",
        "gopher_below_avg_threshold": "avg_word_length_low",
        "gopher_above_avg_threshold": "avg_word_length_high",
        "gopher_too_many_hashes": "too_many_hashes",
        "gopher_too_many_ellipsis": "too_many_ellipsis",
        "gopher_too_many_bullets": "too_many_bullets",
        "gopher_too_many_end_ellipsis": "too_many_end_ellipsis",
        "gopher_below_alpha_threshold": "few_alpha_words",
        "gopher_enough_stop_words": "few_stop_words",
    }
    reasons = tuple(f"gopher_quality_{r}" for r in reason_map.values())


class GopherRepetitionParams(HeuristicParams):
    dup_line_frac: float | None = 0.3
    dup_para_frac: float | None = 0.3
    dup_line_char_frac: float | None = 0.2
    dup_para_char_frac: float | None = 0.2
    # (n, max share of characters in the most frequent n-gram)
    top_n_grams: list[tuple[int, float]] = Field(default_factory=lambda: [(2, 0.2), (3, 0.18), (4, 0.16)])
    # (n, max share of characters in repeated n-grams)
    dup_n_grams: list[tuple[int, float]] = Field(
        default_factory=lambda: [(5, 0.15), (6, 0.14), (7, 0.13), (8, 0.12), (9, 0.11), (10, 0.10)]
    )


@register_stage("gopher_repetition")
class GopherRepetitionStage(DatatroveFilterStage):
    """Gopher's repetition rules: duplicated lines and paragraphs, dominant and repeated word n-grams."""

    Params = GopherRepetitionParams
    filter_class = FastGopherRepetitionFilter
    reason_map: ClassVar[dict[str, str]] = {
        "empty": "empty",
        **{r: r for r in ("dup_para_frac", "dup_para_char_frac", "dup_line_frac", "dup_line_char_frac")},
        **{f"top_{n}_gram": f"top_{n}_gram" for n in range(1, 21)},
        **{f"duplicated_{n}_n_grams": f"dup_{n}_gram" for n in range(1, 21)},
    }
    reasons = tuple(
        f"gopher_repetition_{r}"
        for r in ["empty", "dup_para_frac", "dup_para_char_frac", "dup_line_frac", "dup_line_char_frac"]
        + [f"top_{n}_gram" for n in (2, 3, 4)]
        + [f"dup_{n}_gram" for n in range(5, 11)]
    )

    def filter_kwargs(self) -> dict[str, Any]:
        kwargs = super().filter_kwargs()
        for key in ("top_n_grams", "dup_n_grams"):  # datatrove takes tuples of (n, share)
            kwargs[key] = tuple(tuple(x) for x in kwargs[key])
        return kwargs


class C4QualityParams(HeuristicParams):
    split_paragraph: bool = True  # rules apply per line (C4); false applies them per sentence
    remove_citations: bool = True  # strip Wikipedia-style [1], [edit], [citation needed]
    filter_no_terminal_punct: bool = True  # remove lines not ending in . ? ! " '
    min_num_sentences: int = 5  # drop documents with fewer sentences after line removal (-1 disables)
    min_words_per_line: int = 3  # remove shorter lines (-1 disables)
    max_word_length: int = 1000  # remove lines with a longer word (-1 disables)
    filter_lorem_ipsum: bool = True  # drop documents containing "lorem ipsum"
    filter_javascript: bool = True  # remove lines mentioning javascript
    filter_curly_bracket: bool = True  # drop documents containing "{"
    filter_policy: bool = True  # remove lines about cookies, terms of use, privacy policy


@register_stage("c4_quality")
class C4QualityStage(DatatroveFilterStage):
    """C4's rules (Raffel et al. 2020): removes boilerplate lines, drops code-like, placeholder and too-short pages.

    The bad-words rule is not included: datatrove fetches its word lists at run time.
    """

    Params = C4QualityParams
    filter_class = FastC4QualityFilter
    reason_map: ClassVar[dict[str, str]] = {
        "lorem_ipsum": "lorem_ipsum",
        "curly_bracket": "curly_bracket",
        "too_few_sentences": "too_few_sentences",
    }
    reasons = tuple(f"c4_quality_{r}" for r in reason_map.values())

    def count_rewrite(self, before: str, after: str) -> None:
        super().count_rewrite(before, after)
        self.count("c4_quality_lines_removed", max(len(before.splitlines()) - len(after.splitlines()), 0))


class FineWebQualityParams(HeuristicParams):
    line_punct_thr: float = 0.12  # min share of lines ending in terminal punctuation
    line_punct_exclude_zero: bool = False  # true lets documents with no such line pass this rule
    stop_chars: list[str] | None = None  # null: datatrove's terminal punctuation set
    short_line_thr: float = 0.67  # max share of lines of at most short_line_length characters
    short_line_length: int = 30
    char_duplicates_ratio: float = 0.01  # max share of characters in duplicated lines
    new_line_ratio: float = 0.3  # max newlines per word (list-like pages)


@register_stage("fineweb_quality")
class FineWebQualityStage(DatatroveFilterStage):
    """FineWeb's own rules (Penedo et al. 2024): punctuated lines, short lines, duplicated lines, list-like pages."""

    Params = FineWebQualityParams
    reason_map: ClassVar[dict[str, str]] = {
        "empty": "empty",
        "line_punct_ratio": "line_punct_ratio",
        "short_line_ratio": "short_line_ratio",
        "char_dup_ratio": "char_dup_ratio",
        "list_ratio": "list_ratio",
    }
    reasons = tuple(f"fineweb_quality_{r}" for r in reason_map.values())

    def make_filter(self) -> BaseFilter:
        from datatrove.pipeline.filters.fineweb_quality_filter import FineWebQualityFilter

        kwargs = self.filter_kwargs()
        stop_chars = kwargs.pop("stop_chars")
        if stop_chars is not None:  # null keeps datatrove's own set
            kwargs["stop_chars"] = tuple(stop_chars)
        return FineWebQualityFilter(**kwargs)
