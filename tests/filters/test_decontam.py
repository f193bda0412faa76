"""Decontamination: benchmark questions planted into real documents are caught, clean documents survive."""

from __future__ import annotations

import gzip
import json
import random
from pathlib import Path

import pytest

from winnow.filters.decontam import DecontaminateStage, build_index, tokens
from winnow.pipeline import schema
from winnow.pipeline.stage import REASON_COLUMN

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def _docs(shared_data, domain, n):
    with gzip.open(shared_data / "domains" / f"{domain}.jsonl.gz", "rt") as f:
        return [json.loads(line)["text"] for _, line in zip(range(n), f)]


@pytest.fixture(scope="module")
def bench_files(shared_data):
    return [
        str(shared_data / "benchmarks" / "gsm8k" / "test.jsonl"),
        str(shared_data / "benchmarks" / "humaneval" / "HumanEval.jsonl.gz"),
    ]


@pytest.fixture(scope="module")
def stage(bench_files):
    st = DecontaminateStage(benchmarks=bench_files)
    st.ensure_setup()
    return st


def _plant(doc: str, snippet: str, rng: random.Random) -> str:
    cut = rng.randrange(len(doc) // 2 + 1)
    return f"{doc[:cut]}\n{snippet}\n{doc[cut:]}"


def test_planted_questions_are_caught_and_clean_documents_survive(shared_data, stage):
    rng = random.Random(7)
    clean = _docs(shared_data, "web", 40) + _docs(shared_data, "code", 20)
    questions = [
        json.loads(line)["question"]
        for line in (shared_data / "benchmarks" / "gsm8k" / "test.jsonl").read_text().splitlines()
    ]
    planted = [_plant(d, q, rng) for d, q in zip(clean[:30], rng.sample(questions, 30))]
    table = schema.documents_from_records(
        [{"id": f"c{i}", "text": t} for i, t in enumerate(clean)]
        + [{"id": f"p{i}", "text": t} for i, t in enumerate(planted)]
    )
    out = stage(table)
    dropped = set(out.dropped["id"].to_pylist())
    assert all(len(tokens(q)) >= 13 for q in questions)
    assert dropped == {f"p{i}" for i in range(30)}, "every planted question must be caught"
    assert set(out.dropped[REASON_COLUMN].to_pylist()) == {"decontaminate_contaminated"}
    assert out.kept.num_rows == len(clean)
    assert out.counters == {"decontaminate_gsm8k": 30}


def test_paraphrase_casing_and_punctuation_do_not_hide_a_copy(stage, shared_data):
    q = json.loads((shared_data / "benchmarks" / "gsm8k" / "test.jsonl").read_text().split("\n", 1)[0])["question"]
    noisy = "Intro text. " + q.upper().replace(",", " ,").replace(".", " !") + " Outro."
    positions, owners = stage.match(noisy)
    assert len(positions) > 0 and owners == ["gsm8k"]


def test_humaneval_prompt_counts_under_its_benchmark(stage, shared_data):
    with gzip.open(shared_data / "benchmarks" / "humaneval" / "HumanEval.jsonl.gz", "rt") as f:
        prompt = json.loads(f.readline())["prompt"]
    out = stage(schema.documents_from_records([{"id": "h", "text": "# utils.py\n" + prompt + "    pass\n"}]))
    assert out.counters == {"decontaminate_humaneval": 1}


def test_mask_mode_removes_only_the_benchmark_span(bench_files, shared_data):
    st = DecontaminateStage(benchmarks=bench_files, mode="mask", mask_with=" ")
    q = json.loads((shared_data / "benchmarks" / "gsm8k" / "test.jsonl").read_text().split("\n", 1)[0])["question"]
    doc = _docs(shared_data, "web", 1)[0]
    out = st(schema.documents_from_records([{"id": "m", "text": doc + "\n" + q + "\nThe end of the page."}]))
    text = out.kept[schema.TEXT][0].as_py()
    assert "Janet" not in text and text.startswith(doc[:200]) and "The end of the page." in text
    assert out.counters == {"decontaminate_gsm8k": 1, "decontaminate_masked": 1}
    short = st(schema.documents_from_records([{"id": "s", "text": q}]))
    assert short.dropped[REASON_COLUMN].to_pylist() == ["decontaminate_masked_too_short"]


@pytest.mark.parametrize("variant", ["ß", "ﬁ", "e\u0301"])  # NFKC + casefold changes the length of each
def test_mask_mode_finds_spans_whose_normal_form_is_longer_or_shorter(tmp_path, variant):
    words = [f"wort{variant}{i}" for i in range(15)]
    (tmp_path / "b.jsonl").write_text(json.dumps({"q": " ".join(words)}) + "\n")
    st = DecontaminateStage(benchmarks=str(tmp_path), mode="mask", mask_with="[M]", min_tokens_after_mask=1)
    filler = " ".join(f"filler{i}" for i in range(30))
    out = st(schema.documents_from_records([{"id": "x", "text": f"{filler}. {' '.join(words)}. {filler}"}]))
    assert out.kept[schema.TEXT][0].as_py() == f"{filler}. [M]. {filler}"
    assert out.counters["decontaminate_masked"] == 1


def test_tag_mode_keeps_everything_with_columns(bench_files, shared_data):
    st = DecontaminateStage(benchmarks=bench_files, mode="tag")
    q = json.loads((shared_data / "benchmarks" / "gsm8k" / "test.jsonl").read_text().split("\n", 1)[0])["question"]
    out = st(schema.documents_from_records([{"id": "a", "text": q}, {"id": "b", "text": "nothing to see"}]))
    assert out.dropped is None and out.kept["decontaminate_benchmarks"].to_pylist() == ["gsm8k", None]
    assert out.kept["decontaminate_matches"].to_pylist()[0] > 10


def test_build_index_from_texts_fields_and_bad_files(tmp_path):
    (tmp_path / "qa.jsonl").write_text(
        json.dumps(
            {"q": "the quick brown fox jumps over the lazy dog while seven sleepy cats watch silently", "id": 3}
        )
        + "\n{not json\n"
        + json.dumps({"other": "field"})
        + "\n"
    )
    (tmp_path / "broken.parquet").write_bytes(b"PAR1 this is not parquet")
    (tmp_path / "tab.csv").write_text(
        "question,answer\nwhich ancient river flows north through the desert "
        "past the great pyramids and temples,the nile\n"
    )
    index = build_index(str(tmp_path), n=8, fields={"qa.jsonl": ["q"]})
    assert index.stats["qa"].records == 1 and index.stats["qa"].bad_records == 1
    assert index.stats["qa"].missing_fields == 1
    assert index.stats["broken"].unreadable_files == 1 and index.stats["tab"].records == 1
    index = build_index(
        ["an evaluation passage that the mixing step holds out of training data entirely"],
        n=8,
        name="mix_eval",
        index=index,
    )
    st = DecontaminateStage(benchmarks=str(tmp_path), n=8)
    st.index = index
    st._ready = True
    out = st(
        schema.documents_from_records(
            [
                {
                    "id": "1",
                    "text": "Notes: the quick brown fox jumps over the lazy dog while seven sleepy cats watch.",
                },
                {"id": "2", "text": "we know an evaluation passage that the mixing step holds out of training data"},
                {"id": "3", "text": "An unrelated sentence about rivers and deserts."},
            ]
        )
    )
    assert out.dropped["id"].to_pylist() == ["1", "2"]
    assert out.counters == {"decontaminate_qa": 1, "decontaminate_mix_eval": 1}


def test_no_benchmarks_found_is_a_clear_error(tmp_path):
    (tmp_path / "empty.jsonl").write_text("")
    with pytest.raises(ValueError, match="no benchmark n-grams"):
        DecontaminateStage(benchmarks=str(tmp_path)).ensure_setup()


def test_a_mistyped_benchmark_path_is_an_error_not_a_benchmark_left_out(tmp_path, bench_files):
    from winnow.pipeline.storage import InputError

    typo = str(tmp_path / "eval_TYPO.jsonl")
    with pytest.raises(InputError, match="eval_TYPO.jsonl"):
        DecontaminateStage(benchmarks=[bench_files[0], typo]).ensure_setup()


def test_config_runs_end_to_end(tmp_path, shared_data, bench_files):
    from winnow.pipeline.config import load_config
    from winnow.pipeline.runner import run_pipeline

    q = json.loads((shared_data / "benchmarks" / "gsm8k" / "test.jsonl").read_text().split("\n", 1)[0])["question"]
    docs = _docs(shared_data, "wiki", 5)
    with open(tmp_path / "docs.jsonl", "w") as f:
        f.writelines(json.dumps({"id": i, "text": d}) + "\n" for i, d in enumerate(docs + [docs[0] + "\n" + q]))
    config = load_config(
        str(CONFIGS / "decontaminate.yaml"),
        inputs=[str(tmp_path / "docs.jsonl")],
        output=str(tmp_path / "out"),
        overrides={"benchmarks": bench_files[0]},
        executor="local",
    )
    result = run_pipeline(config)
    assert result.balanced, result.problems
    stage = next(s for s in result.stats["stages"] if s["name"] == "decontaminate")
    assert stage["kept"] == 5 and stage["dropped"] == {"decontaminate_contaminated": 1}
