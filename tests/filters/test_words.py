"""Tests for the plain-ASCII-word shortcut of the heuristic filters' word splitting: taken only in languages where a
probe, run when the language's tokenizer is first built, shows spaCy's rules never split such a word."""

from __future__ import annotations

import gzip
import json
import zipfile

import pytest
import spacy
from datatrove.data import Document
from datatrove.pipeline.filters import GopherQualityFilter
from datatrove.utils.word_tokenizers import load_word_tokenizer
from spacy.util import compile_infix_regex, compile_prefix_regex, compile_suffix_regex

from winnow.filters.heuristics import ChunkWords, GopherQualityStage, SharedWordTokenizer, tokenizer_for
from winnow.filters.heuristics import words as words_module
from winnow.pipeline import schema

# currency codes glued to letters: spaCy's Indonesian and Malay rules split "USDA" into "USD A" (Malay also
# "RMJBD" into "RM JBD"); the rest are plain words either way
CURRENCY_TEXT = (
    "Data USDA menunjukkan harga kedelai naik. Kode RMJBD dan RMB dipakai bank, IDRIS membayar Rpx dengan SGDA "
    "atau MYRA. Laporan USDA USD RM Rp NASA Rupiah rumah usda berikutnya."
)
UDHR = {"id": "udhr/Indonesian-Latin1", "zsm": "udhr/Malay_BahasaMelayu-Latin1"}
# Malay by a code datatrove gives spaCy's Malay rules ("zsm", Standard Malay; also "jv", "mg" and ~260 more): its
# table sends "ms" itself to a Thai tokenizer, which needs pythainlp, so Winnow's "ms" falls back to spaCy's "xx"
LANGS = ["id", "zsm"]


def spacy_words(nlp, text: str) -> list[str]:
    """datatrove's words: spaCy's tokens without the whitespace ones."""
    with nlp.memory_zone():
        return [t.text for t in nlp.tokenizer(text) if t.text.strip()]


def udhr_text(shared_data, lang: str) -> str:
    with zipfile.ZipFile(shared_data / "langid" / "udhr.zip") as z:
        return z.read(UDHR[lang]).decode("latin-1")


# ---------------------------------------------------------------- Indonesian and Malay: no shortcut
@pytest.mark.parametrize("lang", LANGS)
def test_indonesian_and_malay_words_are_spacys(lang):
    ours = tokenizer_for(lang)
    assert ours.chunks is not None and not ours.chunks.ascii_shortcut
    assert not ours.chunks.spacy_only  # the replay of spaCy's rules is exact on the probe words
    words = ours.word_tokenize(CURRENCY_TEXT)
    assert words == load_word_tokenizer(lang).word_tokenize(CURRENCY_TEXT)
    assert words[1:3] == ["USD", "A"] and "USDA" not in words
    assert ("RMJBD" in words) == (lang == "id")  # "RM" is a currency prefix in Malay only


@pytest.mark.parametrize("lang", LANGS)
def test_real_indonesian_and_malay_text_splits_as_spacy(shared_data, lang):
    paragraphs = udhr_text(shared_data, lang).split("\n")
    # the currency words between the real paragraphs, as a page quoting prices would have them
    text = "\n".join(p + (" " + CURRENCY_TEXT if i % 3 == 0 else "") for i, p in enumerate(paragraphs))
    ours = SharedWordTokenizer(lang, load_word_tokenizer(lang), max_chars=0)
    spacy_tok = load_word_tokenizer(lang)
    assert ours.word_tokenize(text) == spacy_tok.word_tokenize(text)
    for line in text.splitlines():
        assert ours.span_tokenize(line) == spacy_tok.span_tokenize(line), line[:80]


# 44 Indonesian words and four "USDA": 48 words split at whitespace, 52 of spaCy's (Gopher's minimum is 50)
SHORT_BY_SHORTCUT = (
    "USDA melaporkan bahwa panen kedelai tahun ini lebih baik dari tahun lalu karena hujan turun tepat waktu "
    "USDA juga mencatat harga jagung stabil di pasar kota dan petani desa merasa lega USDA menyebut ekspor naik "
    "sedikit sementara impor gandum turun menurut laporan USDA minggu ini dan bulan lalu"
)


