"""Tests for the heuristic stages: one test per drop reason, text rewriting, real documents, and agreement with
datatrove's own filters (words, sentences, n-gram counts and decisions)."""

from __future__ import annotations

import gzip
import json
import random
from itertools import accumulate

import numpy as np
import pytest
from datatrove.data import Document
from datatrove.pipeline.filters import (
    C4QualityFilter,
    FineWebQualityFilter,
    GopherQualityFilter,
    GopherRepetitionFilter,
)
from datatrove.pipeline.filters.gopher_repetition_filter import find_all_duplicate, find_top_duplicate, get_n_grams
from datatrove.utils.word_tokenizers import load_word_tokenizer

from winnow.filters.heuristics import (
    C4QualityStage,
    FineWebQualityStage,
    GopherQualityStage,
    GopherRepetitionStage,
    SharedWordTokenizer,
)
from winnow.filters.heuristics.rules import RepeatedNgrams, next_ngram_ids, repeated_ngram_chars_slow, top_ngram_chars
from winnow.pipeline import schema
from winnow.pipeline.accounting import StageCount

PROSE = (
    "The river runs through the old town and the people who live there have built their homes along its banks. "
    "In the spring the water rises and the farmers bring their boats to the market with fruit and grain. "
    "Children play near the bridge while their parents trade with merchants that have come from distant cities. "
    "At night the lamps are lit and the music of the festival can be heard across the valley until morning."
)


def table(texts, languages=None):
    rows = [{"id": str(i), "text": t} for i, t in enumerate(texts)]
    if languages:
        for row, lang in zip(rows, languages):
            row["language"] = lang
    return schema.documents_from_records(rows)


def reason_of(stage, text, **kw):
    out = stage(table([text], **kw))
    assert out.failed is None, out.failed.to_pylist() if out.failed is not None else None
    return out.dropped["_winnow_reason"][0].as_py() if out.dropped is not None else None


# ---------------------------------------------------------------- gopher_quality
@pytest.mark.parametrize(
    "params, text, reason",
    [
        ({}, "The cat sat on the mat and the dog slept.", "short_doc"),
        ({"max_doc_words": 40}, PROSE, "long_doc"),
        ({}, "a to be of an it the is " * 10, "avg_word_length_low"),
        ({}, "the and extraordinarily incomprehensibilities unconstitutionally " * 15, "avg_word_length_high"),
        ({}, PROSE + " #" * 20, "too_many_hashes"),
        ({}, PROSE + " ..." * 20, "too_many_ellipsis"),
        ({}, "\n".join(["- " + s for s in PROSE.split(". ")] * 2), "too_many_bullets"),
        ({}, PROSE.replace(". ", "...\n"), "too_many_end_ellipsis"),
        ({}, PROSE + " 1234 5678 9012" * 25, "few_alpha_words"),
        ({}, "Rivers flow quickly through green valleys during warm summers. " * 8, "few_stop_words"),
    ],
)
def test_gopher_quality_reasons(params, text, reason):
    assert reason_of(GopherQualityStage(**params), text) == f"gopher_quality_{reason}"


def test_gopher_quality_keeps_prose_and_every_reason_is_declared():
    assert reason_of(GopherQualityStage(), PROSE) is None
    assert set(GopherQualityStage.reasons) == {f"gopher_quality_{r}" for r in GopherQualityStage.reason_map.values()}


# ---------------------------------------------------------------- gopher_repetition
LONG = "This paragraph is long enough to carry most of the characters of the whole document by itself."
NGRAM_OFF = {"top_n_grams": [], "dup_n_grams": []}


