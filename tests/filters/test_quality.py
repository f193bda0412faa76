"""Quality classifiers: training on real domain text, scoring, thresholds, percentiles, bad models and bad text."""

from __future__ import annotations

import gzip
import json
import math
import os
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from pydantic import ValidationError

from winnow.filters.quality import model as qm
from winnow.filters.quality.decide import QualityFilter, percentile_threshold
from winnow.filters.quality.score import INVALID_UTF8, QualityScoreStage
from winnow.filters.quality.train import TrainConfig, input_files, train_classifier
from winnow.pipeline import schema
from winnow.pipeline.config import ConfigError, load_config
from winnow.pipeline.runner import run_pipeline
from winnow.pipeline.stage import ERROR_COLUMN, REASON_COLUMN

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
POSITIVE_DOMAINS = ("wiki", "books", "academic")


def _domain(shared_data: Path, name: str) -> str:
    return str(shared_data / "domains" / f"{name}.jsonl.gz")


def _texts(path: str, n: int) -> list[str]:
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return [json.loads(line)["text"] for _, line in zip(range(n), f)]


@pytest.fixture(scope="module")
def trained(shared_data, tmp_path_factory) -> tuple[str, dict]:
    """The real-data classifier: wiki, books and academic text against web pages, default options."""
    out = str(tmp_path_factory.mktemp("quality") / "model")
    card = train_classifier([_domain(shared_data, d) for d in POSITIVE_DOMAINS], [_domain(shared_data, "web")], out)
    return out, card


def test_real_data_classifier_separates_held_out_split(trained):
    out, card = trained
    assert card["metrics"]["roc_auc"] >= 0.9, card["metrics"]
    assert card["metrics"]["precision"] > 0.7 and card["metrics"]["recall"] > 0.7
    pos, neg = card["counts"]["positive"], card["counts"]["negative"]
    assert pos["used"] == neg["used"] == neg["read"]  # balanced: web is the smaller class, all of it is used
    assert pos["test"] == neg["test"] > 0 and pos["train"] + pos["test"] == pos["used"]
    on_disk = json.loads(Path(out, "card.json").read_text())
    assert on_disk == card
    assert card["version"] == "v1" and card["column"] == "score_fasttext_quality_v1"
    assert card["model_sha256"] == qm.file_sha256(os.path.join(out, "model.bin"))
    assert {"dim", "epoch", "lr", "word_ngrams", "seed"} <= set(card["parameters"])
    assert len(card["sources"]["positive"]) == 3


def test_training_is_deterministic_and_the_cli_matches(shared_data, tmp_path):
    from typer.testing import CliRunner

    from winnow.pipeline.cli import app

    pos, neg = _domain(shared_data, "wiki"), _domain(shared_data, "web")
    card = train_classifier([pos], [neg], str(tmp_path / "a"), max_docs_per_class=60, epoch=5)
    result = CliRunner().invoke(app, ["train-classifier", "--positive", pos, "--negative", neg, "--output",
                                      str(tmp_path / "b"), "--max-docs-per-class", "60", "--epoch", "5"])
    assert result.exit_code == 0, result.output
    assert "ROC-AUC" in result.output and "precision" in result.output
    cli_card = json.loads((tmp_path / "b" / "card.json").read_text())
    assert cli_card["model_sha256"] == card["model_sha256"]
    assert cli_card["counts"]["positive"]["used"] == 60


def test_cli_refuses_missing_inputs_and_bad_options(tmp_path):
    from typer.testing import CliRunner

    from winnow.pipeline.cli import app

    r = CliRunner().invoke(app, ["train-classifier", "--positive", str(tmp_path / "nope.jsonl"),
                                 "--negative", str(tmp_path / "nope2.jsonl"), "--output", str(tmp_path / "m")])
    assert r.exit_code == 2 and "nope.jsonl" in r.output
    with pytest.raises(ValueError, match="version"):
        TrainConfig(name="quality")
    with pytest.raises(ValueError, match="unknown training option 'epochs'"):
        TrainConfig.from_dict({"epochs": 3})


def test_dclm_config_carries_training_options():
    from winnow.pipeline.cli.train_classifier import _options_from_file

    options = _options_from_file(str(CONFIGS / "dclm.yaml"))
    cfg = TrainConfig.from_dict(options)
    assert cfg.name == "dclm_fasttext_v1" and cfg.word_ngrams == 2


def _batch(rows: list[dict]) -> pa.Table:
    return schema.documents_from_records(
        [{"id": f"d{i}", "source": "test", **r} for i, r in enumerate(rows)]
    )