@pytest.mark.parametrize("lang", LANGS)
def test_heuristic_decisions_follow_datatrove_where_spacy_splits_ascii_words(lang):
    assert len(SHORT_BY_SHORTCUT.split()) < 50 <= len(load_word_tokenizer(lang).word_tokenize(SHORT_BY_SHORTCUT))
    stage = GopherQualityStage()
    out = stage(schema.documents_from_records([{"id": "0", "text": SHORT_BY_SHORTCUT, "language": lang}]))
    ours = out.dropped["_winnow_reason"][0].as_py() if out.dropped is not None else None
    verdict = GopherQualityFilter(language=lang).filter(Document(text=SHORT_BY_SHORTCUT, id="0"))
    keep, reason = verdict if isinstance(verdict, tuple) else (verdict, None)
    assert reason != "gopher_short_doc"  # long enough by spaCy's words: the shortcut would call it short
    assert ours == (None if keep else stage.reason(reason))


# ---------------------------------------------------------------- English: the shortcut, and spaCy's words
def test_english_takes_the_shortcut_and_matches_spacy(shared_data, monkeypatch):
    texts = []
    for dom in ("web", "wiki", "books", "forum_qa"):
        with gzip.open(shared_data / "domains" / f"{dom}.jsonl.gz", "rt") as f:
            texts += [json.loads(line)["text"] for _, line in zip(range(5), f)]
    ours = SharedWordTokenizer("en", load_word_tokenizer("en"), max_chars=0)
    assert ours.chunks.ascii_shortcut and not ours.chunks.spacy_only
    replayed: list[str] = []
    replay = ours.chunks._affixes
    monkeypatch.setattr(ours.chunks, "_affixes", lambda s, specials: replayed.append(s) or replay(s, specials))
    spacy_en = load_word_tokenizer("en")
    for text in texts:
        assert ours.word_tokenize(text) == spacy_en.word_tokenize(text), text[:80]
    plain = {c for t in texts for c in t.split() if c.isascii() and c.isalpha()}
    assert len(plain) > 1000
    assert not plain.intersection(replayed)  # every plain ASCII word took the shortcut, none the rules


# ---------------------------------------------------------------- the probe
def english_with(kind: str, rule: str):
    """spaCy's English with one more prefix, suffix or infix rule."""
    nlp = spacy.blank("en")
    tok = nlp.tokenizer
    if kind == "prefix":
        tok.prefix_search = compile_prefix_regex([*nlp.Defaults.prefixes, rule]).search
    elif kind == "suffix":
        tok.suffix_search = compile_suffix_regex([*nlp.Defaults.suffixes, rule]).search
    else:
        tok.infix_finditer = compile_infix_regex([*nlp.Defaults.infixes, rule]).finditer
    return nlp


# a made-up currency code before letters, a clitic glued after them, a letter pair inside a word
RULES = [
    ("prefix", "ZQX", "Pay ZQXten or ZQXA now.", ["ZQX", "ten"]),
    ("suffix", "(?<=[a-z])nik", "The bagnik is here.", ["bag", "nik"]),
    ("infix", "(?<=[a-z])qq(?=[a-z])", "The boqqat sails.", ["bo", "qq", "at"]),
]


@pytest.mark.parametrize("kind, rule, text, split", RULES, ids=[r[0] for r in RULES])
def test_probe_catches_rules_that_split_ascii_words(monkeypatch, kind, rule, text, split):
    nlp = english_with(kind, rule)
    theirs = spacy_words(nlp, text)
    assert all(w in theirs for w in split)  # spaCy really splits a plain ASCII word here
    chunks = ChunkWords(nlp)
    assert not chunks.ascii_shortcut
    assert chunks.probe.split  # and the probe saw it on a word built from the rule
    assert chunks.words(text) == theirs

    # without the probe's verdict the shortcut keeps the word whole: the assertion above is what the probe buys
    clean = words_module.AsciiProbe(nlp.lang, 0, 0, (), (), 0.0, True)
    monkeypatch.setattr(words_module, "_PROBES", {})
    monkeypatch.setattr(ChunkWords, "_probe_ascii_words", lambda self: clean)
    assert ChunkWords(nlp).words(text) != theirs