@pytest.mark.parametrize(
    "params, text, reason",
    [
        ({}, "", "empty"),
        ({}, "Same words.\n\nSame words.\n\nSame words.\n\nOther words.", "dup_para_frac"),
        ({}, f"{LONG}\n\n{LONG}\n\nShort one.\n\nShort two.", "dup_para_char_frac"),
        ({}, "Same line.\nSame line.\nSame line.\nOther line.", "dup_line_frac"),
        ({}, f"{LONG}\n{LONG}\nShort one.\nShort two.", "dup_line_char_frac"),
        ({}, "alpha beta " * 30 + PROSE, "top_2_gram"),
        ({"top_n_grams": [[3, 0.18]], "dup_n_grams": []}, "one two three " * 30 + PROSE, "top_3_gram"),
        ({"top_n_grams": [[4, 0.16]], "dup_n_grams": []}, "one two three four " * 30 + PROSE, "top_4_gram"),
    ]
    + [({"top_n_grams": [], "dup_n_grams": [[n, 0.1]]}, PROSE + " " + PROSE, f"dup_{n}_gram") for n in range(5, 11)],
)
def test_gopher_repetition_reasons(params, text, reason):
    assert reason_of(GopherRepetitionStage(**params), text) == f"gopher_repetition_{reason}"


def test_gopher_repetition_keeps_prose():
    assert reason_of(GopherRepetitionStage(), PROSE) is None
    assert reason_of(GopherRepetitionStage(**NGRAM_OFF), PROSE + " " + PROSE) is None


# ---------------------------------------------------------------- c4_quality
SENTENCES = PROSE.replace(". ", ".\n")  # four lines, each a sentence ending in a full stop


@pytest.mark.parametrize(
    "text, reason",
    [
        (SENTENCES + "\nLorem ipsum dolor sit amet, consectetur adipiscing elit.", "lorem_ipsum"),
        (SENTENCES + "\nThe function returns {a: 1} to the caller.", "curly_bracket"),
        ("This page has one sentence only.", "too_few_sentences"),
    ],
)
def test_c4_quality_reasons(text, reason):
    assert reason_of(C4QualityStage(), text) == f"c4_quality_{reason}"


def test_c4_quality_removes_lines_and_keeps_the_byte_funnel():
    boiler = (
        "Home\nMenu\nThis site uses cookies to improve your experience.\nEnable JavaScript to view this page now.\n"
    )
    text = boiler + SENTENCES + "\nThe festival ends with a parade through the streets."
    batch = table([text, "Too short."])
    stage = C4QualityStage()
    out = stage(batch)
    kept = out.kept[schema.TEXT][0].as_py()
    assert kept == SENTENCES + "\nThe festival ends with a parade through the streets."
    assert out.counters == {"c4_quality_docs_modified": 1, "c4_quality_lines_removed": 4}
    # the engine counts bytes before and after: the removed lines are the difference, the books balance
    count = StageCount("c4_quality")
    count.add_outcome(batch, out, 0.0, schema.row_bytes(batch))
    assert count.bytes_in == len(text.encode()) + len(b"Too short.")
    assert count.bytes_dropped == len(b"Too short.")
    assert count.bytes_out == len(kept.encode())
    assert count.bytes_in == count.bytes_kept + count.bytes_dropped + count.bytes_failed


# ---------------------------------------------------------------- fineweb_quality
@pytest.mark.parametrize(
    "text, reason",
    [
        ("   \n \n", "empty"),
        ("Home\nAbout us\nProducts and services\nContact the team", "line_punct_ratio"),
        ("Yes.\nNo.\nMaybe.\nSure.\n" + PROSE, "short_line_ratio"),
        (SENTENCES + "\n" + SENTENCES.splitlines()[0], "char_dup_ratio"),
        ("\n".join(f"Supercalifragilisticexpialidocious{i}." for i in range(10)), "list_ratio"),
    ],
)
def test_fineweb_quality_reasons(text, reason):
    assert reason_of(FineWebQualityStage(), text) == f"fineweb_quality_{reason}"


def test_fineweb_quality_keeps_prose():
    assert reason_of(FineWebQualityStage(), SENTENCES) is None


# ---------------------------------------------------------------- language awareness
def test_languages_param_skips_other_languages():
    stage = GopherQualityStage(languages=["en"])
    out = stage(table(["Kurz.", "Short."], languages=["de", "en"]))
    assert out.kept[schema.TEXT].to_pylist() == ["Kurz."]
    assert out.dropped["_winnow_reason"].to_pylist() == ["gopher_quality_short_doc"]


