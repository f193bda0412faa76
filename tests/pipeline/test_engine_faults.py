"""The engine's edges an audit found: half-written files of a killed run, --overwrite, --set, scopes, fit failures."""

from __future__ import annotations


import pyarrow.parquet as pq
import pytest

from winnow.pipeline.config import ConfigError, load_config
from winnow.pipeline.runner import RunError, run_pipeline


@pytest.fixture
def records(shared_data, tmp_path):
    import gzip

    with gzip.open(shared_data / "domains" / "wiki.jsonl.gz", "rt", encoding="utf-8") as f:
        lines = [next(f) for _ in range(20)]
    path = tmp_path / "in.jsonl"
    path.write_text("".join(lines))
    return path


def _config(records, out, stages="[]", **extra):
    text = f"inputs: [{records}]\noutput: {out}\nengine: {{executor: local}}\nstages: {stages}\n"
    return load_config(text=text, **extra)


def test_a_rerun_removes_what_a_killed_run_half_wrote(records, tmp_path):
    out = tmp_path / "out"
    run_pipeline(_config(records, out))
    left = out / "documents" / "part-00007.parquet.tmp-0badc0de"  # as a SIGKILLed writer leaves it
    left.write_bytes(b"PAR1 half a file")
    run_pipeline(_config(records, out))
    assert not left.exists()
    assert pq.read_table(out / "documents").num_rows == 20  # the folder reads as a dataset again


def test_overwrite_also_removes_sections_other_commands_added_to_the_report(records, tmp_path):
    out = tmp_path / "out"
    run_pipeline(_config(records, out))
    (out / "report.d").mkdir()
    (out / "report.d" / "ablate-old.html").write_text("<section>an old run's verdicts</section>")
    run_pipeline(_config(records, out, stages="[{name: test_min_chars, min_chars: 5}]"), overwrite=True)
    assert not (out / "report.d").exists()


def test_output_under_home_is_expanded(records, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    assert _config(records, "~/runs/x").output == str(tmp_path / "runs" / "x")


@pytest.mark.parametrize("overrides, message", [
    ({"foo.bar": 1}, "unknown top-level key 'foo'"),
    ({"engine.batch_size": 0}, "batch_size"),
])
def test_set_cannot_add_unknown_keys_or_bad_engine_values(records, tmp_path, overrides, message):
    with pytest.raises(ConfigError, match=message):
        _config(records, tmp_path / "o", overrides=overrides)


def test_set_fills_a_section_left_empty_in_the_yaml(records, tmp_path):
    cfg = load_config(text=f"inputs: [{records}]\noutput: {tmp_path}\nengine:\nstages: []\n",
                      overrides={"engine.batch_size": 5})
    assert cfg.engine.batch_size == 5


def test_only_domains_empty_is_refused(records, tmp_path):
    with pytest.raises(ConfigError, match=r"only_domains: \[\] leaves the stage no rows"):
        _config(records, tmp_path / "o", stages="[{name: test_min_chars, min_chars: 5, only_domains: []}]")


def test_a_global_stage_that_cannot_fit_is_one_message(records, tmp_path, monkeypatch):
    from winnow.filters.dedup.exact import ExactDedupStage

    def fit(self, corpus):
        raise FileNotFoundError("model /nope/model.bin not found")

    monkeypatch.setattr(ExactDedupStage, "fit", fit)
    with pytest.raises(RunError, match="stage 'exact_dedup' could not fit: FileNotFoundError: model /nope"):
        run_pipeline(_config(records, tmp_path / "o", stages="[{name: exact_dedup}]"))


def test_the_same_file_under_three_spellings_is_read_once(records, tmp_path, monkeypatch):
    monkeypatch.chdir(records.parent)
    cfg = load_config(text=f"inputs: [in.jsonl, ./in.jsonl, {records}]\noutput: {tmp_path / 'o'}\n"
                           "engine: {executor: local}\nstages: []\n")
    run_pipeline(cfg)
    assert pq.read_table(tmp_path / "o" / "documents").num_rows == 20


def test_a_stage_that_returns_other_rows_than_it_was_given_fails_them_all():
    """Counts would balance over a duplicated row and a lost one, or over rewritten ids; the ids do not."""
    import pyarrow as pa

    from winnow.pipeline import schema
    from winnow.pipeline.apply import apply_stage
    from winnow.pipeline.stage import ERROR_COLUMN, Outcome, Stage

    class Dupe(Stage):
        def process(self, batch):
            return Outcome(kept=pa.concat_tables([batch.slice(0, 1), batch.slice(0, batch.num_rows - 1)]))

    class Renamer(Stage):
        def process(self, batch):
            return Outcome(kept=batch.set_column(0, schema.ID, pa.array([f"new{i}" for i in range(batch.num_rows)])))

    batch = schema.documents_from_records([{"id": f"d{i}", "text": f"text {i}"} for i in range(4)])
    for stage in (Dupe(), Renamer()):
        out = apply_stage(stage, "odd", batch, "00000")
        assert out.kept.num_rows == 0 and out.failed[ERROR_COLUMN].to_pylist() == ["odd_broke_contract"] * 4
        assert out.failed[schema.ID].to_pylist() == batch[schema.ID].to_pylist()


def test_an_output_inside_a_folder_input_is_not_read_back(records, tmp_path):
    """`inputs: [data/]` with `output: data/out`: the second run must not take the first run's files as input."""
    cfg = load_config(text=f"inputs: [{records.parent}]\noutput: {records.parent / 'out'}\n"
                           "engine: {executor: local}\nstages: []\n")
    for _ in range(2):  # the second run finds out/ (documents, stats, _work) inside the input folder
        result = run_pipeline(cfg)
        assert result.balanced and result.stats["stages"][0]["in"] == 20
