"""Tests for the language stage: drop reasons, agreement with py3langid, accuracy on the UDHR."""

from __future__ import annotations

import zipfile

import pytest

from winnow.filters.language import BatchLanguageIdentifier, LanguageStage
from winnow.pipeline import schema

EN = "The quick brown fox jumps over the lazy dog while the children watch from the garden."
DE = "Alle Menschen sind frei und gleich an Würde und Rechten geboren. Sie sind mit Vernunft und Gewissen begabt."
FR = "Tous les êtres humains naissent libres et égaux en dignité et en droits. Ils sont doués de raison."


def table(texts):
    return schema.documents_from_records([{"id": str(i), "text": t} for i, t in enumerate(texts)])


def reasons(outcome):
    return outcome.dropped["_winnow_reason"].to_pylist() if outcome.dropped is not None else []


def test_annotates_and_keeps_all_by_default():
    out = LanguageStage()(table([EN, DE, FR]))
    assert out.kept.num_rows == 3
    assert out.kept[schema.LANGUAGE].to_pylist() == ["en", "de", "fr"]
    scores = out.kept[schema.LANGUAGE_SCORE].to_pylist()
    assert all(0.0 <= s <= 1.0 for s in scores) and min(scores) > 0.5


def test_language_not_allowed():
    out = LanguageStage(languages=["en", "fr"])(table([EN, DE, FR]))
    assert out.kept[schema.LANGUAGE].to_pylist() == ["en", "fr"]
    assert reasons(out) == ["language_not_allowed"]
    assert out.dropped[schema.LANGUAGE].to_pylist() == ["de"]  # tagged before dropped


def test_language_low_score():
    ambiguous = "ok 123 ok"
    out = LanguageStage(min_score=0.9)(table([EN, ambiguous]))
    assert reasons(out) == ["language_low_score"]
    assert out.dropped[schema.LANGUAGE_SCORE].to_pylist()[0] < 0.9


def test_language_empty_text():
    out = LanguageStage()(table([EN, "", "   \n", None]))
    assert reasons(out) == ["language_empty_text"] * 3
    kept_empty = LanguageStage(drop_empty=False)(table(["", EN]))
    assert kept_empty.kept[schema.LANGUAGE].to_pylist() == ["und", "en"]


def test_unknown_language_code_refused():
    with pytest.raises(ValueError, match="unknown language codes"):
        LanguageStage(languages=["english"]).ensure_setup()


def test_batch_model_matches_py3langid():
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    ref = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    model = BatchLanguageIdentifier()
    texts = [EN, DE, FR, "Привет, как дела? Это тест.", "这是一个测试句子。", "SHOUTING IN ENGLISH IS STILL ENGLISH"]
    labels, probs = model.classify([model.encode(t, 2000) for t in texts])
    for text, label, prob in zip(texts, labels, probs):
        want, want_p = ref.classify(text)
        assert label == want
        assert prob == pytest.approx(want_p, abs=1e-3)
    # text without a single model feature: py3langid returns its first label at chance; we say "und", score 0
    assert model.classify([model.encode("a", 2000)]) == (["und"], [0.0])


UDHR = {  # file in udhr.zip -> (encoding, expected code)
    "English-Latin1": ("latin-1", "en"),
    "German_Deutsch-Latin1": ("latin-1", "de"),
    "French_Francais-Latin1": ("latin-1", "fr"),
    "Spanish-Latin1": ("latin-1", "es"),
    "Italian-Latin1": ("latin-1", "it"),
    "Dutch_Nederlands-Latin1": ("latin-1", "nl"),
    "Portuguese_Portugues-Latin1": ("latin-1", "pt"),
    "Swedish_Svenska-Latin1": ("latin-1", "sv"),
    "Finnish_Suomi-Latin1": ("latin-1", "fi"),
    "Russian_Russky-UTF8": ("utf-8", "ru"),
    "Czech-UTF8": ("utf-8", "cs"),
    "Greek_Ellinika-UTF8": ("utf-8", "el"),
    "Turkish_Turkce-UTF8": ("utf-8", "tr"),
    "Hindi-UTF8": ("utf-8", "hi"),
    "Chinese_Mandarin-UTF8": ("utf-8", "zh"),
    "Japanese_Nihongo-UTF8": ("utf-8", "ja"),
    "Korean_Hankuko-UTF8": ("utf-8", "ko"),
}


def test_udhr_accuracy(shared_data):
    """Snippet-level accuracy on 17 languages of the UDHR (recorded in docs/readme/filters.md)."""
    texts, gold = [], []
    with zipfile.ZipFile(shared_data / "langid" / "udhr.zip") as z:
        for name, (encoding, code) in UDHR.items():
            body = z.read(f"udhr/{name}").decode(encoding, errors="replace")
            flat = " ".join(body.split())[200:]  # skip the title and preamble heading
            for k in range(6):  # six snippets of 250 characters per language
                texts.append(flat[k * 250 : (k + 1) * 250])
                gold.append(code)
    assert all(len(t) == 250 for t in texts)
    out = LanguageStage()(table(texts))
    got = out.kept[schema.LANGUAGE].to_pylist()
    accuracy = sum(g == w for g, w in zip(got, gold)) / len(gold)
    per_language = {code: all(g == w for g, w in zip(got, gold) if w == code) for code in set(gold)}
    assert len(gold) == 6 * len(UDHR)
    assert accuracy >= 0.95, (accuracy, per_language)


def test_model_is_unpacked_once_per_machine_and_rebuilt_when_torn(tmp_path, monkeypatch):
    import numpy as np
    from py3langid.langid import LanguageIdentifier

    monkeypatch.setenv("WINNOW_CACHE_DIR", str(tmp_path))
    texts = [t.encode() for t in (EN, DE, FR)]
    first = BatchLanguageIdentifier()  # unpacks py3langid's xz model and saves the arrays
    expected = first.classify(texts)
    unpacked = []
    load = LanguageIdentifier.from_model_file
    monkeypatch.setattr(LanguageIdentifier, "from_model_file", lambda *a, **k: unpacked.append(1) or load(*a, **k))
    second = BatchLanguageIdentifier()
    assert unpacked == [] and isinstance(second.nextmove, np.memmap)  # from the cache, memory-mapped
    assert second.classify(texts) == expected
    (folder,) = tmp_path.glob("py3langid-*")
    (folder / "ptc.npy").write_bytes(b"torn")
    assert BatchLanguageIdentifier().classify(texts) == expected and unpacked == [1]  # rebuilt from the model
    assert BatchLanguageIdentifier().classify(texts) == expected and unpacked == [1]  # and cached again