def test_document_language_picks_the_tokenizer():
    stage = GopherQualityStage()
    stage.ensure_setup()
    assert stage.filter_for("de").language.inner is not stage.filter_for("en").language.inner
    assert stage.filter_for(None).language is stage.filter_for("en").language  # default_language
    # a language whose tokenizer needs a package that is not installed falls back, never downloads
    assert stage.filter_for("ja").language.word_tokenize("これは テスト です")


def test_null_text_is_handled():
    out = GopherRepetitionStage()(table([None, PROSE]))
    assert out.dropped["_winnow_reason"].to_pylist() == ["gopher_repetition_empty"]
    assert out.kept.num_rows == 1


# ---------------------------------------------------------------- real documents
def _real_docs(shared_data, n=12):
    rows = []
    for path in [
        shared_data / "domains" / "web.jsonl.gz",
        *sorted((shared_data / "cc" / "cc_jsonl" / "dolma").glob("*.jsonl.gz")),
    ]:
        with gzip.open(path, "rt") as f:
            for i, line in enumerate(f):
                if i >= n:
                    break
                d = json.loads(line)
                rows.append({"id": str(d["id"]), "text": d["text"]})
    return schema.documents_from_records(rows)


def test_real_documents_through_all_stages(shared_data):
    from winnow.filters.language import LanguageStage

    batch = _real_docs(shared_data)
    assert batch.num_rows >= 30
    seen: dict[str, int] = {}
    for stage in [
        LanguageStage(),
        GopherRepetitionStage(languages=["en"]),
        GopherQualityStage(languages=["en"]),
        C4QualityStage(languages=["en"]),
        FineWebQualityStage(languages=["en"]),
    ]:
        out = stage(batch)
        count = StageCount(stage.name)
        count.add_outcome(batch, out, 0.0, schema.row_bytes(batch))
        assert count.docs_in == count.kept + sum(count.dropped.values()) + sum(count.failed.values())
        assert out.failed is None
        for r in count.dropped:
            assert r in stage.reasons
            seen[r] = seen.get(r, 0) + count.dropped[r]
        batch = out.kept
    assert batch.num_rows > 0  # real prose survives
    assert "en" in batch[schema.LANGUAGE].to_pylist()
    assert sum(seen.values()) > 0  # and real boilerplate does not


# ---------------------------------------------------------------- agreement with datatrove
PEERS = {
    "gopher_repetition": GopherRepetitionFilter,
    "gopher_quality": GopherQualityFilter,
    "c4_quality": C4QualityFilter,
    "fineweb_quality": FineWebQualityFilter,
}
STAGES = [GopherRepetitionStage, GopherQualityStage, C4QualityStage, FineWebQualityStage]


def _datatrove_verdict(flt, text: str) -> tuple[str | None, str]:
    doc = Document(text=text, id="x")
    result = flt.filter(doc)
    keep, reason = result if isinstance(result, tuple) else (result, None)
    return (None if keep else reason), doc.text


def _agreement(stage_cls, texts: list[str]) -> tuple[int, list]:
    """Documents on which the stage keeps/drops with the same reason (and the same rewritten text) as datatrove."""
    stage = stage_cls()
    out = stage(table(texts))
    assert out.failed is None
    ours = {r["id"]: (None, r["text"]) for r in out.kept.select(["id", "text"]).to_pylist()}
    if out.dropped is not None:
        ours.update(
            {i: (r, None) for i, r in zip(out.dropped["id"].to_pylist(), out.dropped["_winnow_reason"].to_pylist())}
        )
    peer = PEERS[stage_cls.name]()
    same, differ = 0, []
    for i, text in enumerate(texts):
        their_reason, their_text = _datatrove_verdict(peer, text)
        our_reason, our_text = ours[str(i)]
        ok = (
            our_reason is None and our_text == their_text
            if their_reason is None
            else our_reason == stage.reason(their_reason)
        )
        same += ok
        if not ok:
            differ.append((i, their_reason, our_reason))
    return same, differ


