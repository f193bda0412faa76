"""End to end through the runner: accounting, outputs, global stages, resume, bad files, Ray = local."""

import gzip
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from winnow.pipeline.config import load_config
from winnow.pipeline.runner import RunError, run_pipeline

CONFIG = """
inputs: [{inputs}]
output: {out}
engine: {{executor: {executor}, batch_size: 7}}
stages:
  - {{name: test_min_chars, min_chars: 40, sleep_s: {sleep}}}
  - {{name: test_boom}}
  - {{name: test_exact_dedup}}
"""


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, shared_data):
    """Three real files, one with duplicated documents, one corrupt gzip, one with bad records."""
    d = tmp_path_factory.mktemp("corpus")
    src = shared_data / "cc" / "cc_jsonl" / "dolma"
    files = sorted(src.glob("*.jsonl.gz"))
    lines = gzip.decompress(files[0].read_bytes()).splitlines()
    (d / "a.jsonl.gz").write_bytes(files[0].read_bytes())
    extra = lines[:3] + [b'{"text": "too short"}', b'{"text": "this one says BOOM and is long enough to pass"}', b"{bad"]
    (d / "b.jsonl").write_bytes(b"\n".join(extra) + b"\n")
    good = gzip.compress(b"\n".join(lines[3:6]) + b"\n")
    (d / "c.jsonl.gz").write_bytes(good[: len(good) // 2])  # truncated gzip: a bad file
    return d


def make_config(corpus, out, executor="local", sleep=0.0):
    inputs = ", ".join(f"'{corpus}/{n}'" for n in ("a.jsonl.gz", "b.jsonl", "c.jsonl.gz"))
    return load_config(text=CONFIG.format(inputs=inputs, out=out, executor=executor, sleep=sleep))


def read_dir(path: Path):
    return {p.name: p.read_bytes() for p in sorted(path.glob("*.parquet"))}


def test_funnel_balances_and_outputs_match_design(corpus, tmp_path):
    result = run_pipeline(make_config(corpus, tmp_path / "out"))
    stats = json.loads((tmp_path / "out" / "stats.json").read_text())
    assert result.balanced, result.problems
    names = [s["name"] for s in stats["stages"]]
    assert names == ["read", "test_min_chars", "test_boom", "test_exact_dedup"]
    read, short, boom, dedup = stats["stages"]
    assert read["failed"] == {"read_bad_json": 1, "read_EOFError": 1}  # a bad record, and the truncated file
    assert short["dropped"] == {"test_min_chars_short": 1}
    assert boom["failed"] == {"test_boom_ValueError": 1}
    assert dedup["dropped"] == {"test_exact_dedup_duplicate": 3}  # b.jsonl repeats 3 documents of a.jsonl.gz
    for s in stats["stages"]:
        assert s["in"] == s["kept"] + sum(s["dropped"].values()) + sum(s["failed"].values())
        assert {"bytes_in", "bytes_kept", "seconds"} <= set(s)
    assert stats["documents"] == dedup["kept"] == sum(
        pq.read_metadata(p).num_rows for p in (tmp_path / "out" / "documents").glob("*.parquet"))
    rejected = pq.read_table(tmp_path / "out" / "rejected").to_pylist()
    assert len(rejected) == stats["rejected"] == 4
    assert {r["reason"] for r in rejected} == {"test_min_chars_short", "test_exact_dedup_duplicate"}
    errors = pq.read_table(tmp_path / "out" / "errors").to_pylist()
    assert len(errors) == stats["errors"]
    assert any(e["locator"].endswith("c.jsonl.gz") and e["stage"] == "read" for e in errors)  # the bad file, named
    assert any(e["error"] == "test_boom_ValueError" and "found BOOM" in e["detail"] for e in errors)
    assert (tmp_path / "out" / "report.html").read_text().count("test_exact_dedup") >= 1
    docs = pq.read_table(tmp_path / "out" / "documents")
    assert "raw" not in docs.column_names and len(set(docs["id"].to_pylist())) == docs.num_rows


def test_rerun_resumes_and_changes_nothing(corpus, tmp_path):
    cfg = make_config(corpus, tmp_path / "out")
    run_pipeline(cfg)
    before = read_dir(tmp_path / "out" / "documents")
    again = run_pipeline(cfg)
    assert again.stats["units_resumed"] == 3 * 2  # three units, two segments
    assert read_dir(tmp_path / "out" / "documents") == before


def test_other_config_into_same_output_is_refused(corpus, tmp_path):
    run_pipeline(make_config(corpus, tmp_path / "out"))
    other = load_config(text=f"inputs: ['{corpus}/a.jsonl.gz']\noutput: {tmp_path / 'out'}\nengine: {{executor: local}}\n")
    with pytest.raises(RunError, match="different config"):
        run_pipeline(other)
    assert run_pipeline(other, overwrite=True).balanced


def test_lossy_stage_is_caught_and_its_rows_fail(corpus, tmp_path):
    """A stage that silently loses a row: the engine compares the rows it returned with those it was given, fails
    the batch's rows with the reason, and the books balance with every row accounted for."""
    cfg = load_config(text=f"inputs: ['{corpus}/a.jsonl.gz']\noutput: {tmp_path}/o\nengine: {{executor: local}}\nstages: [{{name: test_lossy}}]\n")
    result = run_pipeline(cfg)
    stage = next(s for s in result.stats["stages"] if s["name"] == "test_lossy")
    assert result.balanced and stage["kept"] == 0 and stage["failed"] == {"test_lossy_broke_contract": stage["in"]}


def test_killed_run_resumes_byte_identical(corpus, tmp_path):
    reference = tmp_path / "ref"
    run_pipeline(make_config(corpus, reference))
    out = tmp_path / "killed"
    cfg_path = tmp_path / "c.yaml"
    inputs = ", ".join(f"'{corpus}/{n}'" for n in ("a.jsonl.gz", "b.jsonl", "c.jsonl.gz"))
    cfg_path.write_text(CONFIG.format(inputs=inputs, out=out, executor="local", sleep=0.3))
    proc = subprocess.Popen([sys.executable, "-m", "winnow.pipeline.cli", "run", str(cfg_path), "-q"], env=os.environ.copy())
    marker_dir = out / "_work" / "seg0"
    deadline = time.time() + 60
    while time.time() < deadline and not list(marker_dir.glob("*.done.json")):
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (out / "stats.json").exists(), "the run finished before it could be interrupted"
    # The resumed run uses the same config file (same fingerprint): no sleep difference allowed.
    rerun = subprocess.run([sys.executable, "-m", "winnow.pipeline.cli", "run", str(cfg_path), "-q"], env=os.environ.copy())
    assert rerun.returncode == 0
    stats = json.loads((out / "stats.json").read_text())
    assert stats["balanced"] and stats["units_resumed"] >= 1
    assert read_dir(out / "documents") == read_dir(reference / "documents")


def test_ray_executor_gives_the_same_bytes(corpus, tmp_path, ray_session):
    run_pipeline(make_config(corpus, tmp_path / "local"))
    result = run_pipeline(make_config(corpus, tmp_path / "ray", executor="ray"))
    assert result.balanced
    assert read_dir(tmp_path / "ray" / "documents") == read_dir(tmp_path / "local" / "documents")


def test_outputs_read_with_pandas_and_hf_datasets(corpus, tmp_path, monkeypatch):
    out = tmp_path / "out"
    assert run_pipeline(make_config(corpus, out)).balanced
    import pandas as pd

    frame = pd.read_parquet(out / "documents")
    assert len(frame) == json.loads((out / "stats.json").read_text())["documents"]
    datasets = pytest.importorskip("datasets")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    ds = datasets.load_dataset("parquet", data_files=str(out / "documents" / "*.parquet"), split="train",
                               cache_dir=str(tmp_path / "hf"))
    assert ds.num_rows == len(frame) and "text" in ds.column_names


def test_scoped_stage_adds_its_columns_even_when_every_row_bypasses_it(tmp_path):
    # Two files, one unit each: one holds only code, so the optout stage sees none of its rows.
    (tmp_path / "code.jsonl").write_text(json.dumps({"id": "c1", "text": "def f(x):\n    return x + 1\n",
                                                     "domain": "code"}) + "\n")
    (tmp_path / "web.jsonl").write_text(json.dumps({"id": "w1", "text": "The river runs through the old town "
                                                    "and the bridges are busy every morning.", "domain": "web"}) + "\n")
    cfg = load_config(text=f"""
inputs: ['{tmp_path}/code.jsonl', '{tmp_path}/web.jsonl']
output: {tmp_path / 'out'}
engine: {{executor: local}}
stages:
  - {{name: optout, skip_domains: [code]}}
  - {{name: test_needs_column, column: optout_signals}}
""")
    result = run_pipeline(cfg)
    assert result.balanced and result.stats["errors"] == 0, result.stats
    table = pq.read_table(tmp_path / "out" / "documents")
    rows = {r["text"][:3]: r for r in table.to_pylist()}
    assert rows["def"]["optout"] is None and rows["The"]["optout"] is False
    assert str(table.schema.field("optout").type) == "bool"
    for part in (tmp_path / "out" / "documents").glob("*.parquet"):  # every part has the columns, not just some
        assert {"optout", "optout_signals", "optout_evidence"} <= set(pq.read_schema(part).names)


def test_small_files_share_units_and_a_bad_one_fails_alone(tmp_path):
    from winnow.pipeline.planning import plan_units

    for i in range(5):
        (tmp_path / f"f{i}.jsonl").write_text(json.dumps({"text": f"document number {i} " * 5}) + "\n")
    (tmp_path / "f2.jsonl").write_text("{not json\n")  # a bad record in the middle of a group
    (tmp_path / "g.jsonl.gz").write_bytes(b"\x1f\x8b\x08garbage")  # an unreadable file in the last group
    cfg = load_config(text=f"""
inputs: ['{tmp_path}/*.jsonl', '{tmp_path}/g.jsonl.gz']
output: {tmp_path / 'out'}
engine: {{executor: local, files_per_unit: 2}}
stages: [{{name: test_min_chars, min_chars: 10}}]
""")
    units = plan_units(cfg)
    assert [len(u.paths) for u in units] == [2, 2, 1, 1]  # one input entry's files never share with another's
    result = run_pipeline(cfg)
    assert result.balanced and result.stats["units"] == 4 and result.stats["files"] == 6
    assert result.stats["documents"] == 4 and result.stats["errors"] == 2
    # The default groups only small formats: JSONL files are a unit each.
    default = load_config(text=f"inputs: ['{tmp_path}/*.jsonl']\noutput: {tmp_path / 'o2'}\nstages: []")
    assert len(plan_units(default)) == 5


def test_pdf_group_size_keeps_enough_units():
    from winnow.pipeline.planning import _group_size

    assert _group_size(64, 10) == 1  # a few PDFs: one per unit, all cores busy
    assert _group_size(64, 5_000) == 20  # 250 units, about MIN_UNITS
    assert _group_size(64, 1_000_000) == 64  # a million: groups of 64, 15,625 units
    assert _group_size(1, 1_000_000) == 1  # formats that never group


def test_auto_executor_starts_ray_only_where_running_units_side_by_side_pays(monkeypatch, tmp_path):
    from winnow.pipeline.config import EngineConfig
    from winnow.pipeline.planning import RAY_START_SECONDS, Unit
    from winnow.pipeline.readers.warc import WarcReader
    from winnow.pipeline.runner import _resolve_executor

    monkeypatch.delenv("RAY_ADDRESS", raising=False)

    def warcs(*mbs):
        units = []
        for i, mb in enumerate(mbs):
            path = tmp_path / f"{len(list(tmp_path.iterdir()))}.warc.gz"
            with path.open("wb") as f:
                f.truncate(int(mb * 1e6))  # sparse: only its size is read
            units.append(Unit(i, (str(path),), "auto", ()))
        return units

    worth = RAY_START_SECONDS / WarcReader.seconds_per_mb  # MB of WARC whose work pays for Ray's start
    auto = EngineConfig(num_cpus=2)
    assert auto.executor == EngineConfig().executor == "auto"
    assert _resolve_executor(auto, warcs(3 * worth)).executor == "local"  # one unit
    assert _resolve_executor(auto, warcs(3 * worth, 0.1 * worth)).executor == "local"  # a large file, a small one
    assert _resolve_executor(auto, warcs(0.4 * worth, 0.4 * worth)).executor == "local"  # little work in all
    assert _resolve_executor(auto, warcs(1.5 * worth, 1.5 * worth)).executor == "ray"
    assert _resolve_executor(auto, warcs(3 * worth, 1.5 * worth)).executor == "ray"
    assert _resolve_executor(auto, warcs(*[0.1] * 65)).executor == "ray"  # too many units to price: Ray
    web = [Unit(i, (f"https://data.commoncrawl.org/{i}.warc.gz",), "auto", ()) for i in range(2)]
    assert _resolve_executor(auto, web).executor == "ray"  # HTTP inputs: sizes unknown, so Ray
    gone = warcs(3 * worth, 3 * worth)
    Path(gone[1].paths[0]).unlink()  # an input that vanished prices at nothing (its unit reports it)
    assert _resolve_executor(auto, gone).executor == "local"
    assert _resolve_executor(auto.model_copy(update={"address": "10.0.0.1:6379"}), warcs(0.1)).executor == "ray"
    assert _resolve_executor(EngineConfig(executor="ray"), warcs(0.1)).executor == "ray"
    assert _resolve_executor(EngineConfig(executor="local"), warcs(3 * worth, 3 * worth)).executor == "local"