def test_probe_sends_every_chunk_to_spacy_where_the_replay_is_wrong(monkeypatch):
    class WrongReplay(ChunkWords):
        def _affixes(self, s, specials):
            return [s]  # never splits: unlike spaCy on "ZQXten"

    monkeypatch.setattr(words_module, "_PROBES", {})
    nlp = english_with("prefix", "ZQX")
    chunks = WrongReplay(nlp)
    assert chunks.probe.replay_differs and chunks.spacy_only
    text = "Pay ZQXten or ZQXA now, (ZQXmore)."
    assert chunks.words(text) == spacy_words(nlp, text)


def test_probe_runs_once_per_rules_in_a_process(monkeypatch):
    calls: list[str] = []
    probe = ChunkWords._probe_ascii_words
    monkeypatch.setattr(words_module, "_PROBES", {})
    monkeypatch.setattr(ChunkWords, "_probe_ascii_words", lambda self: calls.append(self.nlp.lang) or probe(self))
    first, second = ChunkWords(spacy.blank("en")), ChunkWords(spacy.blank("en"))  # two pipelines, same rules
    assert calls == ["en"] and first.probe is second.probe
    assert first.probe.tried <= first.probe.words
    ChunkWords(english_with("prefix", "ZQX"))  # other rules: probed on their own
    assert calls == ["en", "en"]


def test_a_rule_that_cannot_be_read_turns_the_shortcut_off(monkeypatch):
    nlp = spacy.blank("en")
    search = nlp.tokenizer.prefix_search
    nlp.tokenizer.prefix_search = lambda s: search(s)  # a function, not a regular expression: no probe words from it
    monkeypatch.setattr(words_module, "_PROBES", {})
    chunks = ChunkWords(nlp)
    assert not chunks.probe.readable and not chunks.ascii_shortcut
    assert words_module._PROBES == {}  # nothing to key a verdict on: not remembered
    text = "Plain words, (quoted) and U.S. ones."
    assert chunks.words(text) == spacy_words(nlp, text)


def test_probe_words_come_from_the_rules():
    words, sample, readable = words_module.ascii_probe_words(spacy.blank("ms").tokenizer)
    assert readable
    assert {"USD", "RM", "Rp", "USDa", "RMA", "aRpa"} <= set(words)
    assert set(sample) <= set(words)
    assert all(w.isascii() and w.isalpha() for w in words)


# ---------------------------------------------------------------- loaded on first use, warm for the next units
def test_tokenizers_load_once_and_stay_warm_across_stages():
    text = "Warm words stay remembered between units of one worker."
    first = GopherQualityStage()
    first(schema.documents_from_records([{"id": "0", "text": text, "language": "en"}]))
    tok = first.filter_for("en").language
    assert tok is tokenizer_for("en") and tok.chunks is not None
    assert text in tok._words  # remembered after the unit
    second = GopherQualityStage()  # the next unit's pipeline in the same worker
    second.ensure_setup()
    assert second.filter_for("en").language is tok
    assert text in tok._words


# ---------------------------------------------------------------- rules from disk: no spaCy in the worker
# French has a token pattern, Indonesian 16,000 special cases, English the contractions
RULEBOOK_TEXTS = {"fr": "udhr/French_Francais-Latin1", "id": UDHR["id"], "en": "udhr/English-Latin1"}