def test_score_stage_annotates_only_and_handles_blank_text(trained, shared_data):
    out, _ = trained
    wiki = _texts(_domain(shared_data, "wiki"), 3)
    stage = QualityScoreStage(model=out)
    batch = _batch([{"text": t} for t in wiki] + [{"text": ""}, {"text": "   \n\n "}, {"text": None}])
    outcome = stage(batch)
    assert outcome.dropped is None and outcome.failed is None
    assert outcome.kept.num_rows == batch.num_rows
    scores = outcome.kept["score_fasttext_quality_v1"].to_pylist()
    assert all(0.0 <= s <= 1.0 for s in scores[:3])
    assert scores[3:] == [None, None, None]
    assert outcome.counters == {"quality_score_empty": 3}


def test_score_matches_fasttext_on_normalised_text(trained, shared_data):
    """The stage's score is fastText's own probability for the same normalised text (training = scoring)."""
    import fasttext

    out, card = trained
    text = _texts(_domain(shared_data, "books"), 1)[0]
    ft = fasttext.load_model(os.path.join(out, "model.bin"))
    labels, probs = ft.predict(qm.normalise(text, card["normalisation"]["max_chars"]), k=-1)
    expected = dict(zip(labels, probs))["__label__positive"]
    got = QualityScoreStage(model=out)(_batch([{"text": text}])).kept["score_fasttext_quality_v1"][0].as_py()
    assert math.isclose(got, min(expected, 1.0), rel_tol=1e-6)


def test_reference_text_scores_above_web(trained, shared_data):
    out, _ = trained
    stage = QualityScoreStage(model=out, scorer="fasttext_quality_v1")
    # forum_qa was in neither class: only a sanity check that books/academic outscore the web on average.
    good = stage(_batch([{"text": t} for t in _texts(_domain(shared_data, "academic"), 20)])).kept
    web = stage(_batch([{"text": t} for t in _texts(_domain(shared_data, "web"), 20)])).kept
    column = "score_fasttext_quality_v1"
    assert np.mean(good[column].to_pylist()) > np.mean(web[column].to_pylist())


def test_invalid_utf8_fails_that_document_only(trained):
    out, _ = trained
    texts = pa.array([b"a fine article about rivers", b"broken \xff\xfe bytes"], pa.binary()).view(pa.string())
    batch = pa.table({"id": ["good", "bad"], "text": texts, "metadata": [None, None]})
    outcome = QualityScoreStage(model=out)(batch)
    assert outcome.kept["id"].to_pylist() == ["good"]
    assert outcome.kept["score_fasttext_quality_v1"][0].as_py() is not None
    assert outcome.failed[ERROR_COLUMN].to_pylist() == [INVALID_UTF8]
    assert "bad" in outcome.failed["_winnow_detail"][0].as_py()