CRAFTED = [
    PROSE,
    PROSE + " #" * 20,
    "\n".join(["- " + s for s in PROSE.split(". ")] * 2),
    PROSE.replace(". ", "...\n"),
    "alpha beta " * 30 + PROSE,
    PROSE + " " + PROSE,
    f"{LONG}\n\n{LONG}\n\nShort one.\n\nShort two.",
    SENTENCES + "\nThe function returns {a: 1} to the caller.",
    "Home\nMenu\nThis site uses cookies.\nEnable JavaScript to view this page now.\n" + SENTENCES,
    'Dr. Smith met Mr. Jones at 3 p.m. in the U.S. embassy. They didn\'t talk. "Why?" he asked. (Nobody knew.) ' * 3,
    "One. Two! Three? Four... Five; six: seven.\n" * 4 + "Ende.  Noch ein Satz.\tUnd noch einer.",
    "Visit https://example.com/a.b?c=d or e-mail me@example.org :) ;-) (: -- it's 10km, $5.99 & 50% off!!! " * 6,
    "   \n \n",
]


@pytest.mark.parametrize("stage_cls", STAGES, ids=lambda c: c.name)
def test_crafted_texts_decide_as_datatrove(stage_cls):
    same, differ = _agreement(stage_cls, CRAFTED)
    assert same == len(CRAFTED), differ


@pytest.mark.parametrize("stage_cls", STAGES, ids=lambda c: c.name)
def test_real_documents_decide_as_datatrove(shared_data, stage_cls):
    texts = [row["text"] for row in _real_docs(shared_data, n=16).to_pylist()]
    same, differ = _agreement(stage_cls, texts)
    assert same / len(texts) >= 0.98, differ  # measured on 1,300 documents: 100 % for every stage


def test_words_and_sentences_are_spacys(shared_data):
    spacy_en = load_word_tokenizer("en")
    ours = SharedWordTokenizer("en", spacy_en, max_chars=0)
    assert ours.chunks is not None  # the chunk path is in use, not a pass-through to spaCy
    texts = [row["text"] for row in _real_docs(shared_data, n=6).to_pylist()]
    texts += CRAFTED + [
        "",
        " ",
        "a ",
        "a  ",
        "  lead",
        "x\u00a0y",
        "''.join(v)",
        "(don't)",
        "U.S.A. e.g. ...",
        "Hi.\n\nBye.",
    ]
    for text in texts:
        assert ours.word_tokenize(text) == spacy_en.word_tokenize(text), text[:80]
    lines = [line.strip() for t in texts for line in t.splitlines()] + texts
    for line in lines:
        assert ours.span_tokenize(line) == spacy_en.span_tokenize(line), line[:80]


def test_ngram_counts_match_datatrove():
    rng = random.Random(7)
    vocab = ["a", "b", "ab", "c", "bc", "abc", "the", "é", "😀"]  # "a"+"bc" == "ab"+"c": concatenation, not tuples
    for _ in range(400):
        words = [rng.choice(vocab[: rng.randint(2, len(vocab))]) for _ in range(rng.randint(1, 50))]
        ids = {w: i for i, w in enumerate(dict.fromkeys(words))}
        word_ids = np.array([ids[w] for w in words], np.int64)
        lens = np.array([len(w) for w in words], np.int64)
        grams = RepeatedNgrams(words)
        ids = word_ids  # the filter's way: n-gram ids grown one word at a time
        for n in range(1, 11):
            top = get_n_grams(words, n)
            expected = find_top_duplicate(top) if top else None
            assert top_ngram_chars(word_ids, lens, n) == expected
            if n > 1 and n <= len(words):
                ids = next_ngram_ids(ids, word_ids, n - 1)
                assert top_ngram_chars(word_ids, lens, n, ids) == expected
            assert grams.chars(n) == find_all_duplicate(words, n), (words, n)


def test_hash_collisions_fall_back_to_exact_strings():
    words = ("a bc ab c x " * 5).split()
    grams = RepeatedNgrams(words)
    grams.prefix = np.zeros_like(grams.prefix)  # every n-gram of a length now shares one hash
    offsets = [0, *accumulate(map(len, words))]
    for n in range(2, 6):
        assert grams.chars(n) == find_all_duplicate(words, n) == repeated_ngram_chars_slow("".join(words), offsets, n)