@pytest.mark.parametrize("lang", sorted(RULEBOOK_TEXTS))
def test_rules_read_from_disk_split_as_spacy(shared_data, tmp_path, monkeypatch, lang):
    from winnow.filters.heuristics import rulebook

    monkeypatch.setenv("WINNOW_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(words_module, "_TOKENIZERS", {})
    built = tokenizer_for(lang)  # from spaCy: writes the rulebook
    assert rulebook.cache_path(lang).is_file()
    monkeypatch.setattr(words_module, "_TOKENIZERS", {})
    read = tokenizer_for(lang)
    assert read is not built and read.chunks._nlp is None  # not from spaCy, and spaCy not loaded for it
    with zipfile.ZipFile(shared_data / "langid" / "udhr.zip") as z:
        text = z.read(RULEBOOK_TEXTS[lang]).decode("latin-1") + " " + CURRENCY_TEXT
    specials = sorted(k for k in built.chunks.rules.specials if not any(c.isspace() for c in k))
    text += " " + " ".join(specials[:: max(1, len(specials) // 300)])  # special cases, as a page would have them
    assert read.word_tokenize(text) == spacy_words(_plain_nlp(lang), text)
    assert read.span_tokenize(text) == built.span_tokenize(text)
    assert read.chunks.ascii_shortcut == built.chunks.ascii_shortcut


@pytest.mark.parametrize("lang", sorted(RULEBOOK_TEXTS))
def test_the_spacy_a_rulebook_builds_splits_as_the_languages_own(shared_data, lang):
    """The rare chunk ChunkWords hands to spaCy goes to a tokenizer built from the rulebook's compiled rules (no
    second compile of the language's rules): it must split every chunk as spacy.blank(lang) does."""
    rules = tokenizer_for(lang).chunks.rules
    with zipfile.ZipFile(shared_data / "langid" / "udhr.zip") as z:
        text = z.read(RULEBOOK_TEXTS[lang]).decode("latin-1") + " " + CURRENCY_TEXT
    specials = sorted(k for k in rules.specials if not any(c.isspace() for c in k))
    chunks = set(text.split()) | set(specials[:: max(1, len(specials) // 300)]) | {"n°58", "geht’s", "«oui»,"}
    mine, own = rules.to_spacy().tokenizer, _plain_nlp(lang).tokenizer
    assert [[t.text for t in mine(c)] for c in sorted(chunks)] == [[t.text for t in own(c)] for c in sorted(chunks)]


def _plain_nlp(lang: str):
    return words_module._plain_spacy(load_word_tokenizer(lang))


def test_a_worker_with_the_rules_on_disk_never_imports_spacy(tmp_path):
    import subprocess
    import sys

    script = ("import sys; from winnow.filters.heuristics.words import tokenizer_for; "
              "w = tokenizer_for('de').word_tokenize('Wie geht’s: St.Gallen, 3.5kg (ca.).'); "
              "print(w, 'spacy' in sys.modules)")
    env = {**__import__("os").environ, "WINNOW_CACHE_DIR": str(tmp_path)}
    first = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
    second = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
    assert first.stdout.strip().endswith("True")  # built from spaCy the first time
    assert second.stdout.strip().endswith("False")
    assert first.stdout.split("]")[0] == second.stdout.split("]")[0]


def test_a_torn_rulebook_is_rebuilt_from_spacy(tmp_path, monkeypatch):
    from winnow.filters.heuristics import rulebook

    monkeypatch.setenv("WINNOW_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(words_module, "_TOKENIZERS", {})
    path = rulebook.cache_path("en")
    path.parent.mkdir(parents=True)
    path.write_text('{"format": 1, "lang": "en"')  # a write cut short
    tok = tokenizer_for("en")
    assert tok.word_tokenize("Don't stop.") == ["Do", "n't", "stop", "."]
    assert rulebook.load_rulebook("en") is not None  # rewritten whole


# ---------------------------------------------------------------- spaCy's final special-case pass, replayed
# Decorations that make affix splitting cut a special case into pieces the final pass must join again (or not).
DECORATIONS = [("", ""), ("«", "»,"), ("(", ")."), ("''", ""), ("", "''"), ("„", "“:"), ('"', '"?'), ("'", "'"), ("-", "-")]
# real chunks from the sample WARCs that once sent ChunkWords to spaCy itself
FINAL_PASS_CHUNKS = ["Peychaud’s", "St.Gallen.", "geht’s:", "«Sch’n’nobe»", "Fußball„):", "175f.):", "„Anything’s", "über’s"]


@pytest.mark.parametrize("lang", ["de", "en", "es", "fr"])
def test_the_final_special_case_pass_is_spacys_without_spacy(lang):
    """Every special case of the language, alone, decorated and glued to another, splits as spaCy splits it, and
    the replay never calls spaCy (Spanish "°C." is itself a special case whose pieces the final pass joins again)."""
    tok = tokenizer_for(lang)
    chunks, nlp = tok.chunks, _plain_nlp(lang)
    keys = sorted(k for k in chunks.rules.specials if not any(c.isspace() for c in k))
    tried = set(FINAL_PASS_CHUNKS) | {a + k + b for k in keys for a, b in DECORATIONS}
    tried |= {k1 + k2 for k1, k2 in zip(keys[::5], keys[2::5])}
    calls = []
    chunks._spacy = lambda chunk: calls.append(chunk)  # an instance attribute: this test's tokenizer only
    try:
        mine, joined = {}, 0
        for c in sorted(tried):
            mine[c] = chunks._split(c)
            joined += mine[c] != tuple(chunks._affixes(c, chunks._specials))
    finally:
        del chunks._spacy
    with nlp.memory_zone():
        theirs = {c: tuple(t.text for t in nlp.tokenizer(c)) for c in sorted(tried)}
    assert not calls
    assert joined > 100  # the final pass changed many of them
    assert {c: m for c, m in mine.items() if m != theirs[c]} == {}


# ---------------------------------------------------------------- compiled programs: no regex compiled on load
@pytest.fixture(scope="module")
def french_saved():
    """French's rulebook as written to disk (its 1.4 MB token pattern's program is built once for these tests)."""
    return json.loads(json.dumps(tokenizer_for("fr").chunks.rules.to_json()))


def test_a_saved_program_matches_as_the_compiled_pattern_and_a_damaged_one_is_not_used(french_saved):
    from winnow.filters.heuristics import regex_program

    pattern = tokenizer_for("fr").chunks.rules.token_match.__self__  # French's 1.4 MB token pattern
    saved = french_saved["programs"]["token_match"]
    loaded = regex_program.load(pattern.pattern, saved)
    assert loaded is not None and (loaded.pattern, loaded.flags) == (pattern.pattern, pattern.flags)
    probes = ["aujourd'hui", "Aujourd'hui", "peut-être", "porte-monnaie", "l'été", "chat", "prud'homme", "c'est-à-dire"]
    assert [bool(loaded.match(w)) for w in probes] == [bool(pattern.match(w)) for w in probes]
    assert any(loaded.match(w) for w in probes)
    assert regex_program.load(pattern.pattern, {**saved, "magic": saved["magic"] + 1}) is None  # another interpreter
    code = bytearray(__import__("base64").b64decode(saved["code"]))
    code[4:8] = b"\xff\xff\xff\x7f"  # an opcode no matcher knows
    damaged = {**saved, "code": __import__("base64").b64encode(bytes(code)).decode()}
    assert regex_program.load(pattern.pattern, damaged) is None


def test_rules_read_from_disk_compile_no_regular_expression(french_saved, monkeypatch):
    from winnow.filters.heuristics import rulebook

    def no_compile(*args, **kwargs):
        raise AssertionError("a rule was compiled again")

    monkeypatch.setattr(rulebook.re, "compile", no_compile)
    read = rulebook.Rulebook.from_json(french_saved)
    monkeypatch.undo()
    text = "L'été, c'est aujourd'hui 3,5 kg (environ) : peut-être «oui»."
    assert ChunkWords(read).words(text) == tokenizer_for("fr").word_tokenize(text)


def test_a_rulebook_without_programs_still_saves_and_loads(monkeypatch):
    """re's internals are not an API: when this Python cannot give a rule's program, the rulebook is written without
    it and the rule is compiled when read."""
    from winnow.filters.heuristics import rulebook

    def unavailable(pattern):
        raise AttributeError("re._compiler changed")

    rules = tokenizer_for("en").chunks.rules
    monkeypatch.setattr(rulebook, "regex_program", unavailable)
    saved = json.loads(json.dumps(rules.to_json()))
    assert saved["programs"] == {}
    read = rulebook.Rulebook.from_json(saved)
    assert ChunkWords(read).words("Don't stop (now).") == ["Do", "n't", "stop", "(", "now", ")", "."]