def test_missing_or_damaged_model_is_refused_naming_the_path(trained, tmp_path):
    out, _ = trained
    missing = str(tmp_path / "nowhere")
    with pytest.raises(ValidationError, match="nowhere"):
        QualityScoreStage.Params(model=missing)
    truncated = tmp_path / "truncated"
    truncated.mkdir()
    data = Path(out, "model.bin").read_bytes()
    (truncated / "model.bin").write_bytes(data[:1000])  # fastText itself hangs on this file
    with pytest.raises(ValidationError, match="truncated fastText model"):
        QualityScoreStage.Params(model=str(truncated))
    (truncated / "model.bin").write_bytes(data[: len(data) // 2])  # fastText itself loads garbage from this one
    with pytest.raises(ValidationError, match=str(truncated)):
        QualityScoreStage.Params(model=str(truncated / "model.bin"))
    (truncated / "model.bin").write_bytes(b"not a model at all")
    with pytest.raises(qm.ModelFileError, match="bad magic"):
        qm.check_model_file(str(truncated))
    flipped = tmp_path / "flipped"
    shutil.copytree(out, flipped)
    raw = bytearray(data)
    raw[-5] ^= 0xFF  # same size, one weight changed: only the card's checksum can tell
    (flipped / "model.bin").write_bytes(bytes(raw))
    with pytest.raises(qm.ModelFileError, match="sha256"):
        qm.check_model_file(str(flipped), qm.load_card(str(flipped)))
    with pytest.raises(ConfigError, match="nowhere"):
        load_config(str(CONFIGS / "quality.yaml"), inputs=[str(tmp_path)], overrides={"model": missing})


def test_quality_filter_threshold_reasons():
    batch = _batch([{"text": "a"}, {"text": "b"}, {"text": "c"}]).append_column(
        "score_x_v1", pa.array([0.9, 0.2, None], pa.float64())
    )
    outcome = QualityFilter(column="score_x_v1", threshold=0.5)(batch)
    assert outcome.kept["id"].to_pylist() == ["d0"]
    assert outcome.dropped[REASON_COLUMN].to_pylist() == ["quality_filter_below_threshold", "quality_filter_no_score"]
    keep_missing = QualityFilter(column="score_x_v1", threshold=0.5, keep_missing=True)(batch)
    assert keep_missing.kept["id"].to_pylist() == ["d0", "d2"]


def test_quality_filter_missing_column_fails_rows_with_a_clear_error():
    outcome = QualityFilter(column="score_nope_v1", threshold=0.5)(_batch([{"text": "a"}]))
    assert outcome.kept.num_rows == 0
    assert outcome.failed[ERROR_COLUMN].to_pylist() == ["quality_filter_missing_column"]
    assert "score_nope_v1" in outcome.failed["_winnow_detail"][0].as_py()


def test_percentile_threshold_keeps_the_top_share():
    scores = np.arange(100, dtype=np.float64) / 100
    assert percentile_threshold(scores, 10) == pytest.approx(0.90)
    assert (scores >= percentile_threshold(scores, 10)).sum() == 10
    assert percentile_threshold(scores, 100) == 0.0
    assert percentile_threshold(np.array([0.3]), 1) == 0.3
    assert percentile_threshold(np.empty(0), 10) is None


def _write_jsonl(path: Path, texts: list[str]) -> None:
    with gzip.open(path, "wt", encoding="utf-8") as f:
        for i, t in enumerate(texts):
            f.write(json.dumps({"id": f"{path.stem}-{i}", "text": t}) + "\n")


def test_full_run_scores_and_keeps_top_percent(trained, shared_data, tmp_path):
    out, _ = trained
    inputs = tmp_path / "in"
    inputs.mkdir()
    _write_jsonl(inputs / "wiki.jsonl.gz", [t[:2000] for t in _texts(_domain(shared_data, "wiki"), 20)])
    _write_jsonl(inputs / "web.jsonl.gz", [t[:2000] for t in _texts(_domain(shared_data, "web"), 20)] + [""])
    config = f"""
inputs: ["{inputs}/*.jsonl.gz"]
output: {tmp_path / "out"}
engine: {{executor: local}}
stages:
  - name: quality_score
    model: {out}
  - name: quality_top_percent
    column: score_fasttext_quality_v1
    keep_top_percent: 25
"""
    result = run_pipeline(load_config(text=config))
    assert result.balanced, result.problems
    stages = {s["name"]: s for s in result.stats["stages"]}
    assert stages["quality_score"]["kept"] == 41 and stages["quality_score"]["counters"] == {"quality_score_empty": 1}
    top = stages["quality_top_percent"]
    assert top["kept"] == 10  # ceil(40 scored × 25 %), no ties among real scores
    assert top["dropped"] == {"quality_top_percent_below_threshold": 30, "quality_top_percent_no_score": 1}
    state = json.loads(next((tmp_path / "out" / "_work").glob("fit*/threshold.json")).read_text())
    assert state["scored_documents"] == 40
    import pyarrow.parquet as pq

    docs = pq.read_table(tmp_path / "out" / "documents")
    assert min(docs["score_fasttext_quality_v1"].to_pylist()) >= state["threshold"]
    # Kept documents are mostly the reference domain.
    assert sum("wiki" in json.loads(m)["locator"] for m in docs["metadata"].to_pylist()) >= 7
    # A run's output folder is valid training input: its documents/ are read.
    assert all("/documents/" in f for f in input_files([str(tmp_path / "out")]))


def test_quality_config_loads_with_a_model_param(trained, tmp_path):
    out, _ = trained
    cfg = load_config(str(CONFIGS / "quality.yaml"), inputs=[str(tmp_path)], overrides={"model": out})
    assert [s.name for s in cfg.stages] == ["quality_score", "quality_filter"]
    assert cfg.stages[1].params.column == "score_" + cfg.stages[0].params.scorer
    dclm = load_config(str(CONFIGS / "dclm.yaml"), inputs=[str(tmp_path)], overrides={"model": out})
    assert dclm.stages[-1].name == "quality_top_percent" and dclm.stages[-1].params.keep_top_percent == 10
